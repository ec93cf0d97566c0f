"""Complex numbers against PyTorch 2.13: real/imag/view_as_real/view_as_complex views, conj, angle, complex,
polar, and the conjugate (Wirtinger) convention of every backward that multiplies by a derivative."""
import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")

CDT = ["complex64", "complex128"]
TOL = {"complex64": dict(rtol=2e-4, atol=2e-5), "complex128": dict(rtol=1e-9, atol=1e-11),
       "float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


def _arr(rng, shape, dtype, lo=-1.5, hi=1.5):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.asarray(rng.uniform(lo, hi, shape) + 1j * rng.uniform(lo, hi, shape)).astype(dtype)
    return np.asarray(rng.uniform(lo, hi, shape)).astype(dtype)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def _pair(arrays):
    d = [dt.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    p = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    return d, p


def _check(fn, arrays, tol_dtype, upstream=True, seed=3):
    """fn(lib, *leaves) on both libraries: values and dtypes, then the gradients of every leaf for a random
    upstream gradient (complex where the output is complex)."""
    d, p = _pair(arrays)
    yd, yp = fn(dt, *d), fn(torch, *p)
    assert str(yd.dtype).split(".")[-1] == str(yp.dtype).split(".")[-1]
    assert tuple(yd.shape) == tuple(yp.shape)
    tol = TOL[tol_dtype]
    np.testing.assert_allclose(_np(yd), _np(yp), **tol)
    rng = np.random.default_rng(seed)
    g = _arr(rng, tuple(yp.shape), yp.dtype.__repr__().split(".")[-1]) if upstream else None
    if g is None:
        yd.sum().backward() if yd.dtype.is_floating_point else yd.real.sum().backward()
        yp.sum().backward() if yp.dtype.is_floating_point else yp.real.sum().backward()
    else:
        yd.backward(dt.from_numpy(g.copy()))
        yp.backward(torch.from_numpy(g.copy()))
    for i, (a, b) in enumerate(zip(d, p)):
        assert (a.grad is None) == (b.grad is None), f"leaf {i}"
        if b.grad is not None:
            assert a.grad.dtype == getattr(dt, str(b.grad.dtype).split(".")[-1]), f"grad {i} dtype"
            np.testing.assert_allclose(_np(a.grad), _np(b.grad), err_msg=f"grad of leaf {i}",
                                       rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


# ---- unary ops with complex inputs -------------------------------------------------------------------------
UNARY = {
    "exp": lambda L, z: L.exp(z), "log": lambda L, z: L.log(z), "sqrt": lambda L, z: L.sqrt(z),
    "tanh": lambda L, z: L.tanh(z), "sigmoid": lambda L, z: L.sigmoid(z), "sin": lambda L, z: L.sin(z),
    "cos": lambda L, z: L.cos(z), "tan": lambda L, z: L.tan(z), "sinh": lambda L, z: L.sinh(z),
    "cosh": lambda L, z: L.cosh(z), "asin": lambda L, z: L.asin(z), "acos": lambda L, z: L.acos(z),
    "atan": lambda L, z: L.atan(z), "asinh": lambda L, z: L.asinh(z), "atanh": lambda L, z: L.atanh(z),
    "rsqrt": lambda L, z: L.rsqrt(z), "log1p": lambda L, z: L.log1p(z), "expm1": lambda L, z: L.expm1(z),
    "log2": lambda L, z: L.log2(z), "log10": lambda L, z: L.log10(z), "square": lambda L, z: L.square(z),
    "reciprocal": lambda L, z: L.reciprocal(z), "neg": lambda L, z: -z, "pow_int": lambda L, z: z ** 3,
    "pow_float": lambda L, z: z ** 2.5, "pow_complex": lambda L, z: z ** (0.5 + 1j),
    "rpow": lambda L, z: 2.0 ** z, "mul_scalar": lambda L, z: z * (2 - 3j), "div_scalar": lambda L, z: (1 + 2j) / z,
    "add_alpha": lambda L, z: L.add(z, z * z, alpha=2 - 1j), "conj": lambda L, z: L.conj(z) * z * z,
    "conj_physical": lambda L, z: L.conj_physical(z) * z, "sgn_mul": lambda L, z: z * 1,
    "abs": lambda L, z: L.abs(z), "angle": lambda L, z: L.angle(z), "real": lambda L, z: (z * z).real,
    "imag": lambda L, z: (z * z).imag, "view_as_real": lambda L, z: L.view_as_real(z * z),
    "prod": lambda L, z: z.prod(1), "prod_all": lambda L, z: z.prod(), "cumprod": lambda L, z: z.cumprod(0),
    "sum": lambda L, z: (z * z).sum(0), "mean": lambda L, z: (z * z).mean(),
    "abs_sq_loss": lambda L, z: (L.exp(z).abs() ** 2).sum(), "real_loss": lambda L, z: L.tanh(z).real.sum(),
    "to_complex128": lambda L, z: (z * z).to(L.complex128),
}


@pytest.mark.parametrize("dtype", CDT)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_complex(name, dtype):
    rng = np.random.default_rng(0)
    _check(UNARY[name], [_arr(rng, (3, 4), dtype)], dtype)


def test_abs_angle_at_zero():
    z = np.array([0j, 1 + 1j, -2 + 0j], np.complex128)
    _check(lambda L, t: L.abs(t), [z], "complex128")
    _check(lambda L, t: L.angle(t), [z], "complex128")


# ---- binary ops: complex/complex with broadcasting, real/complex mixes ---------------------------------------
BINARY = {
    "mul": lambda L, a, b: a * b, "div": lambda L, a, b: a / b, "add": lambda L, a, b: a + b,
    "sub": lambda L, a, b: a - b, "pow": lambda L, a, b: a ** b, "lerp": lambda L, a, b: L.lerp(a, b, 0.3),
    "addcmul": lambda L, a, b: L.addcmul(a, a, b, value=2), "addcdiv": lambda L, a, b: L.addcdiv(a, a, b),
}


@pytest.mark.parametrize("dtype", CDT)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_complex_broadcast(name, dtype):
    rng = np.random.default_rng(1)
    _check(BINARY[name], [_arr(rng, (3, 4), dtype, 0.3, 1.5), _arr(rng, (4,), dtype, 0.3, 1.5)], dtype)


@pytest.mark.parametrize("name", ["mul", "div", "add", "sub", "pow"])
@pytest.mark.parametrize("order", ["real_first", "complex_first"])
def test_binary_real_complex_mix(name, order):
    rng = np.random.default_rng(2)
    r, c = _arr(rng, (3, 4), "float32", 0.3, 1.5), _arr(rng, (4,), "complex64", 0.3, 1.5)
    _check(BINARY[name], [r, c] if order == "real_first" else [c, r], "complex64")


def test_real_times_complex_scalar_gets_real_grad():
    _check(lambda L, x: x * (1 + 2j), [np.linspace(-1, 1, 5)], "float64")
    _check(lambda L, x: x.to(L.complex128) * (1 + 2j), [np.linspace(-1, 1, 5)], "float64")


# ---- matmul family and linalg ----------------------------------------------------------------------------
MATMUL = {
    "mm": ((3, 4), (4, 5), lambda L, a, b: a @ b),
    "bmm": ((2, 3, 4), (2, 4, 5), lambda L, a, b: L.bmm(a, b)),
    "batched_2d": ((2, 3, 4), (4, 5), lambda L, a, b: a @ b),
    "mv": ((3, 4), (4,), lambda L, a, b: a @ b),
    "vm": ((4,), (4, 5), lambda L, a, b: a @ b),
    "dot": ((4,), (4,), lambda L, a, b: L.dot(a, b)),
    "vdot": ((4,), (4,), lambda L, a, b: L.vdot(a, b)),
    "outer": ((3,), (4,), lambda L, a, b: L.outer(a, b)),
    "einsum": ((2, 3), (3, 4), lambda L, a, b: L.einsum("ij,jk->ik", a, b)),
    "cross": ((2, 3), (2, 3), lambda L, a, b: L.linalg.cross(a, b)),
    "solve": ((3, 3), (3, 2), lambda L, a, b: L.linalg.solve(a + 3 * L.eye(3, dtype=a.dtype), b)),
}


@pytest.mark.parametrize("dtype", CDT)
@pytest.mark.parametrize("name", sorted(MATMUL))
def test_matmul_family_complex(name, dtype):
    sa, sb, fn = MATMUL[name]
    rng = np.random.default_rng(4)
    _check(fn, [_arr(rng, sa, dtype), _arr(rng, sb, dtype)], dtype)


@pytest.mark.parametrize("dtype", CDT)
def test_inv_det_complex(dtype):
    rng = np.random.default_rng(5)
    a = _arr(rng, (3, 3), dtype) + 3 * np.eye(3, dtype=dtype)
    _check(lambda L, t: L.linalg.inv(t), [a], dtype)
    _check(lambda L, t: L.linalg.det(t), [a], dtype)


# ---- real/imag/view_as_real/view_as_complex are views ------------------------------------------------------
def test_real_imag_views_write_through():
    rng = np.random.default_rng(6)
    z0 = _arr(rng, (3, 4), "complex64")
    for L in (dt, torch):
        z = L.from_numpy(z0.copy())
        v0 = z._version
        z.real.mul_(2)
        assert z._version > v0
        z.imag[0] = 7
        z.imag.add_(1)
        np.testing.assert_allclose(_np(z).real, 2 * z0.real, rtol=1e-6)
        np.testing.assert_allclose(_np(z).imag[0], 8)
        np.testing.assert_allclose(_np(z).imag[1:], z0.imag[1:] + 1, rtol=1e-6)
        z.real = L.zeros(3, 4)            # the property setter copies into the view
        assert np.all(_np(z).real == 0)
        r = L.view_as_real(z)
        assert tuple(r.shape) == (3, 4, 2) and r.dtype == L.float32
        r[..., 1] = 5
        assert np.all(_np(z).imag == 5)
        c = L.view_as_complex(r)
        c.mul_(1j)
        assert np.all(_np(z).real == -5) and np.all(_np(z).imag == 0)


def test_views_of_real_and_complex():
    x = dt.randn(3, 4)
    assert dt.real(x) is x and x.real is x and x.conj() is x and not x.is_complex()
    with pytest.raises(RuntimeError):
        x.imag
    with pytest.raises(RuntimeError):
        dt.view_as_real(x)
    z = dt.randn(3, 4, dtype=dt.complex128)
    assert z.is_complex() and dt.is_complex(z) and not dt.is_complex(x)
    assert z.real._base is z and z.imag.dtype == dt.float64
    assert not z.conj().is_conj() and z.resolve_conj() is z and not dt.is_conj(z)
    r = dt.view_as_real(z)
    assert np.shares_memory(r.numpy(), z.numpy()) and np.shares_memory(dt.view_as_complex(r).numpy(), z.numpy())
    # strided views like torch: a slice along a leading dim of a (.., 2) tensor is fine
    f = dt.randn(4, 3, 2)
    c = dt.view_as_complex(f[::2])
    assert tuple(c.shape) == (2, 3) and np.shares_memory(c.numpy(), f.numpy())
    with pytest.raises(RuntimeError):
        dt.view_as_complex(dt.randn(3, 4))
    with pytest.raises(RuntimeError):
        dt.view_as_complex(dt.randn(2, 4).t())
    with pytest.raises(RuntimeError):
        dt.view_as_complex(dt.randn(3, 2, dtype=dt.int64))
    s = dt.view_as_real(dt.tensor(1 + 2j))
    assert s.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_view_as_complex_and_back_grads(dtype):
    rng = np.random.default_rng(7)
    cdt = "complex64" if dtype == "float32" else "complex128"
    _check(lambda L, f: L.view_as_complex(f) * L.view_as_complex(f), [_arr(rng, (3, 4, 2), dtype)], cdt)
    _check(lambda L, f: L.view_as_real(L.exp(L.view_as_complex(f))), [_arr(rng, (3, 4, 2), dtype)], dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_complex_and_polar(dtype):
    rng = np.random.default_rng(8)
    cdt = "complex64" if dtype == "float32" else "complex128"
    a, b = _arr(rng, (3, 4), dtype), _arr(rng, (4,), dtype)
    _check(lambda L, x, y: L.complex(x, y), [a, b], cdt)
    _check(lambda L, x, y: L.polar(x, y) ** 2, [np.abs(a) + 0.1, b], cdt)
    _check(lambda L, x, y: (L.complex(x, y) ** 2).abs(), [a, b], dtype)
    with pytest.raises(RuntimeError):
        dt.complex(dt.randn(2), dt.randn(2, dtype=dt.float64))
    with pytest.raises(RuntimeError):
        dt.complex(dt.ones(2, dtype=dt.int64), dt.ones(2, dtype=dt.int64))


def test_real_dtypes_of_angle_and_abs():
    for L in (dt, torch):
        x = L.tensor([-1.0, 0.0, 2.0, float("nan")])
        a = L.angle(x)
        np.testing.assert_allclose(_np(a), [np.pi, 0, 0, np.nan])
        assert str(L.angle(L.tensor([1, -2])).dtype).endswith("float32")
        assert str(L.abs(L.ones(2, dtype=L.complex128)).dtype).endswith("float64")
    x = dt.tensor([-1.0, 2.0], requires_grad=True)
    dt.angle(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_grad_through_real_and_imag_views():
    rng = np.random.default_rng(9)
    z = _arr(rng, (3, 4), "complex128")
    _check(lambda L, t: t.real * 2 + t.imag ** 2, [z], "complex128")
    _check(lambda L, t: L.view_as_real(t)[..., 1] * L.view_as_real(t)[..., 0], [z], "complex128")
    _check(lambda L, t: L.conj(t).imag * t.real, [z], "complex128")


def test_inplace_write_through_real_view_with_grad():
    # a write through .real of a non-leaf complex tensor: the base's history includes it (torch's CopySlices)
    rng = np.random.default_rng(10)
    z0, w0 = _arr(rng, (3, 4), "complex128"), _arr(rng, (3, 4), "float64")

    def fn(L, z, w):
        y = z * 1
        y.real.mul_(w)
        y.imag[0] = w[0] * 3
        return y * y

    _check(fn, [z0, w0], "complex128")


# ---- in-place writes through real views of a complex base (and complex views of a real base) under autograd ----
# The base's history records the write (torch's CopySlices); positions of a real view count the real numbers of
# view_as_real(base), so a write to .real leaves the gradient of the imaginary parts alone.
VIEWS = {
    "real": lambda L, y: y.real,
    "imag": lambda L, y: y.imag,
    "var_re": lambda L, y: L.view_as_real(y)[..., 0],
    "var_im": lambda L, y: L.view_as_real(y)[..., 1],
    "var_all": lambda L, y: L.view_as_real(y),
    "real_strided": lambda L, y: y.real[1:, ::2],
    "imag_of_slice": lambda L, y: y[1].imag,
}
WRITES = {
    "add_": lambda v, w: v.add_(w),
    "mul_": lambda v, w: v.mul_(w),
    "copy_": lambda v, w: v.copy_(w),
    "fill_": lambda v, w: v.fill_(2.5),
    "zero_": lambda v, w: v.zero_(),
    "setitem": lambda v, w: v.__setitem__(0, w[0] * 3),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_write_through_real_view_grads(view, write):
    rng = np.random.default_rng(11)
    z0 = _arr(rng, (3, 4), "complex128")

    def fn(L, z, w):
        y = z * 1
        v = VIEWS[view](L, y)
        ww = w[0, :v.shape[0]] if v.dim() == 1 else w[:v.shape[0], :v.shape[1]]   # a value shaped like v
        WRITES[write](v, ww.unsqueeze(-1) if v.dim() == 3 else ww)
        return y * y + v.sum()          # the base's new history and the written view's

    _check(fn, [z0, _arr(rng, (3, 4), "float64")], "complex128")


def test_write_through_real_view_of_complex64():
    rng = np.random.default_rng(12)

    def fn(L, z, w):
        y = z * 1
        L.view_as_real(y)[..., 1].mul_(w)
        return L.exp(y)

    _check(fn, [_arr(rng, (2, 3), "complex64"), _arr(rng, (2, 3), "float32")], "complex64")


def test_sibling_views_see_a_write_through_a_real_view():
    # views taken before the write are re-derived from the base's new history when next used
    rng = np.random.default_rng(13)

    def fn(L, z, w):
        y = z * 1
        re, im, pairs = y.real, y.imag, L.view_as_real(y)
        im.mul_(w)
        return re * im + pairs[..., 1] * 2 + y.abs()

    _check(fn, [_arr(rng, (3, 4), "complex128"), _arr(rng, (3, 4), "float64")], "float64")


def test_write_through_complex_view_of_real_base():
    rng = np.random.default_rng(14)

    def fn(L, f, w):
        y = f * 1
        c = L.view_as_complex(y)
        c.mul_(w)
        c[1] = w[0] * (1 - 2j)
        c.imag.add_(3)
        return y * y

    _check(fn, [_arr(rng, (3, 4, 2), "float64"), _arr(rng, (4,), "complex128")], "float64")


def test_setitem_through_view_broadcasts_value_grad():
    # the value's gradient has the shape of view[idx] (then is summed down to the value's shape)
    rng = np.random.default_rng(15)

    def fn(L, x, w):
        y = x * 1
        v = y[:, 1:]
        v[...] = w * 2
        v.real[0] = w[:1]
        return y * y

    _check(fn, [_arr(rng, (3, 4), "complex128"), _arr(rng, (3,), "float64")], "complex128")


# ---- a real input of a complex result gets the real part of the gradient (engine), without ComplexWarning ----
REAL_INTO_COMPLEX = {
    "setitem": lambda L, z, w: _setitem_copy(z, 0, w[0] * 2),
    "setitem_slice": lambda L, z, w: _setitem_copy(z, slice(1, None), w[1:]),
    "setitem_view": lambda L, z, w: _setitem_copy(z, slice(None), w, view=True),
}


def _setitem_copy(z, idx, value, view=False):
    y = z * 1
    (y[1:] if view else y)[idx] = value[1:] if view else value
    return y


@pytest.mark.parametrize("name", sorted(REAL_INTO_COMPLEX))
def test_real_value_written_into_complex_gets_real_grad(name):
    import warnings
    rng = np.random.default_rng(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the gradient is cut to its real part, not cast with ComplexWarning
        _check(lambda L, z, w: REAL_INTO_COMPLEX[name](L, z, w) * (1 + 2j),
               [_arr(rng, (3,), "complex128"), _arr(rng, (3,), "float64")], "complex128")


# ---- var / std / norms of complex inputs are real: sums of |z - mean|^2 and of |z|^p -------------------------
REAL_REDUCTIONS = {
    "var": lambda L, z: z.var(1), "var_all": lambda L, z: L.var(z), "std": lambda L, z: z.std(0),
    "std_all_c0": lambda L, z: L.std(z, correction=0), "var_keepdim": lambda L, z: z.var(1, keepdim=True),
    "var_mean": lambda L, z: L.var_mean(z, 0)[0], "std_mean": lambda L, z: L.std_mean(z, 1)[0],
    "var_mean_mean": lambda L, z: L.var_mean(z, 0)[1], "norm": lambda L, z: z.norm(),
    "norm_dim": lambda L, z: L.norm(z, dim=1), "norm_p1": lambda L, z: z.norm(1, dim=0),
    "norm_p3": lambda L, z: z.norm(3), "norm_inf": lambda L, z: z.norm(float("inf"), dim=1),
    "vector_norm": lambda L, z: L.linalg.vector_norm(z), "vector_norm_p": lambda L, z: L.linalg.vector_norm(z, 2.5, 1),
    "vector_norm_ninf": lambda L, z: L.linalg.vector_norm(z, float("-inf"), 0),
    "linalg_norm": lambda L, z: L.linalg.norm(z, dim=0), "matrix_fro": lambda L, z: L.linalg.matrix_norm(z),
    "matrix_1": lambda L, z: L.linalg.matrix_norm(z, 1), "matrix_inf": lambda L, z: L.linalg.matrix_norm(z, float("inf")),
}


@pytest.mark.parametrize("dtype", CDT)
@pytest.mark.parametrize("name", sorted(REAL_REDUCTIONS))
def test_var_std_norm_of_complex(name, dtype):
    rng = np.random.default_rng(17)
    _check(REAL_REDUCTIONS[name], [_arr(rng, (3, 4), dtype)], dtype)


def test_norm_inf_of_nan_has_zero_grad():
    x0 = np.array([np.nan, 1.0, -2.0, 0.0])
    _check(lambda L, x: x.norm(float("inf")), [x0], "float64")
    _check(lambda L, x: L.linalg.vector_norm(x, float("-inf")), [x0], "float64")


# ---- mH / H / adjoint: conjugate transposes -----------------------------------------------------------------
ADJOINTS = {
    "mH": lambda L, z: z.mH * (1 + 2j), "H": lambda L, z: z.H * (1 + 2j), "adjoint": lambda L, z: z.adjoint() * 1j,
    "torch_adjoint": lambda L, z: L.adjoint(z) @ z, "mH_matmul": lambda L, z: z @ z.mH,
}


@pytest.mark.parametrize("dtype", ["complex128", "float64"])
@pytest.mark.parametrize("name", sorted(ADJOINTS))
def test_conjugate_transposes(name, dtype):
    rng = np.random.default_rng(18)
    shape = (3, 2) if name == "H" else (2, 3, 2)
    _check(lambda L, z: ADJOINTS[name](L, z) if dtype[0] == "c" else ADJOINTS[name](L, z).real,
           [_arr(rng, shape, dtype)], dtype)


def test_conjugate_transposes_of_real_tensors_are_views():
    x = dt.zeros(2, 3)
    assert x.mH._base is x and x.H._base is x and x.adjoint()._base is x


@pytest.mark.parametrize("expr", ["x.mT", "x.mH", "x.H", "x.adjoint()", "L.adjoint(x)"])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_conjugate_transposes_errors(expr, shape):
    def run(L):
        x = L.zeros(shape, dtype=L.complex64)
        try:
            eval(expr, {"x": x, "L": L})
        except RuntimeError as e:
            return str(e)
        return None
    expected = run(torch)
    assert run(dt) == expected
    assert (expected is not None) == (len(shape) == 1 or expr == "x.H")


@pytest.mark.parametrize("expr", ["x.mT", "x.mH", "x.H", "x.adjoint()"])
def test_conjugate_transposes_of_0d_warn(expr):
    z = np.array(1 + 2j)
    res = []
    for L in (torch, dt):
        with pytest.warns(UserWarning, match="deprecated on 0-D tensors"):
            res.append(_np(eval(expr, {"x": L.from_numpy(z.copy())}).resolve_conj()))
    np.testing.assert_array_equal(res[1], res[0])


# ---- ord=0 norms count nonzeros: torch's backward gives no gradient (grad stays None, other paths still add) ---
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
@pytest.mark.parametrize("fn", [lambda L, x: L.linalg.vector_norm(x, 0), lambda L, x: L.linalg.vector_norm(x, 0, 1),
                                lambda L, x: x.norm(0), lambda L, x: L.norm(x, p=0, dim=0)])
def test_zero_norm_gives_no_gradient(fn, dtype):
    a = np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 3.0]]).astype(dtype)
    grads = []
    for L in (dt, torch):
        x = L.from_numpy(a.copy()).requires_grad_(True)
        y = fn(L, x)
        assert y.requires_grad and y.grad_fn is not None
        y.sum().backward()
        w = L.from_numpy(a.copy()).requires_grad_(True)
        (fn(L, w * 2).sum() + w.abs().sum()).backward()
        grads.append((x.grad, _np(w.grad)))
    assert grads[0][0] is None and grads[1][0] is None
    np.testing.assert_allclose(grads[0][1], grads[1][1])


@pytest.mark.parametrize("fn", ["rand", "randn"])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_random_complex_fills_both_parts_like_torch(fn, dtype):
    """torch.rand: both parts uniform in [0, 1); torch.randn: both parts normal with variance 1/2 (E|z|^2 = 1)."""
    n = 200_000
    dt.manual_seed(7)           # fixed draws: the statistical bounds below then hold every run
    torch.manual_seed(7)
    ours = getattr(dt, fn)(n, dtype=getattr(dt, dtype))
    ref = getattr(torch, fn)(n, dtype=getattr(torch, dtype))
    assert ours.dtype == getattr(dt, dtype) and ours.shape == (n,)
    for part in ("real", "imag"):
        a, b = getattr(ours, part).numpy(), getattr(ref, part).numpy()
        assert abs(a.mean() - b.mean()) < 0.01 and abs(a.var() - b.var()) < 0.01, (part, a.mean(), a.var())
        if fn == "rand":
            assert a.min() >= 0 and a.max() < 1
    assert abs(np.corrcoef(ours.real.numpy(), ours.imag.numpy())[0, 1]) < 0.01


def test_implicit_gradient_of_a_complex_scalar_raises_like_torch():
    for L in (dt, torch):
        z = (L.ones(2, dtype=L.complex64, requires_grad=True) * 2).sum()
        with pytest.raises(RuntimeError, match="only for real scalar outputs"):
            z.backward()
        with pytest.raises(RuntimeError, match="only for real scalar outputs"):
            L.autograd.grad(z, [z])
        z.backward(L.tensor(1 + 0j, dtype=L.complex64))     # an explicit gradient is fine
