"""Less common top-level math of PyTorch: histc, trapezoid, cumulative_trapezoid, vander, nextafter,
frexp, ldexp, cov, corrcoef, gradient; empty_strided, frombuffer; the signal windows (hann, hamming,
bartlett, blackman, kaiser).

Composite ops (trapezoid, cov, gradient, ...) are written with tensor ops and get their gradients from
them; vander, nextafter and frexp are nodes with their own backward.
"""
import builtins
import collections
import math
import warnings

import numpy as np

from .. import _dtype
from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply, apply1
from ._registry import register
from . import creation

_TORCH_TYPE = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
               "int64": "Long", "float16": "Half", "bfloat16": "BFloat16", "float32": "Float",
               "float64": "Double", "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _tname(t):
    return _TORCH_TYPE.get(t.dtype.name, t.dtype.name)


def _wrap_dim(dim, ndim, name):
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


# ---- histc -------------------------------------------------------------------------------------------
@register("histc")
def histc(input, bins=100, min=0, max=0, *, out=None):
    """Histogram of `bins` equal bins over [min, max] (the data's range when min == max); not differentiable."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_tname(input)}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    a = input._data
    xp = xp_of(a)
    lo, hi = builtins.float(min), builtins.float(max)
    if lo == hi and a.size:
        lo, hi = builtins.float(a.min()), builtins.float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    flat = a.reshape(-1)
    npd = a.dtype
    lo_a, hi_a = npd.type(lo), npd.type(hi)
    vals = flat[(flat >= lo_a) & (flat <= hi_a)]
    idx = ((vals - lo_a) / (hi_a - lo_a) * npd.type(bins)).astype(np.int64)
    idx = xp.minimum(idx, bins - 1)
    counts = xp.bincount(idx, minlength=bins).astype(npd)
    res = _new_tensor(counts)
    if out is not None:
        out.copy_(res)
        return out
    return res


# ---- trapezoid rules -------------------------------------------------------------------------------
def _check_trap_args(name, x, dx):
    if x is not None and dx is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments: pass either x (a Tensor) "
                        "or dx (a number), not both")
    if x is not None and not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'x' (position 2) must be Tensor, not {type(x).__name__}")


def _x_spacing(name, y, x, dim):
    """The spacings x[i+1] - x[i] shaped to broadcast against slices of y along dim."""
    n = y.shape[dim]
    if x.dim() == 1:
        if x.shape[0] != n:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        dx = x[1:] - x[:-1]
        shape = [1] * y.dim()
        shape[dim] = n - 1
        return dx.reshape(shape)
    xd = dim - y.dim() + x.dim() if dim - y.dim() + x.dim() >= 0 else dim
    m = x.shape[xd]
    return x.narrow(xd, 1, m - 1) - x.narrow(xd, 0, m - 1)


@register("trapezoid", "trapz", method=False)
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """Integral of y along dim by the trapezoid rule, with sample points x or a constant spacing dx (1)."""
    _check_trap_args("trapezoid", x, dx)
    dim = _wrap_dim(dim, y.dim(), "trapezoid")
    n = y.shape[dim]
    if n == 0:
        shape = list(y.shape)
        del shape[dim]
        return creation.zeros(*shape, dtype=y.dtype, device=y.device)
    if x is not None:
        left, right = y.narrow(dim, 0, n - 1), y.narrow(dim, 1, n - 1)
        return ((left + right) * _x_spacing("trapezoid", y, x, dim)).sum(dim) / 2.0
    dx = 1 if dx is None else dx
    return (y.sum(dim) - (y.select(dim, 0) + y.select(dim, -1)) * 0.5) * dx


@register("cumulative_trapezoid", method=False)
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """Running trapezoid-rule integral of y along dim (one value fewer than y has along dim)."""
    _check_trap_args("cumulative_trapezoid", x, dx)
    dim = _wrap_dim(dim, y.dim(), "cumulative_trapezoid")
    n = y.shape[dim]
    if n == 0:
        return creation.zeros(*y.shape, dtype=y.dtype, device=y.device)
    left, right = y.narrow(dim, 0, n - 1), y.narrow(dim, 1, n - 1)
    if x is not None:
        return ((_x_spacing("cumulative_trapezoid", y, x, dim) / 2.0) * (left + right)).cumsum(dim)
    dx = 1 if dx is None else dx
    return ((dx / 2.0) * (left + right)).cumsum(dim)


# ---- vander ------------------------------------------------------------------------------------------
class Vander(Node):
    __slots__ = ("a", "exps")
    save_inputs = (0,)

    def forward(self, a, n, increasing, npd):
        xp = xp_of(a)
        a = a.astype(npd, copy=False)
        exps = xp.arange(n, dtype=np.int64)
        if not increasing:
            exps = exps[::-1]
        self.a, self.exps = a, exps
        if n == 0:
            return xp.empty(a.shape + (0,), npd)
        return xp.power(a[:, None], exps.astype(npd) if npd.kind == "f" else exps)

    def backward(self, g):
        xp = xp_of(g)
        a, k = self.a, self.exps.astype(g.dtype)
        # d x^k / dx = k x^(k-1); the k = 0 column contributes nothing (and must not compute x^-1)
        d = k * xp.power(a[:, None], xp.maximum(k - 1, 0))
        return (g * d).sum(-1)


@register("vander", method=False)
def vander(x, N=None, increasing=False):
    """Vandermonde matrix: columns x^(N-1) ... x^0 (x^0 ... x^(N-1) when increasing)."""
    if x.dim() != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    if N is None:
        N = x.shape[0]
    if N < 0:
        raise RuntimeError("N must be non-negative.")
    out = _dtype.promote_types(x.dtype, _dtype.int64)
    return apply1(Vander, x, builtins.int(N), builtins.bool(increasing), out.np)


# ---- floating-point decomposition --------------------------------------------------------------------
class NextAfter(Node):
    __slots__ = ("differ",)

    def forward(self, a, b, npd=None):
        xp = xp_of(a)
        a, b = a.astype(npd, copy=False), b.astype(npd, copy=False)
        self.differ = a != b
        return xp.nextafter(a, b)

    def backward(self, g):
        return g * self.differ, g * 0


@register("nextafter")
def nextafter(input, other, *, out=None):
    """The next representable float after input towards other (gradient 1 to input where they differ)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"nextafter(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    from ._binary import _result_dtype
    d = _result_dtype(input._data, other._data)
    if not d.is_floating_point or d is _dtype.bfloat16:
        raise NotImplementedError(f"\"nextafter_cpu\" not implemented for '{_TORCH_TYPE.get(d.name, d.name)}'")
    res = apply(NextAfter, input, other, npd=d.np)
    if out is not None:
        out.copy_(res)
        return out
    return res


