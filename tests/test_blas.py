"""disttensor/_backends/blas.py: the GEMM entry of the CPU ops (MKL where installed on an Intel CPU, else NumPy),
against NumPy's matmul in float64, for every operand layout it takes and every case it must hand back to NumPy;
and set_num_threads / get_num_threads against torch's semantics."""
import subprocess
import sys

import numpy as np
import pytest

import disttensor as dt
from disttensor._backends import blas

torch = pytest.importorskip("torch")

MKL = blas.mkl() is not None
rng = np.random.default_rng(0)


def _ref(a, b):
    return np.matmul(a.astype(np.float64), b.astype(np.float64))


def _close(r, a, b):
    tol = 2e-4 if r.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(r, _ref(a, b), rtol=tol, atol=tol * 10)


def _layouts(x):
    """x as C-contiguous, Fortran (a transposed operand for BLAS), a row-strided slice and a column slice."""
    big = np.zeros((x.shape[0] + 3, x.shape[1] + 5), x.dtype)
    big[1:1 + x.shape[0], 2:2 + x.shape[1]] = x
    bigf = np.asfortranarray(np.zeros((x.shape[0] + 4, x.shape[1] + 3), x.dtype))
    bigf[2:2 + x.shape[0], 1:1 + x.shape[1]] = x
    return [x, np.asfortranarray(x), big[1:1 + x.shape[0], 2:2 + x.shape[1]], bigf[2:2 + x.shape[0], 1:1 + x.shape[1]]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(64, 80, 96), (1, 700, 512), (600, 512, 1), (257, 129, 300)])
