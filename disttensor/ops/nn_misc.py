"""Dropout, embedding, one_hot, pad, linear, bilinear and scaled_dot_product_attention.

Random masks come from disttensor's per-device generator (`disttensor.random.generator_for`), so
`manual_seed` makes dropout reproducible.
"""
import math
import warnings

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of, device_of_array
from .._backends.blas import matmul as _mm
from ._apply import apply, apply1
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC
from .linalg import _HALF, _F32
from .. import random as _random
from .nn_activation import numba_kernels, FASTMATH, use_numba, softmax_rows, _k as _act_kernels, _threads, _pool, \
    run_rows, row_slices

_ndarray = np.ndarray


def _uniform(x, shape, generator=None):
    """Uniform [0, 1) float32 numbers on x's device."""
    rng = _random.generator_for(device_of_array(x), generator)
    return rng.random(shape, dtype=np.float32)


# ---- dropout ----------------------------------------------------------------------------------
class Scale(Node):
    """y = x * m (m a fixed array broadcast against x: a dropout mask already divided by 1 - p)."""
    __slots__ = ()

    def forward(self, x, m):
        self.saved = m
        return x * m

    def backward(self, g):
        return g * self.saved


class AffineMask(Node):
    """y = x * a + b with fixed arrays a, b (alpha dropout)."""
    __slots__ = ()

    def forward(self, x, a, b):
        self.saved = a
        r = x * a
        r += b
        return r

    def backward(self, g):
        return g * self.saved


def _check_p(p, name="dropout"):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{name} probability has to be between 0 and 1, but got {p}")


def _mask(x, shape, p):
    """Keep-mask scaled by 1 / (1 - p), in x's dtype."""
    xp = xp_of(x)
    if p == 1.0:
        return xp.zeros(shape, dtype=x.dtype)
    keep = _uniform(x, shape) >= p
    return keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))


def _run_masked(input, shape, p, inplace, name):
    x = input._data
    if x.size == 0:
        return input
    m = _mask(x, shape, p)
    if inplace:
        from .inplace import inplace_of
        return inplace_of(lambda t: apply1(Scale, t, m), name + "_")(input)
    return apply1(Scale, input, m)


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _run_masked(input, input._data.shape, p, inplace, "dropout")


@register("dropout", method=False)
def _t_dropout(input, p, train):
    return dropout(input, p, train)


