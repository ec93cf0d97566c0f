"""nn on CUDA (skipped without a GPU): the same modules give the same results on cuda as on cpu."""
import numpy as np
import pytest

import disttensor as dt
import disttensor.nn as nn

pytestmark = pytest.mark.cuda


def _model():
    dt.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 6), nn.LayerNorm(6)).double()


def test_module_to_cuda_matches_cpu():
    cpu = _model()
    gpu = _model()
    gpu.load_state_dict(cpu.state_dict())
    w = gpu[0].weight
    gpu.to("cuda")
    assert gpu[0].weight is w and w.is_cuda and gpu[1].running_mean.is_cuda
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 5))
    a = cpu(dt.tensor(x))
    b = gpu(dt.tensor(x).cuda())
    np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-9, atol=1e-12)
    a.sum().backward()
    b.sum().backward()
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        np.testing.assert_allclose(q.grad.cpu().numpy(), p.grad.numpy(), rtol=1e-8, atol=1e-11)
    n1 = nn.utils.clip_grad_norm_(cpu.parameters(), 0.1)
    n2 = nn.utils.clip_grad_norm_(gpu.parameters(), 0.1)
    np.testing.assert_allclose(float(n2), float(n1), rtol=1e-10)
    sd = {k: v.cpu() for k, v in gpu.state_dict().items()}
    cpu.load_state_dict(sd)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_rnn_cuda_matches_cpu(cls):
    dt.manual_seed(0)
    cpu = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True).double()
    gpu = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True).double()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    a, _ = cpu(dt.tensor(x))
    b, _ = gpu(dt.tensor(x).cuda())
    np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-9, atol=1e-12)
    a.sum().backward()
    b.sum().backward()
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        np.testing.assert_allclose(q.grad.cpu().numpy(), p.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_init_on_cuda_and_mha():
    t = nn.init.kaiming_uniform_(dt.empty(64, 32, device="cuda"))
    a = t.cpu().numpy()
    assert np.abs(a).max() <= np.sqrt(6 / 32) and a.std() > 0
    nn.init.orthogonal_(t)
    m = nn.MultiheadAttention(8, 2).cuda()
    x = dt.randn(4, 2, 8, device="cuda")
    out, w = m(x, x, x)
    assert out.is_cuda and tuple(w.shape) == (2, 4, 4)
