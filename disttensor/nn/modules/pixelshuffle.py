"""PyTorch's module path torch.nn.modules.pixelshuffle (the classes live in shape.py)."""
from .shape import PixelShuffle, PixelUnshuffle  # noqa: F401
