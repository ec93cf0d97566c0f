"""PyTorch's module path torch.nn.modules.flatten (the classes live in shape.py)."""
from .shape import Flatten, Unflatten  # noqa: F401
