"""Convolutions (conv1d/2d/3d, conv_transpose1d/2d/3d) and unfold/fold (im2col/col2im).

Paths (see benchmarks/RESULTS.md for the measurements that chose them):
- 1x1 convolutions: one batched GEMM on the NCHW input itself.
- 3x3, stride 1, one group, enough channels, on CPU: Winograd (ops/_winograd.py).
- everything else: im2col + GEMM, tile by tile. A tile (a few samples, or a band of output rows of one
  sample) has its im2col block `cols` (n, G, K*Cg, L) (K kernel offsets, Cg channels per group, L output
  positions) sized to stay in cache between its copy and its GEMMs:

    forward       y   (n, G, Og, L)  = Wm (G, Og, K*Cg) @ cols
    weight grad   gWm (G, K*Cg, Og) += cols @ g^T             (summed over tiles)
    input grad    gcols              = Wm^T @ g,  then col2im: cols' adjoint, added into the input gradient

  2-D tiles on CPU build cols and run col2im with _im2col's numba kernels straight from the unpadded input;
  elsewhere (CuPy, 3-D, no numba) one strided copy per kernel offset of a zero-padded input.
A transposed convolution is the input-gradient of a convolution (col2im), and its gradients are a
convolution and a weight-gradient with the roles of input and output swapped.

Every function works on numpy and cupy arrays alike (`xp = xp_of(x)`).
"""
import itertools
import os

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from .._backends.blas import openblas_api
from ._apply import apply
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC
from .nn_activation import _pool

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


# ---- small helpers on shapes --------------------------------------------------------------------------
def _ntuple(v, n, what, op):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"{op}: expected {what} to be a single integer or a list of {n} integers, got {list(v)}")
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _prod(t):
    p = 1
    for a in t:
        p *= a
    return p


def _offsets(ksize, dil):
    return [tuple(k * d for k, d in zip(kpos, dil)) for kpos in itertools.product(*[range(k) for k in ksize])]


def _win(offs, stride, out_sp, lead=2):
    return (slice(None),) * lead + tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offs, stride, out_sp))


def _compute_dtype(a):
    """BLAS works in float32/float64; half types are computed in float32 and cast back."""
    dt = a.dtype
    return dt if dt == _F32 or dt == _F64 else _F32


# ---- tile parallelism (CPU): the tiles of one call split over the BLAS thread count -------------------
# OpenBLAS alone parallelizes only the GEMMs; the im2col/col2im copies between them stay on one core. When
# NumPy's OpenBLAS runs with n > 1 threads, the tiles are split into n groups of whole samples, each run by
# one Python thread with OpenBLAS set to 1 thread for the duration, so copies and GEMMs both run on n cores
# and each GEMM keeps its single-thread efficiency. On by default for 2-D tiles, whose copies are _im2col's
# numba kernels (they release the GIL): ResNet stride-2 layer fwd+bwd 60 -> 31-37 ms at 2 threads. NumPy's
# strided copies (3-D, no numba) hold the GIL, which made the split no faster than OpenBLAS's own 2-thread
# GEMMs; for them it stays opt-in (DISTTENSOR_CONV_THREADS=1). See benchmarks/RESULTS.md.
# NumPy's OpenBLAS thread control (get, set), or None: the tile splits below run that many Python threads and
# set OpenBLAS to 1 thread meanwhile. (Their GEMMs stay on OpenBLAS, not _backends.blas's MKL: in the tile
# threads MKL's sequential GEMMs measured no faster, 1.02-1.15x OpenBLAS's time on the ResNet stride-2 layer.)
_openblas_api = openblas_api


def _blas_threads_api():
    """_openblas_api() where the im2col tile split is enabled (DISTTENSOR_CONV_THREADS=1), else None."""
    if os.environ.get("DISTTENSOR_CONV_THREADS", "0") in ("0", ""):
        return None
    return _openblas_api()


def _sample_units(tiles):
    """The tile list cut into units of whole samples (the row bands of one sample overlap in col2im, so one
    thread must run all of them)."""
    units, cur = [], []
    for t in tiles:
        if cur and t[0] != cur[-1][0]:
            units.append(cur)
            cur = []
        cur.append(t)
    units.append(cur)
    return units


def _run_tiles(xp, tiles, work, always=False):
    """[work(tiles)], or with NumPy's BLAS at n > 1 threads (for NumPy-copy tiles only with
    DISTTENSOR_CONV_THREADS=1; `always`: numba-kernel tiles) [work(it) for n threads at once], each `it`
    yielding the tiles of the next unclaimed unit of whole samples until none is left: a thread that a busy
    core slows takes fewer units instead of holding the others up at the end."""
    api = (_openblas_api() if always else _blas_threads_api()) if xp is np and len(tiles) >= 2 else None
    nt = api[0]() if api is not None else 1
    units = _sample_units(tiles) if nt > 1 else ()
    nt = min(nt, len(units))
    if nt < 2:
        return [work(tiles)]
    import threading
    lock = threading.Lock()
    queue = iter(units)

    def claimed():
        while True:
            with lock:
                unit = next(queue, None)
            if unit is None:
                return
            yield from unit
    pool = _pool(nt - 1)
    prev = api[0]()
    api[1](1)
    try:
        futs = [pool.submit(work, claimed()) for _ in range(nt - 1)]
        first = work(claimed())
        return [first] + [f.result() for f in futs]
    finally:
        api[1](prev)


# ---- array-level kernels ------------------------------------------------------------------------------
# The work is cut into tiles (a few samples, or a band of output rows of one sample) whose im2col
# block, about this many bytes, stays in the per-core L2 cache between its copy and its GEMM.
_CHUNK_BYTES = 1 << 20
# stride-1 input gradients as a direct convolution when out channels <= in channels (see conv_grad_input)
_DIRECT_INPUT_GRAD = True

