"""Shared helpers for the nn tests: copy weights from a torch module, compare outputs and gradients."""
import numpy as np
import torch

import disttensor as dt


def to_dt(x, requires_grad=False):
    t = dt.tensor(x.detach().cpu().numpy()) if isinstance(x, torch.Tensor) else dt.tensor(np.asarray(x))
    if requires_grad:
        t.requires_grad_(True)
    return t


def copy_weights(ours, ref):
    """Load torch module `ref`'s state_dict into ours through NumPy arrays (strict: keys must match)."""
    sd = {k: dt.tensor(v.detach().cpu().numpy()) for k, v in ref.state_dict().items()}
    ours.load_state_dict(sd)


def make_pair(ctor_ours, ctor_ref, dtype=torch.float64):
    torch.manual_seed(0)
    ref = ctor_ref().to(dtype)
    ours = ctor_ours().to(dt.float64 if dtype == torch.float64 else dt.float32)
    copy_weights(ours, ref)
    return ours, ref


def assert_close(a, b, rtol=1e-7, atol=1e-9, msg=""):
    a = a.detach().numpy() if isinstance(a, dt.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def compare_grads(ours, ref, rtol=1e-7, atol=1e-9):
    ours_p = dict(ours.named_parameters())
    ref_p = dict(ref.named_parameters())
    assert list(ours_p) == list(ref_p)
    for k in ref_p:
        if ref_p[k].grad is None:
            assert ours_p[k].grad is None, k
            continue
        assert ours_p[k].grad is not None, f"no gradient for {k}"
        assert_close(ours_p[k].grad, ref_p[k].grad, rtol, atol, msg=f"grad of {k}")
