"""nn.init distributions and fans vs PyTorch's definitions; default initialisation of layers; nn.utils
(clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters) vs PyTorch."""
import math

import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.nn as nn
from disttensor.nn import init


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (6, 2, 3, 3), (2, 3, 2, 2, 2)])
def test_fan_in_fan_out_matches_torch(shape):
    assert init._calculate_fan_in_and_fan_out(dt.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(dt.empty(3))


def test_calculate_gain_matches_torch():
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    with pytest.raises(ValueError):
        init.calculate_gain("nope")


def _uniform_ok(a, lo, hi):
    n = a.size
    assert a.min() >= lo and a.max() <= hi
    assert abs(a.mean() - (lo + hi) / 2) < 5 * (hi - lo) / math.sqrt(12 * n)
    assert abs(a.std() - (hi - lo) / math.sqrt(12)) < 0.02 * (hi - lo)


def _normal_ok(a, mean, std):
    n = a.size
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(a.std() - std) < 0.02 * std


def test_init_distributions():
    dt.manual_seed(0)
    t = dt.empty(200, 300)
    r = init.uniform_(t, -2.0, 3.0)
    assert r is t
    _uniform_ok(_np(t), -2.0, 3.0)
    init.normal_(t, 1.5, 0.5)
    _normal_ok(_np(t), 1.5, 0.5)
    init.xavier_uniform_(t, gain=2.0)
    b = 2.0 * math.sqrt(6.0 / 500)
    _uniform_ok(_np(t), -b, b)
    init.xavier_normal_(t)
    _normal_ok(_np(t), 0.0, math.sqrt(2.0 / 500))
    init.kaiming_uniform_(t, a=math.sqrt(5))
    bound = math.sqrt(6 / ((1 + 5) * 300))
    _uniform_ok(_np(t), -bound, bound)
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    _normal_ok(_np(t), 0.0, math.sqrt(2.0 / 200))
    init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=2.0)
    a = _np(t)
    tr = torch.nn.init.trunc_normal_(torch.empty(200, 300, dtype=torch.float64), mean=0.5, std=1.0, a=-1.0,
                                     b=2.0).numpy()
    assert a.min() >= -1.0 and a.max() <= 2.0
    assert abs(a.mean() - tr.mean()) < 0.02 and abs(a.std() - tr.std()) < 0.02
    init.constant_(t, 0.3)
    assert np.all(_np(t) == np.float32(0.3))
    init.zeros_(t)
    assert not _np(t).any()
    init.ones_(t)
    assert np.all(_np(t) == 1)
    e = init.eye_(dt.empty(3, 4))
    np.testing.assert_array_equal(_np(e), np.eye(3, 4))
    d = init.dirac_(dt.empty(4, 2, 3, 3), groups=2)
    np.testing.assert_array_equal(_np(d), torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2).numpy())
    o = init.orthogonal_(dt.empty(6, 4), gain=2.0)
    np.testing.assert_allclose(_np(o).T @ _np(o), 4 * np.eye(4), atol=1e-5)
    o2 = init.orthogonal_(dt.empty(3, 7))
    np.testing.assert_allclose(_np(o2) @ _np(o2).T, np.eye(3), atol=1e-5)


def test_init_in_place_keeps_parameter_and_no_grad():
    lin = nn.Linear(4, 3)
    w = lin.weight
    v = w._version
    out = init.normal_(w)
    assert out is w and w.requires_grad and w.grad_fn is None and w._version > v
    dt.manual_seed(5)
    a = _np(init.uniform_(dt.empty(10))).copy()
    dt.manual_seed(5)
    b = _np(init.uniform_(dt.empty(10)))
    np.testing.assert_array_equal(a, b)


