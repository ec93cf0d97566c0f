"""Loss functions of disttensor.nn.functional (reduction='mean' | 'sum' | 'none').

cross_entropy is one fused node (log-softmax, pick, label smoothing, weights and ignore_index in one
forward and one backward pass; fused numba row kernels for big CPU inputs); pointwise losses are one node
each with their derivative beside them; margin/embedding losses are composed from Tensor ops.
"""
import warnings

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from ._apply import apply
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC
from .nn_activation import use_numba, _sig, _k as _act_kernels, run_rows, row_slices

_ndarray = np.ndarray
_INT_RED = {0: "none", 1: "mean", 2: "sum"}


def legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the deprecated size_average/reduce flags onto `reduction`."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='%s' instead." % (
        "none" if reduce is False else ("mean" if size_average in (None, True) else "sum")), stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _red(reduction, name):
    if reduction.__class__ is int:
        return _INT_RED[reduction]
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(xp, l, reduction):
    if reduction == "mean":
        return l.mean()
    if reduction == "sum":
        return l.sum()
    return l


def _gscale(g, reduction, n):
    """The upstream gradient spread over the elementwise losses (g is 0-d unless 'none')."""
    if reduction == "mean":
        return g / n
    return g


def _arr(t):
    return t._data if isinstance(t, Tensor) else t


