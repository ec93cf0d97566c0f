"""nn.functional behaviour the OpInfo table cannot express: running statistics, dropout statistics and
modes, cross_entropy options, embedding padding/max_norm, attention masks, the numba fast paths (and
their NumPy fallbacks) on big inputs, and error messages."""
import warnings

import numpy as np
import pytest

import disttensor
import disttensor.nn.functional as F
from disttensor.ops import nn_activation

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(1)


def pair(a, grad=True):
    d = disttensor.from_numpy(a.copy())
    t = torch.from_numpy(a.copy())
    if grad and a.dtype.kind == "f":
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


def close(a, b, atol=1e-5, rtol=1e-5):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)


# ---- batch / instance norm running statistics ---------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_batch_norm_running_stats_match_torch(shape):
    rng = np.random.default_rng(0)
    c = shape[1]
    rm_d, rm_t = pair(np.zeros(c, np.float32), grad=False)
    rv_d, rv_t = pair(np.ones(c, np.float32), grad=False)
    w_d, w_t = pair(rng.uniform(0.5, 1.5, c).astype(np.float32))
    b_d, b_t = pair(rng.uniform(-1, 1, c).astype(np.float32))
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        x_d, x_t = pair(x)
        y_d = F.batch_norm(x_d, rm_d, rv_d, w_d, b_d, training=True, momentum=0.3)
        y_t = TF.batch_norm(x_t, rm_t, rv_t, w_t, b_t, training=True, momentum=0.3)
        close(y_d, y_t, 1e-5)
        y_d.sum().backward()
        (y_t.sum()).backward()
        close(x_d.grad, x_t.grad, 1e-4)
        close(rm_d, rm_t, 1e-6)
        close(rv_d, rv_t, 1e-5)  # unbiased running variance
    close(w_d.grad, w_t.grad, 1e-4)
    close(b_d.grad, b_t.grad, 1e-4)
    x = rng.standard_normal(shape).astype(np.float32)
    x_d, x_t = pair(x)
    y_d = F.batch_norm(x_d, rm_d, rv_d, w_d, b_d, training=False)
    y_t = TF.batch_norm(x_t, rm_t, rv_t, w_t, b_t, training=False)
    close(y_d, y_t, 1e-5)
    y_d.sum().backward()
    y_t.sum().backward()
    close(x_d.grad, x_t.grad, 1e-5)
    close(rm_d, rm_t)  # eval leaves the stats alone


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(disttensor.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements"):
        F.batch_norm(disttensor.randn(4, 3), disttensor.zeros(4), disttensor.ones(3), training=True)


def test_instance_norm_running_stats_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 5)).astype(np.float32) * 2 + 1
    rm_d, rm_t = pair(np.zeros(2, np.float32), grad=False)
    rv_d, rv_t = pair(np.ones(2, np.float32), grad=False)
    x_d, x_t = pair(x)
    close(F.instance_norm(x_d, rm_d, rv_d, momentum=0.2), TF.instance_norm(x_t, rm_t, rv_t, momentum=0.2), 1e-5)
    close(rm_d, rm_t, 1e-6)
    close(rv_d, rv_t, 1e-5)
    close(F.instance_norm(x_d, rm_d, rv_d, use_input_stats=False),
          TF.instance_norm(x_t, rm_t, rv_t, use_input_stats=False), 1e-5)


# ---- dropout ------------------------------------------------------------------------------------
def test_dropout_statistics_and_gradient():
    disttensor.manual_seed(0)
    x = disttensor.ones(200, 500, requires_grad=True)
    p = 0.3
    y = F.dropout(x, p)
    a = y.detach().numpy()
    zeros = (a == 0).mean()
    assert abs(zeros - p) < 0.01
    np.testing.assert_allclose(a[a != 0], 1 / (1 - p), rtol=1e-6)
    assert abs(a.mean() - 1.0) < 0.02
    y.backward(disttensor.ones(200, 500))
    np.testing.assert_array_equal(x.grad.numpy(), a)  # gradient is the same scaled mask


def test_dropout_eval_identity_seed_and_inplace():
    x = disttensor.randn(4, 5)
    assert np.array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    assert np.array_equal(F.dropout2d(disttensor.randn(2, 3, 4, 4), 0.5, training=False).shape, (2, 3, 4, 4))
    assert np.array_equal(disttensor.dropout(x, 0.5, False).numpy(), x.numpy())
    disttensor.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    disttensor.manual_seed(5)
    b = F.dropout(x, 0.5).numpy()
    assert np.array_equal(a, b)
    z = x.clone()
    r = F.dropout(z, 0.5, inplace=True)
    assert r is z and ((z.numpy() == 0) | np.isclose(z.numpy(), 2 * x.numpy())).all()
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout2d_and_1d_drop_whole_channels():
    disttensor.manual_seed(1)
    y = F.dropout2d(disttensor.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all()
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    y = F.dropout1d(disttensor.ones(8, 16, 5), 0.5).numpy()
    assert ((y == 0).all(-1) | (y == 2).all(-1)).all()


def test_alpha_dropout_keeps_mean_and_variance():
    disttensor.manual_seed(2)
    x = disttensor.randn(400, 400)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.03
    assert np.array_equal(F.alpha_dropout(x, 0.2).numpy(), x.numpy())  # training=False by default


def test_rrelu_training_slopes_in_range_and_gradient():
    disttensor.manual_seed(4)
    x = disttensor.full((1000,), -1.0, requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    s = -y.detach().numpy()
    assert (s >= 0.1).all() and (s <= 0.3).all() and s.std() > 0.03
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), s, rtol=1e-6)


