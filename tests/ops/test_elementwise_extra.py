"""Elementwise/reduction behaviour that OpInfo can't express: named tuples, in-place variants,
dtype promotion vs PyTorch, out=, error messages, zero-gradient ops, special values."""
import itertools

import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _pair(a, dtype):
    if dtype == "bfloat16":   # torch.from_numpy has no bfloat16
        arr = np.asarray(a).astype(np.float32)
        return dt.from_numpy(arr.copy()).bfloat16(), torch.from_numpy(arr.copy()).bfloat16()
    arr = np.asarray(a).astype(dtype)
    return dt.from_numpy(arr.copy()), torch.from_numpy(arr.copy())


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x.detach().numpy()


# ---- named tuples -------------------------------------------------------------------------------
@pytest.mark.parametrize("name,args", [("max", (1,)), ("min", (0,)), ("sort", (1,)), ("topk", (2,)),
                                       ("kthvalue", (2, 1)), ("median", (1,)), ("aminmax", ())])
def test_named_tuple_returns(name, args):
    x = np.random.default_rng(0).permutation(12).reshape(3, 4).astype(np.float32)
    d = getattr(dt, name)(dt.from_numpy(x), *args)
    p = getattr(torch, name)(torch.from_numpy(x), *args)
    assert isinstance(d, tuple) and len(d) == 2
    assert type(d).__name__ == type(p).__name__
    for field in ("min", "max") if name == "aminmax" else ("values", "indices"):
        np.testing.assert_array_equal(_np(getattr(d, field)), _np(getattr(p, field)))
    a, b = d  # tuple unpacking
    np.testing.assert_array_equal(_np(a), _np(p[0]))
    np.testing.assert_array_equal(_np(b), _np(p[1]))
    assert f"return_types.{name}" in repr(d)


def test_max_dim_gradient_goes_to_selected_element_and_full_max_splits_ties():
    x = dt.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    xt = torch.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    xt.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    y = dt.tensor([1.0, 3.0, 3.0], requires_grad=True)
    y.max().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.5, 0.5])


def test_max_out_tuple():
    x = dt.tensor([[1.0, 5.0], [4.0, 2.0]])
    v, i = dt.empty(2), dt.zeros(2, dtype=dt.int64)
    r = dt.max(x, 1, out=(v, i))
    assert r.values is v and r.indices is i
    np.testing.assert_array_equal(v.numpy(), [5.0, 4.0])
    np.testing.assert_array_equal(i.numpy(), [1, 0])


# ---- in-place variants ----------------------------------------------------------------------------
INPLACE = [("sin_", ()), ("cos_", ()), ("exp2_", ()), ("sigmoid_", ()), ("clamp_", (-0.5, 0.5)),
           ("clamp_min_", (0.1,)), ("clamp_max_", (0.1,)), ("clip_", (-0.2, 0.3)), ("floor_", ()),
           ("round_", ()), ("trunc_", ()), ("frac_", ()), ("erf_", ()), ("atan2_", None), ("lerp_", None),
           ("addcmul_", None), ("addcdiv_", None), ("remainder_", (0.7,)), ("fmod_", (0.7,)), ("square_", ()),
           ("reciprocal_", ()), ("sign_", ()), ("copysign_", (-1.0,)), ("hypot_", None), ("nan_to_num_", ()),
           ("logit_", ())]


@pytest.mark.parametrize("name,args", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_variants_match_torch(name, args):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.05, 0.95, size=(3, 4)).astype(np.float32)
    b = rng.uniform(0.5, 1.5, size=(3, 4)).astype(np.float32)
    c = rng.uniform(0.5, 1.5, size=(4,)).astype(np.float32)
    if args is None:
        args_d = {"atan2_": (dt.from_numpy(b),), "hypot_": (dt.from_numpy(b),),
                  "lerp_": (dt.from_numpy(b), 0.3),
                  "addcmul_": (dt.from_numpy(b), dt.from_numpy(c)),
                  "addcdiv_": (dt.from_numpy(b), dt.from_numpy(c))}[name]
        args_t = tuple(torch.from_numpy(np.asarray(x.numpy())) if isinstance(x, dt.Tensor) else x for x in args_d)
    else:
        args_d = args_t = args
    xd, xt = dt.from_numpy(a.copy()), torch.from_numpy(a.copy())
    v0 = xd._version
    rd = getattr(xd, name)(*args_d)
    getattr(xt, name)(*args_t)
    assert rd is xd
    assert xd._version > v0
    np.testing.assert_allclose(xd.numpy(), xt.numpy(), rtol=1e-5, atol=1e-6)