def _feature_shape(x, batched_ndim, name):
    nd = x.ndim
    if nd not in (batched_ndim, batched_ndim - 1):
        raise RuntimeError(f"{name}: Expected {batched_ndim - 1}D or {batched_ndim}D input, but received a {nd}D "
                           f"input of shape {tuple(x.shape)}")
    if nd == batched_ndim - 1:  # unbatched (C, ...)
        return x.shape[:1] + (1,) * (nd - 1)
    return x.shape[:2] + (1,) * (nd - 2)


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    shape = _feature_shape(input._data, 3, "dropout1d")
    if not training or p == 0.0:
        return input
    return _run_masked(input, shape, p, inplace, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    nd = input.ndim
    if nd not in (3, 4):
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will result in an "
                      "error in a future release.", stacklevel=2)
    if not training or p == 0.0:
        return input
    x = input._data
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    shape = x.shape[:2] + (1,) * (nd - 2) if nd >= 2 else x.shape
    return _run_masked(input, shape, p, inplace, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    shape = _feature_shape(input._data, 5, "dropout3d")
    if not training or p == 0.0:
        return input
    return _run_masked(input, shape, p, inplace, "dropout3d")


@register("feature_dropout", method=False)
def _t_feature_dropout(input, p, train):
    _check_p(p)
    if not train or p == 0.0:
        return input
    x = input._data
    return _run_masked(input, x.shape[:2] + (1,) * (x.ndim - 2), p, False, "feature_dropout")


_SELU_NEG = -1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def _alpha(input, shape, p, inplace, name):
    x = input._data
    xp = xp_of(x)
    if p == 1.0:
        keep = xp.zeros(shape, dtype=x.dtype)
    else:
        keep = (_uniform(x, shape) >= p).astype(x.dtype)
    q = 1.0 - p
    a = (q + _SELU_NEG ** 2 * q * p) ** -0.5 if q > 0 else 0.0
    b = -a * _SELU_NEG * p
    mul = keep * x.dtype.type(a)
    add = (1 - keep) * x.dtype.type(a * _SELU_NEG) + x.dtype.type(b)
    if inplace:
        from .inplace import inplace_of
        return inplace_of(lambda t: apply1(AffineMask, t, mul, add), name + "_")(input)
    return apply1(AffineMask, input, mul, add)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _alpha(input, input._data.shape, p, inplace, "alpha_dropout")


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    if not training or p == 0.0:
        return input
    x = input._data
    return _alpha(input, x.shape[:2] + (1,) * (x.ndim - 2), p, inplace, "feature_alpha_dropout")


@register("alpha_dropout", method=False)
def _t_alpha_dropout(input, p, train):
    return alpha_dropout(input, p, train)


# ---- embedding --------------------------------------------------------------------------------
def _build_emb(numba):
    @numba.njit(cache=True, fastmath=FASTMATH)
    def scatter_rows(gw, idx, g):
        # gw[idx[i], :] += g[i, :]  (serial over rows: repeated indices never race)
        d = g.shape[1]
        for i in range(idx.shape[0]):
            r = idx[i]
            for j in range(d):
                gw[r, j] += g[i, j]

    class K:
        pass
    k = K()
    k.scatter_rows = scatter_rows
    return k


def _emb_kernels():
    return numba_kernels("emb", _build_emb)


class Embedding(Node):
    __slots__ = ("wshape", "pad", "freq")

    def forward(self, w, idx, padding_idx, scale_grad_by_freq):
        xp = xp_of(w)
        self.wshape, self.pad, self.freq = w.shape, padding_idx, scale_grad_by_freq
        self.saved = idx
        return xp.take(w, idx, axis=0)

    def backward(self, g):
        idx = self.saved
        xp = xp_of(g)
        n, d = self.wshape
        flat = idx.reshape(-1)
        g2 = g.reshape(-1, d)
        if self.freq or self.pad is not None:
            keep = flat != self.pad if self.pad is not None else None
            if self.freq:
                cnt = xp.bincount(flat, minlength=n)
                g2 = g2 / cnt[flat][:, None].astype(g2.dtype)
            if keep is not None and not bool(keep.all()):
                flat = flat[keep]
                g2 = g2[keep]
        gw = xp.zeros(self.wshape, dtype=g.dtype)
        if flat.size:
            k = _emb_kernels() if xp is np and g2.dtype.kind == "f" and g2.dtype.itemsize >= 4 else None
            if k is not None:
                k.scatter_rows(gw, flat.astype(np.int64, copy=False), np.ascontiguousarray(g2))
            else:
                xp.add.at(gw, flat, g2)
        return gw, None


def _renorm_(weight, idx, max_norm, norm_type):
    """Rows of weight used by idx with norm > max_norm scaled to max_norm, in place (no gradient)."""
    w = weight._data
    xp = xp_of(w)
    rows = xp.unique(idx.reshape(-1))
    sub = w[rows]
    if norm_type == 2:
        nrm = xp.sqrt((sub * sub).sum(axis=1))
    elif norm_type == math.inf:
        nrm = xp.abs(sub).max(axis=1)
    else:
        nrm = (xp.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(nrm > max_norm, max_norm / (nrm + 1e-7), 1.0).astype(w.dtype)
    w[rows] = sub * scale[:, None]
    weight._vc[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    idx = input._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: Expected tensor for argument #1 'indices' to have one of the following scalar "
                           f"types: Long, Int; but got {input.dtype} instead")
    n = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= n:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -n:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = n + padding_idx
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for a table of {n} embeddings "
                             f"(weight of shape {tuple(weight.shape)})")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return apply(Embedding, weight, idx, padding_idx, bool(scale_grad_by_freq))


@register("embedding", method=False)
def _t_embedding(weight, input, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return embedding(input, weight, None if padding_idx == -1 else padding_idx,
                     scale_grad_by_freq=scale_grad_by_freq)


def one_hot(tensor, num_classes=-1):
    t = tensor._data
    if t.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = xp_of(t)
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
        if not t.size:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
    if t.size and int(t.min()) < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if t.size and int(t.max()) >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), got "
                           f"{int(t.max())}")
    out = (t[..., None] == xp.arange(num_classes)).astype(np.int64)
    return _new_tensor(out)