def test_default_layer_init_distributions():
    dt.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives bound sqrt(6/(6*fan_in)) = 1/sqrt(fan_in)
    _uniform_ok(_np(lin.weight), -bound, bound)
    _uniform_ok(_np(lin.bias), -bound, bound) if False else None
    assert np.abs(_np(lin.bias)).max() <= bound
    conv = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    _uniform_ok(_np(conv.weight), -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    ct = nn.ConvTranspose2d(16, 32, 3)
    fan_in_t = 32 * 9  # weight is (in, out, k, k): fan_in from dim 1
    assert np.abs(_np(ct.weight)).max() <= 1 / math.sqrt(fan_in_t)
    emb = nn.Embedding(300, 200)
    _normal_ok(_np(emb.weight), 0.0, 1.0)
    bn = nn.BatchNorm2d(5)
    assert np.all(_np(bn.weight) == 1) and np.all(_np(bn.bias) == 0) and int(bn.num_batches_tracked) == 0
    bil = nn.Bilinear(50, 60, 70)
    assert np.abs(_np(bil.weight)).max() <= 1 / math.sqrt(50)
    pr = nn.PReLU()
    assert float(pr.weight) == 0.25


def _grads_pair(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    tp, op = [], []
    for s in shapes:
        v = rng.standard_normal(s)
        g = rng.standard_normal(s) * scale
        t = torch.nn.Parameter(torch.tensor(v))
        t.grad = torch.tensor(g)
        o = nn.Parameter(dt.tensor(v))
        o.grad = dt.tensor(g)
        tp.append(t)
        op.append(o)
    return tp, op


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    tp, op = _grads_pair()
    tn = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    on = nn.utils.clip_grad_norm_(op, max_norm, norm_type=norm_type, foreach=True)
    assert isinstance(on, dt.Tensor) and on.dim() == 0
    np.testing.assert_allclose(on.item(), tn.item(), rtol=1e-10)
    for a, b in zip(op, tp):
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), rtol=1e-10)


def test_clip_grad_norm_edge_cases():
    tp, op = _grads_pair()
    op[0].grad._data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(op, 1.0, error_if_nonfinite=True)
    p = nn.Parameter(dt.ones(3))
    assert float(nn.utils.clip_grad_norm_(p, 1.0)) == 0.0  # no gradients
    p.grad = dt.full((3,), 2.0)
    n = nn.utils.clip_grad_norm_(p, 1.0)
    np.testing.assert_allclose(float(n), math.sqrt(12), rtol=1e-6)
    np.testing.assert_allclose(float(p.grad.norm()) if hasattr(p.grad, "norm") else
                               np.linalg.norm(_np(p.grad)), 1.0, rtol=1e-5)


def test_clip_grad_value_matches_torch():
    tp, op = _grads_pair(scale=3.0)
    torch.nn.utils.clip_grad_value_(tp, 1.5)
    nn.utils.clip_grad_value_(op, 1.5)
    for a, b in zip(op, tp):
        np.testing.assert_array_equal(_np(a.grad), b.grad.numpy())


