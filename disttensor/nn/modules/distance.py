"""PyTorch's module path torch.nn.modules.distance (the classes live in shape.py)."""
from .shape import CosineSimilarity, PairwiseDistance  # noqa: F401
