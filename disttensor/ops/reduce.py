"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, norm, all/any, scans, sorting."""
import builtins as _builtins
import collections
import math

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply, apply1, _finish, _wrap
from ..autograd.grad_mode import STATE as _GRAD
from ._registry import register
from .. import _dtype

_mx = _builtins.max


def norm_dims(dim, ndim, op="reduce"):
    """dim (None, int or sequence) -> tuple of non-negative axes, or None for all."""
    if dim.__class__ is int and -ndim <= dim < ndim:
        return (dim + ndim if dim < 0 else dim,)
    if dim is None:
        return None
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    out = []
    for d in dim:
        if not -_mx(ndim, 1) <= d < _mx(ndim, 1):
            raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                             f"[{-_mx(ndim, 1)}, {_mx(ndim, 1) - 1}], but got {d})")
        out.append(d % ndim if ndim else 0)
    return tuple(out) if ndim else ()


def _keep_shape(shape, axes):
    if axes is None:
        return (1,) * len(shape)
    return tuple([1 if i in axes else s for i, s in enumerate(shape)])


_SMALL = 4096


def expand_back(g, shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes: a broadcast view for big shapes;
    small ones get a real array (np.broadcast_to costs several microseconds, more than a copy)."""
    if not keepdim:
        g = g.reshape(_keep_shape(shape, axes))
    if g.shape == shape:
        return g
    if g.__class__ is np.ndarray and math.prod(shape) <= _SMALL:
        o = np.empty(shape, g.dtype)
        o[...] = g
        return o
    return xp_of(g).broadcast_to(g, shape)


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
        n = a.size if axes is None else math.prod([a.shape[i] for i in axes])
        self.n = n
        return a.mean(axis=axes, keepdims=keepdim, dtype=npd)

    def backward(self, g):
        return expand_back(g / self.n, self.shape, self.axes, self.keepdim)


def _is_half(d):
    """float16/bfloat16: NumPy accumulates these in their own precision (a bfloat16 sum of 5000 ones
    is 256), so reductions run in float32 and cast back, as PyTorch accumulates."""
    return d.itemsize == 2 and d.kind in "fV"


def _via_f32(fn, input, *args, **kwargs):
    from .elementwise import _cast
    half = input.dtype
    r = fn(_cast(input, _dtype.float32), *args, **kwargs)
    if isinstance(r, tuple):
        return type(r)(_cast(r[0], half), *r[1:]) if hasattr(r, "_fields") else (_cast(r[0], half),) + r[1:]
    return _cast(r, half)


def _sum_dtype(d, dtype):
    if dtype is not None:
        return _dtype.np_dtype(dtype)
    if d.kind in "biu":
        return np.int64  # PyTorch sums integers and bools in int64
    return None


# =============================================================================================
# More reductions. Multi-output ones return PyTorch's named tuples (values, indices); only the
# first output is differentiable.
# =============================================================================================



def _return_type(name, fields):
    cls = collections.namedtuple(name, fields)
    cls.__module__ = "disttensor.return_types"

    def __repr__(self):
        body = ",\n".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"disttensor.return_types.{name}(\n{body})"
    cls.__repr__ = __repr__
    return cls


class return_types:  # noqa: N801 - mirrors torch.return_types
    max = _return_type("max", ["values", "indices"])
    min = _return_type("min", ["values", "indices"])
    sort = _return_type("sort", ["values", "indices"])
    topk = _return_type("topk", ["values", "indices"])
    kthvalue = _return_type("kthvalue", ["values", "indices"])
    median = _return_type("median", ["values", "indices"])
    aminmax = _return_type("aminmax", ["min", "max"])
    var_mean = _return_type("var_mean", ["var", "mean"])  # PyTorch returns plain tuples here
    std_mean = _return_type("std_mean", ["std", "mean"])


def _all_dims(dim):
    """None, () and [] all mean 'every dimension' (PyTorch's rule for sum/amax/...)."""
    if dim is None:
        return True
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return True
    return False


def _axes(dim, ndim, op):
    if dim.__class__ is int and -ndim <= dim < ndim:
        return (dim + ndim if dim < 0 else dim,)
    return None if _all_dims(dim) else norm_dims(dim, ndim, op)


def _one_dim(dim, ndim, op):
    if dim.__class__ is int and -ndim <= dim < ndim:
        return dim + ndim if dim < 0 else dim
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    return norm_dims(dim, ndim, op)[0] if ndim else 0


def _keep(g, shape, axes, keepdim):
    """A reduced gradient reshaped to keepdim form (broadcastable against the input)."""
    if keepdim:
        return g
    return g.reshape(_keep_shape(shape, axes))


def _floatify(t):
    if t._data.dtype.kind in "biu":
        return _new_tensor(t._data.astype(_dtype.get_default_dtype().np))
    return t


# ---- sum-like --------------------------------------------------------------------------------
@register("sum")
def sum(input, dim=None, keepdim=False, *, axis=None, dtype=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(sum, input, dim, keepdim), out)
    r = apply1(Sum, input, _axes(dim, d.ndim, "sum"), keepdim, _sum_dtype(d.dtype, dtype))
    return r if out is None else _out(r, out)


@register("mean")
def mean(input, dim=None, keepdim=False, *, axis=None, dtype=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(mean, input, dim, keepdim), out)
    if dtype is None and d.dtype.kind not in "fc" and d.dtype.name != "bfloat16":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {input.dtype.name.capitalize()}")
    r = apply1(Mean, input, _axes(dim, d.ndim, "mean"), keepdim, _dtype.np_dtype(dtype))
    return r if out is None else _out(r, out)


def _out(r, out):
    from .elementwise import _out as o
    return o(r, out)


class Prod(Node):
    __slots__ = ("axis", "keepdim")
    save_inputs = (0,)

    def forward(self, a, axis, keepdim, npd):
        self.axis, self.keepdim = axis, keepdim
        r = a.prod(axis=axis, keepdims=keepdim, dtype=npd)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        xp = xp_of(g)
        if a.dtype.kind == "c":
            a, r = a.conj(), r.conj()
        axis = self.axis
        gk = _keep(g, a.shape, None if axis is None else (axis,), self.keepdim)
        rk = _keep(xp.asarray(r), a.shape, None if axis is None else (axis,), self.keepdim)
        if not (a == 0).any():
            return gk * rk / a
        # with zeros: the product of all the other elements = exclusive prefix * exclusive suffix
        flat = a.reshape(-1) if axis is None else xp.moveaxis(a, axis, -1)
        ones = xp.ones(flat.shape[:-1] + (1,), a.dtype)
        left = xp.concatenate([ones, xp.cumprod(flat[..., :-1], axis=-1)], axis=-1)
        right = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(flat, -1)[..., :-1], axis=-1)], axis=-1), -1)
        others = left * right
        others = others.reshape(a.shape) if axis is None else xp.moveaxis(others, -1, axis)
        return gk * others