# ---- cross entropy / nll ----------------------------------------------------------------------
def _classes_last(xp, x):
    """(N, C, d1, ...) -> (M, C); (C,) -> (1, C). A view when already 2-D."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return xp.ascontiguousarray(xp.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _restore(xp, g2, shape):
    if len(shape) <= 2:
        # no reshape view when the shape already matches: a leaf can then adopt the array (no copy)
        return g2 if g2.shape == shape else g2.reshape(shape)
    return xp.moveaxis(g2.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],)), -1, 1)


def _check_targets(xp, t1, valid, c, name):
    bad = valid & ((t1 < 0) | (t1 >= c))
    if bool(bad.any()):
        v = int(t1[xp.argmax(bad)])
        raise IndexError(f"{name}: Target {v} is out of bounds (expected 0 <= target < {c}, the number of classes, "
                         "or the ignore_index).")


_TINY = {np.dtype(np.float32): np.float32(np.finfo(np.float32).tiny * 2.0 ** 26),
         np.dtype(np.float64): np.float64(np.finfo(np.float64).tiny * 2.0 ** 26)}


class CrossEntropy(Node):
    """Class-index targets: log_softmax + nll (+ label smoothing, class weights, ignore_index) fused. Big
    CPU float inputs run on two numba row kernels (rows.ce_fwd / ce_bwd); the rest on NumPy/CuPy."""
    __slots__ = ("shape", "red", "eps", "tshape", "rows")

    def forward(self, x, t, w, ignore_index, reduction, eps):
        xp = xp_of(x)
        self.shape, self.red, self.eps, self.tshape = x.shape, reduction, eps, t.shape
        self.rows = None
        x2 = _classes_last(xp, x)
        m_, c = x2.shape
        if use_numba(x2) and m_ > 1:
            ka = _act_kernels()
            if ka is not None:
                return self._forward_rows(ka.rows, x2, t, w, ignore_index, reduction, eps)
        t1 = t.reshape(-1)
        valid = t1 != ignore_index
        _check_targets(xp, t1, valid, c, "cross_entropy")
        tt = xp.where(valid, t1, 0)
        dt = x.dtype
        want_sumz = eps > 0
        mx = x2.max(axis=1, keepdims=True)
        z = x2 - mx
        p = xp.exp(z)
        s = p.sum(axis=1, keepdims=True)
        ls = xp.log(s)
        p /= s
        ar = xp.arange(m_)
        logpt = z[ar, tt] - ls[:, 0]
        if want_sumz:
            if w is not None:
                sumz = (z * w).sum(axis=1) - ls[:, 0] * w.sum()
            else:
                sumz = z.sum(axis=1) - c * ls[:, 0]
        if w is not None:
            wt = w[tt] * valid
            wsum = w.sum()
        else:
            wt = valid.astype(dt)
            wsum = float(c)
        loss = wt * logpt
        loss *= -(1.0 - eps)
        if want_sumz:
            loss -= (eps / c) * (sumz * valid)
        denom = wt.sum()
        self.saved = (p, tt, wt, valid, w, wsum, denom)
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, as PyTorch
                return (loss.sum() / denom).astype(dt, copy=False)
        if reduction == "sum":
            return loss.sum()
        return loss.reshape(t.shape)

    def _forward_rows(self, rows, x2, t, w, ignore_index, reduction, eps):
        # the numba path: one fused row kernel (softmax, picked log-probability, weights, ignore_index,
        # smoothing term); only reductions over the per-row losses are left to NumPy
        m_, c = x2.shape
        dt = x2.dtype
        t1 = t.reshape(-1)
        if t1.dtype != np.int64:
            t1 = t1.astype(np.int64)
        if w is not None:
            w1 = np.ascontiguousarray(w, dtype=dt)
            wsum = dt.type(w1.sum())
        else:
            w1 = np.empty(0, dt)
            wsum = dt.type(c)
        p = np.empty_like(x2)
        loss = np.empty(m_, dt)
        wt = np.empty(m_, dt)
        valid = np.empty(m_, dt)
        bad = np.zeros(1, np.int64)
        run_rows(rows, rows.ce_fwd, row_slices(m_, x2.nbytes), x2, t1, int(ignore_index), w1, dt.type(eps), wsum,
                 p, loss, wt, valid, bad)
        if bad[0]:
            _check_targets(np, t1, t1 != ignore_index, c, "cross_entropy")
        self.rows = rows
        denom = wt.sum() if reduction == "mean" else None
        self.saved = (p, t1, wt, valid, w1, wsum, denom)
        if reduction == "mean":
            if denom == 0:  # every target ignored: nan, as PyTorch
                return np.array(np.nan, dt)
            return loss.sum() / denom
        if reduction == "sum":
            return loss.sum()
        return loss.reshape(t.shape)

    def backward(self, g):
        if self.rows is not None:
            p, t1, wt, valid, w1, wsum, denom = self.saved
            dt = p.dtype
            if self.red == "mean":
                r = np.asarray(g / denom, dtype=dt).reshape(1)
            elif self.red == "sum":
                r = np.asarray(g, dtype=dt).reshape(1)
            else:
                r = np.ascontiguousarray(g.reshape(-1), dtype=dt)
            gx = np.empty_like(p)
            rows = self.rows
            run_rows(rows, rows.ce_bwd, row_slices(p.shape[0], p.nbytes), p, t1, wt, valid, r, w1, dt.type(self.eps),
                     wsum, _TINY[dt], gx)
            return _restore(np, gx, self.shape), None, None
        p, tt, wt, valid, w, wsum, denom = self.saved
        xp = xp_of(p)
        eps = self.eps
        c = p.shape[1]
        if self.red == "mean":
            r = (g / denom).astype(p.dtype, copy=False)
        elif self.red == "sum":
            r = g
        else:
            r = g.reshape(-1)
        b = (1.0 - eps) * wt * r
        a = b + (eps / c) * wsum * (valid * r) if eps else b
        gx = p * xp.asarray(a, dtype=p.dtype).reshape(-1, 1)
        gx[xp.arange(p.shape[0]), tt] -= b
        if eps:
            vr = (valid * r)[:, None] * (eps / c)
            gx -= vr * w[None, :] if w is not None else vr
        return _restore(xp, gx, self.shape), None, None


class CrossEntropyProb(Node):
    """Class-probability targets (same shape as the input)."""
    __slots__ = ("shape", "red", "eps", "n")

    def forward(self, x, t, w, reduction, eps):
        xp = xp_of(x)
        self.shape, self.red, self.eps = x.shape, reduction, eps
        x2 = _classes_last(xp, x)
        t2 = _classes_last(xp, t)
        c = x2.shape[1]
        if eps:
            t2 = t2 * (1.0 - eps) + eps / c
        mx = x2.max(axis=1, keepdims=True)
        logp = x2 - mx
        logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
        wt = t2 * w if w is not None else t2
        loss = -(logp * wt).sum(axis=1)
        self.n = x2.shape[0]
        self.saved = (logp, wt, t2, w)
        if x.ndim == 1:
            loss = loss.reshape(())
        elif x.ndim > 2:
            loss = loss.reshape((x.shape[0],) + tuple(x.shape[2:]))
        return _reduce(xp, loss, reduction)

    def backward(self, g):
        logp, wt, t2, w = self.saved
        xp = xp_of(logp)
        r = _gscale(g, self.red, self.n)
        r = r.reshape(-1, 1) if self.red == "none" else r
        p = xp.exp(logp)
        gx = p * wt.sum(axis=1, keepdims=True)
        gx -= wt
        gx *= r
        gt = -logp * r
        if w is not None:
            gt *= w
        if self.eps:
            gt *= (1.0 - self.eps)
        return _restore(xp, gx, self.shape), _restore(xp, gt, self.shape), None


def _check_nd(input, target, name):
    xs, ts = tuple(input.shape), tuple(target.shape)
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(f"{name}: 1D input {xs} needs a 0-D target, got target of shape {ts}")
        return
    if input.ndim == 0:
        raise RuntimeError(f"{name}: input must have at least one dimension, got a 0-D tensor")
    if ts[:1] != xs[:1]:
        raise ValueError(f"Expected input batch_size ({xs[0]}) to match target batch_size "
                         f"({ts[0] if ts else 0}).")
    if ts != xs[:1] + xs[2:]:
        raise RuntimeError(f"{name}: expected target of shape {xs[:1] + xs[2:]} for input of shape {xs}, got "
                           f"target of shape {ts}")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    if _AC[0]:
        input, target, weight = _autocast.fp32(input, target, weight)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    tk = target._data.dtype.kind
    c = input.shape[1] if input.ndim >= 2 else input.shape[0] if input.ndim == 1 else 0
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {c} classes or no "
                           f"classes but got weight tensor of shape: {list(weight.shape)}")
    if tk == "f" or target._data.dtype.name == "bfloat16":
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"cross_entropy: class-probability target of shape {tuple(target.shape)} must have "
                               f"the input's shape {tuple(input.shape)}")
        return apply(CrossEntropyProb, input, target, weight, reduction, float(label_smoothing))
    if tk not in "iu":
        raise RuntimeError(f"cross_entropy: expected target of an integer dtype (class indices) or floating dtype "
                           f"(class probabilities), got {target.dtype}")
    _check_nd(input, target, "cross_entropy")
    return apply(CrossEntropy, input, target, weight, ignore_index, reduction, float(label_smoothing))


def _put_axis1(xp, a, idx, vals):
    """a[..., idx, ...] = vals along axis 1 (idx has size 1 there), also where xp lacks put_along_axis."""
    if hasattr(xp, "put_along_axis"):
        xp.put_along_axis(a, idx, vals, axis=1)
        return
    ix = list(xp.ix_(*[xp.arange(s) for s in idx.shape]))
    ix[1] = idx
    a[tuple(ix)] = vals


class NllLoss(Node):
    __slots__ = ("shape", "red", "denom", "tshape")

    def forward(self, x, t, w, ignore_index, reduction):
        xp = xp_of(x)
        self.shape, self.red = x.shape, reduction
        if x.ndim == 1:
            x = x.reshape(1, -1)
            t = t.reshape(1)
        c = x.shape[1]
        valid = t != ignore_index
        _check_targets(xp, t.reshape(-1), valid.reshape(-1), c, "nll_loss")
        tt = xp.expand_dims(xp.where(valid, t, 0), 1)
        picked = xp.take_along_axis(x, tt, axis=1)[:, 0]
        wt = w[tt[:, 0]] * valid if w is not None else valid.astype(x.dtype)
        loss = -(picked * wt)
        self.saved = (tt, wt)
        self.tshape = x.shape
        if reduction == "mean":
            self.denom = wt.sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                return (loss.sum() / self.denom).astype(x.dtype, copy=False)
        if reduction == "sum":
            return loss.sum()
        return loss.reshape(()) if len(self.shape) == 1 else loss

    def backward(self, g):
        tt, wt = self.saved
        xp = xp_of(wt)
        if self.red == "mean":
            v = -wt * (g / self.denom)
        elif self.red == "sum":
            v = -wt * g
        else:
            v = -wt * g.reshape(wt.shape)
        gx = xp.zeros(self.tshape, dtype=wt.dtype)
        _put_axis1(xp, gx, tt, xp.expand_dims(v.astype(wt.dtype, copy=False), 1))
        return gx.reshape(self.shape), None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    if _AC[0]:
        input, weight = _autocast.fp32(input, weight)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "nll_loss")
    _check_nd(input, target, "nll_loss")
    return apply(NllLoss, input, target, weight, ignore_index, reduction)


# ---- pointwise losses -------------------------------------------------------------------------
class PointLoss(Node):
    """Elementwise loss l(a, b): subclasses define f(xp, a, b, *c) -> (loss, saved) and
    d(xp, saved, *c) -> (dl/da, dl/db)."""
    __slots__ = ("red", "n", "c")

    def forward(self, a, b, reduction, *c):
        xp = xp_of(a)
        l, self.saved = self.f(xp, a, b, *c)
        self.red, self.n, self.c = reduction, l.size, c
        return _reduce(xp, l, reduction)

    def backward(self, g):
        xp = xp_of(g)
        da, db = self.d(xp, self.saved, *self.c)
        r = _gscale(g, self.red, self.n)
        return (None if da is None else da * r), (None if db is None else db * r)


def _pl(name, f, d):
    return type(name, (PointLoss,), {"__slots__": (), "f": staticmethod(f), "d": staticmethod(d)})


def _mse_f(xp, a, b):
    d = a - b
    return d * d, d


def _mse_d(xp, d):
    return 2 * d, -2 * d


def _l1_f(xp, a, b):
    d = a - b
    return xp.abs(d), d


def _l1_d(xp, d):
    s = xp.sign(d)
    return s, -s


def _sl1_f(xp, a, b, beta):
    d = a - b
    ad = xp.abs(d)
    if beta == 0:
        return ad, d
    return xp.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta), d


def _sl1_d(xp, d, beta):
    if beta == 0:
        s = xp.sign(d)
    else:
        s = xp.where(d < -beta, -1, xp.where(d > beta, 1, d / beta)).astype(d.dtype, copy=False)
    return s, -s


def _huber_f(xp, a, b, delta):
    d = a - b
    ad = xp.abs(d)
    return xp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)), d


def _huber_d(xp, d, delta):
    s = xp.clip(d, -delta, delta)
    return s, -s


def _softmargin_f(xp, a, y):
    z = -a * y
    return xp.log1p(xp.exp(z)), (a, y, z)


def _softmargin_d(xp, s):
    a, y, z = s
    sg = _sig(xp, z)
    return -y * sg, -a * sg


def _kl_f(xp, a, t, log_target):
    if log_target:
        et = xp.exp(t)
        return et * (t - a), (a, t, et)
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = xp.where(t > 0, xp.log(xp.where(t > 0, t, 1)), 0).astype(t.dtype, copy=False)
    return t * lt - t * a, (a, t, lt)


def _kl_d(xp, s, log_target):
    a, t, e = s
    if log_target:
        return -e, e * (t - a + 1)
    return -t, xp.where(t > 0, e + 1 - a, -a).astype(t.dtype, copy=False)


MseLoss = _pl("MseLoss", _mse_f, _mse_d)
L1Loss = _pl("L1Loss", _l1_f, _l1_d)
SmoothL1Loss = _pl("SmoothL1Loss", _sl1_f, _sl1_d)
HuberLoss = _pl("HuberLoss", _huber_f, _huber_d)
SoftMarginLoss = _pl("SoftMarginLoss", _softmargin_f, _softmargin_d)
KlDiv = _pl("KlDiv", _kl_f, _kl_d)


def _bshape(input, target, name):
    xs, ts = tuple(input.shape), tuple(target.shape)
    if xs != ts:
        try:
            np.broadcast_shapes(xs, ts)
        except ValueError:
            raise RuntimeError(f"{name}: the size of input {xs} and of target {ts} cannot be broadcast "
                               "together") from None
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      "same size.", stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _AC[0]:
        input, target = _autocast.fp32(input, target)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "mse_loss")
    _bshape(input, target, "mse_loss")
    r = apply(MseLoss, input, target, reduction)
    return r


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    if _AC[0]:
        input, target = _autocast.fp32(input, target)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "l1_loss")
    _bshape(input, target, "l1_loss")
    return apply(L1Loss, input, target, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    if _AC[0]:
        input, target = _autocast.fp32(input, target)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _bshape(input, target, "smooth_l1_loss")
    return apply(SmoothL1Loss, input, target, reduction, float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    if _AC[0]:
        input, target = _autocast.fp32(input, target)
    reduction = _red(reduction, "huber_loss")
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _bshape(input, target, "huber_loss")
    return apply(HuberLoss, input, target, reduction, float(delta))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "soft_margin_loss")
    _bshape(input, target, "soft_margin_loss")
    return apply(SoftMarginLoss, input, target, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if _AC[0]:
        input, target = _autocast.fp32(input, target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction.__class__ is int:
        reduction = _INT_RED[reduction]
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if reduction == "batchmean":
        r = apply(KlDiv, input, target, "sum", bool(log_target))
        return r / input.shape[0] if input.ndim else r
    return apply(KlDiv, input, target, _red(reduction, "kl_div"), bool(log_target))


class Bce(Node):
    __slots__ = ("red", "n")

    def forward(self, x, t, w, reduction):
        xp = xp_of(x)
        lx = xp.maximum(xp.log(x), -100.0)
        l1x = xp.maximum(xp.log1p(-x), -100.0)
        l = -(t * lx + (1 - t) * l1x)
        if w is not None:
            l = l * w
        self.saved = (x, t, w, lx, l1x)
        self.red, self.n = reduction, l.size
        return _reduce(xp, l, reduction)

    def backward(self, g):
        x, t, w, lx, l1x = self.saved
        xp = xp_of(x)
        r = _gscale(g, self.red, self.n)
        gx = (x - t) / xp.maximum((1 - x) * x, 1e-12)
        gt = l1x - lx
        if w is not None:
            gx = gx * w
            gt = gt * w
        return gx * r, gt * r, None


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "binary_cross_entropy")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x = input._data
    if x.size and (bool((x < 0).any()) or bool((x > 1).any())):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    return apply(Bce, input, target, weight, reduction)


class BceLogits(Node):
    __slots__ = ("red", "n")

    def forward(self, x, t, w, pw, reduction):
        xp = xp_of(x)
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # softplus(-x), stable
        if pw is not None:
            lw = (pw - 1) * t + 1
            l = (1 - t) * x + lw * sp
        else:
            lw = None
            l = (1 - t) * x + sp
        if w is not None:
            l = l * w
        self.saved = (x, t, w, pw, lw, sp)
        self.red, self.n = reduction, l.size
        return _reduce(xp, l, reduction)

    def backward(self, g):
        x, t, w, pw, lw, sp = self.saved
        xp = xp_of(x)
        r = _gscale(g, self.red, self.n)
        s = _sig(xp, x)
        if pw is None:
            gx = s - t
            gt = -x
        else:
            gx = (1 - t) - lw * (1 - s)
            gt = -x + (pw - 1) * sp
        if w is not None:
            gx = gx * w
            gt = gt * w
        return gx * r, gt * r, None, None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    if _AC[0]:
        input, target, weight, pos_weight = _autocast.fp32(input, target, weight, pos_weight)
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "binary_cross_entropy_with_logits")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    return apply(BceLogits, input, target, weight, pos_weight, reduction)


@register("binary_cross_entropy_with_logits", method=False)
def _t_bce_logits(input, target, weight=None, pos_weight=None, reduction=1):
    return binary_cross_entropy_with_logits(input, target, weight, reduction=_red(reduction, ""),
                                            pos_weight=pos_weight)


# ---- composite losses -------------------------------------------------------------------------
def _creduce(l, reduction):
    if reduction == "mean":
        return l.mean()
    if reduction == "sum":
        return l.sum()
    return l


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    from .elementwise import relu
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "margin_ranking_loss")
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    return _creduce(relu((input2 - input1) * target + margin), reduction)


def _pos_neg_masks(target, dt):
    t = target._data
    return Tensor._wrap((t == 1).astype(dt)), Tensor._wrap((t == -1).astype(dt))


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    from .elementwise import relu
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "cosine_embedding_loss")
    if input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"cosine_embedding_loss: expected 1D or 2D inputs of equal shape, got {input1.shape} and "
                           f"{input2.shape}")
    cos = _cos_eps(input1, input2)
    pos, neg = _pos_neg_masks(target, input1._data.dtype)
    l = (1 - cos) * pos + relu(cos - margin) * neg
    return _creduce(l, reduction)


class _CosEps(Node):
    """cos as in PyTorch's cosine_embedding_loss: x.y / sqrt((|x|^2 + 1e-12)(|y|^2 + 1e-12)), last dim."""
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, a, b):
        xp = xp_of(a)
        m1 = (a * a).sum(axis=-1, keepdims=True) + 1e-12
        m2 = (b * b).sum(axis=-1, keepdims=True) + 1e-12
        den = xp.sqrt(m1 * m2)
        cos = (a * b).sum(axis=-1, keepdims=True) / den
        self.saved = (a, b, m1, m2, den, cos)
        return cos[..., 0]

    def backward(self, g):
        a, b, m1, m2, den, cos = self.saved
        g = g[..., None]
        return g * (b / den - cos * a / m1), g * (a / den - cos * b / m2)


