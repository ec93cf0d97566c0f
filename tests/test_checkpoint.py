"""disttensor.utils.checkpoint against torch.utils.checkpoint (torch 2.13): gradients of inputs and
parameters equal to the plain run and to torch's (dropout included, thanks to the RNG restore), both
variants, and the memory actually released after forward."""
import warnings

import numpy as np
import pytest
import torch as T
import torch.utils.checkpoint as tck

import disttensor as torch
import disttensor.nn as nn
from disttensor.autograd.node import Node
from disttensor.utils.checkpoint import checkpoint, checkpoint_sequential


def _pair(seed=0):
    torch.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    ref = T.nn.Sequential(T.nn.Linear(6, 16), T.nn.Tanh(), T.nn.Linear(16, 16), T.nn.ReLU(), T.nn.Linear(16, 4))
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    return ours, ref


X = np.random.RandomState(0).randn(5, 6).astype(np.float32)


def _grads(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def _close(a, b, tol=1e-5):
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize("reentrant", [True, False])
def test_grads_equal_plain_run_and_torch(reentrant):
    ours, ref = _pair()
    x = torch.tensor(X, requires_grad=True)
    (ours(x) ** 2).sum().backward()
    plain = _grads(ours) + [x.grad.numpy().copy()]
    ours.zero_grad()
    x = torch.tensor(X, requires_grad=True)
    y = checkpoint(ours, x, use_reentrant=reentrant)
    (y ** 2).sum().backward()
    ck = _grads(ours) + [x.grad.numpy()]
    _close(ck, plain, 1e-6)
    xt = T.tensor(X, requires_grad=True)
    (tck.checkpoint(ref, xt, use_reentrant=reentrant) ** 2).sum().backward()
    _close(ck, [p.grad.numpy() for p in ref.parameters()] + [xt.grad.numpy()])
    np.testing.assert_allclose(y.detach().numpy(), ref(T.tensor(X)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reentrant", [True, False])
def test_dropout_mask_is_reproduced_on_recompute(reentrant):
    torch.manual_seed(0)
    lin = nn.Linear(6, 32)
    drop = nn.Dropout(0.5)

    def f(x):
        return drop(torch.tanh(lin(x))) * 3

    x0 = torch.tensor(X, requires_grad=True)
    torch.manual_seed(7)
    f(x0).sum().backward()
    plain = [x0.grad.numpy().copy(), lin.weight.grad.numpy().copy()]
    lin.zero_grad()
    x1 = torch.tensor(X, requires_grad=True)
    torch.manual_seed(7)
    y = checkpoint(f, x1, use_reentrant=reentrant)
    after_fwd = torch.rand(3)  # RNG advanced past the forward's draws ...
    y.sum().backward()
    _close([x1.grad.numpy(), lin.weight.grad.numpy()], plain, 1e-6)
    torch.manual_seed(7)
    f(x1)
    np.testing.assert_array_equal(torch.rand(3).numpy(), after_fwd.numpy())  # ... and recompute left it alone
    # without preserving the RNG state the recomputed mask differs (so grads differ from the plain run)
    lin.zero_grad()
    x2 = torch.tensor(X, requires_grad=True)
    torch.manual_seed(7)
    y = checkpoint(f, x2, use_reentrant=reentrant, preserve_rng_state=False)
    y.sum().backward()
    assert not np.allclose(lin.weight.grad.numpy(), plain[1])


def _saved_bytes(t):
    """Bytes of arrays held by the graph nodes reachable from t.grad_fn (saved for backward)."""
    total = 0
    seen = set()
    stack = [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen or not isinstance(n, Node):
            continue
        seen.add(id(n))
        for k in type(n).__mro__:
            for s in getattr(k, "__slots__", ()):
                if s in ("_next", "__weakref__"):
                    continue
                v = getattr(n, s, None)
                vals = v if isinstance(v, (tuple, list)) else (v,)
                for a in vals:
                    if isinstance(a, np.ndarray):
                        total += a.nbytes
        stack.extend(e for e in n._next if isinstance(e, Node))
    return total


@pytest.mark.parametrize("reentrant", [True, False])
def test_intermediates_are_not_kept(reentrant):
    torch.manual_seed(0)
    big = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(64, 64), nn.Tanh())])
    x = torch.randn(256, 64, requires_grad=True)
    plain = _saved_bytes(big(x))
    y = checkpoint(big, x, use_reentrant=reentrant)
    ck = _saved_bytes(y)
    assert plain > 4 * 256 * 64 * 4  # the plain graph keeps the activations (several 64 KiB arrays)
    assert ck < 256 * 64 * 4 // 2, (plain, ck)  # the checkpointed one keeps none of them
    # activations are freed: weak references to the intermediate tensors die after forward
    import weakref
    refs = []

    def f(x):
        h = x
        for m in big:
            h = m(h)
            refs.append(weakref.ref(h))
        return h
    y = checkpoint(f, x, use_reentrant=reentrant)
    import gc
    gc.collect()
    alive = [r() is not None for r in refs[:-1]]
    assert not any(alive)
    y.sum().backward()
    assert x.grad is not None and big[0].weight.grad is not None


@pytest.mark.parametrize("reentrant", [True, False])
def test_tuple_outputs_non_tensor_args_and_inputs_without_grad(reentrant):
    torch.manual_seed(0)
    lin = nn.Linear(3, 3)
    a0 = np.random.RandomState(1).randn(4, 3).astype(np.float32)
    b0 = np.random.RandomState(2).randn(4, 3).astype(np.float32)
    w = {}

    def run(lib, mod, ck):
        a = lib.tensor(a0, requires_grad=True)
        b = lib.tensor(b0)  # no grad
        def f(a, b, scale, tag):
            assert tag == "t"
            h = mod(a * scale + b)
            return h.sin(), 7, (h * b).exp()
        if ck:
            out = (checkpoint if lib is torch else tck.checkpoint)(f, a, b, 2.0, "t", use_reentrant=reentrant)
        else:
            out = f(a, b, 2.0, "t")
        assert out[1] == 7
        (out[0].sum() + (out[2] * 0.1).sum()).backward()
        return [a.grad.numpy().copy(), mod.weight.grad.numpy().copy()]

    plain = run(torch, lin, False)
    lin.zero_grad()
    got = run(torch, lin, True)
    _close(got, plain, 1e-6)
    ref = T.nn.Linear(3, 3)
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in lin.state_dict().items()})
    _close(got, run(T, ref, True))
    w["x"] = 1