@register("prod")
def prod(input, dim=None, keepdim=False, *, axis=None, dtype=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(prod, input, dim, keepdim), out)
    axis = None if dim is None else _one_dim(dim, d.ndim, "prod")
    if d.ndim == 0:
        axis = None
    r = apply1(Prod, input, axis, keepdim if axis is not None else False, _sum_dtype(d.dtype, dtype))
    return r if out is None else _out(r, out)


class NanSum(Node):
    __slots__ = ("axes", "keepdim")
    save_inputs = (0,)

    def forward(self, a, axes, keepdim, npd):
        self.axes, self.keepdim = axes, keepdim
        self.saved = a
        return xp_of(a).nansum(a, axis=axes, keepdims=keepdim, dtype=npd)

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        return xp.where(xp.isnan(a), 0, _keep(g, a.shape, self.axes, self.keepdim))


class NanMean(NanSum):
    __slots__ = ()

    def forward(self, a, axes, keepdim, npd):
        self.axes, self.keepdim = axes, keepdim
        self.saved = a
        with np.errstate(invalid="ignore", divide="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return xp_of(a).nanmean(a, axis=axes, keepdims=keepdim, dtype=npd)

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        ok = ~xp.isnan(a)
        n = ok.sum(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _keep(g, a.shape, self.axes, self.keepdim) / n * ok  # nan where a slice is all-nan, as PyTorch


@register("nansum")
def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(nansum, input, dim, keepdim), out)
    r = apply1(NanSum, input, _axes(dim, d.ndim, "nansum"), keepdim, _sum_dtype(d.dtype, dtype))
    return r if out is None else _out(r, out)


@register("nanmean")
def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(nanmean, input, dim, keepdim), out)
    if dtype is None and d.dtype.kind not in "fc" and d.dtype.name != "bfloat16":
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{input.dtype.name.capitalize()}")
    r = apply1(NanMean, input, _axes(dim, d.ndim, "nanmean"), keepdim, _dtype.np_dtype(dtype))
    return r if out is None else _out(r, out)


