"""disttensor.nn: modules, parameters, init and functional, with PyTorch's names."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .parameter import Parameter, Buffer, UninitializedParameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import module as _module_mod
from .modules.module import register_module_forward_pre_hook, register_module_forward_hook  # noqa: F401
from . import utils  # noqa: F401
from . import modules  # noqa: F401


def __getattr__(name):
    if name == "parallel":
        import importlib
        return importlib.import_module(".parallel", __name__)
    if name == "DataParallel":
        from .parallel import DataParallel
        return DataParallel
    raise AttributeError(f"module 'disttensor.nn' has no attribute {name!r}")


del _module_mod