FrexpResult = collections.namedtuple("frexp", ["mantissa", "exponent"])


class Frexp(Node):
    __slots__ = ("e",)

    def forward(self, a):
        xp = xp_of(a)
        m, e = xp.frexp(a)
        self.e = e
        return m, e.astype(np.int32)

    def backward(self, g):
        return g / xp_of(g).exp2(self.e).astype(g.dtype)


@register("frexp")
def frexp(input, *, out=None):
    """(mantissa, exponent) with input = mantissa * 2**exponent, |mantissa| in [0.5, 1); exponent is int32."""
    if not input.dtype.is_floating_point or input.dtype is _dtype.bfloat16:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = apply(Frexp, input)
    if out is not None:
        out[0].copy_(m)
        out[1].copy_(e)
        return FrexpResult(out[0], out[1])
    return FrexpResult(m, e)


@register("ldexp")
def ldexp(input, other, *, out=None):
    """input * 2**other (differentiable in both, like PyTorch's mul(input, pow(2, other)))."""
    if not isinstance(other, Tensor):
        raise TypeError(f"ldexp(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    res = input * (2.0 ** other)
    if out is not None:
        out.copy_(res)
        return out
    return res


# ---- covariance ------------------------------------------------------------------------------------
@register("cov")
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the variables in the rows of input (observations in columns), like numpy.cov."""
    if input.dim() > 2:
        raise RuntimeError("cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    x = input if input.dim() == 2 else input.reshape(1, -1)
    nobs = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dim() > 1:
            raise RuntimeError("cov(): expected fweights to have one or fewer dimensions but got fweights with "
                               f"{fweights.dim()} dimensions")
        if fweights.dtype.is_floating_point or fweights.dtype.is_complex:
            raise RuntimeError("cov(): expected fweights to have integral dtype but got fweights with "
                               f"{_tname(fweights)} dtype")
        if fweights.numel() != nobs:
            raise RuntimeError("cov(): expected fweights to have the same numel as there are observations in the "
                               f"input but got {fweights.numel()} != {nobs}")
        if builtins.bool((fweights._data < 0).any()):
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights
    if aweights is not None:
        if aweights.dim() > 1:
            raise RuntimeError("cov(): expected aweights to have one or fewer dimensions but got aweights with "
                               f"{aweights.dim()} dimensions")
        if not aweights.dtype.is_floating_point:
            raise RuntimeError("cov(): expected aweights to have floating point dtype but got aweights with "
                               f"{_tname(aweights)} dtype")
        if aweights.numel() != nobs:
            raise RuntimeError("cov(): expected aweights to have the same numel as there are observations in the "
                               f"input but got {aweights.numel()} != {nobs}")
        if builtins.bool((aweights._data < 0).any()):
            raise RuntimeError("cov(): aweights cannot be negative")
        w = aweights if w is None else w * aweights
    if w is None:
        w_sum = nobs
        avg = x.sum(1) / w_sum
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
    if w is not None and correction != 0 and aweights is not None:
        norm = w_sum - correction * (w * aweights).sum() / w_sum
    else:
        norm = w_sum - correction
    if builtins.float(norm.detach().item() if isinstance(norm, Tensor) else norm) <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number "
                      "of observations.", UserWarning, stacklevel=2)
        norm = norm * 0 if isinstance(norm, Tensor) else 0
    xm = x - avg.unsqueeze(1)
    xw = xm if w is None else xm * w
    xt = xw.t()
    if xt.dtype.is_complex:
        xt = xt.conj()
    c = xm.matmul(xt)
    if not isinstance(norm, Tensor):
        norm = creation.tensor(norm, dtype=c.dtype, device=c.device) if norm == 0 else norm
    return (c / norm).squeeze()


@register("corrcoef")
def corrcoef(input):
    """Pearson correlation coefficients of the variables in the rows of input, clipped to [-1, 1]."""
    if input.dim() > 2:
        raise RuntimeError("corrcoef(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    c = cov(input)
    if c.dim() == 0:
        return c / c
    std = c.diagonal().sqrt()
    c = c / std.reshape(-1, 1)
    c = c / std.reshape(1, -1)
    return c.clip(-1, 1)


# ---- gradient -------------------------------------------------------------------------------------
def _gradient_dims(input, dim):
    if dim is None:
        return list(builtins.range(input.dim()))
    if isinstance(dim, builtins.int):
        return [_wrap_dim(dim, input.dim(), "torch.gradient")]
    dims = [_wrap_dim(d, input.dim(), "torch.gradient") for d in dim]
    if len(set(dims)) != len(dims):
        raise RuntimeError("torch.gradient expected each dimension to appear at most once in dim")
    return dims


@register("gradient", method=False)
def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Estimated derivatives of input along each of dims by central differences (one-sided at the edges,
    first or second order): a tuple with one tensor per dim. spacing: a scalar, one scalar per dim, or
    one 1-D coordinate tensor per dim."""
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = _gradient_dims(input, dim)
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or a list of length "
                               f"{len(dims)} but got a list of length {len(spacing)}")
        spacings = list(spacing)
    elif isinstance(spacing, Tensor):
        if spacing.dim() != 0:
            raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar, or a list of "
                               "scalars or tensors")
        spacings = [spacing.item()] * len(dims)
    else:
        spacings = [spacing] * len(dims)
    for d in dims:
        if input.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    out = []
    for d, h in zip(dims, spacings):
        n = input.shape[d]

        def sl(start, stop, d=d, n=n):
            start = start if start >= 0 else n + start
            stop = stop if stop > 0 else n + stop
            return input.narrow(d, start, stop - start)
        if isinstance(h, Tensor):
            if h.dim() != 1 or h.shape[0] != n:
                raise RuntimeError(f"torch.gradient expected each coordinate tensor to be 1-D with {n} values "
                                   f"along dimension {d}, got shape {tuple(h.shape)}")
            out.append(_gradient_coords(input, d, n, h, sl, edge_order))
            continue
        center = (sl(2, n) - sl(0, -2)) / h / 2
        if edge_order == 1:
            first = (sl(1, 2) - sl(0, 1)) / h
            last = (sl(-1, n) - sl(-2, -1)) / h
        else:
            first = (sl(0, 1) * -1.5 + sl(1, 2) * 2 - sl(2, 3) * 0.5) / h
            last = (sl(-3, -2) * 0.5 - sl(-2, -1) * 2 + sl(-1, n) * 1.5) / h
        out.append(_cat_edges(first, center, last, d))
    return tuple(out)