# 3x3 / stride 1 / dilation 1 / one group convolutions on CPU run as Winograd F(m x m, 3 x 3) (ops/_winograd.py)
# where it measured faster than im2col + GEMM (benchmarks/RESULTS.md, "Winograd"): at least _WINO_MIN_CHANNELS
# in and out channels and (output positions) x (the smaller channel count) >= _WINO_MIN_WORK; below, the GEMMs
# of the transform positions are too thin. The tile: F(2x2, 3x3) (2.25x fewer multiplications; float32 error
# like a direct convolution's), or F(4x4, 3x3) (4x fewer) for outputs of at least _WINO_F4_MIN_SIDE on both
# sides (below, its partial and junk tiles cost more than it saves) and at most _WINO_F4_MAX_IN in-channels:
# its float32 GEMM rounding, amplified by the output transform, grows with the inner dimension (= in-channels),
# and on the op tests' data (uniform(-2, 2) inputs and weights) it used 0.3-0.56 of their float32 tolerance
# (atol = rtol = 2e-4) up to 48 in-channels, 1.0-1.1 at 64, 1.5 at 128 (F(2x2): 0.15 at 64, 0.46 at 256).
# DISTTENSOR_WINOGRAD=0 turns Winograd off, =2 or =4 forces that tile. CUDA arrays stay on im2col unless
# _WINOGRAD_ANY_DEVICE (the array-module path: tested on CPU, never measured on a GPU).
_WINOGRAD_TILE = {"0": 0, "off": 0, "2": 2, "4": 4}.get(os.environ.get("DISTTENSOR_WINOGRAD", "auto").strip().lower(), -1)
_WINO_MIN_CHANNELS = 16
_WINO_MIN_WORK = 65536
_WINO_F4_MIN_SIDE = 20
_WINO_F4_MAX_IN = 48
_WINOGRAD_ANY_DEVICE = False


def _tiles(N, out_sp, per_sample_bytes):
    """(n0, n1, r0, r1): samples n0:n1, output rows r0:r1 of the first spatial dim."""
    H = out_sp[0]
    if per_sample_bytes <= _CHUNK_BYTES:
        cs = max(1, min(N, _CHUNK_BYTES // max(per_sample_bytes, 1)))
        for n0 in range(0, N, cs):
            yield n0, min(N, n0 + cs), 0, H
    else:
        hb = max(1, (_CHUNK_BYTES * H) // per_sample_bytes)
        for n in range(N):
            for r0 in range(0, H, hb):
                yield n, n + 1, r0, min(H, r0 + hb)


def _band(a, n0, n1, r0, r1, H):
    """a (N, G, M, *sp) -> (n, G, M, band_L): samples n0:n1, rows r0:r1 of the first spatial dim, flattened
    (a view whenever a is contiguous)."""
    v = a[n0:n1] if r0 == 0 and r1 == H else a[n0:n1, :, :, r0:r1]
    return v.reshape(v.shape[:3] + (-1,))


def _shift(offs, r0, stride):
    if not r0:
        return offs
    d0 = r0 * stride[0]
    return [(o[0] + d0,) + tuple(o[1:]) for o in offs]


def _out_size(sp, ksize, stride, dil, pads):
    return tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                 for s, k, st, d, (lo, hi) in zip(sp, ksize, stride, dil, pads))


def _pad(x, pads):
    """Zero-pad the spatial dims of (N, C, *S); `hi` < 0 pads nothing there (the windows stop short)."""
    if not any(lo or hi > 0 for lo, hi in pads):
        return x
    xp = xp_of(x)
    sp = tuple(s + lo + max(hi, 0) for s, (lo, hi) in zip(x.shape[2:], pads))
    buf = xp.zeros(x.shape[:2] + sp, dtype=x.dtype)
    buf[(slice(None), slice(None)) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads))] = x
    return buf


