"""Complex gradients of the linear-algebra ops against PyTorch 2.13 (conjugate Wirtinger convention), plus a
finite-difference check of the convention itself in complex128 (perturbing the real and the imaginary part of
each element), and disttensor's gradcheck, which does the same with torch's complex semantics.

The singular/eigen vectors of complex matrices are fixed only up to a phase per vector, so their losses are
phase invariant (|U|^2 weights, the reconstruction U diag(S) Vh), as in torch's own tests; losses that depend on
the phase raise torch's error in both libraries."""
import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")

CDT = ["complex64", "complex128"]
TOL = {"complex64": dict(rtol=2e-3, atol=2e-4), "complex128": dict(rtol=1e-8, atol=1e-10)}


def _c(rng, shape, dtype="complex128"):
    return np.asarray(rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(dtype)


def _wc(rng, shape, dtype="complex128"):
    """Well-conditioned square complex matrices."""
    return (_c(rng, shape) + 3 * np.eye(shape[-1])).astype(dtype)


def _hpd(rng, shape, dtype="complex128"):
    """Hermitian positive-definite matrices."""
    a = _c(rng, shape)
    return (a @ a.conj().swapaxes(-1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _herm(rng, shape, dtype="complex128"):
    a = _c(rng, shape)
    return (a + a.conj().swapaxes(-1, -2)).astype(dtype)


def _np(t):
    t = t.detach()
    return t.resolve_conj().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _loss(L, out, w):
    """A real loss from an output (complex or real) with fixed random weights of its dtype."""
    w = w.astype(np.dtype(str(out.dtype).split(".")[-1])) if out.is_complex() else w.real
    if out.is_complex():
        return (out * L.from_numpy(w)).real.sum()
    return (out * L.from_numpy(w.astype(np.dtype(str(out.dtype).split(".")[-1])))).sum()


def _compare(fn, arrays, dtype, seed=0):
    """fn(lib, *leaves) -> a tensor on both libraries: forward values, then the leaves' gradients of a weighted
    real loss of it."""
    d = [dt.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    p = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    yd, yp = fn(dt, *d), fn(torch, *p)
    assert str(yd.dtype).split(".")[-1] == str(yp.dtype).split(".")[-1]
    tol = TOL[dtype]
    np.testing.assert_allclose(_np(yd), _np(yp), **tol)
    w = _c(np.random.default_rng(seed), tuple(yp.shape))
    _loss(dt, yd, w).backward()
    _loss(torch, yp, w).backward()
    for i, (a, b) in enumerate(zip(d, p)):
        assert b.grad is not None and a.grad is not None, f"leaf {i}"
        assert str(a.grad.dtype).split(".")[-1] == str(b.grad.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(a.grad), _np(b.grad), err_msg=f"gradient of leaf {i}", **tol)


def _fd_check(fn, arrays, eps=1e-6, seed=1):
    """Finite differences of the real loss Re(sum(w * fn(A))) in the real and the imaginary direction of every
    element: PyTorch's convention makes the gradient dL/dRe + i dL/dIm."""
    w = None

    def loss(*xs):
        nonlocal w
        out = fn(dt, *xs)
        if w is None:
            w = _c(np.random.default_rng(seed), tuple(out.shape))
        return float(_loss(dt, out, w).item())

    leaves = [dt.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    loss(*leaves)
    out = fn(dt, *leaves)
    grads = dt.autograd.grad(_loss(dt, out, w), leaves)
    for k, a in enumerate(arrays):
        num = np.zeros(a.shape, np.complex128)
        for idx in np.ndindex(*a.shape):
            for step, unit in ((eps, 1), (eps * 1j, 1j)):
                xs = [x.copy() for x in arrays]
                xs[k][idx] += step
                fp = loss(*[dt.from_numpy(x) for x in xs])
                xs[k][idx] -= 2 * step
                fm = loss(*[dt.from_numpy(x) for x in xs])
                num[idx] += unit * (fp - fm) / (2 * eps)
        np.testing.assert_allclose(_np(grads[k]), num, rtol=1e-5, atol=1e-6, err_msg=f"input {k}")


def _recon(L, r):
    return (r.U * r.S[..., None, :].to(r.U.dtype)) @ r.Vh


def _abs2(x):
    return x.real * x.real + x.imag * x.imag  # |x|^2: invariant to the phase of singular/eigen vectors


# name -> (make(rng, dtype) -> arrays, fn(lib, *leaves))
CASES = {
    "inv": (lambda r, d: [_wc(r, (3, 3), d)], lambda L, a: L.linalg.inv(a)),
    "inv_batched": (lambda r, d: [_wc(r, (2, 3, 3), d)], lambda L, a: L.linalg.inv(a)),
    "det": (lambda r, d: [_wc(r, (3, 3), d)], lambda L, a: L.linalg.det(a)),
    "det_batched": (lambda r, d: [_wc(r, (2, 3, 3), d)], lambda L, a: L.linalg.det(a)),
    "slogdet_logabsdet": (lambda r, d: [_wc(r, (2, 3, 3), d)], lambda L, a: L.linalg.slogdet(a).logabsdet),
    "slogdet_sign": (lambda r, d: [_wc(r, (2, 3, 3), d)], lambda L, a: L.linalg.slogdet(a).sign),
    "slogdet_both": (lambda r, d: [_wc(r, (3, 3), d)], lambda L, a: (lambda s: s.sign * s.logabsdet)(L.slogdet(a))),
    "logdet": (lambda r, d: [_wc(r, (2, 3, 3), d)], lambda L, a: L.logdet(a)),
    "solve": (lambda r, d: [_wc(r, (3, 3), d), _c(r, (3, 2), d)], lambda L, a, b: L.linalg.solve(a, b)),
    "solve_vec_left_false": (lambda r, d: [_wc(r, (3, 3), d), _c(r, (2, 3), d)],
                             lambda L, a, b: L.linalg.solve(a, b, left=False)),
    "solve_triangular": (lambda r, d: [_wc(r, (3, 3), d), _c(r, (3, 2), d)],
                         lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True)),
    "cholesky": (lambda r, d: [_hpd(r, (3, 3), d)], lambda L, a: L.linalg.cholesky(a)),
    "cholesky_batched": (lambda r, d: [_hpd(r, (2, 4, 4), d)], lambda L, a: L.linalg.cholesky(a)),
    "cholesky_upper": (lambda r, d: [_hpd(r, (3, 3), d)], lambda L, a: L.linalg.cholesky(a, upper=True)),
    "cholesky_of_product": (lambda r, d: [_c(r, (3, 3), d)],
                            lambda L, a: L.linalg.cholesky(a @ a.mT.conj() + 3 * L.eye(3, dtype=a.dtype))),
    "cholesky_solve": (lambda r, d: [_c(r, (3, 2), d), _hpd(r, (3, 3), d)],
                       lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(a))),
    "cholesky_inverse_upper": (lambda r, d: [_hpd(r, (3, 3), d)],
                               lambda L, a: L.cholesky_inverse(L.linalg.cholesky(a, upper=True), upper=True)),
    "qr_Q": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: L.linalg.qr(a).Q),
    "qr_R": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: L.linalg.qr(a).R),
    "qr_square_batched": (lambda r, d: [_c(r, (2, 3, 3), d)], lambda L, a: (lambda q: q.Q @ q.R + q.Q)(L.linalg.qr(a))),
    "qr_wide": (lambda r, d: [_c(r, (3, 5), d)], lambda L, a: (lambda q: q.Q.sum(-1, keepdim=True) * q.R)(L.linalg.qr(a))),
    "svdvals": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: L.linalg.svdvals(a)),
    "svd_S": (lambda r, d: [_c(r, (3, 5), d)], lambda L, a: L.linalg.svd(a, full_matrices=False).S),
    "svd_recon_tall": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: _recon(L, L.linalg.svd(a, full_matrices=False))),
    "svd_recon_wide": (lambda r, d: [_c(r, (2, 3, 5), d)],
                       lambda L, a: _recon(L, L.linalg.svd(a, full_matrices=False))),
    "svd_U_abs2": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: _abs2(L.linalg.svd(a, full_matrices=False).U)),
    "svd_Vh_abs2": (lambda r, d: [_c(r, (3, 5), d)], lambda L, a: _abs2(L.linalg.svd(a, full_matrices=False).Vh)),
    "svd_all_parts": (lambda r, d: [_c(r, (3, 3), d)],
                      lambda L, a: (lambda s: _abs2(s.U) * s.S + _abs2(s.Vh).mT)(L.linalg.svd(a))),
    "svd_full_matrices_U": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: _abs2(L.linalg.svd(a).U[:, :3])),
    "svd_legacy_V": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: (lambda s: (s.U * s.S.to(s.U.dtype)) @ s.V.mT.conj())(
        L.svd(a))),
    "eigvalsh": (lambda r, d: [_herm(r, (3, 3), d)], lambda L, a: L.linalg.eigvalsh(a)),
    "eigh_values": (lambda r, d: [_herm(r, (2, 4, 4), d)], lambda L, a: L.linalg.eigh(a).eigenvalues),
    "eigh_vectors_abs2": (lambda r, d: [_herm(r, (3, 3), d)], lambda L, a: _abs2(L.linalg.eigh(a).eigenvectors)),
    "eigh_recon": (lambda r, d: [_herm(r, (2, 3, 3), d)],
                   lambda L, a: (lambda e: (e.eigenvectors * e.eigenvalues[..., None, :].to(a.dtype))
                                 @ e.eigenvectors.mT.conj())(L.linalg.eigh(a))),
    "eigh_of_sum": (lambda r, d: [_c(r, (3, 3), d)],
                    lambda L, a: _abs2(L.linalg.eigh(a + a.mT.conj()).eigenvectors) * 2),
    "pinv_tall": (lambda r, d: [_c(r, (4, 3), d)], lambda L, a: L.linalg.pinv(a)),
    "pinv_wide": (lambda r, d: [_c(r, (3, 4), d)], lambda L, a: L.linalg.pinv(a)),
    "pinv_batched": (lambda r, d: [_c(r, (2, 3, 3), d)], lambda L, a: L.linalg.pinv(a)),
    "lstsq": (lambda r, d: [_c(r, (5, 3), d), _c(r, (5, 2), d)], lambda L, a, b: L.linalg.lstsq(a, b).solution),
    "matrix_power_neg": (lambda r, d: [_wc(r, (3, 3), d)], lambda L, a: L.linalg.matrix_power(a, -2)),
    "vecdot": (lambda r, d: [_c(r, (2, 3), d), _c(r, (2, 3), d)], lambda L, a, b: L.linalg.vecdot(a, b)),
}


