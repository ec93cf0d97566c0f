"""numba im2col / col2im of 2-D convolutions on CPU, for nn_conv's im2col path (strided, dilated, grouped and
non-3x3 convolutions; 3x3 stride-1 ones go through _winograd).

Why not NumPy's strided copies (one per kernel offset): they are as fast on one thread, but they hold the GIL,
so when nn_conv splits a call's tiles over two Python threads, one thread's copies stall the other at every
GIL hand-off and the split gained nothing (ResNet stride-2 layer: 19.5 ms forward on one thread, 18.7 on two).
These kernels release the GIL, read the unpadded input directly (positions in the padding are zeros, never
copied, so the padded copy of the input is gone) and add col2im's rows straight into the unpadded gradient.
Flat indices are unsigned: numba's negative-index test on a signed index keeps the copy loops from vectorizing
(2.5x slower on stride-1 rows).
"""
import numpy as np

from .nn_activation import numba_kernels


def _build(numba):
    njit, u64, u32 = numba.njit, numba.uint64, numba.uint32

    @njit(nogil=True, cache=True, inline="always")
    def _valid_cols(W, Wo, off, sw):
        """[lo, hi): the output columns ow whose input column ow * sw + off lies in 0 .. W-1."""
        lo = 0 if off >= 0 else (-off + sw - 1) // sw
        last = W - 1 - off
        hi = last // sw + 1 if last >= 0 else 0
        hi = min(hi, Wo)
        return min(lo, hi), hi

    # The ResNet downsampling geometry, stride 2 / width 3 / padding 1 on rows of even width W (Wo = W / 2):
    # the three kernel columns of one input row are done in one pass over it (output q reads input columns
    # 2q - 1, 2q, 2q + 1), instead of three passes of Wo elements each. With Wo = 16 the per-row loop overhead
    # (and LLVM's scalar remainder loop, which a 16-long row never leaves) was most of im2col's time.
    @njit(nogil=True, cache=True, inline="always")
    def _is_s2k3(sw, kw, dw, pl, W, Wo):
        return sw == 2 and kw == 3 and dw == 1 and pl == 1 and W % 2 == 0 and Wo == W // 2 and Wo >= 1

    @njit(nogil=True, cache=True, inline="always")
    def _row_s2k3(xf, s, of, o, gap, Wo):
        """of[o + j * gap + q] = input column 2q + j - 1 of the row at xf[s:] (0 left of it), j = 0, 1, 2."""
        of[o] = 0
        for q in range(Wo):
            of[o + gap + u64(q)] = xf[s + u64(2 * q)]
            of[o + u64(2) * gap + u64(q)] = xf[s + u64(2 * q + 1)]
        for q in range(1, Wo):
            of[o + u64(q)] = xf[s + u64(2 * q - 1)]

    @njit(nogil=True, cache=True, inline="always")
    def _row_s2k3_pairs(xq, s, ou, o, gap, Wo):
        """_row_s2k3 for float32 (bit patterns as uint32), the row read as 64-bit pairs of columns (2m, 2m + 1):
        unit-stride loads, the halves split by truncation and shift."""
        ou[o] = 0
        for q in range(Wo):
            v = xq[s + u64(q)]
            ou[o + gap + u64(q)] = u32(v & u64(0xffffffff))
            ou[o + u64(2) * gap + u64(q)] = u32(v >> u64(32))
        for q in range(1, Wo):
            ou[o + u64(q)] = u32(xq[s + u64(q - 1)] >> u64(32))

    @njit(nogil=True, cache=True, inline="always")
    def _add_row_s2k3(cf, o, gap, gf, s, Wo):
        """The adjoint of _row_s2k3: input column 2m gets kernel column 1's value at m, column 2m + 1 kernel
        column 2's at m and kernel column 0's at m + 1."""
        for m in range(Wo - 1):
            gf[s + u64(2 * m)] += cf[o + gap + u64(m)]
            gf[s + u64(2 * m + 1)] += cf[o + u64(2) * gap + u64(m)] + cf[o + u64(m + 1)]
        m = Wo - 1
        gf[s + u64(2 * m)] += cf[o + gap + u64(m)]
        gf[s + u64(2 * m + 1)] += cf[o + u64(2) * gap + u64(m)]

    @njit(nogil=True, cache=True)
    def im2col(x, n0, n1, r0, r1, G, sh, sw, dh, dw, pt, pl, kh, kw, Wo, out):
        """out (n1-n0, G, R, (r1-r0)*Wo) C-contiguous: row k*Cg + c of group g is input channel g*Cg + c at kernel
        offset k = ki*kw + kj, over output rows r0:r1 of samples n0:n1; x (N, C, H, W) C-contiguous. Rows past
        kh*kw*Cg (R - kh*kw*Cg of them) are ones: with the bias as the weight matrix's extra column, the GEMM
        adds it (no pass over the output), and a weight-gradient GEMM sums the output gradient into it."""
        N, C, H, W = x.shape
        Cg = C // G
        xf = x.reshape(N * C * H * W)
        of = out.reshape(out.size)
        L = (r1 - r0) * Wo
        R = out.shape[2]
        KC = kh * kw * Cg
        # stride 2 on float32 rows of even length: every other value is one half of a 64-bit word, so a row
        # is copied as 64-bit loads truncated to 32 bits (vectorized) instead of gathered (1.4x faster)
        pairs = sw == 2 and xf.itemsize == 4 and W % 2 == 0
        xq = xf[:xf.size - xf.size % 2].view(np.uint64)
        ou = of.view(np.uint32)
        s2k3 = _is_s2k3(sw, kw, dw, pl, W, Wo)
        for n in range(n0, n1):
            for g in range(G):
                for ki in range(kh):
                    if s2k3:
                        for c in range(Cg):
                            o0 = u64((((n - n0) * G + g) * R + ki * 3 * Cg + c) * L)
                            xb = (n * C + g * Cg + c) * H * W
                            for oh in range(r0, r1):
                                ih = oh * sh + ki * dh - pt
                                o = o0 + u64((oh - r0) * Wo)
                                if ih < 0 or ih >= H:
                                    for q in range(Wo):
                                        of[o + u64(q)] = 0
                                        of[o + u64(Cg * L + q)] = 0
                                        of[o + u64(2 * Cg * L + q)] = 0
                                elif pairs:
                                    _row_s2k3_pairs(xq, u64((xb + ih * W) // 2), ou, o, u64(Cg * L), Wo)
                                else:
                                    _row_s2k3(xf, u64(xb + ih * W), of, o, u64(Cg * L), Wo)
                        continue
                    for kj in range(kw):
                        off = kj * dw - pl
                        lo, hi = _valid_cols(W, Wo, off, sw)
                        for c in range(Cg):
                            ob = (((n - n0) * G + g) * R + (ki * kw + kj) * Cg + c) * L
                            xb = (n * C + g * Cg + c) * H * W
                            for oh in range(r0, r1):
                                ih = oh * sh + ki * dh - pt
                                o = u64(ob + (oh - r0) * Wo)
                                if ih < 0 or ih >= H:
                                    for q in range(Wo):
                                        of[o + u64(q)] = 0
                                    continue
                                for q in range(lo):
                                    of[o + u64(q)] = 0
                                d = o + u64(lo)
                                s0 = u64(xb + ih * W + off + lo * sw)
                                if sw == 1:
                                    for q in range(hi - lo):
                                        of[d + u64(q)] = xf[s0 + u64(q)]
                                elif pairs:
                                    if s0 & u64(1):
                                        for q in range(hi - lo):
                                            ou[d + u64(q)] = u32(xq[(s0 >> u64(1)) + u64(q)] >> u64(32))
                                    else:
                                        for q in range(hi - lo):
                                            ou[d + u64(q)] = u32(xq[(s0 >> u64(1)) + u64(q)] & u64(0xffffffff))
                                elif sw == 2:
                                    for q in range(hi - lo):
                                        of[d + u64(q)] = xf[s0 + u64(2 * q)]
                                else:
                                    s = u64(sw)
                                    for q in range(hi - lo):
                                        of[d + u64(q)] = xf[s0 + u64(q) * s]
                                for q in range(hi, Wo):
                                    of[o + u64(q)] = 0
                for r in range(KC, R):
                    ob = u64((((n - n0) * G + g) * R + r) * L)
                    for q in range(L):
                        of[ob + u64(q)] = 1

    @njit(nogil=True, cache=True)
    def col2im(cols, n0, n1, r0, r1, G, sh, sw, dh, dw, pt, pl, kh, kw, Wo, gx):
        """The adjoint of im2col: gx[n0:n1] += each row of cols (n, G, R >= kh*kw*Cg, L) at its window (what falls
        in the padding is dropped; rows past kh*kw*Cg are ignored); gx (N, C, H, W) C-contiguous."""
        N, C, H, W = gx.shape
        Cg = C // G
        gf = gx.reshape(N * C * H * W)
        cf = cols.reshape(cols.size)
        L = (r1 - r0) * Wo
        R = cols.shape[2]
        s2k3 = _is_s2k3(sw, kw, dw, pl, W, Wo)
        for n in range(n0, n1):
            for g in range(G):
                for ki in range(kh):
                    if s2k3:
                        for c in range(Cg):
                            o0 = u64((((n - n0) * G + g) * R + ki * 3 * Cg + c) * L)
                            xb = (n * C + g * Cg + c) * H * W
                            for oh in range(r0, r1):
                                ih = oh * sh + ki * dh - pt
                                if ih >= 0 and ih < H:
                                    _add_row_s2k3(cf, o0 + u64((oh - r0) * Wo), u64(Cg * L), gf, u64(xb + ih * W), Wo)
                        continue
                    for kj in range(kw):
                        off = kj * dw - pl
                        lo, hi = _valid_cols(W, Wo, off, sw)
                        for c in range(Cg):
                            ob = (((n - n0) * G + g) * R + (ki * kw + kj) * Cg + c) * L
                            xb = (n * C + g * Cg + c) * H * W
                            for oh in range(r0, r1):
                                ih = oh * sh + ki * dh - pt
                                if ih < 0 or ih >= H:
                                    continue
                                o = u64(ob + (oh - r0) * Wo + lo)
                                s0 = u64(xb + ih * W + off + lo * sw)
                                if sw == 1:
                                    for q in range(hi - lo):
                                        gf[s0 + u64(q)] += cf[o + u64(q)]
                                elif sw == 2:
                                    for q in range(hi - lo):
                                        gf[s0 + u64(2 * q)] += cf[o + u64(q)]
                                else:
                                    s = u64(sw)
                                    for q in range(hi - lo):
                                        gf[s0 + u64(q) * s] += cf[o + u64(q)]

    class K:
        pass
    K.im2col, K.col2im = im2col, col2im
    return K


def kernels():
    """The compiled kernels, or None without numba (or with DISTTENSOR_NO_NUMBA=1)."""
    return numba_kernels("im2col", _build)
