"""Pooling, unpooling, pixel shuffle and interpolation (nn.functional), for 1, 2 and 3 spatial dims.

Fast paths: max/avg pooling whose kernel equals its stride (the common 2x2) is a reshape of the input
and one reduction, not a window loop; integer-factor nearest upsampling is a broadcast. The
general paths loop over kernel offsets (one strided window view each), so their cost is
K passes over the output. Every function works on numpy and cupy arrays alike (`xp = xp_of(x)`).
"""
import math
import os

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from ._apply import apply1, apply
from ._registry import register
from .nn_conv import _ntuple, _offsets, _prod, _win


# ---- geometry -----------------------------------------------------------------------------------------
def _pool_out(S, k, s, p, d, ceil):
    num = S + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= S + p:
        o -= 1
    return o


def _pool_args(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor for input, but got input of "
                           f"size: {list(input.shape)}")
    k = _ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _ntuple(stride, nd, "stride", op)
    p = _ntuple(padding, nd, "padding", op)
    d = _ntuple(dilation, nd, "dilation", op)
    if any(a <= 0 for a in k):
        raise RuntimeError(f"{op}: kernel_size must be greater than zero, but got {list(k)}")
    if any(a <= 0 for a in s):
        raise RuntimeError(f"{op}: stride must be greater than zero, but got {list(s)}")
    if any(a <= 0 for a in d):
        raise RuntimeError(f"{op}: dilation must be greater than zero, but got {list(d)}")
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={pp}, "
                               f"kernel_size={kk} and dilation={dd}")
    S = tuple(input.shape[-nd:])
    out = tuple(_pool_out(a, kk, ss, pp, dd, bool(ceil_mode)) for a, kk, ss, pp, dd in zip(S, k, s, p, d))
    if any(o <= 0 for o in out):
        lead = tuple(input.shape[-nd - 1:-nd])
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(map(str, lead + S))}). Calculated output size: "
                           f"({'x'.join(map(str, lead + out))}). Output size is too small")
    return k, s, p, d, out


def _flat_lead(x, nd):
    """(..., *S) -> (B, *S) view, and the leading shape."""
    lead = x.shape[:-nd]
    return x.reshape((-1,) + x.shape[-nd:]), lead


def _pad_to(x, nd, p, out, k, s, d, value):
    """Pad (B, *S) by p before and as much as the last window needs after, with `value`."""
    S = x.shape[1:]
    hi = tuple(max(0, (o - 1) * ss + dd * (kk - 1) + 1 - a - pp) for a, o, kk, ss, pp, dd in zip(S, out, k, s, p, d))
    if not any(p) and not any(hi):
        return x
    xp = xp_of(x)
    buf = xp.full((x.shape[0],) + tuple(a + pp + h for a, pp, h in zip(S, p, hi)), value, dtype=x.dtype)
    buf[(slice(None),) + tuple(slice(pp, pp + a) for pp, a in zip(p, S))] = x
    return buf


def _isfloat(dtype):
    return dtype.kind == "f" or "float" in dtype.name


def _lowest(dtype):
    dtype = np.dtype(dtype)
    if _isfloat(dtype):
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


def _flat_indices(xp, kid, S, k, s, p, d, out):
    """Per-output argmax kernel offset id -> flat index into the input's spatial plane (PyTorch's indices)."""
    nd = len(S)
    inner = [_prod(S[i + 1:]) for i in range(nd)]
    offs = _offsets(k, d)
    koff = xp.asarray(np.array([sum(o[i] * inner[i] for i in range(nd)) for o in offs], dtype=np.int64))
    base = 0
    for i in range(nd):
        shp = [1] * (nd + 1)
        shp[i + 1] = out[i]
        base = base + (xp.arange(out[i], dtype=np.int64) * s[i] - p[i]).reshape(shp) * inner[i]
    return base + koff[kid]


def _scatter_flat(xp, g2, idx2, P, dtype, unique):
    """(B, M) gradients at flat positions idx2 (B, M) of a (B, P) plane: summed where positions repeat."""
    B = g2.shape[0]
    if unique:
        gx = xp.zeros((B, P), dtype=dtype)
        gx[xp.arange(B)[:, None], idx2] = g2
        return gx
    flat = (xp.arange(B, dtype=np.int64)[:, None] * P + idx2).ravel()
    return xp.bincount(flat, weights=g2.ravel(), minlength=B * P).astype(dtype, copy=False).reshape(B, P)