def test_inplace_with_autograd_and_views():
    base = dt.tensor([0.1, 0.2, 0.3, 0.4], requires_grad=True)
    y = base * 2
    v = y[1:3]
    y.clamp_(max=0.5)
    assert np.allclose(v.detach().numpy(), [0.4, 0.5])
    y.sum().backward()
    np.testing.assert_allclose(base.grad.numpy(), [2, 2, 0, 0])
    leaf = dt.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.sin_()


def test_inplace_float_math_on_int_tensor_fails_like_torch():
    with pytest.raises(RuntimeError, match="can't be cast"):
        dt.tensor([1, 2]).sin_()


def test_saved_output_modified_in_place_is_detected():
    x = dt.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp2()
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---- dtype promotion vs PyTorch ---------------------------------------------------------------
BINARY = {
    "maximum": lambda L, a, b: L.maximum(a, b), "minimum": lambda L, a, b: L.minimum(a, b),
    "fmax": lambda L, a, b: L.fmax(a, b), "atan2": lambda L, a, b: L.atan2(a, b),
    "hypot": lambda L, a, b: L.hypot(a, b), "copysign": lambda L, a, b: L.copysign(a, b),
    "remainder": lambda L, a, b: L.remainder(a, b), "fmod": lambda L, a, b: L.fmod(a, b),
    "floor_divide": lambda L, a, b: L.floor_divide(a, b),
    "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "div_floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "pow": lambda L, a, b: L.pow(a, b),
    "bitwise_and": lambda L, a, b: a & b, "bitwise_xor": lambda L, a, b: a ^ b,
    "logical_or": lambda L, a, b: L.logical_or(a, b),
    "where": lambda L, a, b: L.where(a > 0 if a.dtype != L.bool else a, a, b),
    "clamp": lambda L, a, b: L.clamp(a, b, None), "isclose": lambda L, a, b: L.isclose(a, a),
    "add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b, "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b, "rdiv": lambda L, a, b: b / a, "eq": lambda L, a, b: a == b,
    "logaddexp": lambda L, a, b: L.logaddexp(a, b), "xlogy": lambda L, a, b: L.xlogy(a, b),
    "gcd": lambda L, a, b: L.gcd(a, b), "shift": lambda L, a, b: a << b,
}


def _outcome(fn, lib, a, b):
    try:
        return str(fn(lib, a, b).dtype).split(".")[-1]
    except Exception as e:  # noqa: BLE001 - we compare whether both libraries refuse
        return type(e)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_dtype_promotion_table_matches_torch(op):
    fn = BINARY[op]
    vals = [1, 2, 3]
    mismatches = []
    for da, db in itertools.product(DTYPES, DTYPES):
        for shape_b in ((3,), ()):
            a_d, a_t = _pair(vals, da)
            b_d, b_t = _pair(np.asarray([2, 1, 3][:1] * 1 if shape_b == () else [2, 1, 3]).reshape(shape_b), db)
            rt = _outcome(fn, torch, a_t, b_t)
            if not isinstance(rt, str):
                continue  # torch refuses this combination; we only check the supported ones
            rd = _outcome(fn, dt, a_d, b_d)
            if rd != rt:
                mismatches.append((da, db, shape_b, rd, rt))
    for da in DTYPES:
        for s in (2, 2.5, True):
            a_d, a_t = _pair(vals, da)
            rt = _outcome(fn, torch, a_t, s)
            if isinstance(rt, str):
                rd = _outcome(fn, dt, a_d, s)
                if rd != rt:
                    mismatches.append((da, repr(s), "scalar", rd, rt))
    assert not mismatches, f"{op}: (a, b, shape_b, ours, torch): {mismatches}"