def _wmat(w, G):
    """(O, Cg, *k) -> (G, Og, K*Cg), kernel-offset major, matching the rows of cols."""
    O, Cg = w.shape[0], w.shape[1]
    K = _prod(w.shape[2:])
    xp = xp_of(w)
    wm = w.reshape(G, O // G, Cg, K).transpose(0, 1, 3, 2)
    return xp.ascontiguousarray(wm).reshape(G, O // G, K * Cg)


class _Tiler:
    """The tiles of one convolution call with what every tile reuses: the window slices of each kernel offset
    (computed once per band geometry, not once per tile) and one scratch buffer for the im2col block, so the
    tile loop does no Python slice building and no allocation per tile."""
    __slots__ = ("xp", "N", "G", "Cg", "K", "offs", "stride", "out_sp", "H", "tiles", "_wins", "_buf", "dtype",
                 "nb", "geom", "ones")

    def __init__(self, xp, N, G, Cg, offs, stride, out_sp, dtype, itemsize, ksize, dil, pads):
        self.xp, self.N, self.G, self.Cg, self.K = xp, N, G, Cg, len(offs)
        self.offs, self.stride, self.out_sp, self.H, self.dtype = offs, stride, out_sp, out_sp[0], dtype
        self.tiles = list(_tiles(N, out_sp, G * Cg * self.K * _prod(out_sp) * itemsize))
        self._wins = {}
        self._buf = None
        # `direct`: _im2col's numba kernels, which read the UNPADDED input and add into an unpadded gradient;
        # else NumPy's strided-window copies (below) on the padded input
        self.nb = _im2col_kernels(xp, dtype, len(out_sp))
        self.ones = 0       # 1: (direct only) cols gets a row of ones after its K*Cg rows, for the bias
        self.geom = None if self.nb is None else \
            (G, stride[0], stride[1], dil[0], dil[1], pads[0][0], pads[1][0], ksize[0], ksize[1], out_sp[1])

    @property
    def direct(self):
        return self.nb is not None

    def fork(self):
        """The same tiling with its own scratch buffer (one per worker thread); window slices are shared."""
        t = _Tiler.__new__(_Tiler)
        for k in _Tiler.__slots__:
            setattr(t, k, getattr(self, k))
        t._buf = None
        return t

    def band(self, r0, r1):
        return (r1 - r0,) + self.out_sp[1:]

    def wins(self, r0, r1):
        """Window slices (lead 3: n, G, Cg) of every kernel offset for output rows r0:r1."""
        w = self._wins.get((r0, r1))
        if w is None:
            band = self.band(r0, r1)
            w = self._wins[(r0, r1)] = [_win(o, self.stride, band, lead=3) for o in _shift(self.offs, r0, self.stride)]
        return w

    def scratch(self, shape):
        """A C-contiguous array of `shape` carved from the tile scratch buffer (sized for the largest tile)."""
        size = _prod(shape)
        if self._buf is None:
            n0, n1, r0, r1 = self.tiles[0]
            big = max(size, (n1 - n0) * self.G * (self.K * self.Cg + self.ones) * _prod(self.band(r0, r1)))
            self._buf = self.xp.empty(big, dtype=self.dtype)
        elif self._buf.size < size:
            self._buf = self.xp.empty(size, dtype=self.dtype)
        return self._buf[:size].reshape(shape)

    def cols(self, src, n0, n1, r0, r1):
        """im2col of samples n0:n1, output rows r0:r1 of src: (n, G, K*Cg, band_L). src: the input (N, C, H, W)
        when `direct`, else the padded input as (N, G, Cg, *padded_sp)."""
        band = self.band(r0, r1)
        n = n1 - n0
        if self.nb is not None:
            cl = self.scratch((n, self.G, self.K * self.Cg + self.ones, _prod(band)))
            self.nb.im2col(src, n0, n1, r0, r1, *self.geom, cl)
            return cl
        cl = self.scratch((n, self.G, self.K, self.Cg) + band)
        s = src[n0:n1]
        for i, w in enumerate(self.wins(r0, r1)):
            cl[:, :, i] = s[w]
        return cl.reshape(n, self.G, self.K * self.Cg, _prod(band))

    def col2im(self, buf, gc, n0, n1, r0, r1):
        """buf[n0:n1] += col2im of gc (n, G, K*Cg, band_L). buf: the input gradient (N, C, H, W) when `direct`,
        else the padded one as (N, G, Cg, *padded_sp)."""
        if self.nb is not None:
            self.nb.col2im(gc, n0, n1, r0, r1, *self.geom, buf)
            return
        gc = gc.reshape(gc.shape[:2] + (self.K, self.Cg) + self.band(r0, r1))
        bch = buf[n0:n1]
        for i, win in enumerate(self.wins(r0, r1)):
            v = bch[win]
            v += gc[:, :, i]


# 2-D im2col/col2im through _im2col's numba kernels when numba is there (DISTTENSOR_NUMBA_IM2COL=0: NumPy's)
_NUMBA_IM2COL = os.environ.get("DISTTENSOR_NUMBA_IM2COL", "1") not in ("0", "")


def _im2col_kernels(xp, dtype, nd):
    """_im2col's kernels where they serve this convolution (CPU, 2-D, float32/64), else None."""
    if not _NUMBA_IM2COL or xp is not np or nd != 2 or dtype not in (_F32, _F64):
        return None
    from . import _im2col
    return _im2col.kernels()


def _reads_unpadded(x, w, stride, pads, dil, G):
    """True where no padded copy of x is needed: the 1x1 GEMMs, Winograd and the numba im2col read x itself."""
    return (G == 1 and _is_pointwise(w.shape[2:], stride, pads, dil)) or \
        _winograd(x, w, stride, pads, dil, G) is not None or _im2col_kernels(xp_of(x), x.dtype, x.ndim - 2) is not None


def _is_pointwise(ksize, stride, pads, dil):
    return all(k == 1 for k in ksize) and all(s == 1 for s in stride) and not any(lo or hi for lo, hi in pads)


_WINO_SPLIT = True


def _run_blocks(units, work):
    """Runner of the Winograd block loop (see _winograd.forward): with NumPy's BLAS at n > 1 threads, work(claim)
    runs on n Python threads at once (OpenBLAS at 1 thread meanwhile), each claiming the next unit of blocks
    when done with its last, so each core runs its blocks' transforms and GEMMs out of its own cache, and a
    core another process holds gets fewer blocks. (_WINO_SPLIT = False: one thread, OpenBLAS threads the GEMMs.)"""
    from ._winograd import run_serial
    api = _openblas_api() if _WINO_SPLIT and len(units) >= 2 else None
    prev = api[0]() if api is not None else 1
    nt = min(prev, len(units))
    if nt < 2:
        return run_serial(units, work)
    import threading
    lock = threading.Lock()
    it = iter(units)

    def claim():
        with lock:
            return next(it, None)
    pool = _pool(nt - 1)
    api[1](1)
    try:
        futs = [pool.submit(work, claim) for _ in range(nt - 1)]
        first = work(claim)
        return [first] + [f.result() for f in futs]
    finally:
        api[1](prev)


def _winograd(x, w, stride, pads, dil, G, out_sp=None):
    """(the Winograd module, tile m) when this convolution goes through it (see _WINOGRAD_TILE), else None."""
    if not _WINOGRAD_TILE or G != 1 or x.ndim != 4 or w.shape[2] != 3 or w.shape[3] != 3 or stride != (1, 1) or \
            dil != (1, 1):
        return None
    ch = min(x.shape[1], w.shape[0])
    if ch < _WINO_MIN_CHANNELS:
        return None
    (pt, pb), (pl, pr) = pads
    if pt < 0 or pb < 0 or pl < 0 or pr < 0:
        return None
    if out_sp is None:
        out_sp = (x.shape[2] + pt + pb - 2, x.shape[3] + pl + pr - 2)
    if x.shape[0] * out_sp[0] * out_sp[1] * ch < _WINO_MIN_WORK or x.dtype not in (_F32, _F64):
        return None
    from . import _winograd as W
    if not (_WINOGRAD_ANY_DEVICE or W.available(x)):
        return None
    if _WINOGRAD_TILE > 0:
        m = _WINOGRAD_TILE
    else:
        m = 4 if min(out_sp) >= _WINO_F4_MIN_SIDE and x.shape[1] <= _WINO_F4_MAX_IN else 2
    return W, m


def conv_forward(x, w, b, stride, pads, dil, G, xpad=None):
    """y (N, O, *So) = conv(x, w) + b, tile by tile: im2col (in cache) then one GEMM into y."""
    xp = xp_of(x)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Og = O // G
    ksize = tuple(w.shape[2:])
    if G == 1 and _is_pointwise(ksize, stride, pads, dil):
        # 1x1: y[n] = W (O, C) @ x[n] (C, L), batched over n, straight into NCHW.
        y = xp.matmul(w.reshape(O, C), x.reshape(N, C, -1))
        if b is not None:
            y += b.reshape(1, O, 1)
        return y.reshape((N, O) + x.shape[2:])
    out_sp = _out_size(x.shape[2:], ksize, stride, dil, pads)
    wg = _winograd(x, w, stride, pads, dil, G, out_sp)
    if wg is not None:
        return wg[0].forward(x, w, b, pads[0][0], pads[1][0], out_sp, m=wg[1], run=_run_blocks)
    H = out_sp[0]
    wm = _wmat(w, G)
    T = _Tiler(xp, N, G, C // G, _offsets(ksize, dil), stride, out_sp, x.dtype, x.itemsize, ksize, dil, pads)
    if T.direct:
        src = xp.ascontiguousarray(x)
    else:
        if xpad is None or xpad is x:
            xpad = _pad(x, pads)
        src = xpad.reshape((N, G, C // G) + xpad.shape[2:])
    out = xp.empty((N, G, Og) + out_sp, dtype=x.dtype)
    bb = None if b is None else b.reshape((G, Og) + (1,) * len(out_sp))
    if bb is not None and T.direct:
        # the bias as an extra weight column against cols' row of ones: the GEMM adds it (a separate pass over
        # the output was 0.4 of the 1.06 ms forward of the MNIST convnet's first layer)
        wm = xp.concatenate([wm, b.reshape(G, Og, 1).astype(wm.dtype, copy=False)], axis=2)
        T.ones = 1
        bb = None

    def work(tiles, T=T):
        if tiles is not T.tiles:
            T = T.fork()
        for n0, n1, r0, r1 in tiles:
            cl = T.cols(src, n0, n1, r0, r1)
            dst = out[n0:n1] if r0 == 0 and r1 == H else out[n0:n1, :, :, r0:r1]
            d2 = dst.reshape(dst.shape[:3] + (-1,))   # a band of rows is a strided (Og, band_L) matrix: a view
            if not d2.flags.owndata:
                xp.matmul(wm, cl, out=d2)
            else:
                dst[...] = xp.matmul(wm, cl).reshape(dst.shape)
            if bb is not None:
                dst += bb
    _run_tiles(xp, T.tiles, work, always=T.direct)
    return out.reshape((N, O) + out_sp)


def _direct_input_grad(xshape, w, stride, pads, dil, G):
    ksize = tuple(w.shape[2:])
    C, O = xshape[1], w.shape[0]
    return _DIRECT_INPUT_GRAD and O // G <= C // G and all(st == 1 for st in stride) and \
        all(d * (k - 1) >= lo for d, k, (lo, _) in zip(dil, ksize, pads))


def conv_backward(g, x, w, stride, pads, dil, G, xpad=None, need_input=True, need_weight=True, need_bias=False):
    """(grad_input, grad_weight, grad_bias) of conv_forward, None where not needed; grad_bias is also None where
    this path does not get it for free (the caller sums g). When both input and weight gradients are wanted and
    the input gradient goes through col2im, ONE tile loop does both: each gradient tile is read once from cache
    for the weight-gradient GEMM (cols(x) @ g^T) and the input-gradient GEMM (Wm^T @ g) + its col2im adds."""
    ksize = tuple(w.shape[2:])
    wg = _winograd(x, w, stride, pads, dil, G, tuple(g.shape[2:]))
    if wg is not None:
        return wg[0].backward(g, x, w, pads[0][0], pads[1][0], need_input, need_weight, m=wg[1],
                              run=_run_blocks) + (None,)
    if not (need_input and need_weight) or (G == 1 and _is_pointwise(ksize, stride, pads, dil)) or \
            _direct_input_grad(x.shape, w, stride, pads, dil, G):
        gx = conv_grad_input(g, w, x.shape, stride, pads, dil, G) if need_input else None
        gw = gb = None
        if need_weight:
            r = conv_grad_weight(g, x, w.shape, stride, pads, dil, G, xpad, need_bias=need_bias)
            gw, gb = r if need_bias else (r, None)
        return gx, gw, gb
    xp = xp_of(g)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Cg, Og = C // G, O // G
    out_sp = tuple(g.shape[2:])
    H = out_sp[0]
    T = _Tiler(xp, N, G, Cg, _offsets(ksize, dil), stride, out_sp, g.dtype, g.itemsize, ksize, dil, pads)
    K = T.K
    if T.direct:
        src = xp.ascontiguousarray(x)
        buf = xp.zeros(x.shape, dtype=g.dtype)
        T.ones = int(need_bias)     # cols' row of ones: the weight-gradient GEMM also sums g, the bias gradient
    else:
        if xpad is None or xpad is x:
            xpad = _pad(x, pads)
        src = xpad.reshape((N, G, Cg) + xpad.shape[2:])
        buf = xp.zeros((N, G, Cg) + xpad.shape[2:], dtype=g.dtype)
    wmt = xp.ascontiguousarray(_wmat(w, G).swapaxes(1, 2))       # (G, K*Cg, Og)
    g5 = g.reshape((N, G, Og) + out_sp)

    def work(tiles, T=T):
        if tiles is not T.tiles:
            T = T.fork()
        acc = None
        gcbuf = None
        for n0, n1, r0, r1 in tiles:
            band = T.band(r0, r1)
            gt = _band(g5, n0, n1, r0, r1, H)                        # (n, G, Og, band_L)
            cl = T.cols(src, n0, n1, r0, r1)
            t = xp.matmul(cl, gt.swapaxes(-1, -2))                   # (n, G, K*Cg, Og)
            t = t.sum(0) if t.shape[0] > 1 else t[0]
            if acc is None:
                acc = t
            else:
                acc += t
            n = n1 - n0
            shp = (n, G, K * Cg, _prod(band))
            if gcbuf is None or gcbuf.size < _prod(shp):
                gcbuf = xp.empty(_prod(shp), dtype=g.dtype)
            gc = gcbuf[:_prod(shp)].reshape(shp)
            xp.matmul(wmt, gt, out=gc)
            T.col2im(buf, gc, n0, n1, r0, r1)
        return acc
    parts = [a for a in _run_tiles(xp, T.tiles, work, always=T.direct) if a is not None]
    acc = parts[0]
    for a in parts[1:]:
        acc += a
    gw, gb = _split_bias(acc, G, K, Cg, Og, w.shape, T.ones)
    if T.direct:
        return buf, gw, gb
    gx = buf.reshape((N, C) + xpad.shape[2:])
    if any(lo or hi for lo, hi in pads):
        crop = (slice(None), slice(None)) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads))
        gx = xp.ascontiguousarray(gx[crop])
    return gx, gw, gb


def _split_bias(acc, G, K, Cg, Og, wshape, ones):
    """acc (G, K*Cg [+1], Og) of the weight-gradient GEMMs -> (grad_weight (O, Cg, *k), grad_bias (O,) or None)."""
    gb = acc[:, K * Cg, :].reshape(G * Og) if ones else None
    # (G, K, Cg, Og) -> (G, Og, Cg, K) -> (O, Cg, *k)
    gw = acc[:, :K * Cg].reshape(G, K, Cg, Og).transpose(0, 3, 2, 1).reshape(wshape)
    return gw, gb


def conv_grad_input(g, w, xshape, stride, pads, dil, G):
    """Gradient of conv_forward with respect to x (also conv_transpose's forward): GEMM + col2im per tile."""
    xp = xp_of(g)
    N, C = xshape[0], xshape[1]
    O = w.shape[0]
    ksize = tuple(w.shape[2:])
    if G == 1 and _is_pointwise(ksize, stride, pads, dil):
        gx = xp.matmul(w.reshape(O, C).T, g.reshape(N, O, -1))
        return gx.reshape(xshape)
    out_sp = tuple(g.shape[2:])
    H = out_sp[0]
    Cg, Og = C // G, O // G
    if _direct_input_grad(xshape, w, stride, pads, dil, G):
        # stride 1 and no more output than input channels: the input gradient is a convolution of the
        # gradient with the flipped, transposed kernel. Its im2col is no bigger than the forward's, and its
        # GEMM has the forward's efficient shape (inner dimension K*Og) instead of a 9x-larger output + col2im.
        nd = len(ksize)
        wt = w.reshape((G, Og, Cg) + ksize).swapaxes(1, 2).reshape((C, Og) + ksize)
        wt = xp.ascontiguousarray(wt[(slice(None), slice(None)) + (slice(None, None, -1),) * nd])
        gp = tuple((d * (k - 1) - lo, d * (k - 1) - hi) for d, k, (lo, hi) in zip(dil, ksize, pads))
        return conv_forward(g, wt, None, stride, gp, dil, G)
    T = _Tiler(xp, N, G, Cg, _offsets(ksize, dil), stride, out_sp, g.dtype, g.itemsize, ksize, dil, pads)
    K = T.K
    wmt = xp.ascontiguousarray(_wmat(w, G).swapaxes(1, 2))       # (G, K*Cg, Og)
    if T.direct:
        buf = xp.zeros(xshape, dtype=g.dtype)
    else:
        sp = tuple(s + lo + max(hi, 0) for s, (lo, hi) in zip(xshape[2:], pads))
        buf = xp.zeros((N, G, Cg) + sp, dtype=g.dtype)
    g5 = g.reshape((N, G, Og) + out_sp)

    def work(tiles, T=T):
        if tiles is not T.tiles:
            T = T.fork()
        for n0, n1, r0, r1 in tiles:
            band = T.band(r0, r1)
            n = n1 - n0
            gc = T.scratch((n, G, K * Cg, _prod(band)))
            xp.matmul(wmt, _band(g5, n0, n1, r0, r1, H), out=gc)
            T.col2im(buf, gc, n0, n1, r0, r1)
    _run_tiles(xp, T.tiles, work, always=T.direct)
    if T.direct:
        return buf
    buf = buf.reshape((N, C) + sp)
    if any(lo or hi for lo, hi in pads):
        crop = (slice(None), slice(None)) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(xshape[2:], pads))
        buf = xp.ascontiguousarray(buf[crop])
    return buf


def conv_grad_weight(g, x, wshape, stride, pads, dil, G, xpad=None, need_bias=False):
    """Gradient of conv_forward with respect to w: sum over tiles of cols(x) @ g^T, im2col recomputed per tile
    (cheaper than keeping a K-times-the-input buffer alive between forward and backward). With need_bias:
    (grad_weight, grad_bias or None), the bias gradient where the numba tiles' row of ones gives it for free."""
    xp = xp_of(g)
    N, C = x.shape[0], x.shape[1]
    O, Cg = wshape[0], wshape[1]
    Og = O // G
    ksize = tuple(wshape[2:])
    if G == 1 and _is_pointwise(ksize, stride, pads, dil):
        gw = xp.matmul(g.reshape(N, O, -1), x.reshape(N, C, -1).swapaxes(1, 2)).sum(0)
        return (gw.reshape(wshape), None) if need_bias else gw.reshape(wshape)
    out_sp = tuple(g.shape[2:])
    H = out_sp[0]
    T = _Tiler(xp, N, G, Cg, _offsets(ksize, dil), stride, out_sp, x.dtype, x.itemsize, ksize, dil, pads)
    K = T.K
    if T.direct:
        src = xp.ascontiguousarray(x)
        T.ones = int(need_bias)
    else:
        if xpad is None or xpad is x:
            xpad = _pad(x, pads)
        src = xpad.reshape((N, G, Cg) + xpad.shape[2:])
    g5 = g.reshape((N, G, Og) + out_sp)

    def work(tiles, T=T):
        if tiles is not T.tiles:
            T = T.fork()
        acc = None
        for n0, n1, r0, r1 in tiles:
            cl = T.cols(src, n0, n1, r0, r1)
            t = xp.matmul(cl, _band(g5, n0, n1, r0, r1, H).swapaxes(-1, -2))   # (n, G, K*Cg, Og)
            t = t.sum(0) if t.shape[0] > 1 else t[0]
            if acc is None:
                acc = t
            else:
                acc += t
        return acc
    parts = [a for a in _run_tiles(xp, T.tiles, work, always=T.direct) if a is not None]
    acc = parts[0]
    for a in parts[1:]:
        acc += a
    gw, gb = _split_bias(acc, G, K, Cg, Og, wshape, T.ones)
    return (gw, gb) if need_bias else gw


# ---- autograd nodes -----------------------------------------------------------------------------------
class ConvNd(Node):
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, x, w, b, stride, pads, dil, G):
        dt = x.dtype
        cd = _compute_dtype(x)
        if cd != dt:
            x, w = x.astype(cd), w.astype(cd)
            b = None if b is None else b.astype(cd)
        if _reads_unpadded(x, w, stride, pads, dil, G):
            xpad = x
        else:
            xpad = _pad(x, pads)
        y = conv_forward(x, w, b, stride, pads, dil, G, xpad)
        # the padded input serves the weight gradient (not padded again there)
        self.saved = (x, xpad, w, stride, pads, dil, G, b is not None)
        return y if cd == dt else y.astype(dt)

    def backward(self, g):
        x, xpad, w, stride, pads, dil, G, has_b = self.saved
        if g.dtype != w.dtype:
            g = g.astype(w.dtype)
        nx = self._next
        need_b = has_b and nx[2] is not None
        gx, gw, gb = conv_backward(g, x, w, stride, pads, dil, G, xpad, nx[0] is not None, nx[1] is not None, need_b)
        if need_b and gb is None:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        return gx, gw, gb


class ConvTransposeNd(Node):
    """y = conv_grad_input(x); dy/dx is a convolution and dy/dw a weight-gradient with x and y's roles swapped."""
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, x, w, b, stride, pads, dil, G, out_sp):
        dt = x.dtype
        cd = _compute_dtype(x)
        if cd != dt:
            x, w = x.astype(cd), w.astype(cd)
            b = None if b is None else b.astype(cd)
        Cout = w.shape[1] * G
        y = conv_grad_input(x, w, (x.shape[0], Cout) + out_sp, stride, pads, dil, G)
        if b is not None:
            y += b.reshape((1, Cout) + (1,) * len(out_sp))
        self.saved = (x, w, stride, pads, dil, G, b is not None)
        return y if cd == dt else y.astype(dt)

    def backward(self, g):
        x, w, stride, pads, dil, G, has_b = self.saved
        if g.dtype != w.dtype:
            g = g.astype(w.dtype)
        nx = self._next
        gx = gw = gb = None
        if nx[0] is not None:
            gx = conv_forward(g, w, None, stride, pads, dil, G)
        if nx[1] is not None:
            gw = conv_grad_weight(x, g, w.shape, stride, pads, dil, G)
        if has_b and nx[2] is not None:
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim)))
        return gx, gw, gb