def _cat_edges(first, center, last, d):
    from .movement import cat
    dt = _dtype.promote_types(_dtype.promote_types(first.dtype, center.dtype), last.dtype)
    return cat([t if t.dtype is dt else t.to(dt) for t in (first, center, last)], d)


def _gradient_coords(input, d, n, x, sl, edge_order):
    shape = [1] * input.dim()
    shape[d] = n - 2
    h = x[1:] - x[:-1]
    h1, h2 = h[:-1], h[1:]
    a = (-h2 / (h1 * (h1 + h2))).reshape(shape)
    b = ((h2 - h1) / (h1 * h2)).reshape(shape)
    c = (h1 / (h2 * (h1 + h2))).reshape(shape)
    center = a * sl(0, -2) + b * sl(1, -1) + c * sl(2, n)
    if edge_order == 1:
        first = (sl(1, 2) - sl(0, 1)) / h[0]
        last = (sl(-1, n) - sl(-2, -1)) / h[-1]
    else:
        d0, d1 = h[0], h[1]
        first = (sl(0, 1) * (-(2.0 * d0 + d1) / (d0 * (d0 + d1))) + sl(1, 2) * ((d0 + d1) / (d0 * d1))
                 + sl(2, 3) * (-d0 / (d1 * (d0 + d1))))
        e1, e2 = h[-1], h[-2]
        last = (sl(-3, -2) * (e1 / (e2 * (e1 + e2))) + sl(-2, -1) * (-(e1 + e2) / (e1 * e2))
                + sl(-1, n) * ((2 * e1 + e2) / (e1 * (e1 + e2))))
    return _cat_edges(first, center, last, d)


