"""disttensor.fft against torch.fft (torch 2.13, CPU): values, gradients (real and complex inputs), dtypes,
n/s padding and trimming, norms, errors, out=, fftfreq/rfftfreq, fftshift/ifftshift, and the CuPy path
through tests/fake_cupy.py."""
import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.fft as F

RNG = np.random.default_rng(20261122)
NORMS = (None, "backward", "forward", "ortho")
DTYPES = {"float32": (np.float32, np.complex64), "float64": (np.float64, np.complex128)}
# real input -> real/complex transforms; complex inputs are valid for all but the r2c ones
ONE_D = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
REAL_ONLY = ("rfft", "ihfft", "rfft2", "ihfft2", "rfftn", "ihfftn")
N_D = ("fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn")
TWO_D = ("fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2")


def _kinds(names):
    """(name, complex input?) pairs: complex inputs for every transform that takes them."""
    return [pytest.param(n, c, id=f"{n}-{'complex' if c else 'real'}") for n in names for c in (False, True)
            if not (c and n in REAL_ONLY)]


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy()
    return t.detach().numpy()


def _close(d, t, dtype, what=""):
    """Values and dtype of disttensor's `d` against torch's `t`, with a tolerance suited to the dtype (FFT
    errors grow with the magnitude of the result, so atol scales with it)."""
    a, b = _np(d), _np(t)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    tol = 2e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def _input(shape, dtype, cplx):
    rd, cd = DTYPES[dtype]
    x = RNG.standard_normal(shape)
    if cplx:
        x = (x + 1j * RNG.standard_normal(shape)).astype(cd)
    else:
        x = x.astype(rd)
    return x


def _pair(x):
    return torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)


def _upstream(ty):
    """A random upstream gradient (complex for complex outputs): y.backward(G) is the gradient of the real
    loss Re(sum(conj(G) * y)) under torch's convention."""
    shape = tuple(ty.shape)
    g = RNG.standard_normal(shape)
    if ty.is_complex():
        g = g + 1j * RNG.standard_normal(shape)
    return g.astype(_np(ty).dtype)


def _check(fname, x, dtype, grad=True, **kw):
    tx, dx = _pair(x)
    ty = getattr(torch.fft, fname)(tx, **kw)
    dy = getattr(F, fname)(dx, **kw)
    what = f"{fname}({x.dtype}, {x.shape}, {kw})"
    _close(dy, ty, dtype, what)
    if grad:
        g = _upstream(ty)
        ty.backward(torch.tensor(g))
        dy.backward(dt.tensor(g))
        _close(dx.grad, tx.grad, dtype, "grad of " + what)


# ------------------------------------------------------------------------------------ one-dimensional

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname, cplx", _kinds(ONE_D))
def test_one_dim_values_and_grads(fname, cplx, dtype):
    for length in (7, 8):                       # odd and even signal lengths
        x = _input((3, length), dtype, cplx)
        for n in (None, 1, 5, 8, 11, 16):       # trimming and zero-padding, odd and even n
            if n is None and fname in ("irfft", "hfft") and length == 1:
                continue
            for norm in NORMS:
                _check(fname, x, dtype, n=n, norm=norm)
        # another dim, of a 3-d input
        x3 = _input((4, 5, 6), dtype, cplx)
        _check(fname, x3, dtype, dim=1)
        _check(fname, x3, dtype, n=9, dim=-3, norm="ortho")


@pytest.mark.parametrize("fname", ONE_D)
def test_one_dim_strided_input(fname):
    x = _input((6, 9), "float64", fname not in REAL_ONLY)
    tx, dx = torch.tensor(x), dt.tensor(x)
    _close(getattr(F, fname)(dx.t(), dim=0), getattr(torch.fft, fname)(tx.t(), dim=0), "float64")
    _close(getattr(F, fname)(dx[:, ::2]), getattr(torch.fft, fname)(tx[:, ::2]), "float64")


# ---------------------------------------------------------------------------------- n-dimensional

