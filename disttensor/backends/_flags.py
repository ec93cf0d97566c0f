"""Module-level settings with PyTorch's behaviour: `torch.backends.cudnn.benchmark = True` is a checked
assignment (a bool is required; RuntimeError otherwise, as in PyTorch) stored in the module's `_state`,
refused after `disttensor.backends.disable_global_flags()` except inside a `flags()` context."""
import contextlib
import types

_frozen = False
_allow_mutation = False


def flags_frozen():
    return not _allow_mutation and _frozen


@contextlib.contextmanager
def allow_mutation():
    global _allow_mutation
    old, _allow_mutation = _allow_mutation, True
    try:
        yield
    finally:
        _allow_mutation = old


class FlagModule(types.ModuleType):
    """Base class of a settings module; subclasses declare `flag(...)` properties."""


def flag(name, kind=bool, choices=None, check_frozen=True, module="cudnn", choice_error=None):
    """A property of a FlagModule subclass that reads and writes `module._state[name]`."""

    def get(mod):
        return mod._state[name]

    def set(mod, value):
        if check_frozen and flags_frozen():
            raise RuntimeError(f"not allowed to set torch.backends.{module} flags after disable_global_flags; "
                               "please use flags() context manager instead")
        if kind is bool and not isinstance(value, bool):
            raise RuntimeError(f"set_{name}_{module} expects a bool, but got {type(value).__name__}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise RuntimeError(f"set_{name}_{module} expects an int, but got {type(value).__name__}")
        if choices is not None and value not in choices:
            raise RuntimeError((choice_error or "Unknown {name}: {value}").format(name=name, value=value))
        mod._state[name] = value

    return property(get, set)


def install(module_name, cls):
    """Turn the module `module_name` into an instance of `cls` (a FlagModule subclass with flag properties)."""
    import sys
    sys.modules[module_name].__class__ = cls
