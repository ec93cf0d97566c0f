"""OpInfos for elementwise math: unary math, binary/ternary ops, logical/bitwise ops, predicates."""
import numpy as np

from tests.ops.opinfo import OpInfo

U = [((3, 4),), ((),), ((2, 3, 2),)]
BIN = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (3,))]


def _ints(lo, hi, shape=(3, 4)):
    return lambda rng: [[rng.integers(lo, hi, size=shape)]]


def _with_ints(lo, hi, flo=-2.0, fhi=2.0):
    """One float sample and one int64 sample (integer inputs promote to float for float math)."""
    return lambda rng: [[rng.uniform(flo, fhi, size=(3, 4))], [rng.integers(lo, hi, size=(3, 4))]]


def _unary(name, fn=None, domain=(-2.0, 2.0), ints=None, **kw):
    fn = fn or (lambda L, a, _n=name: getattr(L, _n)(a))
    e = [OpInfo(name, fn, U, domain=domain, **kw)]
    if ints is not None:
        e.append(OpInfo(name, fn, make=_with_ints(ints[0], ints[1], *domain), **kw))
    return e


def _special(rng, lo, hi):
    return [[rng.uniform(lo, hi, size=(4, 5))]]


OPS = []
for n, dom, ints in [
    ("sin", (-3, 3), (-3, 4)), ("cos", (-3, 3), (-3, 4)), ("tan", (-1.2, 1.2), (-1, 2)),
    ("asin", (-0.9, 0.9), (0, 1)), ("acos", (-0.9, 0.9), (0, 1)), ("atan", (-3, 3), (-3, 4)),
    ("sinh", (-2, 2), (-2, 3)), ("cosh", (-2, 2), (-2, 3)), ("asinh", (-3, 3), (-3, 4)),
    ("acosh", (1.1, 4), (2, 5)), ("atanh", (-0.9, 0.9), (0, 1)), ("rsqrt", (0.3, 3), (1, 5)),
    ("log1p", (-0.7, 3), (0, 5)), ("expm1", (-2, 2), (-2, 3)), ("log2", (0.3, 3), (1, 9)),
    ("log10", (0.3, 3), (1, 9)), ("exp2", (-2, 2), (-3, 4)), ("reciprocal", (0.5, 2), (1, 5)),
    ("erf", (-3, 3), (-3, 4)), ("erfc", (-3, 3), (-3, 4)), ("erfinv", (-0.95, 0.95), (0, 1)),
    ("lgamma", (0.1, 6), (1, 9)), ("digamma", (0.2, 6), (1, 9)),
]:
    OPS += _unary(n, domain=dom, ints=ints)