def test_2d_products_in_every_layout(dtype, m, k, n):
    a0, b0 = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    for a in _layouts(a0):
        for b in _layouts(b0):
            r = blas.matmul(a, b)
            assert r.shape == (m, n) and r.dtype == dtype
            _close(r, a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_arrays_contiguous_and_row_strided(dtype):
    a, b = rng.standard_normal((300, 200)).astype(dtype), rng.standard_normal((200, 250)).astype(dtype)
    out = np.full((300, 250), np.nan, dtype)
    assert blas.matmul(a, b, out=out) is out
    _close(out, a, b)
    wide = np.full((300, 260), 7.0, dtype)
    view = wide[:, 5:255]                       # rows 260 apart: the GEMM's leading dimension
    blas.matmul(a, b.T.copy().T, out=view)
    _close(view, a, b)
    assert (wide[:, :5] == 7).all() and (wide[:, 255:] == 7).all()      # nothing written outside the view


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_and_broadcast_products(dtype):
    a, b = rng.standard_normal((6, 64, 70)).astype(dtype), rng.standard_normal((6, 70, 90)).astype(dtype)
    _close(blas.matmul(a, b), a, b)
    _close(blas.matmul(a, b.transpose(0, 2, 1).copy().transpose(0, 2, 1)), a, b)
    out = np.empty((6, 64, 100), dtype)[:, :, 5:95]              # Winograd's per-position output views
    blas.matmul(a, b, out=out)
    _close(out, a, b)
    w, cols = rng.standard_normal((1, 128, 77)).astype(dtype), rng.standard_normal((3, 1, 77, 256)).astype(dtype)
    o = np.empty((3, 1, 128, 256), dtype)                          # the im2col tiles: weights broadcast
    blas.matmul(w, cols, out=o)
    _close(o, w, cols)
    w2 = rng.standard_normal((64, 70)).astype(dtype)               # 1x1 convolutions: (O, C) @ (N, C, L)
    _close(blas.matmul(w2, b), w2, b)
    # one item: a size-1 axis may carry any stride (NumPy gives x[None] a 0), which MKL's batch call refuses
    a1, b1 = rng.standard_normal((128, 77)).astype(dtype), rng.standard_normal((77, 256)).astype(dtype)
    o1 = np.full((1, 1, 128, 256), np.nan, dtype)
    blas.matmul(a1[None, None], b1[None, None], out=o1)
    _close(o1[0, 0], a1, b1)
    _close(blas.matmul(a1[None], b1[None])[0], a1, b1)
    c1 = np.full((128, 256), np.nan, dtype)
    blas.matmul(a1[None], b1[None], out=c1[None])       # out's batch stride 0: MKL computed nothing here
    _close(c1, a1, b1)
    # matrices of a batch overlapping (a sliding window view): not a batch MKL takes
    base = rng.standard_normal((70 + 5, 90)).astype(dtype)
    slid = np.lib.stride_tricks.sliding_window_view(base, (70, 90))[:, 0]        # (6, 70, 90), items 1 row apart
    _close(blas.matmul(a, slid), a, slid)
    # batch dims that cannot be flattened into one strided batch without a copy: NumPy does it
    a4, b4 = rng.standard_normal((2, 1, 64, 70)).astype(dtype), rng.standard_normal((1, 3, 70, 90)).astype(dtype)
    _close(blas.matmul(a4, b4), a4, b4)


@pytest.mark.parametrize("case", ["expanded", "complex", "float16", "int", "small", "mixed", "1d", "bad shapes"])
def test_what_blas_cannot_take_goes_to_numpy(case):
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    if case == "expanded":          # the stride-0 gradient of sum()
        a = np.broadcast_to(np.ones((1, 1)), (300, 200))
    elif case == "complex":
        a, b = a + 1j * a, b - 2j * b
    elif case == "float16":
        a, b = a.astype(np.float16), b.astype(np.float16)
    elif case == "int":
        a, b = (a * 10).astype(np.int64), (b * 10).astype(np.int64)
    elif case == "small":
        a, b = a[:8, :8], b[:8, :8]
    elif case == "mixed":
        a = a.astype(np.float32)
    elif case == "1d":
        a = a[0]
    if case == "bad shapes":
        with pytest.raises(ValueError, match="matmul"):
            blas.matmul(a, b.T)
        return
    r = blas.matmul(a, b)
    np.testing.assert_array_equal(r, np.matmul(a, b))
    assert r.dtype == np.matmul(a, b).dtype


def test_large_products_split_over_threads_match(monkeypatch):
    """Above _SPLIT_MACS a product is cut into row blocks (tall), column blocks (wide) or batch items over the
    BLAS thread count; every cut must give the serial result."""
    monkeypatch.setattr(blas, "num_threads", lambda: 3)
    monkeypatch.setattr(blas, "_SPLIT_MACS", 1)
    for shape_a, shape_b in [((301, 64), (64, 40)), ((40, 64), (64, 301)), ((5, 64, 80), (5, 80, 70))]:
        a, b = rng.standard_normal(shape_a).astype(np.float32), rng.standard_normal(shape_b).astype(np.float32)
        _close(blas.matmul(a, b), a, b)


@pytest.mark.skipif(not MKL, reason="MKL is not installed (or not used on this CPU)")
def test_mkl_is_used_and_can_be_turned_off():
    a, b = rng.standard_normal((300, 200)).astype(np.float32), rng.standard_normal((200, 100)).astype(np.float32)
    calls = []
    lib = blas.mkl()

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(lib, name)
    blas._MKL[0] = Spy()
    try:
        blas.matmul(a, b)
    finally:
        blas._MKL[0] = lib
    assert calls == ["cblas_sgemm"]
    code = "from disttensor._backends import blas; print(blas.mkl() is None)"
    out = subprocess.run([sys.executable, "-c", code], env={"DISTTENSOR_BLAS": "numpy", "PATH": ""},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_ops_through_the_gemm_entry_match_torch():
    """matmul, linear and a strided convolution (forward and gradients) with whatever BLAS this machine uses."""
    x0, w0, b0 = rng.standard_normal((4, 64, 96)), rng.standard_normal((80, 96)), rng.standard_normal(80)
    out = {}
    for L in (dt, torch):
        x, w, b = (L.tensor(v, dtype=L.float32, requires_grad=True) for v in (x0, w0, b0))
        y = L.nn.functional.linear(x, w, b) @ w[:, :80].T.contiguous()
        y.square().sum().backward()
        out[L] = [t.detach().numpy() for t in (y, x.grad, w.grad, b.grad)]
    for a, c in zip(out[dt], out[torch]):
        np.testing.assert_allclose(a, c, rtol=2e-4, atol=2e-3)


def test_set_num_threads_like_torch():
    prev = dt.get_num_threads()
    try:
        dt.set_num_threads(1)
        assert dt.get_num_threads() == 1
        assert blas.num_threads() == 1
        with pytest.raises(RuntimeError, match="positive"):
            dt.set_num_threads(0)
        with pytest.raises(RuntimeError, match="positive"):
            torch.set_num_threads(0)
    finally:
        dt.set_num_threads(prev)
    assert dt.get_num_threads() == prev


@pytest.mark.skipif(not MKL, reason="MKL is not installed (or not used on this CPU)")
def test_an_argument_mkl_rejects_raises_instead_of_returning_garbage():
    """MKL answers a bad argument with a message and no result; matmul must raise (here the batch call is fed
    an output stride of 0 directly, which blas.matmul itself never passes)."""
    a, b = rng.standard_normal((1, 64, 70)).astype(np.float32), rng.standard_normal((1, 70, 90)).astype(np.float32)
    c = np.zeros((64, 90), np.float32)[None]
    blas._gemm_batch(blas.mkl(), a, b, c)
    with pytest.raises(RuntimeError, match="rejected its argument 17"):
        blas._check_rejected(a, b)
    blas.matmul(a[0], b[0])          # the record was cleared: the next product is fine
    blas._check_rejected(a, b)
