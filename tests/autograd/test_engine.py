"""The autograd engine: hooks, retain_graph, in-place checks, deep graphs, memory, custom Functions."""
import gc
import weakref

import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")


def test_scalar_backward_matches_torch():
    x0 = np.random.default_rng(0).standard_normal((3, 4))
    x = dt.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    for lib, v in ((dt, x), (torch, xt)):
        y = (v * v + lib.exp(v) / 3).sum() * 2 - v.mean()
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_backward_with_gradient_argument_for_non_scalar():
    x = dt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.backward(dt.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0, 0.0])


def test_non_scalar_backward_without_gradient_raises():
    x = dt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dt.ones(3).sum().backward()


def test_gradients_accumulate_across_backwards():
    x = dt.ones(2, requires_grad=True)
    (x * 3).sum().backward()
    (x * 4).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [7.0, 7.0])


def test_shared_subexpression_is_summed_once_per_path():
    x = dt.tensor([2.0], requires_grad=True)
    a = x * x
    y = a + a * a  # dy/dx = 2x + 4x^3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 2 + 4 * 8])


def test_second_backward_without_retain_graph_raises():
    x = dt.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = dt.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0, 4.0])


def test_deep_chain_of_10000_ops_is_iterative():
    x = dt.tensor([1.0], dtype=dt.float64, requires_grad=True)
    h = x
    for _ in range(10000):
        h = h * 1.0001
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10000], rtol=1e-5)


def test_no_memory_kept_after_backward():
    x = dt.randn(100, requires_grad=True)
    h = x * 2
    ref = weakref.ref(h)
    y = (h.exp() * h).sum()
    node = weakref.ref(y.grad_fn)
    del h
    y.backward()
    del y
    gc.collect()
    assert ref() is None, "an intermediate tensor outlived its graph"
    assert node() is None, "a graph node outlived backward"


def test_saved_arrays_are_released_after_backward():
    x = dt.randn(50, requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    mul_node = z.grad_fn._next[0]
    assert mul_node.saved is not None
    z.backward()
    from disttensor.autograd.node import FREED
    assert mul_node.saved is FREED


def test_no_grad_and_enable_grad():
    x = dt.ones(2, requires_grad=True)
    with dt.no_grad():
        y = x * 2
        with dt.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @dt.no_grad()
    def f(v):
        return v * 3
    assert not f(x).requires_grad
    assert dt.is_grad_enabled()


def test_set_grad_enabled_and_inference_mode():
    x = dt.ones(2, requires_grad=True)
    with dt.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    with dt.inference_mode():
        assert not (x * 2).requires_grad
        assert dt.is_inference_mode_enabled()
    assert (x * 2).requires_grad


def test_detach_shares_memory_and_cuts_graph():
    x = dt.ones(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    d[0] = 5.0
    assert y[0].item() == 5.0


def test_tensor_hook_modifies_gradient():
    x = dt.ones(3, requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3, 3, 3])
    np.testing.assert_allclose(x.grad.numpy(), [6, 6, 6])


def test_hook_on_intermediate_and_retain_grad():
    x = dt.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    h = y.register_hook(lambda g: g * 10)
    (y * 3).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [30, 30])
    np.testing.assert_allclose(x.grad.numpy(), [60, 60])
    h.remove()
    x.grad = None
    y2 = x * 2
    (y2 * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6, 6])


def test_post_accumulate_grad_hook_fires_once_after_accumulation():
    w = dt.ones(2, requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.numpy().copy()))
    (w * 2 + w * 3).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [5, 5])


def test_queue_callback_runs_at_end_of_backward():
    w = dt.ones(2, requires_grad=True)
    order = []

    def hook(p):
        order.append("hook")
        dt.autograd.queue_callback(lambda: order.append("callback"))
    w.register_post_accumulate_grad_hook(hook)
    (w * 2).sum().backward()
    assert order == ["hook", "callback"]


def test_inplace_on_saved_tensor_raises_version_error():
    x = dt.ones(3, requires_grad=True)
    y = x.exp()
    z = y * y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    x = dt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with dt.no_grad():
        x.add_(1)
    np.testing.assert_allclose(x.detach().numpy(), [2, 2, 2])