# ---- max pooling --------------------------------------------------------------------------------------
def _is_tiling(k, s, p, d, out, S):
    return k == s and not any(p) and all(a == 1 for a in d) and all(o * kk <= a for o, kk, a in zip(out, k, S))


def _tiles(x, k, out):
    """(B, *S) -> view (B, o1, k1, o2, k2, ...) of the part covered by whole tiles."""
    nd = len(k)
    v = x[(slice(None),) + tuple(slice(0, o * kk) for o, kk in zip(out, k))]
    shp = (x.shape[0],)
    for o, kk in zip(out, k):
        shp += (o, kk)
    return v.reshape(shp), tuple(2 + 2 * i for i in range(nd))


# ---- numba kernels for overlapping 2-D max pooling (CPU; lazy import, NumPy path without numba) ---------
_NB = 0


def _numba_pool():
    global _NB
    if _NB == 0:
        _NB = None
        if os.environ.get("DISTTENSOR_NO_NUMBA", "0") in ("0", ""):
            try:
                import numba
                _NB = _build_pool(numba)
            except ImportError:
                _NB = None
    return _NB


def _build_pool(numba):
    njit, prange = numba.njit, numba.prange

    @njit(parallel=True, cache=True)
    def fwd(x, kh, kw, sh, sw, ph, pw, dh, dw, y, kid):
        B, H, W = x.shape
        Ho, Wo = y.shape[1], y.shape[2]
        for b in prange(B):
            for i in range(Ho):
                for j in range(Wo):
                    best = x[b, 0, 0]
                    bk = -1
                    for a in range(kh):
                        r = i * sh - ph + a * dh
                        if r < 0 or r >= H:
                            continue
                        for c in range(kw):
                            q = j * sw - pw + c * dw
                            if q < 0 or q >= W:
                                continue
                            v = x[b, r, q]
                            if bk < 0 or v > best or v != v:   # PyTorch: (val > maxval) || isnan(val)
                                best = v
                                bk = a * kw + c
                    y[b, i, j] = best
                    kid[b, i, j] = bk

    @njit(parallel=True, cache=True)
    def bwd(g, kid, kw, sh, sw, ph, pw, dh, dw, gx):
        B, Ho, Wo = g.shape
        for b in prange(B):
            for i in range(Ho):
                for j in range(Wo):
                    k = kid[b, i, j]
                    a = k // kw
                    c = k - a * kw
                    gx[b, i * sh - ph + a * dh, j * sw - pw + c * dw] += g[b, i, j]

    @njit(parallel=True, cache=True)
    def fwd22(x, y, kid):
        # 2x2 windows, stride 2, no padding (the common CNN pool): no bounds tests, one branch per element
        B = x.shape[0]
        Ho, Wo = y.shape[1], y.shape[2]
        for b in prange(B):
            for i in range(Ho):
                r = 2 * i
                for j in range(Wo):
                    q = 2 * j
                    best = x[b, r, q]
                    bk = 0
                    v = x[b, r, q + 1]
                    if v > best or v != v:
                        best = v
                        bk = 1
                    v = x[b, r + 1, q]
                    if v > best or v != v:
                        best = v
                        bk = 2
                    v = x[b, r + 1, q + 1]
                    if v > best or v != v:
                        best = v
                        bk = 3
                    y[b, i, j] = best
                    kid[b, i, j] = bk

    @njit(parallel=True, cache=True)
    def bwd22(g, kid, gx):
        # writes all four positions of every window, so gx needs no zero fill where the windows cover it
        B, Ho, Wo = g.shape
        for b in prange(B):
            for i in range(Ho):
                r = 2 * i
                for j in range(Wo):
                    q = 2 * j
                    k = kid[b, i, j]
                    v = g[b, i, j]
                    gx[b, r, q] = v if k == 0 else 0.0
                    gx[b, r, q + 1] = v if k == 1 else 0.0
                    gx[b, r + 1, q] = v if k == 2 else 0.0
                    gx[b, r + 1, q + 1] = v if k == 3 else 0.0

    class K:
        pass
    k = K()
    k.fwd, k.bwd, k.fwd22, k.bwd22 = fwd, bwd, fwd22, bwd22
    return k


