"""PyTorch's module path torch.nn.modules.fold (the classes live in shape.py)."""
from .shape import Fold, Unfold  # noqa: F401
