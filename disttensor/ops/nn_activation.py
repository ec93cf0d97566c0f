"""Activation functions, softmax family and vector similarities of disttensor.nn.functional.

Pointwise activations are one Node each (forward and derivative side by side, on the arrays of the
input's device: `xp = xp_of(x)`). softmax, log_softmax and gelu have fused backward passes and, for
big CPU float arrays, numba kernels (imported lazily on first use, never at `import disttensor`; the
NumPy path is used when numba is missing or `DISTTENSOR_NO_NUMBA=1`).
"""
import math
import os
import threading
import warnings

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from .. import _dtype
from ._apply import apply1, apply
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC

_ndarray = np.ndarray

# ---- numba kernels (lazy) ---------------------------------------------------------------------
NUMBA_MIN = 32768  # arrays smaller than this stay on NumPy (a kernel call costs a few microseconds)
_KERNELS = {}
_FORKED = [False]  # set in a child forked after kernels ran: numba's OpenMP pool dies across fork


def numba_kernels(name, build):
    """`build(numba)` -> kernels object, compiled once per process; None without numba."""
    k = _KERNELS.get(name, 0)
    if k != 0:
        return k
    k = None
    if os.environ.get("DISTTENSOR_NO_NUMBA", "0") in ("0", "") and not _FORKED[0]:
        try:
            import numba
            k = build(numba)
        except ImportError:
            k = None
    _KERNELS[name] = k
    return k


def use_numba(a):
    """True for big contiguous float32/float64 CPU arrays."""
    return a.__class__ is _ndarray and a.size >= NUMBA_MIN and a.dtype.kind == "f" and a.dtype.itemsize >= 4 \
        and a.flags.c_contiguous


# fastmath without nnan/ninf: loops vectorize, and -inf (masked scores) keeps its meaning
FASTMATH = {"reassoc", "contract", "nsz", "arcp", "afn"}


def _build_act(numba):
    njit, prange = numba.njit, numba.prange
    K0 = math.sqrt(2.0 / math.pi)
    FM = FASTMATH

    @njit(parallel=True, cache=True, fastmath=FM)
    def gelu_tanh_inner(x, t):
        for i in prange(x.size):
            v = x[i]
            t[i] = K0 * (v + 0.044715 * v * v * v)

    @njit(parallel=True, cache=True, fastmath=FM)
    def gelu_tanh_out(x, t, y):
        for i in prange(x.size):
            y[i] = 0.5 * x[i] * (1.0 + t[i])

    @njit(parallel=True, cache=True, fastmath=FM)
    def gelu_tanh_b(x, t, g, out):
        for i in prange(x.size):
            v = x[i]
            th = t[i]
            out[i] = g[i] * (0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * K0 * (1.0 + 3.0 * 0.044715 * v * v))

    from . import _numba_math as nm

    class K:
        pass
    k = K()
    k.gelu_f32 = lambda x, y: run_rows(nm, nm.gelu_erf32_fwd, row_slices(x.shape[0], x.nbytes), x, y)
    k.gelu_b32 = lambda x, g, out: run_rows(nm, nm.gelu_erf32_bwd, row_slices(x.shape[0], x.nbytes), x, g, out)
    k.gelu_tanh_inner, k.gelu_tanh_out, k.gelu_tanh_b = gelu_tanh_inner, gelu_tanh_out, gelu_tanh_b
    k.rows = nm  # the fused softmax-family row kernels (softmax_fwd, log_softmax_bwd, ce_fwd, ...)
    k.softmax_b = lambda y, g, out: run_rows(nm, nm.softmax_bwd, row_slices(y.shape[0], y.nbytes), y, g, out)
    return k


def _k():
    return numba_kernels("act", _build_act)


# ---- erf (NumPy has none) ---------------------------------------------------------------------
_ERF = []


def erf(a):
    """Elementwise erf on an array of any device."""
    xp = xp_of(a)
    if xp is not np:
        import cupyx.scipy.special as cs
        return cs.erf(a)
    if not _ERF:
        f = None
        try:
            from scipy.special import erf as f  # noqa: F811
        except ImportError:
            try:
                import numba

                @numba.vectorize(["float64(float64)", "float32(float32)"], cache=True)
                def f(v):
                    return math.erf(v)
            except ImportError:
                f = np.vectorize(math.erf, otypes=[np.float64])
        _ERF.append(f)
    r = _ERF[0](a)
    return r.astype(a.dtype, copy=False) if hasattr(r, "astype") else r


