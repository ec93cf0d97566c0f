"""PyTorch's module path torch.nn.modules.channelshuffle (the classes live in shape.py)."""
from .shape import ChannelShuffle  # noqa: F401
