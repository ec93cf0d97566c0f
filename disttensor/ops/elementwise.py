"""Elementwise ops: arithmetic, comparisons, unary math, casts.

Each op is a Node subclass holding forward (on arrays) and backward side by side, followed by the
function that users call, registered as disttensor.<name> and Tensor.<name> (and `<name>_`).
"""
import math

import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply1
from ._binary import binary_apply
from ._registry import register
from .inplace import check_inplace
from .nn_activation import FASTMATH, numba_kernels, use_numba
from ..autograd.grad_mode import STATE as GRAD


class Binary(Node):
    __slots__ = ()
    op_name = "binary"
    promotes = True       # apply PyTorch's dtype promotion to the result
    float_result = False  # integer inputs give a float result (true division)


class Unary(Node):
    __slots__ = ()


def _arr(v):
    return v._data if isinstance(v, Tensor) else v


def _cj(v):
    """The complex conjugate of an array or Python number (itself when real). Backwards call it only when the
    gradient is complex, so real training pays one dtype check per backward and never a copy."""
    if hasattr(v, "dtype"):
        return v.conj() if v.dtype.kind == "c" else v
    return v.conjugate() if isinstance(v, complex) else v


# ---- arithmetic -----------------------------------------------------------------------------
class Add(Binary):
    __slots__ = ()
    op_name = "add"

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class AddScaled(Binary):  # add(a, b, alpha=...)
    __slots__ = ("alpha",)
    op_name = "add"

    def forward(self, a, b):
        return a + b * self.alpha

    def backward(self, g):
        return g, g * (self.alpha if g.dtype.kind != "c" else _cj(self.alpha))


