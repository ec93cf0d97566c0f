"""Tensor: one array of its device's array module plus autograd metadata.

Math lives in `disttensor/ops/`; ops attach themselves here as methods and dunders through the
registry (`ops/_registry.py`). This file holds storage, metadata, conversions and autograd entry points.
"""
import builtins

import numpy as np

from . import _dtype
from ._dtype import from_numpy_dtype, to_dtype
from ._backends.device import device as _device, device_of_array, to_device_array, CPU
from .autograd.grad_mode import STATE as GRAD

_ndarray = np.ndarray


class Tensor:
    # _gv: on a view (_base set), the version of the shared counter _vc when its grad_fn was last derived;
    # an in-place write through the base or another view since then makes it stale (see ops/_apply.fresh)
    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_vc", "_base", "_gv", "_hooks",
                 "_post_hooks", "__weakref__", "__dict__")

    __hash__ = object.__hash__
    __array_priority__ = 1000  # make `ndarray op Tensor` defer to Tensor's reflected dunders

    def __new__(cls, *args, **kwargs):
        # Legacy constructor: Tensor(2, 3) is uninitialised float; Tensor([1, 2]) copies data.
        self = object.__new__(cls)
        device = kwargs.get("device")
        if len(args) == 1 and not isinstance(args[0], int):
            src = args[0]
            arr = src._data.astype(_dtype.get_default_dtype().np) if isinstance(src, Tensor) else \
                np.array(src, dtype=_dtype.get_default_dtype().np)
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            arr = np.empty(tuple(shape), dtype=_dtype.get_default_dtype().np)
        if device is not None:
            arr = to_device_array(arr, device)
        _init(self, arr)
        return self

    def __init__(self, *args, **kwargs):
        pass

    @staticmethod
    def _wrap(arr, requires_grad=False):
        t = _new_tensor(arr if arr.__class__ is _ndarray or not isinstance(arr, np.generic) else np.asarray(arr))
        t.requires_grad = requires_grad
        return t

    # ---- metadata -------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[dim]

    @property
    def dtype(self):
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return device_of_array(self._data)

    @property
    def is_cuda(self):
        return self._data.__class__ is not _ndarray

    @property
    def is_cpu(self):
        return self._data.__class__ is _ndarray

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[dim]

    def storage_offset(self):
        return 0

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self):
        d = self._data
        return d.ctypes.data if d.__class__ is _ndarray else d.data.ptr

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _version(self):
        return self._vc[0]

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_complex(self):
        return self._data.dtype.kind == "c"

    @property
    def layout(self):
        return "strided"

    @property
    def is_sparse(self):
        return False

    @property
    def is_quantized(self):
        return False

    @property
    def is_meta(self):
        return False

    def get_device(self):
        return -1 if self.is_cpu else self.device.index

    # ---- data access ----------------------------------------------------------------------
    @property
    def data(self):
        t = _new_tensor(self._data)
        t._vc = self._vc
        return t

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    def numpy(self, *, force=False):
        if self.requires_grad and GRAD.enabled and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self._data.__class__ is not _ndarray:
            if not force:
                raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to "
                                "copy the tensor to host memory first.")
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data if self._data.__class__ is _ndarray else self._data.get()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        d = self._data
        if d.size != 1:
            raise RuntimeError(f"a Tensor with {d.size} elements cannot be converted to Scalar")
        v = d.reshape(()).item() if d.__class__ is _ndarray else d.get().reshape(()).item()
        if d.dtype.name == "bfloat16":
            v = builtins.float(v)
        return v

    def tolist(self):
        d = self._data if self._data.__class__ is _ndarray else self._data.get()
        if d.dtype.name == "bfloat16":
            d = d.astype(np.float32)
        return d.tolist()

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __complex__(self):
        return builtins.complex(self.item())

    def __bool__(self):
        d = self._data
        if d.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {d.size} values is ambiguous")
        return builtins.bool(d.reshape(()).item() if d.__class__ is _ndarray else d.get().item())

    def __index__(self):
        d = self._data
        if d.size != 1 or d.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(d.reshape(()).item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __repr__(self):
        from ._tensor_str import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return repr(self) if not spec else object.__format__(self, spec)

    def __reduce_ex__(self, proto):
        d = self._data if self._data.__class__ is _ndarray else self._data.get()
        return (_rebuild, (d, self.requires_grad, str(self.device)))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.")
        new = type(self).__new__(type(self), 0) if type(self) is not Tensor else object.__new__(Tensor)
        _init(new, self._data.copy())
        new.requires_grad = self.requires_grad
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        if hasattr(self, "__dict__"):
            import copy
            for k, v in self.__dict__.items():
                new.__dict__[k] = copy.deepcopy(v, memo)
        memo[id(self)] = new
        return new

    # ---- autograd ------------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import backward as _backward
        _backward([self], None if gradient is None else [gradient], retain_graph=retain_graph,
                  create_graph=create_graph, inputs=inputs)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind not in "fc" and self._data.dtype.name != "bfloat16":
            raise RuntimeError(f"only Tensors of floating point and complex dtype can require gradients, "
                               f"got {self.dtype}")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def detach(self):
        t = _new_tensor(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("detach_: can't detach a view of a tensor that requires grad; use detach()")
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self):
        if self.grad_fn is None:
            return
        import weakref
        self.grad_fn._retain = weakref.ref(self)

    @property
    def retains_grad(self):
        return self.grad_fn is not None and self.grad_fn._retain is not None

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient during backward."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            node = self.grad_fn
            if node._pre_hooks is None:
                node._pre_hooks = {}
            d = node._pre_hooks
        else:
            if self._hooks is None:
                self._hooks = {}
            d = self._hooks
        return _RemovableHandle(d, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor), called after the gradient was accumulated into this leaf's .grad."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_hooks is None:
            self._post_hooks = {}
        return _RemovableHandle(self._post_hooks, hook)

    # ---- devices and dtypes ------------------------------------------------------------------
    def to(self, *args, **kwargs):
        dev, dt, copy = None, None, kwargs.get("copy", False)
        non_blocking = kwargs.get("non_blocking", False)  # noqa: F841 - accepted like PyTorch
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, _dtype.dtype):
                dt = a
            elif isinstance(a, (str, _device)):
                dev = _device(a)
            elif a is None:
                pass
            else:
                dt = to_dtype(a)
        if "device" in kwargs and kwargs["device"] is not None:
            dev = _device(kwargs["device"])
        if "dtype" in kwargs and kwargs["dtype"] is not None:
            dt = to_dtype(kwargs["dtype"])
        out = self
        if dt is not None and dt.np != self._data.dtype:
            out = out._cast(dt)
        if dev is not None and dev != self.device:
            from .ops.creation import _to_device
            out = _to_device(out, dev)
        if copy and out is self:
            out = self.clone()
        return out

    def _cast(self, dt):
        from .ops.elementwise import _cast
        return _cast(self, dt)

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return "disttensor." + {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                                    "int32": "IntTensor", "bool": "BoolTensor", "float16": "HalfTensor",
                                    "uint8": "ByteTensor", "int8": "CharTensor", "int16": "ShortTensor",
                                    "bfloat16": "BFloat16Tensor"}.get(self.dtype.name, "Tensor")
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device)

    def float(self):
        return self.to(_dtype.float32)

    def double(self):
        return self.to(_dtype.float64)

    def half(self):
        return self.to(_dtype.float16)

    def bfloat16(self):
        return self.to(_dtype.bfloat16)

    def long(self):
        return self.to(_dtype.int64)

    def int(self):
        return self.to(_dtype.int32)

    def short(self):
        return self.to(_dtype.int16)

    def char(self):
        return self.to(_dtype.int8)

    def byte(self):
        return self.to(_dtype.uint8)

    def bool(self):
        return self.to(_dtype.bool)

    def pin_memory(self):
        return self

    def is_pinned(self):
        return False

    def share_memory_(self):
        return self

    def is_shared(self):
        return False

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from .ops.creation import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        from .ops.creation import empty
        return empty(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .ops.creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .ops.creation import ones
        return ones(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from .ops.creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)


class Size(tuple):
    """torch.Size: a tuple with PyTorch's repr and numel()."""

    def __repr__(self):
        return f"disttensor.Size([{', '.join(str(s) for s in self)}])"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return Size(r) if isinstance(i, slice) else r


class _RemovableHandle:
    _next_id = 0

    def __init__(self, d, fn):
        _RemovableHandle._next_id += 1
        self.id = _RemovableHandle._next_id
        self._d = d
        d[self.id] = fn

    def remove(self):
        self._d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _init(t, arr):
    t._data = arr
    t.requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._vc = [0]
    t._base = None
    t._gv = 0
    t._hooks = None
    t._post_hooks = None


_object_new = object.__new__


def _new_tensor(arr):
    """Fast constructor used by every op: no validation (the caller passes a proper array)."""
    t = _object_new(Tensor)
    t._data = arr
    t.requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._vc = [0]
    t._base = None
    t._gv = 0
    t._hooks = None
    t._post_hooks = None
    return t


def _rebuild(arr, requires_grad, dev):
    t = _new_tensor(np.array(arr))
    if dev != "cpu":
        t._data = to_device_array(t._data, dev)
    t.requires_grad = requires_grad
    return t
