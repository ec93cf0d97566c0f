"""disttensor: an eager autograd tensor library on NumPy/CuPy with PyTorch's API.

`import disttensor as torch` is meant to work for PyTorch scripts. Importing this package never
imports mpi4py, cupy or ray; the distributed parts load on first use.
"""
import builtins
import os as _os

# numba's default (OpenMP) threading layer keeps its idle threads spinning, which steals the cores
# BLAS needs right after one of our fused kernels: a 1024x128x512 GEMM measured 36 ms instead of
# 2.4 ms after a layer_norm. The workqueue layer idles. Set before numba is (lazily) imported.
_os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
# After a multi-threaded GEMM, NumPy's OpenBLAS workers busy-wait for 2^28 cycles (~128 ms here) and hold
# the other cores, so the fused kernels that follow (Winograd transforms, row kernels) ran 1.5-2x slower on
# 2 threads. 2^16 cycles (~30 us) keeps them hot between back-to-back GEMMs only. OpenBLAS reads this when
# it loads, i.e. it applies when disttensor is imported before NumPy (dtrun sets it for every rank).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")


def _keep_freed_heap():
    # glibc hands freed multi-MB blocks back to the kernel (mmap threshold / heap trim), so every new
    # NumPy temporary of a training step is page-faulted in again: 10k faults and ~25 ms of system time
    # per GPT step (bench_training.py --only gpt). Keep freed memory in the heap instead (the heap then
    # stays at its peak size, like a caching allocator). DISTTENSOR_KEEP_HEAP=0 turns it off.
    import sys
    if _os.environ.get("DISTTENSOR_KEEP_HEAP", "1") in ("0", "") or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: blocks below 256 MiB come from the heap
        libc.mallopt(-1, 1 << 30)    # M_TRIM_THRESHOLD: never give the heap top back below 1 GiB
        libc.mallopt(-2, 64 << 20)   # M_TOP_PAD: grow the heap 64 MiB at a time
    except (OSError, AttributeError):
        pass


_keep_freed_heap()
del _keep_freed_heap


def _silence_float_warnings():
    # PyTorch computes log(-1) = nan or 1/0 = inf silently; NumPy warns ("invalid value encountered in
    # log") from the disttensor line that called the ufunc. Ignore exactly those warnings, only when they
    # come from disttensor's own modules: no per-op errstate cost, and NumPy code of the user still warns.
    import warnings
    warnings.filterwarnings("ignore", message=r".* encountered in ", category=RuntimeWarning,
                            module=r"disttensor(\.|$)")


_silence_float_warnings()
del _silence_float_warnings

from ._dtype import (dtype, bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32,  # noqa: F401
                     float64, complex64, complex128, half, float, double, short, int, long, cfloat,
                     get_default_dtype, set_default_dtype, promote_types, finfo, iinfo)
from ._backends.device import device  # noqa: F401
from .tensor import Tensor, Size  # noqa: F401
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled  # noqa: F401
from .autograd.grad_mode import is_inference_mode_enabled  # noqa: F401
from . import autograd  # noqa: F401
from . import ops as _ops
from .random import Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401
from . import random  # noqa: F401
from . import cuda  # noqa: F401

globals().update(_ops.FUNCTIONS)
del _ops
from ._config import *  # noqa: F401,F403  (set_default_device, result_type, FloatTensor, ...)

__version__ = "0.1.0"

_LAZY = {
    "nn": ".nn", "optim": ".optim", "utils": ".utils", "distributed": ".distributed",
    "amp": ".amp", "vision": ".vision", "testing": ".testing", "backends": ".backends",
    "linalg": ".linalg", "fft": ".fft", "special": ".special", "multiprocessing": ".multiprocessing",
    "jit": ".jit",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        mod = importlib.import_module(_LAZY[name], __name__)
        globals()[name] = mod
        return mod
    if name in ("save", "load"):
        from . import serialization
        return getattr(serialization, name)
    if name in ("autocast", "is_autocast_enabled", "get_autocast_dtype", "is_autocast_available"):
        from . import amp
        return getattr(amp, name)
    raise AttributeError(f"module 'disttensor' has no attribute {name!r}")


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(t):
    return t.numel()


def is_floating_point(t):
    return t.is_floating_point()


def set_num_threads(n):
    """The CPU thread count of the ops: NumPy's OpenBLAS pool (and so the GEMM and convolution splits) and
    numba's kernels (capped at the NUMBA_NUM_THREADS it started with)."""
    n = builtins.int(n)
    if n < 1:
        raise RuntimeError(f"set_num_threads: number of threads must be positive, got {n}")
    from ._backends.blas import openblas_api
    api = openblas_api()
    if api is not None:
        api[1](n)
    try:
        import numba
        numba.set_num_threads(builtins.min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def get_num_threads():
    from ._backends.blas import openblas_api
    api = openblas_api()
    if api is not None:
        return api[0]()
    import os
    return os.cpu_count() or 1


def compile(model=None, **kwargs):
    """No compiler here: returns the model unchanged so scripts that call torch.compile still run."""
    if model is None:
        return lambda m: m
    return model
