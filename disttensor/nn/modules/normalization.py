"""PyTorch's module path torch.nn.modules.normalization (the classes live in batchnorm.py)."""
from .batchnorm import LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm  # noqa: F401