# ---- pad --------------------------------------------------------------------------------------
class PadConstant(Node):
    __slots__ = ("src",)

    def forward(self, x, pads, value):
        # pads: per-dim (before, after), possibly negative (cropping)
        xp = xp_of(x)
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pads, x.shape))
        xc = x[crop]
        out_shape = tuple(max(n + b + a, 0) for (b, a), n in zip(pads, x.shape))
        out = xp.full(out_shape, value, dtype=x.dtype)
        dst = tuple(slice(max(b, 0), max(b, 0) + m) for (b, a), m in zip(pads, xc.shape))
        out[dst] = xc
        self.saved = (x.shape, crop, dst)
        return out

    def backward(self, g):
        shape, crop, dst = self.saved
        xp = xp_of(g)
        if all(c == slice(0, n) for c, n in zip(crop, shape)):
            return g[dst]
        gx = xp.zeros(shape, dtype=g.dtype)
        gx[crop] = g[dst]
        return gx


def _pad_index(n, before, after, mode):
    """Source index along one dim for each output position."""
    i = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    # reflect (no edge repeat)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    j = np.abs(i) % period
    return np.where(j >= n, period - j, j)


class PadIndexed(Node):
    """reflect / replicate / circular padding: a gather per padded dim; backward sums back per dim."""
    __slots__ = ("maps",)

    def forward(self, x, maps):
        xp = xp_of(x)
        self.maps = maps
        for ax, idx in maps:
            x = xp.take(x, xp.asarray(idx), axis=ax)
        return x

    def backward(self, g):
        xp = xp_of(g)
        for ax, idx in reversed(self.maps):
            n = int(idx.max()) + 1
            oh = np.zeros((idx.size, n), dtype=g.dtype)
            oh[np.arange(idx.size), idx] = 1
            g = xp.moveaxis(xp.tensordot(g, xp.asarray(oh), axes=([ax], [0])), -1, ax)
        return g


def pad(input, pad, mode="constant", value=None):
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError(f"pad: Padding length must be divisible by 2, got {len(pad)}")
    nd = input.ndim
    npairs = len(pad) // 2
    if npairs > nd:
        raise RuntimeError(f"pad: Padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pad)} and input of dimension {nd}")
    pairs = [(0, 0)] * nd
    for i in range(npairs):
        pairs[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        return apply1(PadConstant, input, tuple(pairs), 0 if value is None else value)
    if value not in (None, 0):
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: unsupported padding mode {mode!r}; expected one of 'constant', "
                                  "'reflect', 'replicate', 'circular'")
    maps = []
    xs = tuple(input.shape)
    for ax in range(nd - 1, nd - 1 - npairs, -1):
        b, a = pairs[ax]
        n = xs[ax]
        if b == 0 and a == 0:
            continue
        if mode == "reflect" and (b >= n or a >= n):
            raise RuntimeError(f"pad: Padding size should be less than the corresponding input dimension, but got: "
                               f"padding ({b}, {a}) at dimension {ax} of input {list(xs)}")
        if mode == "circular" and (b > n or a > n):
            raise RuntimeError(f"pad: Padding value causes wrapping around more than once (padding ({b}, {a}) at "
                               f"dimension {ax} of input {list(xs)})")
        if n == 0:
            raise RuntimeError(f"pad: input of shape {list(xs)} has an empty dimension {ax} to pad in {mode} mode")
        if b < 0 or a < 0:
            idx = _pad_index(n, max(b, 0), max(a, 0), mode)
            idx = idx[max(-b, 0): len(idx) - max(-a, 0)]
        else:
            idx = _pad_index(n, b, a, mode)
        maps.append((ax, idx))
    if not maps:
        return apply1(PadConstant, input, tuple(pairs), 0)
    return apply1(PadIndexed, input, tuple(maps))


