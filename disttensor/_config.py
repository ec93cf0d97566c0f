"""Top-level configuration switches and dtype/shape helpers with PyTorch's names and semantics.

    torch.set_float32_matmul_precision("high")   # stored; disttensor always computes float32 in full
    torch.set_default_device("cuda")             # factory functions without device= create there
    torch.use_deterministic_algorithms(True)     # stored; every disttensor kernel is deterministic
    torch.result_type(t, 2.5), torch.can_cast(a, b), torch.broadcast_shapes((3, 1), (4,))
    torch.FloatTensor(2, 3), torch.LongTensor([1, 2]), isinstance(t, torch.FloatTensor)
"""
import builtins
import os

from . import _dtype
from ._dtype import dtype as _dtype_cls
from ._tensor_str import set_printoptions, get_printoptions, printoptions  # noqa: F401
from .tensor import Tensor, Size

__all__ = [
    "set_float32_matmul_precision", "get_float32_matmul_precision", "set_default_device",
    "get_default_device", "set_printoptions", "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
    "set_deterministic_debug_mode", "get_deterministic_debug_mode", "set_num_interop_threads",
    "get_num_interop_threads", "typename", "is_storage", "is_nonzero", "result_type", "can_cast",
    "broadcast_shapes", "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
    "ByteTensor", "HalfTensor", "CharTensor", "ShortTensor", "BFloat16Tensor",
]

# ---- float32 matmul precision ---------------------------------------------------------------------
_MATMUL_PRECISION = ["highest"]


def set_float32_matmul_precision(precision):
    """Store the float32 matmul precision ("highest", "high" or "medium").

    disttensor has no TF32/bfloat16-pass matmul kernels: float32 matmuls always run in full float32
    precision whatever the setting, i.e. "high" and "medium" are allowed to be more precise, which is what
    PyTorch's documentation permits. The value is kept so `get_float32_matmul_precision` reports it.
    An unknown string warns and changes nothing, like PyTorch.
    """
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in ("highest", "high", "medium"):
        import warnings
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision():
    return _MATMUL_PRECISION[0]


# ---- default device ---------------------------------------------------------------------------------
def set_default_device(device):
    """Factory functions (tensor, zeros, ones, empty, full, arange, linspace, eye, rand, randn, randint,
    randperm, normal, windows...) called without `device=` create their tensor on `device`.
    `None` restores the CPU default. Process-wide (PyTorch keeps it per thread)."""
    from .ops import creation
    if device is None:
        creation._default_device = None
        return
    from ._backends.device import device as _device
    dev = _device(device)
    creation._default_device = None if dev.type == "cpu" and dev.index is None else dev


def get_default_device():
    from ._backends.device import device as _device
    from .ops import creation
    dev = creation._default_device
    if dev is None:
        return _device("cpu")
    if dev.type == "cuda" and dev.index is None:
        from . import cuda
        try:
            return _device(f"cuda:{cuda.current_device()}")
        except RuntimeError:   # no GPU here: report the device as it was set
            return dev
    return dev


