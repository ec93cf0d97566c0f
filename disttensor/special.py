"""`disttensor.special`: PyTorch's `torch.special` namespace.

Functions that already exist as ops (erf, lgamma, digamma, sigmoid, logit, xlogy, logsumexp, softmax, ...)
are called directly, so autograd, CuPy and their speed come with them. The others are Nodes defined here:
forward and backward on raw arrays, computed in float64 with the array module of the input (`xp_of`), so
one definition serves NumPy and CuPy (on CuPy, `cupyx.scipy.special` is used where it has the function).
No SciPy is needed. They are plain functions, not registered ops (no `disttensor.<name>` alias).

Names of `torch.special` that are not provided are listed in `NOT_IMPLEMENTED` with the reason; reaching
one raises AttributeError naming it (AttributeError, so `hasattr` / `getattr(..., None)` feature probes
keep working).
"""
import math

import numpy as np

from .autograd.node import Node
from .tensor import Tensor, _new_tensor
from ._backends.device import xp_of
from .ops._apply import apply1
from .ops._binary import binary_apply
from .ops import elementwise as _ew
from .ops.elementwise import (_KINDS, _float_input, _in64, _out, _erf_erfc, _lgamma, _digamma, Binary,
                              _float_args, _xp2)
from .ops import reduce as _reduce
from .ops import nn_activation as _act

__all__ = [
    "expit", "logit", "erf", "erfc", "erfcx", "erfinv", "log1p", "expm1", "exp2", "logsumexp", "softmax",
    "log_softmax", "xlogy", "xlog1py", "gammaln", "digamma", "psi", "polygamma", "multigammaln", "i0", "i0e",
    "i1", "i1e", "sinc", "round", "entr", "ndtr", "ndtri", "log_ndtr", "zeta", "bessel_j0", "bessel_j1",
    "modified_bessel_i0", "modified_bessel_i1", "spherical_bessel_j0",
]

_MISSING = "no implementation yet (needs an accurate array-module kernel; SciPy is not a dependency)"
NOT_IMPLEMENTED = (
    ("airy_ai", _MISSING),
    ("bessel_y0", _MISSING),
    ("bessel_y1", _MISSING),
    ("modified_bessel_k0", _MISSING),
    ("modified_bessel_k1", _MISSING),
    ("scaled_modified_bessel_k0", _MISSING),
    ("scaled_modified_bessel_k1", _MISSING),
    ("gammainc", "regularized incomplete gamma: " + _MISSING),
    ("gammaincc", "regularized incomplete gamma: " + _MISSING),
    ("chebyshev_polynomial_t", "orthogonal polynomial families are not provided yet"),
    ("chebyshev_polynomial_u", "orthogonal polynomial families are not provided yet"),
    ("chebyshev_polynomial_v", "orthogonal polynomial families are not provided yet"),
    ("chebyshev_polynomial_w", "orthogonal polynomial families are not provided yet"),
    ("shifted_chebyshev_polynomial_t", "orthogonal polynomial families are not provided yet"),
    ("shifted_chebyshev_polynomial_u", "orthogonal polynomial families are not provided yet"),
    ("shifted_chebyshev_polynomial_v", "orthogonal polynomial families are not provided yet"),
    ("shifted_chebyshev_polynomial_w", "orthogonal polynomial families are not provided yet"),
    ("hermite_polynomial_h", "orthogonal polynomial families are not provided yet"),
    ("hermite_polynomial_he", "orthogonal polynomial families are not provided yet"),
    ("laguerre_polynomial_l", "orthogonal polynomial families are not provided yet"),
    ("legendre_polynomial_p", "orthogonal polynomial families are not provided yet"),
)
_NOT_IMPLEMENTED = dict(NOT_IMPLEMENTED)


def __getattr__(name):
    if name in _NOT_IMPLEMENTED:
        raise AttributeError(f"disttensor.special.{name} (torch.special.{name}) is not implemented in disttensor: "
                             f"{_NOT_IMPLEMENTED[name]}")
    raise AttributeError(f"module 'disttensor.special' has no attribute {name!r}")