# ---- pointwise activations --------------------------------------------------------------------
class Act(Node):
    """Pointwise activation: subclasses define f(xp, x, *c) and d(xp, g, x, *c) (static)."""
    __slots__ = ("c",)
    save_inputs = (0,)

    def forward(self, a, *c):
        self.saved = a
        self.c = c
        r = self.f(xp_of(a), a, *c)
        return r if r.dtype == a.dtype else r.astype(a.dtype)

    def backward(self, g):
        return self.d(xp_of(g), g, self.saved, *self.c)


def _act(name, f, d):
    return type(name, (Act,), {"__slots__": (), "f": staticmethod(f), "d": staticmethod(d)})


def _sig(xp, a):
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def _softplus(xp, a):
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


LeakyRelu = _act("LeakyRelu", lambda xp, a, s: xp.where(a > 0, a, a * s),
                 lambda xp, g, a, s: xp.where(a > 0, g, g * s))
Elu = _act("Elu", lambda xp, a, al, sc, isc: xp.where(a > 0, a * sc, xp.expm1(a * isc) * (al * sc)),
           lambda xp, g, a, al, sc, isc: g * xp.where(a > 0, sc, xp.exp(a * isc) * (al * sc * isc)))
Hardtanh = _act("Hardtanh", lambda xp, a, lo, hi: xp.clip(a, lo, hi),
                lambda xp, g, a, lo, hi: g * ((a > lo) & (a < hi)))
Silu = _act("Silu", lambda xp, a: a * _sig(xp, a),
            lambda xp, g, a: (lambda s: g * (s * (1 + a * (1 - s))))(_sig(xp, a)))
Softplus = _act("Softplus",
                lambda xp, a, b, t: xp.where(a * b > t, a, _softplus(xp, a * b) / b),
                lambda xp, g, a, b, t: xp.where(a * b > t, g, g * _sig(xp, a * b)))
Softsign = _act("Softsign", lambda xp, a: a / (1 + xp.abs(a)),
                lambda xp, g, a: g / ((1 + xp.abs(a)) ** 2))
Hardsigmoid = _act("Hardsigmoid", lambda xp, a: xp.clip(a / 6 + 0.5, 0, 1),
                   lambda xp, g, a: g * ((a > -3) & (a < 3)) / 6)
Hardswish = _act("Hardswish", lambda xp, a: a * xp.clip(a / 6 + 0.5, 0, 1),
                 lambda xp, g, a: g * xp.where(a < -3, 0, xp.where(a <= 3, a / 3 + 0.5, 1)).astype(a.dtype,
                                                                                                   copy=False))
Logsigmoid = _act("Logsigmoid", lambda xp, a: -_softplus(xp, -a), lambda xp, g, a: g * _sig(xp, -a))
Tanhshrink = _act("Tanhshrink", lambda xp, a: a - xp.tanh(a), lambda xp, g, a: g * xp.tanh(a) ** 2)
Softshrink = _act("Softshrink", lambda xp, a, l: xp.where(a > l, a - l, xp.where(a < -l, a + l, 0)).astype(
    a.dtype, copy=False), lambda xp, g, a, l: g * ((a > l) | (a < -l)))
Hardshrink = _act("Hardshrink", lambda xp, a, l: xp.where((a > l) | (a < -l), a, 0).astype(a.dtype, copy=False),
                  lambda xp, g, a, l: g * ((a > l) | (a < -l)))
Threshold = _act("Threshold", lambda xp, a, t, v: xp.where(a > t, a, v).astype(a.dtype, copy=False),
                 lambda xp, g, a, t, v: g * (a > t))


def _mish_f(xp, a):
    return a * xp.tanh(_softplus(xp, a))


def _mish_d(xp, g, a):
    t = xp.tanh(_softplus(xp, a))
    return g * (t + a * _sig(xp, a) * (1 - t * t))


Mish = _act("Mish", _mish_f, _mish_d)

_S2 = 1.0 / math.sqrt(2.0)
_IS2PI = 1.0 / math.sqrt(2.0 * math.pi)
_K0 = math.sqrt(2.0 / math.pi)