def test_only_one_output_used_and_multiple_segments_reentrant():
    torch.manual_seed(0)
    x = torch.randn(4, 3, requires_grad=True)
    p, q = checkpoint(lambda t: (t * 2, t.exp()), x, use_reentrant=True)
    q.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()), rtol=1e-6)


def test_no_input_requires_grad_warns_like_torch():
    lin = nn.Linear(2, 2)
    x = torch.ones(3, 2)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(lin, x, use_reentrant=True)
    assert not y.requires_grad  # torch: parameters inside get no gradient either
    yt = checkpoint(lin, x, use_reentrant=False)
    assert yt.requires_grad


def test_use_reentrant_warning_and_argument_errors():
    x = torch.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda t: t * 2, x)
    with pytest.warns(UserWarning, match="use_reentrant"):
        with pytest.raises(ValueError, match="Unexpected keyword arguments: k"):
            checkpoint(lambda t, k=1: t * k, x, k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint(lambda t: t * 2, x, use_reentrant=False)
        with pytest.raises(ValueError, match="context_fn"):
            checkpoint(lambda t: t, x, use_reentrant=True, debug=True)
    with pytest.raises(ValueError, match="determinism_check"):
        checkpoint(lambda t: t * 2, x, use_reentrant=False, determinism_check="bogus")


def test_nonreentrant_kwargs_autograd_grad_and_retain_graph():
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    ref = T.nn.Linear(3, 2)
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in lin.state_dict().items()})
    x0 = np.random.RandomState(3).randn(4, 3).astype(np.float32)

    def f(x, *, mod, power=2):
        return mod(x).tanh() ** power

    x = torch.tensor(x0, requires_grad=True)
    y = checkpoint(f, x, mod=lin, power=3, use_reentrant=False)
    gx, gw = torch.autograd.grad(y.sum(), [x, lin.weight], retain_graph=True)
    assert lin.weight.grad is None  # autograd.grad does not touch .grad
    xt = T.tensor(x0, requires_grad=True)
    yt = tck.checkpoint(f, xt, mod=ref, power=3, use_reentrant=False)
    gxt, gwt = T.autograd.grad(yt.sum(), [xt, ref.weight])
    _close([gx.numpy(), gw.numpy()], [gxt.numpy(), gwt.numpy()])
    # retain_graph: a second backward through the same checkpoint works
    y.sum().backward()
    _close([x.grad.numpy(), lin.weight.grad.numpy()], [gxt.numpy(), gwt.numpy()])
    # backward(inputs=...) only fills the named leaves
    x = torch.tensor(x0, requires_grad=True)
    lin.zero_grad()
    checkpoint(f, x, mod=lin, use_reentrant=False).sum().backward(inputs=[x])
    assert x.grad is not None and lin.weight.grad is None


def test_nonreentrant_input_with_history_and_closure_tensor_error():
    torch.manual_seed(0)
    w = torch.randn(3, 3, requires_grad=True)
    x0 = torch.randn(2, 3, requires_grad=True)
    h = x0 * 2  # input with history: the boundary
    y = checkpoint(lambda t: (t @ w).sin(), h, use_reentrant=False)
    y.sum().backward()
    xt = T.tensor(x0.detach().numpy(), requires_grad=True)
    wt = T.tensor(w.detach().numpy(), requires_grad=True)
    ((xt * 2) @ wt).sin().sum().backward()
    _close([x0.grad.numpy(), w.grad.numpy()], [xt.grad.numpy(), wt.grad.numpy()])
    # a tensor with history reached only through the closure: a clear error instead of wrong gradients
    outer = (w * 3).exp()
    y = checkpoint(lambda t: (t @ outer).sum(1), x0.detach().requires_grad_(), use_reentrant=False)
    with pytest.raises(RuntimeError, match="pass it as an argument"):
        y.sum().backward()


