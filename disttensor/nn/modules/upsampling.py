"""PyTorch's module path torch.nn.modules.upsampling (the classes live in shape.py)."""
from .shape import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d  # noqa: F401
