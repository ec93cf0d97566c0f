"""Parameter and Buffer: the tensor kinds a Module registers by assignment (PyTorch's semantics)."""
from ..tensor import Tensor, _init
from .._dtype import get_default_dtype


def _empty0():
    import numpy as np
    return Tensor._wrap(np.empty((0,), dtype=get_default_dtype().np))


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter when assigned as an attribute.

    `Parameter(t)` shares t's memory (like PyTorch) and requires grad by default.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _empty0()
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): expected a Tensor as data, got {type(data).__name__}")
        self = object.__new__(cls)
        _init(self, data._data)
        self._vc = data._vc
        if requires_grad:
            self.requires_grad_(True)
        return self

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = object.__new__(type(self))
        _init(new, self._data.copy())
        new.requires_grad = self.requires_grad
        if self.grad is not None:
            new.grad = self.grad.__deepcopy__(memo)
        import copy
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, proto):
        import numpy as np
        d = self._data if self._data.__class__ is np.ndarray else self._data.get()
        return (_rebuild_parameter, (d, self.requires_grad, str(self.device)))


def _rebuild_parameter(arr, requires_grad, dev):
    import numpy as np
    from .._backends.device import to_device_array
    t = Tensor._wrap(np.array(arr))
    if dev != "cpu":
        t._data = to_device_array(t._data, dev)
    return Parameter(t, requires_grad=requires_grad)


class _BufferMeta(type):
    def __instancecheck__(cls, instance):
        if cls is Buffer:
            return isinstance(instance, Tensor) and instance.__dict__.get("_is_buffer", False)
        return type.__instancecheck__(cls, instance)


class Buffer(metaclass=_BufferMeta):
    """Marks a tensor as a buffer: `module.x = Buffer(t, persistent=True)` registers it as one.

    Returns a plain Tensor (sharing t's memory) flagged so `isinstance(t, Buffer)` holds, like PyTorch.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _empty0()
        t = data.detach()
        if data.requires_grad:
            t.requires_grad_(True)
        t.persistent = persistent
        t._is_buffer = True
        return t


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (lazy modules); materialize() gives it one."""

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        self = Parameter.__new__(cls, _empty0(), requires_grad=False)
        self.requires_grad = requires_grad
        self.__dict__["_lazy_device"] = device
        self.__dict__["_lazy_dtype"] = dtype
        return self

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass

    def materialize(self, shape, device=None, dtype=None):
        from ..ops.creation import empty
        dev = device if device is not None else self.__dict__.get("_lazy_device")
        dt = dtype if dtype is not None else self.__dict__.get("_lazy_dtype")
        t = empty(*shape, device=dev, dtype=dt)
        self._data = t._data
        self.__class__ = Parameter

    def __repr__(self):
        return "<UninitializedParameter>"


def is_lazy(param):
    return isinstance(param, UninitializedParameter)