def _cos_eps(x1, x2):
    return apply(_CosEps, x1, x2)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    from .elementwise import relu
    from .nn_activation import pairwise_distance
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "triplet_margin_loss")
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"triplet_margin_loss: The anchor, positive, and negative tensors are expected to have "
                           f"the same number of dimensions, but got: anchor {anchor.ndim}D, positive "
                           f"{positive.ndim}D, and negative {negative.ndim}D inputs")
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_pn = pairwise_distance(positive, negative, p, eps)
        d_an = d_an - relu(d_an - d_pn)  # min(d_an, d_pn)
    return _creduce(relu(d_ap - d_an + margin), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    from .elementwise import relu
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "hinge_embedding_loss")
    pos, neg = _pos_neg_masks(target, input._data.dtype)
    return _creduce(input * pos + relu(margin - input) * neg, reduction)


# torch.<name> forms (reduction given as an int: 0 none, 1 mean, 2 sum)
@register("kl_div", method=False)
def _t_kl_div(input, target, reduction=1, *, log_target=False):
    return kl_div(input, target, reduction=_red(reduction, "kl_div") if reduction.__class__ is int else reduction,
                  log_target=log_target)


@register("margin_ranking_loss", method=False)
def _t_margin_ranking(input1, input2, target, margin=0.0, reduction=1):
    return margin_ranking_loss(input1, input2, target, margin, reduction=_red(reduction, ""))


