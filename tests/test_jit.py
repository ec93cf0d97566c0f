"""disttensor.jit: eager stand-ins for torch.jit's decorators; results equal the undecorated code and torch's."""
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch as T

import disttensor as torch
import disttensor.nn as nn


def _model_pair():
    torch.manual_seed(0)
    m = Net()
    ref = RefNet()
    ref.load_state_dict({k: T.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    return m, ref


class Net(nn.Module):
    scale: torch.jit.Final[float]

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = 2.0

    @torch.jit.ignore
    def helper(self, x):
        return x * 0.5

    @torch.jit.unused
    def unused_path(self, x):
        raise RuntimeError("never called")

    @torch.jit.export
    def extra(self, x):
        return self.fc(x).sum(1)

    def forward(self, x):
        if torch.jit.is_scripting() or torch.jit.is_tracing():
            raise AssertionError("eager only")
        y: List[int] = torch.jit.annotate(List[int], [])
        y.append(1)
        fut = torch.jit.fork(self.helper, x)
        h = torch.jit.wait(fut)
        return torch.relu(self.fc(h)) * self.scale + len(y)


class RefNet(T.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = T.nn.Linear(4, 3)

    def forward(self, x):
        return T.relu(self.fc(x * 0.5)) * 2.0 + 1


def test_script_and_trace_return_eager_objects_with_same_results():
    m, ref = _model_pair()
    x = np.random.RandomState(0).randn(5, 4).astype(np.float32)
    plain = m(torch.tensor(x)).detach().numpy()
    sm = torch.jit.script(m)
    assert sm is m
    tm = torch.jit.trace(m, torch.tensor(x))
    assert tm is m
    np.testing.assert_allclose(sm(torch.tensor(x)).detach().numpy(), plain)
    np.testing.assert_allclose(tm(torch.tensor(x)).detach().numpy(), plain)
    np.testing.assert_allclose(plain, ref(T.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sm.extra(torch.tensor(x)).detach().numpy(),
                               ref.fc(T.tensor(x)).sum(1).detach().numpy(), rtol=1e-6, atol=1e-6)
    # gradients flow as usual through a "scripted" module
    out = sm(torch.tensor(x)).sum()
    out.backward()
    r = ref(T.tensor(x)).sum()
    r.backward()
    np.testing.assert_allclose(m.fc.weight.grad.numpy(), ref.fc.weight.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_script_function_decorator_and_type_helpers():
    @torch.jit.script
    def f(x: torch.Tensor, n: int) -> torch.Tensor:
        return x * n + 1

    x = torch.arange(4.0)
    np.testing.assert_allclose(f(x, 3).numpy(), (T.arange(4.0) * 3 + 1).numpy())

    @torch.jit.ignore(drop=True)
    def g(x):
        return x + 1
    assert g(1) == 2
    assert torch.jit.is_scripting() is False and torch.jit.is_tracing() is False
    assert torch.jit.annotate(Optional[int], None) is None
    assert torch.jit.isinstance([1, 2], List[int])
    assert not torch.jit.isinstance([1, "a"], List[int])
    assert torch.jit.isinstance({"a": (1, 2.0)}, Dict[str, Tuple[int, float]])
    futs = [torch.jit.fork(lambda a, b=0: a + b, i, b=1) for i in range(3)]
    assert [torch.jit.wait(fu) for fu in futs] == [1, 2, 3]
    assert [fu.wait() for fu in futs] == [1, 2, 3]
    assert torch.jit.trace(f, (x, 3)) is f


def test_save_load_raise_with_pointer_to_disttensor_save(tmp_path):
    m = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match="disttensor.save"):
        torch.jit.save(torch.jit.script(m), str(tmp_path / "m.pt"))
    with pytest.raises(NotImplementedError, match="disttensor.load"):
        torch.jit.load(str(tmp_path / "m.pt"))


def test_fork_propagates_exceptions_at_wait_or_call():
    def bad():
        raise ValueError("boom")
    with pytest.raises(ValueError):
        torch.jit.wait(torch.jit.fork(bad))