class Sub(Binary):
    __slots__ = ()
    op_name = "sub"

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(Binary):
    __slots__ = ()
    op_name = "mul"
    save_inputs = (0, 1)

    def forward(self, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        if g.dtype.kind == "c":
            a, b = _cj(a), _cj(b)
        return g * b, g * a


class Div(Binary):
    __slots__ = ()
    op_name = "div"
    float_result = True
    save_inputs = (0, 1)

    def forward(self, a, b):
        self.saved = (a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        if g.dtype.kind == "c":
            a, b = _cj(a), _cj(b)
        gb = g / b
        return gb, -gb * a / b


class Pow(Binary):
    __slots__ = ()
    op_name = "pow"
    save_inputs = (0, 1)

    def forward(self, a, b):
        xp = xp_of(a) if not isinstance(a, (int, float)) else xp_of(b)
        if isinstance(b, int) and not isinstance(b, bool) and b < 0 and getattr(a, "dtype", None) is not None \
                and a.dtype.kind in "iu":
            raise RuntimeError("pow: Integers to negative integer powers are not allowed.")
        r = xp.power(a, b)
        self.saved = (a, b, r)
        return r

    def backward(self, g):
        a, b, r = self.saved
        xp = xp_of(g)
        if g.dtype.kind == "c":
            sa, sb = not hasattr(a, "dtype"), not hasattr(b, "dtype")   # Python-number operands
            a, b, r = _cj(a), _cj(b), _cj(r)
            if sa and isinstance(a, complex):
                import cmath
                return None, g * r * cmath.log(a)
            if sb and isinstance(b, complex):
                return g * b * (a ** (b - 1)), None
        if isinstance(b, (int, float)):
            ga = g * b * (a ** (b - 1)) if b != 0 else g * 0
            return ga, None
        if isinstance(a, (int, float)):
            # scalar base: only the exponent is differentiable
            if a == 0:
                with np.errstate(invalid="ignore"):
                    return None, xp.where(b >= 0, 0, g * r * -math.inf)
            return None, g * r * (math.log(a) if a > 0 else math.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = xp.where(b == 0, 0, g * b * xp.power(a, b - 1))
            gb = xp.where((a == 0) & (b >= 0), 0, g * r * xp.log(a))
        return ga, gb


@register("add", inplace=False)
def add(input, other, *, alpha=1, out=None):
    if alpha != 1:
        r = _scaled_add(input, other, alpha)
    else:
        r = binary_apply(Add, input, other)
    return _out(r, out)


def _scaled_add(x, y, alpha):
    """x + alpha * y as one node (alpha is a per-call constant, so it lives on the node)."""
    from ._apply import _finish, _wrap
    node = AddScaled.__new__(AddScaled)
    node.alpha = alpha
    node.saved = None
    r = _wrap(node.forward(_arr(x), _arr(y)))
    if GRAD.enabled and any(isinstance(v, Tensor) and v.requires_grad for v in (x, y)):
        _finish(node, (x, y), r)
    return r


@register("sub", "subtract")
def sub(input, other, *, alpha=1, out=None):
    if alpha != 1:
        return _out(_scaled_add(input, other, -alpha), out)
    return _out(binary_apply(Sub, input, other), out)


@register("mul", "multiply")
def mul(input, other, *, out=None):
    return _out(binary_apply(Mul, input, other), out)


@register("div", "divide", "true_divide")
def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return _out(binary_apply(Div, input, other), out)
    if rounding_mode == "floor":
        return _out(binary_apply(FloorDiv, input, other), out)
    if rounding_mode == "trunc":
        return _out(binary_apply(TruncDiv, input, other), out)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def _int_zero_check(a, b, name):
    """Integer division by zero raises in PyTorch (NumPy would warn and return 0)."""
    if getattr(b, "dtype", None) is not None:
        if b.dtype.kind in "iub" and getattr(a, "dtype", np.dtype("i8")).kind in "iub" and not b.all():
            raise RuntimeError("ZeroDivisionError")
    elif b == 0 and isinstance(b, int) and a.dtype.kind in "iub":
        raise RuntimeError("ZeroDivisionError")


class FloorDiv(Binary):
    """a // b; the gradient is zero almost everywhere (PyTorch returns zeros too)."""
    __slots__ = ()
    op_name = "floor_divide"

    def forward(self, a, b):
        _int_zero_check(a, b, "floor_divide")
        xp = xp_of(a if hasattr(a, "shape") else b)
        return xp.floor_divide(a, b)

    def backward(self, g):
        z = xp_of(g).zeros_like(g)
        return z, z


class TruncDiv(Binary):
    __slots__ = ()
    op_name = "div"

    def forward(self, a, b):
        xp = xp_of(a if hasattr(a, "shape") else b)
        if getattr(a, "dtype", np.dtype("i8")).kind in "iub" and (getattr(b, "dtype", None) is None and
                                                                   isinstance(b, int) or
                                                                   getattr(b, "dtype", np.dtype("f")).kind in "iub"):
            _int_zero_check(a, b, "div")
            q = xp.floor_divide(a, b)
            # floor -> toward zero where the signs differ and the division is inexact
            fix = (xp.remainder(a, b) != 0) & ((xp.asarray(a) < 0) != (xp.asarray(b) < 0))
            return q + fix.astype(q.dtype)
        return xp.trunc(xp.true_divide(a, b))

    def backward(self, g):
        z = xp_of(g).zeros_like(g)
        return z, z


class Remainder(Binary):
    """Python-style remainder (sign of the divisor); d/da = 1, d/db = -floor(a / b)."""
    __slots__ = ()
    op_name = "remainder"
    save_inputs = (0, 1)

    def forward(self, a, b):
        _int_zero_check(a, b, "remainder")
        self.saved = (a, b)
        return xp_of(a if hasattr(a, "shape") else b).remainder(a, b)

    def backward(self, g):
        a, b = self.saved
        return g, -g * xp_of(g).floor_divide(a, b)


class Fmod(Binary):
    """C-style remainder (sign of the dividend); d/da = 1, d/db = -trunc(a / b)."""
    __slots__ = ()
    op_name = "fmod"
    save_inputs = (0, 1)

    def forward(self, a, b):
        _int_zero_check(a, b, "fmod")
        self.saved = (a, b)
        return xp_of(a if hasattr(a, "shape") else b).fmod(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        return g, -g * xp.trunc(xp.true_divide(a, b))


@register("floor_divide")
def floor_divide(input, other, *, out=None):
    return _out(binary_apply(FloorDiv, input, other), out)


@register("remainder")
def remainder(input, other, *, out=None):
    return _out(binary_apply(Remainder, input, other), out)


@register("fmod")
def fmod(input, other, *, out=None):
    return _out(binary_apply(Fmod, input, other), out)


@register("pow")
def pow(input, exponent, *, out=None):
    return _out(binary_apply(Pow, input, exponent), out)


def _out(r, out):
    if out is None:
        return r
    from .inplace import write_into
    if out.shape != r.shape:
        out._data = xp_of(r._data).empty_like(r._data, dtype=out._data.dtype)
    write_into(out, r._data, "out=")
    out._vc[0] += 1
    return out


# ---- fast in-place arithmetic (optimizer updates, gradient accumulation) ----------------------
def _fast_inplace(ufunc, name, slow):
    def op_(self, other, *, alpha=None):
        if GRAD.enabled and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            from .inplace import inplace_of
            f = inplace_of(slow, name)
            return f(self, other) if alpha is None else f(self, other, alpha=alpha)
        d = self._data
        o = other._data if isinstance(other, Tensor) else other
        if alpha is not None and alpha != 1:
            o = o * alpha
        try:
            ufunc(d, o, out=d, casting="same_kind")
        except (TypeError, ValueError, np._core._exceptions._UFuncOutputCastingError if hasattr(np, "_core")
                else TypeError) as e:
            from .inplace import write_into
            r = slow(_new_tensor(d.copy()), other) if alpha is None else slow(_new_tensor(d.copy()), other, alpha=alpha)
            write_into(self, r._data, name)
            del e
        self._vc[0] += 1
        return self
    op_.__name__ = name
    return op_


Tensor.add_ = _fast_inplace(np.add, "add_", add)
Tensor.sub_ = _fast_inplace(np.subtract, "sub_", sub)
Tensor.mul_ = _fast_inplace(np.multiply, "mul_", lambda a, b, alpha=None: mul(a, b))
Tensor.div_ = _fast_inplace(np.true_divide, "div_", lambda a, b, alpha=None: div(a, b))
Tensor.subtract_ = Tensor.sub_
Tensor.multiply_ = Tensor.mul_
Tensor.divide_ = Tensor.div_
Tensor.true_divide_ = Tensor.div_


def _inplace_generic(name, fn):
    from .inplace import inplace_of
    setattr(Tensor, name, inplace_of(fn, name))


_inplace_generic("pow_", pow)
_inplace_generic("remainder_", remainder)
_inplace_generic("floor_divide_", floor_divide)
_inplace_generic("fmod_", fmod)


# ---- unary math -----------------------------------------------------------------------------
class Neg(Unary):
    __slots__ = ()

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).exp(a)
        self.saved = r
        return r

    def backward(self, g):
        return g * (self.saved if g.dtype.kind != "c" else self.saved.conj())


class Log(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        self.saved = a
        return xp_of(a).log(a)

    def backward(self, g):
        return g / (self.saved if g.dtype.kind != "c" else self.saved.conj())


class Sqrt(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).sqrt(a)
        self.saved = r
        return r

    def backward(self, g):
        return g / (2 * (self.saved if g.dtype.kind != "c" else self.saved.conj()))


class Tanh(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).tanh(a)
        self.saved = r
        return r

    def backward(self, g):
        r = self.saved
        if g.dtype.kind == "c":
            r = r.conj()
        return g * (1 - r * r)


class Sigmoid(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        xp = xp_of(a)
        if a.dtype.kind == "c":
            r = 1 / (1 + xp.exp(-a))
            self.saved = r
            return r
        # numerically stable in both tails
        e = xp.exp(-xp.abs(a))
        r = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        self.saved = r
        return r

    def backward(self, g):
        r = self.saved
        if g.dtype.kind == "c":
            r = r.conj()
        return g * r * (1 - r)


class Relu(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).maximum(a, 0).astype(a.dtype, copy=False)
        self.saved = r
        return r

    def backward(self, g):
        y = self.saved
        if g.__class__ is np.ndarray and g.dtype == y.dtype and g.flags.c_contiguous and use_numba(y):
            k = numba_kernels("relu", _build_relu)
            if k is not None:
                # one memory-bound pass (27 GB/s on 2.4M floats: a second thread gained nothing)
                out = np.empty_like(g)
                k.relu_b(y.reshape(-1), g.reshape(-1), out.reshape(-1))
                return out
        m = y <= 0  # not `y > 0`: like torch, a NaN output passes its gradient
        xp_of(m).logical_not(m, out=m)
        return g * m


def _build_relu(numba):
    @numba.njit(nogil=True, cache=True, fastmath=FASTMATH)
    def relu_b(y, g, out):
        # one pass instead of NumPy's bool mask + multiply; a NaN output passes its gradient, as in torch
        for i in range(y.size):
            out[i] = g[i] * 0 if y[i] <= 0 else g[i]

    class K:
        pass
    k = K()
    k.relu_b = relu_b
    return k


class Abs(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        if a.dtype.kind == "b":
            raise RuntimeError("\"abs_cpu\" not implemented for 'Bool'")
        self.saved = a
        return xp_of(a).abs(a)

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        if a.dtype.kind == "c":          # g * z / |z|, 0 at z = 0 (PyTorch's sgn)
            m = xp.abs(a)
            return g * (a / xp.where(m == 0, 1, m))
        return g * xp.sign(a)


def _float_input(x):
    """Unary float math on integer tensors promotes to the default float dtype, as in PyTorch."""
    d = x._data
    if d.dtype.kind in "iub":
        from .. import _dtype
        return _new_tensor(d.astype(_dtype.get_default_dtype().np))
    return x


def _unary(cls, name, float_math=True, inplace=True):
    def fn(input, *, out=None):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        r = apply1(cls, _float_input(input) if float_math else input)
        return r if out is None else _out(r, out)
    fn.__name__ = name
    register(name, inplace=inplace)(fn)
    return fn


neg = _unary(Neg, "neg", float_math=False)
register("negative", inplace=True)(neg)
exp = _unary(Exp, "exp")
log = _unary(Log, "log")
sqrt = _unary(Sqrt, "sqrt")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
relu = _unary(Relu, "relu", float_math=False)
abs = _unary(Abs, "abs", float_math=False)
register("absolute")(abs)


# ---- comparisons (no gradient) --------------------------------------------------------------
def _compare(ufunc_name, name):
    def fn(input, other):
        a = input._data if isinstance(input, Tensor) else input
        b = other._data if isinstance(other, Tensor) else other
        try:
            r = getattr(xp_of(a if hasattr(a, "shape") else b), ufunc_name)(a, b)
        except (ValueError, TypeError) as e:
            from ._binary import _explain
            raise _explain(type("C", (), {"op_name": name}), input, other, e) from None
        return _new_tensor(np.asarray(r) if isinstance(r, (np.generic, bool)) else r)
    fn.__name__ = name
    register(name, inplace=True)(fn)
    return fn


eq = _compare("equal", "eq")
ne = _compare("not_equal", "ne")
lt = _compare("less", "lt")
le = _compare("less_equal", "le")
gt = _compare("greater", "gt")
ge = _compare("greater_equal", "ge")
register("not_equal")(ne)
register("less")(lt)
register("less_equal")(le)
register("greater")(gt)
register("greater_equal")(ge)


# ---- casts ----------------------------------------------------------------------------------
class Cast(Unary):
    __slots__ = ("src",)

    def forward(self, a, npd):
        self.src = a.dtype
        return a.astype(npd)

    def backward(self, g):
        if g.dtype.kind == "c" and self.src.kind != "c":
            g = g.real     # a real tensor cast to complex gets the real part, as in PyTorch
        return g.astype(self.src)


def _cast(t, dt):
    if not (dt.is_floating_point or dt.is_complex):
        return _new_tensor(t._data.astype(dt.np))
    return apply1(Cast, t, dt.np)


def check_no_grad_inplace(t, name):
    check_inplace(t, name)


# =============================================================================================
# More unary math. Each op is one spec: forward f(xp, a), backward df(xp, a, r, g) and which of
# input (a) / output (r) backward needs (so in-place edits of exactly those are detected).
# =============================================================================================
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_SQPI = math.sqrt(math.pi)
_2_SQPI = 2.0 / _SQPI


class _UnaryMath(Unary):
    __slots__ = ()
    f = None
    df = None

    def forward(self, a):
        r = self.f(xp_of(a), a)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        if g.dtype.kind == "c":
            # holomorphic f with a real-coefficient derivative: conj(f'(a)) = f'(conj(a)), conj(f(a)) = f(conj(a))
            a, r = a.conj(), r.conj()
        return self.df(xp_of(g), a, r, g)


class _UnaryMathA(_UnaryMath):      # backward reads the input
    __slots__ = ()
    save_inputs = (0,)


class _UnaryMathR(_UnaryMath):      # backward reads the output
    __slots__ = ()
    save_output = True


class _UnaryMathAR(_UnaryMath):     # backward reads both
    __slots__ = ()
    save_inputs = (0,)
    save_output = True


class _UnaryMathZ(_UnaryMath):      # piecewise constant: zero gradient, as PyTorch
    __slots__ = ()

    def forward(self, a):
        return self.f(xp_of(a), a)

    def backward(self, g):
        return xp_of(g).zeros_like(g)


_KINDS = {"a": _UnaryMathA, "r": _UnaryMathR, "ar": _UnaryMathAR, "": _UnaryMath, "z": _UnaryMathZ}


def _unary_math(name, f, df=None, uses="a", float_math=True, inplace=True, aliases=(), int_ok=True, bool_ok=True):
    base = _KINDS[uses]
    cls = type(name.capitalize(), (base,), {"__slots__": (), "f": staticmethod(f),
                                            "df": staticmethod(df) if df is not None else None})

    def fn(input, *, out=None):
        if input.__class__ is not Tensor and not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        if float_math and input._data.dtype.kind in "iub":
            input = _float_input(input)
        elif (not int_ok and input._data.dtype.kind in "iub") or (not bool_ok and input._data.dtype.kind == "b"):
            raise RuntimeError(f"\"{name}\" not implemented for '{input.dtype.name.capitalize()}'")
        r = apply1(cls, input)
        return r if out is None else _out(r, out)
    fn.__name__ = name
    fn.__qualname__ = name
    register(name, *aliases, inplace=inplace)(fn)
    return fn


# ---- special functions on float64 arrays (pure array-module code: no SciPy needed) ----------
def _erf_erfc(xp, x):
    """(erf(x), erfc(x)) to ~1e-15 relative: a series for |x| < 2, Laplace's continued fraction above."""
    ax = xp.abs(x)
    small = ax < 2.0
    erf_abs = xp.empty_like(ax)
    erfc_abs = xp.empty_like(ax)
    xs = ax[small]
    if xs.size:
        # erf(x) = 2x/sqrt(pi) exp(-x^2) sum_n (2x^2)^n / (2n+1)!!  (all terms positive)
        t2 = 2.0 * xs * xs
        term = xp.ones_like(xs)
        acc = xp.ones_like(xs)
        for k in range(1, 40):
            term *= t2 / (2 * k + 1)
            acc += term
        e = _2_SQPI * xs * xp.exp(-xs * xs) * acc
        erf_abs[small] = e
        erfc_abs[small] = 1.0 - e
    big = ~small
    xl = ax[big]
    if xl.size:
        # erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
        f = xl.copy()
        for k in range(60, 0, -1):
            f = xl + (k * 0.5) / f
        with np.errstate(invalid="ignore"):
            c = xp.exp(-xl * xl) / _SQPI / f
        c = xp.where(xp.isinf(xl), 0.0, c)
        erfc_abs[big] = c
        erf_abs[big] = 1.0 - c
    neg = x < 0
    erf = xp.where(neg, -erf_abs, erf_abs)
    erfc = xp.where(neg, 2.0 - erfc_abs, erfc_abs)
    nan = xp.isnan(x)
    if nan.any():
        erf = xp.where(nan, x, erf)
        erfc = xp.where(nan, x, erfc)
    return erf, erfc


def _erfinv64(xp, y):
    # Winitzki's closed form (about 2e-3 relative), then Halley steps on erf(x) - y (cubic convergence)
    a = 0.147
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = xp.log1p(-y * y)
        t = 2.0 / (math.pi * a) + 0.5 * ln
        x = xp.sign(y) * xp.sqrt(xp.sqrt(t * t - ln / a) - t)
        fin = xp.isfinite(x)
        xf = xp.where(fin, x, 0.0)
        for _ in range(3):
            e, _c = _erf_erfc(xp, xf)
            f = e - y
            d = _2_SQPI * xp.exp(-xf * xf)
            xf = xf - f / (d + xf * f)
            xf = xp.where(fin, xf, 0.0)
        return xp.where(fin, xf, x)


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgamma_pos(xp, x):
    """lgamma for x > 0: shift up to >= 10 with the recurrence, then Stirling's series."""
    shift = xp.zeros_like(x)
    z = x.copy()
    for _ in range(10):
        low = z < 10.0
        if not low.any():
            break
        shift = shift + xp.where(low, xp.log(xp.where(low, z, 1.0)), 0.0)
        z = xp.where(low, z + 1.0, z)
    zi = 1.0 / z
    zi2 = zi * zi
    series = zi * (1 / 12 - zi2 * (1 / 360 - zi2 * (1 / 1260 - zi2 * (1 / 1680 - zi2 * (1 / 1188 - zi2 * (
        691 / 360360 - zi2 / 156))))))
    return (z - 0.5) * xp.log(z) - z + _HALF_LOG_2PI + series - shift


def _lgamma64(xp, x):
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = x > 0
        xr = xp.where(pos, x, 1.0 - x)       # reflection for x <= 0
        lg = _lgamma_pos(xp, xr)
        s = xp.abs(xp.sin(math.pi * x))
        refl = math.log(math.pi) - xp.log(s) - lg
        r = xp.where(pos, lg, refl)
        r = xp.where((x <= 0) & (x == xp.floor(x)), math.inf, r)   # poles at 0, -1, -2, ...
        return xp.where(xp.isinf(x), math.inf, r)


def _polygamma_pos(xp, x, n):
    """digamma (n=0) or trigamma (n=1) for x > 0: recurrence up to >= 10, then the asymptotic series."""
    acc = xp.zeros_like(x)
    z = x.copy()
    for _ in range(10):
        low = z < 10.0
        if not low.any():
            break
        zz = xp.where(low, z, 1.0)
        acc = acc + xp.where(low, 1.0 / zz if n == 0 else 1.0 / (zz * zz), 0.0)
        z = xp.where(low, z + 1.0, z)
    zi = 1.0 / z
    zi2 = zi * zi
    if n == 0:
        s = xp.log(z) - 0.5 * zi - zi2 * (1 / 12 - zi2 * (1 / 120 - zi2 * (1 / 252 - zi2 * (1 / 240 - zi2 * (
            1 / 132 - zi2 * 691 / 32760)))))
        return s - acc
    s = zi + 0.5 * zi2 + zi * zi2 * (1 / 6 - zi2 * (1 / 30 - zi2 * (1 / 42 - zi2 * (1 / 30 - zi2 * 5 / 66))))
    return s + acc


def _digamma64(xp, x):
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = x > 0
        xr = xp.where(pos, x, 1.0 - x)
        p = _polygamma_pos(xp, xr, 0)
        refl = p - math.pi / xp.tan(math.pi * x)         # psi(x) = psi(1 - x) - pi cot(pi x)
        r = xp.where(pos, p, refl)
        r = xp.where(x == 0, -math.inf, r)                # PyTorch: -inf at 0, nan at negative integers
        return xp.where((x < 0) & (x == xp.floor(x)), math.nan, r)


def _trigamma64(xp, x):
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = x > 0
        xr = xp.where(pos, x, 1.0 - x)
        p = _polygamma_pos(xp, xr, 1)
        s = xp.sin(math.pi * x)
        refl = (math.pi * math.pi) / (s * s) - p          # psi1(1 - x) + psi1(x) = pi^2 / sin^2(pi x)
        return xp.where(pos, p, refl)


def _in64(fn, cupy_name=None):
    """Run a float64 implementation on any float dtype (CuPy: cupyx.scipy.special when present)."""
    def run(xp, a):
        if xp is not np and cupy_name is not None:
            try:
                from cupyx.scipy import special
                return getattr(special, cupy_name)(a)
            except ImportError:
                pass
        r = fn(xp, a.astype(np.float64))
        return r.astype(a.dtype, copy=False)
    return run


_NR_ERFC = (-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368)


def _erf_erfc32(xp, x, which):
    """erf (which=0) or erfc (1) to ~1e-7 relative, for float32 and narrower: a Taylor series near 0
    (where erf needs relative accuracy) and the Numerical Recipes Chebyshev fit of erfc elsewhere;
    ~25 passes instead of the ~200 of the float64-exact path."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    p = xp.full_like(t, 0.17087277)
    for c in _NR_ERFC:
        p *= t
        p += c
    p *= t
    p -= z * z + 1.26551223
    c = xp.exp(p, out=p)
    c *= t
    x2 = x * x
    small = _2_SQPI * x * (1 - x2 * (1 / 3 - x2 * (1 / 10 - x2 * (1 / 42 - x2 * (1 / 216 - x2 / 1320)))))
    near = z < 0.5
    neg = x < 0
    if which == 0:
        return xp.where(near, small, xp.where(neg, c - 1.0, 1.0 - c))
    return xp.where(near, 1.0 - small, xp.where(neg, 2.0 - c, c))


_CHUNK = 16384   # multi-pass formulas run chunk by chunk so every pass stays in cache


def _erf_any(which):
    exact = _in64(lambda xp, a: _erf_erfc(xp, a)[which], ("erf", "erfc")[which])

    def run(xp, a):
        if xp is np and a.dtype.itemsize < 8:
            x = a.astype(np.float64)   # float64 arithmetic: erfc(x) ~ exp(-x*x) needs x*x exactly
            if x.size <= _CHUNK:
                return _erf_erfc32(np, x, which).astype(a.dtype)
            flat = x.reshape(-1)
            out = np.empty(flat.shape, a.dtype)
            for i in range(0, flat.size, _CHUNK):
                out[i:i + _CHUNK] = _erf_erfc32(np, flat[i:i + _CHUNK], which)
            return out.reshape(a.shape)
        return exact(xp, a)
    return run


_erf = _erf_any(0)
_erfc = _erf_any(1)
_erfinv = _in64(_erfinv64, "erfinv")
_lgamma = _in64(_lgamma64, "gammaln")
_digamma = _in64(_digamma64, "digamma")
_trigamma = _in64(_trigamma64)


def _sign(xp, a):
    k = a.dtype.kind
    if k == "c":                 # sgn: z / |z|, 0 at 0
        m = xp.abs(a)
        return a / xp.where(m == 0, 1, m)
    if k == "b":
        return a.copy()
    if k in "iu":
        return xp.sign(a)
    # PyTorch: sign(nan) = 0, sign(-0.) = 0
    return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)


def _keep_int(f):
    """Rounding ops return integer inputs unchanged (a copy), as PyTorch."""
    def g(xp, a):
        if a.dtype.kind in "iu":
            return a.copy()
        return f(xp, a)
    return g


def _square(xp, a):
    if a.dtype.kind == "b":
        a = a.astype(np.int64)
    return a * a


sin = _unary_math("sin", lambda xp, a: xp.sin(a), lambda xp, a, r, g: g * xp.cos(a))
cos = _unary_math("cos", lambda xp, a: xp.cos(a), lambda xp, a, r, g: -g * xp.sin(a))
tan = _unary_math("tan", lambda xp, a: xp.tan(a), lambda xp, a, r, g: g * (1 + r * r), "r")
asin = _unary_math("asin", lambda xp, a: xp.arcsin(a), lambda xp, a, r, g: g / xp.sqrt(1 - a * a),
                   aliases=("arcsin",))
acos = _unary_math("acos", lambda xp, a: xp.arccos(a), lambda xp, a, r, g: -g / xp.sqrt(1 - a * a),
                   aliases=("arccos",))
atan = _unary_math("atan", lambda xp, a: xp.arctan(a), lambda xp, a, r, g: g / (1 + a * a), aliases=("arctan",))
sinh = _unary_math("sinh", lambda xp, a: xp.sinh(a), lambda xp, a, r, g: g * xp.cosh(a))
cosh = _unary_math("cosh", lambda xp, a: xp.cosh(a), lambda xp, a, r, g: g * xp.sinh(a))
asinh = _unary_math("asinh", lambda xp, a: xp.arcsinh(a), lambda xp, a, r, g: g / xp.sqrt(a * a + 1),
                    aliases=("arcsinh",))
acosh = _unary_math("acosh", lambda xp, a: xp.arccosh(a), lambda xp, a, r, g: g / xp.sqrt((a - 1) * (a + 1)),
                    aliases=("arccosh",))
atanh = _unary_math("atanh", lambda xp, a: xp.arctanh(a), lambda xp, a, r, g: g / (1 - a * a),
                    aliases=("arctanh",))
rsqrt = _unary_math("rsqrt", lambda xp, a: 1 / xp.sqrt(a), lambda xp, a, r, g: -0.5 * g * r * r * r, "r")
log1p = _unary_math("log1p", lambda xp, a: xp.log1p(a), lambda xp, a, r, g: g / (1 + a))
expm1 = _unary_math("expm1", lambda xp, a: xp.expm1(a), lambda xp, a, r, g: g * (r + 1), "r")
log2 = _unary_math("log2", lambda xp, a: xp.log2(a), lambda xp, a, r, g: g / (a * _LN2))
log10 = _unary_math("log10", lambda xp, a: xp.log10(a), lambda xp, a, r, g: g / (a * _LN10))
exp2 = _unary_math("exp2", lambda xp, a: xp.exp2(a), lambda xp, a, r, g: g * r * _LN2, "r")
square = _unary_math("square", _square, lambda xp, a, r, g: 2 * g * a, float_math=False)
reciprocal = _unary_math("reciprocal", lambda xp, a: 1 / a, lambda xp, a, r, g: -g * r * r, "r")
sign = _unary_math("sign", _sign, uses="z", float_math=False)
sgn = _unary_math("sgn", _sign, uses="z", float_math=False)
floor = _unary_math("floor", _keep_int(lambda xp, a: xp.floor(a)), uses="z", float_math=False, bool_ok=False)
ceil = _unary_math("ceil", _keep_int(lambda xp, a: xp.ceil(a)), uses="z", float_math=False, bool_ok=False)
trunc = _unary_math("trunc", _keep_int(lambda xp, a: xp.trunc(a)), uses="z", float_math=False, aliases=("fix",),
                     bool_ok=False)
frac = _unary_math("frac", lambda xp, a: a - xp.trunc(a), lambda xp, a, r, g: g, "", float_math=False,
                   int_ok=False)
erf = _unary_math("erf", _erf, lambda xp, a, r, g: g * _2_SQPI * xp.exp(-a * a))
erfc = _unary_math("erfc", _erfc, lambda xp, a, r, g: -g * _2_SQPI * xp.exp(-a * a))
erfinv = _unary_math("erfinv", _erfinv, lambda xp, a, r, g: g * (0.5 * _SQPI) * xp.exp(r * r), "r")
lgamma = _unary_math("lgamma", _lgamma, lambda xp, a, r, g: g * _digamma(xp, a))
digamma = _unary_math("digamma", _digamma, lambda xp, a, r, g: g * _trigamma(xp, a))


class Round(Unary):
    __slots__ = ()

    def forward(self, a, decimals):
        if a.dtype.kind in "iu":
            return a.copy()
        xp = xp_of(a)
        return xp.round(a, decimals) if decimals else xp.rint(a)

    def backward(self, g):
        return xp_of(g).zeros_like(g)


@register("round", inplace=True)
def round(input, *, decimals=0, out=None):
    if input._data.dtype.kind == "b":
        raise RuntimeError("\"round\" not implemented for 'Bool'")
    return _out(apply1(Round, input, decimals), out)


class Logit(Unary):
    __slots__ = ("eps",)
    save_inputs = (0,)

    def forward(self, a, eps):
        xp = xp_of(a)
        self.eps = eps
        self.saved = a
        if eps is not None:
            a = xp.clip(a, eps, 1 - eps)
        with np.errstate(divide="ignore"):
            return xp.log(a / (1 - a))

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        r = g / (a * (1 - a))
        if self.eps is not None:
            r = xp.where((a < self.eps) | (a > 1 - self.eps), 0, r)
        return r


@register("logit", inplace=True)
def logit(input, eps=None, *, out=None):
    return _out(apply1(Logit, _float_input(input), eps), out)


class NanToNum(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a, nan, posinf, neginf):
        self.saved = a
        if a.dtype.kind not in "fc" and a.dtype.name != "bfloat16":
            return a.copy()
        return xp_of(a).nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, g):
        return g * xp_of(g).isfinite(self.saved)


@register("nan_to_num", inplace=True)
def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    return _out(apply1(NanToNum, input, nan, posinf, neginf), out)


# ---- predicates (no gradient) ---------------------------------------------------------------
def _predicate(name, f, nonfloat):
    def fn(input):
        d = input._data
        xp = xp_of(d)
        if d.dtype.kind not in "fc" and d.dtype.name not in ("bfloat16", "float16"):
            return _new_tensor(xp.full(d.shape, nonfloat, dtype=bool))
        return _new_tensor(xp.asarray(f(xp, d)))
    fn.__name__ = name
    register(name)(fn)
    return fn


isnan = _predicate("isnan", lambda xp, a: xp.isnan(a), False)
isinf = _predicate("isinf", lambda xp, a: xp.isinf(a), False)
isfinite = _predicate("isfinite", lambda xp, a: xp.isfinite(a), True)
isposinf = _predicate("isposinf", lambda xp, a: xp.isposinf(a), False)
isneginf = _predicate("isneginf", lambda xp, a: xp.isneginf(a), False)


# =============================================================================================
# Binary elementwise math (PyTorch's promotion through binary_apply)
# =============================================================================================
def _xp2(a, b):
    return xp_of(a if hasattr(a, "shape") else b)


def _float_args(a, b):
    """Float math on two integer/bool operands runs in the default float dtype, as PyTorch (NumPy would
    pick float16 for small integer types and lose precision)."""
    ka = a.dtype.kind if hasattr(a, "dtype") else ("f" if isinstance(a, float) else "i")
    kb = b.dtype.kind if hasattr(b, "dtype") else ("f" if isinstance(b, float) else "i")
    if ka in "iub" and kb in "iub":
        from .. import _dtype
        npd = _dtype.get_default_dtype().np
        if hasattr(a, "dtype"):
            a = a.astype(npd)
        if hasattr(b, "dtype"):
            b = b.astype(npd)
    return a, b


class Atan2(Binary):
    __slots__ = ()
    op_name = "atan2"
    float_result = True
    save_inputs = (0, 1)

    def forward(self, a, b):
        a, b = _float_args(a, b)
        self.saved = (a, b)
        return _xp2(a, b).arctan2(a, b)

    def backward(self, g):
        a, b = self.saved
        d = g / (a * a + b * b)
        return d * b, -d * a


class Hypot(Binary):
    __slots__ = ()
    op_name = "hypot"
    float_result = True
    save_inputs = (0, 1)
    save_output = True

    def forward(self, a, b):
        a, b = _float_args(a, b)
        r = _xp2(a, b).hypot(a, b)
        self.saved = (a, b, r)
        return r

    def backward(self, g):
        a, b, r = self.saved
        q = g / r
        return q * a, q * b


class Maximum(Binary):
    """Ties split the gradient in halves, as PyTorch."""
    __slots__ = ()
    op_name = "maximum"
    save_inputs = (0, 1)
    ufunc = "maximum"

    def forward(self, a, b):
        self.saved = (a, b)
        return getattr(_xp2(a, b), self.ufunc)(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        tie = a == b
        lose_a, lose_b = (a < b, a > b) if self.ufunc == "maximum" else (a > b, a < b)
        half = xp.where(tie, g * 0.5, g)
        return xp.where(lose_a, 0, half), xp.where(lose_b, 0, half)


class Minimum(Maximum):
    __slots__ = ()
    op_name = "minimum"
    ufunc = "minimum"


class Fmax(Binary):
    """NaN-ignoring max; ties go to the first input (PyTorch's rule)."""
    __slots__ = ()
    op_name = "fmax"
    save_inputs = (0, 1)
    ufunc = "fmax"

    def forward(self, a, b):
        self.saved = (a, b)
        return getattr(_xp2(a, b), self.ufunc)(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        first = ((a >= b) if self.ufunc == "fmax" else (a <= b)) | (b != b)
        return xp.where(first, g, 0), xp.where(first, 0, g)


class Fmin(Fmax):
    __slots__ = ()
    op_name = "fmin"
    ufunc = "fmin"


class Copysign(Binary):
    __slots__ = ()
    op_name = "copysign"
    float_result = True
    save_inputs = (0,)
    save_output = True

    def forward(self, a, b):
        a, b = _float_args(a, b)
        r = _xp2(a, b).copysign(a, b)
        self.saved = (a, r)
        return r

    def backward(self, g):
        a, r = self.saved
        xp = xp_of(g)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = xp.where(a == 0, 0, r / a)
        return g * s, xp.zeros_like(g)


def _binary_fn(cls, name, aliases=(), inplace=True):
    def fn(input, other, *, out=None):
        r = binary_apply(cls, input, other)
        return r if out is None else _out(r, out)
    fn.__name__ = name
    register(name, *aliases, inplace=inplace)(fn)
    return fn


atan2 = _binary_fn(Atan2, "atan2", ("arctan2",))
hypot = _binary_fn(Hypot, "hypot")
maximum = _binary_fn(Maximum, "maximum", inplace=False)
minimum = _binary_fn(Minimum, "minimum", inplace=False)
fmax = _binary_fn(Fmax, "fmax", inplace=False)
fmin = _binary_fn(Fmin, "fmin", inplace=False)
copysign = _binary_fn(Copysign, "copysign")


# ---- logical and bitwise (never differentiable) ---------------------------------------------
def _nograd(fn, *args):
    if GRAD.enabled:
        GRAD.enabled = False
        try:
            return fn(*args)
        finally:
            GRAD.enabled = True
    return fn(*args)


def _bool_binary(ufunc, name, promotes):
    cls = type(name, (Binary,), {"__slots__": (), "op_name": name, "promotes": promotes,
                                 "forward": lambda self, a, b: getattr(_xp2(a, b), ufunc)(a, b)})

    def fn(input, other, *, out=None):
        r = _nograd(binary_apply, cls, input, other)
        return r if out is None else _out(r, out)
    fn.__name__ = name
    register(name, inplace=True)(fn)
    return fn


logical_and = _bool_binary("logical_and", "logical_and", False)
logical_or = _bool_binary("logical_or", "logical_or", False)
logical_xor = _bool_binary("logical_xor", "logical_xor", False)
bitwise_and = _bool_binary("bitwise_and", "bitwise_and", True)
bitwise_or = _bool_binary("bitwise_or", "bitwise_or", True)
bitwise_xor = _bool_binary("bitwise_xor", "bitwise_xor", True)


@register("logical_not", inplace=True)
def logical_not(input, *, out=None):
    xp = xp_of(input._data)
    return _out(_new_tensor(xp.asarray(xp.logical_not(input._data))), out)


@register("bitwise_not", inplace=True)
def bitwise_not(input, *, out=None):
    d = input._data
    if d.dtype.kind not in "biu":
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{input.dtype.name.capitalize()}'")
    return _out(_new_tensor(xp_of(d).asarray(xp_of(d).invert(d))), out)


Tensor.__and__ = bitwise_and
Tensor.__or__ = bitwise_or
Tensor.__xor__ = bitwise_xor
Tensor.__rand__ = lambda self, other: bitwise_and(other, self)
Tensor.__ror__ = lambda self, other: bitwise_or(other, self)
Tensor.__rxor__ = lambda self, other: bitwise_xor(other, self)
Tensor.__iand__ = Tensor.bitwise_and_
Tensor.__ior__ = Tensor.bitwise_or_
Tensor.__ixor__ = Tensor.bitwise_xor_
Tensor.__invert__ = bitwise_not


# ---- closeness ------------------------------------------------------------------------------
def _same_dtype(a, b, name):
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{name}: {a.dtype.name.capitalize()} did not match {b.dtype.name.capitalize()}")


@register("isclose")
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    _same_dtype(input, other, "isclose")
    a, b = input._data, other._data
    xp = xp_of(a)
    try:
        if a.dtype.kind == "b":
            return _new_tensor(xp.asarray(a == b))
        with np.errstate(invalid="ignore", over="ignore"):
            r = xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except ValueError as e:
        from ._binary import _explain
        raise _explain(type("C", (), {"op_name": "isclose"}), input, other, e) from None
    return _new_tensor(xp.asarray(r))


@register("allclose")
def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


@register("equal")
def equal(input, other):
    a, b = input._data, other._data
    if a.shape != b.shape:
        return False
    return bool((a == b).all())


# =============================================================================================
# Ternary ops: where, clamp, lerp, addcmul, addcdiv
# =============================================================================================
def _scalar_dtype(v):
    from .. import _dtype as D
    if isinstance(v, bool):
        return D.bool
    if isinstance(v, int):
        return D.int64
    if isinstance(v, float):
        return D.get_default_dtype()
    if isinstance(v, complex):
        return D.complex64
    return D.from_numpy_dtype(np.asarray(v).dtype)


def _promote_np(*vals):
    """PyTorch's result dtype (as a NumPy dtype) for a mix of tensors and Python scalars."""
    from .. import _dtype as D
    dim = zero = sc = None
    for v in vals:
        if v is None:
            continue
        if isinstance(v, Tensor):
            d = v.dtype
            if v._data.ndim:
                dim = d if dim is None else D.promote_types(dim, d)
            else:
                zero = d if zero is None else D.promote_types(zero, d)
        else:
            d = _scalar_dtype(v)
            sc = d if sc is None or D._category(d) > D._category(sc) else sc
    res = dim
    if zero is not None and (res is None or D._category(zero) > D._category(res)):
        res = zero
    if sc is not None and (res is None or D._category(sc) > D._category(res)):
        res = sc
    return res.np


def _ternary_error(name, args, e):
    shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
    return RuntimeError(f"{name}: operands could not be broadcast together with shapes "
                        f"{', '.join(str(s) for s in shapes)} ({e})")


class Where(Node):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, c, x, y, npd):
        xp = xp_of(c)
        if getattr(x, "dtype", npd) != npd:   # cast first: NumPy can't promote e.g. int32 with bfloat16
            x = x.astype(npd)
        if getattr(y, "dtype", npd) != npd:
            y = y.astype(npd)
        r = xp.where(c, x, y)
        self.saved = c
        return r if r.dtype == npd else r.astype(npd)

    def backward(self, g):
        c = self.saved
        xp = xp_of(g)
        return None, xp.where(c, g, 0), xp.where(c, 0, g), None


@register("where", method=False)
def where(condition, input=None, other=None, *, out=None):
    if input is None and other is None:
        c = condition._data
        return tuple(_new_tensor(i) for i in xp_of(c).nonzero(c.reshape(1) if c.ndim == 0 else c))
    c = condition._data
    if c.dtype.kind != "b":
        if c.dtype != np.uint8:
            raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                               f"{condition.dtype.name.capitalize()}")
        c = c.astype(bool)
        condition = _new_tensor(c)
    from ._apply import apply
    if input.__class__ is Tensor and other.__class__ is Tensor and input._data.dtype == other._data.dtype and \
            input._data.ndim and other._data.ndim:
        npd = input._data.dtype
    else:
        npd = _promote_np(input, other)
    try:
        r = apply(Where, condition, input, other, npd)
    except ValueError as e:
        raise _ternary_error("where", (condition, input, other), e) from None
    return _out(r, out)


def _where_method(self, condition, other):
    return where(condition, self, other)


Tensor.where = _where_method


class Clamp(Node):
    __slots__ = ()
    save_inputs = (0, 1, 2)

    def forward(self, a, lo, hi, npd):
        xp = xp_of(a)
        r = a
        if lo is not None:
            r = xp.maximum(r, lo)
        if hi is not None:
            r = xp.minimum(r, hi)
        if r is a:
            r = a.copy()
        self.saved = (a, lo, hi)
        return r if r.dtype == npd else r.astype(npd)

    def backward(self, g):
        a, lo, hi = self.saved
        xp = xp_of(g)
        inside = True
        if lo is not None:
            inside = a >= lo
        if hi is not None:
            inside = (a <= hi) & inside
        ga = xp.where(inside, g, 0)
        glo = ghi = None
        if hasattr(lo, "shape"):
            m = a < lo
            if hi is not None:
                m = m & (lo < hi)
            glo = xp.where(m, g, 0)
        if hasattr(hi, "shape"):
            m = a > hi
            if lo is not None:
                m = m | (hi < lo)
            ghi = xp.where(m, g, 0)
        return ga, glo, ghi, None


class ClampScalar(Unary):
    """clamp with Python-number bounds on a float tensor (the common case): one tensor input."""
    __slots__ = ("lo", "hi")
    save_inputs = (0,)

    def forward(self, a, lo, hi):
        self.saved = a
        self.lo, self.hi = lo, hi
        xp = xp_of(a)
        if lo is None:
            return xp.minimum(a, hi)
        if hi is None:
            return xp.maximum(a, lo)
        return xp.minimum(xp.maximum(a, lo), hi)

    def backward(self, g):
        a, lo, hi = self.saved, self.lo, self.hi
        if lo is None:
            m = a <= hi
        elif hi is None:
            m = a >= lo
        else:
            m = (a >= lo) & (a <= hi)
        return xp_of(g).where(m, g, 0)


_NUM = (int, float)


@register("clamp", "clip", inplace=True)
def clamp(input, min=None, max=None, *, out=None):
    if (min.__class__ in _NUM or min is None) and (max.__class__ in _NUM or max is None) and \
            input._data.dtype.kind == "f":
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        r = apply1(ClampScalar, input, min, max)
        return r if out is None else _out(r, out)
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    from ._apply import apply
    try:
        r = apply(Clamp, input, min, max, _promote_np(input, min, max))
    except ValueError as e:
        raise _ternary_error("clamp", (input, min, max), e) from None
    return _out(r, out)


@register("clamp_min", inplace=True)
def clamp_min(input, min, *, out=None):
    return clamp(input, min, None, out=out)


@register("clamp_max", inplace=True)
def clamp_max(input, max, *, out=None):
    return clamp(input, None, max, out=out)


class Lerp(Node):
    __slots__ = ()
    save_inputs = (0, 1, 2)

    def forward(self, s, e, w):
        xp = xp_of(s)
        d = e - s
        if hasattr(w, "shape"):
            r = xp.where(xp.abs(w) < 0.5, s + w * d, e - d * (1 - w))
        else:
            r = s + w * d if builtins_abs(w) < 0.5 else e - d * (1 - w)
            if r.dtype != s.dtype and s.dtype == e.dtype:
                r = r.astype(s.dtype)   # bfloat16 * Python float gives float32 in ml_dtypes
        self.saved = (d, w)
        return r

    def backward(self, g):
        d, w = self.saved
        if g.dtype.kind == "c":
            d, w = _cj(d), _cj(w)
        return g * (1 - w), g * w, (g * d if hasattr(w, "shape") else None)


import builtins as _builtins  # noqa: E402
builtins_abs = _builtins.abs


@register("lerp", inplace=True)
def lerp(input, end, weight, *, out=None):
    from ._apply import apply
    try:
        r = apply(Lerp, input, end, weight)
    except ValueError as e:
        raise _ternary_error("lerp", (input, end, weight), e) from None
    return _out(r, out)


@register("addcmul", inplace=True)
def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    p = mul(tensor1, tensor2)
    return _out(add(input, p if value == 1 else mul(p, value)), out)


@register("addcdiv", inplace=True)
def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    if tensor1._data.dtype.kind in "biu" and tensor2._data.dtype.kind in "biu":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release "
                           "addcdiv will perform a true division of tensor1 and tensor2.")
    q = div(tensor1, tensor2)
    return _out(add(input, q if value == 1 else mul(q, value)), out)


# =============================================================================================
# More binary/unary math: logaddexp, xlogy, sinc, angle conversions, shifts, gcd/lcm, ...
# =============================================================================================
class LogAddExp(Binary):
    __slots__ = ()
    op_name = "logaddexp"
    float_result = True
    save_inputs = (0, 1)
    base2 = False

    def forward(self, a, b):
        a, b = _float_args(a, b)
        self.saved = (a, b)
        xp = _xp2(a, b)
        return (xp.logaddexp2 if self.base2 else xp.logaddexp)(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        with np.errstate(invalid="ignore", over="ignore"):
            if self.base2:
                return g / (1 + xp.exp2(b - a)), g / (1 + xp.exp2(a - b))
            return g / (1 + xp.exp(b - a)), g / (1 + xp.exp(a - b))


class LogAddExp2(LogAddExp):
    __slots__ = ()
    op_name = "logaddexp2"
    base2 = True


class XLogY(Binary):
    """x * log(y), 0 where x == 0 (unless y is nan). Subclasses change the log: special.xlog1py uses log1p,
    whose pole is at y = -1."""
    __slots__ = ()
    op_name = "xlogy"
    float_result = True
    save_inputs = (0, 1)
    log = "log"         # the array module's function
    pole = 0.0          # log(y) is -inf at y = pole: d log / dy = 1 / (y - pole)

    def forward(self, a, b):
        a, b = _float_args(a, b)
        self.saved = (a, b)
        xp = _xp2(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = a * getattr(xp, self.log)(b)
            r = xp.where((xp.asarray(a) == 0) & ~xp.isnan(b), 0, r)
        return r

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        p = self.pole
        with np.errstate(divide="ignore", invalid="ignore"):
            # torch: xlogy(grad, other).masked_fill((self == 0) & (other <= pole), 0)
            ga = xp.where(((g == 0) & ~xp.isnan(b)) | ((xp.asarray(a) == 0) & (xp.asarray(b) <= p)), 0,
                          g * getattr(xp, self.log)(b))
            gb = g * a / (b - p if p else b)
        return ga, gb


logaddexp = _binary_fn(LogAddExp, "logaddexp", inplace=False)
logaddexp2 = _binary_fn(LogAddExp2, "logaddexp2", inplace=False)
xlogy = _binary_fn(XLogY, "xlogy")


def _sinc_grad(xp, a, r, g):
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (xp.cos(math.pi * a) - r) / a
    return g * xp.where(a == 0, 0, d)


sinc = _unary_math("sinc", lambda xp, a: xp.sinc(a), _sinc_grad, "ar")
deg2rad = _unary_math("deg2rad", lambda xp, a: a * (math.pi / 180), lambda xp, a, r, g: g * (math.pi / 180), "")
rad2deg = _unary_math("rad2deg", lambda xp, a: a * (180 / math.pi), lambda xp, a, r, g: g * (180 / math.pi), "")


@register("signbit")
def signbit(input):
    d = input._data
    xp = xp_of(d)
    if d.dtype.kind == "b":
        return _new_tensor(xp.zeros(d.shape, bool))
    return _new_tensor(xp.asarray(xp.signbit(d)))


@register("heaviside", inplace=True)
def heaviside(input, values, *, out=None):
    a, v = input._data, values._data
    if a.dtype != v.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes ({input.dtype} "
                           f"and {values.dtype})")
    xp = xp_of(a)
    try:
        r = xp.where(a == 0, v, (a > 0).astype(a.dtype))
    except ValueError as e:
        raise _ternary_error("heaviside", (input, values), e) from None
    return _out(_new_tensor(xp.asarray(r, dtype=a.dtype)), out)


@register("float_power", inplace=True)
def float_power(input, exponent, *, out=None):
    from .. import _dtype
    f64 = _dtype.float64
    a = _cast(input, f64) if isinstance(input, Tensor) and input._data.dtype != np.float64 else input
    b = _cast(exponent, f64) if isinstance(exponent, Tensor) and exponent._data.dtype != np.float64 else exponent
    if not isinstance(a, Tensor):
        a = float(a)
    if not isinstance(b, Tensor):
        b = float(b)
    return _out(binary_apply(Pow, a, b), out)


@register("positive")
def positive(input):
    if input._data.dtype.kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


@register("rsub")
def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def _int_binary(ufunc, name):
    cls = type(name, (Binary,), {"__slots__": (), "op_name": name,
                                 "forward": lambda self, a, b: getattr(_xp2(a, b), ufunc)(a, b)})

    def fn(input, other, *, out=None):
        for v in (input, other):
            if isinstance(v, Tensor) and v._data.dtype.kind not in "iub":
                raise RuntimeError(f"\"{name}_cpu\" not implemented for '{v.dtype.name.capitalize()}'")
        r = _nograd(binary_apply, cls, input, other)
        return r if out is None else _out(r, out)
    fn.__name__ = name
    register(name, inplace=True)(fn)
    return fn


bitwise_left_shift = _int_binary("left_shift", "bitwise_left_shift")
bitwise_right_shift = _int_binary("right_shift", "bitwise_right_shift")
gcd = _int_binary("gcd", "gcd")
lcm = _int_binary("lcm", "lcm")
Tensor.__lshift__ = bitwise_left_shift
Tensor.__rshift__ = bitwise_right_shift
Tensor.__rlshift__ = lambda self, other: bitwise_left_shift(other, self)
Tensor.__rrshift__ = lambda self, other: bitwise_right_shift(other, self)
Tensor.__ilshift__ = Tensor.bitwise_left_shift_
Tensor.__irshift__ = Tensor.bitwise_right_shift_


# =============================================================================================
# Complex numbers: real/imag/view_as_real/view_as_complex (views), conj, angle, complex, polar.
# Gradients follow PyTorch's convention: the gradient of a real loss L w.r.t. z = x + iy is
# dL/dx + i dL/dy (the conjugate Wirtinger derivative, times 2), so a backward multiplies by the
# conjugate of the local derivative. conj() returns a conjugated copy, not PyTorch's lazy conj view
# (is_conj() is always False and resolve_conj() returns its input).
# =============================================================================================
def _cdtype(real_dtype):
    """The complex dtype with the precision of a real one (float32 -> complex64, float64 -> complex128)."""
    return np.complex128 if real_dtype == np.float64 else np.complex64


def _to_complex_grad(g, cdt, imag):
    """The gradient of a complex input from the gradient of its real (imag=False) or imaginary part."""
    out = xp_of(g).zeros(g.shape, dtype=cdt)
    if imag:
        out.imag = g
    else:
        out.real = g
    return out


class RealPart(Unary):
    __slots__ = ("cdt",)

    def forward(self, a):
        self.cdt = a.dtype
        return a.real

    def backward(self, g):
        return _to_complex_grad(g, self.cdt, False)


class ImagPart(RealPart):
    __slots__ = ()

    def forward(self, a):
        self.cdt = a.dtype
        return a.imag

    def backward(self, g):
        return _to_complex_grad(g, self.cdt, True)


class ViewAsReal(Unary):
    __slots__ = ("cdt",)

    def forward(self, a):
        self.cdt = a.dtype
        rd = a.real.dtype
        if a.ndim == 0:
            return a.reshape(1).view(rd)
        return a[..., None].view(rd)        # (..., n) complex -> (..., n, 2) real, sharing memory

    def backward(self, g):
        out = xp_of(g).empty(g.shape[:-1], dtype=self.cdt)
        out.real = g[..., 0]
        out.imag = g[..., 1]
        return out


class ViewAsComplex(Unary):
    __slots__ = ()

    def forward(self, a):
        c = a.view(_cdtype(a.dtype))      # (..., 2) real with last stride 1 -> (..., 1) complex, same memory
        return c.reshape(()) if a.ndim == 1 else c[..., 0]

    def backward(self, g):
        out = xp_of(g).empty(g.shape + (2,), dtype=g.real.dtype)
        out[..., 0] = g.real
        out[..., 1] = g.imag
        return out


class Conj(Unary):
    __slots__ = ()

    def forward(self, a):
        return xp_of(a).conj(a)

    def backward(self, g):
        return xp_of(g).conj(g)


class Angle(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        self.saved = a
        xp = xp_of(a)
        if a.dtype.kind == "c":
            return xp.angle(a)
        # real input: 0 for x >= 0, pi for x < 0, nan stays nan (PyTorch's rule)
        r = xp.where(a < 0, math.pi, 0.0).astype(a.dtype, copy=False)
        return xp.where(a != a, a, r)

    def backward(self, g):
        a = self.saved
        xp = xp_of(g)
        if a.dtype.kind != "c":
            return xp.zeros_like(a)
        # d angle = (x dy - y dx) / |z|^2: the gradient is g * i z / |z|^2, 0 at z = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            r = g * (1j * a) / (a.real * a.real + a.imag * a.imag)
        return xp.where(a == 0, 0, r).astype(a.dtype, copy=False)


class ComplexOf(Binary):
    """torch.complex(real, imag)."""
    __slots__ = ()
    op_name = "complex"
    promotes = False

    def forward(self, a, b):
        xp = xp_of(a)
        shape = np.broadcast_shapes(a.shape, b.shape)
        out = xp.empty(shape, dtype=_cdtype(a.dtype))
        out.real = a
        out.imag = b
        return out

    def backward(self, g):
        return g.real, g.imag


class Polar(Binary):
    """torch.polar(abs, angle) = abs * (cos(angle) + i sin(angle))."""
    __slots__ = ()
    op_name = "polar"
    promotes = False
    save_inputs = (0, 1)

    def forward(self, r, t):
        xp = xp_of(r)
        shape = np.broadcast_shapes(r.shape, t.shape)
        out = xp.empty(shape, dtype=_cdtype(r.dtype))
        out.real = r * xp.cos(t)
        out.imag = r * xp.sin(t)
        self.saved = (r, t, out)
        return out

    def backward(self, g):
        r, t, z = self.saved
        xp = xp_of(g)
        c, s = xp.cos(t), xp.sin(t)
        gr, gi = g.real, g.imag
        # dz/dr = e^{it}, dz/dt = i z: the real gradients are Re(conj(g) * dz/d.). Like PyTorch, abs's gradient
        # uses sgn(z) = sign(r) e^{it} (so it flips sign for a negative abs and is 0 at abs = 0)
        return (gr * c + gi * s) * xp.sign(r), gi * z.real - gr * z.imag


def _check_float_pair(a, b, name):
    da, db = a._data.dtype, b._data.dtype
    if da != db:
        raise RuntimeError(f"{name}: Expected object of scalar type {a.dtype.name.capitalize()} but got scalar type "
                           f"{b.dtype.name.capitalize()} for second argument")
    if da not in (np.float32, np.float64):
        raise RuntimeError(f"{name}: Expected both inputs to be Half, Float or Double tensors but got "
                           f"{a.dtype.name.capitalize()} and {b.dtype.name.capitalize()}")


@register("complex", method=False)
def complex_(real, imag, *, out=None):
    _check_float_pair(real, imag, "complex")
    return _out(binary_apply(ComplexOf, real, imag), out)


@register("polar", method=False)
def polar(abs, angle, *, out=None):
    _check_float_pair(abs, angle, "polar")
    return _out(binary_apply(Polar, abs, angle), out)


def _view_of(r, src):
    from .movement import as_view
    return as_view(r, src)


@register("real", method=False)
def real(input):
    if input._data.dtype.kind != "c":
        return input
    return _view_of(apply1(RealPart, input), input)


@register("imag", method=False)
def imag(input):
    if input._data.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return _view_of(apply1(ImagPart, input), input)


def _set_part(getter):
    def setter(self, value):
        getter(self).copy_(value)
    return setter


Tensor.real = property(real, _set_part(real))
Tensor.imag = property(imag, _set_part(imag))


@register("view_as_real", method=False)
def view_as_real(input):
    d = input._data
    if d.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return _view_of(apply1(ViewAsReal, input), input)


@register("view_as_complex", method=False)
def view_as_complex(input):
    d = input._data
    if d.dtype not in (np.float32, np.float64):
        raise RuntimeError(f"view_as_complex is only supported for float and double tensors, but got a tensor of "
                           f"scalar type: {input.dtype.name.capitalize()}")
    if d.ndim == 0 or d.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    if d.strides[-1] != d.itemsize:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    isz2 = 2 * d.itemsize
    if any(st % isz2 for st in d.strides[:-1]):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    if input._base is not None and (_data_ptr(d) - _data_ptr(input._base._data)) % isz2:
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    return _view_of(apply1(ViewAsComplex, input), input)


def _data_ptr(a):
    return a.ctypes.data if a.__class__ is np.ndarray else a.data.ptr


@register("conj")
def conj(input):
    if input._data.dtype.kind != "c":
        return input
    return apply1(Conj, input)


@register("conj_physical", inplace=True)
def conj_physical(input, *, out=None):
    if input._data.dtype.kind != "c":
        return _out(input, out) if out is not None else input
    return _out(apply1(Conj, input), out)


@register("resolve_conj", "resolve_neg")
def resolve_conj(input):
    """conj() materializes its result here, so nothing is ever lazily conjugated (or negated)."""
    return input


@register("is_conj", "is_neg")
def is_conj(input):
    return False


@register("is_complex", method=False)
def is_complex(input):
    return input._data.dtype.kind == "c"


@register("angle")
def angle(input, *, out=None):
    if input._data.dtype.kind in "iub":
        input = _float_input(input)
    return _out(apply1(Angle, input), out)
