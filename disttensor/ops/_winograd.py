"""Winograd convolution F(m x m, 3 x 3), m = 4 (default) or 2: a 3x3 kernel, stride 1, dilation 1, one group.
Forward, input gradient and weight gradient; numba kernels for the transforms on CPU, and an array-module
path (cupy, or numpy without numba). nn_conv's dispatch picks it where it is faster than im2col + GEMM.

The 1-D algorithm F(m, 3) computes m outputs of the 3-tap correlation y_i = sum_k d_{i+k} g_k from n = m + 2
inputs with n multiplications instead of 3 m: y = A^T [(G g) * (B^T d)]. The matrices are derived here
(toom_cook) by Toom-Cook: the linear convolution s = g * h is computed by evaluating g and h at n - 1 points
and infinity (the leading coefficient), multiplying, and interpolating; the correlation is its transpose
(A^T = the evaluation matrix of h transposed, B^T = the interpolation matrix transposed), and the scale of
each row of B^T and each column of A^T is moved into G, so that B^T and A^T have integer entries:

    F(2, 3), points 0, 1, -1:   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]],
        G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],   A^T = [[1, 1, 1, 0], [0, 1, -1, 1]]
    F(4, 3), points 0, 1, -1, -1/2, 2:   B^T rows [2, 3, -4, -3, 2, 0], [0, 2, 5, 1, -2, 0],
        [0, 2, 1, -5, 2, 0], [0, -2, 1, 2, -1, 0], [0, -1, -2, 1, 2, 0], [0, 2, 3, -4, -3, 2];
        A^T rows [1, 1, 1, 8, 1, 0], [0, 1, -1, -4, 2, 0], [0, 1, 1, 2, 4, 0], [0, 1, -1, -1, 8, 1];
        G rows [1/2, 0, 0], [1/6, 1/6, 1/6], [1/6, -1/6, 1/6], [2/15, -1/15, 1/30], [1/30, 1/15, 2/15], [0, 0, 1/2]

Nested in 2-D, an m x m output tile is Y = A^T [U * V] A with U = G w G^T (n x n per (out, in) channel pair)
and V = B^T d B (n x n per input tile: the n x n window of the padded input, windows m apart). Summed over
the input channels, the n^2 transform positions xi = n a + b are n^2 independent GEMMs

    M[xi] (Cout, P) = U[xi] (Cout, Cin) @ V[xi] (Cin, P)          P = tiles of the output

that is n^2 / m^2 multiplications per output instead of 9: 4 for F(2, 3), 2.25 for F(4, 3).
Backward is the exact adjoint of that chain: dM = A dY A^T per tile (a partial last tile's missing outputs
are zero), dU[xi] = dM[xi] @ V[xi]^T (inner dimension P), dw = G^T dU G, dV[xi] = U[xi]^T @ dM[xi], and
dx = the adjoint of the input transform (B dV B^T, summed where windows overlap).

Accuracy, float32 against float64, largest error over the largest output (measured, N(0, 1) inputs): F(2, 3)
3e-7 to 6e-7 (like PyTorch's direct convolution), F(4, 3) 1.4e-6 with the points above (5e-6 to 1e-5 with the
usual 0, +-1, +-2). The error of F(4, 3) comes from the float32 GEMM's rounding (with the GEMM in float64 it
drops 4-5x), amplified by A^T, and grows with the inner dimension, the in-channels: on the op tests' data
(uniform(-2, 2) inputs and weights, atol = rtol = 2e-4) it uses 0.3-0.56 of their float32 tolerance up to 48
in-channels, 1.0-1.1 at 64 and 1.5 at 128, so nn_conv picks F(4, 3) only up to 48 (F(2, 3): 0.15 at 64, 0.46
at 256; PyTorch's own float32 convolution 0.12 and 0.22). float64: 1e-15 / 3e-15.

CPU layout. Tiles are processed in blocks (whole samples, or bands of tile rows of one sample). Within a block
of nb samples the tile (sample n, tile row th, tile column tw) is p = (th nb + n - n0) (Tw + 1) + tw: the next
tile row is p + R, R = nb (Tw + 1), and each row of tiles carries one junk tile (tw = Tw) that the GEMMs compute
and the output transform drops. That makes every transform a handful of linear unit-stride loops over the
whole block, which LLVM vectorizes: the band's padded input rows are copied into a buffer with rows of
m (Tw + 1) values, split into m x m polyphase planes (row phase, column phase), and element (k, l) of tile p's
window is then plane (k % m, l % m) at p + (k // m) R + l // m for every tile: a constant shift. (Loops over
one row of tiles, 6-16 long, ran at a third of the speed; one loop storing all n^2 outputs was not vectorized;
numba's negative-index test on an offset index turned loads into gathers: hence the slices taken before each
loop.) The n^2 matrices of a block buffer are not 4 KiB apart (same L1 sets: 5-10x slower kernels).
Padding is never copied: positions outside the input stay zero in the kernels' per-call buffers.
"""
import math
import os
from fractions import Fraction

import numpy as np

from .._backends.device import xp_of

# tile size m of F(m x m, 3 x 3) used by forward() / backward() (2 or 4)
TILE = 4
# bytes of the transform buffers per block of tiles (V + M forward; V + dM + dV backward): see _blocks
BLOCK_BYTES = 4 << 20
BLOCK_BYTES_BWD = 8 << 20

_KERN = 0
_CACHE = True   # numba's on-disk cache (off to inspect the generated code)


# ---- the transform matrices -----------------------------------------------------------------------------
def toom_cook(m, r, points):
    """A^T (m x n), G (n x r), B^T (n x n) of the correlation F(m, r), n = m + r - 1, from n - 1 distinct finite
    points and infinity, as Fractions (see the module doc)."""
    n = m + r - 1
    pts = [Fraction(p) for p in points]
    if len(pts) != n - 1 or len(set(pts)) != len(pts):
        raise ValueError(f"F({m}, {r}) needs {n - 1} distinct finite points, got {points}")

    def vander(k):       # rows: the values at the points, then the leading coefficient
        return [[p ** j for j in range(k)] for p in pts] + [[Fraction(0)] * (k - 1) + [Fraction(1)]]

    def times_linear(c, q):          # the polynomial c(x) (x - q)
        out = [Fraction(0)] * (len(c) + 1)
        for j, v in enumerate(c):
            out[j + 1] += v
            out[j] -= q * v
        return out
    # interpolation: s(x) = s_inf * prod_p (x - p) + sum_i s(p_i) l_i(x), l_i the Lagrange basis of the points
    interp = [[Fraction(0)] * n for _ in range(n)]     # interp[j][i]: coefficient j of s from value i
    full = [Fraction(1)]
    for p in pts:
        full = times_linear(full, p)
    for j in range(n):
        interp[j][n - 1] = full[j]
    for i, p in enumerate(pts):
        basis, den = [Fraction(1)], Fraction(1)
        for q in pts:
            if q != p:
                basis = times_linear(basis, q)
                den *= p - q
        for j, v in enumerate(basis):
            interp[j][i] += v / den
    AT = [list(col) for col in zip(*vander(m))]
    BT = [list(col) for col in zip(*interp)]
    G = vander(r)
    for i in range(n):
        lcm = 1
        for v in BT[i]:
            lcm = lcm * v.denominator // math.gcd(lcm, v.denominator)
        g = 0
        for v in BT[i]:
            g = math.gcd(g, abs(int(v * lcm)))
        s = Fraction(g, lcm)
        BT[i] = [v / s for v in BT[i]]
        G[i] = [v * s for v in G[i]]
    for a in range(n):              # and each column's scale from A^T into G (A^T integral)
        lcm = 1
        for row in AT:
            lcm = lcm * row[a].denominator // math.gcd(lcm, row[a].denominator)
        for row in AT:
            row[a] *= lcm
        G[a] = [v / lcm for v in G[a]]
    return AT, G, BT


POINTS = {2: (0, 1, -1), 4: (0, 1, -1, Fraction(-1, 2), 2)}
_MATS = {}


def matrices(m):
    """(A^T, G, B^T) of F(m, 3) as float64 arrays."""
    if m not in _MATS:
        _MATS[m] = tuple(np.array([[float(v) for v in row] for row in a]) for a in toom_cook(m, 3, POINTS[m]))
    return _MATS[m]


def _consts(m):
    """The transform coefficients other than +-1 (kernel argument `cst`, in the data's dtype)."""
    AT, G, BT = toom_cook(m, 3, POINTS[m])
    return sorted({int(abs(v)) for row in AT + BT for v in row if v and abs(v) != 1})