@pytest.mark.parametrize("dtype", CDT)
@pytest.mark.parametrize("name", sorted(CASES))
def test_complex_linalg_grad_vs_torch(name, dtype):
    make, fn = CASES[name]
    _compare(fn, make(np.random.default_rng(7), dtype), dtype)


FD = ["inv", "det", "slogdet_both", "logdet", "solve", "cholesky_of_product", "qr_Q", "qr_R", "qr_wide",
      "svd_recon_tall", "svd_U_abs2", "svd_Vh_abs2", "svdvals", "eigh_of_sum", "pinv_tall", "pinv_wide",
      "vecdot"]


@pytest.mark.parametrize("name", FD)
def test_complex_linalg_finite_differences(name):
    """The convention itself, without torch: gradient = dL/dRe(A) + i dL/dIm(A). (Inputs that must stay
    Hermitian are built inside fn from free matrices, so every direction is allowed.)"""
    make, fn = CASES[name]
    _fd_check(fn, [a[:1] if a.ndim == 3 else a for a in make(np.random.default_rng(3), "complex128")])


def test_det_of_singular_complex_matrix():
    r = np.random.default_rng(2)
    x, y = _c(r, (3, 2)), _c(r, (2, 3))
    _compare(lambda L, a: L.linalg.det(a), [x @ y], "complex128")   # rank 2: the adjugate path