def test_gumbel_softmax_soft_and_hard():
    disttensor.manual_seed(6)
    logits = disttensor.tensor([[2.0, 0.0, -1.0]] * 4000, requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), 1, rtol=1e-5)
    h = F.gumbel_softmax(logits, tau=0.5, hard=True)
    hv = h.detach().numpy()
    assert set(np.unique(hv)) <= {0.0, 1.0} and (hv.sum(-1) == 1).all()
    # argmax of logits + Gumbel noise samples the softmax distribution
    freq = hv.mean(0)
    p = np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(freq, p, atol=0.03)
    (h * disttensor.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert logits.grad is not None and np.abs(logits.grad.numpy()).sum() > 0


# ---- cross entropy options ----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("c", [5, 700], ids=["numpy", "kernel"])  # 700 classes: the numba row kernels
def test_cross_entropy_options_match_torch(reduction, smoothing, weighted, c):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, c, 8)).astype(np.float64)
    t = rng.integers(0, c, (6, 8))
    t[0, 0] = t[3, 2] = 4  # ignore_index=4 below
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    x_d, x_t = pair(x)
    kw = dict(ignore_index=4, reduction=reduction, label_smoothing=smoothing)
    y_d = F.cross_entropy(x_d, disttensor.from_numpy(t), weight=None if w is None else disttensor.from_numpy(w),
                          **kw)
    y_t = TF.cross_entropy(x_t, torch.from_numpy(t), weight=None if w is None else torch.from_numpy(w), **kw)
    close(y_d, y_t, 1e-10, 1e-10)
    g = rng.standard_normal(tuple(y_t.shape))
    y_d.backward(disttensor.from_numpy(g.copy()))
    y_t.backward(torch.from_numpy(g.copy()))
    close(x_d.grad, x_t.grad, 1e-10, 1e-10)


