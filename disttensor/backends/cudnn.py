"""disttensor.backends.cudnn: torch.backends.cudnn's settings.

disttensor runs its CUDA ops through CuPy (cuBLAS GEMMs, its own kernels); it never calls cuDNN. So
`enabled`, `benchmark`, `benchmark_limit`, `deterministic`, `allow_tf32`, `fp32_precision` and
`depthwise_kernel` are accepted, checked like PyTorch checks them (a bool where PyTorch wants a bool),
stored, read back, and restored by `flags()`, but they have NO effect on what disttensor computes.
disttensor's CPU ops are deterministic whatever `deterministic` says; no op auto-tunes (`benchmark`).

`is_available()` is False unless disttensor's CUDA path is available (`disttensor.cuda.is_available()`)
and CuPy can load cuDNN (`cupy.cuda.cudnn`); `version()` is then cuDNN's version number, else None.
CuPy is imported only when one of these two functions is called.
"""
import contextlib

from ._flags import FlagModule, flag, install, allow_mutation

__all__ = ["is_available", "version", "is_acceptable", "flags", "set_flags"]

_UNSET = object()
_state = {"enabled": True, "benchmark": False, "benchmark_limit": _UNSET, "deterministic": False,
          "allow_tf32": True, "fp32_precision": "none", "depthwise_kernel": "auto"}
_cudnn = None  # (checked, version or None)


def _probe():
    global _cudnn
    if _cudnn is None:
        version = None
        try:
            from .. import cuda
            if cuda.is_available():
                from cupy.cuda import cudnn as libcudnn  # ImportError when CuPy cannot load cuDNN
                version = int(libcudnn.getVersion())
        except Exception:
            version = None
        _cudnn = (True, version)
    return _cudnn[1]


def version():
    """cuDNN's version as CuPy reports it, or None when cuDNN is not available."""
    return _probe()


def is_available():
    """Whether cuDNN can be loaded: needs disttensor's CUDA path and CuPy's cuDNN bindings."""
    return _probe() is not None


def is_acceptable(tensor):
    """PyTorch's check of whether cuDNN would take a tensor: enabled, a CUDA floating tensor, cuDNN present."""
    if not _state["enabled"] or tensor.device.type != "cuda":
        return False
    if not (tensor.dtype.is_floating_point):
        return False
    return is_available()


def set_flags(_enabled=None, _benchmark=None, _benchmark_limit=None, _deterministic=None, _allow_tf32=None,
              _fp32_precision="none", _depthwise_kernel=None):
    """Set the given flags (None leaves one unchanged); returns the previous values, in this order."""
    mod = _module()
    orig = (mod.enabled, mod.benchmark, mod.benchmark_limit, mod.deterministic, mod.allow_tf32,
            mod.fp32_precision, mod.depthwise_kernel)
    with allow_mutation():
        for name, value in (("enabled", _enabled), ("benchmark", _benchmark), ("deterministic", _deterministic),
                            ("allow_tf32", _allow_tf32), ("fp32_precision", _fp32_precision),
                            ("depthwise_kernel", _depthwise_kernel)):
            if value is not None:
                setattr(mod, name, value)
        if _benchmark_limit is not None and is_available():
            mod.benchmark_limit = _benchmark_limit
    return orig


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True,
          fp32_precision="none", depthwise_kernel="auto"):
    """Set the flags inside a `with` block (PyTorch's defaults: cuDNN disabled) and restore them after."""
    orig = set_flags(enabled, benchmark, benchmark_limit, deterministic, allow_tf32, fp32_precision,
                     depthwise_kernel)
    try:
        yield
    finally:
        mod = _module()
        with allow_mutation():
            for name, value in zip(("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32",
                                    "fp32_precision", "depthwise_kernel"), orig):
                mod._state[name] = value


def _module():
    import sys
    return sys.modules[__name__]


class _CudnnModule(FlagModule):
    enabled = flag("enabled")
    benchmark = flag("benchmark")
    deterministic = flag("deterministic")
    allow_tf32 = flag("allow_tf32")
    fp32_precision = flag("fp32_precision", str, choices=("ieee", "tf32", "none"),
                          choice_error="Unknown precision: {value}")
    depthwise_kernel = flag("depthwise_kernel", str, choices=("auto", "cudnn", "native"),
                            choice_error="Unknown cuDNN depthwise kernel mode: {value}. "
                                         "Expected one of: auto, cudnn, native")

    @property
    def benchmark_limit(self):
        # PyTorch: 10 where cuDNN is available, None (a plain attribute) where it is not
        value = self._state["benchmark_limit"]
        if value is _UNSET:
            return 10 if is_available() else None
        return value

    @benchmark_limit.setter
    def benchmark_limit(self, value):
        self._state["benchmark_limit"] = value


install(__name__, _CudnnModule)
