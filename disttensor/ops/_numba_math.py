"""Scalar math for numba kernels that LLVM can vectorize: exp for float32 and float64.

numba's `math.exp` / `np.exp` lower to a libm call per element (llvmlite ships no SVML here), so a loop
around them stays scalar: a row softmax then had to leave the kernel for NumPy's SIMD exp and pay extra
passes and temporaries. `exp32` / `exp64` below are branch-free (selects only) and built from
arithmetic plus integer bit tricks, so loops that call them vectorize like any arithmetic loop.

Method: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2/2 (Cody-Waite: ln2 split in a short
high part, exact when multiplied by n, and a low part); exp(r) = 1 + r + r^2 q(r) with q a polynomial
fitted for this file (see `fit_exp_coefficients`); 2^n is an exponent field written with an integer shift
and reinterpreted as a float by an LLVM bitcast (see the note above `expn32`).

Semantics (as np.exp / torch.exp): exp(-inf) = 0, exp(+inf) = inf, exp(nan) = nan, overflow is inf,
results below about twice the smallest normal number are exact 0 (flush to zero, no subnormals). Accuracy
(tests/ops/test_nn_functional_extra.py checks it against NumPy over the whole float range): see the
functions' docstrings and the test.

The row kernels of the softmax family (softmax, log_softmax, cross_entropy with class indices, forward
and backward) live here too, as one fused loop per row each, with no NumPy passes or temporaries.

This module imports numba at its top, so it is itself imported lazily (by the ops' kernel builders,
never at `import disttensor`). Everything is defined at module level, so numba's on-disk cache keys do
not depend on closure contents, and editing this file invalidates every cached kernel that inlines
`fexp`.
"""
import math
import sys
from decimal import Decimal, localcontext

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# q(r) = (exp(r) - 1 - r) / r^2 ~ sum Q[k] r^k on |r| <= ln2/2 (slightly widened): coefficients fitted
# for this file by `fit_exp_coefficients()` below. float32: Lawson's iteratively reweighted least squares
# for the minimax relative error of exp, each coefficient rounded to float32 in turn and the later ones
# refitted (max relative error 3.1e-9 in exact arithmetic). float64: Chebyshev interpolation of q in
# 40-digit arithmetic (mpmath.chebyfit), rounded to float64 (max relative error 1.6e-17).
Q32 = (0.4999999403953552, 0.1666652113199234, 0.04166826605796814, 0.008368675597012043,
       0.0013820689637213945)
Q64 = (0.5000000000000001, 0.16666666666666669, 0.04166666666662399, 0.008333333333330051,
       0.0013888888917281794, 0.00019841269863105968, 2.480152119021773e-05, 2.7557268378684192e-06,
       2.7620138719733994e-07, 2.5100424157005067e-08)


def fit_exp_coefficients():  # pragma: no cover - documents how Q32 / Q64 were made (needs mpmath)
    """Recompute (Q32, Q64)."""
    h = math.log(2) / 2 * 1.0005

    def lawson(fixed, deg, n=20001, iters=200):
        r = np.cos(np.linspace(0, np.pi, n)) * h
        e = np.exp(r)
        k0 = len(fixed)
        a = np.stack([r ** k for k in range(k0, deg + 1)], 1) / e[:, None]
        rhs = (e - sum(c * r ** k for k, c in enumerate(fixed))) / e
        w = np.full(n, 1.0 / n)
        for _ in range(iters):
            sw = np.sqrt(w)
            c = np.linalg.lstsq(a * sw[:, None], rhs * sw, rcond=None)[0]
            w = w * np.abs(a @ c - rhs)
            w /= w.sum()
        return c

    fixed = [1.0, 1.0]
    while len(fixed) <= 6:
        fixed.append(float(np.float32(lawson(fixed, 6)[0])))
    q32 = tuple(fixed[2:])

    import mpmath as mp
    mp.mp.dps = 40
    hm = mp.log(2) / 2 * mp.mpf("1.0005")
    poly = mp.chebyfit(lambda r: (mp.exp(r) - 1 - r) / r ** 2 if abs(r) > 1e-30 else mp.mpf(1) / 2, [-hm, hm], 10)
    q64 = tuple(float(v) for v in poly[::-1])
    return q32, q64