class Gelu(Node):
    __slots__ = ("tanh",)
    save_inputs = (0,)

    def forward(self, a, tanh):
        self.saved = a
        self.tanh = tanh
        if use_numba(a) and (tanh or a.dtype == np.float32):
            k = _k()
            if k is not None:
                y = np.empty_like(a)
                if tanh:  # numba polynomial passes around NumPy's SIMD tanh; tanh saved for backward
                    t = np.empty_like(a)
                    k.gelu_tanh_inner(a.reshape(-1), t.reshape(-1))
                    np.tanh(t, out=t)
                    k.gelu_tanh_out(a.reshape(-1), t.reshape(-1), y.reshape(-1))
                    self.saved = (a, t)
                else:  # float32 here (float64 takes the exact erf below)
                    k.gelu_f32(a.reshape(-1), y.reshape(-1))
                return y
        xp = xp_of(a)
        if tanh:
            inner = a * a
            inner *= 0.044715 * _K0
            inner += _K0
            inner *= a
            y = xp.tanh(inner)
        else:
            y = erf(a * _S2)
        y += 1
        y *= a
        y *= 0.5
        return y if y.dtype == a.dtype else y.astype(a.dtype)

    def backward(self, g):
        a = self.saved
        if a.__class__ is tuple:  # numba tanh path: (x, tanh(inner))
            a, t = a
            k = _k()
            g = np.ascontiguousarray(g, dtype=a.dtype)
            out = np.empty_like(a)
            k.gelu_tanh_b(a.reshape(-1), t.reshape(-1), g.reshape(-1), out.reshape(-1))
            return out
        if not self.tanh and a.dtype == np.float32 and use_numba(a) and g.__class__ is _ndarray:
            k = _k()
            if k is not None:
                g = np.ascontiguousarray(g, dtype=a.dtype)
                out = np.empty_like(a)
                k.gelu_b32(a.reshape(-1), g.reshape(-1), out.reshape(-1))
                return out
        xp = xp_of(a)
        if self.tanh:
            a2 = a * a
            t = xp.tanh(_K0 * (a + 0.044715 * a2 * a))
            d = (1 - t * t) * (0.5 * _K0) * a * (1 + 3 * 0.044715 * a2)
            d += 0.5 * (1 + t)
            return g * d
        cdf = erf(a * _S2)
        cdf += 1
        cdf *= 0.5
        pdf = xp.exp(a * a * -0.5)
        pdf *= a
        pdf *= _IS2PI
        pdf += cdf
        return g * pdf


# ---- user-facing activation functions ---------------------------------------------------------
def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def _maybe_inplace(fn, x, inplace, name, *args):
    """Run `fn(x, *args)`; with inplace=True write the result into x the way PyTorch's `op_` does."""
    if not inplace:
        return fn(x, *args)
    from .inplace import inplace_of
    return inplace_of(lambda t: fn(t, *args), name + "_")(x)


def relu(input, inplace=False):
    from .elementwise import relu as _relu
    _check(input, "relu")
    return _maybe_inplace(_relu, input, inplace, "relu")


def relu_(input):
    return relu(input, inplace=True)