@register("constant_pad_nd", method=False)
def constant_pad_nd(input, pad_, value=0):
    return pad(input, pad_, "constant", value)


# ---- linear / bilinear ------------------------------------------------------------------------
class Linear(Node):
    """y = x W^T + b as one 2-D GEMM over all leading dims (NumPy's stacked matmul is slower)."""
    __slots__ = ()

    def forward(self, x, w, b):
        if x.dtype in _HALF and x.__class__ is np.ndarray:
            # no half-precision GEMM in NumPy (see linalg.Matmul._half_forward): float32, rounded back
            y = self.forward(x.astype(_F32), w.astype(_F32), None if b is None else b.astype(_F32))
            self.saved += (x.dtype,)
            return y.astype(x.dtype)
        if x.ndim > 2:
            x2 = x.reshape(-1, x.shape[-1])
            y = _mm(x2, w.T).reshape(x.shape[:-1] + (w.shape[0],))
        else:
            x2 = x
            y = _mm(x, w.T)
        if b is not None:
            y += b
        self.saved = (x2, x.shape, w, b is not None)
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def backward(self, g):
        if len(self.saved) == 5:       # a half-precision forward: float32 arrays saved, gradients rounded back
            dt = self.saved[4]
            self.saved = self.saved[:4]
            try:
                return tuple(None if r is None else r.astype(dt) for r in self.backward(g.astype(_F32)))
            finally:
                self.saved += (dt,)
        x2, shape, w, hasb = self.saved
        if x2.ndim == 1:
            gx = g @ w
            gw = g[:, None] * x2[None, :]
            return gx, gw, (g if hasb else None)
        g2 = g.reshape(-1, g.shape[-1])
        nxt = self._next  # skip the GEMMs for inputs that need no gradient (e.g. the data batch)
        gx = _mm(g2, w).reshape(shape) if nxt[0] is not None else None
        gw = _mm(g2.T, x2) if nxt[1] is not None else None
        gb = g2.sum(axis=0) if hasb and nxt[2] is not None else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    if _AC[0]:
        input, weight, bias = _autocast.lower(input, weight, bias)
    xs, ws = tuple(input.shape), tuple(weight.shape)
    if weight.ndim == 2 and (not xs or xs[-1] != ws[1]):
        raise RuntimeError(f"linear: mat1 and mat2 shapes cannot be multiplied (input {xs}, weight {ws}: the input's "
                           f"last dim must equal weight.shape[1] = {ws[1]})")
    if weight.ndim != 2:
        from .linalg import matmul
        y = matmul(input, weight.t() if weight.ndim == 2 else weight)
        return y + bias if bias is not None else y
    return apply(Linear, input, weight, bias)


class Bilinear(Node):
    __slots__ = ("shape",)

    def forward(self, x1, x2, w, b):
        xp = xp_of(x1)
        o, i, j = w.shape
        lead = x1.shape[:-1]
        a = x1.reshape(-1, i)
        c = x2.reshape(-1, j)
        wr = w.transpose(1, 0, 2).reshape(i, o * j)
        z = (a @ wr).reshape(-1, o, j)
        y = xp.matmul(z, c[:, :, None])[:, :, 0]
        if b is not None:
            y += b
        self.saved = (a, c, w, wr, z, b is not None, x1.shape, x2.shape)
        return y.reshape(lead + (o,)).astype(x1.dtype, copy=False)

    def backward(self, g):
        a, c, w, wr, z, hasb, s1, s2 = self.saved
        o, i, j = w.shape
        g2 = g.reshape(-1, o)
        gz = (g2[:, :, None] * c[:, None, :]).reshape(-1, o * j)
        ga = gz @ wr.T
        gc = (g2[:, None, :] @ z)[:, 0, :]
        gw = (a.T @ gz).reshape(i, o, j).transpose(1, 0, 2)
        gb = g2.sum(axis=0) if hasb else None
        return ga.reshape(s1), gc.reshape(s2), gw, gb


@register("bilinear", method=False)
def bilinear(input1, input2, weight, bias=None):
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear(): input batch dimensions do not match: got {tuple(input1.shape[:-1])} and "
                           f"{tuple(input2.shape[:-1])}")
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): weight of shape {tuple(weight.shape)} does not fit inputs of shapes "
                           f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    return apply(Bilinear, input1, input2, weight, bias)


