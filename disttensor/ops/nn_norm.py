"""Normalization ops of disttensor.nn.functional: batch_norm, layer_norm, group_norm, instance_norm,
rms_norm, local_response_norm.

One node (`Norm`) normalizes over any set of axes of a (possibly regrouped) view and applies a
per-channel affine; it has the fused backward gx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)).
layer_norm on big CPU arrays runs on two fused numba row kernels (_numba_math.layer_norm_fwd / _bwd;
the weight and bias gradients accumulated per thread slice of rows).
"""
import numpy as np

from ..autograd.node import Node
from .._backends.device import xp_of
from ._apply import apply
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC
from .nn_activation import numba_kernels, use_numba, row_slices, run_rows

_ndarray = np.ndarray


def _build_ln(numba):
    from . import _numba_math as nm
    return nm  # layer_norm_fwd / layer_norm_bwd: fused row kernels, rows split over threads by run_rows


class Norm(Node):
    """Normalize x over `axes` of x.reshape(vshape), then y = xhat * w + b with w, b reshaped to `ashape`.

    `stats` (a list or None) receives (mean, biased var) of the normalized groups, for running stats."""
    __slots__ = ("axes", "ashape", "waxes", "wshape", "bshape", "shape", "vshape")

    def forward(self, x, w, b, axes, vshape, ashape, eps, stats):
        xp = xp_of(x)
        self.shape, self.vshape, self.axes, self.ashape = x.shape, vshape, axes, ashape
        xv = x.reshape(vshape)
        mean = xv.mean(axis=axes, keepdims=True)
        xc = xv - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        if stats is not None:
            stats.append((mean, var))
        rstd = 1.0 / xp.sqrt(var + eps)
        xc *= rstd
        xhat = xc.reshape(x.shape)
        self.waxes = tuple(i for i, s in enumerate(ashape) if s == 1)
        self.wshape = None if w is None else w.shape
        self.bshape = None if b is None else b.shape
        wb = None if w is None else w.reshape(ashape)
        self.saved = (xhat, rstd, wb)
        if wb is not None:
            y = xhat * wb
            if b is not None:
                y += b.reshape(ashape)
        elif b is not None:
            y = xhat + b.reshape(ashape)
        else:
            y = xhat.copy()
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def backward(self, g):
        xhat, rstd, wb = self.saved
        axes, vshape = self.axes, self.vshape
        gh = (g * wb if wb is not None else g).reshape(vshape)
        xh = xhat.reshape(vshape)
        m1 = gh.mean(axis=axes, keepdims=True)
        m2 = (gh * xh).mean(axis=axes, keepdims=True)
        gx = gh - m1
        gx -= xh * m2
        gx *= rstd
        gw = (g * xhat).sum(axis=self.waxes).reshape(self.wshape) if self.wshape is not None else None
        gb = g.sum(axis=self.waxes).reshape(self.bshape) if self.bshape is not None else None
        return gx.reshape(self.shape), gw, gb


class LayerNormRows(Node):
    """layer_norm over the last D elements of a contiguous CPU float array, on two fused numba row kernels
    (forward: two-pass mean/variance + affine output; backward: one row pass for the sums and the weight/
    bias gradients, one for the input gradient), rows split over the row thread pool when big enough."""
    __slots__ = ("shape", "wshape", "hasw", "hasb", "parts")
    save_inputs = (0,)

    def forward(self, x, w, b, d, eps, k):
        self.shape = x.shape
        x2 = x.reshape(-1, d)
        n = x2.shape[0]
        dt = x.dtype
        self.hasw, self.hasb = w is not None, b is not None
        self.wshape = w.shape if w is not None else (b.shape if b is not None else None)
        w1 = np.ascontiguousarray(w.reshape(-1), dtype=dt) if w is not None else np.ones(d, dt)
        b1 = np.ascontiguousarray(b.reshape(-1), dtype=dt) if b is not None else np.zeros(d, dt)
        y = np.empty_like(x)
        mean = np.empty(n, dt)
        rstd = np.empty(n, dt)
        self.parts = parts = row_slices(n, x.nbytes)
        run_rows(k, k.layer_norm_fwd, parts, x2, w1, b1, y.reshape(-1, d), mean, rstd, dt.type(eps))
        self.saved = (x2, w1, mean, rstd, k)
        return y

    def backward(self, g):
        x2, w1, mean, rstd, k = self.saved
        d = x2.shape[1]
        dt = x2.dtype
        g2 = np.ascontiguousarray(g, dtype=dt).reshape(x2.shape)
        gx = np.empty(self.shape, dt)  # returned as is (no reshape view): a leaf adopts it without a copy
        parts = self.parts
        # a row of partial sums per slice of rows, 1 KiB apart: threads updating neighbouring rows on
        # every input row slow each other down when the rows are close, even without sharing a cache
        # line (the hardware prefetchers; measured 1024x256, 2 threads: rows 0 / 64 / 128 / 256 bytes
        # apart: backward kernel 169 / 113 / 98 / 69 us, one thread 108 us)
        pad = d + 1024 // dt.itemsize
        gwp = np.zeros((parts, pad), dt)
        gbp = np.zeros((parts, pad), dt)
        run_rows(k, k.layer_norm_bwd, parts, x2, g2, w1, mean, rstd, gx.reshape(x2.shape), gwp, gbp)
        gw = _sum_parts(gwp[:, :d], self.wshape) if self.hasw else None
        gb = _sum_parts(gbp[:, :d], self.wshape) if self.hasb else None
        return gx, gw, gb


