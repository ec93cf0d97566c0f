"""LR scheduler curves vs PyTorch over 30 steps."""
import math
import warnings

import numpy as np
import pytest
import torch

import disttensor as dt
from disttensor import optim
from disttensor.optim import lr_scheduler as dls
from torch.optim import lr_scheduler as tls


def _opts(lib_opt, lib, kind="SGD"):
    p1 = lib.zeros(2, requires_grad=True)
    p2 = lib.zeros(3, requires_grad=True)
    if kind == "SGD":
        return getattr(lib_opt, "SGD")([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1, momentum=0.9)
    return getattr(lib_opt, kind)([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1)


def _lam(e):
    return 0.95 ** e


def _mul(e):
    return 0.9


SIMPLE = {
    "StepLR": dict(step_size=4, gamma=0.5),
    "MultiStepLR": dict(milestones=[3, 7, 7, 20], gamma=0.3),
    "ExponentialLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=7, eta_min=0.01),
    "CosineAnnealingWarmRestarts": dict(T_0=4, T_mult=2, eta_min=0.001),
    "LambdaLR": dict(lr_lambda=_lam),
    "MultiplicativeLR": dict(lr_lambda=_mul),
    "LinearLR": dict(start_factor=0.2, end_factor=0.9, total_iters=8),
    "ConstantLR": dict(factor=0.4, total_iters=6),
    "PolynomialLR": dict(total_iters=12, power=2.0),
    "OneCycleLR": dict(max_lr=[1.0, 2.0], total_steps=31),
    "OneCycleLR-linear-3phase": dict(max_lr=1.0, total_steps=31, anneal_strategy="linear", three_phase=True),
    "OneCycleLR-adam": dict(max_lr=0.3, total_steps=31, pct_start=0.25),
    "CyclicLR": dict(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=3),
    "CyclicLR-triangular2": dict(base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3, mode="triangular2"),
    "CyclicLR-exp_range-adam": dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.9),
}


def _curve(opt, sched, n=30, momentum_key=None):
    lrs = [list(sched.get_last_lr())]
    moms = []
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        if momentum_key:
            moms.append([g[momentum_key] if momentum_key == "momentum" else g["betas"][0] for g in opt.param_groups])
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("name", list(SIMPLE))
def test_curve_matches_torch(name):
    cls = name.split("-")[0]
    kind = "Adam" if name.endswith("adam") else "SGD"
    do, to = _opts(optim, dt, kind), _opts(torch.optim, torch, kind)
    ds = getattr(dls, cls)(do, **SIMPLE[name])
    ts = getattr(tls, cls)(to, **SIMPLE[name])
    mk = ("betas" if kind == "Adam" else "momentum") if cls in ("OneCycleLR", "CyclicLR") else None
    a, am = _curve(do, ds, momentum_key=mk)
    b, bm = _curve(to, ts, momentum_key=mk)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    if mk:
        np.testing.assert_allclose(am, bm, rtol=1e-12)
    # state dict round trip: a fresh scheduler resumes on the same curve
    sd = ds.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 30


def test_epoch_argument_closed_form():
    for cls, kw in [("StepLR", dict(step_size=3)), ("CosineAnnealingLR", dict(T_max=10)),
                    ("ExponentialLR", dict(gamma=0.8)), ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2))]:
        do, to = _opts(optim, dt), _opts(torch.optim, torch)
        ds, ts = getattr(dls, cls)(do, **kw), getattr(tls, cls)(to, **kw)
        for e in [5, 2, 9, 13]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.step(e)
                ts.step(e)
            np.testing.assert_allclose(ds.get_last_lr(), ts.get_last_lr(), rtol=1e-12)


def test_sequential_and_chained():
    def build(lib_opt, lib_s, lib):
        o = _opts(lib_opt, lib)
        s1 = lib_s.LinearLR(o, start_factor=0.1, total_iters=5)
        s2 = lib_s.ExponentialLR(o, gamma=0.9)
        s3 = lib_s.CosineAnnealingLR(o, T_max=8)
        return o, lib_s.SequentialLR(o, [s1, s2, s3], milestones=[5, 12])

    a, _ = _curve(*build(optim, dls, dt))
    b, _ = _curve(*build(torch.optim, tls, torch))
    np.testing.assert_allclose(a, b, rtol=1e-12)

    def build2(lib_opt, lib_s, lib):
        o = _opts(lib_opt, lib)
        return o, lib_s.ChainedScheduler([lib_s.ConstantLR(o, factor=0.5, total_iters=4),
                                          lib_s.StepLR(o, step_size=3, gamma=0.7)])

    a, _ = _curve(*build2(optim, dls, dt))
    b, _ = _curve(*build2(torch.optim, tls, torch))
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_reduce_on_plateau():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
               0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    for kw in [dict(patience=2), dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.01, 0.02]),
               dict(mode="max", patience=1, threshold_mode="abs", threshold=0.01)]:
        do, to = _opts(optim, dt), _opts(torch.optim, torch)
        ds, ts = dls.ReduceLROnPlateau(do, **kw), tls.ReduceLROnPlateau(to, **kw)
        for m in metrics:
            ds.step(m)
            ts.step(m)
            assert ds.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
            assert ds.num_bad_epochs == ts.num_bad_epochs


def test_resume_and_errors():
    do = _opts(optim, dt)
    s = dls.StepLR(do, step_size=2, gamma=0.5)
    for _ in range(5):
        s.step()
    sd = s.state_dict()
    do2 = _opts(optim, dt)
    do2.load_state_dict(do.state_dict())
    s2 = dls.StepLR(do2, step_size=2, gamma=0.5, last_epoch=4)
    s2.load_state_dict(sd)
    s.step()
    s2.step()
    assert s.get_last_lr() == s2.get_last_lr()
    with pytest.raises(KeyError, match="initial_lr"):
        dls.StepLR(_opts(optim, dt), step_size=2, last_epoch=3)
    with pytest.raises(TypeError):
        dls.StepLR(object(), step_size=2)
    o = _opts(optim, dt)
    oc = dls.OneCycleLR(o, max_lr=1.0, total_steps=3)
    for _ in range(3):
        oc.step()
    with pytest.raises(ValueError, match="Tried to step"):
        oc.step()


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingWarmRestarts", "LambdaLR", "OneCycleLR",
                                  "LinearLR"])
def test_state_dict_survives_save_load(name):
    import io
    cls = name.split("-")[0]
    do = _opts(optim, dt)
    s = getattr(dls, cls)(do, **SIMPLE[name])
    for _ in range(7):
        do.step()
        s.step()
    buf = io.BytesIO()
    dt.save({"sched": s.state_dict(), "opt": do.state_dict()}, buf)
    buf.seek(0)
    ck = dt.load(buf)
    do2 = _opts(optim, dt)
    s2 = getattr(dls, cls)(do2, **SIMPLE[name])  # like PyTorch: build the scheduler before loading the optimizer
    do2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    for _ in range(5):
        s.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()
    rp = dls.ReduceLROnPlateau(do)
    buf = io.BytesIO()
    dt.save(rp.state_dict(), buf)
    buf.seek(0)
    assert dt.load(buf)["best"] == math.inf