# ---- max / min family ------------------------------------------------------------------------
class AMax(Node):
    """amax/amin and full max()/min(): ties share the gradient evenly, as PyTorch."""
    __slots__ = ("axes", "keepdim")
    save_inputs = (0,)
    save_output = True
    is_max = True

    def forward(self, a, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim
        xp = xp_of(a)
        if a.size == 0 and (axes is None or _builtins.any(a.shape[i] == 0 for i in axes)):
            raise RuntimeError(f"{'amax' if self.is_max else 'amin'}(): Expected reduction dim to be specified "
                               f"for input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        r = (xp.max if self.is_max else xp.min)(a, axis=axes, keepdims=keepdim)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        xp = xp_of(g)
        rk = _keep(xp.asarray(r), a.shape, self.axes, self.keepdim)
        mask = a == rk
        if a.dtype.kind == "f":
            mask = mask | (xp.isnan(a) & xp.isnan(rk))
        n = mask.sum(axis=self.axes, keepdims=True)
        return xp.where(mask, _keep(g, a.shape, self.axes, self.keepdim) / n, 0)


class AMin(AMax):
    __slots__ = ()
    is_max = False


class MaxDim(Node):
    """max/min along one dim: (values, indices); the gradient goes to the selected element."""
    __slots__ = ("axis", "keepdim", "shape")
    is_max = True

    def forward(self, a, axis, keepdim):
        self.shape = a.shape
        if a.ndim == 0:
            a = a.reshape(1)
        if a.shape[axis] == 0:
            raise IndexError(f"{'max' if self.is_max else 'min'}(): Expected reduction dim {axis} to have "
                             f"non-zero size.")
        if self.is_max:
            idx = a.argmax(axis=axis, keepdims=True)
            vals = a.max(axis=axis, keepdims=keepdim)
        else:
            idx = a.argmin(axis=axis, keepdims=True)
            vals = a.min(axis=axis, keepdims=keepdim)
        self.axis, self.keepdim = axis, keepdim
        self.saved = idx
        if len(self.shape) == 0:
            return vals.reshape(()), idx.reshape(())
        return vals, (idx if keepdim else idx.squeeze(axis))

    def backward(self, g):
        return _select_back(g, self.saved, self.shape, self.axis, self.keepdim)


class MinDim(MaxDim):
    __slots__ = ()
    is_max = False


def _select_back(g, idx_keep, shape, axis, keepdim):
    """Gradient of a value-selecting reduction: g placed at idx (keepdim form) along axis, zeros elsewhere."""
    xp = xp_of(g)
    if len(shape) == 0:
        return g
    if not keepdim:
        g = xp.expand_dims(g, axis)
    n = shape[axis]
    pos = xp.arange(n).reshape((n,) + (1,) * (len(shape) - 1 - axis))
    return xp.where(pos == idx_keep, g, 0)


def _apply_pair(cls, t, *consts):
    """Run a one-input node whose forward returns (differentiable values, indices)."""
    node = cls.__new__(cls)
    node.saved = None
    v, i = node.forward(t._data, *consts)
    v, i = _wrap(v), _wrap(i)
    if t.requires_grad and _GRAD.enabled:
        _finish(node, (t,), v)
    return v, i


def _max_min(input, dim, keepdim, out, is_max, name):
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim given without dim")
        return apply1(AMax if is_max else AMin, input, None, False)
    if isinstance(dim, Tensor):   # max(input, other) is maximum
        from .elementwise import maximum, minimum
        return (maximum if is_max else minimum)(input, dim, out=out)
    d = input._data
    axis = _one_dim(dim, d.ndim, name)
    v, i = _apply_pair(MaxDim if is_max else MinDim, input, axis, keepdim)
    r = getattr(return_types, name)(v, i)
    if out is not None:
        _out(v, out[0])
        _out(i, out[1])
        return getattr(return_types, name)(out[0], out[1])
    return r


@register("max")
def max(input, dim=None, keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _max_min(input, dim, keepdim, out, True, "max")


@register("min")
def min(input, dim=None, keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _max_min(input, dim, keepdim, out, False, "min")


@register("amax")
def amax(input, dim=(), keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    r = apply1(AMax, input, _axes(dim, input._data.ndim, "amax"), keepdim)
    return r if out is None else _out(r, out)


@register("amin")
def amin(input, dim=(), keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    r = apply1(AMin, input, _axes(dim, input._data.ndim, "amin"), keepdim)
    return r if out is None else _out(r, out)


@register("aminmax")
def aminmax(input, *, dim=None, keepdim=False):
    return return_types.aminmax(amin(input, () if dim is None else dim, keepdim),
                                amax(input, () if dim is None else dim, keepdim))


def _arg(input, dim, keepdim, is_max):
    d = input._data
    xp = xp_of(d)
    f = xp.argmax if is_max else xp.argmin
    if dim is None:
        r = f(d.reshape(-1))
        if keepdim:
            r = xp.asarray(r).reshape((1,) * d.ndim)
        return _new_tensor(xp.asarray(r, dtype=np.int64))
    axis = _one_dim(dim, d.ndim, "argmax" if is_max else "argmin")
    if d.ndim == 0:
        return _new_tensor(xp.zeros((), np.int64))
    return _new_tensor(xp.asarray(f(d, axis=axis, keepdims=keepdim), dtype=np.int64))


@register("argmax")
def argmax(input, dim=None, keepdim=False, *, axis=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _arg(input, dim, keepdim, True)


@register("argmin")
def argmin(input, dim=None, keepdim=False, *, axis=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _arg(input, dim, keepdim, False)


# ---- var / std -------------------------------------------------------------------------------
class Var(Node):
    __slots__ = ("axes", "keepdim", "dof", "is_std")
    save_inputs = (0,)

    def forward(self, a, axes, keepdim, correction, is_std):
        n = a.size if axes is None else math.prod([a.shape[i] for i in axes])
        dof = n - correction
        diff = a - a.sum(axis=axes, keepdims=True) / (n or 1)
        if diff.dtype.kind == "c":     # |diff|^2: the variance of a complex tensor is real, as in PyTorch
            ss = (diff.real * diff.real + diff.imag * diff.imag).sum(axis=axes, keepdims=keepdim)
        else:
            ss = (diff * diff).sum(axis=axes, keepdims=keepdim)
        if dof > 0:
            v = ss / dof
        else:                      # inf (or nan for 0/0) like PyTorch, without NumPy's warning
            with np.errstate(divide="ignore", invalid="ignore"):
                v = ss / _mx(dof, 0)
        if isinstance(v, np.generic):
            v = np.asarray(v)
        r = xp_of(v).sqrt(v) if is_std else v
        self.axes, self.keepdim, self.dof, self.is_std = axes, keepdim, dof, is_std
        self.saved = (diff, r)
        rd = a.real.dtype
        return r if r.dtype == rd else r.astype(rd)

    def backward(self, g):
        diff, r = self.saved
        xp = xp_of(g)
        gk = _keep(g, diff.shape, self.axes, self.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.is_std:   # PyTorch: zero gradient where std == 0
                rk = _keep(xp.asarray(r), diff.shape, self.axes, self.keepdim)
                return xp.where(rk == 0, 0, gk * diff / (self.dof * rk))
            return gk * diff * (2.0 / self.dof if self.dof else math.inf)


def _correction(dim, unbiased, correction):
    if isinstance(dim, bool):             # var(input, unbiased)
        unbiased, dim = dim, None
    if correction is not None:
        if unbiased is not None:
            raise RuntimeError("var/std: cannot specify both 'unbiased' and 'correction'")
        return dim, correction
    return dim, (1 if unbiased is None or unbiased else 0)


def _var_std(input, dim, unbiased, keepdim, correction, is_std, name):
    dim, c = _correction(dim, unbiased, correction)
    d = input._data
    if _is_half(d.dtype):
        return _via_f32(_var_std, input, dim, None, keepdim, c, is_std, name)
    if d.dtype.kind in "biu":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return apply1(Var, input, _axes(dim, d.ndim, name), keepdim, c, is_std)


@register("var")
def var(input, dim=None, unbiased=None, keepdim=False, *, axis=None, correction=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    r = _var_std(input, dim, unbiased, keepdim, correction, False, "var")
    return r if out is None else _out(r, out)


@register("std")
def std(input, dim=None, unbiased=None, keepdim=False, *, axis=None, correction=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    r = _var_std(input, dim, unbiased, keepdim, correction, True, "std")
    return r if out is None else _out(r, out)


@register("var_mean", method=False)
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim2, _c = _correction(dim, unbiased, correction)
    return (var(input, dim, unbiased, keepdim, correction=correction), mean(input, () if dim2 is None else dim2,
                                                                              keepdim))


@register("std_mean", method=False)
def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim2, _c = _correction(dim, unbiased, correction)
    return (std(input, dim, unbiased, keepdim, correction=correction), mean(input, () if dim2 is None else dim2,
                                                                              keepdim))


# ---- logsumexp, norm -------------------------------------------------------------------------
class LogSumExp(Node):
    __slots__ = ("axes", "keepdim")
    save_inputs = (0,)
    save_output = True

    def forward(self, a, axes, keepdim):
        xp = xp_of(a)
        m = a.max(axis=axes, keepdims=True) if a.size else xp.zeros((1,) * a.ndim, a.dtype)
        m = xp.where(xp.isinf(m), 0, m)
        e = a - m
        xp.exp(e, out=e)
        with np.errstate(divide="ignore"):
            rk = xp.log(e.sum(axis=axes, keepdims=True))
        rk += m
        self.axes, self.keepdim = axes, keepdim
        self.saved = (a, rk)
        if keepdim:
            return rk
        return rk.reshape(()) if axes is None else rk.squeeze(axes)

    def backward(self, g):
        a, rk = self.saved
        xp = xp_of(g)
        with np.errstate(invalid="ignore"):
            w = a - rk
        xp.exp(w, out=w)
        w *= _keep(g, a.shape, self.axes, self.keepdim)
        return w


@register("logsumexp")
def logsumexp(input, dim=None, keepdim=False, *, out=None):
    if _is_half(input._data.dtype):
        return _out(_via_f32(logsumexp, input, dim, keepdim), out)
    t = _floatify(input)
    r = apply1(LogSumExp, t, _axes(dim, t._data.ndim, "logsumexp"), keepdim)
    return r if out is None else _out(r, out)


@register("norm")
def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    d = input._data
    if d.dtype.kind in "biu":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {input.dtype.name.capitalize()}")
    if dtype is not None:
        input = input.to(dtype)
    elif _is_half(d.dtype):
        return _out(_via_f32(norm, input, p, dim, keepdim), out)
    if p is None or p == "fro":
        p = 2
    elif isinstance(p, str):
        raise RuntimeError(f"norm: p='{p}' (matrix norms other than 'fro') are in disttensor.linalg.matrix_norm")
    from .linalg import VectorNorm     # one p-norm for torch.norm and linalg.vector_norm
    r = apply1(VectorNorm, input, float(p), _axes(dim, d.ndim, "norm"), keepdim)
    return r if out is None else _out(r, out)


# ---- all / any / count_nonzero (no gradient) ---------------------------------------------------
def _logical_reduce(input, dim, keepdim, f, name):
    d = input._data
    xp = xp_of(d)
    axes = _axes(dim, d.ndim, name)
    r = xp.asarray(getattr(xp, f)(d, axis=axes, keepdims=keepdim))
    if d.dtype == np.uint8:
        r = r.astype(np.uint8)
    return _new_tensor(r)


@register("all")
def all(input, dim=None, keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _out(_logical_reduce(input, dim, keepdim, "all", "all"), out)


@register("any")
def any(input, dim=None, keepdim=False, *, axis=None, out=None):
    if axis is not None:  # NumPy-style alias PyTorch accepts
        dim = axis
    return _out(_logical_reduce(input, dim, keepdim, "any", "any"), out)


@register("count_nonzero")
def count_nonzero(input, dim=None):
    d = input._data
    xp = xp_of(d)
    axes = _axes(dim, d.ndim, "count_nonzero")
    return _new_tensor(xp.asarray((d != 0).sum(axis=axes), dtype=np.int64))


# ---- scans -----------------------------------------------------------------------------------
class CumSum(Node):
    __slots__ = ("axis",)

    def forward(self, a, axis, npd):
        self.axis = axis
        if a.ndim == 0:
            return a.astype(npd or a.dtype)
        return a.cumsum(axis=axis, dtype=npd)

    def backward(self, g):
        if g.ndim == 0:
            return g
        rev = (slice(None),) * self.axis + (slice(None, None, -1),)
        return g[rev].cumsum(axis=self.axis)[rev]


class CumProd(Node):
    __slots__ = ("axis",)
    save_inputs = (0,)
    save_output = True

    def forward(self, a, axis, npd):
        self.axis = axis
        r = a.astype(npd or a.dtype) if a.ndim == 0 else a.cumprod(axis=axis, dtype=npd)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        if g.ndim == 0:
            return g
        xp = xp_of(g)
        ax = self.axis
        if a.dtype.kind == "c":
            a, r = a.conj(), r.conj()

        rev = (slice(None),) * ax + (slice(None, None, -1),)

        def rcumsum(x):
            return x[rev].cumsum(axis=ax)[rev]
        zero = a == 0
        if not zero.any():
            return rcumsum(g * r) / a
        # before the first zero of a slice: sum_{k>=i} g_k r_k / a_i; at the first zero: the sum of
        # g_k times the product without that element; after it: 0 (another factor of zero remains)
        nz = xp.cumsum(zero, axis=ax)
        before = nz == 0
        first = zero & (nz == 1)
        safe = xp.where(before, a, 1)
        g_before = xp.where(before, rcumsum(g * r) / safe, 0)
        r2 = xp.cumprod(xp.where(first, 1, a), axis=ax)
        g_first = xp.where(first, rcumsum(xp.where(nz >= 1, g * r2, 0)), 0)
        return g_before + g_first


@register("cumsum", inplace=True)
def cumsum(input, dim=None, *, dtype=None, out=None, axis=None):
    if axis is not None:
        dim = axis
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(cumsum, input, dim), out)
    r = apply1(CumSum, input, _one_dim(dim, d.ndim, "cumsum"), _sum_dtype(d.dtype, dtype))
    return r if out is None else _out(r, out)


@register("cumprod", inplace=True)
def cumprod(input, dim, *, dtype=None, out=None):
    d = input._data
    if dtype is None and _is_half(d.dtype):
        return _out(_via_f32(cumprod, input, dim), out)
    r = apply1(CumProd, input, _one_dim(dim, d.ndim, "cumprod"), _sum_dtype(d.dtype, dtype))
    return r if out is None else _out(r, out)


# ---- sorting and selection -------------------------------------------------------------------
def _rev(axis):
    return (slice(None),) * axis + (slice(None, None, -1),)


def _argsort(xp, a, axis, descending):
    """Stable argsort; descending keeps equal elements in their original order and puts NaN first."""
    if not descending:
        return _stable_argsort(a, axis)
    r = _rev(axis)
    return (a.shape[axis] - 1) - _stable_argsort(a[r], axis)[r]


def _stable_argsort(a, axis):
    if a.__class__ is np.ndarray:
        return a.argsort(axis=axis, kind="stable")
    return a.argsort(axis=axis)      # CuPy's sort is always stable (and may reject `kind`)


def _take(xp, a, idx, axis):
    """take_along_axis, with a fast flat gather for the last axis of a contiguous array."""
    n = a.shape[axis] if a.ndim else 0
    if axis == a.ndim - 1 and n and a.flags.c_contiguous:
        base = xp.arange(0, a.size, n).reshape(a.shape[:-1] + (1,))
        return a.reshape(-1)[idx + base]
    return xp.take_along_axis(a, idx, axis)


class Gather1(Node):
    """values = take_along_axis(a, idx, axis) for sort/topk/kthvalue/median; backward scatters g back."""
    __slots__ = ("axis", "shape", "keepdim")

    def forward(self, a, idx, axis, keepdim):
        xp = xp_of(a)
        self.shape, self.axis, self.keepdim = a.shape, axis, keepdim
        self.saved = idx
        if a.ndim == 0:
            return a.copy()
        v = _take(xp, a, idx, axis)
        return v if keepdim else v.squeeze(axis)

    def backward(self, g):
        idx = self.saved
        xp = xp_of(g)
        if len(self.shape) == 0:
            return g
        if not self.keepdim:
            g = xp.expand_dims(g, self.axis)
        # scatter along the axis with plain fancy indexing on a (rows, n) view (NumPy and CuPy alike)
        ax = self.axis
        i2 = xp.moveaxis(idx, ax, -1)
        k = i2.shape[-1]
        moved = i2.shape[:-1] + (self.shape[ax],)
        out = xp.zeros(moved, g.dtype)
        rows = math.prod(moved[:-1])
        if rows and k:
            out.reshape(rows, moved[-1])[xp.arange(rows)[:, None], i2.reshape(rows, k)] = \
                xp.moveaxis(g, ax, -1).reshape(rows, k)
        return xp.moveaxis(out, -1, ax)


def _select(input, idx, axis, keepdim):
    return apply1(Gather1, input, idx, axis, keepdim)


@register("sort")
def sort(input, dim=-1, descending=False, stable=False):
    d = input._data
    xp = xp_of(d)
    if isinstance(dim, bool):  # sort(input, stable=..., dim=...) positional oddities
        dim = -1
    axis = _one_dim(dim, d.ndim, "sort")
    if d.ndim == 0:
        return return_types.sort(_select(input, None, 0, True), _new_tensor(xp.zeros((), np.int64)))
    idx = _argsort(xp, d, axis, descending)
    return return_types.sort(_select(input, idx, axis, True), _new_tensor(idx.astype(np.int64, copy=False)))


@register("argsort")
def argsort(input, dim=-1, descending=False, stable=False):
    d = input._data
    xp = xp_of(d)
    if d.ndim == 0:
        return _new_tensor(xp.zeros((), np.int64))
    return _new_tensor(_argsort(xp, d, _one_dim(dim, d.ndim, "argsort"), descending).astype(np.int64, copy=False))


@register("msort")
def msort(input):
    return sort(input, 0)[0]


@register("topk")
def topk(input, k, dim=-1, largest=True, sorted=True):
    d = input._data
    xp = xp_of(d)
    axis = _one_dim(dim, d.ndim, "topk")
    n = d.shape[axis] if d.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k out of range (k={k}, size of dim {dim} is {n})")
    if d.ndim == 0:
        return return_types.topk(_select(input, None, 0, True), _new_tensor(xp.zeros((), np.int64)))
    if 0 < k < n and d.dtype.kind == "f" and n > 64 and not bool(xp.isnan(d).any()):
        # partial selection, O(n): partition, then order only the k chosen ones
        key = -d if largest else d
        part = xp.argpartition(key, k - 1, axis=axis)
        part = part[(slice(None),) * axis + (slice(0, k),)]
        if sorted:
            order = _stable_argsort(xp.take_along_axis(key, part, axis), axis)
            part = xp.take_along_axis(part, order, axis)
        idx = part
    else:
        idx = _argsort(xp, d, axis, largest)
        idx = idx[(slice(None),) * axis + (slice(0, k),)]
    return return_types.topk(_select(input, idx, axis, True), _new_tensor(idx.astype(np.int64, copy=False)))


def _pick(input, pos, dim, keepdim, name, cls):
    """The element at sorted position `pos` along dim, with its index."""
    d = input._data
    xp = xp_of(d)
    axis = _one_dim(dim, d.ndim, name)
    if d.ndim == 0:
        return cls(_select(input, None, 0, True), _new_tensor(xp.zeros((), np.int64)))
    idx = xp.take(_stable_argsort(d, axis), [pos], axis=axis)
    i = idx if keepdim else idx.squeeze(axis)
    return cls(_select(input, idx, axis, keepdim), _new_tensor(i.astype(np.int64, copy=False)))


@register("kthvalue")
def kthvalue(input, k, dim=-1, keepdim=False):
    n = input._data.shape[dim] if input._data.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim} (k={k}, size {n})")
    return _pick(input, k - 1, dim, keepdim, "kthvalue", return_types.kthvalue)


@register("median")
def median(input, dim=None, keepdim=False):
    d = input._data
    if dim is None:
        if d.size == 0:
            return _new_tensor(xp_of(d).asarray(math.nan, dtype=d.dtype))
        flat = input.reshape(-1)
        v = _pick(flat, (d.size - 1) // 2, 0, False, "median", return_types.median)[0]
        if d.dtype.kind == "f" and bool(xp_of(d).isnan(d).any()):
            v = flat.max()    # NaN propagates, as PyTorch
        # PyTorch spreads the gradient of median() over the elements equal to it
        return _spread(input, v)
    n = d.shape[dim] if d.ndim else 1
    xp = xp_of(d)
    if d.ndim and d.dtype.kind == "f":
        nan = xp.isnan(d)
        if bool(nan.any()):
            # a slice with NaN gives NaN and the index of its first NaN (sorted last, in order), as PyTorch
            axis = _one_dim(dim, d.ndim, "median")
            valid = (~nan).sum(axis=axis, keepdims=True)
            pos = xp.where(valid < n, valid, (n - 1) // 2)
            idx = xp.take_along_axis(_stable_argsort(d, axis), pos, axis)
            i = idx if keepdim else idx.squeeze(axis)
            return return_types.median(_select(input, idx, axis, keepdim),
                                       _new_tensor(i.astype(np.int64, copy=False)))
    return _pick(input, (n - 1) // 2, dim, keepdim, "median", return_types.median)


class _Spread(Node):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a, v):
        self.saved = (a, v)
        return v.copy()

    def backward(self, g):
        a, v = self.saved
        xp = xp_of(g)
        mask = (a == v) | (xp.isnan(a) & xp.isnan(v))
        return xp.where(mask, g / mask.sum(), 0), None


def _spread(input, v):
    return apply(_Spread, input, v.detach())


# ---- running max/min, logcumsumexp ---------------------------------------------------------------
def _scatter_add_along(xp, shape, axis, idx, g):
    """zeros(shape) with g added at idx along axis (indices may repeat)."""
    gm = xp.moveaxis(g, axis, -1)
    im = xp.moveaxis(idx, axis, -1)
    moved = gm.shape[:-1] + (shape[axis],)
    rows = math.prod(moved[:-1])
    n, k = moved[-1], im.shape[-1]
    flat = (im.reshape(rows, k) + (xp.arange(rows) * n)[:, None]).reshape(-1)
    vals = gm.reshape(-1)
    if xp is np:
        out = np.zeros(rows * n, g.dtype)
        np.add.at(out, flat, vals)
    else:
        import cupyx
        out = xp.zeros(rows * n, g.dtype)
        cupyx.scatter_add(out, flat, vals)
    return xp.moveaxis(out.reshape(moved), -1, axis)


def _accumulate(xp, name, a, axis):
    """`xp.<name>.accumulate(a, axis)`. CuPy's ufuncs accumulate only for add and multiply, so there
    maximum/minimum run as a log-step scan: ceil(log2 n) passes of the ufunc over shifted slices."""
    if xp is np:
        return getattr(np, name).accumulate(a, axis=axis)
    f = getattr(xp, name)
    out = xp.moveaxis(a, axis, -1).copy()
    n, k = out.shape[-1], 1
    while k < n:
        out[..., k:] = f(out[..., k:], out[..., :-k])
        k *= 2
    return xp.moveaxis(out, -1, axis)


class CumMax(Node):
    __slots__ = ("axis", "shape")
    is_max = True

    def forward(self, a, axis):
        xp = xp_of(a)
        self.axis, self.shape = axis, a.shape
        if a.ndim == 0:
            self.saved = xp.zeros((), np.int64)
            return a.copy(), self.saved
        v = _accumulate(xp, "maximum" if self.is_max else "minimum", a, axis)
        mark = a == v
        if a.dtype.kind == "f":
            mark |= xp.isnan(a)
        pos = xp.arange(a.shape[axis]).reshape((-1,) + (1,) * (a.ndim - 1 - axis))
        idx = _accumulate(xp, "maximum", xp.where(mark, pos, 0), axis).astype(np.int64)
        self.saved = idx
        return v, idx

    def backward(self, g):
        if len(self.shape) == 0:
            return g
        return _scatter_add_along(xp_of(g), self.shape, self.axis, self.saved, g)


class CumMin(CumMax):
    __slots__ = ()
    is_max = False


@register("cummax")
def cummax(input, dim):
    v, i = _apply_pair(CumMax, input, _one_dim(dim, input._data.ndim, "cummax"))
    return return_types.cummax(v, i)


@register("cummin")
def cummin(input, dim):
    v, i = _apply_pair(CumMin, input, _one_dim(dim, input._data.ndim, "cummin"))
    return return_types.cummin(v, i)


def _logcumsumexp(xp, a, axis):
    if xp is np:
        return np.logaddexp.accumulate(a, axis=axis)
    m = a.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    return xp.log(xp.cumsum(xp.exp(a - m), axis=axis)) + m


class LogCumSumExp(Node):
    __slots__ = ("axis",)
    save_inputs = (0,)
    save_output = True

    def forward(self, a, axis):
        self.axis = axis
        r = a.copy() if a.ndim == 0 else _logcumsumexp(xp_of(a), a, axis)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        if g.ndim == 0:
            return g
        xp = xp_of(g)
        ax = self.axis
        rev = _rev(ax)
        # sum_{k>=i} g_k exp(a_i - r_k), in log space for the positive and negative parts of g
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = xp.where(g > 0, xp.log(xp.abs(g)), -math.inf) - r
            ln = xp.where(g < 0, xp.log(xp.abs(g)), -math.inf) - r
            pos = xp.exp(_logcumsumexp(xp, lp[rev], ax)[rev] + a)
            neg = xp.exp(_logcumsumexp(xp, ln[rev], ax)[rev] + a)
        return pos - neg


@register("logcumsumexp")
def logcumsumexp(input, dim):
    t = _floatify(input)
    return apply1(LogCumSumExp, t, _one_dim(dim, t._data.ndim, "logcumsumexp"))


return_types.cummax = _return_type("cummax", ["values", "indices"])
return_types.cummin = _return_type("cummin", ["values", "indices"])
return_types.nanmedian = _return_type("nanmedian", ["values", "indices"])


# ---- nanmedian, quantile ----------------------------------------------------------------------
@register("nanmedian")
def nanmedian(input, dim=None, keepdim=False):
    d = input._data
    xp = xp_of(d)
    if dim is None:
        flat = input.reshape(-1)
        if d.size == 0 or not bool((~xp.isnan(d)).any()):
            return _spread(input, _new_tensor(xp.asarray(math.nan, dtype=d.dtype)))
        v = nanmedian(flat, 0)[0]
        return _spread(input, v)
    axis = _one_dim(dim, d.ndim, "nanmedian")
    if d.ndim == 0:
        return return_types.nanmedian(_select(input, None, 0, True), _new_tensor(xp.zeros((), np.int64)))
    order = _stable_argsort(d, axis)                       # NaN sort last
    valid = (~xp.isnan(d)).sum(axis=axis, keepdims=True)
    pos = xp.maximum(valid - 1, 0) // 2
    idx = xp.take_along_axis(order, pos, axis)
    i = idx if keepdim else idx.squeeze(axis)
    return return_types.nanmedian(_select(input, idx, axis, keepdim), _new_tensor(i.astype(np.int64, copy=False)))


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan, name):
    from .elementwise import lerp
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                         f"Got {interpolation}")
    d = input._data
    if d.dtype.kind not in "f" and d.dtype.name != "bfloat16":
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    xp = xp_of(d)
    qs = q._data.reshape(-1).tolist() if isinstance(q, Tensor) else [q]
    if _builtins.any(not 0 <= v <= 1 for v in qs):
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    x = input
    if dim is None:
        x = input.reshape(-1)
        axis = 0
    else:
        axis = _one_dim(dim, d.ndim, name)
        if d.ndim == 0:
            x = input.reshape(1)
    xd = x._data
    order = _stable_argsort(xd, axis)
    n = xd.shape[axis]
    hasnan = None
    if ignore_nan:
        cnt = (~xp.isnan(xd)).sum(axis=axis, keepdims=True)
    else:
        cnt = xp.full(tuple(1 if i == axis else s for i, s in enumerate(xd.shape)), n)
        hasnan = xp.isnan(xd).any(axis=axis, keepdims=True)
        if not bool(hasnan.any()):
            hasnan = None
    outs = []
    for qv in qs:
        # NaN sorts last: a slice with NaN (quantile) or with no numbers (nanquantile) picks a NaN, so the
        # result is NaN and the gradient lands where PyTorch puts it
        pos = qv * (xp.maximum(cnt, 1) - 1).astype(np.float64)
        if hasnan is not None:
            pos = xp.where(hasnan, float(n - 1), pos)
        lo = xp.floor(pos).astype(np.int64)
        hi = xp.minimum(lo + 1, xp.maximum(cnt - 1, 0)).astype(np.int64)
        frac = pos - lo
        if interpolation == "lower":
            hi, frac = lo, frac * 0
        elif interpolation == "higher":
            lo = xp.ceil(pos).astype(np.int64)
            hi, frac = lo, frac * 0
        elif interpolation == "nearest":
            lo = xp.rint(pos).astype(np.int64)
            hi, frac = lo, frac * 0
        elif interpolation == "midpoint":
            frac = xp.where(frac > 0, 0.5, 0.0)
        vlo = _select(x, xp.take_along_axis(order, lo, axis), axis, True)
        vhi = _select(x, xp.take_along_axis(order, hi, axis), axis, True)
        r = lerp(vlo, vhi, _new_tensor(frac.astype(xd.dtype)))
        if dim is None:
            r = r.reshape(tuple(1 for _ in d.shape)) if keepdim else r.reshape(())
        elif not keepdim:
            r = r.squeeze(axis)
        outs.append(r)
    if isinstance(q, Tensor):
        from .movement import stack
        return stack(outs, 0) if q._data.ndim else outs[0]
    return outs[0]


@register("quantile")
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    return _out(_quantile(input, q, dim, keepdim, interpolation, False, "quantile"), out)


@register("nanquantile")
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear", out=None):
    return _out(_quantile(input, q, dim, keepdim, interpolation, True, "nanquantile"), out)


@register("dist")
def dist(input, other, p=2):
    from .elementwise import sub
    return norm(sub(input, other), p)


return_types.mode = _return_type("mode", ["values", "indices"])


@register("mode")
def mode(input, dim=-1, keepdim=False):
    """Most frequent value along dim (the smallest among ties) and the index of its last occurrence."""
    d = input._data
    xp = xp_of(d)
    if d.ndim == 0:
        return return_types.mode(_select(input, None, 0, True), _new_tensor(xp.zeros((), np.int64)))
    axis = _one_dim(dim, d.ndim, "mode")
    n = d.shape[axis]
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {axis} to have non-zero size.")
    dm = xp.moveaxis(d, axis, -1)
    lead = dm.shape[:-1]
    rows = math.prod(lead)
    a2 = dm.reshape(rows, n)
    order = _stable_argsort(a2, 1)
    s = xp.take_along_axis(a2, order, 1)
    new = xp.ones((rows, n), bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    pos = xp.arange(n)
    start = _accumulate(xp, "maximum", xp.where(new, pos, 0), 1)
    length = pos - start + 1
    j = (length == length.max(axis=1, keepdims=True)).argmax(axis=1)
    idx = order[xp.arange(rows), j].reshape(lead + (1,))
    idx = xp.moveaxis(idx, -1, axis)
    i = idx if keepdim else idx.squeeze(axis)
    return return_types.mode(_select(input, idx, axis, keepdim), _new_tensor(i.astype(np.int64, copy=False)))