# =============================================================================================
# Existing ops, under torch.special's names and signatures
# =============================================================================================
def expit(input, *, out=None):
    return _ew.sigmoid(input, out=out)


def logit(input, eps=None, *, out=None):
    return _ew.logit(input, eps, out=out)


def erf(input, *, out=None):
    return _ew.erf(input, out=out)


def erfc(input, *, out=None):
    return _ew.erfc(input, out=out)


def erfinv(input, *, out=None):
    return _ew.erfinv(input, out=out)


def log1p(input, *, out=None):
    return _ew.log1p(input, out=out)


def expm1(input, *, out=None):
    return _ew.expm1(input, out=out)


def exp2(input, *, out=None):
    return _ew.exp2(input, out=out)


def gammaln(input, *, out=None):
    return _ew.lgamma(input, out=out)


def digamma(input, *, out=None):
    return _ew.digamma(input, out=out)


psi = digamma


def sinc(input, *, out=None):
    return _ew.sinc(input, out=out)


def round(input, *, decimals=0, out=None):
    if isinstance(input, Tensor) and input._data.dtype.kind in "iub":
        # torch.special.round has no integer kernel (unlike torch.round)
        raise NotImplementedError(f"\"round\" not implemented for '{input.dtype.name.capitalize()}'")
    return _ew.round(input, decimals=decimals, out=out)


def xlogy(input, other, *, out=None):
    return _ew.xlogy(input, other, out=out)


def logsumexp(input, dim, keepdim=False, *, out=None):
    return _reduce.logsumexp(input, dim, keepdim, out=out)


def softmax(input, dim, *, dtype=None):
    return _act.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    return _act.log_softmax(input, dim, dtype=dtype)


# =============================================================================================
# Float64 kernels on arrays (any array module)
# =============================================================================================
_SQPI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_HALF = math.log(0.5)


def _erfcx_pos(xp, z):
    """exp(z^2) erfc(z) for z >= 0 (nan passes): exp(z^2) erfc(z) below 2, Laplace's continued fraction
    erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))) above (no overflow)."""
    out = xp.empty_like(z)
    small = z < 2.0
    zs = z[small]
    if zs.size:
        out[small] = xp.exp(zs * zs) * _erf_erfc(xp, zs)[1]
    big = ~small
    zl = z[big]
    if zl.size:
        f = zl.copy()
        with np.errstate(invalid="ignore"):
            for k in range(60, 0, -1):
                f = zl + (k * 0.5) / f
        out[big] = 1.0 / (_SQPI * f)
    return out


def _erfcx64(xp, x):
    with np.errstate(over="ignore", invalid="ignore"):
        r = _erfcx_pos(xp, xp.abs(x))
        neg = x < 0
        if neg.any():
            r = xp.where(neg, 2.0 * xp.exp(x * x) - r, r)
    return r


def _ndtr64(xp, x):
    return 0.5 * _erf_erfc(xp, -x / _SQRT2)[1]


def _log_ndtr64(xp, x):
    """log Phi(x): log1p(-Phi(-x)) for x >= 0; log(1/2) - z^2 + log(erfcx(z)), z = -x/sqrt(2), below
    (accurate down to -inf, where Phi itself underflows)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -x / _SQRT2
        neg = x < 0
        lo = _LOG_HALF - z * z + xp.log(_erfcx_pos(xp, xp.where(neg, z, 0.0)))
        hi = xp.log1p(-0.5 * _erf_erfc(xp, xp.where(neg, 0.0, -z))[1])
        return xp.where(neg, lo, hi)


def _dlog_ndtr64(xp, x):
    """d/dx log Phi(x) = pdf / Phi, accurate for very negative x."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        neg = x < 0
        lo = _SQRT_2_OVER_PI / _erfcx_pos(xp, xp.where(neg, -x / _SQRT2, 0.0))
        xh = xp.where(neg, 0.0, x)
        hi = xp.exp(-0.5 * xh * xh) / _SQRT_2PI / _ndtr64(xp, xh)
        return xp.where(neg, lo, hi)


# Abramowitz & Stegun 26.2.23 starting point for the normal quantile of q <= 1/2 (|error| < 4.5e-4)
_AS_C = (2.515517, 0.802853, 0.010328)
_AS_D = (1.432788, 0.189269, 0.001308)