# ---- determinism ---------------------------------------------------------------------------------
_DETERMINISTIC = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Stored only: every disttensor kernel (NumPy/CuPy, no atomics in our own kernels) is deterministic."""
    if not isinstance(mode, builtins.bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, "
                        f"not {type(mode).__name__}")
    if not isinstance(warn_only, builtins.bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, "
                        f"not {type(warn_only).__name__}")
    _DETERMINISTIC["mode"] = mode
    _DETERMINISTIC["warn_only"] = warn_only


def are_deterministic_algorithms_enabled():
    return _DETERMINISTIC["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _DETERMINISTIC["warn_only"]


def set_deterministic_debug_mode(debug_mode):
    if isinstance(debug_mode, str):
        modes = {"default": 0, "warn": 1, "error": 2}
        if debug_mode not in modes:
            raise RuntimeError("invalid value of debug_mode, expected one of `default`, `warn`, `error`, "
                               f"but got {debug_mode}")
        debug_mode = modes[debug_mode]
    elif not isinstance(debug_mode, builtins.int):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode == 0:
        use_deterministic_algorithms(False)
    elif debug_mode == 1:
        use_deterministic_algorithms(True, warn_only=True)
    elif debug_mode == 2:
        use_deterministic_algorithms(True)
    else:
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")


def get_deterministic_debug_mode():
    if not are_deterministic_algorithms_enabled():
        return 0
    return 1 if is_deterministic_algorithms_warn_only_enabled() else 2


# ---- threads ------------------------------------------------------------------------------------------
_INTEROP = [None]


def set_num_interop_threads(n):
    """Stored only: disttensor runs no inter-op thread pool (ops execute in the calling thread)."""
    if not isinstance(n, builtins.int) or isinstance(n, builtins.bool) or n <= 0:
        raise RuntimeError(f"set_num_interop_threads expects a positive integer {n}"
                           if isinstance(n, builtins.int) else
                           f"set_num_interop_threads(): argument 'num' must be int, not {type(n).__name__}")
    _INTEROP[0] = n


def get_num_interop_threads():
    return _INTEROP[0] if _INTEROP[0] is not None else (os.cpu_count() or 1)


# ---- small predicates ------------------------------------------------------------------------------
def typename(obj, /):
    """The type name of obj; for a tensor its `Tensor.type()` string (e.g. 'disttensor.FloatTensor')."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in ("", "builtins"):
        return qualname
    return f"{module}.{qualname}"


def is_storage(obj, /):
    """disttensor has no storage objects (a tensor owns one array), so nothing is a storage."""
    return False


def is_nonzero(input):
    if not isinstance(input, Tensor):
        raise TypeError(f"is_nonzero(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    n = input._data.size
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(input._data.reshape(()).item() != 0)


# ---- dtype helpers -----------------------------------------------------------------------------------
def _is_number(x):
    return isinstance(x, (builtins.bool, builtins.int, builtins.float, builtins.complex))


def _combine_categories(higher, lower):
    """PyTorch's rule for joining a higher-priority result dtype with a lower-priority one (None = absent)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_complex:
        return higher
    if lower.is_complex:
        if higher.is_floating_point:   # float16/bfloat16 -> complex64 (disttensor has no complex32)
            return _dtype.complex128 if higher is _dtype.float64 else _dtype.complex64
        return lower
    if higher.is_floating_point:
        return higher
    if higher is _dtype.bool or lower.is_floating_point:
        return _dtype.promote_types(higher, lower)
    return higher


def _scalar_dtype(x):
    if isinstance(x, builtins.bool):
        return _dtype.bool
    if isinstance(x, builtins.int):
        return _dtype.int64
    if isinstance(x, builtins.float):
        return _dtype.get_default_dtype()
    return _dtype.get_default_dtype().to_complex()


def result_type(tensor1, tensor2):
    """The dtype `tensor1 op tensor2` produces: tensors of dimension > 0 outrank 0-dim tensors, which outrank
    Python numbers; a lower rank only moves the result to a higher category (bool < int < float < complex)."""
    tiers = [None, None, None]   # dimensioned tensors, 0-dim tensors, Python numbers
    for i, x in enumerate((tensor1, tensor2)):
        if isinstance(x, Tensor):
            d, k = x.dtype, (0 if x._data.ndim else 1)
        elif _is_number(x):
            d, k = _scalar_dtype(x), 2
        else:
            arg = "tensor1" if i == 0 else "tensor2"
            raise TypeError(f"result_type(): argument '{arg}' must be Tensor or Number, not {type(x).__name__}")
        tiers[k] = d if tiers[k] is None else _dtype.promote_types(tiers[k], d)
    return _combine_categories(tiers[0], _combine_categories(tiers[1], tiers[2]))


def can_cast(from_, to):
    """Whether a cast from_ -> to is allowed by PyTorch's casting rules (no downcast across categories)."""
    a, b = _dtype.to_dtype(from_), _dtype.to_dtype(to)
    ca, cb = _dtype._category(a), _dtype._category(b)
    return ca <= cb


def broadcast_shapes(*shapes):
    """The shape all `shapes` broadcast to (each a sequence of ints or an int), as a Size."""
    sizes = []
    for s in shapes:
        if isinstance(s, Tensor):
            raise TypeError("broadcast_shapes(): expected shapes (sequences of ints), got a Tensor")
        if isinstance(s, (builtins.int,)) or hasattr(s, "__index__"):
            s = (s,)
        s = tuple(s)
        for v in s:
            if not isinstance(v, builtins.int) and not hasattr(v, "__index__"):
                raise TypeError(f"broadcast_shapes(): expected an int in a shape, got {type(v).__name__}: {v!r}")
            if v < 0:
                raise ValueError("Attempting to broadcast a dimension with negative length!")
        sizes.append(tuple(builtins.int(v) for v in s))
    ndim = max((len(s) for s in sizes), default=0)
    out = [1] * ndim
    for idx, s in enumerate(sizes):
        for j, v in enumerate(s):
            k = ndim - len(s) + j
            if v == out[k] or v == 1:
                continue
            if out[k] == 1:
                out[k] = v
            else:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {v} at {j - len(s)}! Mismatching argument "
                    f"at index {idx} had {s}; but expected shape should be broadcastable to {out}")
    return Size(out)