def test_cross_entropy_errors_name_values():
    x = disttensor.randn(3, 4)
    with pytest.raises(IndexError, match=r"Target 7 is out of bounds.*< 4"):
        F.cross_entropy(x, disttensor.tensor([0, 7, 1]))
    with pytest.raises(IndexError, match="Target -2"):
        F.nll_loss(x, disttensor.tensor([0, -2, 1]))
    with pytest.raises(ValueError, match=r"batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(x, disttensor.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=r"\(2, 5\)"):
        F.mse_loss(disttensor.randn(2, 5), disttensor.randn(3, 5))
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(disttensor.rand(2, 3), disttensor.rand(3))
    # all targets ignored: nan like PyTorch
    assert np.isnan(F.cross_entropy(x, disttensor.tensor([-100, -100, -100])).item())
    # the same on the numba row kernels (>= 32768 logits)
    x = disttensor.randn(64, 600)
    t = np.arange(64) % 600
    t[9] = 600
    with pytest.raises(IndexError, match=r"Target 600 is out of bounds.*< 600"):
        F.cross_entropy(x, disttensor.from_numpy(t))
    t[9] = -3
    with pytest.raises(IndexError, match=r"Target -3 is out of bounds"):
        F.cross_entropy(x, disttensor.from_numpy(t))
    assert np.isnan(F.cross_entropy(x, disttensor.from_numpy(np.full(64, -100))).item())


def test_mse_broadcast_warns_like_torch():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(disttensor.randn(3, 4), disttensor.randn(4))


# ---- embedding ----------------------------------------------------------------------------------
def test_embedding_padding_idx_gets_no_gradient():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([[0, 2, 2, 5], [1, 2, 0, 0]])
    for pad in (2, -1):
        w_d, w_t = pair(w)
        y_d = F.embedding(disttensor.from_numpy(idx), w_d, padding_idx=pad)
        y_t = TF.embedding(torch.from_numpy(idx), w_t, padding_idx=pad)
        close(y_d, y_t)
        y_d.sum().backward()
        y_t.sum().backward()
        close(w_d.grad, w_t.grad)
        assert (w_d.grad.numpy()[pad] == 0).all()


def test_embedding_max_norm_renormalises_like_torch():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((5, 4)).astype(np.float32) * 3
    w_d, w_t = pair(w, grad=False)
    idx = np.array([0, 3, 3])
    close(F.embedding(disttensor.from_numpy(idx), w_d, max_norm=1.0),
          TF.embedding(torch.from_numpy(idx), w_t, max_norm=1.0), 1e-5)
    close(w_d, w_t, 1e-5)  # rows 0 and 3 renormalised in place, others untouched


def test_embedding_large_scatter_matches_torch():
    rng = np.random.default_rng(6)
    w_d, w_t = pair(rng.standard_normal((50, 8)).astype(np.float32))
    idx = rng.integers(0, 50, (40, 30))
    g = rng.standard_normal((40, 30, 8)).astype(np.float32)
    F.embedding(disttensor.from_numpy(idx), w_d).backward(disttensor.from_numpy(g))
    TF.embedding(torch.from_numpy(idx), w_t).backward(torch.from_numpy(g))
    close(w_d.grad, w_t.grad, 1e-4)


def test_one_hot():
    t = disttensor.tensor([[0, 3], [2, 1]])
    assert np.array_equal(F.one_hot(t).numpy(), TF.one_hot(torch.tensor([[0, 3], [2, 1]])).numpy())
    assert F.one_hot(t).dtype == disttensor.int64
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(t, 3)


# ---- attention ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float", "causal_rect", "3d"])
def test_sdpa_matches_torch(case):
    rng = np.random.default_rng(7)
    L, S = (3, 5) if case == "causal_rect" else (4, 4)
    shp = (2, L, 8) if case == "3d" else (2, 3, L, 8)
    kshp = shp[:-2] + (S, 8)
    q, k, v = rng.standard_normal(shp), rng.standard_normal(kshp), rng.standard_normal(kshp)
    (qd, qt), (kd, kt), (vd, vt) = pair(q), pair(k), pair(v)
    kw_d, kw_t = {}, {}
    if case in ("causal", "causal_rect"):
        kw_d = kw_t = {"is_causal": True}
    elif case == "bool":
        m = rng.uniform(size=(L, S)) > 0.4
        m[:, 0] = True
        kw_d, kw_t = {"attn_mask": disttensor.from_numpy(m)}, {"attn_mask": torch.from_numpy(m)}
    elif case == "float":
        m = rng.standard_normal((2, 1, L, S))
        md, mt = pair(m)
        kw_d, kw_t = {"attn_mask": md}, {"attn_mask": mt}
    y_d = F.scaled_dot_product_attention(qd, kd, vd, **kw_d)
    y_t = TF.scaled_dot_product_attention(qt, kt, vt, **kw_t)
    close(y_d, y_t, 1e-10, 1e-10)
    g = rng.standard_normal(shp)
    y_d.backward(disttensor.from_numpy(g.copy()))
    y_t.backward(torch.from_numpy(g.copy()))
    for a, b in ((qd, qt), (kd, kt), (vd, vt)):
        close(a.grad, b.grad, 1e-10, 1e-8)
    if case == "float":
        close(kw_d["attn_mask"].grad, kw_t["attn_mask"].grad, 1e-10, 1e-8)


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_big_float32_uses_row_kernels_and_matches_torch(causal):
    rng = np.random.default_rng(12)
    q, k, v = (rng.standard_normal((2, 2, 160, 16)).astype(np.float32) for _ in range(3))
    (qd, qt), (kd, kt), (vd, vt) = pair(q), pair(k), pair(v)
    y_d = F.scaled_dot_product_attention(qd, kd, vd, is_causal=causal)
    y_t = TF.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
    close(y_d, y_t, 1e-5, 1e-5)
    g = rng.standard_normal(q.shape).astype(np.float32)
    y_d.backward(disttensor.from_numpy(g.copy()))
    y_t.backward(torch.from_numpy(g.copy()))
    for a, b in ((qd, qt), (kd, kt), (vd, vt)):
        close(a.grad, b.grad, 1e-4, 1e-4)


def test_sdpa_dropout_is_seeded_and_unbiased():
    q = disttensor.randn(2, 2, 6, 4)
    disttensor.manual_seed(3)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    disttensor.manual_seed(3)
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    assert np.array_equal(a, b)
    assert not np.allclose(a, F.scaled_dot_product_attention(q, q, q).numpy())
    with pytest.raises(RuntimeError, match="attn_mask should not be set"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=disttensor.ones(6, 6), is_causal=True)


# ---- numba fast paths on big inputs, and their NumPy fallbacks ----------------------------------
BIG = [
    ("softmax", lambda L, x: L.nn.functional.softmax(x, -1), (64, 600)),
    ("log_softmax", lambda L, x: L.nn.functional.log_softmax(x, -1), (64, 600)),
    # above PARALLEL_BYTES: row slices on the row thread pool (with 2 numba threads)
    ("softmax_parallel", lambda L, x: L.nn.functional.softmax(x, -1), (1024, 600)),
    ("log_softmax_parallel", lambda L, x: L.nn.functional.log_softmax(x, -1), (1024, 600)),
    ("gelu", lambda L, x: L.nn.functional.gelu(x * 3), (70000,)),
    ("gelu_tanh", lambda L, x: L.nn.functional.gelu(x * 3, approximate="tanh"), (70000,)),
    ("layer_norm", lambda L, x: L.nn.functional.layer_norm(x, (600,)), (64, 600)),
    ("layer_norm_parallel", lambda L, x: L.nn.functional.layer_norm(x, (600,)), (2048, 600)),  # > SERIAL_BELOW
]


def _big_case(fn, shape, dtype):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(dtype)
    x_d, x_t = pair(x)
    y_d, y_t = fn(disttensor, x_d), fn(torch, x_t)
    tol = 2e-5 if dtype == np.float32 else 1e-10
    close(y_d, y_t, tol, tol)
    g = rng.standard_normal(shape).astype(dtype)
    y_d.backward(disttensor.from_numpy(g.copy()))
    y_t.backward(torch.from_numpy(g.copy()))
    close(x_d.grad, x_t.grad, tol * 5, tol)


@pytest.mark.parametrize("name,fn,shape", BIG, ids=[b[0] for b in BIG])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_inputs_match_torch(name, fn, shape, dtype):
    _big_case(fn, shape, dtype)


@pytest.mark.parametrize("name,fn,shape", BIG, ids=[b[0] for b in BIG])
def test_numpy_fallback_without_numba(name, fn, shape, monkeypatch):
    monkeypatch.setattr(nn_activation, "_KERNELS", {"act": None, "ce": None, "ln": None, "emb": None})
    _big_case(fn, shape, np.float32)


@pytest.mark.parametrize("numba_on", [True, False], ids=["kernel", "numpy"])
@pytest.mark.parametrize("L,S", [(128, 128), (100, 70), (70, 100)])
@pytest.mark.parametrize("mask", [None, "bool", "float"])
def test_big_causal_attention_matches_torch(L, S, numba_on, mask, monkeypatch):
    # big enough for the fused causal softmax kernel (scores >= 32768 elements); on both paths a query row
    # with a NaN gives NaN exactly where torch's does, and a row whose kept scores are all -inf (query 0 of
    # head (0, 0): +inf against key 0's negative values), or that a mask leaves empty, gives 0 like torch 2.13
    if not numba_on:
        monkeypatch.setattr(nn_activation, "_KERNELS", {"act": None})
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 3, L, 16)).astype(np.float32)
    k = rng.standard_normal((2, 3, S, 16)).astype(np.float32)
    v = rng.standard_normal((2, 3, S, 16)).astype(np.float32)
    q[0, 1, 5] = np.nan
    q[0, 0, 0], k[0, 0, 0] = np.inf, -1.0
    m = None
    if mask is not None:
        m = rng.random((L, S)) > 0.3
        m[3] = False
        if mask == "float":
            m = np.where(m, 0.0, -np.inf).astype(np.float32)
    g = rng.standard_normal((2, 3, L, 16)).astype(np.float32)
    res = []
    for lib in (disttensor, torch):
        a, b, c = (lib.from_numpy(x.copy()).requires_grad_(True) for x in (q, k, v))
        am = None if m is None else lib.from_numpy(m.copy())
        o = lib.nn.functional.scaled_dot_product_attention(a, b, c, attn_mask=am, is_causal=m is None)
        o.backward(lib.from_numpy(g.copy()))
        res.append([o.detach().numpy(), a.grad.numpy(), b.grad.numpy(), c.grad.numpy()])
    for x, y in zip(*res):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_big_cross_entropy_matches_torch(smoothing):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((64, 700)) * 4).astype(np.float32)
    t = rng.integers(0, 700, 64)
    t[5] = -100
    x_d, x_t = pair(x)
    y_d = F.cross_entropy(x_d, disttensor.from_numpy(t), label_smoothing=smoothing)
    y_t = TF.cross_entropy(x_t, torch.from_numpy(t), label_smoothing=smoothing)
    close(y_d, y_t, 1e-5, 1e-5)
    y_d.backward()
    y_t.backward()
    close(x_d.grad, x_t.grad, 1e-7, 1e-4)


