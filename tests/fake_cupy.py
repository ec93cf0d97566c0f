"""A fake CuPy for tests: runs disttensor's CUDA code path (`xp = cupy`, the non-numba fallbacks) on the CPU.

No machine here has a GPU, so the CUDA branch of every op would otherwise never run. This module
imitates the part of CuPy's API that disttensor reaches, backed by NumPy, and is strict where real
CuPy code would break or where the project's rule ("never `np.something(a)` on an input array")
is broken:

- `ndarray` is a subclass of `numpy.ndarray` (so the data is real memory) with CuPy's extras
  (`.device.id`, `.get()`, `.set()`, `.data.ptr`, CuPy's `flags`), CuPy's method signatures for the
  methods CuPy has (`a.sum(axis, dtype, out, keepdims)`, `a.astype(..)` without `casting`,
  `a.sort(axis)`, `a.item()` ...), and numpy-only methods removed (`resize`, `searchsorted`,
  `ctypes` ...). Operators, methods and indexing are allowed (CuPy has them); reductions and
  indexing return 0-d arrays, never NumPy scalars, as CuPy does.
- A NumPy function or ufunc applied DIRECTLY to a fake array (`np.exp(a)`, `np.add(a, b, out=c)`,
  `np.where(m, a, 0)`, `np.add.at(a, i, v)`) raises `FakeCudaError` naming the function. With
  `MODE = "cupy"` (env `FAKE_CUPY_MODE=cupy`) the fake instead behaves like real CuPy's
  `__array_function__`/`__array_ufunc__`: NumPy calls are forwarded to the same-named CuPy function
  when CuPy has one (so a finding in strict mode that passes in cupy mode breaks the project's rule
  but would run on a GPU).
- Mixing a host `numpy.ndarray` into a CUDA operation (`fake + np_array`, `xp.where(m, np_array, a)`,
  a ufunc with a host operand) raises TypeError, as CuPy does ("Unsupported type").
- Module functions (`xp.exp`, `xp.zeros`, `xp.linalg.solve`, ...) are NumPy's, called on the plain
  views of the fake arrays and wrapped back. Ufunc methods follow current CuPy (v13/v14):
  `reduce`/`accumulate` only for add and multiply, `reduceat` only for add, `at` only for add and
  the bitwise ops; `outer` for all.
- `cuda` (is_available, runtime.getDeviceCount/getDevice/setDevice/deviceSynchronize, Device,
  Stream), `random.Generator`/`XORWOW` with exactly CuPy's Generator methods (no `normal`,
  `permutation`, `choice`, `lognormal`, `standard_cauchy`, `shuffle`), backed by NumPy's PCG64,
  `get_default_memory_pool`, `cupyx.scatter_add/max/min`, `cupyx.scipy.special` (scipy-backed,
  only the names CuPy has; absent when scipy is missing).
- A fake array handed to a numba CPU kernel raises (numba would otherwise take it as an ndarray).

What it CANNOT detect (see `KNOWN_LIMITS`):
- `isinstance(a, np.ndarray)` is True for fake arrays and False for real CuPy ones.
- `np.asarray(a)`, `np.array(a)`, `np.ascontiguousarray(a)` ... give an ndarray subclass no hook (CuPy
  raises "Implicit conversion to a NumPy array is not allowed"). `install()` wraps those names in the
  `numpy` namespace, so calls written `np.asarray(a)` raise; other spellings (`from numpy import
  asarray`, NumPy's own internals, `np.float32(a)` on a 0-d array) silently make host data. Such a
  leak shows up later: a mixed operation raises or an output reports device cpu (tests check it).
- Signatures of module functions are NumPy's: a keyword CuPy lacks (`xp.unique(equal_nan=...)`,
  `xp.pad(..., stat_length=...)`) passes here; only `sort`/`argsort` (kind None or "stable") and the
  ndarray methods are held to CuPy's signatures, and only the names in `CUPY_LACKS` are known absent.
  Sorts are stable here, as CuPy's always are (NumPy's default is not).
- Out-of-bounds index ARRAYS: CuPy wraps them around silently; here NumPy's IndexError becomes a
  FakeCudaError, so ops that rely on NumPy to reject bad indices are found (the wrapped values
  themselves are not reproduced).
- CuPy's linalg does not raise on singular / non-positive-definite input (it returns nan/inf unless
  `cupyx.errstate(linalg="raise")`); here NumPy raises LinAlgError as on CPU.
- Numerics: CuPy may differ in dtype promotion of scalars, float16 math, reduction order.
- Streams, asynchrony and multiple devices (one fake device, id 0).

CuPy gaps disttensor relied on (found with this fake, fixed): `maximum/minimum.accumulate`
(cummax, cummin, mode), `multiply.at` (scatter_reduce "prod"), `Generator.permutation`
(randperm, init.sparse_), `Generator.lognormal` / `standard_cauchy` (log_normal_, cauchy_),
`ndarray.reshape(copy=False)` (Tensor.view of a strided tensor), wrapped out-of-bounds indices
(x[idx], x[idx] = v, index_put_).
"""
import builtins
import functools
import os
import sys
import types

import numpy as np

_nd = np.ndarray
_np_array = np.array
_np_asarray = np.asarray
MODE = os.environ.get("FAKE_CUPY_MODE", "strict")  # "strict": any np.* on a fake array raises; "cupy": dispatch