@register("cosine_embedding_loss", method=False)
def _t_cos_emb(input1, input2, target, margin=0.0, reduction=1):
    return cosine_embedding_loss(input1, input2, target, margin, reduction=_red(reduction, ""))


@register("triplet_margin_loss", method=False)
def _t_triplet(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction=1):
    return triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction=_red(reduction, ""))


@register("hinge_embedding_loss", method=False)
def _t_hinge(input, target, margin=1.0, reduction=1):
    return hinge_embedding_loss(input, target, margin, reduction=_red(reduction, ""))


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    from .elementwise import exp, log
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "poisson_nll_loss")
    if log_input:
        l = exp(input) - target * input
    else:
        l = input - target * log(input + eps)
    if full:
        # Stirling term where target > 1 (differentiable in target, as in PyTorch)
        m = Tensor._wrap((target._data > 1).astype(target._data.dtype))
        ts = target * m + (1 - m)
        l = l + (ts * log(ts) - ts + 0.5 * log(ts * (2 * np.pi))) * m
    return _creduce(l, reduction)


@register("poisson_nll_loss", method=False)
def _t_poisson_nll(input, target, log_input, full, eps, reduction):
    return poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=_red(reduction, ""))


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    from .elementwise import log
    reduction = _red(reduction, "gaussian_nll_loss")
    if var.ndim != input.ndim and tuple(var.shape) == tuple(input.shape[:-1]):
        var = var.unsqueeze(-1)
    elif var.ndim == input.ndim and var.shape[-1] == 1 and tuple(var.shape[:-1]) == tuple(input.shape[:-1]):
        pass
    elif tuple(var.shape) != tuple(input.shape):
        raise ValueError(f"gaussian_nll_loss: var of shape {tuple(var.shape)} is incorrectly sized for input of shape "
                         f"{tuple(input.shape)}")
    v = var._data
    if bool((v < 0).any()):
        raise ValueError("var has negative entry/entries")
    # clamp like PyTorch: the value is clamped, the gradient passes as if it were not
    xp = xp_of(v)
    var = var + Tensor._wrap(xp.maximum(v, eps) - v)
    d = input - target
    l = (log(var) + d * d / var) * 0.5
    if full:
        l = l + 0.5 * float(np.log(2 * np.pi))
    return _creduce(l, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    from .nn_activation import logsigmoid
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "multilabel_soft_margin_loss")
    l = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        l = l * weight
    c = input.shape[-1] if input.ndim else 1
    l = l.sum(dim=input.ndim - 1) / c if input.ndim else l
    return _creduce(l, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge loss: sum over classes j != y of max(0, margin - x[y] + x[j])^p (times weight[y]),
    divided by the number of classes."""
    from .elementwise import relu
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input.ndim not in (1, 2) or target.ndim != input.ndim - 1 or \
            (input.ndim == 2 and target.shape[0] != input.shape[0]):
        raise RuntimeError(f"multi_margin_loss: inconsistent input size {list(input.shape)} and target size "
                           f"{list(target.shape)}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target.reshape(-1, 1)
    xp = xp_of(x._data)
    c = x.shape[1]
    _check_targets(xp, t._data.reshape(-1), True, c, "multi_margin_loss")
    other = Tensor._wrap(xp.arange(c)[None, :] != t._data).to(x.dtype)  # 0 at the target class
    z = relu(x - x.gather(1, t) + margin) * other
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.gather(0, t.reshape(-1)).unsqueeze(1)
    l = z.sum(dim=1) / c
    return _creduce(l if input.ndim == 2 else l.reshape(()), reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: target rows list class indices, ended by the first -1; the loss sums
    max(0, 1 - (x[j] - x[k])) over listed classes j and unlisted classes k, divided by the number of classes."""
    from .elementwise import relu
    reduction = _red(legacy_reduction(size_average, reduce, reduction), "multilabel_margin_loss")
    if input.ndim not in (1, 2) or tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"multilabel_margin_loss: inconsistent target size {list(target.shape)} for input of "
                           f"size {list(input.shape)}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target._data.reshape(x.shape)
    xp = xp_of(t)
    n, c = x.shape
    valid = xp.cumprod(t != -1, axis=1).astype(bool)  # listed positions: before the first -1
    _check_targets(xp, t.reshape(-1), valid.reshape(-1), c, "multilabel_margin_loss")
    tc = xp.where(valid, t, 0)
    listed = xp.zeros((n, c), dtype=bool)
    rows = xp.broadcast_to(xp.arange(n)[:, None], tc.shape)
    listed[rows[valid], tc[valid]] = True
    pairs = Tensor._wrap((valid[:, :, None] & ~listed[:, None, :]).astype(x._data.dtype))
    xj = x.gather(1, Tensor._wrap(tc.astype(np.int64)))
    l = (relu(1 - xj.unsqueeze(2) + x.unsqueeze(1)) * pairs).sum(dim=(1, 2)) / c
    return _creduce(l if input.ndim == 2 else l.reshape(()), reduction)


# ---- connectionist temporal classification ----------------------------------------------------------------
class CTC(Node):
    """Per-sample CTC negative log likelihood of log_probs (T, N, C); alpha/beta recursions in log space over
    the extended label sequence (blank, l1, blank, l2, ..., blank), vectorized over samples and positions,
    one step per time frame. Backward: exp(lp) minus the posterior of each class at each frame (PyTorch's
    form: the gradient that log_softmax's backward passes through unchanged)."""
    __slots__ = ()

    def forward(self, lp, ext, skip, in_len, ext_len, zero_infinity):
        xp = xp_of(lp)
        T, N, _ = lp.shape
        lp64 = lp.astype(np.float64)
        S = ext.shape[1]
        lpe = xp.take_along_axis(lp64, xp.broadcast_to(ext[None], (T, N, S)), axis=2)  # (T, N, S)
        ninf = -xp.inf
        s_idx = xp.arange(S)[None, :]
        inside = s_idx < ext_len[:, None]
        alpha = xp.full((T, N, S), ninf)
        alpha[0, :, 0] = lpe[0, :, 0]
        alpha[0, :, 1] = xp.where(ext_len > 1, lpe[0, :, 1], ninf)
        for t in range(1, T):
            prev = alpha[t - 1]
            a = prev.copy()
            a[:, 1:] = xp.logaddexp(a[:, 1:], prev[:, :-1])
            a[:, 2:] = xp.where(skip[:, 2:], xp.logaddexp(a[:, 2:], prev[:, :-2]), a[:, 2:])
            a = xp.where(inside, a + lpe[t], ninf)
            alpha[t] = xp.where((t < in_len)[:, None], a, ninf)
        rows = xp.arange(N)
        last = in_len - 1
        end1 = alpha[last, rows, ext_len - 1]
        end2 = xp.where(ext_len > 1, alpha[last, rows, xp.maximum(ext_len - 2, 0)], ninf)
        nll = -xp.logaddexp(end1, end2)
        self.saved = (lp64, lpe, ext, skip, in_len, ext_len, inside, alpha, nll, zero_infinity, lp.dtype)
        if zero_infinity:
            nll = xp.where(xp.isinf(nll), 0.0, nll)
        return nll.astype(lp.dtype)

    def backward(self, g):
        lp64, lpe, ext, skip, in_len, ext_len, inside, alpha, nll, zero_infinity, dtype = self.saved
        xp = xp_of(lp64)
        T, N, C = lp64.shape
        ninf = -xp.inf
        rows = xp.arange(N)
        # skip into s from s + 2 is allowed where it is allowed into s + 2 from s
        skip_from = xp.zeros_like(skip)
        skip_from[:, :-2] = skip[:, 2:]
        beta = xp.full(lpe.shape, ninf)
        last = in_len - 1
        beta[last, rows, ext_len - 1] = lpe[last, rows, ext_len - 1]
        two = ext_len > 1
        beta[last[two], rows[two], ext_len[two] - 2] = lpe[last[two], rows[two], ext_len[two] - 2]
        for t in range(T - 2, -1, -1):
            nxt = beta[t + 1]
            b = nxt.copy()
            b[:, :-1] = xp.logaddexp(b[:, :-1], nxt[:, 1:])
            b[:, :-2] = xp.where(skip_from[:, :-2], xp.logaddexp(b[:, :-2], nxt[:, 2:]), b[:, :-2])
            b = xp.where(inside, b + lpe[t], ninf)
            active = (t < last)[:, None]
            beta[t] = xp.where(active, b, beta[t])
        # occupancy of each extended position: alpha * beta / (p * emission), summed per class
        with np.errstate(invalid="ignore"):
            occ = xp.exp(alpha + beta + nll[None, :, None] - lpe)
        occ = xp.where(xp.isfinite(occ), occ, 0.0)
        post = xp.zeros((T, N, C))
        t_i = xp.broadcast_to(xp.arange(T)[:, None, None], occ.shape)
        n_i = xp.broadcast_to(rows[None, :, None], occ.shape)
        c_i = xp.broadcast_to(ext[None], occ.shape)
        xp.add.at(post, (t_i.reshape(-1), n_i.reshape(-1), c_i.reshape(-1)), occ.reshape(-1))
        grad = xp.exp(lp64) - post
        grad = xp.where((xp.arange(T)[:, None] < in_len[None, :])[:, :, None], grad, 0.0)
        if zero_infinity:
            grad = xp.where(xp.isinf(nll)[None, :, None], 0.0, grad)
        return (grad * g.astype(np.float64)[None, :, None]).astype(dtype)


def _lengths(xp, v, n, what):
    a = v._data if isinstance(v, Tensor) else xp.asarray(v)
    a = a.astype(np.int64).reshape(-1)
    if a.shape[0] != n:
        raise RuntimeError(f"ctc_loss: expected {what} to have size {n} (the batch size), got {a.shape[0]}")
    return a


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist Temporal Classification loss of log_probs (T, N, C) (or (T, C)) against targets given
    padded (N, S) or concatenated (sum of target_lengths,)."""
    reduction = _red(reduction, "ctc_loss")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    if lp.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D (T, N, C), got shape "
                           f"{list(log_probs.shape)}")
    xp = xp_of(lp._data)
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise RuntimeError(f"ctc_loss: blank must be in label range, got blank={blank} for {C} classes")
    in_len = _lengths(xp, input_lengths, N, "input_lengths")
    tg_len = _lengths(xp, target_lengths, N, "target_lengths")
    if bool((in_len > T).any()) or bool((in_len < 1).any()):
        raise RuntimeError(f"ctc_loss: input_lengths must be in 1..{T} (the input length), got {in_len.tolist()}")
    tg = targets._data.astype(np.int64)
    if unbatched and tg.ndim == 1 and tg.shape[0] >= int(tg_len.sum()) and targets.ndim == 1:
        tg = tg[None, :]
    smax = int(tg_len.max()) if N else 0
    if tg.ndim == 2:
        if tg.shape[0] != N or tg.shape[1] < smax:
            raise RuntimeError(f"ctc_loss: targets of shape {list(tg.shape)} do not hold target_lengths "
                               f"{tg_len.tolist()}")
        padded = tg[:, :smax]
    else:
        if tg.shape[0] != int(tg_len.sum()):
            raise RuntimeError(f"ctc_loss: concatenated targets have {tg.shape[0]} labels but target_lengths sum "
                               f"to {int(tg_len.sum())}")
        starts = xp.concatenate([xp.zeros(1, dtype=np.int64), xp.cumsum(tg_len)[:-1]])
        cols = xp.arange(smax)[None, :]
        padded = tg[xp.minimum(starts[:, None] + cols, max(tg.shape[0] - 1, 0))] if tg.shape[0] else \
            xp.zeros((N, smax), dtype=np.int64)
    valid = xp.arange(smax)[None, :] < tg_len[:, None]
    padded = xp.where(valid, padded, blank)
    if bool(((padded < 0) | (padded >= C)).any()):
        raise RuntimeError(f"ctc_loss: target labels must be in 0..{C - 1}")
    S = 2 * smax + 1
    ext = xp.full((N, S), blank, dtype=np.int64)
    ext[:, 1::2] = padded
    skip = xp.zeros((N, S), dtype=bool)
    skip[:, 3::2] = padded[:, 1:] != padded[:, :-1]  # label -> next label skips the blank between different labels
    ext_len = 2 * tg_len + 1
    nll = apply(CTC, lp, ext, skip, in_len, ext_len, bool(zero_infinity))
    if unbatched:
        nll = nll.reshape(())
    if reduction == "mean":
        return (nll / Tensor._wrap(xp.maximum(tg_len, 1).astype(nll._data.dtype).reshape(nll.shape))).mean()
    if reduction == "sum":
        return nll.sum()
    return nll