def _hardtanh(x, lo, hi):
    return apply1(Hardtanh, x, lo, hi)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    _check(input, "hardtanh")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(_hardtanh, input, inplace, "hardtanh", min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    _check(input, "relu6")
    return _maybe_inplace(_hardtanh, input, inplace, "relu6", 0.0, 6.0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _check(input, "leaky_relu")
    return _maybe_inplace(lambda x, s: apply1(LeakyRelu, x, s), input, inplace, "leaky_relu", negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _elu(x, alpha, scale, input_scale):
    return apply1(Elu, x, alpha, scale, input_scale)


def elu(input, alpha=1.0, inplace=False):
    _check(input, "elu")
    return _maybe_inplace(_elu, input, inplace, "elu", float(alpha), 1.0, 1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@register("selu", method=False)
def selu(input, inplace=False):
    _check(input, "selu")
    return _maybe_inplace(_elu, input, inplace, "selu", SELU_ALPHA, SELU_SCALE, 1.0)


def selu_(input):
    return selu(input, inplace=True)


@register("celu", method=False)
def celu(input, alpha=1.0, inplace=False):
    _check(input, "celu")
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu: alpha must not be 0")
    return _maybe_inplace(_elu, input, inplace, "celu", float(alpha), 1.0, 1.0 / alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    _check(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return apply1(Gelu, input, approximate == "tanh")


def silu(input, inplace=False):
    _check(input, "silu")
    return _maybe_inplace(lambda x: apply1(Silu, x), input, inplace, "silu")


def mish(input, inplace=False):
    _check(input, "mish")
    return _maybe_inplace(lambda x: apply1(Mish, x), input, inplace, "mish")


def softplus(input, beta=1.0, threshold=20.0):
    _check(input, "softplus")
    return apply1(Softplus, input, beta, threshold)


def softsign(input):
    _check(input, "softsign")
    return apply1(Softsign, input)


def hardsigmoid(input, inplace=False):
    _check(input, "hardsigmoid")
    return _maybe_inplace(lambda x: apply1(Hardsigmoid, x), input, inplace, "hardsigmoid")


def hardswish(input, inplace=False):
    _check(input, "hardswish")
    return _maybe_inplace(lambda x: apply1(Hardswish, x), input, inplace, "hardswish")


def logsigmoid(input):
    _check(input, "logsigmoid")
    return apply1(Logsigmoid, input)


def tanhshrink(input):
    _check(input, "tanhshrink")
    return apply1(Tanhshrink, input)


def softshrink(input, lambd=0.5):
    _check(input, "softshrink")
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return apply1(Softshrink, input, lambd)


@register("hardshrink")
def hardshrink(input, lambd=0.5):
    _check(input, "hardshrink")
    return apply1(Hardshrink, input, lambd)


@register("threshold", method=False)
def threshold(input, threshold, value, inplace=False):
    _check(input, "threshold")
    return _maybe_inplace(lambda x, t, v: apply1(Threshold, x, t, v), input, inplace, "threshold", threshold, value)


def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, inplace=True)


def sigmoid(input):
    from .elementwise import sigmoid as _s
    return _s(input)


def tanh(input):
    from .elementwise import tanh as _t
    return _t(input)


class Prelu(Node):
    __slots__ = ("wshape",)
    save_inputs = (0, 1)

    def forward(self, a, w):
        self.wshape = w.shape
        if w.size > 1 and a.ndim >= 2:
            wb = w.reshape((1, -1) + (1,) * (a.ndim - 2))
        else:
            wb = w.reshape(()) if w.size == 1 else w
        self.saved = (a, wb)
        return xp_of(a).where(a > 0, a, a * wb)

    def backward(self, g):
        a, wb = self.saved
        xp = xp_of(g)
        pos = a > 0
        gx = xp.where(pos, g, g * wb)
        gw = xp.where(pos, 0, g * a)
        if len(self.wshape) and self.wshape[0] > 1 and a.ndim >= 2:
            gw = gw.sum(axis=tuple(i for i in range(a.ndim) if i != 1)).reshape(self.wshape)
        else:
            gw = gw.sum().reshape(self.wshape)
        return gx, gw


@register("prelu")
def prelu(input, weight):
    _check(input, "prelu")
    n = weight._data.size
    if n != 1:
        c = input.shape[1] if input.ndim >= 2 else (input.shape[0] if input.ndim == 1 else 1)
        if n != c:
            raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter numbers "
                               f"= {n} and channel size = {c}.")
    return apply(Prelu, input, weight)


class Glu(Node):
    __slots__ = ("axis",)
    save_inputs = (0,)

    def forward(self, x, axis):
        xp = xp_of(x)
        h = x.shape[axis] // 2
        a, b = xp.split(x, [h], axis=axis)
        s = _sig(xp, b)
        self.saved = (a, s)
        self.axis = axis
        return a * s

    def backward(self, g):
        a, s = self.saved
        xp = xp_of(g)
        return xp.concatenate([g * s, g * a * s * (1 - s)], axis=self.axis)


def glu(input, dim=-1):
    _check(input, "glu")
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    axis = dim % input.ndim
    if input.shape[axis] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size {input.shape[axis]}")
    return apply1(Glu, input, axis)


# ---- softmax family ---------------------------------------------------------------------------
PARALLEL_BYTES = 256 * 1024  # smaller inputs stay on one thread
_POOL = [None, 0]


def row_slices(n, nbytes):
    """Number of row slices for run_rows: 1 (one call on this thread) below PARALLEL_BYTES or with one
    numba thread; else two per thread (four above 4 MiB), so a thread the OS leaves waiting on a busy
    core holds up little while each slice is still worth a kernel call."""
    if nbytes < PARALLEL_BYTES or n < 2:
        return 1
    nt = _threads()
    if nt <= 1:
        return 1
    return min(n, nt * (4 if nbytes >= (4 << 20) else 2))


_SERIAL = np.array([0, 0, 0, 1], np.int64)  # template of a one-slice `cnt`


def run_rows(rows, fn, k, *args):
    """fn(*args, cnt, ctl, role): a row kernel of _numba_math over k slices of its rows (row_slices),
    shared between this thread and up to _threads() - 1 helper threads, each claiming the next slice.

    The hand-off avoids putting threads to sleep: a helper spins (yielding the core to any other runnable
    thread) without the GIL on a flag that the poster's kernel sets once it runs, so the helper takes
    the GIL while the poster is in nogil code, and the poster waits in nogil code until every helper
    that joined the job has left it (and dropped its references to the arrays: a leaf can then adopt
    an output array instead of copying it). A helper idle for SPIN_SECONDS sleeps on a semaphore that
    the next post releases. Measured per hand-off on this 2-vCPU VM: ThreadPoolExecutor submit/result
    55-68 us; waking a sleeping thread ~15 us for the waker plus ~25 us until it runs; a numba prange
    launch (workqueue layer) 80-200 us."""
    cnt = _SERIAL.copy()
    cnt[3] = k
    if k == 1 or not _BUSY.acquire(False):  # (another thread is running a job: this one runs alone)
        fn(*args, cnt, _CTL, 0)
        return
    try:
        nh = min(_threads(), k) - 1
        with _MUTEX:
            _JOBNO[0] += 1
            cnt[2] = _JOBNO[0]
            _SLOT[0] = (fn, args + (cnt, _CTL, 1))
            _CTL[0] = _JOBNO[0]
            while len(_HELPERS) < nh:
                _start_helper(rows)
            for h in _HELPERS:
                if h[0]:
                    h[0] = False
                    h[1].release()
        fn(*args, cnt, _CTL, 0)
    finally:
        with _MUTEX:
            _SLOT[0] = None
        if _ACTIVE[0]:
            rows.spin_until_zero(_ACTIVE, 0)
        _BUSY.release()


_CTL = np.zeros(16, np.int64)  # [0] last job posted, [8] last job whose kernel runs, [9] spin cycles
_ACTIVE = np.zeros(1, np.int64)  # helpers inside a job
_JOBNO = [0]
_SLOT = [None]  # (fn, args) of the job being run
_HELPERS = []  # [asleep, semaphore] per helper thread
_MUTEX = threading.Lock()  # posting vs a helper joining a job or going to sleep
_BUSY = threading.Lock()  # one job at a time
# a helper spins this long after a job before it sleeps (DISTTENSOR_SPIN_US, microseconds)
SPIN_SECONDS = float(os.environ.get("DISTTENSOR_SPIN_US", "200")) * 1e-6


def _start_helper(nm):
    if not _CTL[9]:
        _CTL[9] = int(_cycles_per_second(nm) * SPIN_SECONDS)
    h = [False, threading.Semaphore(0)]
    _HELPERS.append(h)
    threading.Thread(target=_helper_loop, args=(h, nm), daemon=True, name="disttensor-rows").start()


def _helper_loop(h, nm):
    seen = int(_CTL[8])
    v = nm.spin_until_change(_CTL, 8, seen, _CTL[9])
    while True:
        if v == seen:
            with _MUTEX:
                if _CTL[0] == seen:  # nothing posted since: sleep until the next post
                    h[0] = True
            if h[0]:
                h[1].acquire()
            v = nm.spin_until_change(_CTL, 8, seen, _CTL[9])
            continue
        # a job's kernel runs (its poster holds no GIL now): join it
        seen = v
        with _MUTEX:
            job = _SLOT[0]
            if job is not None:
                nm.add_atomic(_ACTIVE, 0, 1)
        if job is None:
            v = nm.spin_until_change(_CTL, 8, seen, _CTL[9])
            continue
        seen = int(job[1][-3][2])  # its job number
        try:
            job[0](*job[1])
        except BaseException:  # pragma: no cover - the poster runs every slice left over
            pass
        job = None  # drop the arrays before the poster goes on
        # leave the job without the GIL (the poster, spinning on _ACTIVE, needs it next) and spin
        v = nm.leave_and_spin(_ACTIVE, _CTL, 8, seen, _CTL[9])


_CPS = []


def _cycles_per_second(nm):
    if not _CPS:
        import time
        c0, t0 = nm.read_cycles(), time.perf_counter()
        while time.perf_counter() - t0 < 2e-4:
            pass
        _CPS.append((nm.read_cycles() - c0) / (time.perf_counter() - t0))
    return _CPS[0]


def softmax_rows(k, x2, log):
    """Row softmax (or log_softmax) of a contiguous 2-D CPU float array on the fused row kernels."""
    out = np.empty_like(x2)
    run_rows(k.rows, k.rows.log_softmax_fwd if log else k.rows.softmax_fwd, row_slices(x2.shape[0], x2.nbytes),
             x2, out)
    return out


def _forget_pool():
    # a forked child (DataLoader workers) inherits the pool object but not its threads; and a child of a
    # process that ran numba's parallel (GNU OpenMP) kernels is killed if it runs them again
    # ("fork() called from a process already using GNU OpenMP"), so such a child uses the NumPy paths
    global _BUSY, _MUTEX
    _POOL[0] = None
    _POOL[1] = 0
    _HELPERS.clear()
    _SLOT[0] = None
    _ACTIVE[0] = 0
    _BUSY, _MUTEX = threading.Lock(), threading.Lock()
    if any(v is not None for v in _KERNELS.values()):
        _FORKED[0] = True
        _KERNELS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _threads():
    try:
        import numba
        return numba.get_num_threads()
    except ImportError:  # pragma: no cover - the kernels need numba anyway
        return 1


def _pool(workers):
    """A thread pool with at least `workers` threads (shared by the ops that split work over Python threads;
    a new one after fork(): see _forget_pool)."""
    if _POOL[0] is None or _POOL[1] < workers:
        from concurrent.futures import ThreadPoolExecutor
        if _POOL[0] is not None:
            _POOL[0].shutdown(wait=False)
        _POOL[0] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="disttensor-rows")
        _POOL[1] = workers
    return _POOL[0]


class Softmax(Node):
    """softmax / log_softmax. On big contiguous CPU float arrays along the last axis: one fused numba
    kernel per direction (row max, exp and sum, scale; backward one pass per row), no temporaries."""
    __slots__ = ("axis", "log")
    save_output = True

    def forward(self, a, axis, log):
        self.axis = axis
        self.log = log
        if a.ndim == 0:
            y = xp_of(a).zeros_like(a) if log else xp_of(a).ones_like(a)
            self.saved = y
            return y
        if axis == a.ndim - 1 and use_numba(a):
            k = _k()
            if k is not None:
                y = softmax_rows(k, a.reshape(-1, a.shape[-1]), log).reshape(a.shape)
                self.saved = y
                return y
        xp = xp_of(a)
        y = a - a.max(axis=axis, keepdims=True)
        if log:
            e = xp.exp(y)
            y -= xp.log(e.sum(axis=axis, keepdims=True))
        else:
            xp.exp(y, out=y)
            y /= y.sum(axis=axis, keepdims=True)
        self.saved = y
        return y

    def backward(self, g):
        y = self.saved
        if y.ndim == 0:
            return g * 0
        axis = self.axis
        if axis == y.ndim - 1 and use_numba(y) and g.__class__ is _ndarray:
            k = _k()
            if k is not None:
                c = y.shape[-1]
                g = np.ascontiguousarray(g, dtype=y.dtype)
                out = np.empty_like(y)
                run_rows(k.rows, k.rows.log_softmax_bwd if self.log else k.rows.softmax_bwd,
                         row_slices(y.size // c, y.nbytes), y.reshape(-1, c), g.reshape(-1, c), out.reshape(-1, c))
                return out  # shaped like y: a leaf can adopt it instead of copying
        xp = xp_of(g)
        if self.log:
            s = g.sum(axis=axis, keepdims=True)
            r = xp.exp(y)
            r *= s
            return g - r
        s = (g * y).sum(axis=axis, keepdims=True)
        r = g - s
        r *= y
        return r


def _softmax_dim(ndim, name):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(input, dim, dtype, log, name):
    _check(input, name)
    if dtype is not None:
        from .elementwise import _cast
        input = _cast(input, _dtype.to_dtype(dtype))
    nd = input._data.ndim
    if dim is None:
        dim = _softmax_dim(nd, name)
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-max(nd, 1)}, "
                         f"{max(nd, 1) - 1}], but got {dim})")
    if input._data.dtype.kind not in "fc" and input._data.dtype.name != "bfloat16":
        raise RuntimeError(f"{name}: expected a floating point input, got {input.dtype}")
    return apply1(Softmax, input, dim % nd if nd else 0, log)


@register("softmax")
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if _AC[0]:
        input, = _autocast.fp32(input, cuda_only=True)
    return _softmax(input, dim, dtype, False, "softmax")


@register("log_softmax")
def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if _AC[0]:
        input, = _autocast.fp32(input, cuda_only=True)
    return _softmax(input, dim, dtype, True, "log_softmax")


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    from .elementwise import neg
    if dtype is not None:
        from .elementwise import _cast
        input = _cast(input, _dtype.to_dtype(dtype))
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmin")
    return _softmax(neg(input), dim, None, False, "softmin")


# ---- normalize and similarities ---------------------------------------------------------------
def _pnorm(xp, a, p, axis, keepdims=True):
    if p == 2:
        return xp.sqrt((a * a).sum(axis=axis, keepdims=keepdims))
    if p == 1:
        return xp.abs(a).sum(axis=axis, keepdims=keepdims)
    if p == math.inf:
        return xp.abs(a).max(axis=axis, keepdims=keepdims)
    if p == -math.inf:
        return xp.abs(a).min(axis=axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdims).astype(a.dtype)
    return (xp.abs(a) ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def _pnorm_grad(xp, a, n, p, axis):
    """d||a||_p / da along `axis` (n = the norm, keepdims); zero where the norm is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if p == 2:
            d = a / n
        elif p == 1:
            d = xp.sign(a)
        elif p in (math.inf, -math.inf):
            hit = xp.abs(a) == n
            d = xp.sign(a) * hit / xp.maximum(hit.sum(axis=axis, keepdims=True), 1)
        elif p == 0:
            d = xp.zeros_like(a)
        else:
            d = xp.sign(a) * xp.abs(a) ** (p - 1) / n ** (p - 1)
        return xp.where(n == 0, 0, d).astype(a.dtype, copy=False)


class Normalize(Node):
    __slots__ = ("p", "axis", "eps")
    save_inputs = (0,)

    def forward(self, a, p, axis, eps):
        xp = xp_of(a)
        n = _pnorm(xp, a, p, axis)
        d = xp.maximum(n, eps)
        self.saved = (a, n, d)
        self.p, self.axis, self.eps = p, axis, eps
        return a / d

    def backward(self, g):
        a, n, d = self.saved
        xp = xp_of(g)
        gx = g / d
        dn = _pnorm_grad(xp, a, n, self.p, self.axis)
        coef = ((g * a).sum(axis=self.axis, keepdims=True) / (d * d)) * (n > self.eps)
        gx -= coef * dn
        return gx


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    _check(input, "normalize")
    nd = input.ndim
    axis = dim % nd if nd else None
    r = apply1(Normalize, input, p, axis, eps)
    if out is not None:
        from .elementwise import _out
        return _out(r, out)
    return r


class CosineSimilarity(Node):
    __slots__ = ("axis",)
    save_inputs = (0, 1)

    def forward(self, a, b, axis, eps):
        xp = xp_of(a)
        if a.shape != b.shape:
            a, b = xp.broadcast_arrays(a, b)
        na = xp.sqrt((a * a).sum(axis=axis, keepdims=True))
        nb = xp.sqrt((b * b).sum(axis=axis, keepdims=True))
        da = xp.maximum(na, eps)
        db = xp.maximum(nb, eps)
        cos = (a * b).sum(axis=axis, keepdims=True) / (da * db)
        self.saved = (a, b, da, db, cos, na > eps, nb > eps)
        self.axis = axis
        return cos.squeeze(axis)

    def backward(self, g):
        a, b, da, db, cos, ma, mb = self.saved
        g = xp_of(g).expand_dims(g, self.axis)
        gc = g * cos
        ga = g * b / (da * db) - (gc * ma / (da * da)) * a
        gb = g * a / (da * db) - (gc * mb / (db * db)) * b
        return ga, gb


@register("cosine_similarity", method=False)
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    _check(x1, "cosine_similarity")
    try:
        shp = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(f"cosine_similarity: The size of tensor a ({tuple(x1.shape)}) must match the size of "
                           f"tensor b ({tuple(x2.shape)}) (shapes cannot be broadcast)") from None
    nd = len(shp)
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"cosine_similarity: Dimension out of range (expected to be in range of [{-max(nd, 1)}, "
                         f"{max(nd, 1) - 1}], but got {dim})")
    return apply(CosineSimilarity, x1, x2, dim % nd if nd else None, eps)


class PairwiseDistance(Node):
    __slots__ = ("p", "keepdim")
    save_inputs = (0, 1)

    def forward(self, a, b, p, eps, keepdim):
        xp = xp_of(a)
        d = a - b
        d += eps
        n = _pnorm(xp, d, p, -1)
        self.saved = (d, n)
        self.p, self.keepdim = p, keepdim
        return n if keepdim else n[..., 0]

    def backward(self, g):
        d, n = self.saved
        xp = xp_of(g)
        if not self.keepdim:
            g = g[..., None]
        gd = g * _pnorm_grad(xp, d, n, self.p, -1)
        return gd, -gd


@register("pairwise_distance", method=False)
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    _check(x1, "pairwise_distance")
    if x1.ndim == 0 or x2.ndim == 0:
        raise RuntimeError("pairwise_distance: inputs must have at least one dimension")
    try:
        np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise RuntimeError(f"pairwise_distance: shapes {tuple(x1.shape)} and {tuple(x2.shape)} cannot be "
                           "broadcast") from None
    return apply(PairwiseDistance, x1, x2, p, eps, keepdim)



class LeakyReluArr(Node):
    """y = x where x >= 0 else x * slope, with a per-element slope array (rrelu in training)."""
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a, slope):
        neg = a < 0
        self.saved = (neg, slope)
        return xp_of(a).where(neg, a * slope, a)

    def backward(self, g):
        neg, slope = self.saved
        return xp_of(g).where(neg, g * slope, g)


@register("rrelu", method=False)
def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    _check(input, "rrelu")
    if not training:
        return _maybe_inplace(lambda x, s: apply1(LeakyRelu, x, s), input, inplace, "rrelu", (lower + upper) / 2)
    from .. import random as _random
    from .._backends.device import device_of_array
    x = input._data
    rng = _random.generator_for(device_of_array(x))
    slope = (rng.random(x.shape, dtype=np.float32) * (upper - lower) + lower).astype(x.dtype, copy=False)
    return _maybe_inplace(lambda t, s: apply1(LeakyReluArr, t, s), input, inplace, "rrelu", slope)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Samples from the Gumbel-softmax distribution; hard=True gives one-hot values with the soft gradient."""
    from .. import random as _random
    from .._backends.device import device_of_array
    x = logits._data
    xp = xp_of(x)
    rng = _random.generator_for(device_of_array(x))
    u = rng.random(x.shape, dtype=np.float64)
    gumbels = (-xp.log(-xp.log(u + 1e-300) + 1e-300)).astype(x.dtype, copy=False)  # Gumbel(0, 1)
    y = softmax((logits + Tensor._wrap(gumbels)) / tau, dim)
    if not hard:
        return y
    yd = y._data
    idx = xp.expand_dims(yd.argmax(axis=dim), dim)
    y_hard = (xp.arange(yd.shape[dim]).reshape([-1 if i == dim % yd.ndim else 1 for i in range(yd.ndim)]) ==
              idx).astype(yd.dtype)
    return y + Tensor._wrap(y_hard - yd)  # value y_hard, gradient of y (straight-through)