def _use_numba_pool(x, nd):
    return nd == 2 and x.__class__ is np.ndarray and x.dtype in (np.float32, np.float64) and x.size >= 4096


class MaxPoolNd(Node):
    """Running maximum over the kernel offsets (strided views, no window copy), tracking the offset id
    of the maximum: the first one in row-major order, or the last NaN, as PyTorch picks them."""
    __slots__ = ()

    def forward(self, x, nd, k, s, p, d, out, want_idx):
        xp = xp_of(x)
        xb, lead = _flat_lead(x, nd)
        S = xb.shape[1:]
        tiling = _is_tiling(k, s, p, d, out, S)
        if _use_numba_pool(x, nd) and _numba_pool() is not None:
            # one pass per output: also faster than the tile views for 2x2 windows
            xb = np.ascontiguousarray(xb)
            y = np.empty((xb.shape[0],) + out, dtype=x.dtype)
            kid = np.empty(y.shape, dtype=np.int32)
            if k == (2, 2) and s == (2, 2) and p == (0, 0) and d == (1, 1) and \
                    2 * out[0] <= S[0] and 2 * out[1] <= S[1]:
                _numba_pool().fwd22(xb, y, kid)
                self.saved = (kid, "numba22", (nd, k, s, p, d, out, lead, S))
            else:
                _numba_pool().fwd(xb, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], y, kid)
                self.saved = (kid, "numba", (nd, k, s, p, d, out, lead, S))
            y = y.reshape(lead + out)
            if want_idx:
                return y, _flat_indices(xp, kid, S, k, s, p, d, out).reshape(lead + out)
            return y
        if tiling:  # kernel == stride: the offsets are views of the input split into tiles
            xr, _ = _tiles(xb, k, out)
            views = [xr[_tile_sel(kpos, nd)] for kpos in np.ndindex(*k)]
        else:
            xpad = _pad_to(xb, nd, p, out, k, s, d, _lowest(x.dtype))
            views = [xpad[_win(o, s, out, lead=1)] for o in _offsets(k, d)]
        K = len(views)
        y = views[0].copy()
        kid = xp.zeros(y.shape, dtype=np.int8 if K < 128 else np.int64)
        m = xp.empty(y.shape, dtype=bool)
        for i in range(1, K):
            v = views[i]
            xp.greater(v, y, out=m)
            xp.maximum(y, v, out=y)          # NaN-propagating
            xp.copyto(kid, i, where=m)
        if _isfloat(x.dtype) and bool(xp.isnan(y).any()):
            # NaNs: PyTorch's index is the last NaN of the window
            for i in range(K):
                xp.copyto(kid, i, where=xp.isnan(views[i]))
        self.saved = (kid, tiling, (nd, k, s, p, d, out, lead, S))
        y = y.reshape(lead + out)
        if want_idx:
            return y, _flat_indices(xp, kid, S, k, s, p, d, out).reshape(lead + out)
        return y

    def backward(self, g):
        kid, tiling, (nd, k, s, p, d, out, lead, S) = self.saved
        xp = xp_of(g)
        B = _prod(lead)
        gb = g.reshape((B,) + out)
        if tiling == "numba22":
            covered = (2 * out[0], 2 * out[1]) == S
            gx = (np.empty if covered else np.zeros)((B,) + S, dtype=g.dtype)
            _numba_pool().bwd22(np.ascontiguousarray(gb), kid, gx)
            return gx.reshape(lead + S)
        if tiling == "numba":
            gx = np.zeros((B,) + S, dtype=g.dtype)
            _numba_pool().bwd(np.ascontiguousarray(gb), kid, k[1], s[0], s[1], p[0], p[1], d[0], d[1], gx)
            return gx.reshape(lead + S)
        if tiling:
            covered = tuple(o * kk for o, kk in zip(out, k))
            gx = xp.empty((B,) + S, dtype=g.dtype) if covered == S else xp.zeros((B,) + S, dtype=g.dtype)
            gr, _ = _tiles(gx, k, out)
            m = xp.empty(kid.shape, dtype=bool)
            for i, kpos in enumerate(np.ndindex(*k)):
                xp.equal(kid, i, out=m)
                dst = gr[_tile_sel(kpos, nd)]
                dst[...] = 0                       # not gb * m: an inf or NaN gradient must not leak as NaN
                xp.copyto(dst, gb, where=m)
            return gx.reshape(lead + S)
        idx = _flat_indices(xp, kid, S, k, s, p, d, out).reshape(B, -1)
        unique = all(dd * (kk - 1) < ss for kk, ss, dd in zip(k, s, d))
        return _scatter_flat(xp, gb.reshape(B, -1), idx, _prod(S), g.dtype, unique).reshape(lead + S)


