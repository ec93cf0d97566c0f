"""Small helpers shared by the layer modules: tuple expansion and parameter allocation."""
import collections.abc
from itertools import repeat

import numpy as np

from ... import _dtype
from ...tensor import Tensor
from ..parameter import Parameter
from ..._backends.device import device as _device, to_device_array


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n):
    return tuple(x for x in reversed(t) for _ in range(n))


def _list_with_default(out_size, defaults):
    if isinstance(out_size, (int, type(None))):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [v if v is not None else d for v, d in zip(out_size, defaults[-len(out_size):])]


def factory(device=None, dtype=None):
    return {"device": device, "dtype": dtype}


def empty_tensor(shape, device=None, dtype=None):
    npd = (_dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()).np
    arr = np.empty(tuple(shape), dtype=npd)
    if device is not None and _device(device).type != "cpu":
        arr = to_device_array(arr, device)
    return Tensor._wrap(arr)


def empty_param(shape, device=None, dtype=None, requires_grad=True):
    """An uninitialised Parameter (the module's reset_parameters fills it)."""
    return Parameter(empty_tensor(shape, device, dtype), requires_grad=requires_grad)


def zeros_tensor(shape, device=None, dtype=None):
    t = empty_tensor(shape, device, dtype)
    t._data.fill(0)
    return t


def ones_tensor(shape, device=None, dtype=None):
    t = empty_tensor(shape, device, dtype)
    t._data.fill(1)
    return t
