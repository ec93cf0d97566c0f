"""dtypes with PyTorch's names, each backed by one NumPy dtype (bfloat16 from ml_dtypes)."""
import numpy as np
import ml_dtypes


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize", "_rank")

    def __init__(self, name, np_dtype, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f" or name == "bfloat16"
        self.is_complex = self.np.kind == "c"
        self.is_signed = self.np.kind in "fc" or name == "bfloat16" or (self.np.kind == "i")
        self.itemsize = self.np.itemsize
        self._rank = rank  # position in the promotion lattice of its category

    def __repr__(self):
        return "disttensor." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self

    def to_complex(self):
        return complex64 if self is float32 else complex128


bool = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 2)
int32 = dtype("int32", np.int32, 3)
int64 = dtype("int64", np.int64, 4)
float16 = dtype("float16", np.float16, 1)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, 1)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 3)
complex64 = dtype("complex64", np.complex64, 1)
complex128 = dtype("complex128", np.complex128, 2)

half = float16
float = float32
double = float64
short = int16
int = int32
long = int64
cfloat = complex64

ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64, complex64, complex128)
_NP_TO_DT = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
_NAMES.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64)


def _by_name(name):
    return _NAMES[name]


_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _default_float = d


def from_numpy_dtype(npd):
    """Map a NumPy dtype to ours; fails clearly on dtypes with no disttensor twin."""
    try:
        return _NP_TO_DT[npd]
    except KeyError:
        try:
            return _NP_TO_DT[np.dtype(npd)]
        except (KeyError, TypeError):
            raise TypeError(f"can't convert array of dtype {npd}; supported: "
                            + ", ".join(d.name for d in ALL)) from None


def to_dtype(d):
    """Accept a disttensor dtype, a NumPy dtype, a Python type or a name."""
    if d.__class__ is dtype:
        return d
    if d is None:
        return None
    if isinstance(d, str):
        name = d.replace("torch.", "").replace("disttensor.", "")
        if name in _NAMES:
            return _NAMES[name]
    import builtins
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    return from_numpy_dtype(np.dtype(d))


def np_dtype(d):
    """The NumPy dtype for a dtype-like argument (None stays None)."""
    if d is None:
        return None
    if d.__class__ is dtype:
        return d.np
    return to_dtype(d).np


def _category(d):
    if d is bool:
        return 0
    if d.is_complex:
        return 3
    if d.is_floating_point:
        return 2
    return 1


def promote_types(a, b):
    """PyTorch's promotion of two dtypes (both tensors of dimension > 0)."""
    a, b = to_dtype(a), to_dtype(b)
    if a is b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        if ca + cb == 5 and lo is float64:   # complex64 with float64 keeps float64's precision
            return complex128
        return hi
    if ca == 2 and {a, b} == {float16, bfloat16}:
        return float32
    if ca == 1 and {a, b} == {uint8, int8}:
        return int16
    if ca == 1 and uint8 in (a, b):
        other = b if a is uint8 else a
        return other
    return a if a._rank >= b._rank else b


def result_type_scalar(t, scalar):
    """dtype of `tensor op python-scalar` under PyTorch's rules: the scalar only moves the category."""
    import builtins
    c = _category(t)
    if isinstance(scalar, builtins.bool):
        return t
    if isinstance(scalar, builtins.int):
        return t if c >= 1 else int64
    if isinstance(scalar, builtins.float):
        return t if c >= 2 else _default_float
    if isinstance(scalar, builtins.complex):
        return t if c == 3 else (complex128 if t is float64 else complex64)
    return t


class finfo:
    def __init__(self, d=None):
        d = to_dtype(d) if d is not None else _default_float
        fi = ml_dtypes.finfo(d.np) if d is bfloat16 else np.finfo(d.np)
        self.bits = fi.bits
        self.eps = builtins_float(fi.eps)
        self.max = builtins_float(fi.max)
        self.min = builtins_float(fi.min)
        self.tiny = builtins_float(fi.tiny)
        self.smallest_normal = self.tiny
        self.resolution = builtins_float(fi.resolution)
        self.dtype = d.name


class iinfo:
    def __init__(self, d):
        d = to_dtype(d)
        ii = np.iinfo(d.np)
        self.bits, self.max, self.min, self.dtype = ii.bits, int_(ii.max), int_(ii.min), d.name


import builtins as _b  # noqa: E402

builtins_float = _b.float
int_ = _b.int