KNOWN_LIMITS = (
    "isinstance(a, numpy.ndarray) is True for fake arrays (False on CuPy)",
    "np.asarray/np.array/np.ascontiguousarray on a fake array silently copy to host (CuPy raises)",
    "module functions accept NumPy's keywords; CuPy may lack some",
    "out-of-bounds index arrays raise FakeCudaError here; CuPy wraps them silently",
    "one device only; no streams or asynchrony",
)

# Top-level NumPy names CuPy does not have (used to fail `xp.<name>` like CuPy would).
CUPY_LACKS = frozenset({
    "errstate", "seterr", "geterr", "seterrcall", "geterrcall", "nditer", "nested_iters", "ndindex",
    "frompyfunc", "ma", "char", "rec", "ctypeslib", "memmap", "longdouble", "float128", "complex256",
    "clongdouble", "object_", "str_", "bytes_", "void", "datetime64", "timedelta64", "busday_count",
    "einsum_path", "recarray", "chararray", "matrix", "asmatrix", "bmat", "lexsort_indices",
})

# Methods of cupy.ndarray and their parameters (positional order), from CuPy's core.pyx.
_METHODS = {
    "copy": ("order",), "fill": ("value",), "swapaxes": ("axis1", "axis2"), "flatten": ("order",),
    "ravel": ("order",), "squeeze": ("axis",), "take": ("indices", "axis", "out"),
    "put": ("indices", "values", "mode"), "repeat": ("repeats", "axis"), "choose": ("choices", "out", "mode"),
    "sort": ("axis",), "argsort": ("axis",), "partition": ("kth", "axis"), "argpartition": ("kth", "axis"),
    "nonzero": (), "compress": ("condition", "axis", "out"), "diagonal": ("offset", "axis1", "axis2"),
    "max": ("axis", "out", "keepdims"), "min": ("axis", "out", "keepdims"),
    "ptp": ("axis", "out", "keepdims"), "round": ("decimals", "out"),
    "trace": ("offset", "axis1", "axis2", "dtype", "out"), "sum": ("axis", "dtype", "out", "keepdims"),
    "cumsum": ("axis", "dtype", "out"), "mean": ("axis", "dtype", "out", "keepdims"),
    "var": ("axis", "dtype", "out", "ddof", "keepdims"), "std": ("axis", "dtype", "out", "ddof", "keepdims"),
    "prod": ("axis", "dtype", "out", "keepdims"), "cumprod": ("axis", "dtype", "out"),
    "all": ("axis", "out", "keepdims"), "any": ("axis", "out", "keepdims"), "conj": (), "conjugate": (),
    "tolist": (), "tobytes": ("order",), "item": (), "dumps": (),
}
# numpy.ndarray methods/attributes cupy.ndarray lacks.
_NOT_IN_CUPY = ("resize", "itemset", "byteswap", "setflags", "getfield", "setfield", "searchsorted",
                "newbyteorder", "tostring", "ctypes", "__array_interface__", "__array_struct__", "to_device",
                "__array_namespace__", "dump")


class FakeCudaError(TypeError):
    """A NumPy function was applied directly to a (fake) CUDA array."""


def _is_host(x):
    return isinstance(x, _nd) and not isinstance(x, ndarray)


def _host_error(where, x):
    return TypeError(f"{where}: got a host numpy.ndarray (shape {x.shape}, {x.dtype}) mixed with CUDA arrays; "
                     "CuPy raises 'Unsupported type <class 'numpy.ndarray'>' (no implicit host-to-device copy)")


def _base(a):
    return _nd.view(a, _nd)


class _WrapsOOB:
    """CuPy's gather/scatter kernels check no bounds: an out-of-bounds index ARRAY wraps around silently
    (Python-int indices are checked on the host and raise). NumPy's IndexError there is turned into a
    FakeCudaError, so an op that relies on NumPy to reject bad indices is found."""
    __slots__ = ("where",)

    def __init__(self, where):
        self.where = where

    def __enter__(self):
        return self

    def __exit__(self, t, e, tb):
        if t is IndexError and "out of bounds" in str(e):
            raise FakeCudaError(f"{self.where}: {e}; CuPy raises nothing here (it wraps the index around), so the "
                                "op must check its index bounds itself") from e
        return False


def _has_index_array(key):
    if key.__class__ is tuple:
        return any(_has_index_array(k) for k in key)
    return isinstance(key, (_nd, list))


class _Ins:
    """Unwrapping of arguments: fake arrays become plain views; remembers them to map results back."""
    __slots__ = ("pairs", "where", "lenient")

    def __init__(self, where, lenient=False):
        self.pairs = []
        self.where = where
        self.lenient = lenient

    def __call__(self, x):
        c = x.__class__
        if c is ndarray:
            b = _base(x)
            self.pairs.append((b, x))
            return b
        if c is list or c is tuple:
            return c(self(v) for v in x)
        if not self.lenient and isinstance(x, _nd):
            raise _host_error(self.where, x)
        return x

    def wrap(self, r):
        if r is None:
            return None
        c = r.__class__
        if c is _nd:
            for b, f in self.pairs:
                if r is b:
                    return f
            return _nd.view(r, ndarray)
        if isinstance(r, np.generic):
            return _nd.view(_np_asarray(r), ndarray)
        if c is tuple or c is list:
            return c(self.wrap(v) for v in r)
        if isinstance(r, tuple) and hasattr(r, "_fields"):  # namedtuple results (svd, slogdet, ...)
            return c(*(self.wrap(v) for v in r))
        if isinstance(r, _nd) and not isinstance(r, ndarray):  # other subclasses (matrix...)
            return _nd.view(_np_asarray(r), ndarray)
        return r