def _ndtri64(xp, p):
    """Normal quantile: a rational first guess, then Newton steps on log Phi(x) = log q (q = min(p, 1 - p),
    1 - p being exact for p >= 1/2), which keeps full relative accuracy in the far tail."""
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = p > 0.5
        q = xp.where(upper, 1.0 - p, p)
        ok = (q > 0) & (q <= 0.5)
        qs = xp.where(ok, q, 0.25)
        t = xp.sqrt(-2.0 * xp.log(qs))
        x = -(t - (_AS_C[0] + t * (_AS_C[1] + t * _AS_C[2])) / (1.0 + t * (_AS_D[0] + t * (_AS_D[1] + t * _AS_D[2]))))
        lq = xp.log(qs)
        for _ in range(4):
            x = x - (_log_ndtr64(xp, x) - lq) / _dlog_ndtr64(xp, x)
        x = xp.where(upper, -x, x)
        x = xp.where(q == 0, xp.where(upper, math.inf, -math.inf), x)
        x = xp.where(p == 0.5, 0.0, x)
        return xp.where((p < 0) | (p > 1) | xp.isnan(p), math.nan, x)


def _bessel_i64(xp, x, nu, scaled):
    """Modified Bessel I_nu (nu = 0 or 1), times exp(-|x|) when `scaled`: the power series (positive terms)
    for |x| <= 30, the asymptotic expansion above."""
    ax = xp.abs(x)
    out = xp.empty_like(ax)
    small = ax <= 30.0
    xs = ax[small]
    if xs.size:
        q = 0.25 * xs * xs
        term = xp.ones_like(xs) if nu == 0 else 0.5 * xs
        s = term.copy()
        for k in range(1, 90):
            term = term * q / (k * (k + nu))
            s += term
        if scaled:
            s *= xp.exp(-xs)
        out[small] = s
    big = ~small
    xl = ax[big]
    if xl.size:
        mu = 4.0 * nu * nu
        t = xp.ones_like(xl)
        acc = xp.ones_like(xl)
        with np.errstate(invalid="ignore", over="ignore"):
            for k in range(1, 30):
                t = t * (((2 * k - 1) ** 2 - mu) / (8.0 * k)) / xl
                acc += t
            acc = acc / xp.sqrt(2.0 * math.pi * xl)
            if not scaled:
                e = xp.exp(0.5 * xl)
                acc = xp.where(xp.isinf(xl), math.nan, acc * e * e)     # torch 2.13: nan at +-inf
        out[big] = acc
    if nu == 1:
        out = xp.where(x < 0, -out, out)
    return xp.where(xp.isnan(x), x, out)


# Bernoulli numbers B_2, B_4, ..., B_24 divided by (2j)!, for the Euler-Maclaurin tail of zeta
_BERN = [(1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6), (-3617, 510), (43867, 798),
         (-174611, 330), (854513, 138), (-236364091, 2730)]
_BERN_F = [n / d / math.factorial(2 * j + 2) for j, (n, d) in enumerate(_BERN)]


def _zeta64(xp, x, q):
    """Hurwitz zeta(x, q) = sum_k (q + k)^-x: N terms directly, then the Euler-Maclaurin tail at a = q + N.
    nan for x < 1 (and for q <= 0 with non-integer x), inf at x == 1 and at q = 0, -1, -2, ..."""
    x, q = xp.broadcast_arrays(xp.asarray(x, dtype=np.float64), xp.asarray(q, dtype=np.float64))
    n = 12
    qf = q[xp.isfinite(q) & (q < 0)]
    if qf.size:
        n += int(math.ceil(-float(qf.min())))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = xp.zeros(x.shape, np.float64)
        for k in range(n):
            s += xp.power(q + k, -x)
        a = q + n
        b = xp.power(a, -x)
        s += a * b / (x - 1.0) + 0.5 * b
        t = x * b / a
        a2 = a * a
        for j, c in enumerate(_BERN_F):
            if j:
                t = t * (x + (2 * j - 1)) * (x + 2 * j) / a2
            s += c * t
        s = xp.where(xp.isposinf(x), xp.power(q, -x), s)
        s = xp.where(xp.isposinf(q), 0.0, s)
        s = xp.where(xp.isneginf(q), math.nan, s)
        qint = (q <= 0) & (q == xp.floor(q))
        s = xp.where((q < 0) & (x != xp.floor(x)), math.nan, s)
        s = xp.where(qint, math.inf, s)
        s = xp.where((x < 1.0) | xp.isnan(x) | xp.isnan(q), math.nan, s)
        return xp.where(x == 1.0, math.inf, s)                  # as Cephes: checked first, even for nan q


