"""PyTorch's module path torch.nn.modules.instancenorm (the classes live in batchnorm.py)."""
from .batchnorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm  # noqa: F401
