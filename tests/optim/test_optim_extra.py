"""Rprop, ASGD, LBFGS and swa_utils against torch 2.13: same initial weights and data, parameter
trajectories and state compared."""
import numpy as np
import pytest
import torch as T

import disttensor as torch
import disttensor.nn as nn


def _problem(lib, cls, kw, steps=10, dtype="float32", opt_holder=None):
    rs = np.random.RandomState(0)
    w0 = [rs.randn(5, 3).astype(dtype), rs.randn(3).astype(dtype), rs.randn(7).astype(dtype)]
    ps = [lib.tensor(w.copy(), requires_grad=True) for w in w0]
    opt = getattr(lib.optim, cls)(ps, **kw)
    traj = []
    for _ in range(steps):
        x = lib.tensor(rs.randn(4, 5).astype(dtype))
        loss = ((x @ ps[0] + ps[1]) ** 2).sum() + (ps[2] ** 2).sum() * 0.5 + ps[2].sin().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        traj.append([p.detach().numpy().copy() for p in ps])
    return traj, opt


def _num(v):
    return np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)


CASES = [
    ("Rprop", {}), ("Rprop", {"lr": 0.05, "maximize": True}),
    ("Rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.02), "foreach": True}),
    ("ASGD", {}), ("ASGD", {"lr": 0.05, "weight_decay": 0.1, "t0": 3, "lambd": 1e-2}),
    ("ASGD", {"maximize": True, "t0": 2, "alpha": 0.5, "foreach": False}),
]


@pytest.mark.parametrize("cls,kw", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trajectory_and_state_match_torch(cls, kw, dtype):
    ours, oo = _problem(torch, cls, kw, dtype=dtype)
    ref, ot = _problem(T, cls, kw, dtype=dtype)
    tol = 1e-5 if dtype == "float32" else 1e-10
    for a, b in zip(ours, ref):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol)
    so, st = oo.state_dict(), ot.state_dict()
    assert set(so["state"]) == set(st["state"])
    for k in st["state"]:
        assert set(so["state"][k]) == set(st["state"][k])
        for name, v in st["state"][k].items():
            np.testing.assert_allclose(_num(so["state"][k][name]), _num(v), rtol=1e-5, atol=1e-6, err_msg=name)
    assert {k: v for k, v in so["param_groups"][0].items() if k != "params"} == \
        {k: v for k, v in st["param_groups"][0].items() if k != "params"}


@pytest.mark.parametrize("cls,kw", [CASES[1], CASES[4]])
def test_state_dict_round_trip_continues_like_uninterrupted(cls, kw):
    full, _ = _problem(torch, cls, kw, steps=8)
    rs = np.random.RandomState(0)
    w0 = [rs.randn(5, 3).astype("float32"), rs.randn(3).astype("float32"), rs.randn(7).astype("float32")]
    ps = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
    opt = getattr(torch.optim, cls)(ps, **kw)

    def one(opt, ps):
        x = torch.tensor(rs.randn(4, 5).astype("float32"))
        loss = ((x @ ps[0] + ps[1]) ** 2).sum() + (ps[2] ** 2).sum() * 0.5 + ps[2].sin().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(4):
        one(opt, ps)
    sd = opt.state_dict()
    ps2 = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
    opt2 = getattr(torch.optim, cls)(ps2, **kw)
    opt2.load_state_dict(sd)
    for _ in range(4):
        one(opt2, ps2)
    for x, y in zip(ps2, full[-1]):
        np.testing.assert_allclose(x.detach().numpy(), y, rtol=1e-6, atol=1e-6)
    # torch loads our state dict too
    tps = [T.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
    topt = getattr(T.optim, cls)(tps, **kw)
    topt.load_state_dict({"state": {k: {n: T.tensor(_num(v), dtype=T.float32) for n, v in s.items()}
                                    for k, s in sd["state"].items()}, "param_groups": sd["param_groups"]})


def test_argument_errors_match_torch():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="Invalid eta values"):
        torch.optim.Rprop(p, etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        torch.optim.ASGD(p, lr=-1)
    with pytest.raises(ValueError, match="parameter groups"):
        torch.optim.LBFGS([{"params": p}, {"params": [torch.zeros(1, requires_grad=True)]}])


# ---- LBFGS --------------------------------------------------------------------------------------------
def _lbfgs_mlp(lib, dtype, steps=3, **kw):
    rs = np.random.RandomState(0)
    W1 = rs.randn(3, 8).astype(dtype) * 0.5
    W2 = rs.randn(8, 1).astype(dtype) * 0.5
    X = rs.randn(20, 3).astype(dtype)
    Y = np.sin(X.sum(1, keepdims=True)).astype(dtype)
    ps = [lib.tensor(W1, requires_grad=True), lib.tensor(W2, requires_grad=True)]
    x, y = lib.tensor(X), lib.tensor(Y)
    opt = lib.optim.LBFGS(ps, **kw)

    def closure():
        opt.zero_grad()
        loss = ((lib.tanh(x @ ps[0]) @ ps[1] - y) ** 2).mean()
        loss.backward()
        return loss
    losses = [float(opt.step(closure).detach()) for _ in range(steps)]
    return [p.detach().numpy() for p in ps], losses, opt


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_mlp_matches_torch(ls, dtype):
    kw = dict(line_search_fn=ls, max_iter=4, history_size=3)
    a, la, oa = _lbfgs_mlp(torch, dtype, **kw)
    b, lb, ob = _lbfgs_mlp(T, dtype, **kw)
    tol = 1e-10 if dtype == "float64" else 2e-4
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)
    np.testing.assert_allclose(la, lb, rtol=tol, atol=tol)
    so, st = oa.state[oa._params[0]], ob.state[ob._params[0]]
    assert so["func_evals"] == st["func_evals"] and so["n_iter"] == st["n_iter"]
    assert set(so) == set(st)
    assert len(so["old_dirs"]) == len(st["old_dirs"])
    np.testing.assert_allclose(so["d"].numpy(), st["d"].numpy(), rtol=tol * 10, atol=tol * 10)


def test_lbfgs_longer_strong_wolfe_run_float64():
    a, la, oa = _lbfgs_mlp(torch, "float64", steps=4, line_search_fn="strong_wolfe")
    b, lb, ob = _lbfgs_mlp(T, "float64", steps=4, line_search_fn="strong_wolfe")
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
    assert oa.state[oa._params[0]]["func_evals"] == ob.state[ob._params[0]]["func_evals"]


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_quadratic_reaches_minimum(ls):
    rs = np.random.RandomState(1)
    M = rs.randn(6, 6)
    A = M @ M.T + 6 * np.eye(6)
    bvec = rs.randn(6)
    xs = np.linalg.solve(A, bvec)
    out = []
    for lib in (torch, T):
        x = lib.zeros(6, dtype=lib.float64, requires_grad=True)
        At, bt = lib.tensor(A), lib.tensor(bvec)
        opt = lib.optim.LBFGS([x], lr=1, max_iter=50, line_search_fn=ls, tolerance_grad=1e-12,
                              tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            loss = 0.5 * (x @ (At @ x)) - bt @ x
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
        out.append(x.detach().numpy().copy())
    np.testing.assert_allclose(out[0], xs, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-7, atol=1e-8)


def test_lbfgs_state_dict_round_trip():
    _, _, opt = _lbfgs_mlp(torch, "float64", steps=2, line_search_fn="strong_wolfe", max_iter=3)
    sd = opt.state_dict()
    ps = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in opt._params]
    opt2 = torch.optim.LBFGS(ps, line_search_fn="strong_wolfe", max_iter=3)
    opt2.load_state_dict(sd)
    s1, s2 = opt.state[opt._params[0]], opt2.state[opt2._params[0]]
    assert s1["n_iter"] == s2["n_iter"] and s1["func_evals"] == s2["func_evals"]
    for a, b in zip(s1["old_dirs"], s2["old_dirs"]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(s1["d"].numpy(), s2["d"].numpy())


# ---- swa_utils ----------------------------------------------------------------------------------------
def _nets():
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    ref = T.nn.Sequential(T.nn.Linear(4, 6), T.nn.BatchNorm1d(6), T.nn.ReLU(), T.nn.Linear(6, 2))
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    return ours, ref


def _train_with_averaging(lib, model, make_avg, steps=6):
    rs = np.random.RandomState(2)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    sched = lib.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=3, anneal_strategy="cos")
    avg = make_avg(lib, model)
    lrs = []
    for _ in range(steps):
        x = lib.tensor(rs.randn(8, 4).astype("float32"))
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        avg.update_parameters(model)
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return avg, lrs


@pytest.mark.parametrize("kind", ["swa", "ema_multi", "ema_avg_fn", "swa_buffers"])
def test_averaged_model_and_swalr_match_torch(kind):
    def make(lib, model):
        su = lib.optim.swa_utils
        if kind == "swa":
            return su.AveragedModel(model)
        if kind == "ema_multi":
            return su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.9), use_buffers=True)
        if kind == "ema_avg_fn":
            return su.AveragedModel(model, avg_fn=su.get_ema_avg_fn(0.8))
        return su.AveragedModel(model, use_buffers=True)

    ours, ref = _nets()
    a, la = _train_with_averaging(torch, ours, make)
    b, lb = _train_with_averaging(T, ref, make)
    np.testing.assert_allclose(la, lb, rtol=1e-12)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sb:
        np.testing.assert_allclose(_num(sa[k]), _num(sb[k]), rtol=1e-5, atol=1e-6, err_msg=k)
    x = np.random.RandomState(5).randn(3, 4).astype("float32")
    a.eval()
    b.eval()
    np.testing.assert_allclose(a(torch.tensor(x)).detach().numpy(), b(T.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_update_bn_matches_torch():
    ours, ref = _nets()
    rs = np.random.RandomState(3)
    data = [rs.randn(5, 4).astype("float32") * 2 + 1 for _ in range(4)]
    update_bn = torch.optim.swa_utils.update_bn
    ours.eval()
    ref.eval()
    update_bn([(torch.tensor(d), 0) for d in data], ours)
    T.optim.swa_utils.update_bn([(T.tensor(d), 0) for d in data], ref)
    assert not ours.training and ours[1].momentum == ref[1].momentum
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(_num(ours.state_dict()[k]), _num(v), rtol=1e-5, atol=1e-6, err_msg=k)


def test_swalr_linear_and_errors():
    p = [torch.zeros(2, requires_grad=True)]
    tp = [T.zeros(2, requires_grad=True)]
    o, to = torch.optim.SGD(p, lr=1.0), T.optim.SGD(tp, lr=1.0)
    s = torch.optim.swa_utils.SWALR(o, swa_lr=0.1, anneal_epochs=0, anneal_strategy="linear")
    ts = T.optim.swa_utils.SWALR(to, swa_lr=0.1, anneal_epochs=0, anneal_strategy="linear")
    for _ in range(3):
        o.step()
        to.step()
        s.step()
        ts.step()
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr())
    with pytest.raises(ValueError, match="anneal_strategy"):
        torch.optim.swa_utils.SWALR(o, swa_lr=0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs"):
        torch.optim.swa_utils.SWALR(o, swa_lr=0.1, anneal_epochs=-1)