# ---- scaled dot-product attention -------------------------------------------------------------
class Sdpa(Node):
    """softmax(q k^T * scale + mask) (dropout) @ v, with the fused backward of the attention block.

    The scale is folded into q (the smaller operand), masks are applied in place, and on CPU the row
    softmax and its backward run on the numba row kernels of nn_activation."""
    __slots__ = ("scale", "float_mask")

    def forward(self, q, k, v, mask, scale, causal, dropout_p, drop):
        xp = xp_of(q)
        if xp is np:
            nb = _blas_single()
            try:
                return self._forward(xp, q, k, v, mask, scale, causal, drop)
            finally:
                _blas_restore(nb)
        return self._forward(xp, q, k, v, mask, scale, causal, drop)

    def _forward(self, xp, q, k, v, mask, scale, causal, drop):
        qs = q * q.dtype.type(scale)
        s = _bmm(xp, qs, xp.swapaxes(k, -1, -2))
        self.float_mask = False
        if mask is not None:
            if mask.dtype == np.bool_:
                xp.copyto(s, -xp.inf, where=~mask)
            else:
                self.float_mask = True
                if np.broadcast_shapes(s.shape, mask.shape) == s.shape:
                    s += mask
                else:
                    s = s + mask
        p = None
        tril = None
        if causal:
            L, S = q.shape[-2], k.shape[-2]
            p = _causal_softmax(s, L, S)
            if p is None:
                tril = xp.tril(xp.ones((L, S), dtype=bool))
                xp.copyto(s, -xp.inf, where=~tril)
        if p is None:
            # as torch 2.13's CPU attention (and the causal kernel): a row left all -inf by a mask gives 0, not
            # NaN; with is_causal, the positions after the diagonal get 0 even in a row a NaN score made NaN
            dead = (s.max(axis=-1, keepdims=True) == -xp.inf) if mask is not None or causal else None
            p = _row_softmax(xp, s)
            if dead is not None:
                xp.copyto(p, 0, where=dead)
            if tril is not None:
                xp.copyto(p, 0, where=~tril)
        pd = p * drop if drop is not None else p
        self.saved = (qs, k, v, p, pd, drop)
        self.scale = scale
        return _bmm(xp, pd, v).astype(q.dtype, copy=False)

    def backward(self, g):
        xp = xp_of(g)
        if xp is np:
            nb = _blas_single()
            try:
                return self._backward(xp, g)
            finally:
                _blas_restore(nb)
        return self._backward(xp, g)

    def _backward(self, xp, g):
        qs, k, v, p, pd, drop = self.saved
        gv = _bmm(xp, xp.swapaxes(pd, -1, -2), g)
        gp = _bmm(xp, g, xp.swapaxes(v, -1, -2))
        if drop is not None:
            gp *= drop
        gs = _row_softmax_backward(xp, p, gp)
        gm = gs if self.float_mask else None
        gq = _bmm(xp, gs, k)
        gq *= gq.dtype.type(self.scale)
        gk = _bmm(xp, xp.swapaxes(gs, -1, -2), qs)
        return gq, gk, gv, gm


# OpenBLAS threads: attention's GEMMs are many small ones (one per batch*head, e.g. 128x64x128), which
# OpenBLAS still splits over its threads: 2 threads were slower than 1 (0.84 vs 0.67 ms for the 32 QK^T
# products of the GPT benchmark), and when the other core is busy each GEMM waits on a descheduled worker
# (sdpa forward measured 17 ms -> 500 ms). Sdpa runs its GEMMs on one BLAS thread: the count is set to 1
# around the node and put back (a C call, ~1 us). The library is found once in /proc/self/maps; without
# it (other BLAS, other OS) nothing changes.
_BLAS_FNS = []