def _ln2_split(bits):
    """(hi, lo): hi = ln2 rounded to `bits` significant bits (n * hi exact for small n), lo = ln2 - hi,
    from a 40-digit ln 2."""
    with localcontext() as ctx:
        ctx.prec = 40
        ln2 = Decimal(2).ln()
        m, e = math.frexp(float(ln2))
        hi = math.ldexp(math.floor(m * 2 ** bits + 0.5), e - bits)
        lo = float(ln2 - Decimal(hi))
    return hi, lo


# ---- primitives ---------------------------------------------------------------------------------
def _exponent_field(fty, ity, shift):
    @intrinsic
    def field(typingctx, t):
        """The float whose bits are (bits of t) << shift: puts t's low mantissa bits in the exponent."""
        if t != fty:
            return None

        def codegen(context, builder, sig, args):
            ft = context.get_value_type(fty)
            it = ir.IntType(ity.bitwidth)
            v = builder.shl(builder.bitcast(args[0], it), ir.Constant(it, shift))
            return builder.bitcast(v, ft)
        return fty(t), codegen
    return field


_pow2_32 = _exponent_field(types.float32, types.int32, 23)
_pow2_64 = _exponent_field(types.float64, types.int64, 52)


@intrinsic
def fmax(typingctx, a, b):
    """max(a, b) propagating NaN (LLVM's `llvm.maximum`, like torch's max): unlike a compare-and-select,
    LLVM vectorizes a reduction over it (row max of 256x1000 float32: 0.27 -> 0.015 ms)."""
    if not isinstance(a, types.Float) or a != b:
        return None

    def codegen(context, builder, sig, args):
        lt = args[0].type
        name = "llvm.maximum.f32" if lt == ir.FloatType() else "llvm.maximum.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(lt, [lt, lt]), name)
        return builder.call(fn, args)
    return a(a, b), codegen


# The exp kernels round x / ln2 to an integer with the "magic number" addition t = x * log2(e) + M,
# M = 1.5 * 2^23 (+ the exponent bias): the low bits of t's representation then hold n + bias, and
# shifting them into the exponent field gives 2^n with one integer shift (no float -> int conversion,
# no clamps: any t, NaN included, is a defined bit pattern; out-of-range x are replaced by selects).
# Compiled without `reassoc`: it would fold (x * log2e + M) - M into x * log2e, and x - n*hi - n*lo
# into x - n*(hi+lo).
_FM_EXACT = {"contract", "nsz", "arcp", "afn"}
_f4 = np.float32
_HI32, _LO32 = _ln2_split(15)
_L2E32, _HI32, _LO32 = _f4(1 / math.log(2)), _f4(_HI32), _f4(_LO32)
_A2, _A3, _A4, _A5, _A6 = (_f4(c) for c in Q32)
_D2, _D3, _D4, _D5, _D6 = (_f4(2 * c) for c in Q32)  # 2 * Q32 (exact)
_M127, _M126 = _f4(1.5 * 2 ** 23 + 127), _f4(1.5 * 2 ** 23 + 126)
_FLT_MIN_LOG = _f4(math.log(np.finfo(np.float32).tiny))  # -87.34: exp below this is subnormal
_LOW32 = _f4(-87.0)  # exp32's flush point (its result there is 2^-125.5, a normal number)
_HIGH32 = _f4(np.log(np.finfo(np.float32).max))
_ONE32, _TWO32, _ZERO32, _INF32 = _f4(1.0), _f4(2.0), _f4(0.0), _f4(np.inf)


