"""disttensor.backends.mkldnn: `is_available()` is False, honestly: disttensor never calls oneDNN (MKL-DNN);
its convolutions are im2col + BLAS GEMMs and numba kernels. `enabled`, `deterministic`, `allow_tf32` and
`fp32_precision` are accepted, checked, stored and restored by `flags()` but have no effect."""
import contextlib

from ._flags import FlagModule, flag, install, allow_mutation

__all__ = ["is_available", "is_acl_available", "flags", "set_flags", "verbose", "VERBOSE_OFF", "VERBOSE_ON",
           "VERBOSE_ON_CREATION"]

VERBOSE_OFF = 0
VERBOSE_ON = 1
VERBOSE_ON_CREATION = 2

_state = {"enabled": True, "deterministic": False, "allow_tf32": True, "fp32_precision": "none"}
_NAMES = ("enabled", "deterministic", "allow_tf32", "fp32_precision")


def is_available():
    return False


def is_acl_available():
    return False


class verbose:
    """No-op stand-in for PyTorch's oneDNN verbose log switch."""

    def __init__(self, level):
        self.level = level

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False


def set_flags(_enabled=None, _deterministic=None, _allow_tf32=None, _fp32_precision="none"):
    import sys
    mod = sys.modules[__name__]
    orig = tuple(_state[n] for n in _NAMES)
    with allow_mutation():
        for name, value in zip(_NAMES, (_enabled, _deterministic, _allow_tf32, _fp32_precision)):
            if value is not None:
                setattr(mod, name, value)
    return orig


@contextlib.contextmanager
def flags(enabled=False, deterministic=False, allow_tf32=True, fp32_precision="none"):
    orig = set_flags(enabled, deterministic, allow_tf32, fp32_precision)
    try:
        yield
    finally:
        _state.update(zip(_NAMES, orig))


class _MkldnnModule(FlagModule):
    enabled = flag("enabled", module="mkldnn")
    deterministic = flag("deterministic", module="mkldnn")
    allow_tf32 = flag("allow_tf32", module="mkldnn")
    fp32_precision = flag("fp32_precision", str, choices=("ieee", "tf32", "bf16", "none"), module="mkldnn",
                          choice_error="Unknown precision: {value}")


install(__name__, _MkldnnModule)
