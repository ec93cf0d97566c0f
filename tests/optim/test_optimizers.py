"""Optimizers vs PyTorch CPU: same params and grads in both, several steps, weights compared."""
import os

import numpy as np
import pytest
import torch

import disttensor as dt
from disttensor import optim

SHAPES = [(5, 3), (7,), (2, 3, 4), (1,)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, maximize=True)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
]


def _ids(c):
    return c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items())


def _make(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    dps = [dt.tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return dps, tps


def _set_grads(dps, tps, rng, skip=None):
    for i, (d, t) in enumerate(zip(dps, tps)):
        if skip is not None and i == skip:
            d.grad = None
            t.grad = None
            continue
        g = rng.standard_normal(d.shape).astype(d.numpy(force=True).dtype)
        d.grad = dt.tensor(g.copy())
        t.grad = torch.tensor(g.copy())


def _compare(dps, tps, tol):
    for d, t in zip(dps, tps):
        np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


@pytest.fixture(params=["numba", "numpy"])
def backend(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("DISTTENSOR_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("DISTTENSOR_NO_NUMBA", raising=False)
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_matches_torch(case, dtype, backend):
    name, kw = case
    dps, tps = _make(dtype)
    do = getattr(optim, name)(dps, **kw)
    to = getattr(torch.optim, name)(tps, **kw)
    rng = np.random.default_rng(1)
    tol = 1e-6 if dtype == np.float64 else 1e-5
    for step in range(6):
        # step 3: one param has no grad (skipped, its step count lags behind: exercises runs)
        _set_grads(dps, tps, rng, skip=1 if step == 3 else None)
        do.step()
        to.step()
        _compare(dps, tps, tol)
    # state dict round trip from PyTorch into ours, then continue both
    dps2 = [dt.tensor(p.detach().numpy().copy(), requires_grad=True) for p in dps]
    do2 = getattr(optim, name)(dps2, **kw)
    do2.load_state_dict(to.state_dict())
    for _ in range(3):
        _set_grads(dps2, tps, rng)
        do2.step()
        to.step()
        _compare(dps2, tps, tol)
    # and ours into torch
    sd = do2.state_dict()
    tps3 = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in dps2]
    to3 = getattr(torch.optim, name)(tps3, **kw)
    to3.load_state_dict(_to_torch(sd))
    _set_grads(dps2, tps3, rng)
    do2.step()
    to3.step()
    _compare(dps2, tps3, tol)


def _to_torch(obj):
    if isinstance(obj, dt.Tensor):
        return torch.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_torch(v) for v in obj]
    return obj


def test_state_dict_format_matches_torch():
    dps, tps = _make(np.float32)
    do = optim.Adam(dps, lr=0.01, amsgrad=True)
    to = torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    rng = np.random.default_rng(0)
    _set_grads(dps, tps, rng, skip=2)
    do.step()
    to.step()
    sd, tsd = do.state_dict(), to.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 3]
    for k in tsd["state"]:
        assert sorted(sd["state"][k]) == sorted(tsd["state"][k])
        assert sd["state"][k]["step"].shape == () and sd["state"][k]["step"].dtype == dt.float32
    assert sd["param_groups"][0].keys() == tsd["param_groups"][0].keys()
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    # SGD: momentum_buffer only, no step
    d = optim.SGD(dps, lr=0.1, momentum=0.9)
    _set_grads(dps, tps, rng)
    d.step()
    assert sorted(d.state_dict()["state"][0]) == ["momentum_buffer"]


def test_param_groups_and_views():
    a = dt.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    b = dt.tensor(np.ones(4, np.float32), requires_grad=True)
    c = dt.tensor(np.ones(2, np.float64), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9
    held = a  # user code holding the parameter sees the update
    for p in (a, b, c):
        p.grad = dt.ones_like(p)
    opt.step()
    np.testing.assert_allclose(held.detach().numpy(), 0.9)
    np.testing.assert_allclose(b.detach().numpy(), 0.5)
    np.testing.assert_allclose(c.detach().numpy(), 0.5)
    assert c.dtype == dt.float64
    # momentum buffer visible through state and is a view that updates
    buf = opt.state[a]["momentum_buffer"]
    opt.step()
    np.testing.assert_allclose(buf.numpy(), 1.9)
    # replacing a parameter's data (like model.to()) re-flattens without losing state
    a.data = dt.tensor(np.full((3, 2), 2.0, np.float32))
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 2.0 - 0.1 * (0.9 * 1.9 + 1))
    np.testing.assert_allclose(opt.state[a]["momentum_buffer"].numpy(), 0.9 * 1.9 + 1, rtol=1e-6)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    d = dt.tensor(np.zeros(3, np.float32), requires_grad=True)
    opt.add_param_group({"params": d, "lr": 1.0})
    d.grad = dt.ones(3)
    opt.step()
    np.testing.assert_allclose(d.detach().numpy(), -1.0)


def test_zero_grad_and_errors():
    p = dt.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = dt.ones(3)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and float(p.grad.sum()) == 0
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # no grads: nothing happens, no state
    assert opt.state_dict()["state"] == {}
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


def test_closure_and_repr():
    p = dt.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert abs(float(loss) - 5.0) < 1e-6
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    r = repr(opt)
    assert r.startswith("SGD (") and "Parameter Group 0" in r and "lr: 0.1" in r


def test_bfloat16_params():
    import ml_dtypes
    a = np.linspace(-1, 1, 10).astype(ml_dtypes.bfloat16)
    p = dt.tensor(a, requires_grad=True) if False else dt.Tensor._wrap(a.copy(), requires_grad=True)
    tp = torch.tensor(a.astype(np.float32)).to(torch.bfloat16).requires_grad_()
    opt, topt = optim.AdamW([p], lr=0.01), torch.optim.AdamW([tp], lr=0.01)
    for _ in range(3):
        g = np.linspace(0.5, -0.5, 10).astype(np.float32)
        p.grad = dt.Tensor._wrap(g.astype(ml_dtypes.bfloat16))
        tp.grad = torch.tensor(g).to(torch.bfloat16)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.detach().numpy().astype(np.float32), tp.detach().float().numpy(), atol=2e-2)
    assert p.dtype == dt.bfloat16