def _wrap1(r):
    c = r.__class__
    if c is _nd:
        return _nd.view(r, ndarray)
    if isinstance(r, np.generic):
        return _nd.view(_np_asarray(r), ndarray)
    if c is tuple or c is list:
        return c(_wrap1(v) for v in r)
    return r


# ---- the fake ndarray -------------------------------------------------------------------------------
class _DeviceObj:
    __slots__ = ("id",)

    def __init__(self, i=0):
        self.id = int(i)

    def __eq__(self, o):
        return isinstance(o, _DeviceObj) and o.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __int__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def __enter__(self):
        cuda.runtime._stack.append(cuda.runtime._current)
        cuda.runtime.setDevice(self.id)
        return self

    def __exit__(self, *exc):
        cuda.runtime._current = cuda.runtime._stack.pop()
        return False

    def use(self):
        cuda.runtime.setDevice(self.id)

    def synchronize(self):
        pass

    compute_capability = "90"


class _MemPtr:
    """cupy.cuda.MemoryPointer: `ptr` (address), `mem` (the allocation, shared by all views of it)."""
    __slots__ = ("ptr", "mem", "device_id", "device")

    def __init__(self, ptr, mem):
        self.ptr = ptr
        self.mem = mem
        self.device_id = 0
        self.device = _DeviceObj(0)


class _Flags:
    """CuPy's flags: only c_contiguous, f_contiguous, owndata (no `writeable`, `aligned`...)."""
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, c, f, o):
        self.c_contiguous, self.f_contiguous, self.owndata = c, f, o

    def __getitem__(self, k):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[k]


def _no_attr(name):
    def get(self):
        raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}' (fake_cupy: CuPy lacks it)")
    return property(get)


def _direct_error(fname, inputs):
    host = [x for x in inputs if _is_host(x)]
    if host:
        return _host_error(fname, host[0])
    return FakeCudaError(f"{fname} called on a CUDA array (fake_cupy): use the array module of the input "
                         f"(xp = xp_of(a); xp.{fname.split('.', 1)[1]}) or an ndarray method")


def _flat_inputs(args, kwargs):
    out = []
    for x in list(args) + list(kwargs.values()):
        if isinstance(x, (list, tuple)):
            out.extend(x)
        else:
            out.append(x)
    return out


_OPERATOR_UFUNCS = frozenset({
    np.add, np.subtract, np.multiply, np.true_divide, np.floor_divide, np.remainder, np.power, np.matmul,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.left_shift, np.right_shift, np.less, np.less_equal,
    np.equal, np.not_equal, np.greater, np.greater_equal, np.divmod})


