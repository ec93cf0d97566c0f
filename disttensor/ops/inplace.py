"""In-place variants (`x.add_(y)`) derived from out-of-place ops, with PyTorch's autograd rules.

With autograd recording, the op runs on a private copy of the old value (so the new node's saved
arrays are not overwritten), the result is written into the tensor's own memory (so views see it),
and the tensor takes over the new grad_fn. The version counter is bumped either way, so a backward
that needs the old value fails loudly instead of silently using the new one.
"""
import numpy as np

from ..autograd.grad_mode import STATE as GRAD
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of


def check_inplace(t, name):
    if t.requires_grad and GRAD.enabled:
        if t.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation.")
        if t._base is not None and t._base.requires_grad:
            raise RuntimeError(f"{name}: in-place operation on a view of a tensor that requires grad is not "
                               "supported; use the out-of-place op or .clone() first.")


def write_into(t, r, name):
    """Write array `r` into tensor t's memory with PyTorch's shape and casting rules."""
    d = t._data
    if r.shape != d.shape:
        try:
            np.broadcast_shapes(r.shape, d.shape)
            ok = np.broadcast_shapes(r.shape, d.shape) == d.shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"{name}: output with shape {list(d.shape)} doesn't match the broadcast shape "
                               f"{list(np.broadcast_shapes(r.shape, d.shape)) if _bc(r.shape, d.shape) else list(r.shape)}")
    if r.dtype != d.dtype and not np.can_cast(r.dtype, d.dtype, casting="same_kind") and \
            not (d.dtype.name == "bfloat16" or r.dtype.name == "bfloat16"):
        raise RuntimeError(f"{name}: result type {_dt(r.dtype)} can't be cast to the desired output type {_dt(d.dtype)}")
    xp_of(d).copyto(d, r, casting="unsafe")


def _bc(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _dt(npd):
    from .._dtype import from_numpy_dtype
    return from_numpy_dtype(npd).name.capitalize()


def inplace_of(fn, name):
    def inplace(self, *args, **kwargs):
        if GRAD.enabled and (self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)):
            if self._base is not None:  # a view: the base takes over the history (PyTorch's CopySlices)
                from .indexing import inplace_on_view
                return inplace_on_view(self, fn, args, kwargs, name)
            check_inplace(self, name)
            old = _new_tensor(self._data.copy())
            old.grad_fn = self.grad_fn
            old.requires_grad = self.requires_grad
            r = fn(old, *args, **kwargs)
            write_into(self, r._data, name)
            if r.grad_fn is not None:
                self.grad_fn = r.grad_fn
                self.requires_grad = True
        else:
            r = fn(self, *args, **kwargs)
            write_into(self, r._data, name)
        self._vc[0] += 1
        return self
    inplace.__name__ = name
    inplace.__qualname__ = "Tensor." + name
    return inplace