OPS += [
    OpInfo("asin", lambda L, a: L.arcsin(a), U[:1], domain=(-0.9, 0.9), covers=["arcsin"]),
    OpInfo("acos", lambda L, a: L.arccos(a), U[:1], domain=(-0.9, 0.9), covers=["arccos"]),
    OpInfo("atan", lambda L, a: L.arctan(a), U[:1], covers=["arctan"]),
    OpInfo("asinh", lambda L, a: L.arcsinh(a), U[:1], covers=["arcsinh"]),
    OpInfo("acosh", lambda L, a: L.arccosh(a), U[:1], domain=(1.1, 3), covers=["arccosh"]),
    OpInfo("atanh", lambda L, a: L.arctanh(a), U[:1], domain=(-0.9, 0.9), covers=["arctanh"]),
    # wide ranges for the special functions (both branches of erf, negative arguments of lgamma)
    OpInfo("erf", lambda L, a: L.erf(a), make=lambda r: _special(r, -6, 6), gradcheck=False),
    OpInfo("erfc", lambda L, a: L.erfc(a), make=lambda r: _special(r, -6, 9), gradcheck=False),
    OpInfo("lgamma", lambda L, a: L.lgamma(a),
           make=lambda r: [[r.uniform(-4.9, -4.1, size=(3,)), ], [r.uniform(10, 200, size=(3,))]]),
    OpInfo("digamma", lambda L, a: L.digamma(a),
           make=lambda r: [[r.uniform(-2.9, -2.1, size=(3,))], [r.uniform(10, 200, size=(3,))]]),
    OpInfo("erfinv", lambda L, a: L.erfinv(a), make=lambda r: [[np.array([-0.999999, -0.5, 0.0, 0.9999, 0.3])]],
           gradcheck=False),
    OpInfo("square", lambda L, a: L.square(a), U, ints=None) if False else
    OpInfo("square", lambda L, a: L.square(a), make=lambda r: [[r.uniform(-2, 2, (3, 4))],
                                                               [r.integers(-5, 5, (3, 4))],
                                                               [r.integers(0, 2, (3,)).astype(bool)]]),
    OpInfo("sign", lambda L, a: L.sign(a), make=lambda r: [[r.uniform(-2, 2, (3, 4))],
                                                           [np.array([np.nan, -0.0, 0.0, 1.5, -np.inf])],
                                                           [r.integers(-5, 5, (3, 4))],
                                                           [r.integers(0, 2, (3,)).astype(bool)]], gradcheck=False),
    OpInfo("sgn", lambda L, a: L.sgn(a), U, grad=False),  # torch returns a ZeroTensor grad
    OpInfo("floor", lambda L, a: L.floor(a), make=lambda r: [[r.uniform(-5, 5, (3, 4))], [r.integers(-5, 5, (3,))]]),
    OpInfo("ceil", lambda L, a: L.ceil(a), make=lambda r: [[r.uniform(-5, 5, (3, 4))], [r.integers(-5, 5, (3,))]]),
    OpInfo("trunc", lambda L, a: L.trunc(a), make=lambda r: [[r.uniform(-5, 5, (3, 4))], [r.integers(-5, 5, (3,))]]),
    OpInfo("trunc", lambda L, a: L.fix(a), [((3, 4),)], domain=(-5, 5), covers=["fix"]),
    OpInfo("frac", lambda L, a: L.frac(a), [((3, 4),), ((),)], domain=(-5, 5)),
    OpInfo("round", lambda L, a: L.round(a), make=lambda r: [[r.uniform(-5, 5, (3, 4))],
                                                             [np.array([0.5, 1.5, 2.5, -0.5, -1.5])],
                                                             [r.integers(-5, 5, (3,))]], gradcheck=False),
    OpInfo("round", lambda L, a: L.round(a, decimals=2), [((3, 4),)], domain=(-5, 5)),
    OpInfo("round", lambda L, a: L.round(a, decimals=-1), [((3, 4),)], domain=(-50, 50)),
    OpInfo("sigmoid", lambda L, a: L.sigmoid(a), make=lambda r: [[r.integers(-3, 3, (3, 4))],
                                                                 [np.array([-100.0, -20.0, 0.0, 20.0, 100.0])]],
           gradcheck=False),
    OpInfo("logit", lambda L, a: L.logit(a), U[:2], domain=(0.05, 0.95)),
    OpInfo("logit", lambda L, a: L.logit(a, eps=0.2), [((3, 4),)], domain=(0.05, 0.95), gradcheck=False),
    OpInfo("nan_to_num", lambda L, a: L.nan_to_num(a), U[:1]),
    OpInfo("nan_to_num", lambda L, a: L.nan_to_num(a, nan=1.5, posinf=9.0, neginf=-9.0),
           make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 1.0, -2.0])]], gradcheck=False),
    OpInfo("nan_to_num", lambda L, a: L.nan_to_num(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 1.0])]],
           gradcheck=False, dtypes=("float32",)),
    # binary elementwise
    OpInfo("atan2", lambda L, a, b: L.atan2(a, b), BIN, broadcast=True, covers=["arctan2"]),
    OpInfo("atan2", lambda L, a, b: L.atan2(a, b), make=lambda r: [[r.integers(-3, 3, (3,)), r.integers(1, 3, (3,))]],
           grad=False),
    OpInfo("hypot", lambda L, a, b: L.hypot(a, b), BIN, broadcast=True, domain=(0.2, 2)),
    OpInfo("maximum", lambda L, a, b: L.maximum(a, b), BIN, broadcast=True),
    OpInfo("minimum", lambda L, a, b: L.minimum(a, b), BIN, broadcast=True),
    # ties split the gradient in halves
    OpInfo("maximum", lambda L, a, b: L.maximum(a, b), make=lambda r: [[np.array([1.0, 2.0, 3.0]),
                                                                        np.array([1.0, 5.0, 0.0])]], gradcheck=False),
    OpInfo("minimum", lambda L, a, b: L.minimum(a, b), make=lambda r: [[np.array([1.0, 2.0, 3.0]),
                                                                        np.array([1.0, 5.0, 0.0])]], gradcheck=False),
    OpInfo("maximum", lambda L, a, b: L.maximum(a, b), make=lambda r: [[r.integers(-3, 3, (3,)),
                                                                        r.uniform(-2, 2, (3,))]]),
    OpInfo("fmax", lambda L, a, b: L.fmax(a, b), BIN, broadcast=True),
    OpInfo("fmin", lambda L, a, b: L.fmin(a, b), BIN, broadcast=True),
    OpInfo("fmax", lambda L, a, b: L.fmax(a, b), make=lambda r: [[np.array([np.nan, 2.0, 3.0, np.nan]),
                                                                  np.array([1.0, np.nan, 3.0, np.nan])]],
           gradcheck=False),
    OpInfo("fmin", lambda L, a, b: L.fmin(a, b), make=lambda r: [[np.array([np.nan, 2.0, 3.0]),
                                                                  np.array([1.0, np.nan, 3.0])]], gradcheck=False),
    OpInfo("copysign", lambda L, a, b: L.copysign(a, b), BIN, broadcast=True),
    OpInfo("copysign", lambda L, a, b: L.copysign(a, b), make=lambda r: [[r.integers(-3, 3, (4,)),
                                                                          r.integers(-3, 3, (4,))]], grad=False),
    OpInfo("remainder", lambda L, a, b: L.remainder(a, b), BIN, broadcast=True, domain=(0.3, 3), gradcheck=False),
    OpInfo("remainder", lambda L, a, b: a % b, make=lambda r: [[r.uniform(-5, 5, (6,)), np.array([2.0, -2.0] * 3)]],
           gradcheck=False),
    OpInfo("remainder", lambda L, a, b: L.remainder(a, b),
           make=lambda r: [[r.integers(-9, 9, (6,)), np.array([2, -2, 3, -3, 4, 5])]], grad=False),
    OpInfo("remainder", lambda L, a: 5 % a, make=lambda r: [[np.array([3, 4, -3])], [np.array([1.5, -2.5])]],
           grad=False),  # torch: derivative for remainder(Scalar, Tensor) is not implemented
    OpInfo("fmod", lambda L, a, b: L.fmod(a, b), BIN, broadcast=True, domain=(0.3, 3), gradcheck=False),
    OpInfo("fmod", lambda L, a, b: L.fmod(a, b),
           make=lambda r: [[r.uniform(-5, 5, (6,)), np.array([2.0, -2.0] * 3)],
                           [r.integers(-9, 9, (6,)), np.array([2, -2, 3, -3, 4, 5])]], gradcheck=False),
    OpInfo("floor_divide", lambda L, a, b: L.floor_divide(a, b),
           make=lambda r: [[r.uniform(-5, 5, (6,)), np.array([2.0, -2.0] * 3)],
                           [r.integers(-9, 9, (6,)), np.array([2, -2, 3, -3, 4, 5])]], grad=False),
    OpInfo("floor_divide", lambda L, a: a // 2.5, make=lambda r: [[r.integers(-9, 9, (6,)).astype(np.int32)]]),
    OpInfo("div", lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
           make=lambda r: [[r.uniform(-5, 5, (6,)), np.array([2.0, -2.0] * 3)],
                           [r.integers(-9, 9, (6,)), np.array([2, -2, 3, -3, 4, 5])]], gradcheck=False),
    OpInfo("div", lambda L, a, b: L.div(a, b, rounding_mode="floor"), BIN, broadcast=True, domain=(0.3, 3),
           gradcheck=False),
    OpInfo("pow", lambda L, a, b: L.pow(a, b), make=lambda r: [[np.array([0.0, 0.0, 2.0, 1.5]),
                                                                np.array([0.0, 2.0, 0.0, 3.0])]], gradcheck=False),
    OpInfo("pow", lambda L, a: L.pow(2.0, a), [((3, 4),)]),
    OpInfo("pow", lambda L, a: a ** 0.5, [((3, 4),)], domain=(0.5, 2)),
    OpInfo("pow", lambda L, a: a ** 2.5, make=lambda r: [[r.integers(0, 5, (4,))]]),
    # logical / bitwise
    OpInfo("logical_and", lambda L, a, b: L.logical_and(a, b), BIN, broadcast=True, grad=False,
           covers=["logical_or", "logical_xor"]),
    OpInfo("logical_or", lambda L, a, b: L.logical_or(a > 0, b), BIN, broadcast=True, grad=False),
    OpInfo("logical_xor", lambda L, a, b: L.logical_xor(a, b > 0), BIN, broadcast=True, grad=False),
    OpInfo("logical_not", lambda L, a: L.logical_not(a > 0), U, grad=False),
    OpInfo("bitwise_and", lambda L, a, b: a & b, make=lambda r: [[r.integers(0, 16, (3, 4)), r.integers(0, 16, (4,))],
                                                                 [r.integers(0, 2, (3,)).astype(bool),
                                                                  r.integers(0, 2, (3,)).astype(bool)]]),
    OpInfo("bitwise_or", lambda L, a, b: a | b, make=lambda r: [[r.integers(0, 16, (3, 4)), r.integers(0, 16, (4,))]]),
    OpInfo("bitwise_xor", lambda L, a, b: L.bitwise_xor(a, b) ^ 3,
           make=lambda r: [[r.integers(0, 16, (3, 4)), r.integers(0, 16, (4,)).astype(np.int32)]]),
    OpInfo("bitwise_and", lambda L, a, b: a.bitwise_and(b), make=lambda r: [[r.integers(0, 16, (3, 4)),
                                                                             r.integers(0, 16, (3, 4))]],
           broadcast=False),
    OpInfo("bitwise_not", lambda L, a: ~a, make=lambda r: [[r.integers(-8, 8, (3, 4))],
                                                           [r.integers(0, 2, (3,)).astype(bool)]]),
    OpInfo("bitwise_and", lambda L, a: 6 & a, make=lambda r: [[r.integers(0, 16, (5,))]]),
    # predicates and closeness
    OpInfo("isnan", lambda L, a: L.isnan(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 0.0, 1.0])],
                                                             [np.array([1, 2])]],
           covers=["isinf", "isfinite", "isposinf", "isneginf"]),
    OpInfo("isinf", lambda L, a: L.isinf(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 0.0, 1.0])]]),
    OpInfo("isfinite", lambda L, a: L.isfinite(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 0.0])],
                                                                   [np.array([1, 2])]]),
    OpInfo("isposinf", lambda L, a: L.isposinf(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 0.0])]]),
    OpInfo("isneginf", lambda L, a: L.isneginf(a), make=lambda r: [[np.array([np.nan, np.inf, -np.inf, 0.0])]]),
    OpInfo("isclose", lambda L, a, b: L.isclose(a, b + 1e-9), BIN[:2], grad=False),
    OpInfo("isclose", lambda L, a, b: L.isclose(a, b, rtol=0.0, atol=0.5, equal_nan=True),
           make=lambda r: [[np.array([1.0, np.nan, np.inf, 2.0]), np.array([1.4, np.nan, np.inf, 3.0])]]),
    OpInfo("allclose", lambda L, a, b: L.tensor(L.allclose(a, a + 1e-7)), BIN[:1], grad=False),
    OpInfo("allclose", lambda L, a, b: L.tensor(L.allclose(a, b)), BIN[:1], grad=False),
    OpInfo("equal", lambda L, a, b: L.tensor([L.equal(a, a.clone()), L.equal(a, b), L.equal(a, a[:1])]),
           BIN[:1], grad=False),
    # ternary
    OpInfo("where", lambda L, a, b: L.where(a > 0, a, b), BIN, broadcast=True),
    OpInfo("where", lambda L, a: L.where(a > 0, a, 0.5), [((3, 4),)]),
    OpInfo("where", lambda L, a: a.where(a > 0, -a), [((3, 4),)]),
    OpInfo("where", lambda L, a, b: L.where(b > 0, a, 2.5), make=lambda r: [[r.integers(-3, 3, (4,)),
                                                                             r.uniform(-1, 1, (4,))]]),
    OpInfo("where", lambda L, a: L.stack(L.where(a > 0)), [((3, 4),)], grad=False),
    OpInfo("clamp", lambda L, a: L.clamp(a, -0.5, 0.7), U, covers=["clip"]),
    OpInfo("clamp", lambda L, a: a.clamp(min=-0.5), U[:1]),
    OpInfo("clamp", lambda L, a: a.clip(max=0.5), U[:1]),
    OpInfo("clamp", lambda L, a, lo, hi: L.clamp(a, lo, hi), [((3, 4), (4,), (3, 1))]),
    OpInfo("clamp", lambda L, a, lo: L.clamp(a, min=lo), [((3, 4), (3, 4))]),
    OpInfo("clamp", lambda L, a: L.clamp(a, 0.5), make=lambda r: [[r.integers(-3, 3, (4,))]]),
    OpInfo("clamp", lambda L, a: L.clamp(a, 1, 2), make=lambda r: [[r.integers(-3, 3, (4,))]]),
    OpInfo("clamp_min", lambda L, a: L.clamp_min(a, 0.1), U[:1]),
    OpInfo("clamp_max", lambda L, a: L.clamp_max(a, 0.1), U[:1]),
    OpInfo("lerp", lambda L, a, b: L.lerp(a, b, 0.3), BIN, broadcast=True),
    OpInfo("lerp", lambda L, a, b: L.lerp(a, b, 0.8), BIN[:2]),
    OpInfo("lerp", lambda L, a, b, w: L.lerp(a, b, w), [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1))],
           domain=(-1, 1)),
    OpInfo("addcmul", lambda L, a, b, c: L.addcmul(a, b, c, value=0.5), [((3, 4), (3, 4), (4,))]),
    OpInfo("addcmul", lambda L, a, b, c: a.addcmul(b, c), [((3, 4), (3, 1), (4,))]),
    OpInfo("addcdiv", lambda L, a, b, c: L.addcdiv(a, b, c, value=-2), [((3, 4), (3, 4), (4,))], domain=(0.5, 2)),
    OpInfo("addcdiv", lambda L, a, b, c: a.addcdiv(b, c), [((3, 4), (3, 1), (4,))], domain=(0.5, 2)),
]