@pytest.mark.parametrize("dtype", CDT)
def test_phase_dependent_losses_raise_like_torch(dtype):
    r = np.random.default_rng(4)
    a, h = _c(r, (4, 3), dtype), _herm(r, (3, 3), dtype)
    for L in (dt, torch):
        x = L.from_numpy(a.copy()).requires_grad_(True)
        with pytest.raises(RuntimeError, match=r"svd_backward: The singular vectors in the complex case are "
                                               r"specified up to multiplication by e\^\{i phi\}"):
            L.linalg.svd(x, full_matrices=False).U.real.sum().backward()
        with pytest.raises(RuntimeError, match=r"svd_backward: The singular vectors"):
            L.linalg.svd(x, full_matrices=False).Vh.imag.sum().backward()
        y = L.from_numpy(h.copy()).requires_grad_(True)
        with pytest.raises(RuntimeError, match=r"linalg_eigh_backward: The eigenvectors in the complex case are "
                                               r"specified up to multiplication by e\^\{i phi\}"):
            L.linalg.eigh(y).eigenvectors.real.sum().backward()


def test_slogdet_and_logdet_outputs():
    a = _wc(np.random.default_rng(5), (2, 3, 3))
    s, la = dt.linalg.slogdet(dt.from_numpy(a).requires_grad_(True))
    st, lat = torch.linalg.slogdet(torch.from_numpy(a))
    assert s.dtype == dt.complex128 and la.dtype == dt.float64 and s.requires_grad and la.requires_grad
    np.testing.assert_allclose(_np(s), st.numpy(), rtol=1e-12)
    np.testing.assert_allclose(_np(la), lat.numpy(), rtol=1e-12)
    lg = dt.logdet(dt.from_numpy(a))
    assert lg.dtype == dt.complex128
    np.testing.assert_allclose(_np(lg), torch.logdet(torch.from_numpy(a)).numpy(), rtol=1e-12)


