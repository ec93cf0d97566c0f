"""clip_grad_norm_ / clip_grad_value_ with PyTorch's semantics, computed on the raw gradient arrays
(one BLAS dot per gradient for the 2-norm, in-place scaling) so clipping costs no autograd work."""
import math
import warnings

import numpy as np

from ...tensor import Tensor
from ..._backends.device import xp_of, to_device_array

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _grads(parameters):
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def _norm_arr(xp, a, p):
    """The p-norm of one array, as a 0-d array of a's dtype (float64 accumulation for low precision)."""
    if a.dtype.kind != "f" or a.dtype.itemsize < 4:
        a = a.astype(np.float32)
    f = a.reshape(-1)
    if p == 2:
        return xp.sqrt(xp.dot(f, f))
    if p == math.inf:
        return xp.abs(f).max() if f.size else xp.zeros((), dtype=f.dtype)
    if p == -math.inf:
        return xp.abs(f).min() if f.size else xp.zeros((), dtype=f.dtype)
    if p == 1:
        return xp.abs(f).sum()
    if p == 0:
        return (f != 0).sum().astype(f.dtype)
    return (xp.abs(f) ** p).sum() ** (1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of `tensors` (as if all were concatenated into one vector)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._wrap(np.array(0.0, dtype=np.float32))
    first = tensors[0]._data
    norms = []
    for t in tensors:
        a = t._data
        n = _norm_arr(xp_of(a), a, norm_type)
        if a.__class__ is not first.__class__:
            n = to_device_array(n, tensors[0].device)
        norms.append(n)
    xp = xp_of(first)
    stacked = xp.stack([xp.asarray(n) for n in norms])
    total = _norm_arr(xp, stacked, norm_type)
    out_dtype = first.dtype if first.dtype.kind == "f" or first.dtype.name == "bfloat16" else np.float32
    total = xp.asarray(total).astype(out_dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return Tensor._wrap(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale gradients in place by min(1, max_norm / (total_norm + 1e-6))."""
    grads = _grads(parameters)
    if not grads:
        return
    tn = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = float(max_norm) / (float(tn) + 1e-6)
    coef = min(coef, 1.0)
    for g in grads:
        a = g._data
        a *= a.dtype.type(coef) if a.dtype.kind == "f" else coef
        g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradient norm of an iterable of parameters in place; returns the total norm (a tensor)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        parameters = list(parameters)
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        a = g._data
        xp_of(a).clip(a, -clip_value, clip_value, out=a)
        g._vc[0] += 1