def test_blocked_rows_match_torch():
    # many rows of a wide input (the fused row kernels, rows split over threads)
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((700, 1000)) * 3).astype(np.float32)
    t = rng.integers(0, 1000, 700)
    for fn_d, fn_t in ((lambda v: F.log_softmax(v, -1).sum() * 0 + F.softmax(v, -1)[:, :7].sum(),
                        lambda v: TF.log_softmax(v, -1).sum() * 0 + TF.softmax(v, -1)[:, :7].sum()),
                       (lambda v: F.cross_entropy(v, disttensor.from_numpy(t), label_smoothing=0.05),
                        lambda v: TF.cross_entropy(v, torch.from_numpy(t), label_smoothing=0.05))):
        x_d, x_t = pair(x)
        y_d, y_t = fn_d(x_d), fn_t(x_t)
        close(y_d, y_t, 1e-4, 1e-5)
        y_d.backward()
        y_t.backward()
        close(x_d.grad, x_t.grad, 1e-7, 1e-4)
    lp = F.log_softmax(disttensor.from_numpy(x), 1).numpy()
    close(lp, TF.log_softmax(torch.from_numpy(x), 1), 2e-5, 1e-5)


def test_softmax_of_fully_masked_row_is_nan_like_torch():
    x = np.full((2, 40000), -np.inf, np.float32)
    x[1, :3] = 0
    y = F.softmax(disttensor.from_numpy(x), -1).numpy()
    assert np.isnan(y[0]).all()
    np.testing.assert_allclose(y[1, :3], 1 / 3, rtol=1e-6)