UNARY_FLOAT = ["sin", "cos", "tan", "atan", "sinh", "asinh", "expm1", "exp2", "log1p", "rsqrt", "reciprocal",
               "sigmoid", "erf", "erfc", "lgamma", "digamma", "logit", "erfinv"]
UNARY_KEEP = ["square", "sign", "sgn", "floor", "ceil", "round", "trunc", "abs", "neg", "nan_to_num"]


@pytest.mark.parametrize("name", UNARY_FLOAT + UNARY_KEEP)
def test_unary_dtypes_match_torch(name):
    for d in DTYPES:
        a_d, a_t = _pair([0, 1, 0], d)
        rt = _outcome(lambda L, a, b: getattr(L, name)(a), torch, a_t, None)
        rd = _outcome(lambda L, a, b: getattr(L, name)(a), dt, a_d, None)
        if isinstance(rt, str):
            assert rd == rt, f"{name}({d}): ours {rd}, torch {rt}"
        else:
            assert not isinstance(rd, str), f"{name}({d}): torch raises {rt.__name__}, we returned {rd}"


@pytest.mark.parametrize("name,kw", [("sum", {}), ("sum", {"dim": 0}), ("prod", {}), ("cumsum", {"dim": 0}),
                                     ("cumprod", {"dim": 0}), ("amax", {}), ("max", {}), ("all", {}),
                                     ("any", {"dim": 0}), ("count_nonzero", {}), ("nansum", {}),
                                     ("logsumexp", {"dim": 0}), ("argmax", {})])
def test_reduction_dtypes_match_torch(name, kw):
    for d in DTYPES:
        a_d, a_t = _pair([0, 1, 3], d)
        rt = _outcome(lambda L, a, b: getattr(L, name)(a, **kw), torch, a_t, None)
        rd = _outcome(lambda L, a, b: getattr(L, name)(a, **kw), dt, a_d, None)
        if isinstance(rt, str):
            assert rd == rt, f"{name}({d}): ours {rd}, torch {rt}"


def test_sum_accepts_tuples_negative_dims_keepdim():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for kw in ({"dim": (0, -1)}, {"dim": [-2]}, {"dim": (2, 0), "keepdim": True}, {"dim": -1}):
        np.testing.assert_array_equal(dt.from_numpy(x).sum(**kw).numpy(), torch.from_numpy(x).sum(**kw).numpy())
    with pytest.raises(IndexError, match="Dimension out of range"):
        dt.from_numpy(x).sum(3)


# ---- out= -------------------------------------------------------------------------------------
def test_out_argument():
    a = dt.tensor([0.5, -1.5, 2.0])
    out = dt.empty(3)
    r = dt.sin(a, out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), np.sin(a.numpy()), rtol=1e-6)
    out2 = dt.empty(0)
    dt.maximum(a, dt.tensor(0.0), out=out2)   # resized like PyTorch
    np.testing.assert_array_equal(out2.numpy(), [0.5, 0.0, 2.0])
    o3 = dt.empty(3)
    dt.clamp(a, 0, 1, out=o3)
    np.testing.assert_array_equal(o3.numpy(), [0.5, 0.0, 1.0])
    o4 = dt.empty(3, dtype=dt.float64)
    dt.cumsum(a, 0, out=o4)
    assert o4.dtype == dt.float64
    np.testing.assert_allclose(o4.numpy(), np.cumsum([0.5, -1.5, 2.0]))
    o5 = dt.empty((), dtype=dt.float32)
    dt.sum(a, out=o5)
    assert o5.item() == pytest.approx(1.0)
    with pytest.raises(RuntimeError, match="can't be cast"):
        dt.sin(a, out=dt.empty(3, dtype=dt.int64))


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,call", [
    ("maximum", lambda: dt.maximum(dt.ones(3, 4), dt.ones(5))),
    ("atan2", lambda: dt.atan2(dt.ones(3, 4), dt.ones(2, 4))),
    ("remainder", lambda: dt.ones(3, 4) % dt.ones(5)),
    ("bitwise_and", lambda: dt.ones(3, 4, dtype=dt.int64) & dt.ones(5, dtype=dt.int64)),
    ("where", lambda: dt.where(dt.ones(3, 4) > 0, dt.ones(3, 4), dt.ones(5))),
    ("clamp", lambda: dt.clamp(dt.ones(3, 4), dt.ones(5), None)),
    ("lerp", lambda: dt.lerp(dt.ones(3, 4), dt.ones(5), 0.5)),
    ("isclose", lambda: dt.isclose(dt.ones(3, 4), dt.ones(5))),
])
def test_shape_mismatch_errors_name_op_and_shapes(name, call):
    with pytest.raises(RuntimeError) as ei:
        call()
    msg = str(ei.value)
    assert name in msg
    assert "(3, 4)" in msg and ("(5,)" in msg or "(2, 4)" in msg), msg


