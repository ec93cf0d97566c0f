"""Autocast state and the casts the ops apply (the public API is disttensor.amp / disttensor.autocast).

Ops check `ACTIVE[0]` (one list load) and only inside an autocast region call `lower` (the op runs in the region's
lower-precision dtype: matmul family, linear, convolutions, attention) or `fp32` (the op runs in float32: losses,
and on CUDA softmax and the norms), as PyTorch's autocast op lists do. The casts are ordinary differentiable
`.to()` calls, so backward runs each op in the dtype its forward used and float32 parameters get float32 gradients.
The region's dtype is per thread and per device type, like PyTorch's.
"""
import threading

import numpy as np

from .tensor import Tensor

ACTIVE = [0]                    # autocast regions entered with enabled=True and not left yet, in any thread
_local = threading.local()


def get_dtype(device_type):
    """The lower-precision dtype of the innermost enabled region for this device type on this thread, or None."""
    return getattr(_local, device_type, None)


def set_dtype(device_type, dtype):
    setattr(_local, device_type, dtype)


def _device_type(t):
    return "cpu" if t._data.__class__ is np.ndarray else "cuda"


def lower(*tensors):
    """The tensors, floating ones (not float64) cast to the region's dtype of their device (None passes)."""
    out = []
    for t in tensors:
        if isinstance(t, Tensor):
            dt = get_dtype(_device_type(t))
            if dt is not None and t.dtype != dt and t.dtype.is_floating_point and t._data.dtype != np.float64:
                t = t.to(dt)
        out.append(t)
    return out


def fp32(*tensors, cuda_only=False):
    """The tensors, 16-bit floating ones cast to float32 where a region is enabled for their device."""
    from ._dtype import float32
    out = []
    for t in tensors:
        if isinstance(t, Tensor) and t._data.dtype.itemsize == 2 and t.dtype.is_floating_point:
            dev = _device_type(t)
            if get_dtype(dev) is not None and not (cuda_only and dev != "cuda"):
                t = t.to(float32)
        out.append(t)
    return out