@pytest.mark.parametrize("flatten", [True, False])
def test_storage_kept_when_not_flattening(flatten, backend):
    rng = np.random.default_rng(4)
    base = rng.standard_normal((4, 6)).astype(np.float32)
    arrs = [base.copy(), rng.standard_normal(5).astype(np.float32)]
    dps = [dt.tensor(a.copy(), requires_grad=True) for a in arrs]
    dps[0]._data = np.asfortranarray(dps[0]._data)  # a non-contiguous parameter that owns its memory
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in arrs]
    do = optim.Adam(dps, lr=0.01, weight_decay=0.1)
    do._flatten_params = flatten
    to = torch.optim.Adam(tps, lr=0.01, weight_decay=0.1)
    before = [p._data for p in dps]
    for _ in range(4):
        _set_grads(dps, tps, rng)
        do.step()
        to.step()
    _compare(dps, tps, 1e-5)
    assert all((p._data is b) != flatten for p, b in zip(dps, before))
    single = dt.tensor(arrs[1].copy(), requires_grad=True)
    keep = single._data
    o = optim.SGD([single], lr=0.1, momentum=0.9)
    single.grad = dt.ones(5)
    o.step()
    assert single._data is keep  # a one-tensor contiguous bucket is updated in place


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("AdamW", dict(lr=0.01, amsgrad=True)), ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
                                     ("Adagrad", dict(lr=0.1)), ("Adadelta", dict()), ("Adamax", dict()),
                                     ("NAdam", dict()), ("RAdam", dict())])
def test_parallel_kernels_on_large_buckets(name, kw):
    """Buckets above PARALLEL_MIN elements run the prange (multi-threaded) kernels."""
    from disttensor.optim import _kernels
    rng = np.random.default_rng(5)
    arrs = [rng.standard_normal((600, 500)).astype(np.float32), rng.standard_normal(300).astype(np.float32)]
    assert arrs[0].size >= _kernels.PARALLEL_MIN
    dps = [dt.tensor(a.copy(), requires_grad=True) for a in arrs]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in arrs]
    do, to = getattr(optim, name)(dps, **kw), getattr(torch.optim, name)(tps, **kw)
    for _ in range(3):
        _set_grads(dps, tps, rng)
        do.step()
        to.step()
    _compare(dps, tps, 1e-5)


def test_param_list_edits_are_seen():
    a, b, c = (dt.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(3))
    opt = optim.SGD([a, b], lr=0.5)
    for p in (a, b, c):
        p.grad = dt.ones(3)
    opt.step()
    opt.param_groups[0]["params"][1] = c  # swap a parameter in place
    opt.step()
    assert a.tolist() == [0.0] * 3 and b.tolist() == [0.5] * 3 and c.tolist() == [0.5] * 3
    opt.param_groups[0]["params"].append(b)
    opt.step()
    assert a.tolist() == [-0.5] * 3 and b.tolist() == [0.0] * 3 and c.tolist() == [0.0] * 3


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam",
                                  "RAdam"])
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_params_use_fallback(name, half):
    """float16/bfloat16 buckets take the array-module path; results track a float32 run."""
    import ml_dtypes
    hd = np.float16 if half == "float16" else ml_dtypes.bfloat16
    rng = np.random.default_rng(6)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    ph = dt.Tensor._wrap(a.astype(hd), requires_grad=True)
    pf = dt.tensor(a.astype(hd).astype(np.float32), requires_grad=True)
    kw = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    oh, of = getattr(optim, name)([ph], **kw), getattr(optim, name)([pf], **kw)
    for _ in range(3):
        g = rng.standard_normal((4, 5)).astype(np.float32)
        ph.grad = dt.Tensor._wrap(g.astype(hd))
        pf.grad = dt.tensor(g.astype(hd).astype(np.float32))
        oh.step()
        of.step()
    assert ph.dtype == getattr(dt, half)
    np.testing.assert_allclose(ph.detach().numpy().astype(np.float32), pf.detach().numpy(), atol=3e-2, rtol=3e-2)


