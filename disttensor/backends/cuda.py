"""disttensor.backends.cuda: torch.backends.cuda's settings.

`is_built()` is True when CuPy (disttensor's CUDA array library) can be imported; whether a GPU is present
is `disttensor.cuda.is_available()`.

The cuBLAS settings under `matmul` (`allow_tf32`, `allow_fp16_reduced_precision_reduction`,
`allow_bf16_reduced_precision_reduction`, `allow_fp16_accumulation`, `fp32_precision`), the
scaled-dot-product-attention switches (`enable_flash_sdp` ...), `preferred_linalg_library`,
`preferred_blas_library` and `cufft_plan_cache.max_size` are accepted, checked and stored like PyTorch does,
but they have NO effect: CuPy decides its GEMM compute type itself (TF32 only when the environment variable
CUPY_TF32=1 is set before CuPy is imported), and disttensor's attention is always the math path.
"""
import contextlib
import warnings

__all__ = ["is_built", "cuFFTPlanCacheAttrContextProp", "cuFFTPlanCache", "cuFFTPlanCacheManager",
           "cuBLASModule", "preferred_linalg_library", "preferred_blas_library", "cufft_plan_cache", "matmul",
           "SDPAParams", "enable_cudnn_sdp", "cudnn_sdp_enabled", "enable_flash_sdp", "flash_sdp_enabled",
           "enable_mem_efficient_sdp", "mem_efficient_sdp_enabled", "math_sdp_enabled", "enable_math_sdp",
           "allow_fp16_bf16_reduction_math_sdp", "fp16_bf16_reduction_math_sdp_allowed", "is_flash_attention_available",
           "can_use_flash_attention", "can_use_efficient_attention", "can_use_cudnn_attention", "sdp_kernel"]


def is_built():
    """Whether disttensor can run CUDA code at all: CuPy is installed (imported on this call)."""
    from .._backends.device import cuda_module
    return cuda_module() is not None


class cuBLASModule:
    """`torch.backends.cuda.matmul`: cuBLAS settings (stored; no effect, see the module docstring)."""

    _defaults = {"allow_tf32": False, "allow_fp16_reduced_precision_reduction": True,
                 "allow_fp16_reduced_precision_reduction_split_k": True,
                 "allow_bf16_reduced_precision_reduction": True,
                 "allow_bf16_reduced_precision_reduction_split_k": True,
                 "allow_fp16_accumulation": False, "fp32_precision": "none"}

    def __init__(self):
        object.__setattr__(self, "_state", dict(self._defaults))

    def __getattr__(self, name):
        state = object.__getattribute__(self, "_state")
        if name in state:
            return state[name]
        raise AttributeError("Unknown attribute " + name)

    def __setattr__(self, name, value):
        state = self._state
        if name in ("allow_tf32", "allow_fp16_accumulation"):
            state[name] = _bool(value, "set_" + name + "_cublas")
        elif name in ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction"):
            # a bool, or a tuple/list (allow_reduced_precision[, allow_splitk]) as in PyTorch 2.13
            reduced, splitk = _parse_reduction(value, name)
            state[name] = reduced
            state[name + "_split_k"] = splitk
        elif name == "fp32_precision":
            if value not in ("ieee", "tf32", "none"):
                raise RuntimeError(f"Unknown precision: {value}")
            state[name] = value
        else:
            raise AttributeError("Unknown attribute " + name)


def _parse_reduction(value, name):
    def need_bool(obj, which):
        if isinstance(obj, bool):
            return obj
        raise TypeError(f"{name} expects a bool for {which}, but got {type(obj)!r}")

    if isinstance(value, bool):
        return value, True
    if isinstance(value, (list, tuple)):
        if not value:
            raise TypeError(f"{name} expects at least one boolean argument")
        if len(value) > 2:
            raise TypeError(f"{name} expects at most two boolean arguments")
        reduced = need_bool(value[0], "allow_reduced_precision")
        return reduced, (need_bool(value[1], "allow_splitk") if len(value) == 2 else True)
    raise TypeError(f"{name} expects a bool or a tuple/list of bools, but got {type(value)!r}")


def _bool(value, what):
    if not isinstance(value, bool):
        raise RuntimeError(f"{what} expects a bool, but got {type(value).__name__}")
    return value


class cuFFTPlanCacheAttrContextProp:
    def __init__(self, getter, setter):
        self.getter, self.setter = getter, setter

    def __get__(self, obj, objtype):
        return self.getter(obj)

    def __set__(self, obj, val):
        if isinstance(self.setter, str):
            raise RuntimeError(self.setter)
        self.setter(obj, val)