S_DIM = [(None, None), ((5, 6), None), ((3, -1, 8), None), ((7,), None), (None, (0, 2)), (None, 1),
         ((4, 7), (2, 0)), ((6, 3), (-1, -2)), ((9,), (1,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname, cplx", _kinds(N_D))
def test_n_dim_values_and_grads(fname, cplx, dtype):
    x = _input((4, 5, 6), dtype, cplx)
    for s, dim in S_DIM:
        for norm in NORMS:
            kw = {"s": s, "norm": norm}
            if dim is not None:
                kw["dim"] = dim
            _check(fname, x, dtype, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname, cplx", _kinds(TWO_D))
def test_two_dim_values_and_grads(fname, cplx, dtype):
    for shape in ((5, 6), (2, 7, 4)):
        x = _input(shape, dtype, cplx)
        for s in (None, (3, 9), (8, -1)):
            for norm in NORMS:
                _check(fname, x, dtype, s=s, norm=norm)
    x = _input((3, 4, 5), dtype, cplx)
    _check(fname, x, dtype, dim=(0, 2))
    _check(fname, x, dtype, s=(6, 5), dim=(2, 0), norm="forward")


def test_fftn_all_dims_of_a_4d_tensor():
    x = _input((2, 3, 4, 5), "float64", True)
    for fname in ("fftn", "ifftn", "irfftn", "hfftn"):
        _check(fname, x, "float64")
    x = _input((2, 3, 4, 5), "float64", False)
    for fname in ("rfftn", "ihfftn"):
        _check(fname, x, "float64")


def test_fftn_zero_dim_and_empty_dims():
    x = np.array(2.5)
    _check("fftn", x, "float64")
    _check("ifftn", x, "float64")
    x = _input((3, 4), "float64", True)
    _check("fftn", x, "float64", dim=())


# ---------------------------------------------------------------------- gradients through real losses

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname", ("fft", "ifft", "rfft", "ihfft", "fft2", "rfft2", "fftn", "rfftn", "ihfftn"))
def test_grad_of_weighted_abs_loss_real_input(fname, dtype):
    """The usual spectral loss: sum(w * |fft(x)|) with random weights, for a real input."""
    x = _input((4, 6), dtype, False)
    for kw in ({}, {"norm": "ortho"}):
        tx, dx = _pair(x)
        ty = getattr(torch.fft, fname)(tx, **kw)
        dy = getattr(F, fname)(dx, **kw)
        w = RNG.standard_normal(tuple(ty.shape)).astype(x.dtype)
        (ty.abs() * torch.tensor(w)).sum().backward()
        (dy.abs() * dt.tensor(w)).sum().backward()
        _close(dx.grad, tx.grad, dtype, fname)


@pytest.mark.parametrize("fname", ("irfft", "hfft", "irfft2", "irfftn", "hfftn"))
def test_grad_of_weighted_loss_complex_to_real(fname):
    x = _input((4, 5), "float64", True)
    tx, dx = _pair(x)
    ty = getattr(torch.fft, fname)(tx)
    dy = getattr(F, fname)(dx)
    w = RNG.standard_normal(tuple(ty.shape))
    ((ty * torch.tensor(w)).sum() + (ty ** 2).sum()).backward()
    ((dy * dt.tensor(w)).sum() + (dy ** 2).sum()).backward()
    _close(dx.grad, tx.grad, "float64", fname)


def test_grad_of_abs_loss_complex_input():
    x = _input((3, 8), "float64", True)
    for fname in ("fft", "ifft", "fft2", "fftn"):
        tx, dx = _pair(x)
        getattr(torch.fft, fname)(tx, norm="forward").abs().sum().backward()
        getattr(F, fname)(dx, norm="forward").abs().sum().backward()
        _close(dx.grad, tx.grad, "float64", fname)


def test_round_trips_and_chains():
    x = _input((3, 10), "float64", False)
    tx, dx = _pair(x)
    ty = torch.fft.irfft(torch.fft.rfft(tx, n=12) * 2, n=10)
    dy = F.irfft(F.rfft(dx, n=12) * 2, n=10)
    _close(dy, ty, "float64")
    w = RNG.standard_normal((3, 10))
    (ty * torch.tensor(w)).sum().backward()
    (dy * dt.tensor(w)).sum().backward()
    _close(dx.grad, tx.grad, "float64")
    # exact inverse pairs
    np.testing.assert_allclose(_np(F.ifft(F.fft(dt.tensor(x)))).real, x, atol=1e-12)
    np.testing.assert_allclose(_np(F.irfftn(F.rfftn(dt.tensor(x)), s=x.shape)), x, atol=1e-12)
    np.testing.assert_allclose(_np(F.hfft(F.ihfft(dt.tensor(x)), n=10)), x, atol=1e-12)


def test_no_grad_and_input_untouched():
    x = _input((4, 6), "float64", True)
    dx = dt.tensor(x, requires_grad=True)
    with dt.no_grad():
        y = F.fftn(dx, s=(5, 7))
    assert not y.requires_grad and y.grad_fn is None
    y = F.fft(dx)
    assert y.requires_grad and y.grad_fn is not None
    np.testing.assert_array_equal(_np(dx), x)
    assert F.GRADIENT_NOT_IMPLEMENTED == ()


# -------------------------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("fname", ONE_D + ("fftn", "rfft2", "ihfftn", "hfft2"))
@pytest.mark.parametrize("src", ["int64", "int32", "uint8", "bool", "float32", "float64"])
def test_dtype_promotion(fname, src):
    x = (np.arange(12).reshape(3, 4) % 5).astype(src)
    _close(getattr(F, fname)(dt.tensor(x)), getattr(torch.fft, fname)(torch.tensor(x)),
           "float64" if src == "float64" else "float32", fname)


def test_integer_input_follows_default_dtype():
    x = np.arange(6)
    old = dt.get_default_dtype()
    dt.set_default_dtype(dt.float64)
    try:
        assert F.fft(dt.tensor(x)).dtype == dt.complex128
        assert F.irfft(dt.tensor(x)).dtype == dt.float64
    finally:
        dt.set_default_dtype(old)
    assert F.fft(dt.tensor(x)).dtype == dt.complex64
    assert F.rfft(dt.tensor(x, dtype=dt.float64)).dtype == dt.complex128
    assert F.ihfft(dt.tensor(x, dtype=dt.float32)).dtype == dt.complex64
    assert F.hfft(dt.tensor(x, dtype=dt.complex128)).dtype == dt.float64


@pytest.mark.parametrize("fname", ("fft", "rfft", "irfft", "fftn", "ihfft2"))
@pytest.mark.parametrize("low, name", [(dt.float16, "Half"), (dt.bfloat16, "BFloat16")])
def test_half_precision_is_unsupported_on_cpu(fname, low, name):
    with pytest.raises(RuntimeError, match=f"Unsupported dtype {name}"):
        getattr(F, fname)(dt.ones(4, 4, dtype=low))
    with pytest.raises(RuntimeError, match=f"Unsupported dtype {name}"):   # torch's behaviour on CPU too
        getattr(torch.fft, fname)(torch.ones(4, 4, dtype=getattr(torch, str(low).split(".")[1])))


@pytest.mark.parametrize("fname, torch_name", [("rfft", "ComplexFloat"), ("ihfft", "ComplexFloat"),
                                               ("rfftn", "ComplexFloat"), ("rfft2", "ComplexFloat"),
                                               ("ihfftn", "ComplexFloat")])
def test_real_transforms_reject_complex_input(fname, torch_name):
    with pytest.raises(RuntimeError, match=f"{fname} expects a real input tensor, but got {torch_name}"):
        getattr(F, fname)(dt.ones(4, 4, dtype=dt.complex64))
    with pytest.raises(RuntimeError, match="expects a real input tensor"):
        getattr(F, fname)(dt.ones(4, 4, dtype=dt.complex128))


# -------------------------------------------------------------------------------------------- errors

def _both_raise(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn(torch)
    with pytest.raises(exc, match=match):
        fn(dt)


def test_errors_like_torch():
    def ones(m, *shape, **kw):
        return m.ones(*shape, **kw)
    _both_raise(RuntimeError, r"Invalid number of data points \(0\) specified", lambda m: m.fft.fft(ones(m, 8), n=0))
    _both_raise(RuntimeError, r"Invalid number of data points \(-1\) specified",
                lambda m: m.fft.rfft(ones(m, 8), n=-1))
    _both_raise(RuntimeError, r"Invalid number of data points \(0\) specified", lambda m: m.fft.irfft(ones(m, 1)))
    _both_raise(RuntimeError, r"Invalid number of data points \(0\) specified", lambda m: m.fft.fft(ones(m, 0)))
    _both_raise(RuntimeError, r"Invalid number of data points \(-2\) specified",
                lambda m: m.fft.fftn(ones(m, 4, 4), s=(-2, 2)))
    _both_raise(IndexError, r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)",
                lambda m: m.fft.fft(ones(m, 8), dim=1))
    _both_raise(IndexError, r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 5\)",
                lambda m: m.fft.fftn(ones(m, 4, 4), dim=(0, 5)))
    _both_raise(IndexError, r"Dimension out of range", lambda m: m.fft.fft2(ones(m, 4)))
    _both_raise(IndexError, r"Dimension specified as -1 but tensor has no dimensions",
                lambda m: m.fft.fft(m.tensor(1.0)))
    _both_raise(RuntimeError, "FFT dims must be unique", lambda m: m.fft.fftn(ones(m, 3, 4), dim=(0, -2)))
    _both_raise(RuntimeError, "When given, dim and shape arguments must have the same length",
                lambda m: m.fft.fftn(ones(m, 3, 4), s=(3,), dim=(0, 1)))
    _both_raise(RuntimeError, "Got shape with 3 values but input tensor only has 2 dimensions",
                lambda m: m.fft.rfftn(ones(m, 3, 4), s=(2, 3, 4)))
    _both_raise(RuntimeError, "rfftn must transform at least one axis", lambda m: m.fft.rfftn(ones(m, 3, 4), dim=()))
    _both_raise(RuntimeError, 'Invalid normalization mode: "foo"', lambda m: m.fft.fft(ones(m, 4), norm="foo"))
    _both_raise(TypeError, "must be int", lambda m: m.fft.fft(ones(m, 4), dim=0.5))
    _both_raise(TypeError, "must be int", lambda m: m.fft.fftfreq(5.0))
    _both_raise(RuntimeError, "fftfreq requires a floating point or complex dtype",
                lambda m: m.fft.fftfreq(5, dtype=m.int64))
    _both_raise(RuntimeError, "negative dimension -1", lambda m: m.fft.rfftfreq(-4))
    _both_raise(RuntimeError, "negative dimension -1", lambda m: m.fft.fftfreq(-1))
    _both_raise(IndexError, "Dimension out of range", lambda m: m.fft.fftshift(ones(m, 4, 4), dim=(0, 5)))
    with pytest.raises(TypeError, match="must be Tensor"):
        F.fft([1.0, 2.0])


def test_out_argument():
    x = _input((4, 6), "float32", False)
    o = dt.empty(2, dtype=dt.complex64)
    r = F.fft(dt.tensor(x), out=o)
    assert r is o and tuple(o.shape) == (4, 6)
    _close(o, torch.fft.fft(torch.tensor(x)), "float32")
    o = dt.empty(4, 10)
    F.irfft(dt.tensor(x), out=o)
    _close(o, torch.fft.irfft(torch.tensor(x)), "float32")
    with pytest.raises(RuntimeError):
        F.fft(dt.tensor(x), out=dt.empty(4, 6))          # a complex result into a real tensor
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        F.fft(dt.tensor(x, requires_grad=True), out=dt.empty(4, 6, dtype=dt.complex64))


# ------------------------------------------------------------------------------------ freq and shift

@pytest.mark.parametrize("n", [0, 1, 2, 5, 6, 17])
@pytest.mark.parametrize("d", [1.0, 0.5, 0.1, 3])
def test_fftfreq_rfftfreq(n, d):
    for name in ("fftfreq", "rfftfreq"):
        for dtype in (None, "float64", "float32"):
            kw = {} if dtype is None else {"dtype": getattr(dt, dtype)}
            tkw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
            a = getattr(F, name)(n, d, **kw)
            b = getattr(torch.fft, name)(n, d, **tkw)
            assert a.dtype.name == str(b.dtype).split(".")[1]
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-7 if dtype == "float64" else 1e-6, atol=0)


def test_fftfreq_options():
    f = F.fftfreq(6, requires_grad=True)
    assert f.requires_grad and f.is_leaf and f.device.type == "cpu"
    o = dt.empty(3, dtype=dt.float64)
    r = F.rfftfreq(8, 2.0, out=o)
    assert r is o and o.dtype == dt.float64
    np.testing.assert_allclose(_np(o), _np(torch.fft.rfftfreq(8, 2.0, dtype=torch.float64)))
    old = dt.get_default_dtype()
    dt.set_default_dtype(dt.float64)
    try:
        assert F.fftfreq(4).dtype == dt.float64
    finally:
        dt.set_default_dtype(old)


@pytest.mark.parametrize("shape", [(7,), (8,), (3, 4), (5, 6, 3)])
@pytest.mark.parametrize("dim", [None, 0, -1, (0,), (-1, 0)])
def test_fftshift_ifftshift(shape, dim):
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    for name in ("fftshift", "ifftshift"):
        tx, dx = _pair(x)
        ty = getattr(torch.fft, name)(tx, dim=dim)
        dy = getattr(F, name)(dx, dim=dim)
        np.testing.assert_array_equal(_np(dy), _np(ty))
        w = RNG.standard_normal(shape)
        (ty * torch.tensor(w)).sum().backward()
        (dy * dt.tensor(w)).sum().backward()
        np.testing.assert_allclose(_np(dx.grad), _np(tx.grad))
    # integer and complex inputs keep their dtype; ifftshift undoes fftshift
    xi = dt.tensor(x.astype(np.int64))
    assert F.fftshift(xi, dim=dim).dtype == dt.int64
    np.testing.assert_array_equal(_np(F.ifftshift(F.fftshift(xi, dim=dim), dim=dim)), x)
    xc = _input(shape, "float32", True)
    np.testing.assert_array_equal(_np(F.fftshift(dt.tensor(xc), dim=dim)),
                                  _np(torch.fft.fftshift(torch.tensor(xc), dim=dim)))


def test_fftshift_of_fftfreq_is_sorted():
    for n in (5, 6):
        f = _np(F.fftshift(F.fftfreq(n)))
        assert np.all(np.diff(f) > 0)


# ----------------------------------------------------------------------------- the CuPy path (fake)

def test_cuda_path_through_fake_cupy():
    """Every transform on a (fake) CUDA tensor: stays on the device, same values and gradients as on CPU;
    the fake raises if any NumPy function is applied to a device array."""
    from tests import fake_cupy
    undo = fake_cupy.install()
    try:
        xr = _input((4, 6), "float32", False)
        xc = _input((4, 6), "float32", True)
        cases = [(name, xr) for name in ONE_D + N_D + TWO_D] + \
                [(name, xc) for name in ONE_D + N_D + TWO_D if name not in REAL_ONLY]
        for name, x in cases:
            kw = {"norm": "ortho"}
            kw.update({"n": 9} if name in ONE_D else {"s": (3, 7)})
            g_ref = None
            outs = []
            for device in ("cpu", "cuda"):
                t = dt.tensor(x, device=device, requires_grad=True)
                y = getattr(F, name)(t, **kw)
                assert y.device.type == device, name
                g = _upstream(torch.empty(tuple(y.shape), dtype=torch.complex64 if y.is_complex() else
                                          torch.float32))
                g_ref = g if g_ref is None else g_ref
                y.backward(dt.tensor(g_ref, device=device))
                assert t.grad.device.type == device
                outs.append((y.cpu(), t.grad.cpu()))
            for a, b in zip(outs[0], outs[1]):
                np.testing.assert_allclose(_np(b), _np(a), rtol=1e-5, atol=1e-5, err_msg=name)
        f = F.fftfreq(5, device="cuda")
        assert f.device.type == "cuda"
        s = F.fftshift(dt.arange(6, device="cuda"))
        assert s.device.type == "cuda"
        np.testing.assert_array_equal(_np(s.cpu()), [3, 4, 5, 0, 1, 2])
    finally:
        undo()