def _sum_parts(p, shape):
    """The per-thread partial sums added up, in a fresh array of `shape` (no view: a leaf adopts it)."""
    out = np.empty(shape, p.dtype)
    if p.shape[0] == 1:
        out.reshape(-1)[...] = p[0]
    else:
        np.sum(p, axis=0, out=out.reshape(-1))
    return out


@register("layer_norm", method=False)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    if _AC[0]:
        input, weight, bias = _autocast.fp32(input, weight, bias, cuda_only=True)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    k_ = len(ns)
    xs = tuple(input.shape)
    if k_ == 0 or xs[len(xs) - k_:] != ns or len(xs) < k_:
        raise RuntimeError(f"layer_norm: Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size {list(xs)}")
    for nm, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != ns:
            raise RuntimeError(f"layer_norm: Expected {nm} to be of same shape as normalized_shape, but got {nm} of "
                               f"shape {list(t.shape)} and normalized_shape = {list(ns)}")
    x = input._data
    d = int(np.prod(ns))
    if use_numba(x):
        k = numba_kernels("ln", _build_ln)
        if k is not None:
            return apply(LayerNormRows, input, weight, bias, d, float(eps), k)
    axes = tuple(range(len(xs) - k_, len(xs)))
    ashape = (1,) * (len(xs) - k_) + ns
    return apply(Norm, input, weight, bias, axes, xs, ashape, float(eps), None)


@register("rms_norm", method=False)
def rms_norm(input, normalized_shape, weight=None, eps=None):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    xs = tuple(input.shape)
    if len(ns) == 0 or xs[len(xs) - len(ns):] != ns:
        raise RuntimeError(f"rms_norm: Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(map(str, ns))}], but got input of size {list(xs)}")
    if eps is None:
        from .._dtype import finfo
        eps = float(finfo(input.dtype).eps)
    axes = tuple(range(len(xs) - len(ns), len(xs)))
    return apply(RmsNorm, input, weight, axes, float(eps))


class RmsNorm(Node):
    __slots__ = ("axes",)

    def forward(self, x, w, axes, eps):
        xp = xp_of(x)
        self.axes = axes
        r = 1.0 / xp.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
        y0 = x * r
        self.saved = (y0, r, w)
        y = y0 * w if w is not None else y0
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def backward(self, g):
        y0, r, w = self.saved
        gy = g * w if w is not None else g
        gx = gy - y0 * (gy * y0).mean(axis=self.axes, keepdims=True)
        gx *= r
        gw = None
        if w is not None:
            lead = tuple(range(g.ndim - w.ndim))
            gw = (g * y0).sum(axis=lead) if lead else g * y0
        return gx, gw


class AffineFixed(Node):
    """y = (x - mean) * rstd * w + b with fixed (running) statistics: eval-mode batch/instance norm."""
    __slots__ = ("waxes", "wshape", "bshape")

    def forward(self, x, w, b, mean, rstd, ashape):
        xhat = (x - mean.reshape(ashape)) * rstd.reshape(ashape)
        self.waxes = tuple(i for i, s in enumerate(ashape) if s == 1)
        self.wshape = None if w is None else w.shape
        self.bshape = None if b is None else b.shape
        wb = None if w is None else w.reshape(ashape)
        self.saved = (xhat, rstd.reshape(ashape), wb)
        y = xhat * wb if wb is not None else xhat
        if b is not None:
            y = y + b.reshape(ashape)
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def backward(self, g):
        xhat, rstd, wb = self.saved
        gx = g * rstd
        if wb is not None:
            gx *= wb
        gw = (g * xhat).sum(axis=self.waxes).reshape(self.wshape) if self.wshape is not None else None
        gb = g.sum(axis=self.waxes).reshape(self.bshape) if self.bshape is not None else None
        return gx, gw, gb


