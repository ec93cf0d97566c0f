"""disttensor.nn: modules, parameters, init and functional, with PyTorch's names."""
from . import functional  # noqa: F401