class ndarray(np.ndarray):
    """A CUDA array of the fake device (numpy memory underneath)."""
    __numba_array_subtype_dispatch__ = True   # numba calls typeof_impl (registered below to refuse it)
    __array_priority__ = 100

    # numpy functions applied directly to a fake array
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = "numpy." + ufunc.__name__ + ("" if method == "__call__" else "." + method)
        if (method == "__call__" and not kwargs and len(inputs) == 2 and isinstance(inputs[0], np.generic)
                and inputs[1].__class__ is ndarray and ufunc in _OPERATOR_UFUNCS):
            # `np.float32(2) * a`: the NumPy scalar's operator runs first and calls the ufunc, which real
            # CuPy's __array_ufunc__ forwards to the CuPy ufunc. Allowed (an explicit
            # `np.multiply(np.float32(2), a)` is indistinguishable and passes too).
            return getattr(_module, ufunc.__name__)(*inputs)
        if MODE == "cupy" and method == "__call__" and not any(_is_host(x) for x in _flat_inputs(inputs, kwargs)):
            f = getattr(_module, ufunc.__name__, None)
            if f is not None:
                if "out" in kwargs:
                    out = kwargs["out"]
                    if len(out) != 1:
                        raise ValueError("The 'out' parameter must have exactly one array value")
                    kwargs["out"] = out[0]
                return f(*inputs, **kwargs)
            return NotImplemented
        raise _direct_error(name, _flat_inputs(inputs, kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        mod = func.__module__ or "numpy"
        name = mod.replace("numpy._core", "numpy").replace("numpy.core", "numpy") + "." + func.__name__
        if MODE == "cupy":
            target = _module
            for part in mod.split(".")[1:]:
                if part in ("_core", "core", "fromnumeric", "numeric", "multiarray", "shape_base", "_methods",
                            "function_base", "_function_base_impl", "_shape_base_impl", "_index_tricks_impl",
                            "_stride_tricks_impl", "_twodim_base_impl", "_arraysetops_impl", "_nanfunctions_impl",
                            "_ufunclike_impl", "_type_check_impl", "_utils_impl", "_arraypad_impl",
                            "_linalg", "_histograms_impl", "_polynomial_impl", "einsumfunc", "numerictypes",
                            "_multiarray_umath", "lib"):
                    continue
                target = getattr(target, part, None)
                if target is None:
                    return NotImplemented
            f = getattr(target, func.__name__, None)
            if f is None or any(t is not ndarray and not issubclass(t, ndarray) and t is not _nd for t in types_):
                return NotImplemented
            return f(*args, **kwargs)
        raise _direct_error(name, _flat_inputs(args, kwargs))

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    # CuPy extras
    @property
    def device(self):
        return _DeviceObj(0)

    @property
    def data(self):
        m = _base(self)
        while m.base is not None:
            m = m.base
            if not isinstance(m, _nd):
                break
        return _MemPtr(_nd.__array_interface__.__get__(self)["data"][0], m)

    @property
    def flags(self):
        f = _nd.flags.__get__(self)
        return _Flags(f.c_contiguous, f.f_contiguous, self.base is None)

    def get(self, stream=None, order="C", out=None):
        if out is not None:
            if not _is_host(out):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            np.copyto(out, _base(self))
            return out
        return _np_array(_base(self), order=order, copy=True)

    def set(self, arr, stream=None):
        if not _is_host(arr):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype or arr.shape != self.shape:
            raise ValueError(f"set: {arr.shape} {arr.dtype} vs {self.shape} {self.dtype}")
        np.copyto(_base(self), arr)

    def scatter_add(self, slices, value):
        _cupyx.scatter_add(self, slices, value)

    def scatter_max(self, slices, value):
        _cupyx.scatter_max(self, slices, value)

    def scatter_min(self, slices, value):
        _cupyx.scatter_min(self, slices, value)

    def reduced_view(self, dtype=None):
        return self

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, spec):
        return format(self.get(), spec)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, key):
        ins = _Ins("indexing", lenient=True)   # CuPy converts host index arrays
        if _has_index_array(key):
            with _WrapsOOB("cupy.ndarray.__getitem__"):
                return ins.wrap(_nd.__getitem__(_base(self), ins(key)))
        return ins.wrap(_nd.__getitem__(_base(self), ins(key)))

    def __setitem__(self, key, value):
        ins = _Ins("setitem", lenient=True)    # CuPy copies a host value to the device
        if _has_index_array(key):
            with _WrapsOOB("cupy.ndarray.__setitem__"):
                _nd.__setitem__(_base(self), ins(key), ins(value))
            return
        _nd.__setitem__(_base(self), ins(key), ins(value))

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if casting is not None:
            raise TypeError("casting is not supported yet")   # CuPy's own message
        if subok is not None:
            raise TypeError("subok is not supported yet")
        b = _base(self)
        r = _nd.astype(b, dtype, order=order, copy=copy)
        return self if r is b else _nd.view(r, ndarray)

    def view(self, dtype=None, type=None):
        if type is not None or (isinstance(dtype, builtins.type) and issubclass(dtype, _nd)):
            raise TypeError("cupy.ndarray.view() takes a dtype only (not an array type)")
        if dtype is None:
            return _nd.view(self, ndarray)
        return _nd.view(_nd.view(_base(self), dtype), ndarray)

    def reshape(self, *shape, order="C"):
        return _nd.view(_nd.reshape(_base(self), *shape, order=order), ndarray)

    def transpose(self, *axes):
        return _nd.view(_nd.transpose(_base(self), *axes), ndarray)

    def dot(self, b, out=None):
        if b.__class__ is not ndarray or (out is not None and out.__class__ is not ndarray):
            raise TypeError("Argument 'b' has incorrect type (expected cupy.ndarray)")
        ins = _Ins("ndarray.dot")
        return ins.wrap(_nd.dot(_base(self), ins(b), out=ins(out)))

    def argmax(self, axis=None, out=None, dtype=None, keepdims=False):
        return self._argext(_nd.argmax, axis, out, dtype, keepdims)

    def argmin(self, axis=None, out=None, dtype=None, keepdims=False):
        return self._argext(_nd.argmin, axis, out, dtype, keepdims)

    def _argext(self, f, axis, out, dtype, keepdims):
        ins = _Ins("ndarray.argmax")
        r = ins.wrap(f(_base(self), axis=axis, out=ins(out), keepdims=keepdims))
        return r if dtype is None else r.astype(dtype, copy=False)

    def clip(self, a_min=None, a_max=None, out=None, **kw):
        lo = kw.pop("min", a_min)
        hi = kw.pop("max", a_max)
        if kw:
            raise TypeError(f"cupy.ndarray.clip() got unexpected keyword arguments {sorted(kw)}")
        ins = _Ins("ndarray.clip")
        return ins.wrap(_nd.clip(_base(self), ins(lo), ins(hi), out=ins(out)))


def _make_method(name, params):
    base = getattr(_nd, name, None) or (lambda a, *args, **kw: getattr(np, name)(a, *args, **kw))

    def method(self, *args, **kwargs):
        if len(args) > len(params):
            raise TypeError(f"cupy.ndarray.{name}() takes at most {len(params)} arguments ({len(args)} given)")
        for k in kwargs:
            if k not in params:
                raise TypeError(f"cupy.ndarray.{name}() got an unexpected keyword argument '{k}' "
                                f"(CuPy's signature: {name}({', '.join(params)}))")
        ins = _Ins("ndarray." + name, lenient=name in ("take", "put", "choose", "compress", "fill"))
        with _WrapsOOB("cupy.ndarray." + name):
            return ins.wrap(base(_base(self), *ins(args), **{k: ins(v) for k, v in kwargs.items()}))
    method.__name__ = name
    return method


for _n, _p in _METHODS.items():
    setattr(ndarray, _n, _make_method(_n, _p))


