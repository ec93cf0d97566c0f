"""The CUDA path: the same op code on CuPy arrays. Runs only where a GPU is present (marked `cuda`)."""
import numpy as np
import pytest

import disttensor as dt

pytestmark = pytest.mark.cuda


def _pair(shape, seed=0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return dt.tensor(a, requires_grad=True), dt.tensor(a, device="cuda", requires_grad=True)


def test_tensor_lives_on_gpu():
    x = dt.ones(3, device="cuda")
    assert x.is_cuda and x.device.type == "cuda"
    assert x.cpu().tolist() == [1.0, 1.0, 1.0]


def test_elementwise_matmul_and_gradients_match_cpu():
    (a, ga), (b, gb) = _pair((4, 5), 0), _pair((5, 3), 1)
    for x, w in ((a, b), (ga, gb)):
        y = ((x @ w).tanh() * 2 + x.sum()).exp().mean()
        y.backward()
    np.testing.assert_allclose(ga.grad.cpu().numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gb.grad.cpu().numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_device_mismatch_is_reported():
    with pytest.raises(RuntimeError, match="same device"):
        dt.ones(2) + dt.ones(2, device="cuda")


def test_to_device_is_differentiable():
    x = dt.ones(3, requires_grad=True)
    (x.cuda() * 3).sum().backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [3, 3, 3])