OPS += [
    OpInfo("logaddexp", lambda L, a, b: L.logaddexp(a, b), BIN, broadcast=True),
    OpInfo("logaddexp", lambda L, a, b: L.logaddexp(a, b),
           make=lambda r: [[np.array([-np.inf, 1000.0, -1000.0, np.inf]), np.array([-np.inf, 999.0, -1001.0, 1.0])]],
           gradcheck=False),
    OpInfo("logaddexp2", lambda L, a, b: L.logaddexp2(a, b), BIN, broadcast=True),
    OpInfo("xlogy", lambda L, a, b: L.xlogy(a, b), BIN, broadcast=True, domain=(0.2, 2)),
    OpInfo("xlogy", lambda L, a, b: L.xlogy(a, b), make=lambda r: [[np.array([0.0, 0.0, 1.0, 2.0]),
                                                                    np.array([0.0, np.nan, 2.0, 0.5])]],
           gradcheck=False),
    OpInfo("sinc", lambda L, a: L.sinc(a), U),
    OpInfo("sinc", lambda L, a: L.sinc(a), make=lambda r: [[np.array([0.0, 1.0, -2.5])]], gradcheck=False),
    OpInfo("deg2rad", lambda L, a: L.deg2rad(a), make=_with_ints(-180, 180, -360, 360)),
    OpInfo("rad2deg", lambda L, a: L.rad2deg(a), make=_with_ints(-3, 3)),
    OpInfo("signbit", lambda L, a: L.signbit(a), make=lambda r: [[np.array([-0.0, 0.0, -1.0, 2.0, np.nan])],
                                                                 [r.integers(-3, 3, (4,))]]),
    OpInfo("heaviside", lambda L, a, b: L.heaviside(a, b), make=lambda r: [[np.array([-1.0, 0.0, 2.0]),
                                                                            np.array([0.5])],
                                                                           [np.array([-1, 0, 2]), np.array([7])]],
           grad=False),
    OpInfo("float_power", lambda L, a, b: L.float_power(a, b), BIN[:3], domain=(0.5, 2)),
    OpInfo("float_power", lambda L, a: L.float_power(a, 2), make=lambda r: [[r.integers(-3, 3, (4,))],
                                                                            [r.uniform(-2, 2, (3,))]]),
    OpInfo("positive", lambda L, a: L.positive(a), U[:1]),
    OpInfo("rsub", lambda L, a, b: L.rsub(a, b), BIN),
    OpInfo("rsub", lambda L, a, b: L.rsub(a, b, alpha=2), BIN[:2]),
    OpInfo("bitwise_left_shift", lambda L, a, b: a << b, make=lambda r: [[r.integers(0, 9, (3, 4)),
                                                                          r.integers(0, 5, (4,))]]),
    OpInfo("bitwise_right_shift", lambda L, a, b: L.bitwise_right_shift(a, b) + (3 >> b),
           make=lambda r: [[r.integers(0, 99, (3, 4)), r.integers(0, 5, (4,))]]),
    OpInfo("gcd", lambda L, a, b: L.gcd(a, b), make=lambda r: [[r.integers(-30, 30, (3, 4)), r.integers(0, 30, (4,))]]),
    OpInfo("lcm", lambda L, a, b: L.lcm(a, b), make=lambda r: [[r.integers(-30, 30, (3, 4)), r.integers(0, 30, (4,))]]),
]