# ---- user-facing functions ----------------------------------------------------------------------------
def _check_common(op, input, weight, bias, d, transposed=False):
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}(): argument 'input' and 'weight' must be Tensor, not "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if input.dim() not in (d + 1, d + 2):
        raise RuntimeError(f"Expected {d + 1}D (unbatched) or {d + 2}D (batched) input to {op}, but got input of "
                           f"size: {list(input.shape)}")
    if weight.dim() != d + 2:
        raise RuntimeError(f"{op}: expected weight to be {d + 2}-dimensional, but got weight of size "
                           f"{list(weight.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating point input, but got {input.dtype} (convolution is not "
                           "implemented for integer or bool tensors)")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        raise RuntimeError(f"{op}: Input type ({input.dtype}) and weight type ({weight.dtype})"
                           + (f" and bias type ({bias.dtype})" if bias is not None else "") + " should be the same")
    if input.device != weight.device or (bias is not None and bias.device != input.device):
        raise RuntimeError(f"{op}: expected input, weight and bias on the same device, but got input on "
                           f"{input.device}, weight on {weight.device}"
                           + (f", bias on {bias.device}" if bias is not None else ""))


def _conv(op, d, input, weight, bias, stride, padding, dilation, groups):
    if _AC[0]:
        input, weight, bias = _autocast.lower(input, weight, bias)
    _check_common(op, input, weight, bias, d)
    unbatched = input.dim() == d + 1
    if unbatched:
        input = input.unsqueeze(0)
    stride = _ntuple(stride, d, "stride", op)
    dilation = _ntuple(dilation, d, "dilation", op)
    groups = int(groups)
    ksize = tuple(weight.shape[2:])
    xs = tuple(input.shape)
    O, Cg = weight.shape[0], weight.shape[1]
    if groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported")
    if xs[1] != Cg * groups:
        raise RuntimeError(f"{op}: Given groups={groups}, weight of size {list(weight.shape)}, expected "
                           f"input{list(xs)} to have {Cg * groups} channels, but got {xs[1]} channels instead")
    if O % groups:
        raise RuntimeError(f"{op}: Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if bias is not None and tuple(bias.shape) != (O,):
        raise RuntimeError(f"{op}: Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                           f"with {O} elements, but got bias of size {list(bias.shape)} instead")
    if any(s < 1 for s in stride):
        raise RuntimeError(f"{op}: non-positive stride is not supported")
    if any(s < 1 for s in dilation):
        raise RuntimeError(f"{op}: dilation should be greater than zero")
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * d
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions")
            pads = []
            for k, dl in zip(ksize, dilation):
                tot = dl * (k - 1)
                pads.append((tot // 2, tot - tot // 2))
            pads = tuple(pads)
        else:
            raise RuntimeError(f"{op}: Invalid padding string '{padding}', should be one of ['valid', 'same']")
    else:
        p = _ntuple(padding, d, "padding", op)
        if any(a < 0 for a in p):
            raise RuntimeError(f"{op}: negative padding is not supported")
        pads = tuple((a, a) for a in p)
    for i, (s, k, dl, (lo, hi)) in enumerate(zip(xs[2:], ksize, dilation, pads)):
        if s + lo + hi < dl * (k - 1) + 1:
            raise RuntimeError(f"{op}: Calculated padded input size per channel: "
                               f"({' x '.join(str(a + b + c) for a, (b, c) in zip(xs[2:], pads))}). Kernel size: "
                               f"({' x '.join(str(dd * (kk - 1) + 1) for kk, dd in zip(ksize, dilation))}). "
                               "Kernel size can't be greater than actual input size")
    out = apply(ConvNd, input, weight, bias, stride, pads, dilation, groups)
    return out.squeeze(0) if unbatched else out


@register("conv1d", method=False)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


@register("conv2d", method=False)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@register("conv3d", method=False)
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, d, input, weight, bias, stride, padding, output_padding, groups, dilation):
    if _AC[0]:
        input, weight, bias = _autocast.lower(input, weight, bias)
    _check_common(op, input, weight, bias, d, transposed=True)
    unbatched = input.dim() == d + 1
    if unbatched:
        input = input.unsqueeze(0)
    stride = _ntuple(stride, d, "stride", op)
    dilation = _ntuple(dilation, d, "dilation", op)
    if isinstance(padding, str):
        raise RuntimeError(f"{op}: padding must be an int or a tuple of ints, not a string")
    padding = _ntuple(padding, d, "padding", op)
    output_padding = _ntuple(output_padding, d, "output_padding", op)
    groups = int(groups)
    xs = tuple(input.shape)
    Cin, Cog = weight.shape[0], weight.shape[1]
    if groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported")
    if xs[1] != Cin or Cin % groups:
        raise RuntimeError(f"{op}: Given transposed=1, weight of size {list(weight.shape)}, expected input{list(xs)} "
                           f"to have {Cin} channels, but got {xs[1]} channels instead")
    if bias is not None and tuple(bias.shape) != (Cog * groups,):
        raise RuntimeError(f"{op}: Given transposed=1, weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {Cog * groups} elements, but got bias of size {list(bias.shape)} "
                           "instead")
    for op_, s, dl in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= dl:
            raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                               f"output_padding={list(output_padding)}, stride={list(stride)}, "
                               f"dilation={list(dilation)}")
    if any(s < 1 for s in stride) or any(p < 0 for p in padding) or any(p < 0 for p in output_padding):
        raise RuntimeError(f"{op}: stride must be positive and padding/output_padding non-negative")
    ksize = tuple(weight.shape[2:])
    out_sp = tuple((i - 1) * s - 2 * p + dl * (k - 1) + op_ + 1
                   for i, s, p, dl, k, op_ in zip(xs[2:], stride, padding, dilation, ksize, output_padding))
    if any(o <= 0 for o in out_sp):
        raise RuntimeError(f"{op}: Given input size per channel: {list(xs[2:])}. Calculated output size per channel: "
                           f"{list(out_sp)}. Output size is too small")
    # The padded output buffer holds `out + lo + hi` with hi = padding - output_padding (may be negative:
    # then positions beyond the windows stay zero, which is what output_padding adds).
    pads = tuple((p, p - op_) for p, op_ in zip(padding, output_padding))
    out = apply(ConvTransposeNd, input, weight, bias, stride, pads, dilation, groups, out_sp)
    return out.squeeze(0) if unbatched else out


@register("conv_transpose1d", method=False)
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


@register("conv_transpose2d", method=False)
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


@register("conv_transpose3d", method=False)
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ---- unfold / fold (F.unfold, F.fold): im2col in PyTorch's (N, C*K, L) layout ------------------------------
def _unfold_arr(x, ksize, dil, pads, stride, out_sp):
    xp = xp_of(x)
    N, C = x.shape[0], x.shape[1]
    if any(p for p in pads):
        sp = tuple(s + 2 * p for s, p in zip(x.shape[2:], pads))
        buf = xp.zeros((N, C) + sp, dtype=x.dtype)
        buf[(slice(None), slice(None)) + tuple(slice(p, p + s) for s, p in zip(x.shape[2:], pads))] = x
        x = buf
    offs = _offsets(ksize, dil)
    out = xp.empty((N, C, len(offs)) + out_sp, dtype=x.dtype)
    for i, o in enumerate(offs):
        out[:, :, i] = x[_win(o, stride, out_sp)]
    return out.reshape(N, C * len(offs), _prod(out_sp))


def _fold_arr(cols, C, sp, ksize, dil, pads, stride, out_sp):
    xp = xp_of(cols)
    N = cols.shape[0]
    offs = _offsets(ksize, dil)
    c = cols.reshape((N, C, len(offs)) + out_sp)
    psp = tuple(s + 2 * p for s, p in zip(sp, pads))
    buf = xp.zeros((N, C) + psp, dtype=cols.dtype)
    for i, o in enumerate(offs):
        buf[_win(o, stride, out_sp)] += c[:, :, i]
    if any(p for p in pads):
        buf = buf[(slice(None), slice(None)) + tuple(slice(p, p + s) for s, p in zip(sp, pads))]
    return buf


class Unfold(Node):
    __slots__ = ()

    def forward(self, x, ksize, dil, pads, stride, out_sp):
        self.saved = (x.shape, ksize, dil, pads, stride, out_sp)
        return _unfold_arr(x, ksize, dil, pads, stride, out_sp)

    def backward(self, g):
        xs, ksize, dil, pads, stride, out_sp = self.saved
        return _fold_arr(g, xs[1], xs[2:], ksize, dil, pads, stride, out_sp)


class Fold(Node):
    __slots__ = ()

    def forward(self, cols, C, sp, ksize, dil, pads, stride, out_sp):
        self.saved = (ksize, dil, pads, stride, out_sp)
        return _fold_arr(cols, C, sp, ksize, dil, pads, stride, out_sp)

    def backward(self, g):
        ksize, dil, pads, stride, out_sp = self.saved
        return _unfold_arr(xp_of(g).ascontiguousarray(g), ksize, dil, pads, stride, out_sp)


def _unfold_geometry(op, sp, kernel_size, dilation, padding, stride):
    n = len(sp)
    ksize = _ntuple(kernel_size, n, "kernel_size", op)
    dil = _ntuple(dilation, n, "dilation", op)
    pads = _ntuple(padding, n, "padding", op)
    stride = _ntuple(stride, n, "stride", op)
    if any(k <= 0 for k in ksize) or any(s <= 0 for s in stride) or any(d <= 0 for d in dil) or \
            any(p < 0 for p in pads):
        raise RuntimeError(f"{op}: kernel_size, stride and dilation must be positive and padding non-negative, got "
                           f"kernel_size={list(ksize)}, stride={list(stride)}, dilation={list(dil)}, "
                           f"padding={list(pads)}")
    out_sp = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, p, d, k, st in zip(sp, pads, dil, ksize, stride))
    if any(o <= 0 for o in out_sp):
        raise RuntimeError(f"{op}: Given input with spatial size {list(sp)}, kernel_size={list(ksize)}, "
                           f"dilation={list(dil)}, padding={list(pads)}, calculated shape of the array of sliding "
                           f"blocks as {list(out_sp)}, but its components must be at least one.")
    return ksize, dil, pads, stride, out_sp


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.functional.unfold: (N, C, *S) -> (N, C*prod(kernel_size), L) sliding blocks."""
    if input.dim() not in (3, 4):
        raise RuntimeError(f"unfold: Input Error: Only 3D or 4D input Tensors are supported (got {input.dim()}D)")
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    ksize, dil, pads, stride, out_sp = _unfold_geometry("unfold", tuple(input.shape[2:]), kernel_size, dilation,
                                                        padding, stride)
    out = apply(Unfold, input, ksize, dil, pads, stride, out_sp)
    return out.squeeze(0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.functional.fold (col2im): (N, C*prod(kernel_size), L) -> (N, C, *output_size), summing overlaps."""
    if input.dim() not in (2, 3):
        raise RuntimeError(f"fold: Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {input.dim()}D)")
    unbatched = input.dim() == 2
    if unbatched:
        input = input.unsqueeze(0)
    sp = _ntuple(output_size, 2, "output_size", "fold")
    ksize, dil, pads, stride, out_sp = _unfold_geometry("fold", sp, kernel_size, dilation, padding, stride)
    K = _prod(ksize)
    ck, L = input.shape[1], input.shape[2]
    if ck % K:
        raise RuntimeError(f"fold: Expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={ck} and kernel_size={list(ksize)}")
    if L != _prod(out_sp):
        raise RuntimeError(f"fold: Given output_size={list(sp)}, kernel_size={list(ksize)}, dilation={list(dil)}, "
                           f"padding={list(pads)}, stride={list(stride)}, expected size of input's dimension 2 to "
                           f"match the calculated number of sliding blocks {' * '.join(map(str, out_sp))} = "
                           f"{_prod(out_sp)}, but got input.size(2)={L}.")
    out = apply(Fold, input, ck // K, sp, ksize, dil, pads, stride, out_sp)
    return out.squeeze(0) if unbatched else out