def test_fallback_when_numba_is_missing(monkeypatch):
    import sys
    from disttensor.optim import _kernels
    monkeypatch.delenv("DISTTENSOR_NO_NUMBA", raising=False)
    monkeypatch.setattr(_kernels, "_K", None)
    monkeypatch.setattr(_kernels, "_tried", False)
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    assert _kernels.kernels() is None
    dps, tps = _make(np.float32)
    do, to = optim.Adam(dps, lr=0.01, amsgrad=True), torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    rng = np.random.default_rng(7)
    for _ in range(3):
        _set_grads(dps, tps, rng)
        do.step()
        to.step()
    _compare(dps, tps, 1e-5)


def test_training_loop_with_modules_matches_torch():
    """nn modules + AdamW + OneCycleLR (which cycles betas) for 10 steps, weights vs PyTorch."""
    from disttensor import nn as dnn
    rng = np.random.default_rng(0)
    dm = dnn.Sequential(dnn.Linear(8, 16), dnn.ReLU(), dnn.Linear(16, 4))
    tm = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in dm.state_dict().items()})
    do, to = optim.AdamW(dm.parameters(), lr=0.01), torch.optim.AdamW(tm.parameters(), lr=0.01)
    ds = optim.lr_scheduler.OneCycleLR(do, max_lr=0.05, total_steps=10)
    ts = torch.optim.lr_scheduler.OneCycleLR(to, max_lr=0.05, total_steps=10)
    for _ in range(10):
        x = rng.standard_normal((5, 8)).astype(np.float32)
        y = rng.integers(0, 4, 5)
        for m, o, s, lib in ((dm, do, ds, dt), (tm, to, ts, torch)):
            o.zero_grad()
            lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y)).backward()
            o.step()
            s.step()
    for a, b in zip(dm.state_dict().values(), tm.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    dm.double()  # parameters get new storage: the optimizer re-flattens and casts its state
    do.zero_grad()
    dm(dt.tensor(rng.standard_normal((5, 8)))).sum().backward()
    do.step()
    assert do.state[dm[0].weight]["exp_avg"].dtype == dt.float64


def test_views_of_foreign_storage_stay_aliased():
    """Parameters that are views into one caller-owned flat array (like a sharded flat parameter) keep
    pointing at it; a second optimizer over already-flattened parameters flattens them again."""
    rng = np.random.default_rng(8)
    flat = rng.standard_normal(10).astype(np.float32)
    p1 = dt.Tensor._wrap(flat[:6].reshape(2, 3), requires_grad=True)
    p2 = dt.Tensor._wrap(flat[6:], requires_grad=True)
    tps = [torch.tensor(flat[:6].reshape(2, 3).copy(), requires_grad=True), torch.tensor(flat[6:].copy(),
                                                                                          requires_grad=True)]
    do, to = optim.Adam([p1, p2], lr=0.1), torch.optim.Adam(tps, lr=0.1)
    for _ in range(3):
        _set_grads([p1, p2], tps, rng)
        do.step()
        to.step()
    _compare([p1, p2], tps, 1e-6)
    assert p1._data.base is flat and p2._data.base is flat
    np.testing.assert_allclose(flat[6:], tps[1].detach().numpy(), rtol=1e-6)
    a, b = (dt.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(2))
    o1 = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = dt.ones(3), dt.ones(3)
    o1.step()
    base1 = a._data.base
    o2 = optim.SGD([a, b], lr=0.1)
    o2.step()
    assert a._data.base is not base1 and a._data.base is b._data.base  # flattened again, into o2's buffer
    np.testing.assert_allclose(a.detach().numpy(), 0.8, rtol=1e-6)


@pytest.mark.parametrize("name, missing", [("SGD", ("nesterov", "maximize")), ("Adam", ("amsgrad", "maximize")),
                                           ("Rprop", ("maximize", "foreach")), ("ASGD", ("capturable",))])
def test_unpickling_fills_group_options_older_pickles_lack(name, missing):
    """Like torch's optimizers, __setstate__ fills in the group options an older pickle lacks; the copy then
    steps exactly as the original."""
    import copy
    p = dt.ones(3, requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1)
    state = opt.__getstate__()
    for g in state["param_groups"]:
        for k in missing:
            del g[k]
    clone = object.__new__(type(opt))
    clone.__setstate__(copy.deepcopy(state))
    ref = getattr(torch.optim, name)([torch.ones(3, requires_grad=True)], lr=0.1)
    for k in missing:
        assert clone.param_groups[0][k] == ref.param_groups[0][k], k
    q = clone.param_groups[0]["params"][0]
    q.grad = dt.full((3,), 0.5)
    clone.step()
    rp = ref.param_groups[0]["params"][0]
    rp.grad = torch.full((3,), 0.5)
    ref.step()
    np.testing.assert_allclose(q.detach().numpy(), rp.detach().numpy(), rtol=1e-6)
