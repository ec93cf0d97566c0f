"""disttensor.amp against torch.amp: autocast's dtypes and values, GradScaler's update rule and skipped steps,
custom_fwd/custom_bwd, half-precision matmul/linear."""
import warnings

import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")


def _both(fn):
    return fn(torch), fn(dt)


def _np(t):
    return t.detach().float().numpy()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_cpu_op_dtypes_values_and_gradients_match_torch(dtype):
    """Inside autocast("cpu"): linear/matmul/conv/bmm/addmm in the low dtype, losses in float32, other ops in
    their inputs' dtype; the float32 parameters' gradients are float32; values as torch's (same roundings)."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    cw = (rng.standard_normal((5, 3, 3, 3)) * 0.2).astype(np.float32)
    lw = (rng.standard_normal((7, 5 * 36)) * 0.1).astype(np.float32)
    lb = rng.standard_normal(7).astype(np.float32)
    target = rng.integers(0, 7, 4)

    def run(L):
        x = L.from_numpy(xs.copy())
        w1 = L.from_numpy(cw.copy()).requires_grad_()
        w2 = L.from_numpy(lw.copy()).requires_grad_()
        b2 = L.from_numpy(lb.copy()).requires_grad_()
        F = L.nn.functional
        with L.autocast("cpu", dtype=getattr(L, dtype)):
            h = F.conv2d(x, w1)
            a = F.relu(h).flatten(1)
            logits = F.linear(a, w2, b2)
            m = logits @ logits.t()
            bm = L.bmm(logits[None], logits.t()[None])
            am = L.addmm(L.zeros(4, 4), logits, logits.t())
            loss = F.cross_entropy(logits, L.from_numpy(target)) + F.mse_loss(m, L.zeros(4, 4)) * 0.001
            inner = L.is_autocast_enabled("cpu")
        loss.backward()
        return dict(dtypes=[str(t.dtype).split(".")[-1] for t in (h, a, logits, m, bm, am, loss)], inner=inner,
                    outer=L.is_autocast_enabled("cpu"), loss=float(loss.detach()),
                    grads=[_np(p.grad) for p in (w1, w2, b2)], gdt=[str(p.grad.dtype).split(".")[-1]
                                                                    for p in (w1, w2, b2)])
    t, d = _both(run)
    assert d["dtypes"] == t["dtypes"] == [dtype] * 6 + ["float32"]
    assert d["gdt"] == t["gdt"] == ["float32"] * 3
    assert d["inner"] and t["inner"] and not d["outer"] and not t["outer"]
    tol = 2e-2 if dtype == "bfloat16" else 2e-3
    assert d["loss"] == pytest.approx(t["loss"], rel=tol)
    for a, b in zip(d["grads"], t["grads"]):
        np.testing.assert_allclose(a, b, rtol=tol * 5, atol=tol * np.abs(b).max())


def test_autocast_leaves_float64_nesting_and_disable():
    x64 = dt.randn(3, 4, dtype=dt.float64)
    w = dt.randn(4, 2)
    with dt.autocast("cpu"):
        assert (x64 @ x64.t()).dtype == dt.float64          # float64 is never cast
        assert (w.t() @ w).dtype == dt.bfloat16
        with dt.autocast("cpu", enabled=False):
            assert (w.t() @ w).dtype == dt.float32
            assert not dt.is_autocast_enabled("cpu")
        with dt.autocast("cpu", dtype=dt.float16):
            assert (w.t() @ w).dtype == dt.float16
        assert (w.t() @ w).dtype == dt.bfloat16
    assert (w.t() @ w).dtype == dt.float32

    @dt.autocast("cpu")
    def f(a):
        return a @ a.t()
    assert f(w).dtype == dt.bfloat16 and (w @ w.t()).dtype == dt.float32


def test_autocast_is_per_thread():
    import threading
    seen = []
    with dt.autocast("cpu"):
        th = threading.Thread(target=lambda: seen.append((dt.randn(2, 2) @ dt.randn(2, 2)).dtype))
        th.start()
        th.join()
    assert seen == [dt.float32]


def test_autocast_bad_arguments_like_torch():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        dt.autocast("tpu")
    with pytest.raises(ValueError, match="device_type"):
        dt.autocast(0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with dt.autocast("cpu", dtype=dt.float64):
            assert (dt.randn(2, 2) @ dt.randn(2, 2)).dtype == dt.float32
    assert any("not supported" in str(x.message) for x in w)
    if not dt.cuda.is_available():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with dt.autocast("cuda"):
                pass
            s = dt.cuda.amp.GradScaler()
        assert any("CUDA is not available" in str(x.message) for x in w)
        assert not s.is_enabled() and s.get_scale() == 1.0


def _train_with_scaler(L, grads_with_inf, growth_interval=3):
    """A few SGD steps of a linear model through GradScaler("cpu"); at the steps in grads_with_inf one
    gradient is made inf after backward (as an fp16 overflow would)."""
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    xs = rng.standard_normal((6, 8, 4)).astype(np.float32)
    model = L.nn.Linear(4, 3, bias=False)
    with L.no_grad():
        model.weight.copy_(L.from_numpy(w0))
    opt = L.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = L.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=growth_interval)
    scales, rets = [], []
    for i in range(6):
        opt.zero_grad()
        loss = model(L.from_numpy(xs[i])).pow(2).mean()
        scaler.scale(loss).backward()
        if i in grads_with_inf:
            model.weight.grad[0, 0] = float("inf")
        scaler.unscale_(opt)
        rets.append(scaler.step(opt) is None)
        scaler.update()
        scales.append(scaler.get_scale())
    return model.weight.detach().numpy().copy(), scales, rets, scaler.state_dict()


@pytest.mark.parametrize("bad", [(), (1,), (0, 3, 4)])
def test_grad_scaler_matches_torch(bad):
    t, d = _both(lambda L: _train_with_scaler(L, bad))
    np.testing.assert_allclose(d[0], t[0], rtol=1e-6, atol=1e-7)
    assert d[1] == t[1]                   # the scale after each update
    assert d[2] == t[2]                   # which steps were skipped
    assert {k: float(v) for k, v in d[3].items()} == {k: float(v) for k, v in t[3].items()}


def test_grad_scaler_protocol_errors_and_state_dict():
    m = dt.nn.Linear(2, 1)
    opt = dt.optim.SGD(m.parameters(), lr=0.1)
    s = dt.amp.GradScaler("cpu")
    s.scale(m(dt.ones(1, 2)).sum()).backward()
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        s.step(opt)
    with pytest.raises(RuntimeError, match="Closure"):
        s.step(opt, closure=lambda: 0)
    s.update(new_scale=8.0)
    s2 = dt.amp.GradScaler("cpu")
    s2.load_state_dict(s.state_dict())
    assert s2.get_scale() == 8.0
    assert s.scale([dt.ones(1), (dt.ones(1),)])[1][0].item() == 8.0
    off = dt.amp.GradScaler("cpu", enabled=False)
    x = dt.ones(1)
    assert off.scale(x) is x and off.state_dict() == {}


def test_custom_fwd_bwd_cast_inputs():
    seen = {}

    class Square(dt.autograd.Function):
        @staticmethod
        @dt.amp.custom_fwd(device_type="cpu", cast_inputs=dt.float32)
        def forward(ctx, a):
            seen["fwd"] = (a.dtype, dt.is_autocast_enabled("cpu"))
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        @dt.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd"] = dt.is_autocast_enabled("cpu")
            a, = ctx.saved_tensors
            return 2 * a * g

    x = dt.randn(3, dtype=dt.bfloat16, requires_grad=True)
    with dt.autocast("cpu"):
        y = Square.apply(x)
    y.sum().backward()
    assert seen == {"fwd": (dt.float32, False), "bwd": False}
    assert x.grad.dtype == dt.bfloat16


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_matmul_and_linear_dtype_and_values_match_torch(dtype):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 5, 16)).astype(np.float32), rng.standard_normal((16, 7)).astype(np.float32)

    def run(L):
        x = L.from_numpy(a).to(getattr(L, dtype)).requires_grad_()
        w = L.from_numpy(b).to(getattr(L, dtype)).requires_grad_()
        y = x @ w
        z = L.nn.functional.linear(x, w.t())
        (y.float().sum() + (z.float() ** 2).sum()).backward()
        return [str(v.dtype) for v in (y, z, x.grad, w.grad)], [_np(v) for v in (y, z, x.grad, w.grad)]
    t, d = _both(run)
    assert [s.split(".")[-1] for s in d[0]] == [s.split(".")[-1] for s in t[0]] == [dtype] * 4
    for u, v in zip(d[1], t[1]):
        np.testing.assert_allclose(u, v, rtol=1e-2, atol=1e-2)