def _polygamma64(xp, x, n):
    if n == 0:
        return _digamma(xp, x)
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x)
    r = (1.0 if n % 2 else -1.0) * math.factorial(n) * _zeta64(xp, n + 1.0, x)
    # torch 2.13 at infinities: psi1(inf) = 0, psi1(-inf) = nan; n >= 2: nan at inf, (-1)^(n+1) inf at -inf
    if n == 1:
        return xp.where(xp.isposinf(x), 0.0, xp.where(xp.isneginf(x), math.nan, r))
    return xp.where(xp.isposinf(x), math.nan, xp.where(xp.isneginf(x), (1.0 if n % 2 else -1.0) * math.inf, r))


def _bessel_j64(xp, x, nu):
    """Bessel J0 / J1: power series for |x| < 5, Miller's backward recurrence (normalized by
    J0 + 2 (J2 + J4 + ...) = 1) for 5 <= |x| < 25, Hankel's asymptotic expansion above."""
    ax = xp.abs(x)
    out = xp.empty_like(ax)
    r1 = ax < 5.0
    r3 = ax >= 25.0
    r2 = ~(r1 | r3) & ~xp.isnan(ax)
    xs = ax[r1]
    if xs.size:
        q = -0.25 * xs * xs
        term = xp.ones_like(xs) if nu == 0 else 0.5 * xs
        s = term.copy()
        for k in range(1, 40):
            term = term * q / (k * (k + nu))
            s += term
        out[r1] = s
    xm = ax[r2]
    if xm.size:
        big_n = 90
        jk1 = xp.zeros_like(xm)          # J_{k+1}
        jk = xp.full_like(xm, 1e-30)     # J_k, k = big_n
        norm = xp.zeros_like(xm)
        j1 = None
        for k in range(big_n, 0, -1):
            jm = (2.0 * k / xm) * jk - jk1   # J_{k-1}
            jk1, jk = jk, jm
            if (k - 1) % 2 == 0 and k - 1 > 0:
                norm += 2.0 * jm
            if k - 1 == 1:
                j1 = jm
        norm += jk                        # + J0
        out[r2] = (jk if nu == 0 else j1) / norm
    xl = ax[r3]
    if xl.size:
        mu = 4.0 * nu * nu
        # P ~ sum (-1)^k a_{2k} / x^{2k}, Q ~ sum (-1)^k a_{2k+1} / x^{2k+1}, a_k = prod_{j<=k} (mu - (2j-1)^2) / (k! 8^k)
        p = xp.ones_like(xl)
        qq = xp.zeros_like(xl)
        t = xp.ones_like(xl)
        with np.errstate(invalid="ignore", over="ignore"):
            for k in range(1, 40):
                t = t * ((mu - (2 * k - 1) ** 2) / (8.0 * k)) / xl
                if k % 2:
                    qq += t if (k // 2) % 2 == 0 else -t
                else:
                    p += t if (k // 2) % 2 == 0 else -t
            chi = xl - (0.5 * nu + 0.25) * math.pi
            v = xp.sqrt(2.0 / (math.pi * xl)) * (p * xp.cos(chi) - qq * xp.sin(chi))
        out[r3] = xp.where(xp.isinf(xl), math.nan, v)     # torch: nan at +-inf
    if nu == 1:
        out = xp.where(x < 0, -out, out)
    return xp.where(xp.isnan(x), x, out)


# =============================================================================================
# New differentiable functions
# =============================================================================================
def _f64(fn):
    """Run a float64 kernel on an array of any float dtype and cast back."""
    def run(xp, a):
        r = fn(xp, a.astype(np.float64, copy=False))
        with np.errstate(over="ignore"):
            return r.astype(a.dtype, copy=False)
    return run


def _in64q(fn, cupy_name=None):
    """elementwise._in64 (float64 kernel, or cupyx.scipy.special on CuPy), quiet about float32 overflow to inf."""
    run = _in64(fn, cupy_name)

    def quiet(xp, a):
        with np.errstate(over="ignore"):
            return run(xp, a)
    return quiet


def _unary(name, f, df, uses, cupy_name=None):
    cls = type(name.capitalize(), (_KINDS[uses],), {"__slots__": (), "f": staticmethod(_in64q(f, cupy_name)),
                                                      "df": staticmethod(df)})

    def fn(input, *, out=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"special_{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        r = apply1(cls, _float_input(input))
        return r if out is None else _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(input, *, out=None) -> Tensor, as torch.special.{name}."
    return fn


_i0 = _f64(lambda xp, a: _bessel_i64(xp, a, 0, False))
_i0e = _f64(lambda xp, a: _bessel_i64(xp, a, 0, True))
_i1 = _f64(lambda xp, a: _bessel_i64(xp, a, 1, False))
_i1e = _f64(lambda xp, a: _bessel_i64(xp, a, 1, True))


def _di1(xp, a, r, g):
    with np.errstate(divide="ignore", invalid="ignore"):
        d = _i0(xp, a) - r / a
    return g * xp.where(a == 0, 0.5, d)


def _di1e(xp, a, r, g):
    with np.errstate(divide="ignore", invalid="ignore"):
        d = _i0e(xp, a) - r * (xp.sign(a) + 1.0 / a)
    return g * xp.where(a == 0, 0.5, d)


def _dentr(xp, a, r, g):
    with np.errstate(divide="ignore", invalid="ignore"):
        return g * -(xp.log(a) + 1.0)


def _entr64(xp, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = xp.where(a > 0, -a * xp.log(xp.where(a > 0, a, 1.0)), xp.where(a == 0, 0.0, -math.inf))
        return xp.where(xp.isnan(a), a, r)


erfcx = _unary("erfcx", _erfcx64, lambda xp, a, r, g: g * (2.0 * a * r - 2.0 / _SQPI), "ar", "erfcx")
ndtr = _unary("ndtr", _ndtr64, lambda xp, a, r, g: g * (xp.exp(-0.5 * a * a) / _SQRT_2PI), "a", "ndtr")
log_ndtr = _unary("log_ndtr", _log_ndtr64, lambda xp, a, r, g: g * _f64(_dlog_ndtr64)(xp, a), "a", "log_ndtr")
ndtri = _unary("ndtri", _ndtri64, lambda xp, a, r, g: g * (_SQRT_2PI * xp.exp(0.5 * r * r)), "r", "ndtri")
i0 = _unary("i0", lambda xp, a: _bessel_i64(xp, a, 0, False), lambda xp, a, r, g: g * _i1(xp, a), "a", "i0")
i0e = _unary("i0e", lambda xp, a: _bessel_i64(xp, a, 0, True),
             lambda xp, a, r, g: g * (_i1e(xp, a) - xp.sign(a) * r), "ar", "i0e")
i1 = _unary("i1", lambda xp, a: _bessel_i64(xp, a, 1, False), _di1, "ar", "i1")
i1e = _unary("i1e", lambda xp, a: _bessel_i64(xp, a, 1, True), _di1e, "ar", "i1e")
entr = _unary("entr", _entr64, _dentr, "a", "entr")


class _Polygamma(Node):
    __slots__ = ("n",)
    save_inputs = (0,)

    def forward(self, a, n):
        self.n = n
        self.saved = a
        return _f64(lambda xp, v: _polygamma64(xp, v, n))(xp_of(a), a)

    def backward(self, g):
        a = self.saved
        n = self.n + 1
        return g * _f64(lambda xp, v: _polygamma64(xp, v, n))(xp_of(g), a)


def polygamma(n, input, *, out=None):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"special_polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    r = apply1(_Polygamma, _float_input(input), int(n))
    return r if out is None else _out(r, out)


class _Multigammaln(Node):
    __slots__ = ("p",)
    save_inputs = (0,)

    def forward(self, a, p):
        self.p = p
        self.saved = a
        xp = xp_of(a)
        a64 = a.astype(np.float64, copy=False)
        s = xp.full(a.shape, p * (p - 1) / 4.0 * math.log(math.pi))
        for j in range(p):
            s = s + _lgamma(xp, a64 - 0.5 * j)
        return s.astype(a.dtype, copy=False)

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        a64 = a.astype(np.float64, copy=False)
        s = xp.zeros(a.shape)
        for j in range(self.p):
            s = s + _digamma(xp, a64 - 0.5 * j)
        return g * s.astype(g.dtype, copy=False)


def multigammaln(input, p, *, out=None):
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    t = _float_input(input)
    if t._data.size and not bool((t._data > 0.5 * (p - 1)).all()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2")
    r = apply1(_Multigammaln, t, int(p))
    return r if out is None else _out(r, out)


class _XLog1pY(_ew.XLogY):
    """x * log1p(y), 0 where x == 0 (unless y is nan): xlogy with log1p."""
    __slots__ = ()
    op_name = "xlog1py"
    log = "log1p"
    pole = -1.0


class _Zeta(Binary):
    __slots__ = ()
    op_name = "zeta"
    float_result = True
    save_inputs = (0, 1)

    def forward(self, a, b):
        a, b = _float_args(a, b)
        self.saved = (a, b)
        xp = _xp2(a, b)
        dt = np.result_type(*[v.dtype if hasattr(v, "dtype") else v for v in (a, b)])   # no NumPy conversion of CuPy arrays
        r = _zeta64(xp, a, b)
        return r.astype(dt, copy=False) if hasattr(r, "astype") else r

    def backward(self, g):
        a, b = self.saved
        if self.needs_input_grad(0):
            raise NotImplementedError("the derivative for 'zeta' is not implemented.")
        xp = xp_of(g)
        with np.errstate(invalid="ignore"):
            return None, g * (-xp.asarray(a, dtype=np.float64) * _zeta64(xp, xp.asarray(a, dtype=np.float64) + 1.0, b))


def _binary_fn(cls, name):
    def fn(input, other, *, out=None):
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            raise TypeError(f"special_{name}(): at least one of 'input' and 'other' must be a Tensor, got "
                            f"({type(input).__name__}, {type(other).__name__})")
        r = binary_apply(cls, input, other)
        return r if out is None else _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(input, other, *, out=None) -> Tensor, as torch.special.{name}."
    return fn


xlog1py = _binary_fn(_XLog1pY, "xlog1py")
zeta = _binary_fn(_Zeta, "zeta")


# =============================================================================================
# Not differentiable in torch either (the result never requires grad)
# =============================================================================================
def _nograd_unary(name, kernel, cupy_name=None):
    run = _in64q(kernel, cupy_name)

    def fn(input, *, out=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"special_{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        d = _float_input(input)._data
        r = _new_tensor(run(xp_of(d), d))
        return r if out is None else _out(r, out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}(input, *, out=None) -> Tensor, as torch.special.{name} (not differentiable)."
    return fn


def _sph_j0(xp, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = xp.sin(a) / a
    r = xp.where(a == 0, 1.0, r)
    return xp.where(xp.isinf(a), 0.0, r)


bessel_j0 = _nograd_unary("bessel_j0", lambda xp, a: _bessel_j64(xp, a, 0), "j0")
bessel_j1 = _nograd_unary("bessel_j1", lambda xp, a: _bessel_j64(xp, a, 1), "j1")
modified_bessel_i0 = _nograd_unary("modified_bessel_i0", lambda xp, a: _bessel_i64(xp, a, 0, False), "i0")
modified_bessel_i1 = _nograd_unary("modified_bessel_i1", lambda xp, a: _bessel_i64(xp, a, 1, False), "i1")
spherical_bessel_j0 = _nograd_unary("spherical_bessel_j0", _sph_j0)