def test_inplace_on_non_leaf_is_differentiable():
    x0 = np.array([1.0, 2.0, 3.0])
    x = dt.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    for v in (x, xt):
        y = v * 2
        y.mul_(v)
        y.add_(1)
        y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_autograd_grad_returns_without_touching_grad():
    x = dt.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = dt.autograd.grad(y, x)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_autograd_grad_unused_input():
    x = dt.ones(2, requires_grad=True)
    z = dt.ones(2, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        dt.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = dt.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None


def test_custom_function():
    class Cube(dt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = dt.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(dt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = dt.randn(4, dtype=dt.float64, requires_grad=True)
    assert dt.autograd.gradcheck(lambda v: v * 2, (x,))
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        dt.autograd.gradcheck(Wrong.apply, (x,))


def test_anomaly_mode_names_the_forward_op():
    x = dt.tensor([-1.0, 1.0], requires_grad=True)
    with dt.autograd.detect_anomaly():
        y = dt.sqrt(x)  # nan forward at -1 gives nan gradient
        with pytest.raises(RuntimeError, match="Sqrt") as e:
            y.sum().backward()
    assert "test_engine.py" in str(e.value)


def test_requires_grad_only_for_float():
    with pytest.raises(RuntimeError, match="floating point"):
        dt.tensor([1, 2]).requires_grad_()


def test_backward_broadcast_and_dtype_are_fitted():
    b = dt.zeros(4, requires_grad=True)
    x = dt.ones(3, 4)
    (x + b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [3, 3, 3, 3])
    h = dt.ones(3, dtype=dt.float16, requires_grad=True)
    (h.float() * 2).sum().backward()
    assert h.grad.dtype == dt.float16


def test_leaves_never_share_gradient_memory():
    # add's backward hands the same array to both inputs; each leaf must end up with its own
    x = dt.ones(4, requires_grad=True)
    y = dt.ones(4, requires_grad=True)
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    (x + y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2, 2])
    np.testing.assert_allclose(y.grad.numpy(), [2, 2, 2, 2])


def test_user_gradient_is_not_adopted():
    x = dt.ones(3, requires_grad=True)
    g = dt.tensor([1.0, 2.0, 3.0])
    x.clone().backward(g)  # clone passes the incoming array straight through
    x.grad.add_(1)
    np.testing.assert_allclose(g.numpy(), [1, 2, 3])


@pytest.mark.timeout(60)
def test_backward_in_several_threads_at_once():
    # PyTorch allows concurrent backward passes from Python threads; each gets its own callbacks
    import threading
    errors, grads = [], {}
    barrier = threading.Barrier(4)

    def work(k):
        try:
            x = dt.full((50,), float(k), requires_grad=True)
            barrier.wait()
            for _ in range(200):
                x.grad = None
                y = x
                for _ in range(20):
                    y = (y * 1.0001).tanh() + x
                ran = []
                y.register_hook(lambda g: dt.autograd.queue_callback(lambda: ran.append(1)) or g)
                y.sum().backward()
                assert ran == [1]
            grads[k] = x.grad.numpy().copy()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(4):  # the same computation alone in this thread
        x = dt.full((50,), float(k), requires_grad=True)
        y = x
        for _ in range(20):
            y = (y * 1.0001).tanh() + x
        y.sum().backward()
        np.testing.assert_array_equal(grads[k], x.grad.numpy())


def _none_for_second_input(L):
    class PassFirst(L.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None
    return PassFirst


@pytest.mark.parametrize("via", ["backward", "grad"])
def test_a_none_gradient_does_not_strand_other_paths(via):
    """A backward returning None for an input with history: the nodes behind it (here y = x * 2 -> exp, two
    deep) get nothing from that edge but must still run for the gradients of their other paths (the engine
    once left them waiting, and x's gradient was silently lost)."""
    out = {}
    for L in (dt, torch):
        x = L.tensor([0.5, 1.0, 2.0], requires_grad=True)
        y = (x * 2).exp()
        z = x * 3
        r = _none_for_second_input(L).apply(z, y) + y.sum()
        if via == "backward":
            r.sum().backward()
            out[L] = x.grad.numpy()
        else:
            (gx,) = L.autograd.grad(r.sum(), [x])
            out[L] = gx.numpy()
    np.testing.assert_allclose(out[dt], out[torch], rtol=1e-6)


def test_only_none_gradients_leave_the_leaf_unused():
    """Every path into x returns None: x.grad stays None, and autograd.grad says the input was unused unless
    allow_unused=True (as torch)."""
    for L in (dt, torch):
        x = L.ones(2, requires_grad=True)
        w = L.ones(2, requires_grad=True)
        r = _none_for_second_input(L).apply(w, x * 2).sum()
        r.backward(retain_graph=True)
        assert x.grad is None and w.grad is not None
        with pytest.raises(RuntimeError, match="not have been used in the graph"):
            L.autograd.grad(r, [x], retain_graph=True)
        assert L.autograd.grad(r, [x], allow_unused=True)[0] is None