def _kernels():
    """The numba transform kernels, compiled lazily per signature; None without numba (or DISTTENSOR_NO_NUMBA=1)."""
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
    njit = numba.njit
    # serial kernels, nogil: the block groups of one call may run on several Python threads (see forward)
    opts = dict(cache=_CACHE, nogil=True, fastmath={"nsz", "contract"}, error_model="numpy", boundscheck=False)

    # BEGIN GENERATED KERNELS (python -m disttensor.ops._winograd rewrites this block)
    def in_tf2(x, pt, pl, n0, n1, th0, th1, Tw, V, sx, P, cst):
        """V[xi * sx + c * P + p] = (B^T d B)[xi] of F(2x2, 3x3) for the tiles p of samples n0:n1, tile rows
        th0:th1 of x (N, C, H, W); see the module doc for the steps and the layout."""
        C, H, W = x.shape[1], x.shape[2], x.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 2 * Lr
        Lz = (nth + 1) * R
        Lq = Lt + R
        qa, qb = max(0, -pl), min(W, Wp - pl)
        for c in range(C):
            xb = np.zeros(2 * Lz * 2, x.dtype)
            X = np.empty(4 * (Lz + 1), x.dtype)
            if qb > qa:
                for rp in range(2):
                    for i in range(nth + 1):
                        r = 2 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            for nn in range(nb):
                                d = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]
                                s = x[n0 + nn, c, r, qa:qb]
                                for q in range(qb - qa):
                                    d[q] = s[q]
            for rp in range(2):
                s = xb[rp * 2 * Lz:]
                x0 = X[(rp * 2 + 0) * (Lz + 1):]
                x1 = X[(rp * 2 + 1) * (Lz + 1):]
                for z in range(Lz):
                    x0[z] = s[2 * z]
                    x1[z] = s[2 * z + 1]
                x0[Lz] = 0
                x1[Lz] = 0
            q0 = c * P
            d00 = X[0 * (Lz + 1) + 0 * R + 0:]
            d01 = X[1 * (Lz + 1) + 0 * R + 0:]
            d02 = X[0 * (Lz + 1) + 0 * R + 1:]
            d03 = X[1 * (Lz + 1) + 0 * R + 1:]
            d10 = X[2 * (Lz + 1) + 0 * R + 0:]
            d11 = X[3 * (Lz + 1) + 0 * R + 0:]
            d12 = X[2 * (Lz + 1) + 0 * R + 1:]
            d13 = X[3 * (Lz + 1) + 0 * R + 1:]
            d20 = X[0 * (Lz + 1) + 1 * R + 0:]
            d21 = X[1 * (Lz + 1) + 1 * R + 0:]
            d22 = X[0 * (Lz + 1) + 1 * R + 1:]
            d23 = X[1 * (Lz + 1) + 1 * R + 1:]
            d30 = X[2 * (Lz + 1) + 1 * R + 0:]
            d31 = X[3 * (Lz + 1) + 1 * R + 0:]
            d32 = X[2 * (Lz + 1) + 1 * R + 1:]
            d33 = X[3 * (Lz + 1) + 1 * R + 1:]
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
                v[p] = -d01[p] + d03[p] + d21[p] - d23[p]
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
                v[p] = -d11[p] + d13[p] - d21[p] + d23[p]
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
                v[p] = d11[p] - d13[p] - d21[p] + d23[p]
            v = V[12 * sx + q0:]
            for p in range(Lt):
                v[p] = -d10[p] + d12[p] + d30[p] - d32[p]
            v = V[13 * sx + q0:]
            for p in range(Lt):
                v[p] = -d11[p] - d12[p] + d31[p] + d32[p]
            v = V[14 * sx + q0:]
            for p in range(Lt):
                v[p] = d11[p] - d12[p] - d31[p] + d32[p]
            v = V[15 * sx + q0:]
            for p in range(Lt):
                v[p] = d11[p] - d13[p] - d31[p] + d33[p]

    def out_tf2(M, sx, P, bias, y, n0, n1, th0, th1, Tw, cst):
        """y[n, o, 2 th + i, 2 tw + j] = (A^T M A)[i, j] + bias[o] for the block's tiles (junk tiles dropped;
        only the positions inside y are written: odd output sizes end with partial tiles)."""
        Oc, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 2 * Lr
        for o in range(Oc):
            Y = np.empty(4 * Lt, y.dtype)
            yb = np.empty(2 * Lt * 2, y.dtype)
            bv = bias[o]
            q0 = o * P
            m00 = M[0 * sx + q0:]
            m01 = M[1 * sx + q0:]
            m02 = M[2 * sx + q0:]
            m03 = M[3 * sx + q0:]
            m10 = M[4 * sx + q0:]
            m11 = M[5 * sx + q0:]
            m12 = M[6 * sx + q0:]
            m13 = M[7 * sx + q0:]
            m20 = M[8 * sx + q0:]
            m21 = M[9 * sx + q0:]
            m22 = M[10 * sx + q0:]
            m23 = M[11 * sx + q0:]
            m30 = M[12 * sx + q0:]
            m31 = M[13 * sx + q0:]
            m32 = M[14 * sx + q0:]
            m33 = M[15 * sx + q0:]
            t = Y[0 * Lt:]
            for p in range(Lt):
                t[p] = m00[p] + m01[p] + m02[p] + m10[p] + m11[p] + m12[p] + m20[p] + m21[p] + m22[p] + bv
            t = Y[1 * Lt:]
            for p in range(Lt):
                t[p] = m01[p] - m02[p] + m03[p] + m11[p] - m12[p] + m13[p] + m21[p] - m22[p] + m23[p] + bv
            t = Y[2 * Lt:]
            for p in range(Lt):
                t[p] = m10[p] + m11[p] + m12[p] - m20[p] - m21[p] - m22[p] + m30[p] + m31[p] + m32[p] + bv
            t = Y[3 * Lt:]
            for p in range(Lt):
                t[p] = m11[p] - m12[p] + m13[p] - m21[p] + m22[p] - m23[p] + m31[p] - m32[p] + m33[p] + bv
            for i in range(2):
                d = yb[i * 2 * Lt:]
                y0 = Y[(i * 2 + 0) * Lt:]
                y1 = Y[(i * 2 + 1) * Lt:]
                for z in range(Lt):
                    d[2 * z] = y0[z]
                    d[2 * z + 1] = y1[z]
            for i in range(2):
                for th in range(nth):
                    r = 2 * (th0 + th) + i
                    if r < Ho:
                        for nn in range(nb):
                            s = yb[((i * nth + th) * nb + nn) * Wp:]
                            d = y[n0 + nn, o, r]
                            for q in range(Wo):
                                d[q] = s[q]

    def out_adj2(g, dM, sx, P, n0, n1, th0, th1, Tw, cst):
        """dM[xi * sx + o * P + p] = (A dY A^T)[xi] for the block's tiles; dY is the 2x2 tile of g, zero outside g
        (so junk tiles get dM = 0)."""
        Oc, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 2 * Lr
        for o in range(Oc):
            gb = np.zeros(2 * Lt * 2, g.dtype)
            Y = np.empty(4 * Lt, g.dtype)
            for i in range(2):
                for th in range(nth):
                    r = 2 * (th0 + th) + i
                    if r < Ho:
                        for nn in range(nb):
                            d = gb[((i * nth + th) * nb + nn) * Wp:]
                            s = g[n0 + nn, o, r]
                            for q in range(Wo):
                                d[q] = s[q]
            for i in range(2):
                s = gb[i * 2 * Lt:]
                y0 = Y[(i * 2 + 0) * Lt:]
                y1 = Y[(i * 2 + 1) * Lt:]
                for z in range(Lt):
                    y0[z] = s[2 * z]
                    y1[z] = s[2 * z + 1]
            q0 = o * P
            y00 = Y[0 * Lt:]
            y01 = Y[1 * Lt:]
            y10 = Y[2 * Lt:]
            y11 = Y[3 * Lt:]
            d = dM[0 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p]
            d = dM[1 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] + y01[p]
            d = dM[2 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] - y01[p]
            d = dM[3 * sx + q0:]
            for p in range(Lt):
                d[p] = y01[p]
            d = dM[4 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] + y10[p]
            d = dM[5 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] + y01[p] + y10[p] + y11[p]
            d = dM[6 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] - y01[p] + y10[p] - y11[p]
            d = dM[7 * sx + q0:]
            for p in range(Lt):
                d[p] = y01[p] + y11[p]
            d = dM[8 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] - y10[p]
            d = dM[9 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] + y01[p] - y10[p] - y11[p]
            d = dM[10 * sx + q0:]
            for p in range(Lt):
                d[p] = y00[p] - y01[p] - y10[p] + y11[p]
            d = dM[11 * sx + q0:]
            for p in range(Lt):
                d[p] = y01[p] - y11[p]
            d = dM[12 * sx + q0:]
            for p in range(Lt):
                d[p] = y10[p]
            d = dM[13 * sx + q0:]
            for p in range(Lt):
                d[p] = y10[p] + y11[p]
            d = dM[14 * sx + q0:]
            for p in range(Lt):
                d[p] = y10[p] - y11[p]
            d = dM[15 * sx + q0:]
            for p in range(Lt):
                d[p] = y11[p]

    def in_adj2(dV, sx, P, gx, pt, pl, n0, n1, th0, th1, Tw, cst, add):
        """gx (+)= the adjoint of in_tf2: each tile's B dV B^T summed onto its 4x4 window (windows overlap),
        positions outside gx (padding) dropped; the band's rows are added to gx (add) or stored."""
        C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 2 * Lr
        Lz = (nth + 1) * R
        qa, qb = max(0, -pl), min(W, Wp - pl)
        for c in range(C):
            E = np.empty(16 * Lt, gx.dtype)
            X = np.empty(4 * (Lz + 1), gx.dtype)
            xb = np.empty(2 * Lz * 2, gx.dtype)
            q0 = c * P
            for b in range(4):
                v0 = dV[(0 * 4 + b) * sx + q0:]
                v1 = dV[(1 * 4 + b) * sx + q0:]
                v2 = dV[(2 * 4 + b) * sx + q0:]
                v3 = dV[(3 * 4 + b) * sx + q0:]
                e = E[(0 * 4 + b) * Lt:]
                for p in range(Lt):
                    e[p] = v0[p]
                e = E[(1 * 4 + b) * Lt:]
                for p in range(Lt):
                    e[p] = v1[p] - v2[p] - v3[p]
                e = E[(2 * 4 + b) * Lt:]
                for p in range(Lt):
                    e[p] = -v0[p] + v1[p] + v2[p]
                e = E[(3 * 4 + b) * Lt:]
                for p in range(Lt):
                    e[p] = v3[p]
            for j in range(4):
                X[j * (Lz + 1) + Lt:(j + 1) * (Lz + 1)] = 0
            for k in range(4):
                rp, dr = k % 2, k // 2
                e0 = E[(k * 4 + 0) * Lt:]
                e1 = E[(k * 4 + 1) * Lt:]
                e2 = E[(k * 4 + 2) * Lt:]
                e3 = E[(k * 4 + 3) * Lt:]
                t = X[(rp * 2 + 0) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = e0[p]
                else:
                    for p in range(Lt):
                        t[p] += e0[p]
                t = X[(rp * 2 + 1) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = e1[p] - e2[p] - e3[p]
                else:
                    for p in range(Lt):
                        t[p] += e1[p] - e2[p] - e3[p]
                t = X[(rp * 2 + 0) * (Lz + 1) + dr * R + 1:]
                for p in range(Lt):
                    t[p] += -e0[p] + e1[p] + e2[p]
                t = X[(rp * 2 + 1) * (Lz + 1) + dr * R + 1:]
                for p in range(Lt):
                    t[p] += e3[p]
            for rp in range(2):
                d = xb[rp * 2 * Lz:]
                x0 = X[(rp * 2 + 0) * (Lz + 1):]
                x1 = X[(rp * 2 + 1) * (Lz + 1):]
                for z in range(Lz):
                    d[2 * z] = x0[z]
                    d[2 * z + 1] = x1[z]
            if qb > qa:
                for rp in range(2):
                    for i in range(nth + 1):
                        r = 2 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            for nn in range(nb):
                                s = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]
                                d = gx[n0 + nn, c, r, qa:qb]
                                if add:
                                    for q in range(qb - qa):
                                        d[q] += s[q]
                                else:
                                    for q in range(qb - qa):
                                        d[q] = s[q]

    def in_tf4(x, pt, pl, n0, n1, th0, th1, Tw, V, sx, P, cst):
        """V[xi * sx + c * P + p] = (B^T d B)[xi] of F(4x4, 3x3) for the tiles p of samples n0:n1, tile rows
        th0:th1 of x (N, C, H, W); see the module doc for the steps and the layout."""
        C, H, W = x.shape[1], x.shape[2], x.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 4 * Lr
        c2 = cst[0]
        c3 = cst[1]
        c4 = cst[2]
        c5 = cst[3]
        c8 = cst[4]
        Lz = (nth + 1) * R
        Lq = Lt + R
        qa, qb = max(0, -pl), min(W, Wp - pl)
        for c in range(C):
            xb = np.zeros(4 * Lz * 4, x.dtype)
            X = np.empty(16 * (Lz + 1), x.dtype)
            T = np.empty(24 * Lq, x.dtype)
            if qb > qa:
                for rp in range(4):
                    for i in range(nth + 1):
                        r = 4 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            for nn in range(nb):
                                d = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]
                                s = x[n0 + nn, c, r, qa:qb]
                                for q in range(qb - qa):
                                    d[q] = s[q]
            for rp in range(4):
                s = xb[rp * 4 * Lz:]
                x0 = X[(rp * 4 + 0) * (Lz + 1):]
                x1 = X[(rp * 4 + 1) * (Lz + 1):]
                x2 = X[(rp * 4 + 2) * (Lz + 1):]
                x3 = X[(rp * 4 + 3) * (Lz + 1):]
                for z in range(Lz):
                    x0[z] = s[4 * z]
                    x1[z] = s[4 * z + 1]
                    x2[z] = s[4 * z + 2]
                    x3[z] = s[4 * z + 3]
                x0[Lz] = 0
                x1[Lz] = 0
                x2[Lz] = 0
                x3[Lz] = 0
            for k in range(4):
                d0 = X[(k * 4 + 0) * (Lz + 1) + 0:]
                d1 = X[(k * 4 + 1) * (Lz + 1) + 0:]
                d2 = X[(k * 4 + 2) * (Lz + 1) + 0:]
                d3 = X[(k * 4 + 3) * (Lz + 1) + 0:]
                d4 = X[(k * 4 + 0) * (Lz + 1) + 1:]
                d5 = X[(k * 4 + 1) * (Lz + 1) + 1:]
                t = T[(k * 6 + 0) * Lq:]
                for z in range(Lq):
                    t[z] = c2 * d0[z] + c3 * d1[z] - c4 * d2[z] - c3 * d3[z] + c2 * d4[z]
                t = T[(k * 6 + 1) * Lq:]
                for z in range(Lq):
                    t[z] = c2 * d1[z] + c5 * d2[z] + d3[z] - c2 * d4[z]
                t = T[(k * 6 + 2) * Lq:]
                for z in range(Lq):
                    t[z] = c2 * d1[z] + d2[z] - c5 * d3[z] + c2 * d4[z]
                t = T[(k * 6 + 3) * Lq:]
                for z in range(Lq):
                    t[z] = -c2 * d1[z] + d2[z] + c2 * d3[z] - d4[z]
                t = T[(k * 6 + 4) * Lq:]
                for z in range(Lq):
                    t[z] = -d1[z] - c2 * d2[z] + d3[z] + c2 * d4[z]
                t = T[(k * 6 + 5) * Lq:]
                for z in range(Lq):
                    t[z] = c2 * d1[z] + c3 * d2[z] - c4 * d3[z] - c3 * d4[z] + c2 * d5[z]
            q0 = c * P
            for b in range(6):
                t0 = T[(0 * 6 + b) * Lq:]
                t1 = T[(1 * 6 + b) * Lq:]
                t2 = T[(2 * 6 + b) * Lq:]
                t3 = T[(3 * 6 + b) * Lq:]
                t4 = T[(0 * 6 + b) * Lq + 1 * R:]
                t5 = T[(1 * 6 + b) * Lq + 1 * R:]
                v = V[(0 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = c2 * t0[p] + c3 * t1[p] - c4 * t2[p] - c3 * t3[p] + c2 * t4[p]
                v = V[(1 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = c2 * t1[p] + c5 * t2[p] + t3[p] - c2 * t4[p]
                v = V[(2 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = c2 * t1[p] + t2[p] - c5 * t3[p] + c2 * t4[p]
                v = V[(3 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = -c2 * t1[p] + t2[p] + c2 * t3[p] - t4[p]
                v = V[(4 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = -t1[p] - c2 * t2[p] + t3[p] + c2 * t4[p]
                v = V[(5 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    v[p] = c2 * t1[p] + c3 * t2[p] - c4 * t3[p] - c3 * t4[p] + c2 * t5[p]

    def out_tf4(M, sx, P, bias, y, n0, n1, th0, th1, Tw, cst):
        """y[n, o, 4 th + i, 4 tw + j] = (A^T M A)[i, j] + bias[o] for the block's tiles (junk tiles dropped;
        only the positions inside y are written: odd output sizes end with partial tiles)."""
        Oc, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 4 * Lr
        c2 = cst[0]
        c3 = cst[1]
        c4 = cst[2]
        c5 = cst[3]
        c8 = cst[4]
        for o in range(Oc):
            S = np.empty(24 * Lt, y.dtype)
            Y = np.empty(16 * Lt, y.dtype)
            yb = np.empty(4 * Lt * 4, y.dtype)
            bv = bias[o]
            q0 = o * P
            for a in range(6):
                m0 = M[(a * 6 + 0) * sx + q0:]
                m1 = M[(a * 6 + 1) * sx + q0:]
                m2 = M[(a * 6 + 2) * sx + q0:]
                m3 = M[(a * 6 + 3) * sx + q0:]
                m4 = M[(a * 6 + 4) * sx + q0:]
                m5 = M[(a * 6 + 5) * sx + q0:]
                s = S[(a * 4 + 0) * Lt:]
                for p in range(Lt):
                    s[p] = m0[p] + m1[p] + m2[p] + c8 * m3[p] + m4[p]
                s = S[(a * 4 + 1) * Lt:]
                for p in range(Lt):
                    s[p] = m1[p] - m2[p] - c4 * m3[p] + c2 * m4[p]
                s = S[(a * 4 + 2) * Lt:]
                for p in range(Lt):
                    s[p] = m1[p] + m2[p] + c2 * m3[p] + c4 * m4[p]
                s = S[(a * 4 + 3) * Lt:]
                for p in range(Lt):
                    s[p] = m1[p] - m2[p] - m3[p] + c8 * m4[p] + m5[p]
            for j in range(4):
                s0 = S[(0 * 4 + j) * Lt:]
                s1 = S[(1 * 4 + j) * Lt:]
                s2 = S[(2 * 4 + j) * Lt:]
                s3 = S[(3 * 4 + j) * Lt:]
                s4 = S[(4 * 4 + j) * Lt:]
                s5 = S[(5 * 4 + j) * Lt:]
                t = Y[(0 * 4 + j) * Lt:]
                for p in range(Lt):
                    t[p] = s0[p] + s1[p] + s2[p] + c8 * s3[p] + s4[p] + bv
                t = Y[(1 * 4 + j) * Lt:]
                for p in range(Lt):
                    t[p] = s1[p] - s2[p] - c4 * s3[p] + c2 * s4[p] + bv
                t = Y[(2 * 4 + j) * Lt:]
                for p in range(Lt):
                    t[p] = s1[p] + s2[p] + c2 * s3[p] + c4 * s4[p] + bv
                t = Y[(3 * 4 + j) * Lt:]
                for p in range(Lt):
                    t[p] = s1[p] - s2[p] - s3[p] + c8 * s4[p] + s5[p] + bv
            for i in range(4):
                d = yb[i * 4 * Lt:]
                y0 = Y[(i * 4 + 0) * Lt:]
                y1 = Y[(i * 4 + 1) * Lt:]
                y2 = Y[(i * 4 + 2) * Lt:]
                y3 = Y[(i * 4 + 3) * Lt:]
                for z in range(Lt):
                    d[4 * z] = y0[z]
                    d[4 * z + 1] = y1[z]
                    d[4 * z + 2] = y2[z]
                    d[4 * z + 3] = y3[z]
            for i in range(4):
                for th in range(nth):
                    r = 4 * (th0 + th) + i
                    if r < Ho:
                        for nn in range(nb):
                            s = yb[((i * nth + th) * nb + nn) * Wp:]
                            d = y[n0 + nn, o, r]
                            for q in range(Wo):
                                d[q] = s[q]

    def out_adj4(g, dM, sx, P, n0, n1, th0, th1, Tw, cst):
        """dM[xi * sx + o * P + p] = (A dY A^T)[xi] for the block's tiles; dY is the 4x4 tile of g, zero outside g
        (so junk tiles get dM = 0)."""
        Oc, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 4 * Lr
        c2 = cst[0]
        c3 = cst[1]
        c4 = cst[2]
        c5 = cst[3]
        c8 = cst[4]
        for o in range(Oc):
            gb = np.zeros(4 * Lt * 4, g.dtype)
            Y = np.empty(16 * Lt, g.dtype)
            S = np.empty(24 * Lt, g.dtype)
            for i in range(4):
                for th in range(nth):
                    r = 4 * (th0 + th) + i
                    if r < Ho:
                        for nn in range(nb):
                            d = gb[((i * nth + th) * nb + nn) * Wp:]
                            s = g[n0 + nn, o, r]
                            for q in range(Wo):
                                d[q] = s[q]
            for i in range(4):
                s = gb[i * 4 * Lt:]
                y0 = Y[(i * 4 + 0) * Lt:]
                y1 = Y[(i * 4 + 1) * Lt:]
                y2 = Y[(i * 4 + 2) * Lt:]
                y3 = Y[(i * 4 + 3) * Lt:]
                for z in range(Lt):
                    y0[z] = s[4 * z]
                    y1[z] = s[4 * z + 1]
                    y2[z] = s[4 * z + 2]
                    y3[z] = s[4 * z + 3]
            for i in range(4):
                y0 = Y[(i * 4 + 0) * Lt:]
                y1 = Y[(i * 4 + 1) * Lt:]
                y2 = Y[(i * 4 + 2) * Lt:]
                y3 = Y[(i * 4 + 3) * Lt:]
                s = S[(i * 6 + 0) * Lt:]
                for p in range(Lt):
                    s[p] = y0[p]
                s = S[(i * 6 + 1) * Lt:]
                for p in range(Lt):
                    s[p] = y0[p] + y1[p] + y2[p] + y3[p]
                s = S[(i * 6 + 2) * Lt:]
                for p in range(Lt):
                    s[p] = y0[p] - y1[p] + y2[p] - y3[p]
                s = S[(i * 6 + 3) * Lt:]
                for p in range(Lt):
                    s[p] = c8 * y0[p] - c4 * y1[p] + c2 * y2[p] - y3[p]
                s = S[(i * 6 + 4) * Lt:]
                for p in range(Lt):
                    s[p] = y0[p] + c2 * y1[p] + c4 * y2[p] + c8 * y3[p]
                s = S[(i * 6 + 5) * Lt:]
                for p in range(Lt):
                    s[p] = y3[p]
            q0 = o * P
            for b in range(6):
                s0 = S[(0 * 6 + b) * Lt:]
                s1 = S[(1 * 6 + b) * Lt:]
                s2 = S[(2 * 6 + b) * Lt:]
                s3 = S[(3 * 6 + b) * Lt:]
                d = dM[(0 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = s0[p]
                d = dM[(1 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = s0[p] + s1[p] + s2[p] + s3[p]
                d = dM[(2 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = s0[p] - s1[p] + s2[p] - s3[p]
                d = dM[(3 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = c8 * s0[p] - c4 * s1[p] + c2 * s2[p] - s3[p]
                d = dM[(4 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = s0[p] + c2 * s1[p] + c4 * s2[p] + c8 * s3[p]
                d = dM[(5 * 6 + b) * sx + q0:]
                for p in range(Lt):
                    d[p] = s3[p]

    def in_adj4(dV, sx, P, gx, pt, pl, n0, n1, th0, th1, Tw, cst, add):
        """gx (+)= the adjoint of in_tf4: each tile's B dV B^T summed onto its 6x6 window (windows overlap),
        positions outside gx (padding) dropped; the band's rows are added to gx (add) or stored."""
        C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
        nth = th1 - th0
        nb = n1 - n0
        Lr = Tw + 1
        R = nb * Lr
        Lt = nth * R
        Wp = 4 * Lr
        c2 = cst[0]
        c3 = cst[1]
        c4 = cst[2]
        c5 = cst[3]
        c8 = cst[4]
        Lz = (nth + 1) * R
        qa, qb = max(0, -pl), min(W, Wp - pl)
        for c in range(C):
            E = np.empty(36 * Lt, gx.dtype)
            X = np.empty(16 * (Lz + 1), gx.dtype)
            xb = np.empty(4 * Lz * 4, gx.dtype)
            q0 = c * P
            for b in range(6):
                v0 = dV[(0 * 6 + b) * sx + q0:]
                v1 = dV[(1 * 6 + b) * sx + q0:]
                v2 = dV[(2 * 6 + b) * sx + q0:]
                v3 = dV[(3 * 6 + b) * sx + q0:]
                v4 = dV[(4 * 6 + b) * sx + q0:]
                v5 = dV[(5 * 6 + b) * sx + q0:]
                e = E[(0 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = c2 * v0[p]
                e = E[(1 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = c3 * v0[p] + c2 * v1[p] + c2 * v2[p] - c2 * v3[p] - v4[p] + c2 * v5[p]
                e = E[(2 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = -c4 * v0[p] + c5 * v1[p] + v2[p] + v3[p] - c2 * v4[p] + c3 * v5[p]
                e = E[(3 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = -c3 * v0[p] + v1[p] - c5 * v2[p] + c2 * v3[p] + v4[p] - c4 * v5[p]
                e = E[(4 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = c2 * v0[p] - c2 * v1[p] + c2 * v2[p] - v3[p] + c2 * v4[p] - c3 * v5[p]
                e = E[(5 * 6 + b) * Lt:]
                for p in range(Lt):
                    e[p] = c2 * v5[p]
            for j in range(16):
                X[j * (Lz + 1) + Lt:(j + 1) * (Lz + 1)] = 0
            for k in range(6):
                rp, dr = k % 4, k // 4
                e0 = E[(k * 6 + 0) * Lt:]
                e1 = E[(k * 6 + 1) * Lt:]
                e2 = E[(k * 6 + 2) * Lt:]
                e3 = E[(k * 6 + 3) * Lt:]
                e4 = E[(k * 6 + 4) * Lt:]
                e5 = E[(k * 6 + 5) * Lt:]
                t = X[(rp * 4 + 0) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = c2 * e0[p]
                else:
                    for p in range(Lt):
                        t[p] += c2 * e0[p]
                t = X[(rp * 4 + 1) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = c3 * e0[p] + c2 * e1[p] + c2 * e2[p] - c2 * e3[p] - e4[p] + c2 * e5[p]
                else:
                    for p in range(Lt):
                        t[p] += c3 * e0[p] + c2 * e1[p] + c2 * e2[p] - c2 * e3[p] - e4[p] + c2 * e5[p]
                t = X[(rp * 4 + 2) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = -c4 * e0[p] + c5 * e1[p] + e2[p] + e3[p] - c2 * e4[p] + c3 * e5[p]
                else:
                    for p in range(Lt):
                        t[p] += -c4 * e0[p] + c5 * e1[p] + e2[p] + e3[p] - c2 * e4[p] + c3 * e5[p]
                t = X[(rp * 4 + 3) * (Lz + 1) + dr * R + 0:]
                if dr == 0:
                    for p in range(Lt):
                        t[p] = -c3 * e0[p] + e1[p] - c5 * e2[p] + c2 * e3[p] + e4[p] - c4 * e5[p]
                else:
                    for p in range(Lt):
                        t[p] += -c3 * e0[p] + e1[p] - c5 * e2[p] + c2 * e3[p] + e4[p] - c4 * e5[p]
                t = X[(rp * 4 + 0) * (Lz + 1) + dr * R + 1:]
                for p in range(Lt):
                    t[p] += c2 * e0[p] - c2 * e1[p] + c2 * e2[p] - e3[p] + c2 * e4[p] - c3 * e5[p]
                t = X[(rp * 4 + 1) * (Lz + 1) + dr * R + 1:]
                for p in range(Lt):
                    t[p] += c2 * e5[p]
            for rp in range(4):
                d = xb[rp * 4 * Lz:]
                x0 = X[(rp * 4 + 0) * (Lz + 1):]
                x1 = X[(rp * 4 + 1) * (Lz + 1):]
                x2 = X[(rp * 4 + 2) * (Lz + 1):]
                x3 = X[(rp * 4 + 3) * (Lz + 1):]
                for z in range(Lz):
                    d[4 * z] = x0[z]
                    d[4 * z + 1] = x1[z]
                    d[4 * z + 2] = x2[z]
                    d[4 * z + 3] = x3[z]
            if qb > qa:
                for rp in range(4):
                    for i in range(nth + 1):
                        r = 4 * (th0 + i) + rp - pt
                        if r >= 0 and r < H:
                            for nn in range(nb):
                                s = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]
                                d = gx[n0 + nn, c, r, qa:qb]
                                if add:
                                    for q in range(qb - qa):
                                        d[q] += s[q]
                                else:
                                    for q in range(qb - qa):
                                        d[q] = s[q]

    # END GENERATED KERNELS

    class K:
        pass
    k = K()
    fns = dict(locals())
    for m in (2, 4):
        for name in ("in_tf", "out_tf", "out_adj", "in_adj"):
            setattr(k, f"{name}{m}", njit(**opts)(fns[f"{name}{m}"]))
    k.numba = numba
    return k

# ---- weight transforms (small: float64, on the weight's array module) ---------------------------------------
def _kron_g(xp, m):
    """G (x) G (n^2 x 9): U[n a + b] = sum_ij G[a, i] G[b, j] w[3 i + j] for every channel pair at once."""
    g = matrices(m)[1]
    return xp.asarray(np.kron(g, g))


def weight_tf(w, m=None):
    """U (n^2, O, C) = G w G^T for every (out, in) pair of w (O, C, 3, 3): one GEMM with an inner dimension of 9,
    in float64, cast to w's dtype."""
    m = m or TILE
    xp = xp_of(w)
    n = m + 2
    O, C = w.shape[0], w.shape[1]
    u = xp.matmul(_kron_g(xp, m), w.reshape(O * C, 9).T.astype(np.float64))
    return u.astype(w.dtype, copy=False).reshape(n * n, O, C)


def weight_tf_adj(dU, wshape, m=None):
    """dw (O, C, 3, 3) = G^T dU G, the adjoint of weight_tf (in float64)."""
    m = m or TILE
    xp = xp_of(dU)
    n = m + 2
    O, C = wshape[0], wshape[1]
    d = xp.matmul(_kron_g(xp, m).T, dU.reshape(n * n, O * C).astype(np.float64))     # (9, O C)
    return xp.ascontiguousarray(d.T).astype(dU.dtype, copy=False).reshape(O, C, 3, 3)


# ---- blocks of tiles (CPU) --------------------------------------------------------------------------------
def _blocks(N, Th, Tw, per_tile_bytes, budget):
    """(n0, n1, th0, th1) blocks of about `budget` bytes of transform buffers: whole samples, or bands of tile
    rows of one sample."""
    per_sample = Th * (Tw + 1) * per_tile_bytes
    if per_sample <= budget:
        ns = max(1, min(N, budget // max(per_sample, 1)))
        return [(n0, min(N, n0 + ns), 0, Th) for n0 in range(0, N, ns)]
    rows = max(1, budget // ((Tw + 1) * per_tile_bytes))
    return [(n, n + 1, t0, min(Th, t0 + rows)) for n in range(N) for t0 in range(0, Th, rows)]


def _xi_stride(rows, P, itemsize):
    """Elements between the n^2 matrices of a block buffer: 256 bytes past a multiple of 4 KiB (the kernels
    read or write several of them in one loop nest; 4 KiB apart, they would fall in the same L1 cache sets)."""
    page = 4096 // itemsize
    return -(-rows * P // page) * page + 256 // itemsize


def _view(buf, nxi, rows, P):
    """(nxi, rows, P) view of a flat block buffer: C-contiguous matrices _xi_stride apart (the kernels index
    the flat buffer as [xi * sx + row * P + p])."""
    st = _xi_stride(rows, P, buf.itemsize)
    return np.lib.stride_tricks.as_strided(buf, (nxi, rows, P), (st * buf.itemsize, P * buf.itemsize, buf.itemsize))


def _buf(nxi, rows, pmax, dtype):
    return np.empty(nxi * _xi_stride(rows, pmax, np.dtype(dtype).itemsize), dtype=dtype)


def available(a):
    """True where the numba kernels serve the array (CPU float32/float64, numba present)."""
    return a.__class__ is np.ndarray and (a.dtype == np.float32 or a.dtype == np.float64) and \
        _kernels() is not None


def run_serial(units, work):
    """[work(claim)] on this thread: claim() hands out the units (lists of blocks) in order, then None."""
    it = iter(units)
    return [work(lambda: next(it, None))]


def forward(x, w, b, pt, pl, out_sp, m=None, run=run_serial):
    """y (N, O, Ho, Wo) = conv2d(x, w, b): 3x3 kernel, stride 1, top/left padding pt/pl (the bottom/right padding
    is whatever gives the output size out_sp; the windows must not reach past it: pads >= 0 on every side).
    run(units, work) -> [work(claim), ...]: work(claim) processes the units claim() hands out until it returns
    None; run may call it on several threads at once (nn_conv._run_blocks), sharing one claim()."""
    m = m or TILE
    if not available(x):
        return _forward_xp(x, w, b, pt, pl, out_sp, m)
    K = _kernels()
    n = m + 2
    nxi = n * n
    x = np.ascontiguousarray(x)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Ho, Wo = out_sp
    Th, Tw = -(-Ho // m), -(-Wo // m)
    U = weight_tf(w, m)
    y = np.empty((N, O, Ho, Wo), dtype=x.dtype)
    in_tf, out_tf = getattr(K, f"in_tf{m}"), getattr(K, f"out_tf{m}")
    cst = np.array(_consts(m) or [0], dtype=x.dtype)
    bias = np.zeros(O, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    blocks = _blocks(N, Th, Tw, nxi * (C + O) * x.itemsize, BLOCK_BYTES)
    pmax = max((n1 - n0) * (t1 - t0) for n0, n1, t0, t1 in blocks) * (Tw + 1)

    def work(claim):
        vbuf = _buf(nxi, C, pmax, x.dtype)
        mbuf = _buf(nxi, O, pmax, x.dtype)
        unit = claim()
        while unit is not None:
            for n0, n1, t0, t1 in unit:
                P = (n1 - n0) * (t1 - t0) * (Tw + 1)
                sv, sm = _xi_stride(C, P, x.itemsize), _xi_stride(O, P, x.itemsize)
                in_tf(x, pt, pl, n0, n1, t0, t1, Tw, vbuf, sv, P, cst)
                np.matmul(U, _view(vbuf, nxi, C, P), out=_view(mbuf, nxi, O, P))
                out_tf(mbuf, sm, P, bias, y, n0, n1, t0, t1, Tw, cst)
            unit = claim()
    run([[blk] for blk in blocks], work)
    return y


def backward(g, x, w, pt, pl, need_input=True, need_weight=True, m=None, run=run_serial):
    """(grad_input, grad_weight) of forward(); None where not needed. `run`: as in forward (the bands of one
    sample form one unit: their input-gradient windows overlap)."""
    m = m or TILE
    if not available(g):
        return _backward_xp(g, x, w, pt, pl, need_input, need_weight, m)
    K = _kernels()
    n = m + 2
    nxi = n * n
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x)
    N, C = x.shape[0], x.shape[1]
    O = w.shape[0]
    Ho, Wo = g.shape[2], g.shape[3]
    Th, Tw = -(-Ho // m), -(-Wo // m)
    Ut = np.ascontiguousarray(weight_tf(w, m).transpose(0, 2, 1)) if need_input else None
    per_tile = nxi * (O + (C if need_weight else 0) + (C if need_input else 0)) * x.itemsize
    in_tf, out_adj, in_adj = (getattr(K, f"{k}{m}") for k in ("in_tf", "out_adj", "in_adj"))
    cst = np.array(_consts(m) or [0], dtype=x.dtype)
    blocks = _blocks(N, Th, Tw, per_tile, BLOCK_BYTES_BWD)
    pmax = max((n1 - n0) * (t1 - t0) for n0, n1, t0, t1 in blocks) * (Tw + 1)
    # with whole samples per block each block stores its samples' rows of gx (every input position lies in
    # some window: the pads are >= 0); bands of one sample overlap by 2 rows and add into a zeroed gx
    bands = blocks[0][3] - blocks[0][2] < Th
    gx = (np.zeros if bands else np.empty)(x.shape, dtype=x.dtype) if need_input else None
    units = [[blk for blk in blocks if blk[0] == i] for i in range(N)] if bands else [[blk] for blk in blocks]

    def work(claim):
        mbuf = _buf(nxi, O, pmax, x.dtype)
        vbuf = _buf(nxi, C, pmax, x.dtype) if need_weight else None
        dvbuf = _buf(nxi, C, pmax, x.dtype) if need_input else None
        dU = None
        unit = claim()
        while unit is not None:
            for n0, n1, t0, t1 in unit:
                P = (n1 - n0) * (t1 - t0) * (Tw + 1)
                sm, sv = _xi_stride(O, P, x.itemsize), _xi_stride(C, P, x.itemsize)
                dM = _view(mbuf, nxi, O, P)
                out_adj(g, mbuf, sm, P, n0, n1, t0, t1, Tw, cst)
                if need_weight:
                    in_tf(x, pt, pl, n0, n1, t0, t1, Tw, vbuf, sv, P, cst)
                    t = np.matmul(dM, _view(vbuf, nxi, C, P).transpose(0, 2, 1))
                    if dU is None:
                        dU = t
                    else:
                        dU += t
                if need_input:
                    np.matmul(Ut, dM, out=_view(dvbuf, nxi, C, P))
                    in_adj(dvbuf, sv, P, gx, pt, pl, n0, n1, t0, t1, Tw, cst, bands)
            unit = claim()
        return dU
    parts = [t for t in run(units, work) if t is not None]
    gw = None
    if need_weight:
        dU = parts[0]
        for t in parts[1:]:
            dU += t
        gw = weight_tf_adj(dU, w.shape, m)
    return gx, gw


# ---- array-module path (cupy, or numpy without numba): whole-batch transforms on strided views -------------
def _pad_tiles_xp(x, pt, pl, Hp, Wp):
    """x zero-padded to (N, C, Hp, Wp), its row r at r + pt and column q at q + pl (what falls outside is cut)."""
    xp = xp_of(x)
    N, C, H, W = x.shape
    buf = xp.zeros((N, C, Hp, Wp), dtype=x.dtype)
    r0, r1 = max(0, -pt), min(H, Hp - pt)
    c0, c1 = max(0, -pl), min(W, Wp - pl)
    if r1 > r0 and c1 > c0:
        buf[:, :, r0 + pt:r1 + pt, c0 + pl:c1 + pl] = x[:, :, r0:r1, c0:c1]
    return buf


def _input_tf_xp(x, pt, pl, Th, Tw, m):
    """V (n^2, C, P), P = N Th Tw in the order (n, th, tw)."""
    xp = xp_of(x)
    n = m + 2
    N, C = x.shape[0], x.shape[1]
    bt = xp.asarray(matrices(m)[2], dtype=x.dtype)
    xpd = _pad_tiles_xp(x, pt, pl, m * Th + 2, m * Tw + 2)
    d = xp.stack([xp.stack([xpd[:, :, k:k + m * Th:m, l:l + m * Tw:m] for l in range(n)]) for k in range(n)])
    v = xp.tensordot(bt, d, axes=(1, 0))                     # (a, l, N, C, Th, Tw)
    v = xp.tensordot(v, bt, axes=(1, 1))                     # (a, N, C, Th, Tw, b)
    return xp.ascontiguousarray(v.transpose(0, 5, 2, 1, 3, 4)).reshape(n * n, C, N * Th * Tw)


def _output_tf_xp(M, N, Th, Tw, out_sp, b, m):
    """y (N, O, Ho, Wo) from M (n^2, O, P)."""
    xp = xp_of(M)
    n = m + 2
    O = M.shape[1]
    at = xp.asarray(matrices(m)[0], dtype=M.dtype)
    t = xp.tensordot(at, M.reshape(n, n, O, N, Th, Tw), axes=(1, 0))     # (i, b, O, N, Th, Tw)
    t = xp.tensordot(t, at, axes=(1, 1))                                  # (i, O, N, Th, Tw, j)
    y = t.transpose(2, 1, 3, 0, 4, 5).reshape(N, O, m * Th, m * Tw)[:, :, :out_sp[0], :out_sp[1]]
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    return xp.ascontiguousarray(y)


def _output_adj_xp(g, Th, Tw, m):
    """dM (n^2, O, P) from g (N, O, Ho, Wo)."""
    xp = xp_of(g)
    n = m + 2
    N, O, Ho, Wo = g.shape
    at = xp.asarray(matrices(m)[0], dtype=g.dtype)
    gp = xp.zeros((N, O, m * Th, m * Tw), dtype=g.dtype)
    gp[:, :, :Ho, :Wo] = g
    y = gp.reshape(N, O, Th, m, Tw, m).transpose(3, 5, 1, 0, 2, 4)       # (i, j, O, N, Th, Tw)
    t = xp.tensordot(at.T, y, axes=(1, 0))                                # (a, j, O, N, Th, Tw)
    t = xp.tensordot(t, at.T, axes=(1, 1))                                # (a, O, N, Th, Tw, b)
    return xp.ascontiguousarray(t.transpose(0, 5, 1, 2, 3, 4)).reshape(n * n, O, N * Th * Tw)


def _input_adj_xp(dV, xshape, pt, pl, Th, Tw, m):
    """gx (N, C, H, W): the adjoint of _input_tf_xp."""
    xp = xp_of(dV)
    n = m + 2
    N, C, H, W = xshape
    bt = xp.asarray(matrices(m)[2], dtype=dV.dtype)
    v = dV.reshape(n, n, C, N, Th, Tw)
    t = xp.tensordot(bt.T, v, axes=(1, 0))                                # (k, b, C, N, Th, Tw)
    t = xp.tensordot(t, bt.T, axes=(1, 1))                                # (k, C, N, Th, Tw, l)
    Hp, Wp = m * Th + 2, m * Tw + 2
    buf = xp.zeros((N, C, Hp, Wp), dtype=dV.dtype)
    for k in range(n):
        for l in range(n):
            buf[:, :, k:k + m * Th:m, l:l + m * Tw:m] += t[k, ..., l].transpose(1, 0, 2, 3)
    gx = xp.zeros((N, C, H, W), dtype=dV.dtype)
    r0, r1 = max(0, -pt), min(H, Hp - pt)
    c0, c1 = max(0, -pl), min(W, Wp - pl)
    if r1 > r0 and c1 > c0:
        gx[:, :, r0:r1, c0:c1] = buf[:, :, r0 + pt:r1 + pt, c0 + pl:c1 + pl]
    return gx


def _forward_xp(x, w, b, pt, pl, out_sp, m):
    xp = xp_of(x)
    Th, Tw = -(-out_sp[0] // m), -(-out_sp[1] // m)
    M = xp.matmul(weight_tf(w, m), _input_tf_xp(x, pt, pl, Th, Tw, m))
    return _output_tf_xp(M, x.shape[0], Th, Tw, out_sp, b, m)


def _backward_xp(g, x, w, pt, pl, need_input, need_weight, m):
    xp = xp_of(g)
    Th, Tw = -(-g.shape[2] // m), -(-g.shape[3] // m)
    dM = _output_adj_xp(g, Th, Tw, m)
    gx = gw = None
    if need_weight:
        V = _input_tf_xp(x, pt, pl, Th, Tw, m)
        gw = weight_tf_adj(xp.matmul(dM, V.transpose(0, 2, 1)), w.shape, m)
    if need_input:
        dV = xp.matmul(weight_tf(w, m).transpose(0, 2, 1), dM)
        gx = _input_adj_xp(dV, x.shape, pt, pl, Th, Tw, m)
    return gx, gw


# ---- kernel source generator ----------------------------------------------------------------------------
# The kernels in _build are generated from the transform matrices by the code below (each loop is a linear
# combination with the matrix entries as coefficients). A test checks that the file matches the generator.
_GEN_BEGIN = "    # BEGIN GENERATED KERNELS (python -m disttensor.ops._winograd rewrites this block)\n"
_GEN_END = "    # END GENERATED KERNELS\n"


def _term(c, e):
    a = abs(c)
    if a != int(a):
        raise ValueError("non-integral transform coefficient")
    return e if a == 1 else f"c{int(a)} * {e}"


def _lin(terms):
    """' + '-joined terms (coef, expr), zero coefficients dropped."""
    s = ""
    for c, e in terms:
        if c == 0:
            continue
        t = _term(c, e)
        if not s:
            s = t if c > 0 else "-" + t
        else:
            s += (" + " if c > 0 else " - ") + t
    return s


def _emit_kernels(m):
    """Source of the four numba kernels of F(m, 3) (indented for _build). Within a block, tile (image n, tile row
    th, tile column tw) is p = (th * nb + n - n0) * (Tw + 1) + tw, so the next tile row is p + R, R = nb (Tw + 1),
    and every loop runs once over the whole block."""
    AT, G, BT = toom_cook(m, 3, POINTS[m])
    n = m + 2
    consts = sorted({int(abs(v)) for row in AT + BT for v in row if v and abs(v) != 1})
    out = []
    w = out.append
    I4, I8, I12, I16, I20 = (" " * k for k in (4, 8, 12, 16, 20))

    def head():
        w(f"{I8}nth = th1 - th0")
        w(f"{I8}nb = n1 - n0")
        w(f"{I8}Lr = Tw + 1")
        w(f"{I8}R = nb * Lr")
        w(f"{I8}Lt = nth * R")
        w(f"{I8}Wp = {m} * Lr")
        for i, c in enumerate(consts):
            w(f"{I8}c{c} = cst[{i}]")

    # ---------------- in_tf ----------------
    w(f"{I4}def in_tf{m}(x, pt, pl, n0, n1, th0, th1, Tw, V, sx, P, cst):")
    w(f'{I8}"""V[xi * sx + c * P + p] = (B^T d B)[xi] of F({m}x{m}, 3x3) for the tiles p of samples n0:n1, tile rows')
    w(f"{I8}th0:th1 of x (N, C, H, W); see the module doc for the steps and the layout.\"\"\"")
    w(f"{I8}C, H, W = x.shape[1], x.shape[2], x.shape[3]")
    head()
    w(f"{I8}Lz = (nth + 1) * R")
    w(f"{I8}Lq = Lt + R")
    w(f"{I8}qa, qb = max(0, -pl), min(W, Wp - pl)")
    w(f"{I8}for c in range(C):")
    w(f"{I12}xb = np.zeros({m} * Lz * {m}, x.dtype)")
    w(f"{I12}X = np.empty({m * m} * (Lz + 1), x.dtype)")
    direct = m == 2     # one pass (4 loads per output) beats two for F(2x2); F(4x4)'s direct form needs 13.4 loads
    if not direct:
        w(f"{I12}T = np.empty({m * n} * Lq, x.dtype)")
    # the band's rows into xb: row (rp, i, image) at ((rp * (nth + 1) + i) * nb + image) * Wp, columns shifted by pl
    w(f"{I12}if qb > qa:")
    w(f"{I16}for rp in range({m}):")
    w(f"{I16}    for i in range(nth + 1):")
    w(f"{I16}        r = {m} * (th0 + i) + rp - pt")
    w(f"{I16}        if r >= 0 and r < H:")
    w(f"{I16}            for nn in range(nb):")
    w(f"{I16}                d = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]")
    w(f"{I16}                s = x[n0 + nn, c, r, qa:qb]")
    w(f"{I16}                for q in range(qb - qa):")
    w(f"{I16}                    d[q] = s[q]")
    # polyphase planes: X[rp, cp][z] = xb[rp][m z + cp]
    w(f"{I12}for rp in range({m}):")
    w(f"{I16}s = xb[rp * {m} * Lz:]")
    for cp in range(m):
        w(f"{I16}x{cp} = X[(rp * {m} + {cp}) * (Lz + 1):]")
    w(f"{I16}for z in range(Lz):")
    for cp in range(m):
        w(f"{I16}    x{cp}[z] = s[{m} * z + {cp}]" if cp else f"{I16}    x0[z] = s[{m} * z]")
    for cp in range(m):
        w(f"{I16}x{cp}[Lz] = 0")
    if direct:
        # V[a][b][p] = sum_kl BT[a][k] BT[b][l] X[k % m, l % m][p + (k // m) R + l // m]
        w(f"{I12}q0 = c * P")
        for k in range(n):
            for l in range(n):
                w(f"{I12}d{k}{l} = X[{(k % m) * m + l % m} * (Lz + 1) + {k // m} * R + {l // m}:]")
        for a in range(n):
            for b in range(n):
                w(f"{I12}v = V[{a * n + b} * sx + q0:]")
                w(f"{I12}for p in range(Lt):")
                w(f"{I12}    v[p] = " + _lin([(BT[a][k] * BT[b][l], f"d{k}{l}[p]") for k in range(n) for l in range(n)]))
        w("")
    # stage 1: T[k][b][z] = sum_l BT[b][l] X[k, l % m][z + l // m], k < m, z < Lq
    w(f"{I12}for k in range({m}):") if not direct else None
    for l in range(n if not direct else 0):
        w(f"{I16}d{l} = X[(k * {m} + {l % m}) * (Lz + 1) + {l // m}:]")
    for b in range(n if not direct else 0):
        w(f"{I16}t = T[(k * {n} + {b}) * Lq:]")
        w(f"{I16}for z in range(Lq):")
        w(f"{I16}    t[z] = " + _lin([(BT[b][l], f"d{l}[z]") for l in range(n)]))
    # stage 2: V[a][b][p] = sum_k BT[a][k] T[k % m][b][p + (k // m) R]
    if not direct:
        w(f"{I12}q0 = c * P")
        w(f"{I12}for b in range({n}):")
    for k in range(n if not direct else 0):
        w(f"{I16}t{k} = T[({k % m} * {n} + b) * Lq + {k // m} * R:]" if k >= m else f"{I16}t{k} = T[({k} * {n} + b) * Lq:]")
    for a in range(n if not direct else 0):
        w(f"{I16}v = V[({a} * {n} + b) * sx + q0:]")
        w(f"{I16}for p in range(Lt):")
        w(f"{I16}    v[p] = " + _lin([(BT[a][k], f"t{k}[p]") for k in range(n)]))
    if not direct:
        w("")

    # ---------------- out_tf ----------------
    w(f"{I4}def out_tf{m}(M, sx, P, bias, y, n0, n1, th0, th1, Tw, cst):")
    w(f'{I8}"""y[n, o, {m} th + i, {m} tw + j] = (A^T M A)[i, j] + bias[o] for the block\'s tiles (junk tiles dropped;')
    w(f'{I8}only the positions inside y are written: odd output sizes end with partial tiles)."""')
    w(f"{I8}Oc, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]")
    head()
    w(f"{I8}for o in range(Oc):")
    if not direct:
        w(f"{I12}S = np.empty({n * m} * Lt, y.dtype)")
    w(f"{I12}Y = np.empty({m * m} * Lt, y.dtype)")
    w(f"{I12}yb = np.empty({m} * Lt * {m}, y.dtype)")
    w(f"{I12}bv = bias[o]")
    w(f"{I12}q0 = o * P")
    if direct:
        # Y[i][j][p] = sum_ab AT[i][a] AT[j][b] M[a][b][p] + bias
        for a in range(n):
            for b in range(n):
                w(f"{I12}m{a}{b} = M[{a * n + b} * sx + q0:]")
        for i in range(m):
            for j in range(m):
                w(f"{I12}t = Y[{i * m + j} * Lt:]")
                w(f"{I12}for p in range(Lt):")
                w(f"{I12}    t[p] = " + _lin([(AT[i][a] * AT[j][b], f"m{a}{b}[p]") for a in range(n) for b in range(n)])
                  + " + bv")
    # stage 1: S[a][j][p] = sum_b AT[j][b] M[a][b][p]
    if not direct:
        w(f"{I12}for a in range({n}):")
    for b in range(n if not direct else 0):
        w(f"{I16}m{b} = M[(a * {n} + {b}) * sx + q0:]")
    for j in range(m if not direct else 0):
        w(f"{I16}s = S[(a * {m} + {j}) * Lt:]")
        w(f"{I16}for p in range(Lt):")
        w(f"{I16}    s[p] = " + _lin([(AT[j][b], f"m{b}[p]") for b in range(n)]))
    # stage 2: Y[i][j][p] = sum_a AT[i][a] S[a][j][p] + bias
    if not direct:
        w(f"{I12}for j in range({m}):")
    for a in range(n if not direct else 0):
        w(f"{I16}s{a} = S[({a} * {m} + j) * Lt:]")
    for i in range(m if not direct else 0):
        w(f"{I16}t = Y[({i} * {m} + j) * Lt:]")
        w(f"{I16}for p in range(Lt):")
        w(f"{I16}    t[p] = " + _lin([(AT[i][a], f"s{a}[p]") for a in range(n)]) + " + bv")
    # interleave the m column phases into rows of yb (row (i, th, image) at ((i nth + th) nb + image) Wp)
    w(f"{I12}for i in range({m}):")
    w(f"{I16}d = yb[i * {m} * Lt:]")
    for j in range(m):
        w(f"{I16}y{j} = Y[(i * {m} + {j}) * Lt:]")
    w(f"{I16}for z in range(Lt):")
    for j in range(m):
        w(f"{I16}    d[{m} * z + {j}] = y{j}[z]" if j else f"{I16}    d[{m} * z] = y0[z]")
    w(f"{I12}for i in range({m}):")
    w(f"{I16}for th in range(nth):")
    w(f"{I16}    r = {m} * (th0 + th) + i")
    w(f"{I16}    if r < Ho:")
    w(f"{I16}        for nn in range(nb):")
    w(f"{I16}            s = yb[((i * nth + th) * nb + nn) * Wp:]")
    w(f"{I16}            d = y[n0 + nn, o, r]")
    w(f"{I16}            for q in range(Wo):")
    w(f"{I16}                d[q] = s[q]")
    w("")

    # ---------------- out_adj ----------------
    w(f"{I4}def out_adj{m}(g, dM, sx, P, n0, n1, th0, th1, Tw, cst):")
    w(f'{I8}"""dM[xi * sx + o * P + p] = (A dY A^T)[xi] for the block\'s tiles; dY is the {m}x{m} tile of g, zero outside g')
    w(f'{I8}(so junk tiles get dM = 0)."""')
    w(f"{I8}Oc, Ho, Wo = g.shape[1], g.shape[2], g.shape[3]")
    head()
    w(f"{I8}for o in range(Oc):")
    w(f"{I12}gb = np.zeros({m} * Lt * {m}, g.dtype)")
    w(f"{I12}Y = np.empty({m * m} * Lt, g.dtype)")
    if not direct:
        w(f"{I12}S = np.empty({m * n} * Lt, g.dtype)")
    w(f"{I12}for i in range({m}):")
    w(f"{I16}for th in range(nth):")
    w(f"{I16}    r = {m} * (th0 + th) + i")
    w(f"{I16}    if r < Ho:")
    w(f"{I16}        for nn in range(nb):")
    w(f"{I16}            d = gb[((i * nth + th) * nb + nn) * Wp:]")
    w(f"{I16}            s = g[n0 + nn, o, r]")
    w(f"{I16}            for q in range(Wo):")
    w(f"{I16}                d[q] = s[q]")
    w(f"{I12}for i in range({m}):")
    w(f"{I16}s = gb[i * {m} * Lt:]")
    for j in range(m):
        w(f"{I16}y{j} = Y[(i * {m} + {j}) * Lt:]")
    w(f"{I16}for z in range(Lt):")
    for j in range(m):
        w(f"{I16}    y{j}[z] = s[{m} * z + {j}]" if j else f"{I16}    y0[z] = s[{m} * z]")
    if direct:
        # dM[a][b][p] = sum_ij AT[i][a] AT[j][b] Y[i][j][p]
        w(f"{I12}q0 = o * P")
        for i in range(m):
            for j in range(m):
                w(f"{I12}y{i}{j} = Y[{i * m + j} * Lt:]")
        for a in range(n):
            for b in range(n):
                w(f"{I12}d = dM[{a * n + b} * sx + q0:]")
                w(f"{I12}for p in range(Lt):")
                w(f"{I12}    d[p] = " + _lin([(AT[i][a] * AT[j][b], f"y{i}{j}[p]") for i in range(m) for j in range(m)]))
    else:
        # stage 1: S[i][b][p] = sum_j AT[j][b] Y[i][j][p]
        w(f"{I12}for i in range({m}):")
        for j in range(m):
            w(f"{I16}y{j} = Y[(i * {m} + {j}) * Lt:]")
        for b in range(n):
            w(f"{I16}s = S[(i * {n} + {b}) * Lt:]")
            w(f"{I16}for p in range(Lt):")
            w(f"{I16}    s[p] = " + _lin([(AT[j][b], f"y{j}[p]") for j in range(m)]))
        # stage 2: dM[a][b][p] = sum_i AT[i][a] S[i][b][p]
        w(f"{I12}q0 = o * P")
        w(f"{I12}for b in range({n}):")
        for i in range(m):
            w(f"{I16}s{i} = S[({i} * {n} + b) * Lt:]")
        for a in range(n):
            w(f"{I16}d = dM[({a} * {n} + b) * sx + q0:]")
            w(f"{I16}for p in range(Lt):")
            w(f"{I16}    d[p] = " + _lin([(AT[i][a], f"s{i}[p]") for i in range(m)]))
    w("")

    # ---------------- in_adj ----------------
    w(f"{I4}def in_adj{m}(dV, sx, P, gx, pt, pl, n0, n1, th0, th1, Tw, cst, add):")
    w(f'{I8}"""gx (+)= the adjoint of in_tf{m}: each tile\'s B dV B^T summed onto its {n}x{n} window (windows overlap),')
    w(f'{I8}positions outside gx (padding) dropped; the band\'s rows are added to gx (add) or stored."""')
    w(f"{I8}C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]")
    head()
    w(f"{I8}Lz = (nth + 1) * R")
    w(f"{I8}qa, qb = max(0, -pl), min(W, Wp - pl)")
    w(f"{I8}for c in range(C):")
    w(f"{I12}E = np.empty({n * n} * Lt, gx.dtype)")
    w(f"{I12}X = np.empty({m * m} * (Lz + 1), gx.dtype)")
    w(f"{I12}xb = np.empty({m} * Lz * {m}, gx.dtype)")
    w(f"{I12}q0 = c * P")
    # stage 1: E[k][b][p] = sum_a BT[a][k] dV[a][b][p]
    w(f"{I12}for b in range({n}):")
    for a in range(n):
        w(f"{I16}v{a} = dV[({a} * {n} + b) * sx + q0:]")
    for k in range(n):
        w(f"{I16}e = E[({k} * {n} + b) * Lt:]")
        w(f"{I16}for p in range(Lt):")
        w(f"{I16}    e[p] = " + _lin([(BT[a][k], f"v{a}[p]") for a in range(n)]))
    # stage 2: plane (k % m, l % m) gets sum_b BT[b][l] E[k][b] at the shift (k // m) R + l // m
    w(f"{I12}for j in range({m * m}):")
    w(f"{I16}X[j * (Lz + 1) + Lt:(j + 1) * (Lz + 1)] = 0")
    w(f"{I12}for k in range({n}):")
    w(f"{I16}rp, dr = k % {m}, k // {m}")
    for b in range(n):
        w(f"{I16}e{b} = E[(k * {n} + {b}) * Lt:]")
    for l in range(n):
        cp, dc = l % m, l // m
        expr = _lin([(BT[b][l], f"e{b}[p]") for b in range(n)])
        w(f"{I16}t = X[(rp * {m} + {cp}) * (Lz + 1) + dr * R + {dc}:]")
        if dc == 0:
            w(f"{I16}if dr == 0:")
            w(f"{I16}    for p in range(Lt):")
            w(f"{I16}        t[p] = {expr}")
            w(f"{I16}else:")
            w(f"{I16}    for p in range(Lt):")
            w(f"{I16}        t[p] += {expr}")
        else:
            w(f"{I16}for p in range(Lt):")
            w(f"{I16}    t[p] += {expr}")
    # interleave the column phases back into rows, add the rows inside gx
    w(f"{I12}for rp in range({m}):")
    w(f"{I16}d = xb[rp * {m} * Lz:]")
    for cp in range(m):
        w(f"{I16}x{cp} = X[(rp * {m} + {cp}) * (Lz + 1):]")
    w(f"{I16}for z in range(Lz):")
    for cp in range(m):
        w(f"{I16}    d[{m} * z + {cp}] = x{cp}[z]" if cp else f"{I16}    d[{m} * z] = x0[z]")
    w(f"{I12}if qb > qa:")
    w(f"{I16}for rp in range({m}):")
    w(f"{I16}    for i in range(nth + 1):")
    w(f"{I16}        r = {m} * (th0 + i) + rp - pt")
    w(f"{I16}        if r >= 0 and r < H:")
    w(f"{I16}            for nn in range(nb):")
    w(f"{I16}                s = xb[((rp * (nth + 1) + i) * nb + nn) * Wp + pl + qa:]")
    w(f"{I16}                d = gx[n0 + nn, c, r, qa:qb]")
    w(f"{I16}                if add:")
    w(f"{I16}                    for q in range(qb - qa):")
    w(f"{I16}                        d[q] += s[q]")
    w(f"{I16}                else:")
    w(f"{I16}                    for q in range(qb - qa):")
    w(f"{I16}                        d[q] = s[q]")
    w("")
    return "\n".join(out) + "\n"


def _generated_block():
    return _GEN_BEGIN + "".join(_emit_kernels(m) for m in (2, 4)) + _GEN_END


if __name__ == "__main__":
    path = os.path.abspath(__file__)
    with open(path) as f:
        text = f.read()
    i, j = text.index(_GEN_BEGIN), text.index(_GEN_END) + len(_GEN_END)
    with open(path, "w") as f:
        f.write(text[:i] + _generated_block() + text[j:])