# ---- legacy typed constructors ----------------------------------------------------------------------
class _LegacyTensorType(type):
    """torch.FloatTensor and friends: call to construct, `isinstance(t, FloatTensor)` checks dtype and CPU."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype and obj.device.type == "cpu"

    def __call__(cls, *args, device=None):
        from .ops import creation
        d = cls.dtype
        if device is not None:
            from ._backends.device import device as _device
            if _device(device).type != "cpu":
                raise RuntimeError(f"legacy constructor expects device type: cpu but device type: "
                                   f"{_device(device).type} was passed")
        if not args:
            return creation.empty(0, dtype=d, device="cpu")
        if len(args) == 1:
            a = args[0]
            if isinstance(a, Tensor):
                if a.dtype is not d or a.device.type != "cpu":
                    raise TypeError(f"expected {cls.__name__} (dtype {d}, cpu) but got a tensor of dtype "
                                    f"{a.dtype} on {a.device}")
                return a.detach()
            if isinstance(a, Size):
                return creation.empty(*a, dtype=d, device="cpu")
            if isinstance(a, (builtins.int,)) and not isinstance(a, builtins.bool):
                return creation.empty(a, dtype=d, device="cpu")
            if isinstance(a, (builtins.float, builtins.complex, builtins.bool)):
                raise TypeError(f"new(): data must be a sequence (got {type(a).__name__})")
            return creation.tensor(a, dtype=d, device="cpu")
        if all(isinstance(a, builtins.int) and not isinstance(a, builtins.bool) for a in args):
            return creation.empty(*args, dtype=d, device="cpu")
        raise TypeError(f"{cls.__name__}(): expected sizes (ints) or one sequence of data, got "
                        f"({', '.join(type(a).__name__ for a in args)})")

    def __repr__(cls):
        return f"<class 'disttensor.{cls.__name__}'>"


def _legacy(name, d):
    return _LegacyTensorType(name, (), {"dtype": d, "is_cuda": False, "is_sparse": False, "__module__": "disttensor"})


FloatTensor = _legacy("FloatTensor", _dtype.float32)
DoubleTensor = _legacy("DoubleTensor", _dtype.float64)
HalfTensor = _legacy("HalfTensor", _dtype.float16)
BFloat16Tensor = _legacy("BFloat16Tensor", _dtype.bfloat16)
LongTensor = _legacy("LongTensor", _dtype.int64)
IntTensor = _legacy("IntTensor", _dtype.int32)
ShortTensor = _legacy("ShortTensor", _dtype.int16)
CharTensor = _legacy("CharTensor", _dtype.int8)
ByteTensor = _legacy("ByteTensor", _dtype.uint8)
BoolTensor = _legacy("BoolTensor", _dtype.bool)

del _dtype_cls