# ---- raw constructors --------------------------------------------------------------------------------
@register("empty_strided", method=False)
def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """An uninitialized tensor with the given shape and strides (in elements)."""
    size, stride = tuple(builtins.int(s) for s in size), tuple(builtins.int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"dimensionality of sizes ({len(size)}) must match dimensionality of strides "
                           f"({len(stride)})")
    if any(s < 0 for s in size):
        raise RuntimeError(f"empty_strided: Trying to create tensor with negative dimension: {list(size)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: strides must be non-negative, got {list(stride)}")
    npd = _dtype.np_dtype(dtype) if dtype is not None else _dtype.get_default_dtype().np
    n = 0 if 0 in size else 1 + builtins.sum((s - 1) * st for s, st in zip(size, stride))
    buf = creation.empty(n, dtype=_dtype.from_numpy_dtype(npd), device=device)
    d = buf._data
    xp = xp_of(d)
    arr = xp.lib.stride_tricks.as_strided(d, shape=size, strides=tuple(st * npd.itemsize for st in stride))
    t = _new_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


_warned_readonly = [False]


@register("frombuffer", method=False)
def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D CPU tensor that shares memory with an object exposing the buffer protocol."""
    npd = _dtype.np_dtype(dtype)
    mv = memoryview(buffer)
    length = mv.nbytes
    item = npd.itemsize
    if length <= 0 or count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    if offset < 0 or offset >= length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
                         f"({length} bytes) minus 1")
    if count < 0:
        if (length - offset) % item != 0:
            raise ValueError(f"buffer length ({length - offset} bytes) after offset ({offset} bytes) must be a "
                             f"multiple of element size ({item})")
        count = (length - offset) // item
    elif length - offset < count * item:
        raise ValueError(f"requested buffer length ({count} * {item} bytes) after offset ({offset} bytes) must "
                         f"not be greater than actual buffer length ({length} bytes)")
    if mv.readonly and not _warned_readonly[0]:
        _warned_readonly[0] = True
        warnings.warn("The given buffer is not writable: the tensor is read-only (writing to it raises). You may "
                      "want to copy the buffer or make it writable before converting it to a tensor.",
                      UserWarning, stacklevel=2)
    arr = np.frombuffer(buffer, dtype=npd, count=count, offset=offset)
    t = _new_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- windows -----------------------------------------------------------------------------------------
def _window(name, window_length, periodic, dtype, device, requires_grad, values):
    d = _dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
    if not d.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {d}")
    n = builtins.int(window_length)
    if n < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={n}")
    if n <= 1:
        arr = np.ones(n, dtype=d.np)
    else:
        m = n + 1 if periodic else n
        arr = values(np.arange(m, dtype=np.float64), m)[:n].astype(d.np)
    return creation._finish(arr, device, requires_grad)


def _cosine_sum(coeffs):
    def values(k, m):
        w = np.zeros_like(k)
        for i, c in enumerate(coeffs):
            w += c * np.cos(2.0 * np.pi * i * k / (m - 1))
        return w
    return values


@register("hann_window", method=False)
def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad, _cosine_sum((0.5, -0.5)))


@register("hamming_window", method=False)
def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   requires_grad=False):
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   _cosine_sum((alpha, -beta)))


@register("blackman_window", method=False)
def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   _cosine_sum((0.42, -0.5, 0.08)))


@register("bartlett_window", method=False)
def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda k, m: 1.0 - np.abs(2.0 * k / (m - 1) - 1.0))


@register("kaiser_window", method=False)
def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  requires_grad=False):
    def values(k, m):
        alpha = (m - 1) / 2.0
        return np.i0(beta * np.sqrt(np.clip(1.0 - ((k - alpha) / alpha) ** 2, 0.0, None))) / np.i0(beta)
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad, values)
