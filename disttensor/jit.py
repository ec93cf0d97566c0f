"""disttensor.jit: PyTorch's `torch.jit` decorators and helpers, for scripts that use them.

disttensor has no TorchScript compiler: everything here runs eagerly.

- `script(obj)` and `trace(func, example_inputs)` return `obj`/`func` itself (a module keeps being the same
  Python module object, a function the same function); `trace_module` likewise. Results are therefore exactly
  those of the undecorated code; nothing is compiled, no graph is recorded, and no type checking is done.
- `ignore`, `unused`, `export`, `_copy_to_script_wrapper` are decorators that return the function unchanged
  (`ignore(drop=True)` is accepted too).
- `is_scripting()` and `is_tracing()` are always False (code runs eagerly, which is what their callers test).
- `Final`, `annotate(type, value)` (returns value), `Attribute(value, type)` (returns value).
- `fork(fn, *args, **kwargs)` runs the call at once and returns a `Future`; `wait(fut)` returns its result.
- `save` / `load` raise NotImplementedError: there is no TorchScript archive; save a module's `state_dict()`
  with `disttensor.save` and load it with `disttensor.load` + `load_state_dict`.
- `freeze`, `optimize_for_inference` return the module; `enable_onednn_fusion`/`set_fusion_strategy` are no-ops.
"""
from typing import Final  # noqa: F401  (torch.jit.Final is typing.Final's counterpart)

__all__ = ["script", "trace", "trace_module", "ignore", "unused", "export", "is_scripting", "is_tracing",
           "Final", "annotate", "Attribute", "save", "load", "fork", "wait", "Future", "freeze",
           "optimize_for_inference", "ScriptModule", "ScriptFunction", "interface", "isinstance",
           "enable_onednn_fusion", "set_fusion_strategy", "strict_fusion"]

_builtin_isinstance = isinstance


def script(obj=None, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """Eager stand-in for torch.jit.script: returns `obj` unchanged (no compilation)."""
    return obj


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-5,
          strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
          example_kwarg_inputs=None, _store_inputs=True):
    """Eager stand-in for torch.jit.trace: returns `func` (a function or module) unchanged; the example
    inputs are not run."""
    return func


def trace_module(mod, inputs=None, *args, **kwargs):
    return mod


def _identity_decorator(fn=None, **kwargs):
    if fn is None or not callable(fn):
        # used with arguments: @torch.jit.ignore(drop=True)
        return lambda f: f
    return fn


def ignore(drop=False, **kwargs):
    if callable(drop):
        return drop
    return lambda fn: fn


unused = _identity_decorator
export = _identity_decorator
_copy_to_script_wrapper = _identity_decorator
interface = _identity_decorator


def is_scripting():
    """False: disttensor runs everything eagerly."""
    return False


def is_tracing():
    """False: disttensor runs everything eagerly."""
    return False


def annotate(the_type, the_value):
    return the_value


def Attribute(value, type=None):  # noqa: N802 (PyTorch's name)
    return value


def isinstance(obj, target_type):  # noqa: A001 (torch.jit.isinstance)
    import typing
    origin = typing.get_origin(target_type)
    if origin is None:
        return _builtin_isinstance(obj, target_type)
    if not _builtin_isinstance(obj, origin):
        return False
    args = typing.get_args(target_type)
    if origin in (list, set, frozenset) and args:
        return all(isinstance(x, args[0]) for x in obj)
    if origin is dict and args:
        return all(isinstance(k, args[0]) and isinstance(v, args[1]) for k, v in obj.items())
    if origin is tuple and args:
        return len(obj) == len(args) and all(isinstance(x, a) for x, a in zip(obj, args))
    return True


class Future:
    """The result of `fork` (the call has already run)."""

    def __init__(self, value=None, exc=None):
        self._value = value
        self._exc = exc

    def wait(self):
        if self._exc is not None:
            raise self._exc
        return self._value

    def value(self):
        return self.wait()

    def done(self):
        return True

    def then(self, callback):
        return Future(callback(self))


def fork(func, *args, **kwargs):
    """Runs `func(*args, **kwargs)` now (no asynchronous execution) and returns a Future holding its result."""
    return Future(func(*args, **kwargs))


def wait(future):
    return future.wait()


_SAVE_MSG = ("disttensor.jit.{}: disttensor has no TorchScript compiler, so there is no scripted-module archive "
             "to {}. Save the module's weights with disttensor.save(model.state_dict(), path) and restore them "
             "with model.load_state_dict(disttensor.load(path)).")


def save(m, f, _extra_files=None):
    raise NotImplementedError(_SAVE_MSG.format("save", "write"))


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    raise NotImplementedError(_SAVE_MSG.format("load", "read"))


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    return mod


def optimize_for_inference(mod, other_methods=None):
    return mod


def enable_onednn_fusion(enabled):
    pass


def onednn_fusion_enabled():
    return False


def set_fusion_strategy(strategy):
    return []


class strict_fusion:  # noqa: N801 (PyTorch's name)
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def __getattr__(name):
    # ScriptModule/ScriptFunction exist for isinstance checks and subclassing; nothing is ever scripted
    if name == "ScriptModule":
        from .nn import Module

        class ScriptModule(Module):
            pass
        globals()["ScriptModule"] = ScriptModule
        return ScriptModule
    if name == "ScriptFunction":
        class ScriptFunction:
            pass
        globals()["ScriptFunction"] = ScriptFunction
        return ScriptFunction
    raise AttributeError(f"module 'disttensor.jit' has no attribute {name!r}")