# ---- real inputs: the cases whose behaviour changed (eigh on a raw symmetric input, full_matrices svd) ---------
def _compare_real(fn, a):
    d, p = dt.from_numpy(a.copy()).requires_grad_(True), torch.from_numpy(a.copy()).requires_grad_(True)
    yd, yp = fn(dt, d), fn(torch, p)
    w = np.random.default_rng(0).standard_normal(tuple(yp.shape))
    (yd * dt.from_numpy(w)).sum().backward()
    (yp * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(_np(d.grad), p.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_real_eigh_vectors_on_a_raw_symmetric_input():
    r = np.random.default_rng(6)
    a = r.standard_normal((2, 4, 4))
    a = a + a.swapaxes(-1, -2)
    _compare_real(lambda L, x: L.linalg.eigh(x).eigenvectors ** 2, a)   # the gradient is symmetric, as torch's


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
def test_real_svd_full_matrices_gradient(shape):
    a = np.random.default_rng(8).standard_normal(shape)
    k = min(shape)
    _compare_real(lambda L, x: (lambda s: (s.U[:, :k] ** 2 * s.S) @ s.Vh[:k] ** 2)(L.linalg.svd(x)), a)


@pytest.mark.parametrize("name", ["inv", "solve", "qr_Q", "qr_wide", "cholesky_of_product", "svdvals", "vecdot"])
def test_complex_linalg_gradcheck(name):
    make, fn = CASES[name]
    arrays = [a[:1] if a.ndim == 3 else a for a in make(np.random.default_rng(9), "complex128")]
    assert dt.autograd.gradcheck(lambda *x: fn(dt, *x), tuple(dt.from_numpy(a).requires_grad_(True) for a in arrays))


# ---- linalg.qr modes whose backward torch refuses ---------------------------------------------------------------
def _qr_backward_error(L, a, mode, use):
    x = L.from_numpy(a.copy()).requires_grad_(True)
    Q, R = L.linalg.qr(x, mode=mode)
    assert Q.requires_grad and R.requires_grad
    try:
        {"R": R.sum(), "Q": Q.sum(), "both": Q.sum() + R.sum()}[use].real.backward()
    except RuntimeError as e:
        return str(e)
    return x.grad


@pytest.mark.parametrize("use", ["R", "Q", "both"])
@pytest.mark.parametrize("mode,shape", [("r", (4, 3)), ("r", (3, 4)), ("complete", (4, 3)), ("complete", (3, 4)),
                                        ("complete", (3, 3))])
@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_qr_backward_errors_like_torch(mode, shape, use, dtype):
    r = np.random.default_rng(10)
    a = _c(r, shape) if dtype == "complex128" else r.standard_normal(shape)
    got, expected = _qr_backward_error(dt, a, mode, use), _qr_backward_error(torch, a, mode, use)
    if isinstance(expected, str):
        assert got == expected
    else:
        np.testing.assert_allclose(_np(got), expected.numpy(), rtol=1e-9, atol=1e-11)
