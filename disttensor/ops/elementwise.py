"""Elementwise ops: arithmetic, comparisons, unary math, casts.

Each op is a Node subclass holding forward (on arrays) and backward side by side, followed by the
function that users call, registered as disttensor.<name> and Tensor.<name> (and `<name>_`).
"""
import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply1
from ._binary import binary_apply
from ._registry import register
from .inplace import check_inplace
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
        return g, g * self.alpha


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
        if isinstance(b, (int, float)):
            ga = g * b * (a ** (b - 1)) if b != 0 else g * 0
            return ga, None
        ga = g * b * xp.power(a, b - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            la = xp.log(a) if not isinstance(a, (int, float)) else np.log(a)
            gb = g * r * la
        if not isinstance(a, (int, float)):
            gb = xp.where(a == 0, 0, gb)
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
    # Rounded division has zero gradient almost everywhere (PyTorch returns zeros too): no graph.
    a, b = _arr(input), _arr(other)
    xp = xp_of(a if hasattr(a, "shape") else b)
    if rounding_mode == "floor":
        r = xp.floor_divide(a, b)
    elif rounding_mode == "trunc":
        q = xp.true_divide(a, b)
        r = xp.trunc(q)
        if getattr(a, "dtype", np.dtype("f")).kind in "iu" and getattr(b, "dtype", np.dtype("i")).kind in "iu":
            r = r.astype(np.result_type(a, b))
    else:
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    from ._apply import _wrap
    return _out(_wrap(r), out)


@register("floor_divide")
def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


@register("remainder")
def remainder(input, other):
    a, b = _arr(input), _arr(other)
    xp = xp_of(a if hasattr(a, "shape") else b)
    # remainder = a - floor(a / b) * b; the gradient wrt a is 1, wrt b is -floor(a/b)
    q = xp.floor_divide(a, b)
    return sub(input, mul(_new_tensor(xp.asarray(q)), other))


@register("fmod")
def fmod(input, other):
    a, b = _arr(input), _arr(other)
    xp = xp_of(a if hasattr(a, "shape") else b)
    q = xp.trunc(xp.true_divide(a, b))
    if q.dtype.kind == "f" and hasattr(a, "dtype") and a.dtype.kind in "iu":
        return _new_tensor(xp.fmod(a, b))
    return sub(input, mul(_new_tensor(q.astype(np.result_type(q, a.dtype if hasattr(a, "dtype") else q))), other))


@register("pow")
def pow(input, exponent):
    return binary_apply(Pow, input, exponent)


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
        except (TypeError, ValueError, np._core._exceptions._UFuncOutputCastingError if hasattr(np, "_core") else TypeError) as e:
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
        return g * self.saved


class Log(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        self.saved = a
        return xp_of(a).log(a)

    def backward(self, g):
        return g / self.saved


class Sqrt(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).sqrt(a)
        self.saved = r
        return r

    def backward(self, g):
        return g / (2 * self.saved)


class Tanh(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).tanh(a)
        self.saved = r
        return r

    def backward(self, g):
        r = self.saved
        return g * (1 - r * r)


class Sigmoid(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        xp = xp_of(a)
        # numerically stable in both tails
        e = xp.exp(-xp.abs(a))
        r = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        self.saved = r
        return r

    def backward(self, g):
        r = self.saved
        return g * r * (1 - r)


class Relu(Unary):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = xp_of(a).maximum(a, 0).astype(a.dtype, copy=False)
        self.saved = r
        return r

    def backward(self, g):
        return g * (self.saved > 0)


class Abs(Unary):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        self.saved = a
        return xp_of(a).abs(a)

    def backward(self, g):
        return g * xp_of(g).sign(self.saved)


def _float_input(x):
    """Unary float math on integer tensors promotes to the default float dtype, as in PyTorch."""
    d = x._data
    if d.dtype.kind in "iub":
        from .. import _dtype
        return _new_tensor(d.astype(_dtype.get_default_dtype().np))
    return x


def _unary(cls, name, float_math=True, inplace=True):
    def fn(input):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return apply1(cls, _float_input(input) if float_math else input)
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
        return _new_tensor(np.asarray(r) if r.__class__ is not np.ndarray and not hasattr(r, "device") else r)
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
        return g.astype(self.src)


def _cast(t, dt):
    if not (dt.is_floating_point or dt.is_complex):
        return _new_tensor(t._data.astype(dt.np))
    return apply1(Cast, t, dt.np)


def check_no_grad_inplace(t, name):
    check_inplace(t, name)