def _sort_method(name):
    f = getattr(_nd, name)

    def method(self, axis=-1):
        ins = _Ins("ndarray." + name)
        return ins.wrap(f(ins(self), axis=axis, kind="stable"))
    method.__name__ = name
    return method


ndarray.sort = _sort_method("sort")
ndarray.argsort = _sort_method("argsort")
for _n in _NOT_IN_CUPY:
    setattr(ndarray, _n, _no_attr(_n))


def _binop(ufunc, reflected=False, inplace=False):
    def op(self, other):
        c = other.__class__
        if c is ndarray:
            o = _base(other)
        elif c in (int, float, bool, complex) or isinstance(other, np.generic):
            o = other
        elif isinstance(other, _nd):
            raise _host_error(f"operator {ufunc.__name__}", other)
        elif c in (list, tuple):
            raise TypeError(f"Unsupported type {c} in operator {ufunc.__name__} with a CUDA array")
        else:
            return NotImplemented
        s = _base(self)
        if inplace:
            ufunc(s, o, out=s)
            return self
        return _wrap1(ufunc(o, s) if reflected else ufunc(s, o))
    return op


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                   ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or),
                   ("xor", np.bitwise_xor), ("lshift", np.left_shift), ("rshift", np.right_shift)):
    setattr(ndarray, f"__{_name}__", _binop(_uf))
    setattr(ndarray, f"__r{_name}__", _binop(_uf, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binop(_uf, inplace=True))
for _name, _uf in (("lt", np.less), ("le", np.less_equal), ("eq", np.equal), ("ne", np.not_equal),
                   ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(ndarray, f"__{_name}__", _binop(_uf))
ndarray.__hash__ = None


def _divmod(self, other):
    return (self // other, self % other)


ndarray.__divmod__ = _divmod
ndarray.__neg__ = lambda self: _wrap1(np.negative(_base(self)))
ndarray.__pos__ = lambda self: self        # CuPy returns the array itself
ndarray.__abs__ = lambda self: _wrap1(np.absolute(_base(self)))
ndarray.__invert__ = lambda self: _wrap1(np.invert(_base(self)))
ndarray.T = property(lambda self: _nd.view(_base(self).T, ndarray))


# ---- module-level functions ---------------------------------------------------------------------------
_CREATE_FROM_DATA = ("array", "asarray", "asanyarray")


_GATHERS = frozenset({"take", "take_along_axis", "put", "put_along_axis", "choose", "place"})


def _function(qual, f):
    @functools.wraps(f)
    def w(*args, **kwargs):
        ins = _Ins(qual)
        if gathers:
            with _WrapsOOB(qual):
                return ins.wrap(f(*ins(args), **{k: ins(v) for k, v in kwargs.items()}))
        return ins.wrap(f(*ins(args), **{k: ins(v) for k, v in kwargs.items()}))
    gathers = qual.rsplit(".", 1)[-1] in _GATHERS
    w.__qualname__ = w.__name__ = qual.rsplit(".", 1)[-1]
    return w


def _sort_function(name):
    f = getattr(np, name)

    def sort(a, axis=-1, kind=None):
        if kind not in (None, "stable"):
            raise ValueError(f"cupy.{name}: kind={kind!r} is not supported (CuPy's sort is always stable)")
        if a.__class__ is not ndarray:
            raise TypeError(f"cupy.{name}: needs a cupy.ndarray, got {type(a)}")
        ins = _Ins("cupy." + name)
        return ins.wrap(f(ins(a), axis=axis, kind="stable"))
    sort.__name__ = name
    return sort


def _from_data(name):
    def f(obj, dtype=None, copy=None if name != "array" else True, order="K" if name == "array" else None,
          subok=False, ndmin=0, **kw):
        kw.pop("blocking", None)
        kw.pop("device", None)
        if obj.__class__ is ndarray:
            b = _base(obj)
            r = _np_array(b, dtype=dtype, copy=copy, order=order or "K", ndmin=ndmin)
            if r is b:
                return obj
            return _nd.view(r, ndarray)
        if isinstance(obj, (list, tuple)):
            obj = _Ins("cupy." + name, lenient=True)(obj)
        r = _np_array(obj, dtype=dtype, copy=True, order=order or "K", ndmin=ndmin)
        return _nd.view(r, ndarray)
    f.__name__ = name
    return f


class _Ufunc:
    """cupy.ufunc: calls with CUDA/scalar operands; methods as in current CuPy."""
    _REDUCE = {"add", "multiply"}
    _AT = {"add", "bitwise_and", "bitwise_or", "bitwise_xor"}

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout, self.nargs = uf.nin, uf.nout, uf.nargs
        self.types = uf.types

    def __repr__(self):
        return f"<ufunc 'cupy_{self.__name__}' (fake)>"

    def _check(self, args):
        for x in args:
            c = x.__class__
            if c is ndarray or c in (int, float, bool, complex) or isinstance(x, np.generic) or x is None:
                continue
            if isinstance(x, _nd):
                raise _host_error(f"cupy.{self.__name__}", x)
            raise TypeError(f"Unsupported type {c} (cupy.{self.__name__})")

    def __call__(self, *args, **kwargs):
        for k in kwargs:
            if k not in ("out", "dtype", "casting", "where"):
                raise TypeError(f"cupy.{self.__name__}: unsupported keyword '{k}'")
        self._check(args)
        out = kwargs.get("out")
        if out is not None:
            if isinstance(out, tuple):
                if len(out) != 1:
                    raise ValueError("The 'out' parameter must have exactly one array value")
                out = kwargs["out"] = out[0]
            if out.__class__ is not ndarray:
                raise TypeError(f"cupy.{self.__name__}: out must be a cupy.ndarray, got {type(out)}")
        ins = _Ins("cupy." + self.__name__)
        return ins.wrap(self._uf(*ins(args), **{k: ins(v) for k, v in kwargs.items()}))

    def _method(self, meth, allowed, a, *rest, **kw):
        if self.__name__ not in allowed:
            raise NotImplementedError(f"`{self.__name__}.{meth}` is not supported yet (CuPy)")
        if a.__class__ is not ndarray:
            raise TypeError(f"cupy.{self.__name__}.{meth}: needs a cupy.ndarray, got {type(a)}")
        ins = _Ins(f"cupy.{self.__name__}.{meth}")
        with _WrapsOOB(f"cupy.{self.__name__}.{meth}"):
            return ins.wrap(getattr(self._uf, meth)(ins(a), *ins(rest), **{k: ins(v) for k, v in kw.items()}))

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        return self._method("reduce", self._REDUCE, array, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def accumulate(self, array, axis=0, dtype=None, out=None):
        return self._method("accumulate", self._REDUCE, array, axis=axis, dtype=dtype, out=out)

    def reduceat(self, array, indices, axis=0, dtype=None, out=None):
        return self._method("reduceat", {"add"}, array, indices, axis=axis, dtype=dtype, out=out)

    def at(self, a, indices, b=None):
        return self._method("at", self._AT, a, indices, *(() if b is None else (b,)))

    def outer(self, A, B, **kwargs):
        self._check((A, B))
        ins = _Ins(f"cupy.{self.__name__}.outer")
        return ins.wrap(self._uf.outer(ins(A), ins(B), **kwargs))


class _FakeModule(types.ModuleType):
    """Attributes resolve lazily to wrapped NumPy ones (`np_mod`), except the names CuPy lacks."""

    def __init__(self, name, np_mod, lacks=()):
        super().__init__(name)
        self._np_mod = np_mod
        self._lacks = frozenset(lacks)

    def __getattr__(self, name):
        if name.startswith("__") or name in self._lacks:
            raise AttributeError(f"module '{self.__name__}' has no attribute '{name}'"
                                 + ("" if name.startswith("__") else " (fake_cupy: CuPy lacks it)"))
        obj = getattr(self._np_mod, name)   # AttributeError for unknown names, as a module would
        qual = self.__name__.replace("fake_cupy", "cupy") + "." + name
        if isinstance(obj, np.ufunc):
            v = _Ufunc(obj)
        elif isinstance(obj, type) or isinstance(obj, (int, float, np.dtype)) or obj is None:
            v = obj
        elif isinstance(obj, types.ModuleType):
            v = _FakeModule(self.__name__ + "." + name, obj)
        elif callable(obj):
            v = _function(qual, obj)
        else:
            v = obj
        setattr(self, name, v)
        return v


# ---- cuda ----------------------------------------------------------------------------------------
class CUDARuntimeError(RuntimeError):
    pass


class _Runtime:
    CUDARuntimeError = CUDARuntimeError

    def __init__(self):
        self._count = 1
        self._current = 0
        self._stack = []

    def getDeviceCount(self):
        return self._count

    def getDevice(self):
        return self._current

    def setDevice(self, i):
        i = int(i)
        if not 0 <= i < self._count:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self._current = i

    def deviceSynchronize(self):
        pass

    def runtimeGetVersion(self):
        return 12040

    is_hip = False


class _Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptr=0):
        self.ptr = 0 if null else id(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def use(self):
        return self

    def record(self, event=None):
        return _Event()

    def wait_event(self, event):
        pass


class _Event:
    def synchronize(self):
        pass

    def record(self, stream=None):
        pass


cuda = types.ModuleType("fake_cupy.cuda")
cuda.runtime = _Runtime()
cuda.is_available = lambda: True
cuda.Device = lambda device=None: _DeviceObj(cuda.runtime._current if device is None else int(device)) \
    if (device is None or 0 <= int(device) < cuda.runtime._count) else (_ for _ in ()).throw(
        CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal"))
cuda.Stream = _Stream
cuda.Event = _Event
cuda.get_current_stream = lambda device=None: _Stream(null=True)
cuda.get_device_id = lambda: cuda.runtime._current
cuda.CUDARuntimeError = CUDARuntimeError
cuda.Stream.null = _Stream(null=True)


class _MemPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass


_POOL = _MemPool()
_PINNED = _MemPool()


# ---- random --------------------------------------------------------------------------------------
class BitGenerator:
    def __init__(self, seed=None, size=-1):
        self._np = np.random.Generator(np.random.PCG64(seed))
        self.seed = seed


class XORWOW(BitGenerator):
    pass


class MRG32k3a(BitGenerator):
    pass


class Philox4x3210(BitGenerator):
    pass


def _param(x, name, kinds=(float, int)):
    """CuPy's Generator takes cupy arrays or Python scalars (not numpy arrays) for distribution parameters."""
    if x.__class__ is ndarray:
        return _base(x)
    if type(x) in kinds:
        return x
    raise TypeError(f"{name} is required to be a cupy.ndarray or a scalar")


def _size(size):
    return () if size is None else size


class Generator:
    """cupy.random.Generator: exactly the methods CuPy's Generator has, drawing from NumPy's PCG64."""

    def __init__(self, bit_generator):
        self.bit_generator = bit_generator
        self._g = bit_generator._np

    def _out(self, y, out=None):
        y = _np_asarray(y)
        if out is not None:
            np.copyto(_base(out), y)
            return out
        return _nd.view(y, ndarray)

    def random(self, size=None, dtype=np.float64, out=None):
        dt = np.dtype(dtype)
        return self._out(self._g.random(_size(size), dtype=np.float64 if dt.char == "d" else np.float32)
                         .astype(dt, copy=False), out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        low, high = _np_asarray(_param(low, "low")), _np_asarray(_param(high, "high"))
        if size is None:
            size = np.broadcast_shapes(low.shape, high.shape)
        return self._out(self._g.uniform(low, high, size).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        lo, hi = (0, int(low)) if high is None else (int(low), int(high))
        return self._out(self._g.integers(lo, hi, _size(size), dtype=np.int64, endpoint=endpoint).astype(dtype))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        dt = np.dtype(dtype)
        if dt.char not in "fd":
            raise TypeError(f"Unsupported dtype {dt.name} for standard_normal")
        return self._out(self._g.standard_normal(_size(size), dtype=dt), out)

    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        return self._out(self._g.standard_exponential(_size(size)).astype(dtype, copy=False), out)

    def exponential(self, scale=1.0, size=None):
        return self.standard_exponential(size) * scale

    def poisson(self, lam=1.0, size=None):
        lam = _param(lam, "lam")
        return self._out(self._g.poisson(lam, np.shape(lam) if size is None else size).astype(np.int64))

    def geometric(self, p, size=None):
        p = _param(p, "p")
        return self._out(self._g.geometric(p, np.shape(p) if size is None else size).astype(np.int64))

    def binomial(self, n, p, size=None):
        n, p = _param(n, "n"), _param(p, "p", (float,))
        return self._out(self._g.binomial(n, p, np.broadcast_shapes(np.shape(n), np.shape(p))
                                          if size is None else size).astype(np.int64))

    def standard_gamma(self, shape, size=None, dtype=np.float64, out=None):
        shape = _param(shape, "shape")
        return self._out(self._g.standard_gamma(shape, np.shape(shape) if size is None else size)
                         .astype(dtype, copy=False), out)

    def gamma(self, shape, scale=1.0, size=None):
        return self.standard_gamma(shape, size) * scale

    def beta(self, a, b, size=None, dtype=np.float64):
        a, b = _param(a, "a"), _param(b, "b")
        return self._out(self._g.beta(a, b, size).astype(dtype, copy=False))

    def chisquare(self, df, size=None):
        return self._out(self._g.chisquare(_param(df, "df"), size))

    def f(self, dfnum, dfden, size=None):
        return self._out(self._g.f(_param(dfnum, "dfnum"), _param(dfden, "dfden"), size))

    def power(self, a, size=None):
        return self._out(self._g.power(_param(a, "a"), size))

    def logseries(self, p, size=None):
        return self._out(self._g.logseries(_param(p, "p"), size))

    def hypergeometric(self, ngood, nbad, nsample, size=None):
        return self._out(self._g.hypergeometric(_param(ngood, "ngood"), _param(nbad, "nbad"),
                                                _param(nsample, "nsample"), size))

    def dirichlet(self, alpha, size=None):
        return self._out(self._g.dirichlet(_param(alpha, "alpha"), size))


random = types.ModuleType("fake_cupy.random")
random.Generator = Generator
random.XORWOW = XORWOW
random.MRG32k3a = MRG32k3a
random.Philox4x3210 = Philox4x3210
random.BitGenerator = BitGenerator
random.default_rng = lambda seed=None: Generator(XORWOW(seed))


# ---- cupyx --------------------------------------------------------------------------------------
def _scatter(name, ufunc):
    def f(a, slices, value):
        if a.__class__ is not ndarray:
            raise TypeError(f"cupyx.{name}: a must be a cupy.ndarray, got {type(a)}")
        ins = _Ins("cupyx." + name)
        with _WrapsOOB("cupyx." + name):
            ufunc.at(_base(a), ins(slices), ins(value))
    f.__name__ = name
    return f


_cupyx = types.ModuleType("cupyx")
_cupyx.scatter_add = _scatter("scatter_add", np.add)
_cupyx.scatter_max = _scatter("scatter_max", np.maximum)
_cupyx.scatter_min = _scatter("scatter_min", np.minimum)
_cupyx.__path__ = []

# The special functions cupyx.scipy.special has (a subset of scipy.special).
_SPECIAL = ("gamma", "gammaln", "loggamma", "digamma", "polygamma", "psi", "erf", "erfc", "erfcx", "erfinv",
            "erfcinv", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr", "expit", "logit", "log_expit",
            "xlogy", "xlog1py", "zeta", "entr", "rel_entr", "kl_div", "multigammaln", "betaln", "beta",
            "gammainc", "gammaincc", "sinc", "logsumexp", "softmax", "log_softmax", "exp1", "expn", "expm1",
            "log1p", "cbrt", "exp2", "exp10", "round", "sindg", "cosdg", "tandg", "boxcox", "boxcox1p",
            "spherical_yn", "j0", "j1", "y0", "y1", "k0", "k0e", "k1", "k1e", "bdtr", "gammasgn", "zetac")

_cupyx_scipy = types.ModuleType("cupyx.scipy")
_cupyx_scipy.__path__ = []
_cupyx.scipy = _cupyx_scipy
try:
    import scipy.special as _sp
except ImportError:  # pragma: no cover
    _sp = None
if _sp is not None:
    _special = types.ModuleType("cupyx.scipy.special")
    for _n in _SPECIAL:
        _f = getattr(_sp, _n, None)
        if _f is None:
            continue
        if isinstance(_f, np.ufunc):
            setattr(_special, _n, _Ufunc(_f))
        else:
            setattr(_special, _n, _function("cupyx.scipy.special." + _n, _f))
    _cupyx_scipy.special = _special
else:
    _special = None


# ---- the module object -----------------------------------------------------------------------------
_module = _FakeModule("fake_cupy", np, CUPY_LACKS)
_module.ndarray = ndarray
_module.ufunc = _Ufunc
_module.cuda = cuda
_module.random = random
_module.FakeCudaError = FakeCudaError
_module.KNOWN_LIMITS = KNOWN_LIMITS
_module.is_available = lambda: True
_module.get_default_memory_pool = lambda: _POOL
_module.get_default_pinned_memory_pool = lambda: _PINNED
_module.asnumpy = lambda a, stream=None, order="C", out=None: \
    a.get(stream, order, out) if a.__class__ is ndarray else _np_asarray(a, order=order)
_module.get_array_module = lambda *args: _module if any(a.__class__ is ndarray for a in args) else np
for _n in _CREATE_FROM_DATA:
    setattr(_module, _n, _from_data(_n))
_module.sort = _sort_function("sort")
_module.argsort = _sort_function("argsort")
_module.result_type = lambda *a: np.result_type(*[x.dtype if x.__class__ is ndarray else x for x in a])
_module.can_cast = lambda f, t, casting="safe": np.can_cast(f.dtype if f.__class__ is ndarray else f, t, casting)
_module.lib = types.ModuleType("fake_cupy.lib")
_module.lib.stride_tricks = types.ModuleType("fake_cupy.lib.stride_tricks")


def _as_strided(x, shape=None, strides=None):
    if x.__class__ is not ndarray:
        raise TypeError(f"cupy.lib.stride_tricks.as_strided: needs a cupy.ndarray, got {type(x)}")
    return _nd.view(np.lib.stride_tricks.as_strided(_base(x), shape, strides), ndarray)


_module.lib.stride_tricks.as_strided = _as_strided
_module.lib.stride_tricks.sliding_window_view = _function("lib.stride_tricks.sliding_window_view",
                                                          np.lib.stride_tricks.sliding_window_view)


def module():
    """The fake `cupy` module object."""
    return _module


def cupyx_modules():
    """sys.modules entries for `import cupyx`, `from cupyx.scipy import special`."""
    mods = {"cupyx": _cupyx, "cupyx.scipy": _cupyx_scipy}
    if _special is not None:
        mods["cupyx.scipy.special"] = _special
    return mods


def refuse_numba():
    """Make numba refuse fake arrays (a CUDA array must never reach a CPU kernel)."""
    try:
        from numba.extending import typeof_impl
    except ImportError:  # pragma: no cover
        return

    @typeof_impl.register(ndarray)
    def _typeof_fake(val, c):
        raise FakeCudaError("a CUDA array was passed to a numba CPU kernel (fake_cupy)")


@functools.lru_cache(None)
def _numba_registered():
    refuse_numba()
    return True


# NumPy's array constructors give an ndarray subclass no hook (CuPy raises "Implicit conversion to a NumPy
# array is not allowed" through __array__). While the fake is installed, the names in the `numpy`
# namespace are wrapped so that a call made as `np.asarray(a)` (what disttensor's code does) on a fake
# array raises; NumPy's own modules hold direct references and are unaffected.
_CONVERTERS = ("asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray", "require",
               "asarray_chkfinite")


def _guard_converter(name, f):
    @functools.wraps(f)
    def g(a, *args, **kwargs):
        if a.__class__ is ndarray or (a.__class__ in (list, tuple) and any(x.__class__ is ndarray for x in a)):
            raise FakeCudaError(f"numpy.{name} called on a CUDA array (fake_cupy): CuPy raises 'Implicit "
                                "conversion to a NumPy array is not allowed'; use .get() / xp.asarray")
        return f(a, *args, **kwargs)
    return g


def install():
    """Make disttensor's `cuda_module()` return the fake; returns a function that undoes it."""
    import importlib
    _dev = importlib.import_module("disttensor._backends.device")
    from disttensor import random as _rnd
    _numba_registered()
    prev = _dev._set_cuda_module_for_tests(_module)
    saved_mods = {k: sys.modules.get(k) for k in cupyx_modules()}
    sys.modules.update(cupyx_modules())
    saved_gens = dict(_rnd._cuda_generators)
    _rnd._cuda_generators.clear()
    saved_np = {n: getattr(np, n) for n in _CONVERTERS if hasattr(np, n)}
    for n, f in saved_np.items():
        setattr(np, n, _guard_converter(n, f))

    def undo():
        _dev._set_cuda_module_for_tests(*prev)
        for k, v in saved_mods.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        _rnd._cuda_generators.clear()
        _rnd._cuda_generators.update(saved_gens)
        for n, f in saved_np.items():
            setattr(np, n, f)
    return undo