def test_nonreentrant_determinism_check():
    calls = [0]

    def f(x):
        calls[0] += 1
        return x.exp() if calls[0] == 1 else x.exp().sum()

    x = torch.ones(3, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False)
    with pytest.raises(RuntimeError, match="recomputed graph differs"):
        y.sum().backward()
    n = [3]

    def g(x):
        r = (x[:n[0]] * 2).exp()
        n[0] = 2
        return r

    y = checkpoint(g, x, use_reentrant=False)
    with pytest.raises(RuntimeError, match="different metadata"):
        y.sum().backward()


def test_backward_twice_without_retain_graph_raises_like_plain():
    x = torch.ones(3, requires_grad=True)
    y = checkpoint(lambda t: t.exp() * 2, x, use_reentrant=False).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_sequential_matches_torch(reentrant):
    torch.manual_seed(0)
    layers = [nn.Linear(6, 6) if i % 2 == 0 else nn.Tanh() for i in range(8)]
    ours = nn.Sequential(*layers)
    ref = T.nn.Sequential(*[T.nn.Linear(6, 6) if i % 2 == 0 else T.nn.Tanh() for i in range(8)])
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    x = torch.tensor(X, requires_grad=True)
    y = checkpoint_sequential(ours, 3, x, use_reentrant=reentrant)
    y.sum().backward()
    xt = T.tensor(X, requires_grad=True)
    yt = tck.checkpoint_sequential(ref, 3, xt, use_reentrant=reentrant)
    yt.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    _close(_grads(ours) + [x.grad.numpy()], [p.grad.numpy() for p in ref.parameters()] + [xt.grad.numpy()])
    with pytest.warns(UserWarning, match="checkpoint_sequential: the use_reentrant"):
        checkpoint_sequential(list(ours.children()), 2, torch.tensor(X, requires_grad=True))


def test_reachable_as_torch_utils_checkpoint():
    import disttensor.utils.checkpoint as m
    assert torch.utils.checkpoint is m
    assert torch.utils.checkpoint.checkpoint is checkpoint


def test_reentrant_with_autograd_grad_or_backward_inputs_raises_like_torch():
    """torch 2.13: the reentrant variant cannot run under autograd.grad or backward(inputs=...) (its nested
    backward would fill the parameters' .grad); both libraries raise the same error and leave .grad alone."""
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    ref = T.nn.Linear(3, 2)
    x0 = np.random.RandomState(5).randn(4, 3).astype(np.float32)
    for lib, mod, ck in ((torch, lin, checkpoint), (T, ref, tck.checkpoint)):
        x = lib.tensor(x0, requires_grad=True)
        with pytest.raises(RuntimeError) as err:
            lib.autograd.grad(ck(mod, x, use_reentrant=True).sum(), [x])
        assert str(err.value) == (
            "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or passing an `inputs` "
            "parameter to .backward(). To resolve this error, you can either set use_reentrant=False, or call "
            ".backward() without passing the `inputs` argument.")
        with pytest.raises(RuntimeError, match="incompatible with .grad"):
            ck(mod, x, use_reentrant=True).sum().backward(inputs=[x])
        assert x.grad is None and mod.weight.grad is None and mod.bias.grad is None
        ck(mod, x, use_reentrant=True).sum().backward()  # a plain backward still works
        assert x.grad is not None and mod.weight.grad is not None
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.tile(x0.sum(0), (2, 1)), rtol=1e-5)


def test_nonreentrant_autograd_grad_touches_no_grad():
    """use_reentrant=False under autograd.grad: the requested gradients equal torch's, and no .grad anywhere
    (parameters inside the function, leaves before it) is created or changed."""
    torch.manual_seed(0)
    lin = nn.Linear(3, 3)
    ref = T.nn.Linear(3, 3)
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in lin.state_dict().items()})
    x0 = np.random.RandomState(6).randn(2, 3).astype(np.float32)
    out = {}
    for lib, mod, ck in ((torch, lin, checkpoint), (T, ref, tck.checkpoint)):
        leaf = lib.tensor(x0, requires_grad=True)
        h = leaf.tanh()   # history before the checkpoint
        y = ck(lambda t: mod(t).sin() * t, h, use_reentrant=False)
        (gh,) = lib.autograd.grad(y.sum(), [h], retain_graph=True)
        (gl,) = lib.autograd.grad(y.sum(), [leaf])
        assert leaf.grad is None and mod.weight.grad is None and mod.bias.grad is None
        out[lib] = (gh.numpy(), gl.numpy())
    _close(out[torch], out[T])