# ---- misc semantics -----------------------------------------------------------------------------
def test_inplace_activations_write_into_input():
    x = disttensor.tensor([-1.0, 0.5, 2.0])
    r = F.relu(x, inplace=True)
    assert r is x and np.array_equal(x.numpy(), [0, 0.5, 2.0])
    x = disttensor.tensor([-1.0, 0.5, 8.0])
    F.hardtanh_(x)
    assert np.array_equal(x.numpy(), [-1.0, 0.5, 1.0])
    x = disttensor.tensor([-1.0, 0.5])
    F.leaky_relu(x, 0.5, inplace=True)
    assert np.array_equal(x.numpy(), [-0.5, 0.5])
    leaf = disttensor.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(leaf, inplace=True)


def test_softmax_implicit_dim_warns_and_matches_torch():
    x = np.random.default_rng(10).standard_normal((3, 4, 5)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        close(F.softmax(disttensor.from_numpy(x)), TF.softmax(torch.from_numpy(x)), 1e-6)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        F.log_softmax(disttensor.from_numpy(x))


def test_pad_errors():
    x = disttensor.randn(1, 3)
    with pytest.raises(RuntimeError, match=r"padding \(3, 3\) at dimension 1"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(x, (1,))


def test_gelu_float32_kernel_accuracy_over_wide_range():
    x = np.linspace(-12, 12, 100001).astype(np.float32)
    x_d, x_t = pair(x)
    y_d, y_t = F.gelu(x_d), TF.gelu(x_t)
    close(y_d, y_t, 2e-6, 1e-6)
    y_d.sum().backward()
    y_t.sum().backward()
    close(x_d.grad, x_t.grad, 5e-7, 1e-6)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_half_precision_outputs_keep_their_dtype(dt):
    d = getattr(disttensor, dt)
    x = disttensor.randn(4, 3, 5).to(d).requires_grad_(True)
    t = disttensor.tensor([0, 1, 2, 0])
    fns = [lambda: F.gelu(x), lambda: F.gelu(x, approximate="tanh"), lambda: F.silu(x), lambda: F.elu(x),
           lambda: F.softmax(x, -1), lambda: F.log_softmax(x, 1), lambda: F.layer_norm(x, (5,)),
           lambda: F.rms_norm(x, (5,)), lambda: F.group_norm(x, 1), lambda: F.batch_norm(x, None, None, training=True),
           lambda: F.linear(x, disttensor.randn(2, 5).to(d)), lambda: F.dropout(x, 0.5),
           lambda: F.scaled_dot_product_attention(x, x, x), lambda: F.pad(x, (1, 1), mode="reflect"),
           lambda: F.cross_entropy(x[:, :, 0], t)]
    for i, f in enumerate(fns):
        y = f()
        assert y.dtype == d, f"case {i}: {y.dtype}"
        y.float().sum().backward()
        assert x.grad.dtype == d
        x.grad = None


@pytest.mark.timeout(60)
def test_threaded_and_numba_ops_work_in_a_forked_child():
    import multiprocessing as mp
    x = np.random.default_rng(13).standard_normal((300, 1000)).astype(np.float32)
    F.softmax(disttensor.from_numpy(x), -1)  # the row thread pool now exists in this process
    F.layer_norm(disttensor.from_numpy(x), (1000,))  # and numba's OpenMP pool has run
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_softmax, args=(x, q))
    p.start()
    try:
        s = q.get(timeout=30)
    finally:
        p.join(5)
        if p.is_alive():
            p.kill()
    np.testing.assert_allclose(s, 300.0, rtol=1e-4)


def _child_softmax(x, q):
    ln = F.layer_norm(disttensor.from_numpy(x), (1000,)).numpy()  # NumPy path in the child
    assert abs(ln.mean()) < 1e-4
    q.put(float(F.softmax(disttensor.from_numpy(x), -1).sum().item()))


# ---- the vectorizable exp of the numba row kernels, and softmax-family edge values ---------------
def _exp_kernels():
    numba = pytest.importorskip("numba")
    from disttensor.ops import _numba_math as nm

    def vec(f):
        @numba.njit
        def run(x):
            y = np.empty_like(x)
            for i in range(x.size):
                y[i] = f(x[i])
            return y
        return run
    return nm, vec(nm.exp32), vec(nm.expn32), vec(nm.exp64)


def test_numba_exp_matches_numpy_over_the_float_range():
    nm, exp32, expn32, exp64 = _exp_kernels()
    # float32: a spread of bit patterns over all of [-110, 90] (every 499th float), plus specials
    pos = np.arange(0, np.float32(90).view(np.uint32), 499, dtype=np.uint32).view(np.float32)
    neg = np.arange(0x80000000, np.float32(-110).view(np.uint32), 499, dtype=np.uint32).view(np.float32)
    x = np.concatenate([pos, neg])
    ref = np.exp(x.astype(np.float64))
    y = exp32(x)
    ok = (x >= -86.99) & (x <= 88.7228)
    ulp = np.spacing(ref[ok].astype(np.float32)).astype(np.float64)
    assert (np.abs(y[ok] - ref[ok]) / ulp).max() <= 1.5  # vs the exact value; np.exp is ~0.5-1 ulp
    assert np.all(y[x < -87.0] == 0) and np.all(np.isposinf(y[x > 88.7229]))
    neg = x[x <= 0]
    yn = expn32(neg)
    okn = neg >= -87.336
    refn = np.exp(neg[okn].astype(np.float64))
    assert (np.abs(yn[okn] - refn) / np.spacing(refn.astype(np.float32))).max() <= 1.5
    assert np.all(yn[neg < -87.34] == 0)
    sp = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -1.0], np.float32)
    np.testing.assert_array_equal(exp32(sp), np.array([np.inf, 0, np.nan, 1, 1, np.e, 1 / np.e], np.float32))
    np.testing.assert_array_equal(expn32(sp[1:5]), np.array([0, np.nan, 1, 1], np.float32))
    # float64
    x = np.concatenate([np.random.default_rng(0).uniform(-720, 712, 200000), np.linspace(-3, 3, 100001)])
    with np.errstate(over="ignore"):
        y, ref = exp64(x), np.exp(x)
    ok = (x >= -706.9) & (x <= 709.78)
    assert (np.abs(y[ok] - ref[ok]) / ref[ok]).max() <= 4.5e-16
    assert np.all(y[x < -707] == 0) and np.all(np.isposinf(y[x > 709.79]))
    sp = np.array([np.inf, -np.inf, np.nan, 0.0], np.float64)
    np.testing.assert_array_equal(exp64(sp), np.array([np.inf, 0, np.nan, 1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_softmax_family_edge_values_match_torch(dtype, threads):
    # rows with -inf entries (masked scores), all -inf, +inf, NaN, huge and tiny values, on the fused row
    # kernels (>= 32768 elements), one thread and rows split over two
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(12)
    n, c = (8, 5000) if threads == 1 else (64, 5000)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    x[0, ::2] = -np.inf
    x[1] = -np.inf
    x[2, 7] = np.inf
    x[3, 11] = np.nan
    x[4] *= 1e30
    x[5] = x[5] * 1e-30 + 1000.0
    x[6, :] = -1e30
    x[6, 3] = 0.0
    x[7, 1:] = -200.0  # probabilities that underflow to 0
    t = rng.integers(0, c, n)
    t[0] = 0  # a kept (finite) entry of the masked row
    g = rng.standard_normal((n, c)).astype(dtype)
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        for name in ("softmax", "log_softmax", "cross_entropy"):
            x_d, x_t = pair(x)
            if name == "cross_entropy":
                y_d = F.cross_entropy(x_d, disttensor.from_numpy(t), reduction="none")
                y_t = TF.cross_entropy(x_t, torch.from_numpy(t), reduction="none")
                gg = g[:, 0]
            else:
                y_d, y_t = getattr(F, name)(x_d, -1), getattr(TF, name)(x_t, -1)
                gg = g
            tol = 2e-6 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(y_d.detach().numpy(), y_t.detach().numpy(), rtol=tol, atol=tol,
                                       equal_nan=True, err_msg=name)
            y_d.backward(disttensor.from_numpy(gg.copy()))
            y_t.backward(torch.from_numpy(gg.copy()))
            # (float32 row sums of 5000 gradients differ by summation order: atol 10x)
            np.testing.assert_allclose(x_d.grad.numpy(), x_t.grad.numpy(), rtol=tol * 5, atol=tol * 10,
                                       equal_nan=True, err_msg=name)
    finally:
        numba.set_num_threads(old)


@pytest.mark.timeout(60)
def test_row_kernels_from_several_python_threads():
    # run_rows shares one set of helper threads: a second caller while a job runs computes alone.
    # (forward only: concurrent backward passes are the engine's business, not these kernels')
    import threading
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(13)
    xs = [rng.standard_normal((128, 3000)).astype(np.float32) for _ in range(4)]
    want = [(TF.softmax(torch.from_numpy(x), -1).numpy(), TF.layer_norm(torch.from_numpy(x), (3000,)).numpy())
            for x in xs]
    errors = []

    def work(i):
        try:
            for _ in range(20):
                x_d = disttensor.from_numpy(xs[i])
                np.testing.assert_allclose(F.softmax(x_d, -1).numpy(), want[i][0], rtol=2e-6, atol=1e-7)
                np.testing.assert_allclose(F.layer_norm(x_d, (3000,)).numpy(), want[i][1], rtol=1e-5, atol=1e-5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    old = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        numba.set_num_threads(old)
    assert not errors, errors[0]


@pytest.mark.parametrize("nd,shape,p,k,stride,ceil", [
    (1, (2, 3, 9), 2.0, 3, None, False),
    (1, (2, 3, 9), 3.0, 2, 1, True),       # odd p: a negative window sum gives nan in both
    (2, (2, 3, 7, 6), 2.0, 2, None, False),
    (2, (2, 3, 7, 6), 1.5, (3, 2), (2, 1), True),
    (3, (1, 2, 5, 4, 6), 2.0, 2, None, False),
])
def test_lp_pool_matches_torch(nd, shape, p, k, stride, ceil):
    a = np.random.default_rng(nd).standard_normal(shape)
    if p != int(p):
        a = np.abs(a) + 0.1  # fractional powers of negative numbers are nan in both libraries
    xt = torch.tensor(a, requires_grad=True)
    xd = disttensor.tensor(a, requires_grad=True)
    name = f"lp_pool{nd}d"
    yt = getattr(torch.nn.functional, name)(xt, p, k, stride, ceil)
    yd = getattr(disttensor.nn.functional, name)(xd, p, k, stride, ceil)
    np.testing.assert_allclose(yd.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    yd.backward(disttensor.tensor(g))
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    module = getattr(disttensor.nn, f"LPPool{nd}d")(p, k, stride, ceil)
    assert repr(module) == repr(getattr(torch.nn, f"LPPool{nd}d")(p, k, stride, ceil))
    np.testing.assert_allclose(module(disttensor.tensor(a)).numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("p,margin,weighted,batched", [(1, 1.0, False, True), (2, 0.5, True, True),
                                                      (1, 2.0, True, False)])
def test_multi_margin_loss_matches_torch(reduction, p, margin, weighted, batched):
    rng = np.random.default_rng(p)
    a = rng.standard_normal((6, 5) if batched else (5,))
    t = rng.integers(0, 5, (6,) if batched else ())
    w = rng.random(5) + 0.5 if weighted else None
    res = []
    for lib in (torch, disttensor):
        x = lib.tensor(a, requires_grad=True)
        y = lib.nn.functional.multi_margin_loss(x, lib.tensor(t), p=p, margin=margin,
                                                weight=None if w is None else lib.tensor(w), reduction=reduction)
        y.backward(lib.ones_like(y))
        res.append((y.detach().numpy(), x.grad.numpy()))
        module = lib.nn.MultiMarginLoss(p=p, margin=margin, weight=None if w is None else lib.tensor(w),
                                        reduction=reduction)
        res.append(module(lib.tensor(a), lib.tensor(t)).numpy())
    np.testing.assert_allclose(res[2][0], res[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res[2][1], res[0][1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res[3], res[1], rtol=1e-12, atol=1e-12)
    with pytest.raises(IndexError, match="out of bounds"):
        disttensor.nn.functional.multi_margin_loss(disttensor.tensor(a), disttensor.tensor(t * 0 + 5))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("batched", [True, False])
def test_multilabel_margin_loss_matches_torch(reduction, batched):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 5))
    t = np.array([[3, 0, -1, 1, 1], [1, 2, 3, 4, 0], [-1, 2, 2, 2, 2], [4, 4, -1, 0, 0]])
    if not batched:
        a, t = a[0], t[0]
    res = []
    for lib in (torch, disttensor):
        x = lib.tensor(a, requires_grad=True)
        y = lib.nn.functional.multilabel_margin_loss(x, lib.tensor(t), reduction=reduction)
        y.backward(lib.ones_like(y))
        res.append((y.detach().numpy(), x.grad.numpy(), lib.nn.MultiLabelMarginLoss(reduction=reduction)(
            lib.tensor(a), lib.tensor(t)).numpy()))
    for ours, ref in zip(res[1], res[0]):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("output_size", [(2, 3, 4), (5, 7, 6), 3])
def test_adaptive_max_pool3d_matches_torch(output_size):
    a = np.random.default_rng(3).standard_normal((2, 3, 5, 7, 6))
    res = []
    for lib in (torch, disttensor):
        x = lib.tensor(a, requires_grad=True)
        y, idx = lib.nn.functional.adaptive_max_pool3d(x, output_size, return_indices=True)
        y.backward(lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape))))
        res.append((y.detach().numpy(), idx.numpy(), x.grad.numpy(),
                    lib.nn.AdaptiveMaxPool3d(output_size)(lib.tensor(a)).numpy()))
    for ours, ref in zip(res[1], res[0]):
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("layout", ["2d", "offsets", "last_offset"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_matches_torch(mode, layout, padding_idx):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((7, 4))
    if layout == "2d":
        idx, offsets = np.array([[1, 2, 4], [2, 2, 2], [6, 0, 1]]), None
    else:  # bags [0:2], [2:2] (empty), [2:5], [5:8]; with include_last_offset the last offset closes the last bag
        idx = np.array([3, 2, 2, 5, 1, 0, 6, 6])
        offsets = np.array([0, 2, 2, 5, 8]) if layout == "last_offset" else np.array([0, 2, 2, 5])
    psw = rng.random(idx.size).reshape(idx.shape) if mode == "sum" else None
    res = []
    for lib in (torch, disttensor):
        wt = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.embedding_bag(
            lib.tensor(idx), wt, None if offsets is None else lib.tensor(offsets), mode=mode,
            per_sample_weights=None if psw is None else lib.tensor(psw), include_last_offset=layout == "last_offset",
            padding_idx=padding_idx)
        y.backward(lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape))))
        res.append((y.detach().numpy(), wt.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12, atol=1e-12)


def test_embedding_bag_module_matches_torch():
    w = np.random.default_rng(6).standard_normal((10, 3))
    idx, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 4])
    outs = []
    for lib in (torch, disttensor):
        bag = lib.nn.EmbeddingBag.from_pretrained(lib.tensor(w), mode="mean")
        outs.append(bag(lib.tensor(idx), lib.tensor(offsets)).numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12)


def _ctc_case(layout, blank, impossible):
    rng = np.random.default_rng(7)
    T, N, C = 10, 3, 5
    x = rng.standard_normal((T, N, C))
    labels = [l for l in range(C) if l != blank]
    tl = np.array([3, 2, 1])
    seqs = [[labels[0], labels[1], labels[1]], [labels[2], labels[2]], [labels[3]]]  # repeats need a blank between
    il = np.array([10, 7, 4])
    if impossible:  # 6 labels in 3 frames: probability 0, infinite loss
        tl = np.array([3, 6, 1])
        seqs[1] = [labels[2]] * 6
        il = np.array([10, 3, 4])
    if layout == "padded":
        tg = np.full((N, int(tl.max()) + 1), blank)
        for i, s in enumerate(seqs):
            tg[i, :len(s)] = s
    else:
        tg = np.array([l for s in seqs for l in s])
    return x, tg, il, tl


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank,impossible,zero_infinity", [(0, False, False), (2, False, False), (0, True, True)])
def test_ctc_loss_matches_torch(reduction, layout, blank, impossible, zero_infinity):
    x, tg, il, tl = _ctc_case(layout, blank, impossible)
    res = []
    for lib in (torch, disttensor):
        logits = lib.tensor(x, requires_grad=True)
        lp = lib.nn.functional.log_softmax(logits, 2)
        y = lib.nn.functional.ctc_loss(lp, lib.tensor(tg), lib.tensor(il), lib.tensor(tl), blank=blank,
                                       reduction=reduction, zero_infinity=zero_infinity)
        y.backward(lib.ones_like(y))
        module = lib.nn.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
        res.append((y.detach().numpy(), logits.grad.numpy(),
                    module(lp.detach(), lib.tensor(tg), tuple(il.tolist()), tuple(tl.tolist())).numpy()))
    for ours, ref in zip(res[1], res[0]):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_ctc_loss_float32_unbatched_and_leaf_gradient():
    x, tg, il, tl = _ctc_case("padded", 0, False)
    res = []
    for lib in (torch, disttensor):
        lp = lib.tensor(x[:, 0], dtype=lib.float32).log_softmax(1).detach().requires_grad_(True)
        y = lib.nn.functional.ctc_loss(lp, lib.tensor(tg[0, :3]), lib.tensor(10), lib.tensor(3))
        y.backward()
        res.append((y.detach().numpy(), lp.grad.numpy()))
    assert res[1][0].dtype == np.float32 and res[1][0].shape == ()
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-5)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="input_lengths"):
        disttensor.nn.functional.ctc_loss(disttensor.zeros(4, 2, 3), disttensor.tensor([[1], [1]]),
                                          disttensor.tensor([5, 4]), disttensor.tensor([1, 1]))