def _update_running(rm, rv, mean, var, n, momentum):
    """running = (1 - momentum) * running + momentum * batch stat (variance unbiased), in place."""
    unbiased = var * (n / max(n - 1, 1))  # running stats are updated in place and never record a graph
    if rm is not None:
        d = rm._data
        d *= (1.0 - momentum)
        d += (momentum * mean).astype(d.dtype, copy=False)
        rm._vc[0] += 1
    if rv is not None:
        d = rv._data
        d *= (1.0 - momentum)
        d += (momentum * unbiased).astype(d.dtype, copy=False)
        rv._vc[0] += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    xs = tuple(input.shape)
    if len(xs) < 2:
        raise ValueError(f"batch_norm: expected 2D or more input (got {len(xs)}D input)")
    c = xs[1]
    for nm, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"batch_norm: {nm} should contain {c} elements not {t.numel()} (input of shape "
                               f"{list(xs)})")
    ashape = (1, c) + (1,) * (len(xs) - 2)
    if training:
        n = int(np.prod(xs)) // c if c else 0
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        axes = (0,) + tuple(range(2, len(xs)))
        stats = [] if (running_mean is not None or running_var is not None) else None
        out = apply(Norm, input, weight, bias, axes, xs, ashape, float(eps), stats)
        if stats:
            mean, var = stats[0]
            _update_running(running_mean, running_var, mean.reshape(-1), var.reshape(-1), n,
                            0.0 if momentum is None else momentum)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
    xp = xp_of(input._data)
    rstd = 1.0 / xp.sqrt(running_var._data + eps)
    return apply(AffineFixed, input, weight, bias, running_mean._data, rstd.astype(input._data.dtype, copy=False),
                 ashape)


@register("batch_norm", method=False)
def _t_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled=True):
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    xs = tuple(input.shape)
    if len(xs) < 3:
        raise ValueError(f"instance_norm: expected 3D or more input (got {len(xs)}D input)")
    c = xs[1]
    ashape = (1, c) + (1,) * (len(xs) - 2)
    if use_input_stats:
        n = int(np.prod(xs[2:]))
        if n <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
        stats = [] if (running_mean is not None or running_var is not None) else None
        out = apply(Norm, input, weight, bias, tuple(range(2, len(xs))), xs, ashape, float(eps), stats)
        if stats:
            mean, var = stats[0]
            unb = var * (n / (n - 1))
            _update_running(running_mean, running_var, mean.mean(axis=0).reshape(-1),
                            unb.mean(axis=0).reshape(-1) * ((n - 1) / n), n, momentum)
        return out
    if running_mean is None or running_var is None:
        raise RuntimeError("instance_norm: Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    xp = xp_of(input._data)
    rstd = 1.0 / xp.sqrt(running_var._data + eps)
    return apply(AffineFixed, input, weight, bias, running_mean._data, rstd.astype(input._data.dtype, copy=False),
                 ashape)


@register("instance_norm", method=False)
def _t_instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                     cudnn_enabled=True):
    return instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


@register("group_norm", method=False)
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    if _AC[0]:
        input, weight, bias = _autocast.fp32(input, weight, bias, cuda_only=True)
    xs = tuple(input.shape)
    if len(xs) < 2:
        raise RuntimeError(f"group_norm: Expected at least 2 dimensions for input tensor but received {len(xs)}")
    c = xs[1]
    if c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible by num_groups, but got "
                           f"input of shape {list(xs)} and num_groups={num_groups}")
    for nm, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.numel() != c):
            raise RuntimeError(f"group_norm: Expected {nm} to be a vector of size equal to the number of channels in "
                               f"input, but got {nm} of shape {list(t.shape)} and input of shape {list(xs)}")
    vshape = (xs[0], num_groups, -1)
    ashape = (1, c) + (1,) * (len(xs) - 2)
    if int(np.prod(xs)) == 0:
        vshape = (xs[0], num_groups, 0)
    return apply(Norm, input, weight, bias, (2,), vshape, ashape, float(eps), None)


class LocalResponseNorm(Node):
    __slots__ = ("size", "alpha", "beta")
    save_inputs = (0,)

    def forward(self, x, size, alpha, beta, k):
        xp = xp_of(x)
        sq = x * x
        s = _window_sum(xp, sq, size // 2, (size - 1) // 2)
        den = s * (alpha / size) + k
        p = den ** -beta
        self.saved = (x, den, p)
        self.size, self.alpha, self.beta = size, alpha, beta
        return x * p

    def backward(self, g):
        x, den, p = self.saved
        xp = xp_of(g)
        size = self.size
        t = g * x * p / den
        # channel j receives from every c whose window [c - size//2, c + (size-1)//2] holds j
        s = _window_sum(xp, t, (size - 1) // 2, size // 2)
        return g * p - (2.0 * self.beta * self.alpha / size) * x * s


def _window_sum(xp, a, before, after):
    """out[:, c] = sum of a[:, c - before : c + after + 1] along axis 1 (zeros outside)."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before + 1, after)
    cs = xp.cumsum(xp.pad(a, pad), axis=1)
    hi = [slice(None)] * a.ndim
    lo = [slice(None)] * a.ndim
    hi[1] = slice(before + after + 1, before + after + 1 + c)
    lo[1] = slice(0, c)
    return cs[tuple(hi)] - cs[tuple(lo)]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    return apply(LocalResponseNorm, input, int(size), float(alpha), float(beta), float(k))