def _blas_fns():
    if not _BLAS_FNS:
        fns = None
        try:
            import ctypes
            paths = []
            with open("/proc/self/maps") as f:
                for line in f:
                    path = line.split()[-1] if "/" in line else ""
                    if "openblas" in path.lower() and path not in paths:
                        paths.append(path)
            paths.sort(key=lambda pth: "numpy" not in pth)  # NumPy's own OpenBLAS first
            for path in paths:
                lib = ctypes.CDLL(path)
                for pre in ("scipy_openblas_", "openblas_"):
                    for suf in ("64_", ""):
                        st = getattr(lib, pre + "set_num_threads" + suf, None)
                        gt = getattr(lib, pre + "get_num_threads" + suf, None)
                        if st is not None and gt is not None and fns is None:
                            st.restype = None
                            st.argtypes = [ctypes.c_int]
                            gt.restype = ctypes.c_int
                            gt.argtypes = []
                            fns = (st, gt)
                if fns is not None:
                    break
        except (OSError, AttributeError, IndexError):
            fns = None
        _BLAS_FNS.append(fns)
    return _BLAS_FNS[0]


def _blas_single():
    """Set NumPy's OpenBLAS to one thread; returns the previous count (0: nothing was changed)."""
    fns = _blas_fns()
    if fns is None:
        return 0
    n = fns[1]()
    if n > 1:
        fns[0](1)
        return n
    return 0


def _blas_restore(n):
    if n:
        _BLAS_FNS[0][0](n)