class cuFFTPlanCache:
    """One device's cuFFT plan cache settings. disttensor's FFTs go through CuPy, which keeps its own plan
    cache: `size` reports 0 and `max_size` is stored only."""

    def __init__(self, device_index):
        self.device_index = device_index
        self._max_size = 4096

    size = cuFFTPlanCacheAttrContextProp(lambda self: 0, ".size is a read-only property showing the number "
                                         "of plans currently in the cache. To change the cache capacity, set "
                                         "cufft_plan_cache.max_size.")

    def _set_max(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RuntimeError(f"cufft_set_plan_cache_max_size: expected a non-negative int, got {value!r}")
        self._max_size = value

    max_size = cuFFTPlanCacheAttrContextProp(lambda self: self._max_size, _set_max)

    def clear(self):
        pass


class cuFFTPlanCacheManager:
    """`torch.backends.cuda.cufft_plan_cache`: `[device]` gives one device's cache; attributes go to the
    current device's (device 0 here)."""

    __initialized = False

    def __init__(self):
        self.caches = []
        self.__initialized = True

    def __getitem__(self, device):
        from .._backends.device import device as _device
        index = device if isinstance(device, int) else (_device(device).index or 0)
        if index < 0:
            raise RuntimeError(f"cufft_plan_cache: invalid device index {index}")
        while len(self.caches) <= index:
            self.caches.append(cuFFTPlanCache(len(self.caches)))
        return self.caches[index]

    def __getattr__(self, name):
        return getattr(self[0], name)

    def __setattr__(self, name, value):
        if self.__initialized:
            return setattr(self[0], name, value)
        return super().__setattr__(name, value)


cufft_plan_cache = cuFFTPlanCacheManager()
matmul = cuBLASModule()

_linalg_library = "default"
_blas_library = "cublas"


def preferred_linalg_library(backend=None):
    """Get or set the preferred CUDA linear-algebra library name ('default', 'cusolver', 'magma'); stored only."""
    global _linalg_library
    if backend is not None:
        name = getattr(backend, "name", backend)
        name = str(name).lower()
        if name not in ("default", "cusolver", "magma"):
            raise RuntimeError(f"Unknown input value. Choose from: default, cusolver, magma. Got {backend}")
        _linalg_library = name
    return _linalg_library


def preferred_blas_library(backend=None):
    """Get or set the preferred CUDA BLAS library name ('cublas', 'cublaslt', 'ck'); stored only."""
    global _blas_library
    if backend is not None:
        name = str(getattr(backend, "name", backend)).lower()
        if name == "hipblaslt":
            name = "cublaslt"
        if name not in ("cublas", "cublaslt", "ck"):
            raise RuntimeError(f"Unknown input value. Choose from: cublas, cublaslt, ck. Got {backend}")
        _blas_library = name
    return _blas_library


# ---- scaled dot product attention switches (disttensor always computes attention the math way) ----------

_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True, "fp16_bf16_reduction_math": True}


def flash_sdp_enabled():
    return _sdp["flash"]


def enable_flash_sdp(enabled: bool):
    _sdp["flash"] = bool(enabled)


def mem_efficient_sdp_enabled():
    return _sdp["mem_efficient"]


def enable_mem_efficient_sdp(enabled: bool):
    _sdp["mem_efficient"] = bool(enabled)


def math_sdp_enabled():
    return _sdp["math"]


def enable_math_sdp(enabled: bool):
    _sdp["math"] = bool(enabled)


def cudnn_sdp_enabled():
    return _sdp["cudnn"]


def enable_cudnn_sdp(enabled: bool):
    _sdp["cudnn"] = bool(enabled)


def allow_fp16_bf16_reduction_math_sdp(enabled: bool):
    _sdp["fp16_bf16_reduction_math"] = bool(enabled)


def fp16_bf16_reduction_math_sdp_allowed():
    return _sdp["fp16_bf16_reduction_math"]


def is_flash_attention_available():
    """disttensor has no flash-attention kernel."""
    return False


class SDPAParams:
    def __init__(self, query, key, value, attn_mask=None, dropout=0.0, is_causal=False, enable_gqa=False):
        self.query, self.key, self.value = query, key, value
        self.attn_mask, self.dropout, self.is_causal, self.enable_gqa = attn_mask, dropout, is_causal, enable_gqa


def can_use_flash_attention(params, debug=False):
    if debug:
        warnings.warn("disttensor has no flash-attention kernel", stacklevel=2)
    return False


def can_use_efficient_attention(params, debug=False):
    if debug:
        warnings.warn("disttensor has no memory-efficient attention kernel", stacklevel=2)
    return False


def can_use_cudnn_attention(params, debug=False):
    if debug:
        warnings.warn("disttensor does not use cuDNN", stacklevel=2)
    return False


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """Deprecated in PyTorch (FutureWarning) in favour of torch.nn.attention.sdpa_kernel; sets the switches
    inside the block and restores them after."""
    warnings.warn("`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will "
                  "be removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with "
                  "updated signature.", FutureWarning, stacklevel=3)
    old = dict(_sdp)
    _sdp.update(flash=bool(enable_flash), math=bool(enable_math), mem_efficient=bool(enable_mem_efficient),
                cudnn=bool(enable_cudnn))
    try:
        yield {}
    finally:
        _sdp.clear()
        _sdp.update(old)
