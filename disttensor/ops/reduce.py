"""Reductions: sum, mean (more: max/min, var/std, logsumexp, norm, prod, cumsum, all/any...)."""
import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from ._apply import apply1
from ._registry import register
from .. import _dtype


def norm_dims(dim, ndim, op="reduce"):
    """dim (None, int or sequence) -> tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    out = []
    for d in dim:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                             f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})")
        out.append(d % ndim if ndim else 0)
    return tuple(out) if ndim else ()


def expand_back(g, shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes (a view, no copy)."""
    xp = xp_of(g)
    if not keepdim and axes is not None:
        g = xp.expand_dims(g, axes) if axes else g
    elif axes is None and not keepdim:
        g = g.reshape((1,) * len(shape))
    return xp.broadcast_to(g, shape)


class Sum(Node):
    __slots__ = ("shape", "axes", "keepdim")

    def forward(self, a, axes, keepdim, npd):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim, dtype=npd)

    def backward(self, g):
        return expand_back(g, self.shape, self.axes, self.keepdim)


class Mean(Node):
    __slots__ = ("shape", "axes", "keepdim", "n")

    def forward(self, a, axes, keepdim, npd):
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        n = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        self.n = n
        return a.mean(axis=axes, keepdims=keepdim, dtype=npd)

    def backward(self, g):
        return expand_back(g / self.n, self.shape, self.axes, self.keepdim)


def _sum_dtype(d, dtype):
    if dtype is not None:
        return _dtype.np_dtype(dtype)
    if d.kind in "biu":
        return np.int64  # PyTorch sums integers and bools in int64
    return None


@register("sum")
def sum(input, dim=None, keepdim=False, *, dtype=None):
    d = input._data
    return apply1(Sum, input, norm_dims(dim, d.ndim, "sum"), keepdim, _sum_dtype(d.dtype, dtype))


@register("mean")
def mean(input, dim=None, keepdim=False, *, dtype=None):
    d = input._data
    if dtype is None and d.dtype.kind not in "fc" and d.dtype.name != "bfloat16":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {input.dtype.name.capitalize()}")
    return apply1(Mean, input, norm_dims(dim, d.ndim, "mean"), keepdim, _dtype.np_dtype(dtype))