def test_parameters_to_vector_and_back():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    ours = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    ours.load_state_dict({k: dt.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    tv = torch.nn.utils.parameters_to_vector(ref.parameters())
    ov = nn.utils.parameters_to_vector(ours.parameters())
    np.testing.assert_array_equal(_np(ov), tv.detach().numpy())
    (ov * dt.arange(ov.shape[0]).float()).sum().backward()
    np.testing.assert_array_equal(_np(ours[0].weight.grad), np.arange(6, dtype=np.float32).reshape(2, 3))
    new = dt.arange(11).float()
    w0 = ours[0].weight
    nn.utils.vector_to_parameters(new, ours.parameters())
    assert ours[0].weight is w0
    np.testing.assert_array_equal(_np(ours[0].weight), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(_np(ours[1].bias), [10.0])
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1, 2], ours.parameters())


def test_weight_norm_matches_torch():
    import warnings
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.utils.weight_norm(torch.nn.Conv1d(2, 3, 3).double(), dim=0)
    ours = nn.utils.weight_norm(nn.Conv1d(2, 3, 3).double(), dim=0)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict({k: dt.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 2, 6))
    a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
    np.testing.assert_allclose(_np(b), a.detach().numpy(), rtol=1e-10)
    a.sum().backward()
    b.sum().backward()
    for n in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(_np(getattr(ours, n).grad), getattr(ref, n).grad.numpy(), rtol=1e-9, atol=1e-12)
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(ref)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    np.testing.assert_allclose(_np(ours(dt.tensor(x))), a.detach().numpy(), rtol=1e-10)


def test_functional_call_swaps_and_restores():
    m = nn.Linear(2, 1)
    w0 = m.weight
    out = nn.utils.functional_call(m, {"weight": dt.ones(1, 2), "bias": dt.zeros(1)}, (dt.ones(3, 2),))
    np.testing.assert_array_equal(_np(out), np.full((3, 1), 2.0))
    assert m.weight is w0
    w = dt.ones(1, 2, requires_grad=True)
    nn.utils.stateless.functional_call(m, {"weight": w}, dt.ones(3, 2)).sum().backward()
    np.testing.assert_array_equal(_np(w.grad), [[3.0, 3.0]])


@pytest.mark.parametrize("ctor", [lambda L: L.nn.Linear(4, 3), lambda L: L.nn.ConvTranspose2d(3, 2, 3)])
def test_spectral_norm_matches_torch(ctor):
    torch.manual_seed(0)
    ref = torch.nn.utils.spectral_norm(ctor(torch).double(), n_power_iterations=2)
    ours = nn.utils.spectral_norm(ctor(dt).double(), n_power_iterations=2)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict({k: dt.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4) if isinstance(ref, torch.nn.Linear) else (1, 3, 4, 4))
    for train in (True, True, False):
        ref.train(train)
        ours.train(train)
        a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
        np.testing.assert_allclose(_np(b), a.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(_np(ours.weight_u), ref.weight_u.numpy(), rtol=1e-9, atol=1e-12)
    ref.train()
    ours.train()
    a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(_np(ours.weight_orig.grad), ref.weight_orig.grad.numpy(), rtol=1e-8, atol=1e-12)
    nn.utils.remove_spectral_norm(ours)
    assert "weight" in dict(ours.named_parameters()) and "weight_u" not in dict(ours.named_buffers())


def test_parametrizations_weight_norm_matches_torch():
    torch.manual_seed(0)
    ref = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 4).double())
    ours = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4).double())
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref) and type(ours).__name__ == "ParametrizedLinear"
    ours.load_state_dict({k: dt.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3))
    a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
    np.testing.assert_allclose(_np(b), a.detach().numpy(), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    for (n, p), (_, q) in zip(ref.named_parameters(), ours.named_parameters()):
        np.testing.assert_allclose(_np(q.grad), p.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=n)
    torch.nn.utils.parametrize.remove_parametrizations(ref, "weight")
    nn.utils.parametrize.remove_parametrizations(ours, "weight")
    assert type(ours) is nn.Linear and list(ours.state_dict()) == list(ref.state_dict())
    np.testing.assert_allclose(_np(ours.weight), ref.weight.detach().numpy(), rtol=1e-12)


def test_custom_parametrization():
    P = nn.utils.parametrize

    class Double(nn.Module):
        def forward(self, x):
            return x * 2

        def right_inverse(self, x):
            return x / 2

    m = nn.Linear(2, 2)
    w0 = m.weight.detach().numpy().copy()
    P.register_parametrization(m, "weight", Double())
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    np.testing.assert_allclose(_np(m.weight), w0, rtol=1e-6)  # original = w0 / 2, weight = 2 * original
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), w0 / 2, rtol=1e-6)
    m.weight = dt.ones(2, 2)
    np.testing.assert_allclose(_np(m.parametrizations.weight.original), 0.5)
    with P.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), 0.5)


def test_fuse_conv_bn_eval():
    dt.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, bias=False).double()
    bn = nn.BatchNorm2d(3).double()
    for _ in range(3):
        bn(conv(dt.randn(4, 2, 5, 5, dtype=dt.float64)))
    conv.eval()
    bn.eval()
    x = dt.randn(2, 2, 5, 5, dtype=dt.float64)
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    np.testing.assert_allclose(_np(fused(x)), _np(bn(conv(x))), rtol=1e-10, atol=1e-12)
    lin, bn1 = nn.Linear(3, 4).double().eval(), nn.BatchNorm1d(4).double()
    bn1(lin(dt.randn(8, 3, dtype=dt.float64)))
    bn1.eval()
    y = dt.randn(5, 3, dtype=dt.float64)
    np.testing.assert_allclose(_np(nn.utils.fuse_linear_bn_eval(lin, bn1)(y)), _np(bn1(lin(y))), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("ctor", [lambda L: L.nn.Linear(4, 3), lambda L: L.nn.ConvTranspose2d(3, 2, 3)])
def test_parametrizations_spectral_norm_matches_torch(ctor):
    torch.manual_seed(0)
    ref = torch.nn.utils.parametrizations.spectral_norm(ctor(torch).double(), n_power_iterations=2)
    ours = nn.utils.parametrizations.spectral_norm(ctor(dt).double(), n_power_iterations=2)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict({k: dt.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4) if isinstance(ref, torch.nn.Linear) else (1, 3, 4, 4))
    for train in (True, True, False):
        ref.train(train)
        ours.train(train)
        a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
        np.testing.assert_allclose(_np(b), a.detach().numpy(), rtol=1e-9, atol=1e-12)
    ref.train()
    ours.train()
    a, b = ref(torch.tensor(x)), ours(dt.tensor(x))
    a.sum().backward()
    b.sum().backward()
    for (n, p), (_, q) in zip(ref.named_parameters(), ours.named_parameters()):
        np.testing.assert_allclose(_np(q.grad), p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=n)