@numba.njit(fastmath=_FM_EXACT, cache=True)
def expn32(x):
    """exp(x) for float32 x <= 0 (or -inf, NaN): the softmax case, x - rowmax. Results below the
    smallest normal float32 (x < -87.34) are exact 0 (flush to zero); x > 88.3 gives garbage."""
    t = x * _L2E32 + _M127
    n = t - _M127
    r = x - n * _HI32
    r = r - n * _LO32
    q = (((_A6 * r + _A5) * r + _A4) * r + _A3) * r + _A2
    p = (r * r * q + r) + _ONE32
    y = p * _pow2_32(t)
    return _ZERO32 if x < _FLT_MIN_LOG else y


@numba.njit(fastmath=_FM_EXACT, cache=True)
def exp32(x):
    """exp(x) for any float32 x: inf above ln(FLT_MAX), exact 0 below -87 (results under 2^-125.5,
    i.e. subnormals and the smallest normals, flush to zero), NaN for NaN. 2^n is built as 2^(n-1)
    times a polynomial for 2 exp(r), so n = 128 (x up to ln(FLT_MAX)) still has a normal scale."""
    t = x * _L2E32 + _M126
    n = t - _M126
    r = x - n * _HI32
    r = r - n * _LO32
    q = (((_D6 * r + _D5) * r + _D4) * r + _D3) * r + _D2
    p = (r * r * q + (r + r)) + _TWO32
    y = p * _pow2_32(t)
    y = _ZERO32 if x < _LOW32 else y
    return _INF32 if x > _HIGH32 else y


_f8 = np.float64
_HI64, _LO64 = _ln2_split(40)
_L2E64, _HI64, _LO64 = _f8(1 / math.log(2)), _f8(_HI64), _f8(_LO64)
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11 = (_f8(2 * c) for c in Q64)
_M1022 = _f8(1.5 * 2 ** 52 + 1022)
_LOW64, _HIGH64 = _f8(-707.0), _f8(np.log(np.finfo(np.float64).max))


@numba.njit(fastmath=_FM_EXACT, cache=True)
def exp64(x):
    """exp(x) for any float64 x (as exp32: exact 0 below -707, i.e. results under 2^-1020)."""
    t = x * _L2E64 + _M1022
    n = t - _M1022
    r = x - n * _HI64
    r = r - n * _LO64
    q = ((((((((_E11 * r + _E10) * r + _E9) * r + _E8) * r + _E7) * r + _E6) * r + _E5) * r + _E4) * r
         + _E3) * r + _E2
    p = (r * r * q + (r + r)) + 2.0
    y = p * _pow2_64(t)
    y = 0.0 if x < _LOW64 else y
    return np.inf if x > _HIGH64 else y


def fexp(x):
    """exp of a float32 or float64 scalar in jitted code (exp32 / exp64 by type)."""
    return np.exp(x)


@overload(fexp)
def _ov_fexp(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64:
        return lambda x: exp64(x)
    return None


def fexpn(x):
    """exp of x <= 0 (or -inf, NaN) in jitted code: expn32 for float32, exp64 for float64."""
    return np.exp(x)


@overload(fexpn)
def _ov_fexpn(x):
    if x == types.float32:
        return lambda x: expn32(x)
    if x == types.float64:
        return lambda x: exp64(x)
    return None


def like(v, c):
    """The Python number `c` as a scalar of `v`'s float type (jitted code)."""
    return type(v)(c)


@overload(like)
def _ov_like(v, c):
    if v == types.float32:
        return lambda v, c: np.float32(c)
    if v == types.float64:
        return lambda v, c: np.float64(c)
    return None


# ---- work sharing between threads -----------------------------------------------------------------
# Row kernels take `cnt` (int64[4]: next slice, slices finished, job number, number of slices) and claim
# slices of rows with an atomic fetch-add until none is left, so any number of threads can run the
# same call and none waits for a thread the OS has not scheduled yet. `ctl` (int64[16], one per
# process) is the hand-off to the helper threads of nn_activation.run_rows: the posting thread writes
# the job number to ctl[0]; its kernel, once running (the GIL released), copies it to ctl[8]; helpers
# spin (politely, sched_yield) on ctl[8] without the GIL, so they take the GIL only when it is free.
# role: 0 for the posting thread, 1 for helpers.
def _elem_ptr(context, builder, aty, arr, idx):
    a = context.make_array(aty)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, aty, a, [idx])