def _tile_sel(kpos, nd):
    sl = [slice(None)] * (2 * nd + 1)
    for j in range(nd):
        sl[2 + 2 * j] = kpos[j]
    return tuple(sl)


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    k, s, p, d, out = _pool_args(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode)
    r = apply1(MaxPoolNd, input, nd, k, s, p, d, out, bool(return_indices)) if not return_indices else \
        apply(MaxPoolNd, input, nd, k, s, p, d, out, True)
    return r


@register("max_pool1d", method=False)
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@register("max_pool2d", method=False)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@register("max_pool3d", method=False)
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ---- average pooling ----------------------------------------------------------------------------------
def _avg_divisor(xp, S, k, s, p, out, count_include_pad, dtype):
    """Per-output window size (PyTorch's rule), as a broadcastable product of per-axis vectors."""
    div = None
    nd = len(S)
    for i in range(nd):
        o = np.arange(out[i]) * s[i] - p[i]
        end = np.minimum(o + k[i], S[i] + p[i])
        if count_include_pad:
            n = end - o
        else:
            n = np.minimum(end, S[i]) - np.maximum(o, 0)
        shp = [1] * (nd + 1)
        shp[i + 1] = out[i]
        n = n.astype(np.float64).reshape(shp)
        div = n if div is None else div * n
    return xp.asarray(div.astype(dtype))


class AvgPoolNd(Node):
    __slots__ = ()

    def forward(self, x, nd, k, s, p, out, cip, div_override):
        xp = xp_of(x)
        xb, lead = _flat_lead(x, nd)
        S = xb.shape[1:]
        if _is_tiling(k, s, p, (1,) * nd, out, S):
            xr, _ = _tiles(xb, k, out)
            views = [xr[_tile_sel(kpos, nd)] for kpos in np.ndindex(*k)]
            y = views[0].copy()
            for v in views[1:]:
                y += v
            div = float(div_override) if div_override else float(_prod(k))
            y *= 1.0 / div
            self.saved = (True, div, (nd, k, s, p, out, lead, S))
            return y.reshape(lead + out)
        xpad = _pad_to(xb, nd, p, out, k, s, (1,) * nd, 0)
        y = None
        for o in _offsets(k, (1,) * nd):
            v = xpad[_win(o, s, out, lead=1)]
            if y is None:
                y = v.copy()
            else:
                y += v
        if div_override:
            div = float(div_override)
            y /= div
        else:
            div = _avg_divisor(xp, S, k, s, p, out, cip, x.dtype)
            y /= div
        self.saved = (False, div, (nd, k, s, p, out, lead, S))
        return y.reshape(lead + out)

    def backward(self, g):
        tiling, div, (nd, k, s, p, out, lead, S) = self.saved
        xp = xp_of(g)
        B = _prod(lead)
        gd = g.reshape((B,) + out) / div
        if tiling:
            covered = tuple(o * kk for o, kk in zip(out, k))
            gx = xp.empty((B,) + S, dtype=g.dtype) if covered == S else xp.zeros((B,) + S, dtype=g.dtype)
            gr, _ = _tiles(gx, k, out)
            for kpos in np.ndindex(*k):
                gr[_tile_sel(kpos, nd)] = gd
            return gx.reshape(lead + S)
        hi = tuple(max(0, (o - 1) * ss + kk - a - pp) for a, o, kk, ss, pp in zip(S, out, k, s, p))
        buf = xp.zeros((B,) + tuple(a + pp + h for a, pp, h in zip(S, p, hi)), dtype=g.dtype)
        for o in _offsets(k, (1,) * nd):
            w = buf[_win(o, s, out, lead=1)]
            w += gd
        gx = buf[(slice(None),) + tuple(slice(pp, pp + a) for pp, a in zip(p, S))]
        return gx.reshape(lead + S)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, p, d, out = _pool_args(op, nd, input, kernel_size, stride, padding, 1, ceil_mode)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: not implemented for '{input.dtype}' (expected a floating point input)")
    if divisor_override is not None and int(divisor_override) == 0:
        raise RuntimeError(f"{op}: divisor must be not zero")
    return apply1(AvgPoolNd, input, nd, k, s, p, out, bool(count_include_pad),
                  None if divisor_override is None else int(divisor_override))


