"""Winograd F(2x2, 3x3) convolution (3x3 kernel, stride 1, dilation 1, one group): forward, input gradient
and weight gradient, on numpy (numba kernels for the transforms) and cupy/numpy arrays (array-module fallback).

The 1-D algorithm F(2, 3) computes two outputs of a 3-tap correlation, y_i = sum_k d_{i+k} g_k, from 4 inputs
with 4 multiplications instead of 6. Its construction (Toom-Cook / Lavin & Gray) evaluates the polynomials
d(x) (degree 3 window) and g(x) at the points 0, 1, -1 and infinity, multiplies pointwise and interpolates:

    B^T = [[1,  0, -1,  0],      G = [[1,    0,   0],      A^T = [[1, 1,  1,  0],
           [0,  1,  1,  0],           [1/2,  1/2, 1/2],           [0, 1, -1, -1]]
           [0, -1,  1,  0],           [1/2, -1/2, 1/2],
           [0,  1,  0, -1]]           [0,    0,   1]]

    y = A^T [(G g) * (B^T d)]       (check: y_0 = m0 + m1 + m2 = d0 g0 + d1 g1 + d2 g2, y_1 = m1 - m2 - m3)

Nested in 2-D: a 2x2 output tile is Y = A^T [U * V] A with U = G w G^T (4x4 per (out, in) channel pair) and
V = B^T d B (4x4 per input tile: the 4x4 window of the padded input at stride 2). Summed over input channels,
the 16 transform positions xi = 4 a + b become 16 independent GEMMs

    M[xi] (Cout, P) = U[xi] (Cout, Cin) @ V[xi] (Cin, P)          P = tiles of the output, 2.25x fewer flops

Backward is the exact adjoint of that chain: dM = A dY A^T per tile (a partial last tile's missing outputs
are zero), dU[xi] = dM[xi] @ V[xi]^T (inner dimension P: a well-shaped GEMM), dw = G^T dU G, and
dV[xi] = U[xi]^T @ dM[xi], dx = the adjoint of the input transform (B dV B^T, summed where tiles overlap).

On CPU the tiles are processed in blocks (whole samples, or bands of tile rows of one sample) so that each
block's V and M stay in the per-core L2 cache between the transform kernels and the GEMMs.
Padding is handled inside the kernels (reads outside the input are zero), so no padded copy is made; any
top/left padding, also negative, and any output size work (the transposed-convolution caller needs that).
"""
import os

import numpy as np

from .._backends.device import xp_of

# B^T, G, A^T as above (float64; cast to the working dtype where used)
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
GM = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)

# bytes of V + M (forward) or V + dM + dV (backward) per block of tiles; the blocks stay in L2 (2 MiB here)
BLOCK_BYTES = 1 << 20

_KERN = 0
_CACHE = True   # numba's on-disk cache (off to inspect the generated code)


def _kernels():
    """The numba transform kernels, compiled once per process; None without numba (or DISTTENSOR_NO_NUMBA=1)."""
    global _KERN
    if _KERN == 0:
        _KERN = None
        if os.environ.get("DISTTENSOR_NO_NUMBA", "0") in ("0", ""):
            try:
                import numba
                _KERN = _build(numba)
            except ImportError:
                _KERN = None
    return _KERN


