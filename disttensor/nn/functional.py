"""disttensor.nn.functional: the neural-network ops (defined in disttensor/ops/nn_*.py) under PyTorch's names."""
from ..ops.elementwise import relu, sigmoid, tanh  # noqa: F401