@intrinsic
def atomic_add(typingctx, arr, idx, val):
    """arr[idx] += val atomically (int64 array); returns the old value."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, sig.args[0], args[0], args[1])
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")
    return types.int64(arr, idx, val), codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_elem_ptr(context, builder, sig.args[0], args[0], args[1]), "seq_cst", 8)
    return types.int64(arr, idx), codegen


@intrinsic
def atomic_store(typingctx, arr, idx, val):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(v, _elem_ptr(context, builder, sig.args[0], args[0], args[1]), "seq_cst", 8)
        return context.get_dummy_value()
    return types.none(arr, idx, val), codegen


@intrinsic
def cycles(typingctx):
    """The CPU's cycle (time stamp) counter."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen


@numba.njit(nogil=True, cache=True)
def read_cycles():
    return cycles()


_YIELD = sys.platform.startswith("linux") or sys.platform == "darwin"


@intrinsic
def _sched_yield(typingctx):
    """libc's sched_yield() (declared as an external symbol, so kernels calling it stay cacheable); a
    no-op where there is none."""
    def codegen(context, builder, sig, args):
        if _YIELD:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                                "sched_yield")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@numba.njit(nogil=True, cache=True)
def spin_until_change(ctl, idx, old, max_cycles):
    """Wait until ctl[idx] != old, at most max_cycles; returns the value seen. Yields the core to any other
    runnable thread between looks."""
    t0 = cycles()
    while True:
        v = atomic_load(ctl, idx)
        if v != old or cycles() - t0 > max_cycles:
            return v
        _sched_yield()


@numba.njit(nogil=True, cache=True)
def add_atomic(a, idx, v):
    return atomic_add(a, idx, v)


@numba.njit(nogil=True, cache=True)
def leave_and_spin(active, ctl, idx, old, max_cycles):
    """A helper leaving a job: active[0] -= 1 once the GIL is released (the poster waits for 0 and then
    needs the GIL), then spin_until_change(ctl, idx, old, max_cycles)."""
    atomic_add(active, 0, -1)
    return spin_until_change(ctl, idx, old, max_cycles)


@numba.njit(nogil=True, cache=True)
def spin_until_zero(a, idx):
    """Wait until a[idx] == 0 (helpers still in a job)."""
    while atomic_load(a, idx) != 0:
        _sched_yield()


@numba.njit(inline="always")
def _enter(cnt, ctl, role):
    j = cnt[2]
    if j != 0 and role == 0:
        atomic_store(ctl, 8, j)


@numba.njit(inline="always")
def _claim(cnt, n):
    """(slice, lo, hi) of the next unclaimed slice of rows 0:n; slice -1 when none is left."""
    c = atomic_add(cnt, 0, 1)
    k = cnt[3]
    if c >= k:
        return -1, 0, 0
    return c, n * c // k, n * (c + 1) // k


@numba.njit(inline="always")
def _done(cnt):
    atomic_add(cnt, 1, 1)