def test_other_errors_like_torch():
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        dt.clamp(dt.ones(2))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        dt.tensor([1, 2]) // dt.tensor([1, 0])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        dt.tensor([1, 2]) % 0
    with pytest.raises(RuntimeError, match="floating point"):
        dt.tensor([1, 2]).var()
    with pytest.raises(RuntimeError, match="floating point"):
        dt.tensor([1, 2]).norm()
    with pytest.raises(RuntimeError, match="did not match"):
        dt.isclose(dt.tensor([1, 2]), dt.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="rounding_mode"):
        dt.div(dt.ones(2), 2, rounding_mode="round")
    with pytest.raises(RuntimeError, match="k out of range"):
        dt.topk(dt.ones(3), 4)
    with pytest.raises(RuntimeError, match="bool|Bool"):
        dt.where(dt.tensor([1.0]), dt.ones(1), dt.ones(1))


# ---- gradients that OpInfo's random inputs don't reach -----------------------------------------
def _grads(fn, *arrays):
    xd = [dt.tensor(a, dtype=dt.float64, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    fn(dt, *xd).sum().backward()
    fn(torch, *xt).sum().backward()
    for a, b in zip(xd, xt):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rounding_ops_have_zero_gradient_and_require_grad():
    for name in ("floor", "ceil", "round", "trunc", "sign", "sgn"):
        x = dt.tensor([0.3, -1.7], requires_grad=True)
        y = getattr(dt, name)(x)
        assert y.requires_grad
        (y * 3).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    x = dt.tensor([1.0, 2.0], requires_grad=True)
    dt.floor_divide(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_clamp_gradient_at_edges_and_tensor_bounds():
    _grads(lambda L, x: L.clamp(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    _grads(lambda L, x, lo, hi: L.clamp(x, lo, hi), [0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 2.5, 4.0], [1.0, 0.5, 2.5, 3.5])


def test_prod_and_cumprod_gradients_with_zeros():
    _grads(lambda L, x: L.prod(x), [2.0, 0.0, 3.0, 4.0])
    _grads(lambda L, x: L.prod(x), [2.0, 0.0, 3.0, 0.0])
    _grads(lambda L, x: L.cumprod(x, 0), [2.0, 0.0, 3.0, 0.0, 5.0])
    _grads(lambda L, x: L.cumprod(x, 1) * L.arange(3.0), [[0.0, 2.0, 3.0], [1.0, 2.0, 0.0]])


def test_pow_gradients_at_zero():
    _grads(lambda L, a, b: L.pow(a, b), [0.0, 0.0, 2.0], [0.0, 2.0, 0.0])
    _grads(lambda L, a: a ** 0, [0.0, 1.0])


def test_where_gradient_and_scalars():
    _grads(lambda L, x, y: L.where(x > 0, x, y), [-1.0, 2.0, 3.0], [5.0, 6.0, 7.0])
    r = dt.where(dt.tensor([True, False]), 1, 2.5)
    assert r.dtype == dt.float32


def test_max_min_ties_split_like_torch():
    _grads(lambda L, a, b: L.maximum(a, b) * L.arange(3.0), [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    _grads(lambda L, x: L.amax(x, 1), [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    _grads(lambda L, x: x.norm(float("inf")), [1.0, -3.0, 3.0])
    _grads(lambda L, x: x.median(), [1.0, 2.0, 2.0, 5.0])


def test_logsumexp_stable_and_inf():
    x = dt.tensor([1000.0, 1000.0])
    assert dt.logsumexp(x, 0).item() == pytest.approx(1000.0 + np.log(2))
    assert dt.logsumexp(dt.tensor([-np.inf, -np.inf]), 0).item() == -np.inf
    assert dt.logsumexp(dt.tensor([np.inf, 1.0]), 0).item() == np.inf


def test_sort_stable_descending_keeps_order_of_ties():
    x = [3.0, 1.0, 3.0, 2.0, 1.0, 3.0]
    d = dt.tensor(x).sort(descending=True, stable=True)
    t = torch.tensor(x).sort(descending=True, stable=True)
    np.testing.assert_array_equal(d.indices.numpy(), t.indices.numpy())


def test_special_values():
    d = dt.tensor([0.0, -1.0, 1.0, np.inf, -np.inf, np.nan], dtype=dt.float64)
    t = torch.tensor([0.0, -1.0, 1.0, np.inf, -np.inf, np.nan], dtype=torch.float64)
    for name in ("erf", "erfc", "lgamma", "digamma", "erfinv", "sign", "sigmoid", "rsqrt", "log1p"):
        np.testing.assert_allclose(getattr(dt, name)(d).numpy(), getattr(torch, name)(t).numpy(), rtol=1e-12,
                                   err_msg=name)


def test_bitwise_dunders():
    a, b = dt.tensor([1, 2, 3]), dt.tensor([3, 3, 0])
    np.testing.assert_array_equal((a & b).numpy(), [1, 2, 0])
    np.testing.assert_array_equal((a | b).numpy(), [3, 3, 3])
    np.testing.assert_array_equal((a ^ b).numpy(), [2, 1, 3])
    np.testing.assert_array_equal((~a).numpy(), [-2, -3, -4])
    np.testing.assert_array_equal((1 | a).numpy(), [1, 3, 3])
    m = dt.tensor([True, False])
    m &= dt.tensor([True, True])
    np.testing.assert_array_equal(m.numpy(), [True, False])
    np.testing.assert_array_equal((~m).numpy(), [False, True])
    with pytest.raises(RuntimeError):
        ~dt.tensor([1.0])


def test_logical_ops_do_not_require_grad():
    x = dt.tensor([1.0, 0.0], requires_grad=True)
    assert not dt.logical_and(x, x).requires_grad
    assert not dt.isclose(x, x).requires_grad
    assert not (x > 0).requires_grad


def test_var_std_signatures():
    x = np.random.default_rng(0).standard_normal((3, 4))
    for args, kw in [((), {}), ((1,), {}), ((1, False), {}), ((False,), {}), ((), {"correction": 0}),
                     ((0,), {"correction": 2, "keepdim": True}), ((), {"dim": (0, 1), "unbiased": True})]:
        np.testing.assert_allclose(dt.from_numpy(x).var(*args, **kw).numpy(), torch.from_numpy(x).var(*args, **kw)
                                   .numpy(), rtol=1e-12)
        np.testing.assert_allclose(dt.from_numpy(x).std(*args, **kw).numpy(), torch.from_numpy(x).std(*args, **kw)
                                   .numpy(), rtol=1e-12)
    vd, md = dt.var_mean(dt.from_numpy(x), 1)
    vt, mt = torch.var_mean(torch.from_numpy(x), 1)
    np.testing.assert_allclose(vd.numpy(), vt.numpy())
    np.testing.assert_allclose(md.numpy(), mt.numpy())


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
@pytest.mark.parametrize("name,fn", [
    ("sum", lambda L, x: x.sum()), ("sum_dim", lambda L, x: x.sum(0)), ("mean", lambda L, x: x.mean()),
    ("var", lambda L, x: x.var(0)), ("std", lambda L, x: x.std()), ("logsumexp", lambda L, x: L.logsumexp(x, 0)),
    ("norm", lambda L, x: x.norm()), ("cumsum", lambda L, x: x.cumsum(0)), ("nansum", lambda L, x: L.nansum(x)),
])
def test_half_precision_reductions_accumulate_in_float32(half, name, fn):
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(3000, 2)).astype(np.float32)
    d = dt.from_numpy(x).to(getattr(dt, half)).requires_grad_()
    t = torch.from_numpy(x).to(getattr(torch, half)).requires_grad_()
    rd, rt = fn(dt, d), fn(torch, t)
    assert rd.dtype == getattr(dt, half)
    np.testing.assert_allclose(rd.float().detach().numpy(), rt.float().detach().numpy(), rtol=2e-2)
    rd.float().sum().backward()
    rt.float().sum().backward()
    assert d.grad.dtype == getattr(dt, half)
    np.testing.assert_allclose(d.grad.float().numpy(), t.grad.float().numpy(), rtol=2e-2, atol=1e-3)


def test_half_prod_accumulates_in_float32():
    # PyTorch's CPU half prod accumulates in half (327.5 here); the float64 value is 431.4
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(3000, 2)).astype(np.float32)
    h = (dt.from_numpy(x).half() * 0.001 + 1)
    ref = np.prod(h.numpy().astype(np.float64))
    assert h.prod().dtype == dt.float16
    assert abs(h.prod().item() - ref) / ref < 2e-3


def test_axis_alias_and_scan_inplace():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for name in ("sum", "mean", "prod", "amax", "argmax", "std", "var", "all", "any", "cumsum"):
        d = getattr(dt.from_numpy(x), name)(axis=1)
        t = getattr(torch.from_numpy(x), name)(axis=1)
        np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(dt.max(dt.from_numpy(x), axis=0).values.numpy(), x.max(0))
    a, b = dt.from_numpy(x.copy()), torch.from_numpy(x.copy())
    a.cumsum_(0)
    b.cumsum_(0)
    np.testing.assert_allclose(a.numpy(), b.numpy())
    a.cumprod_(1)
    b.cumprod_(1)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_erf_float32_large_array_chunked_path():
    x = np.linspace(-6, 6, 40001, dtype=np.float32)
    for name in ("erf", "erfc"):
        d = getattr(dt, name)(dt.from_numpy(x)).numpy()
        t = getattr(torch, name)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(d, t, rtol=5e-7, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", ["cummax", "cummin", "nanmedian"])
def test_more_named_tuples(name):
    x = np.random.default_rng(3).permutation(12).reshape(3, 4).astype(np.float64)
    d = getattr(dt, name)(dt.from_numpy(x), 1)
    p = getattr(torch, name)(torch.from_numpy(x), 1)
    assert type(d).__name__ == type(p).__name__
    np.testing.assert_array_equal(d.values.numpy(), p.values.numpy())
    np.testing.assert_array_equal(d.indices.numpy(), p.indices.numpy())


def test_std_var_degenerate_gradients_like_torch():
    _grads(lambda L, x: x.std(1, correction=0), [[1.5, 1.5], [1.0, 2.0]])   # zero grad where std == 0
    for kw in ({"correction": 1}, {"correction": 0}):
        xd = dt.tensor([[1.5], [2.0]], dtype=dt.float64, requires_grad=True)
        xt = torch.tensor([[1.5], [2.0]], dtype=torch.float64, requires_grad=True)
        with np.errstate(all="ignore"):
            xd.var(1, **kw).sum().backward()
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xt.var(1, **kw).sum().backward()
        np.testing.assert_array_equal(np.isnan(xd.grad.numpy()), np.isnan(xt.grad.numpy()))


# ---- randomized sweep: reductions/scans/selections over random shapes, dims, keepdim, ties ----------
SWEEP = {
    "sum": lambda L, x, d, k: x.sum(d, keepdim=k), "mean": lambda L, x, d, k: x.mean(d, keepdim=k),
    "amax": lambda L, x, d, k: x.amax(d, keepdim=k), "var": lambda L, x, d, k: x.var(d, keepdim=k),
    "std0": lambda L, x, d, k: x.std(d, keepdim=k, correction=0), "lse": lambda L, x, d, k: L.logsumexp(x, d, k),
    "norm": lambda L, x, d, k: x.norm(dim=d, keepdim=k), "norminf": lambda L, x, d, k: x.norm(float("inf"), d, k),
    "prod": lambda L, x, d, k: x.prod(d[0], keepdim=k), "cumsum": lambda L, x, d, k: x.cumsum(d[0]),
    "cumprod": lambda L, x, d, k: x.cumprod(d[0]), "cummax": lambda L, x, d, k: x.cummax(d[0])[1],
    "lcse": lambda L, x, d, k: x.logcumsumexp(d[0]), "sorti": lambda L, x, d, k: x.sort(dim=d[0], stable=True,
                                                                                         descending=k)[1],
    "max": lambda L, x, d, k: x.max(d[0], keepdim=k)[1], "argmin": lambda L, x, d, k: x.argmin(d[0], keepdim=k),
    "median": lambda L, x, d, k: x.median(d[0], keepdim=k)[1], "mode": lambda L, x, d, k: x.mode(d[0], keepdim=k)[1],
    "quantile": lambda L, x, d, k: x.quantile(0.3, d[0], keepdim=k),
}
_EXACT_GRAD = {"sum", "mean", "var", "std0", "lse", "norm", "prod", "cumsum", "cumprod", "lcse", "quantile", "amax",
               "norminf"}


def test_randomized_reduction_sweep_matches_torch():
    import random
    rnd = random.Random(0)
    rng = np.random.default_rng(0)
    for _ in range(40):
        nd = rnd.randint(1, 4)
        shape = tuple(rnd.randint(1, 4) for _ in range(nd))
        x = np.round(rng.standard_normal(shape), 1)        # rounding makes ties
        if rnd.random() < 0.3:
            x[x > 1] = 0.0
        keep = rnd.random() < 0.5
        dims = tuple(rnd.sample(range(-nd, nd), 1)) if rnd.random() < 0.6 else \
            tuple(rnd.sample(range(nd), rnd.randint(1, nd)))
        for name, f in SWEEP.items():
            xd = dt.tensor(x, requires_grad=True)
            xt = torch.tensor(x, requires_grad=True)
            try:
                rt = f(torch, xt, dims, keep)
            except (RuntimeError, IndexError, ValueError):
                continue
            rd = f(dt, xd, dims, keep)
            ctx = f"{name} shape={shape} dims={dims} keepdim={keep}"
            assert tuple(rd.shape) == tuple(rt.shape), ctx
            np.testing.assert_allclose(rd.detach().numpy().astype(float), rt.detach().numpy().astype(float),
                                       rtol=1e-10, atol=1e-12, err_msg=ctx)
            if rt.requires_grad and name in _EXACT_GRAD:
                g = rng.standard_normal(tuple(rt.shape))
                rd.backward(dt.tensor(g))
                rt.backward(torch.tensor(g))
                np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=ctx)


def test_zero_dim_results_are_real_tensors():
    a, b = dt.tensor(0.5), dt.tensor(0.25)
    for r in (a == b, a > b, a <= 0.5, a != 1, dt.isclose(dt.tensor(True), dt.tensor(True)), a.argmax(0),
              dt.tensor([1.0, 3.0]).argmax(0), a.var(0), dt.tensor([1.0]).std(0)):
        assert isinstance(r.numpy(), np.ndarray) and r.numpy().shape == ()


@pytest.mark.parametrize("n", [10, 40_000])  # NumPy path, numba kernel
@pytest.mark.parametrize("contiguous_grad", [True, False])
def test_relu_backward_special_values_match_torch(n, contiguous_grad):
    values = torch.tensor([float("nan"), 0.0, -0.0, -1.5, 2.5, float("inf"), -float("inf")])
    xt = values.repeat(n // 7 + 1)[:n].clone().requires_grad_(True)
    xd = dt.from_numpy(xt.detach().numpy().copy()).requires_grad_(True)
    if contiguous_grad:
        g = torch.randn(n)
        torch.relu(xt).backward(g)
        dt.relu(xd).backward(dt.from_numpy(g.numpy()))
    else:  # sum().backward() hands relu a broadcast (non-contiguous) gradient
        torch.relu(xt).sum().backward()
        dt.relu(xd).sum().backward()
    np.testing.assert_array_equal(xd.grad.numpy(), xt.grad.numpy())