def _bmm(xp, a, b):
    """xp.matmul(a, b) for attention's stacked GEMMs. On CPU with several numba threads, the leading batch
    axis is split over that many Python threads (NumPy releases the GIL in matmul; each GEMM on one BLAS
    thread, see _blas_single): parallel over the batch instead of inside each small GEMM."""
    if xp is np and a.ndim >= 3 and a.shape[0] > 1 and a.shape[:-2] == b.shape[:-2] and a.size >= 65536:
        nt = min(_threads(), a.shape[0])
        if nt > 1:
            out = np.empty(a.shape[:-1] + (b.shape[-1],), np.result_type(a, b))
            n = a.shape[0]
            cut = [n * i // nt for i in range(nt + 1)]
            futs = [_pool(nt - 1).submit(np.matmul, a[cut[i]:cut[i + 1]], b[cut[i]:cut[i + 1]],
                                         out=out[cut[i]:cut[i + 1]]) for i in range(1, nt)]
            np.matmul(a[:cut[1]], b[:cut[1]], out=out[:cut[1]])
            for f in futs:
                f.result()
            return out
    return xp.matmul(a, b)


def _causal_softmax(s, L, S):
    """Causal (top-left tril) row softmax of a fresh scores array, in place, on CPU: one fused row kernel
    (mask, max, exp, normalize) on the row threads of nn_activation. None when not applicable."""
    if not use_numba(s):
        return None
    k = _act_kernels()
    if k is None:
        return None
    s2 = s.reshape(-1, S)
    run_rows(k.rows, k.rows.causal_softmax_fwd, row_slices(s2.shape[0], s2.nbytes), s2, L)
    return s


def _row_softmax(xp, s):
    """Softmax over the last axis of a fresh scores array (may overwrite it)."""
    if use_numba(s):
        k = _act_kernels()
        if k is not None:
            return softmax_rows(k, s.reshape(-1, s.shape[-1]), False).reshape(s.shape)
    s -= s.max(axis=-1, keepdims=True)
    xp.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def _row_softmax_backward(xp, p, gp):
    if use_numba(p) and gp.__class__ is np.ndarray and gp.flags.c_contiguous and gp.dtype == p.dtype:
        k = _act_kernels()
        if k is not None:
            out = np.empty_like(p)
            k.softmax_b(p.reshape(-1, p.shape[-1]), gp.reshape(-1, p.shape[-1]), out.reshape(-1, p.shape[-1]))
            return out
    gs = gp - (gp * p).sum(axis=-1, keepdims=True)
    gs *= p
    return gs


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    if _AC[0]:
        query, key, value = _autocast.lower(query, key, value)
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must have at least 2 dimensions")
    E = query.shape[-1]
    if key.shape[-1] != E:
        raise RuntimeError(f"scaled_dot_product_attention: query {tuple(query.shape)} and key {tuple(key.shape)} "
                           "must have the same embedding size (last dim)")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key {tuple(key.shape)} and value {tuple(value.shape)} "
                           "must have the same sequence length (dim -2)")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        from .movement import getitem  # noqa: F401
        rep = query.shape[-3] // key.shape[-3]
        idx = np.repeat(np.arange(key.shape[-3]), rep)
        key = key[(Ellipsis, idx, slice(None), slice(None))]
        value = value[(Ellipsis, idx, slice(None), slice(None))]
    sc = 1.0 / math.sqrt(E) if scale is None else float(scale)
    drop = None
    if dropout_p > 0.0:
        q = query._data
        shp = tuple(np.broadcast_shapes(query.shape[:-1], key.shape[:-2] + (1,))) + (key.shape[-2],)
        drop = _mask(q, shp, dropout_p)
    mask = attn_mask._data if isinstance(attn_mask, Tensor) else attn_mask
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad and mask.dtype != np.bool_:
        return apply(Sdpa, query, key, value, attn_mask, sc, bool(is_causal), dropout_p, drop)
    return apply(Sdpa, query, key, value, mask, sc, bool(is_causal), dropout_p, drop)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embedding rows. Bags are the rows of a 2-D `input`, or the slices of a
    1-D `input` starting at `offsets`; entries equal to padding_idx take no part (an empty bag gives zeros)."""
    from .indexing import index_add, scatter_reduce
    from .elementwise import where
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    xp = xp_of(input._data)
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2D, then offsets has to be None, as input is treated is a "
                             "mini-batch of fixed length sequences.")
        nbags, length = input.shape
        idx = input.reshape(-1)
        bag = xp.repeat(xp.arange(nbags), length)
    elif input.ndim == 1:
        if offsets is None or offsets.ndim != 1:
            raise ValueError("embedding_bag: offsets has to be a 1D Tensor but got None" if offsets is None else
                             f"embedding_bag: offsets has to be a 1D Tensor, got {offsets.ndim}D")
        idx = input
        offs = offsets._data.astype(np.int64)
        nbags = offs.shape[0] - 1 if include_last_offset else offs.shape[0]
        ends = offs[1:nbags + 1] if include_last_offset else xp.concatenate([offs[1:], xp.asarray([idx.shape[0]])])
        if nbags and (bool((offs[:nbags] > ends).any()) or int(offs[0]) < 0 or int(ends[-1]) > idx.shape[0]):
            raise ValueError(f"embedding_bag: offsets {offs.tolist()} are not increasing within the input length "
                             f"{idx.shape[0]}")
        # bag of each entry: the last bag starting at or before it (entries past the last end belong to none)
        bag = xp.searchsorted(offs[:nbags], xp.arange(idx.shape[0]), side="right") - 1
        if include_last_offset:
            bag = xp.where(xp.arange(idx.shape[0]) < ends[-1] if nbags else False, bag, -1)
    else:
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    keep = bag >= 0
    if padding_idx is not None:
        keep &= idx._data != (padding_idx if padding_idx >= 0 else padding_idx + weight.shape[0])
    bag_t = Tensor._wrap(xp.where(keep, bag, 0).astype(np.int64))
    rows = embedding(idx, weight, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq)
    mask = Tensor._wrap(keep.astype(weight._data.dtype)[:, None])
    out = Tensor._wrap(xp.zeros((nbags, weight.shape[1]), dtype=weight._data.dtype))
    if mode == "max":
        lowest = Tensor._wrap(xp.full(rows.shape, -xp.inf, dtype=weight._data.dtype))
        rows = where(mask > 0, rows, lowest)
        index = bag_t[:, None].expand(rows.shape)
        out = scatter_reduce(out, 0, index, rows, "amax", include_self=False)
        counts = xp.bincount(bag_t._data[keep], minlength=nbags)[:nbags]
        return where(Tensor._wrap((counts > 0)[:, None]), out, 0.0)  # an empty bag gives zeros
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    out = index_add(out, 0, bag_t, rows * mask)
    if mode == "mean":
        counts = xp.bincount(bag_t._data[keep], minlength=nbags)[:nbags]
        out = out / Tensor._wrap(xp.maximum(counts, 1).astype(weight._data.dtype)[:, None])
    return out