# ---- softmax-family row kernels ------------------------------------------------------------------
# Each public kernel handles rows lo:hi of C-contiguous 2-D arrays and releases the GIL, so callers can
# split the rows over threads. Row reductions are small helpers compiled with `reassoc` (so LLVM
# vectorizes them); the elementwise loops are compiled without it, so (x - max) - logsumexp keeps its
# order (reassociated to x - (max + logsumexp) it loses ~1e-4 relative accuracy on large logits).
# Semantics follow torch: a NaN anywhere in a row makes the row NaN (fmax propagates it), a row of all
# -inf gives NaN, -inf entries give probability 0.
_FM_RED = {"reassoc", "contract", "nsz", "arcp", "afn"}
# error_model="numpy": x / 0 gives inf/nan like NumPy and torch, and no ZeroDivisionError branch per
# division (which kept a loop dividing per element scalar: GELU 4M floats 12 ms instead of 1.5)
_jr = numba.njit(fastmath=_FM_RED, cache=True, nogil=True, error_model="numpy")
_jk = numba.njit(fastmath=_FM_EXACT, cache=True, nogil=True, error_model="numpy")


@_jr
def row_max(x, i):
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        m = fmax(m, x[i, j])
    return m


@_jr
def row_sumexp_store(x, y, i, m):
    """y[i] = exp(x[i] - m); returns the row sum."""
    s = like(m, 0.0)
    for j in range(x.shape[1]):
        e = fexpn(x[i, j] - m)
        y[i, j] = e
        s += e
    return s


@_jr
def row_sumexp(x, i, m):
    s = like(m, 0.0)
    for j in range(x.shape[1]):
        s += fexpn(x[i, j] - m)
    return s


@_jr
def row_sum(a, i):
    s = like(a[i, 0], 0.0)
    for j in range(a.shape[1]):
        s += a[i, j]
    return s


@_jr
def row_sum_shift(a, i, m):
    s = like(m, 0.0)
    for j in range(a.shape[1]):
        s += a[i, j] - m
    return s


@_jr
def row_dot(a, b, i):
    s = like(a[i, 0], 0.0)
    for j in range(a.shape[1]):
        s += a[i, j] * b[i, j]
    return s


@_jk
def softmax_fwd(x, y, cnt, ctl, role):
    _enter(cnt, ctl, role)
    c = x.shape[1]
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            m = row_max(x, i)
            r = like(m, 1.0) / row_sumexp_store(x, y, i, m)
            for j in range(c):
                y[i, j] *= r
        _done(cnt)


@_jk
def log_softmax_fwd(x, y, cnt, ctl, role):
    _enter(cnt, ctl, role)
    c = x.shape[1]
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            m = row_max(x, i)
            ls = np.log(row_sumexp(x, i, m))
            for j in range(c):
                y[i, j] = (x[i, j] - m) - ls
        _done(cnt)


@_jr
def row_max_n(x, i, n):
    m = x[i, 0]
    for j in range(1, n):
        m = fmax(m, x[i, j])
    return m


@_jr
def row_sumexp_inplace_n(x, i, m, n):
    """x[i, :n] = exp(x[i, :n] - m); returns their sum."""
    s = like(m, 0.0)
    for j in range(n):
        e = fexpn(x[i, j] - m)
        x[i, j] = e
        s += e
    return s


@_jk
def causal_softmax_fwd(x, L, cnt, ctl, role):
    """In place: row i of x (n*L, S) is query i % L of a causal (top-left) attention: softmax over its columns
    j <= i % L, zeros after them. A row whose kept scores are all -inf becomes zeros (torch 2.13's CPU
    attention outputs 0 there), a NaN score makes its row NaN."""
    _enter(cnt, ctl, role)
    S = x.shape[1]
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            n = min(i % L + 1, S)
            m = row_max_n(x, i, n)
            if m == -np.inf:
                for j in range(S):
                    x[i, j] = 0
                continue
            r = like(m, 1.0) / row_sumexp_inplace_n(x, i, m, n)
            for j in range(n):
                x[i, j] *= r
            for j in range(n, S):
                x[i, j] = 0
        _done(cnt)