@register("avg_pool1d", method=False)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    """Power-average pooling: (sum over the window of x^p) ^ (1/p), as average pooling of x^p times the
    window size. sign(s) * relu(|s|) equals s but has PyTorch's gradient at s = 0 (zero); a negative window
    sum (odd p) gives nan, as in PyTorch."""
    from .elementwise import sign, abs as abs_, relu
    k = _ntuple(kernel_size, nd, "kernel_size", f"lp_pool{nd}d")
    pooled = _avg_pool(f"lp_pool{nd}d", nd, input.pow(norm_type), k, stride, 0, ceil_mode, True, None)
    return (sign(pooled) * relu(abs_(pooled))).mul(_prod(k)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ---- separable linear resampling (adaptive avg pooling, interpolation) --------------------------------------
class AxisMaps(Node):
    """y = x with each of the last nd axes multiplied by a (out, in) matrix; None = identity/an index map.

    maps[i] is ("mat", M) or ("rep", r) (nearest upsampling by an integer factor: a broadcast)."""
    __slots__ = ()

    def forward(self, x, maps):
        self.saved = maps
        nd = len(maps)
        y = x
        for i, m in enumerate(maps):
            ax = x.ndim - nd + i
            y = _apply_map(y, ax, m, False)
        return y.copy() if y is x else y   # a new tensor, as PyTorch's, even when nothing is resampled

    def backward(self, g):
        maps = self.saved
        nd = len(maps)
        for i, m in enumerate(maps):
            ax = g.ndim - nd + i
            g = _apply_map(g, ax, m, True)
        return g


def _apply_map(x, ax, m, adjoint):
    xp = xp_of(x)
    kind, M = m
    if kind == "id":
        return x
    if kind == "rep":
        r = M
        if not adjoint:
            shp = x.shape[:ax + 1] + (r,) + x.shape[ax + 1:]
            y = xp.broadcast_to(xp.expand_dims(x, ax + 1), shp)
            return y.reshape(x.shape[:ax] + (x.shape[ax] * r,) + x.shape[ax + 1:])
        v = x.reshape(x.shape[:ax] + (x.shape[ax] // r, r) + x.shape[ax + 1:])
        pre = (slice(None),) * (ax + 1)
        out = v[pre + (0,)].copy()
        for j in range(1, r):   # r strided adds: much faster than NumPy's reduction over a short middle axis
            out += v[pre + (j,)]
        return out
    M = M if M.dtype == x.dtype else M.astype(x.dtype)
    if adjoint:
        M = M.T
    if ax == x.ndim - 1:
        return x @ M.T
    xm = xp.moveaxis(x, ax, -1)
    return xp.moveaxis(xm @ M.T, -1, ax)


def _adaptive_avg_matrix(n_in, n_out):
    M = np.zeros((n_out, n_in))
    for i in range(n_out):
        a = (i * n_in) // n_out
        b = -((-(i + 1) * n_in) // n_out)
        M[i, a:b] = 1.0 / (b - a)
    return M


def _adaptive_sizes(op, nd, input, output_size):
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D tensor, but got input of size: "
                           f"{list(input.shape)}")
    S = tuple(input.shape[-nd:])
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise RuntimeError(f"{op}: output_size must be {nd}, but got {len(output_size)}")
        out = tuple(S[i] if output_size[i] is None else int(output_size[i]) for i in range(nd))
    else:
        out = (int(output_size),) * nd
    if any(a == 0 for a in S):
        raise RuntimeError(f"{op}: Expected input to have non-zero size for non-batch dimensions, but input has "
                           f"sizes {list(input.shape)}")
    if any(o < 0 for o in out):
        raise RuntimeError(f"{op}: output_size must be non-negative, got {list(out)}")
    return S, out


def _adaptive_avg(op, nd, input, output_size):
    S, out = _adaptive_sizes(op, nd, input, output_size)
    xp = xp_of(input._data)
    maps = tuple(("id", None) if a == o else ("mat", xp.asarray(_adaptive_avg_matrix(a, o).astype(input._data.dtype)))
                 for a, o in zip(S, out))
    if not _isfloat(input._data.dtype):
        raise RuntimeError(f"{op}: not implemented for '{dt}'")
    return apply1(AxisMaps, input, maps)


@register("adaptive_avg_pool1d", method=False)
def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


# ---- adaptive max pooling -----------------------------------------------------------------------------
class AdaptiveMaxPoolNd(Node):
    __slots__ = ()

    def forward(self, x, nd, out):
        xp = xp_of(x)
        xb, lead = _flat_lead(x, nd)
        S = xb.shape[1:]
        B = xb.shape[0]
        y = xp.empty((B,) + out, dtype=x.dtype)
        idx = xp.empty((B,) + out, dtype=np.int64)
        ranges = [[((i * a) // o, -((-(i + 1) * a) // o)) for i in range(o)] for a, o in zip(S, out)]
        inner = [_prod(S[i + 1:]) for i in range(nd)]
        isf = _isfloat(x.dtype)
        for pos in np.ndindex(*out):
            bounds = [ranges[i][pos[i]] for i in range(nd)]
            w = xb[(slice(None),) + tuple(slice(a, b) for a, b in bounds)].reshape(B, -1)
            j = xp.argmax(w, axis=1)
            if isf:  # NaN wins, as in PyTorch (argmax already returns the first NaN in numpy)
                pass
            y[(slice(None),) + pos] = w[xp.arange(B), j]
            wshape = [b - a for a, b in bounds]
            # local flat index -> input flat index
            rem = j
            flat = 0
            for i in range(nd - 1, -1, -1):
                c = rem % wshape[i]
                rem = rem // wshape[i]
                flat = flat + (c + bounds[i][0]) * inner[i]
            idx[(slice(None),) + pos] = flat
        self.saved = (idx, lead, S, out)
        return y.reshape(lead + out), idx.reshape(lead + out)

    def backward(self, g):
        idx, lead, S, out = self.saved
        xp = xp_of(g)
        B = _prod(lead)
        return _scatter_flat(xp, g.reshape(B, -1), idx.reshape(B, -1), _prod(S), g.dtype, False).reshape(lead + S)


def _adaptive_max(op, nd, input, output_size, return_indices):
    S, out = _adaptive_sizes(op, nd, input, output_size)
    y, idx = apply(AdaptiveMaxPoolNd, input, nd, out)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


@register("adaptive_max_pool1d", method=False)
def _torch_adaptive_max_pool1d(input, output_size):
    """torch.adaptive_max_pool1d always returns (values, indices), unlike F.adaptive_max_pool1d."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, True)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


# ---- max unpooling ------------------------------------------------------------------------------------
class MaxUnpool(Node):
    __slots__ = ()

    def forward(self, x, idx, nd, out):
        xp = xp_of(x)
        lead = x.shape[:-nd]
        B = _prod(lead)
        P = _prod(out)
        i2 = idx.reshape(B, -1)
        if i2.size and (int(i2.min()) < 0 or int(i2.max()) >= P):
            raise RuntimeError(f"max_unpool{nd}d: Found an invalid max index: {int(i2.max())} (output volumes are of "
                               f"size {'x'.join(map(str, out))})")
        y = xp.zeros((B, P), dtype=x.dtype)
        y[xp.arange(B)[:, None], i2] = x.reshape(B, -1)
        self.saved = (i2, x.shape)
        return y.reshape(lead + out)

    def backward(self, g):
        i2, xshape = self.saved
        xp = xp_of(g)
        B = i2.shape[0]
        return xp.take_along_axis(g.reshape(B, -1), i2, axis=1).reshape(xshape), None


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    k = _ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else _ntuple(stride, nd, "stride", op)
    p = _ntuple(padding, nd, "padding", op)
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D tensor, but got input of size: {list(input.shape)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: Expected shape of indices to be same as that of the input tensor "
                           f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}")
    S = tuple(input.shape[-nd:])
    default = tuple((a - 1) * ss - 2 * pp + kk for a, ss, pp, kk in zip(S, s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(a) for a in output_size)[-nd:]
        for o, dflt, ss in zip(out, default, s):
            if not (dflt - ss < o < dflt + ss):
                raise RuntimeError(f"{op}: invalid output_size {list(out)} (dim must be between {dflt - ss} and "
                                   f"{dflt + ss})")
    return apply(MaxUnpool, input, indices, nd, out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


# ---- pixel shuffle (views and one permute copy; gradients come from the movement ops) ---------------------
@register("pixel_shuffle", method=False)
def pixel_shuffle(input, upscale_factor):
    r = int(upscale_factor)
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    *lead, C, H, W = input.shape
    if C % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={C} is not divisible by {r * r}")
    n = len(lead)
    x = input.reshape(*lead, C // (r * r), r, r, H, W)
    perm = list(range(n)) + [n, n + 3, n + 1, n + 4, n + 2]
    return x.permute(*perm).reshape(*lead, C // (r * r), H * r, W * r)


@register("pixel_unshuffle", method=False)
def pixel_unshuffle(input, downscale_factor):
    r = int(downscale_factor)
    if input.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    *lead, C, H, W = input.shape
    if H % r or W % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, but got "
                           f"height={H}, width={W}, downscale_factor={r}")
    n = len(lead)
    x = input.reshape(*lead, C, H // r, r, W // r, r)
    perm = list(range(n)) + [n, n + 2, n + 4, n + 1, n + 3]
    return x.permute(*perm).reshape(*lead, C * r * r, H // r, W // r)


# ---- interpolate --------------------------------------------------------------------------------------
def _nearest_matrix(n_in, n_out, scale, exact):
    i = np.arange(n_out, dtype=np.float64)
    if exact:
        src = np.floor((i + 0.5) * scale).astype(np.int64)
    else:
        src = np.floor(i * scale).astype(np.int64)
    src = np.minimum(src, n_in - 1)
    M = np.zeros((n_out, n_in))
    M[np.arange(n_out), src] = 1.0
    return M


def _linear_matrix(n_in, n_out, scale, align_corners):
    i = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = np.maximum((i + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    M = np.zeros((n_out, n_in))
    np.add.at(M, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(M, (np.arange(n_out), i1), lam)
    return M


_MODES_ND = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate(): argument 'input' must be Tensor, not {type(input).__name__}")
    nd = input.dim() - 2
    if nd < 1:
        raise ValueError(f"interpolate: expected a batched input with at least 3 dimensions (N, C, ...), but got "
                         f"input of size {list(input.shape)}")
    if mode in _MODES_ND and _MODES_ND[mode] != nd:
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {_MODES_ND[mode] + 2}D input")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if mode not in ("nearest", "nearest-exact", "area", "linear", "bilinear", "trilinear"):
        raise NotImplementedError(f"interpolate: mode '{mode}' is not supported (nearest, nearest-exact, area, "
                                  "linear, bilinear, trilinear are)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    S = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = tuple(int(a) for a in size) if isinstance(size, (tuple, list)) else (int(size),) * nd
        if len(out) != nd:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(S)} and output size of {list(out)}. Please provide input "
                             "tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
        scales = [a / o for a, o in zip(S, out)]
    else:
        sf = tuple(float(a) for a in scale_factor) if isinstance(scale_factor, (tuple, list)) else \
            (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {list(S)} and scale_factor of shape {list(sf)}.")
        out = tuple(int(math.floor(a * f)) for a, f in zip(S, sf))
        scales = [a / o for a, o in zip(S, out)] if recompute_scale_factor else [1.0 / f for f in sf]
    if any(o <= 0 for o in out):
        raise RuntimeError(f"interpolate: output size {list(out)} must be positive (input size {list(S)})")
    if mode == "area":
        return _adaptive_avg("adaptive_avg_pool%dd" % nd, nd, input, out)
    xp = xp_of(input._data)
    dt = input._data.dtype
    maps = []
    for a, o, sc in zip(S, out, scales):
        if mode == "nearest" and o % a == 0 and abs(sc * (o // a) - 1.0) < 1e-12:
            maps.append(("rep", o // a) if o != a else ("id", None))
        elif mode in ("nearest", "nearest-exact"):
            maps.append(("mat", xp.asarray(_nearest_matrix(a, o, sc, mode == "nearest-exact").astype(dt))))
        else:
            maps.append(("mat", xp.asarray(_linear_matrix(a, o, sc, bool(align_corners)).astype(dt))))
    if not _isfloat(dt) and any(m[0] == "mat" for m in maps):
        raise RuntimeError(f"interpolate: '{mode}' is not implemented for '{input.dtype}'")
    return apply1(AxisMaps, input, tuple(maps))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