def _build(numba):
    njit, prange = numba.njit, numba.prange
    opts = dict(cache=_CACHE, fastmath={"nsz", "contract"}, error_model="numpy", boundscheck=False)

    @njit(inline="always")
    def _span(n, off, lim):
        """[lo, hi) of m in [0, n) with 0 <= 2 m + off < lim."""
        lo = 0
        if off < 0:
            lo = (1 - off) // 2
        hi = n
        top = lim - 1 - off          # 2 m <= top
        if top < 0:
            hi = 0
        elif top // 2 + 1 < n:
            hi = top // 2 + 1
        if hi < lo:
            hi = lo
        return lo, hi

    @njit(inline="always")
    def _spans(off, lim, n):
        """For e[m] = row[2 m + off], o[m] = row[2 m + 1 + off], m < n, row indices inside [0, lim): the common
        span [a, b) of m, and each one's own span. Computed once per kernel call: recomputed per row (integer
        divisions of signed values and their branches) it cost 5x the row's copy."""
        le, he = _span(n, off, lim)
        lo_, ho = _span(n, off + 1, lim)
        a, b = max(le, lo_), min(he, ho)
        if b < a:
            b = a
        return a, b, le, he, lo_, ho

    @njit(inline="always")
    def _deint(src, off, e, o, sp):
        """e[m] = src[2 m + off], o[m] = src[2 m + 1 + off] over the spans sp (the other entries are left)."""
        a, b, le, he, lo_, ho = sp
        s = src[2 * a + off:]
        ev = e[a:b]
        ov = o[a:b]
        for m in range(b - a):
            ev[m] = s[2 * m]
            ov[m] = s[2 * m + 1]
        for m in range(le, min(a, he)):
            e[m] = src[2 * m + off]
        for m in range(lo_, min(a, ho)):
            o[m] = src[2 * m + 1 + off]
        for m in range(max(b, le), he):
            e[m] = src[2 * m + off]
        for m in range(max(b, lo_), ho):
            o[m] = src[2 * m + 1 + off]

    @njit(inline="always")
    def _inter(e, o, dst, off, sp, add):
        """dst[2 m + off] (+)= e[m], dst[2 m + 1 + off] (+)= o[m] over the spans sp."""
        a, b, le, he, lo_, ho = sp
        d = dst[2 * a + off:]
        ev = e[a:b]
        ov = o[a:b]
        if add:
            for m in range(b - a):
                d[2 * m] += ev[m]
                d[2 * m + 1] += ov[m]
            for m in range(le, min(a, he)):
                dst[2 * m + off] += e[m]
            for m in range(lo_, min(a, ho)):
                dst[2 * m + 1 + off] += o[m]
            for m in range(max(b, le), he):
                dst[2 * m + off] += e[m]
            for m in range(max(b, lo_), ho):
                dst[2 * m + 1 + off] += o[m]
        else:
            for m in range(b - a):
                d[2 * m] = ev[m]
                d[2 * m + 1] = ov[m]
            for m in range(le, min(a, he)):
                dst[2 * m + off] = e[m]
            for m in range(lo_, min(a, ho)):
                dst[2 * m + 1 + off] = o[m]
            for m in range(max(b, le), he):
                dst[2 * m + off] = e[m]
            for m in range(max(b, lo_), ho):
                dst[2 * m + 1 + off] = o[m]

    def in_tf(x, pt, pl, n0, n1, th0, th1, Tw, V, sx, P):
        """V[xi * sx + c * P + p] = (B^T d B)[xi] for the tiles of samples n0:n1, tile rows th0:th1 of x
        (N, C, H, W); p = ((n - n0) * nth + th - th0) * (Tw + 1) + tw, tw = Tw being a junk tile (see module
        doc). Per channel and sample the band's input rows are split into 4 polyphase planes (row and column
        parity) with rows of Tw + 1: every element of tile p is plane[p + dr * (Tw + 1) + dc], dr, dc in {0, 1},
        so each V matrix is one linear unit-stride loop, which LLVM vectorizes. Planes start zeroed: what
        lies outside the input (padding) is never written."""
        C, H, W = x.shape[1], x.shape[2], x.shape[3]
        nth = th1 - th0
        Lr = Tw + 1
        Lt = nth * Lr
        Lp = Lt + Lr + 1
        sp = _spans(-pl, W, Lr)
        for c in prange(C):
            X = np.zeros(4 * Lp, x.dtype)
            for n in range(n0, n1):
                for i in range(nth + 1):
                    for rp in range(2):
                        r = 2 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            j0 = 2 * rp * Lp + i * Lr
                            _deint(x[n, c, r], -pl, X[j0:j0 + Lr], X[j0 + Lp:j0 + Lp + Lr], sp)
                q0 = c * P + (n - n0) * Lt
                d00 = X[0 * Lp + 0 * Lr + 0:]
                d01 = X[1 * Lp + 0 * Lr + 0:]
                d02 = X[0 * Lp + 0 * Lr + 1:]
                d03 = X[1 * Lp + 0 * Lr + 1:]
                d10 = X[2 * Lp + 0 * Lr + 0:]
                d11 = X[3 * Lp + 0 * Lr + 0:]
                d12 = X[2 * Lp + 0 * Lr + 1:]
                d13 = X[3 * Lp + 0 * Lr + 1:]
                d20 = X[0 * Lp + 1 * Lr + 0:]
                d21 = X[1 * Lp + 1 * Lr + 0:]
                d22 = X[0 * Lp + 1 * Lr + 1:]
                d23 = X[1 * Lp + 1 * Lr + 1:]
                d30 = X[2 * Lp + 1 * Lr + 0:]
                d31 = X[3 * Lp + 1 * Lr + 0:]
                d32 = X[2 * Lp + 1 * Lr + 1:]
                d33 = X[3 * Lp + 1 * Lr + 1:]
                v = V[0 * sx + q0:]
                for p in range(Lt):
                    v[p] = d00[p] - d02[p] - d20[p] + d22[p]
                v = V[1 * sx + q0:]
                for p in range(Lt):
                    v[p] = d01[p] + d02[p] - d21[p] - d22[p]
                v = V[2 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d01[p] + d02[p] + d21[p] - d22[p]
                v = V[3 * sx + q0:]
                for p in range(Lt):
                    v[p] = d01[p] - d03[p] - d21[p] + d23[p]
                v = V[4 * sx + q0:]
                for p in range(Lt):
                    v[p] = d10[p] - d12[p] + d20[p] - d22[p]
                v = V[5 * sx + q0:]
                for p in range(Lt):
                    v[p] = d11[p] + d12[p] + d21[p] + d22[p]
                v = V[6 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d11[p] + d12[p] - d21[p] + d22[p]
                v = V[7 * sx + q0:]
                for p in range(Lt):
                    v[p] = d11[p] - d13[p] + d21[p] - d23[p]
                v = V[8 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d10[p] + d12[p] + d20[p] - d22[p]
                v = V[9 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d11[p] - d12[p] + d21[p] + d22[p]
                v = V[10 * sx + q0:]
                for p in range(Lt):
                    v[p] = d11[p] - d12[p] - d21[p] + d22[p]
                v = V[11 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d11[p] + d13[p] + d21[p] - d23[p]
                v = V[12 * sx + q0:]
                for p in range(Lt):
                    v[p] = d10[p] - d12[p] - d30[p] + d32[p]
                v = V[13 * sx + q0:]
                for p in range(Lt):
                    v[p] = d11[p] + d12[p] - d31[p] - d32[p]
                v = V[14 * sx + q0:]
                for p in range(Lt):
                    v[p] = -d11[p] + d12[p] + d31[p] - d32[p]
                v = V[15 * sx + q0:]
                for p in range(Lt):
                    v[p] = d11[p] - d13[p] - d31[p] + d33[p]

    def out_tf(M, sx, P, bias, y, n0, n1, th0, th1, Tw):
        """y[n, o, 2 th + i, 2 tw + j] = (A^T M A)[i, j] + bias[o] for the block's tiles (junk tiles skipped).
        The last row / column of tiles may be partial (odd output sizes): only positions inside y are written."""
        Oc, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
        nth = th1 - th0
        Lr = Tw + 1
        Lt = nth * Lr
        sp = _spans(0, Wo, Tw)
        for o in prange(Oc):
            Y = np.empty(4 * Lt, y.dtype)
            bv = bias[o]
            for n in range(n0, n1):
                q0 = o * P + (n - n0) * Lt
                m0 = M[0 * sx + q0:]
                m1 = M[1 * sx + q0:]
                m2 = M[2 * sx + q0:]
                m3 = M[3 * sx + q0:]
                m4 = M[4 * sx + q0:]
                m5 = M[5 * sx + q0:]
                m6 = M[6 * sx + q0:]
                m7 = M[7 * sx + q0:]
                m8 = M[8 * sx + q0:]
                m9 = M[9 * sx + q0:]
                m10 = M[10 * sx + q0:]
                m11 = M[11 * sx + q0:]
                m12 = M[12 * sx + q0:]
                m13 = M[13 * sx + q0:]
                m14 = M[14 * sx + q0:]
                m15 = M[15 * sx + q0:]
                t = Y[0 * Lt:]
                for p in range(Lt):
                    t[p] = m0[p] + m1[p] + m2[p] + m4[p] + m5[p] + m6[p] + m8[p] + m9[p] + m10[p] + bv
                t = Y[1 * Lt:]
                for p in range(Lt):
                    t[p] = m1[p] - m2[p] - m3[p] + m5[p] - m6[p] - m7[p] + m9[p] - m10[p] - m11[p] + bv
                t = Y[2 * Lt:]
                for p in range(Lt):
                    t[p] = m4[p] + m5[p] + m6[p] - m8[p] - m9[p] - m10[p] - m12[p] - m13[p] - m14[p] + bv
                t = Y[3 * Lt:]
                for p in range(Lt):
                    t[p] = m5[p] - m6[p] - m7[p] - m9[p] + m10[p] + m11[p] - m13[p] + m14[p] + m15[p] + bv
                for i2 in range(nth):
                    for i in range(2):
                        r = 2 * (th0 + i2) + i
                        if r < Ho:
                            j0 = 2 * i * Lt + i2 * Lr
                            _inter(Y[j0:j0 + Tw], Y[j0 + Lt:j0 + Lt + Tw], y[n, o, r], 0, sp, False)

    def out_adj(g, dM, sx, P, n0, n1, th0, th1, Tw):
        """dM[xi * sx + o * P + p] = (A dY A^T)[xi] for the block's tiles; dY is the 2x2 tile of g, zero outside g
        (so junk tiles get dM = 0)."""
        Oc, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]
        nth = th1 - th0
        Lr = Tw + 1
        Lt = nth * Lr
        sp = _spans(0, Wo, Tw)
        for o in prange(Oc):
            Y = np.zeros(4 * Lt, g.dtype)
            y0, y1, y2, y3 = Y[:Lt], Y[Lt:2 * Lt], Y[2 * Lt:3 * Lt], Y[3 * Lt:]
            for n in range(n0, n1):
                for i2 in range(nth):
                    for i in range(2):
                        r = 2 * (th0 + i2) + i
                        if r < Ho:
                            j0 = 2 * i * Lt + i2 * Lr
                            _deint(g[n, o, r], 0, Y[j0:j0 + Tw], Y[j0 + Lt:j0 + Lt + Tw], sp)
                q0 = o * P + (n - n0) * Lt
                t = dM[0 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p]
                t = dM[1 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] + y1[p]
                t = dM[2 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] - y1[p]
                t = dM[3 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y1[p]
                t = dM[4 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] + y2[p]
                t = dM[5 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] + y1[p] + y2[p] + y3[p]
                t = dM[6 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] - y1[p] + y2[p] - y3[p]
                t = dM[7 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y1[p] - y3[p]
                t = dM[8 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] - y2[p]
                t = dM[9 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] + y1[p] - y2[p] - y3[p]
                t = dM[10 * sx + q0:]
                for p in range(Lt):
                    t[p] = y0[p] - y1[p] - y2[p] + y3[p]
                t = dM[11 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y1[p] + y3[p]
                t = dM[12 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y2[p]
                t = dM[13 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y2[p] - y3[p]
                t = dM[14 * sx + q0:]
                for p in range(Lt):
                    t[p] = -y2[p] + y3[p]
                t = dM[15 * sx + q0:]
                for p in range(Lt):
                    t[p] = y3[p]

    def in_adj(dV, sx, P, gx, pt, pl, n0, n1, th0, th1, Tw):
        """gx += the adjoint of in_tf: each tile's B dV B^T added onto its 4x4 window (windows overlap by 2);
        positions outside gx (padding) are dropped. The 4 planes of in_tf are rebuilt as sums (stage 1: along
        the window's rows; stage 2: along its columns, each of the 4 shifted contributions one linear loop),
        then interleaved back into gx row by row."""
        C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
        nth = th1 - th0
        Lr = Tw + 1
        Lt = nth * Lr
        Lp = Lt + Lr + 1
        sp = _spans(-pl, W, Lr)
        for c in prange(C):
            X = np.empty(4 * Lp, gx.dtype)
            E = np.empty(8 * Lt, gx.dtype)
            for n in range(n0, n1):
                q0 = c * P + (n - n0) * Lt
                v0 = dV[0 * sx + q0:]
                v1 = dV[1 * sx + q0:]
                v2 = dV[2 * sx + q0:]
                v3 = dV[3 * sx + q0:]
                v4 = dV[4 * sx + q0:]
                v5 = dV[5 * sx + q0:]
                v6 = dV[6 * sx + q0:]
                v7 = dV[7 * sx + q0:]
                v8 = dV[8 * sx + q0:]
                v9 = dV[9 * sx + q0:]
                v10 = dV[10 * sx + q0:]
                v11 = dV[11 * sx + q0:]
                v12 = dV[12 * sx + q0:]
                v13 = dV[13 * sx + q0:]
                v14 = dV[14 * sx + q0:]
                v15 = dV[15 * sx + q0:]
                e0 = E[0 * Lt:]
                e1 = E[1 * Lt:]
                e2 = E[2 * Lt:]
                e3 = E[3 * Lt:]
                e4 = E[4 * Lt:]
                e5 = E[5 * Lt:]
                e6 = E[6 * Lt:]
                e7 = E[7 * Lt:]
                for p in range(Lt):
                    e0[p] = v4[p] - v8[p] + v12[p]
                for p in range(Lt):
                    e1[p] = v5[p] - v9[p] + v13[p]
                for p in range(Lt):
                    e2[p] = v6[p] - v10[p] + v14[p]
                for p in range(Lt):
                    e3[p] = v7[p] - v11[p] + v15[p]
                for p in range(Lt):
                    e4[p] = -v0[p] + v4[p] + v8[p]
                for p in range(Lt):
                    e5[p] = -v1[p] + v5[p] + v9[p]
                for p in range(Lt):
                    e6[p] = -v2[p] + v6[p] + v10[p]
                for p in range(Lt):
                    e7[p] = -v3[p] + v7[p] + v11[p]
                X[0 * Lp + Lt:1 * Lp] = 0
                t = X[0 * Lp + 0 * Lr + 0:]
                for p in range(Lt):
                    t[p] = v0[p]
                t = X[0 * Lp + 0 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -v0[p] + v1[p] + v2[p]
                t = X[0 * Lp + 1 * Lr + 0:]
                for p in range(Lt):
                    t[p] += e4[p]
                t = X[0 * Lp + 1 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -e4[p] + e5[p] + e6[p]
                X[1 * Lp + Lt:2 * Lp] = 0
                t = X[1 * Lp + 0 * Lr + 0:]
                for p in range(Lt):
                    t[p] = v1[p] - v2[p] + v3[p]
                t = X[1 * Lp + 0 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -v3[p]
                t = X[1 * Lp + 1 * Lr + 0:]
                for p in range(Lt):
                    t[p] += e5[p] - e6[p] + e7[p]
                t = X[1 * Lp + 1 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -e7[p]
                X[2 * Lp + Lt:3 * Lp] = 0
                t = X[2 * Lp + 0 * Lr + 0:]
                for p in range(Lt):
                    t[p] = e0[p]
                t = X[2 * Lp + 0 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -e0[p] + e1[p] + e2[p]
                t = X[2 * Lp + 1 * Lr + 0:]
                for p in range(Lt):
                    t[p] += -v12[p]
                t = X[2 * Lp + 1 * Lr + 1:]
                for p in range(Lt):
                    t[p] += v12[p] - v13[p] - v14[p]
                X[3 * Lp + Lt:4 * Lp] = 0
                t = X[3 * Lp + 0 * Lr + 0:]
                for p in range(Lt):
                    t[p] = e1[p] - e2[p] + e3[p]
                t = X[3 * Lp + 0 * Lr + 1:]
                for p in range(Lt):
                    t[p] += -e3[p]
                t = X[3 * Lp + 1 * Lr + 0:]
                for p in range(Lt):
                    t[p] += -v13[p] + v14[p] - v15[p]
                t = X[3 * Lp + 1 * Lr + 1:]
                for p in range(Lt):
                    t[p] += v15[p]
                for i in range(nth + 1):
                    for rp in range(2):
                        r = 2 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            j0 = 2 * rp * Lp + i * Lr
                            _inter(X[j0:j0 + Lr], X[j0 + Lp:j0 + Lp + Lr], gx[n, c, r], -pl, sp, True)

    class K:
        pass
    k = K()
    for name, fn in (("in_tf", in_tf), ("out_tf", out_tf), ("out_adj", out_adj), ("in_adj", in_adj)):
        setattr(k, name, njit(parallel=True, **opts)(fn))
        setattr(k, name + "_s", njit(parallel=False, **opts)(fn))
    k.numba = numba
    return k


# ---- weight transforms (small; array module of the weight) -----------------------------------------------
def weight_tf(w):
    """U (16, O, C) = G w G^T for every (out, in) pair of w (O, C, 3, 3)."""
    xp = xp_of(w)
    g = xp.asarray(GM, dtype=w.dtype)
    t = xp.matmul(g, w)                                   # (O, C, 4, 3)
    u = xp.matmul(t, g.T)                                 # (O, C, 4, 4)
    O, C = w.shape[0], w.shape[1]
    return xp.ascontiguousarray(u.reshape(O, C, 16).transpose(2, 0, 1))


def weight_tf_adj(dU, wshape):
    """dw (O, C, 3, 3) = G^T dU G, the adjoint of weight_tf."""
    xp = xp_of(dU)
    g = xp.asarray(GM, dtype=dU.dtype)
    O, C = wshape[0], wshape[1]
    d = dU.transpose(1, 2, 0).reshape(O, C, 4, 4)
    return xp.matmul(xp.matmul(g.T, d), g)


# ---- blocks of tiles ------------------------------------------------------------------------------------
def _blocks(N, Th, Tw, per_tile_bytes):
    """(n0, n1, th0, th1) blocks of about BLOCK_BYTES: whole samples, or bands of tile rows of one sample."""
    per_sample = Th * (Tw + 1) * per_tile_bytes
    if per_sample <= BLOCK_BYTES:
        ns = max(1, min(N, BLOCK_BYTES // max(per_sample, 1)))
        return [(n0, min(N, n0 + ns), 0, Th) for n0 in range(0, N, ns)]
    rows = max(1, BLOCK_BYTES // ((Tw + 1) * per_tile_bytes))
    return [(n, n + 1, t0, min(Th, t0 + rows)) for n in range(N) for t0 in range(0, Th, rows)]


def _xi_stride(rows, P, itemsize):
    """Elements between the 16 matrices of a (16, rows, P) block buffer. The transform kernels write (or read)
    all 16 at once; were their distance a multiple of 4 KiB, the 16 streams would fall in one L1 cache set
    (8 ways) and thrash it (measured: 5-10x slower kernels). So the distance is 256 bytes past a 4 KiB multiple."""
    page = 4096 // itemsize
    return -(-rows * P // page) * page + 256 // itemsize


def _view16(buf, rows, P):
    """A (16, rows, P) view of the flat buffer, C-contiguous per matrix, matrices _xi_stride apart (the
    kernels index the flat buffer: [xi * sx + row * P + p], so that numba sees unit strides)."""
    st = _xi_stride(rows, P, buf.itemsize)
    return np.lib.stride_tricks.as_strided(buf, (16, rows, P), (st * buf.itemsize, P * buf.itemsize, buf.itemsize))


def _buf16(rows, pmax, dtype):
    return np.empty(16 * _xi_stride(rows, pmax, np.dtype(dtype).itemsize), dtype=dtype)


def _use_kernels(a):
    return a.__class__ is np.ndarray and (a.dtype == np.float32 or a.dtype == np.float64) and \
        _kernels() is not None


def _par():
    k = _kernels()
    return k.numba.get_num_threads() > 1


def forward(x, w, b, pt, pl, out_sp, U=None):
    """y (N, O, Ho, Wo) = conv2d(x, w, b) with a 3x3 kernel, stride 1, top/left padding pt/pl (the bottom/right
    padding is whatever makes the output out_sp)."""
    if not _use_kernels(x):
        return _forward_xp(x, w, b, pt, pl, out_sp)
    K = _kernels()
    x = np.ascontiguousarray(x)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Ho, Wo = out_sp
    Th, Tw = (Ho + 1) // 2, (Wo + 1) // 2
    if U is None:
        U = weight_tf(w)
    y = np.empty((N, O, Ho, Wo), dtype=x.dtype)
    blocks = _blocks(N, Th, Tw, 16 * (C + O) * x.itemsize)
    pmax = max((n1 - n0) * (t1 - t0) for n0, n1, t0, t1 in blocks) * (Tw + 1)
    vbuf = _buf16(C, pmax, x.dtype)
    mbuf = _buf16(O, pmax, x.dtype)
    par = _par()
    in_tf, out_tf = (K.in_tf, K.out_tf) if par else (K.in_tf_s, K.out_tf_s)
    bias = np.zeros(O, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    for n0, n1, t0, t1 in blocks:
        P = (n1 - n0) * (t1 - t0) * (Tw + 1)
        sv, sm = _xi_stride(C, P, x.itemsize), _xi_stride(O, P, x.itemsize)
        in_tf(x, pt, pl, n0, n1, t0, t1, Tw, vbuf, sv, P)
        np.matmul(U, _view16(vbuf, C, P), out=_view16(mbuf, O, P))
        out_tf(mbuf, sm, P, bias, y, n0, n1, t0, t1, Tw)
    return y


def backward(g, x, w, pt, pl, need_input=True, need_weight=True):
    """(grad_input, grad_weight) of forward(); None where not needed."""
    if not _use_kernels(g):
        return _backward_xp(g, x, w, pt, pl, need_input, need_weight)
    K = _kernels()
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Ho, Wo = g.shape[2], g.shape[3]
    Th, Tw = (Ho + 1) // 2, (Wo + 1) // 2
    U = weight_tf(w) if need_input else None
    Ut = np.ascontiguousarray(U.transpose(0, 2, 1)) if need_input else None
    per_tile = 16 * (O + (C if need_weight else 0) + (C if need_input else 0)) * x.itemsize
    blocks = _blocks(N, Th, Tw, per_tile)
    pmax = max((n1 - n0) * (t1 - t0) for n0, n1, t0, t1 in blocks) * (Tw + 1)
    mbuf = _buf16(O, pmax, x.dtype)
    vbuf = _buf16(C, pmax, x.dtype) if need_weight else None
    dvbuf = _buf16(C, pmax, x.dtype) if need_input else None
    par = _par()
    if par:
        in_tf, out_adj, in_adj = K.in_tf, K.out_adj, K.in_adj
    else:
        in_tf, out_adj, in_adj = K.in_tf_s, K.out_adj_s, K.in_adj_s
    gx = np.zeros(x.shape, dtype=x.dtype) if need_input else None
    dU = None
    for n0, n1, t0, t1 in blocks:
        P = (n1 - n0) * (t1 - t0) * (Tw + 1)
        sm, sv = _xi_stride(O, P, x.itemsize), _xi_stride(C, P, x.itemsize)
        dM = _view16(mbuf, O, P)
        out_adj(g, mbuf, sm, P, n0, n1, t0, t1, Tw)
        if need_weight:
            in_tf(x, pt, pl, n0, n1, t0, t1, Tw, vbuf, sv, P)
            V = _view16(vbuf, C, P)
            t = np.matmul(dM, V.transpose(0, 2, 1))
            if dU is None:
                dU = t
            else:
                dU += t
        if need_input:
            dV = _view16(dvbuf, C, P)
            np.matmul(Ut, dM, out=dV)
            in_adj(dvbuf, sv, P, gx, pt, pl, n0, n1, t0, t1, Tw)
    gw = weight_tf_adj(dU, w.shape) if need_weight else None
    return gx, gw


# ---- array-module fallback (cupy, or numpy without numba): whole-batch transforms with strided views --------
def _tiles_view_xp(x, pt, pl, Th, Tw):
    """The zero-padded input covering all tiles: (N, C, 2 Th + 2, 2 Tw + 2)."""
    xp = xp_of(x)
    N, C, H, W = x.shape
    Hp, Wp = 2 * Th + 2, 2 * Tw + 2
    buf = xp.zeros((N, C, Hp, Wp), dtype=x.dtype)
    # rows r of x land at r + pt; keep those inside [0, Hp)
    r0, r1 = max(0, -pt), min(H, Hp - pt)
    c0, c1 = max(0, -pl), min(W, Wp - pl)
    if r1 > r0 and c1 > c0:
        buf[:, :, r0 + pt:r1 + pt, c0 + pl:c1 + pl] = x[:, :, r0:r1, c0:c1]
    return buf


def _bt_1d(d0, d1, d2, d3):
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _input_tf_xp(x, pt, pl, Th, Tw):
    """V (16, C, P) with P = N * Th * Tw (tile order n, th, tw)."""
    xp = xp_of(x)
    N, C = x.shape[0], x.shape[1]
    xpd = _tiles_view_xp(x, pt, pl, Th, Tw)
    rows = [xpd[:, :, a:a + 2 * Th:2, :] for a in range(4)]           # (N, C, Th, Wp) each
    rt = _bt_1d(*rows)                                                 # transform along a
    V = xp.empty((4, 4, N, C, Th, Tw), dtype=x.dtype)
    for a in range(4):
        cols = [rt[a][..., k:k + 2 * Tw:2] for k in range(4)]          # (N, C, Th, Tw)
        for b, v in enumerate(_bt_1d(*cols)):
            V[a, b] = v
    return V.reshape(16, N, C, Th * Tw).transpose(0, 2, 1, 3).reshape(16, C, N * Th * Tw)


def _output_tf_xp(M, N, Th, Tw, out_sp, b):
    """y (N, O, Ho, Wo) from M (16, O, P)."""
    xp = xp_of(M)
    O = M.shape[1]
    m = M.reshape(4, 4, O, N, Th, Tw)
    s0 = m[:, 0] + m[:, 1] + m[:, 2]               # (4, O, N, Th, Tw) along b
    s1 = m[:, 1] - m[:, 2] - m[:, 3]
    y = xp.empty((N, O, Th, 2, Tw, 2), dtype=M.dtype)
    for j, s in enumerate((s0, s1)):
        y[:, :, :, 0, :, j] = (s[0] + s[1] + s[2]).transpose(1, 0, 2, 3)
        y[:, :, :, 1, :, j] = (s[1] - s[2] - s[3]).transpose(1, 0, 2, 3)
    y = y.reshape(N, O, 2 * Th, 2 * Tw)[:, :, :out_sp[0], :out_sp[1]]
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    return xp.ascontiguousarray(y)


def _output_adj_xp(g, Th, Tw):
    """dM (16, O, P) from g (N, O, Ho, Wo)."""
    xp = xp_of(g)
    N, O, Ho, Wo = g.shape
    gp = xp.zeros((N, O, 2 * Th, 2 * Tw), dtype=g.dtype)
    gp[:, :, :Ho, :Wo] = g
    gp = gp.reshape(N, O, Th, 2, Tw, 2).transpose(1, 0, 2, 4, 3, 5)   # (O, N, Th, Tw, i, j)

    def adj(y0, y1):
        return y0, y0 + y1, y0 - y1, -y1
    rows = adj(gp[..., 0, :], gp[..., 1, :])                          # 4 x (O, N, Th, Tw, j)
    dM = xp.empty((4, 4, O, N, Th, Tw), dtype=g.dtype)
    for a in range(4):
        for bb, v in enumerate(adj(rows[a][..., 0], rows[a][..., 1])):
            dM[a, bb] = v
    return dM.reshape(16, O, N * Th * Tw)


def _input_adj_xp(dV, xshape, pt, pl, Th, Tw):
    """gx (N, C, H, W): adjoint of _input_tf_xp."""
    xp = xp_of(dV)
    N, C, H, W = xshape
    v = dV.reshape(4, 4, C, N, Th, Tw)

    def adj(v0, v1, v2, v3):          # the transpose of B^T: d_k = sum_b BT[b, k] v_b
        return v0, v1 - v2 + v3, v1 + v2 - v0, -v3
    t = adj(v[0], v[1], v[2], v[3])                                     # along a: 4 x (4b, C, N, Th, Tw)
    Hp, Wp = 2 * Th + 2, 2 * Tw + 2
    buf = xp.zeros((C, N, Hp, Wp), dtype=dV.dtype)
    for a in range(4):
        for k, d in enumerate(adj(t[a][0], t[a][1], t[a][2], t[a][3])):  # (C, N, Th, Tw)
            buf[:, :, a:a + 2 * Th:2, k:k + 2 * Tw:2] += d
    gx = xp.zeros((N, C, H, W), dtype=dV.dtype)
    r0, r1 = max(0, -pt), min(H, Hp - pt)
    c0, c1 = max(0, -pl), min(W, Wp - pl)
    if r1 > r0 and c1 > c0:
        gx[:, :, r0:r1, c0:c1] = buf[:, :, r0 + pt:r1 + pt, c0 + pl:c1 + pl].transpose(1, 0, 2, 3)
    return gx


def _forward_xp(x, w, b, pt, pl, out_sp):
    xp = xp_of(x)
    Th, Tw = (out_sp[0] + 1) // 2, (out_sp[1] + 1) // 2
    V = _input_tf_xp(x, pt, pl, Th, Tw)
    M = xp.matmul(weight_tf(w), V)
    return _output_tf_xp(M, x.shape[0], Th, Tw, out_sp, b)


def _backward_xp(g, x, w, pt, pl, need_input, need_weight):
    xp = xp_of(g)
    Th, Tw = (g.shape[2] + 1) // 2, (g.shape[3] + 1) // 2
    dM = _output_adj_xp(g, Th, Tw)
    gx = gw = None
    if need_weight:
        V = _input_tf_xp(x, pt, pl, Th, Tw)
        gw = weight_tf_adj(xp.matmul(dM, V.transpose(0, 2, 1)), w.shape)
    if need_input:
        dV = xp.matmul(weight_tf(w).transpose(0, 2, 1), dM)
        gx = _input_adj_xp(dV, x.shape, pt, pl, Th, Tw)
    return gx, gw