@_jk
def softmax_bwd(y, g, out, cnt, ctl, role):
    _enter(cnt, ctl, role)
    c = y.shape[1]
    while True:
        k, lo, hi = _claim(cnt, y.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            s = row_dot(g, y, i)
            for j in range(c):
                out[i, j] = y[i, j] * (g[i, j] - s)
        _done(cnt)


@_jk
def log_softmax_bwd(y, g, out, cnt, ctl, role):
    # out = g - exp(y) * sum(g)
    _enter(cnt, ctl, role)
    c = y.shape[1]
    while True:
        k, lo, hi = _claim(cnt, y.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            s = row_sum(g, i)
            for j in range(c):
                out[i, j] = g[i, j] - fexpn(y[i, j]) * s
        _done(cnt)


@_jr
def row_wsum_shift(x, w, i, m):
    s = like(m, 0.0)
    for j in range(x.shape[1]):
        s += w[j] * (x[i, j] - m)
    return s


@_jk
def ce_fwd(x, t, ignore, w, eps, wsum, p, loss, wt, valid, bad, cnt, ctl, role):
    """cross_entropy with class indices, per row i with target t[i]: p[i] = softmax(x[i]);
    wt[i] = w[t[i]] (1 when w is empty: no class weights), valid[i] = 1, and
    loss[i] = -(1 - eps) wt[i] logp[i, t[i]] - (eps / c) sum_j w_j logp[i, j] (label smoothing eps);
    rows whose target is `ignore` get wt = valid = loss = 0. A target out of [0, c) sets bad[0] = 1 (the
    caller raises). wsum = sum(w) (c without weights)."""
    _enter(cnt, ctl, role)
    c = x.shape[1]
    hasw = w.shape[0] > 0
    one = like(eps, 1.0)
    zero = like(eps, 0.0)
    ec = eps / like(eps, c)
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            m = row_max(x, i)
            s = row_sumexp_store(x, p, i, m)
            r = one / s
            for j in range(c):
                p[i, j] *= r
            ti = t[i]
            if ti == ignore or ti < 0 or ti >= c:
                if ti != ignore:
                    bad[0] = 1
                wt[i] = zero
                valid[i] = zero
                loss[i] = zero
                continue
            ls = np.log(s)
            wi = w[ti] if hasw else one
            li = -(one - eps) * wi * ((x[i, ti] - m) - ls)
            if eps != zero:
                if hasw:
                    li -= ec * (row_wsum_shift(x, w, i, m) - ls * wsum)
                else:
                    li -= ec * (row_sum_shift(x, i, m) - like(eps, c) * ls)
            loss[i] = li
            wt[i] = wi
            valid[i] = one
        _done(cnt)


@_jk
def ce_bwd(p, t, wt, valid, r, w, eps, wsum, tiny, out, cnt, ctl, role):
    """Gradient of ce_fwd's loss[i] times r[i] (r of length 1: the same for every row):
    out[i, j] = r[i] (p[i, j] ((1 - eps) wt[i] + (eps/c) valid[i] wsum) - (eps/c) valid[i] w_j)
    - r[i] (1 - eps) wt[i] [j == t[i]]. Values under `tiny` in magnitude (before the target's term) are
    flushed to 0: softmax probabilities of far-off classes times 1/N are (nearly) subnormal, and a GEMM
    reading them (the LM head's backward) ran 2-10x slower on x86 microcode assists."""
    _enter(cnt, ctl, role)
    c = p.shape[1]
    hasw = w.shape[0] > 0
    one = like(eps, 1.0)
    ec = eps / like(eps, c)
    per_row = r.shape[0] > 1
    while True:
        k, lo, hi = _claim(cnt, p.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            ri = r[i] if per_row else r[0]
            b = ri * (one - eps) * wt[i]
            cc = ri * ec * valid[i]
            a = b + cc * wsum
            if cc == 0:
                for j in range(c):
                    v = p[i, j] * a
                    out[i, j] = v if abs(v) >= tiny else v * 0
            elif hasw:
                for j in range(c):
                    v = p[i, j] * a - cc * w[j]
                    out[i, j] = v if abs(v) >= tiny else v * 0
            else:
                for j in range(c):
                    v = p[i, j] * a - cc
                    out[i, j] = v if abs(v) >= tiny else v * 0
            if valid[i] != 0:
                out[i, t[i]] -= b
        _done(cnt)


# ---- layer_norm row kernels ------------------------------------------------------------------------
# Mean and variance in two passes over the row (no cancellation; the row is in L1 for the second),
# accumulated in the input's float type (float64 accumulators halved the float32 kernel's speed).
@_jr
def row_mean_var(x, i, invd):
    s = like(invd, 0.0)
    for j in range(x.shape[1]):
        s += x[i, j]
    mu = s * invd
    v = like(invd, 0.0)
    for j in range(x.shape[1]):
        t = x[i, j] - mu
        v += t * t
    return mu, v * invd


@_jk
def layer_norm_fwd(x, w, b, y, mean, rstd, eps, cnt, ctl, role):
    _enter(cnt, ctl, role)
    d = x.shape[1]
    invd = like(eps, 1.0) / like(eps, d)  # (a float32 / int division would be float64)
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            mu, var = row_mean_var(x, i, invd)
            rs = like(eps, 1.0) / np.sqrt(var + eps)
            mean[i] = mu
            rstd[i] = rs
            for j in range(d):
                y[i, j] = (x[i, j] - mu) * rs * w[j] + b[j]
        _done(cnt)


@_jr
def row_layer_norm_bwd_sums(x, g, w, gw, gb, k, i, mu, rs):
    """(sum(g w), sum(g w xhat)) of row i; gw[k] += g xhat, gb[k] += g (the weight and bias gradients)."""
    a = like(mu, 0.0)
    bb = like(mu, 0.0)
    for j in range(x.shape[1]):
        xh = (x[i, j] - mu) * rs
        gj = g[i, j]
        gh = gj * w[j]
        a += gh
        bb += gh * xh
        gw[k, j] += gj * xh
        gb[k, j] += gj
    return a, bb


@_jk
def layer_norm_bwd(x, g, w, mean, rstd, gx, gw, gb, cnt, ctl, role):
    """gx = rstd (g w - mean(g w) - xhat mean(g w xhat)); gw[k, :d], gb[k, :d] (zeroed, a row per slice
    k, rows may be wider than d) accumulate slice k's weight and bias gradients."""
    _enter(cnt, ctl, role)
    d = x.shape[1]
    invd = like(x[0, 0], 1.0) / like(x[0, 0], d)
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        for i in range(lo, hi):
            mu = mean[i]
            rs = rstd[i]
            a, bb = row_layer_norm_bwd_sums(x, g, w, gw, gb, k, i, mu, rs)
            a = a * invd
            bb = bb * invd
            for j in range(d):
                xh = (x[i, j] - mu) * rs
                gx[i, j] = rs * (g[i, j] * w[j] - a - xh * bb)
        _done(cnt)


# ---- GELU (erf) of float32 arrays --------------------------------------------------------------------
# erf(z) ~ z * P(z^2) / Q(z^2) on |z| <= 4 (erf(4) = 1 - 1.5e-8): a rational fit made for this project
# (iteratively reweighted least squares against scipy.special.erf); max error 3.1e-9 for erf and 8.8e-8
# for its derivative. Used by the float32 numba GELU kernels; float64 goes through an exact erf.
ERF_P = (1.1283791828682674e+00, 1.8464218085171089e-01, 5.4329578835399905e-02, 3.8375582699139653e-03,
          3.8289863257944928e-04, 4.7873176553952121e-06, -1.3695023282970467e-08)
ERF_Q = (1.0, 4.9696842670318137e-01, 1.1380346548557087e-01, 1.5450254739159017e-02,
          1.3094628387344727e-03, 6.4074772001158946e-05)
# exp(-w) on [0, 1], least-squares degree 7 (max relative error 1.2e-9; 7.6e-9 after the 16th power)
EXP_W = (0.9999999995262333, -0.9999999387383123, 0.49999870028157223, -0.16665613053427691,
          0.041624505402093406, -0.008240868121048664, 0.0012744598503799589, -0.00012128694338782816)
_G_P0, _G_P1, _G_P2, _G_P3, _G_P4, _G_P5, _G_P6 = (_f4(c) for c in ERF_P)
_G_Q0, _G_Q1, _G_Q2, _G_Q3, _G_Q4, _G_Q5 = (_f4(c) for c in ERF_Q)
_G_E0, _G_E1, _G_E2, _G_E3, _G_E4, _G_E5, _G_E6, _G_E7 = (_f4(c) for c in EXP_W)
_G_S2, _G_H, _G_1, _G_4, _G_0, _G_16 = _f4(1 / math.sqrt(2)), _f4(0.5), _f4(1), _f4(4), _f4(0), _f4(1 / 16)
_G_TSP, _G_HS2 = _f4(2 / math.sqrt(math.pi)), _f4(0.5 / math.sqrt(2))


@_jr
def gelu_erf32_fwd(x, y, cnt, ctl, role):
    """y = x Phi(x) on 1-D float32 arrays: the erf fit evaluated in float32 (16 SIMD lanes: 1.11 -> 0.67 ms
    on 1M floats against float64); max abs error against float64 GELU 1.1e-6 on N(0, 3) inputs (1 ulp of
    outputs near 10). Element slices claimed like the row kernels'."""
    _enter(cnt, ctl, role)
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        xs, ys = x[lo:hi], y[lo:hi]  # (indices from 0: no negative-index handling, so LLVM vectorizes)
        for i in range(xs.shape[0]):
            v = xs[i]
            z = min(max(v * _G_S2, -_G_4), _G_4)
            u = z * z
            pp = ((((((_G_P6 * u + _G_P5) * u + _G_P4) * u + _G_P3) * u + _G_P2) * u + _G_P1) * u + _G_P0)
            qq = (((((_G_Q5 * u + _G_Q4) * u + _G_Q3) * u + _G_Q2) * u + _G_Q1) * u + _G_Q0)
            ys[i] = _G_H * v * (_G_1 + z * pp / qq)
        _done(cnt)


@_jr
def gelu_erf32_bwd(x, g, out, cnt, ctl, role):
    """out = g (Phi(x) + x phi(x)): Phi from the erf fit, phi = exp(-z^2)/sqrt(pi) as exp(-u/16)^16 with a
    polynomial; all in float32 (1.42 -> 1.01 ms on 1M floats, max abs error 3e-7 on [-12, 12])."""
    _enter(cnt, ctl, role)
    while True:
        k, lo, hi = _claim(cnt, x.shape[0])
        if k < 0:
            break
        xs, gs, os = x[lo:hi], g[lo:hi], out[lo:hi]
        for i in range(xs.shape[0]):
            v = xs[i]
            zr = v * _G_S2
            z = min(max(zr, -_G_4), _G_4)
            u = z * z
            pp = ((((((_G_P6 * u + _G_P5) * u + _G_P4) * u + _G_P3) * u + _G_P2) * u + _G_P1) * u + _G_P0)
            qq = (((((_G_Q5 * u + _G_Q4) * u + _G_Q3) * u + _G_Q2) * u + _G_Q1) * u + _G_Q0)
            w = u * _G_16
            ex = (((((((_G_E7 * w + _G_E6) * w + _G_E5) * w + _G_E4) * w + _G_E3) * w + _G_E2) * w + _G_E1) * w
                  + _G_E0)
            ex = ex * ex
            ex = ex * ex
            ex = ex * ex
            ex = ex * ex
            de = _G_TSP * ex
            if zr != z:
                de = _G_0
            os[i] = gs[i] * (_G_H * (_G_1 + z * pp / qq) + _G_HS2 * v * de)
        _done(cnt)
