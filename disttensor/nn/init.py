"""nn.init: in-place initialisers with PyTorch's names, defaults and distributions.

Each fills the tensor's own memory (so Parameters keep their identity), runs without recording
autograd, bumps the version counter and returns the tensor. Random numbers come from disttensor's
generators (`disttensor.manual_seed`), drawn directly on the tensor's device.
"""
import math
import warnings

import numpy as np

from ..tensor import Tensor
from .._backends.device import xp_of
from ..random import generator_for, permutation

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform",
           "kaiming_normal", "orthogonal", "sparse"]


def _rng(tensor, generator):
    return generator_for(tensor.device, generator)


def _work_dtype(d):
    return np.float32 if d.dtype == np.float32 else np.float64


def _write(tensor, arr):
    d = tensor._data
    xp_of(d).copyto(d, arr.reshape(d.shape), casting="unsafe")
    tensor._vc[0] += 1
    return tensor


def calculate_gain(nonlinearity, param=None):
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    dimensions = tensor.dim()
    if dimensions < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    num_input_fmaps = tensor.shape[1]
    num_output_fmaps = tensor.shape[0]
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    d = tensor._data
    u = _rng(tensor, generator).random(d.shape, dtype=_work_dtype(d))
    if a != 0.0 or b != 1.0:
        u *= (b - a)
        u += a
    return _write(tensor, u)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    d = tensor._data
    z = _rng(tensor, generator).standard_normal(d.shape, dtype=_work_dtype(d))
    if std != 1.0:
        z *= std
    if mean != 0.0:
        z += mean
    return _write(tensor, z)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Normal(mean, std) truncated to [a, b], by the inverse CDF of a uniform draw (as PyTorch does)."""
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                      "may be incorrect.", stacklevel=2)
    d = tensor._data
    g = _rng(tensor, generator)
    v = g.standard_normal(d.shape, dtype=np.float64) * std + mean
    # resample the out-of-range draws: exactly the truncated normal, in a few vectorised rounds
    for _ in range(1000):
        bad = (v < a) | (v > b)
        n = int(bad.sum())
        if n == 0:
            break
        v[bad] = g.standard_normal((n,), dtype=np.float64) * std + mean
    v = xp_of(v).clip(v, a, b)
    return _write(tensor, v)


def constant_(tensor, val):
    d = tensor._data
    d.fill(val)
    tensor._vc[0] += 1
    return tensor


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def eye_(tensor):
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    d = tensor._data
    xp = xp_of(d)
    return _write(tensor, xp.eye(d.shape[0], d.shape[1], dtype=d.dtype))


def dirac_(tensor, groups=1):
    dimensions = tensor.dim()
    if dimensions not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    d = tensor._data
    d.fill(0)
    for g in range(groups):
        for k in range(min_dim):
            idx = (g * out_chans_per_grp + k, k) + tuple(s // 2 for s in sizes[2:])
            d[idx] = 1
    tensor._vc[0] += 1
    return tensor


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(tensor, generator).standard_normal((rows, cols), dtype=np.float64)
    xp = xp_of(flat)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    dsign = xp.sign(xp.diagonal(r))
    q = q * dsign
    if rows < cols:
        q = q.T
    return _write(tensor, q * gain)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    normal_(tensor, 0, std, generator)
    g = _rng(tensor, generator)
    d = tensor._data
    for col_idx in range(cols):
        row_indices = permutation(g, rows)[:num_zeros]
        d[row_indices, col_idx] = 0
    return tensor


def _wrap_no_grad(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(tensor, *args, **kwargs):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{fn.__name__}: expected a Tensor, got {type(tensor).__name__}")
        return fn(tensor, *args, **kwargs)
    return wrapper


for _n in ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_"):
    globals()[_n] = _wrap_no_grad(globals()[_n])


def _deprecated(new):
    def f(*args, **kwargs):
        warnings.warn(f"nn.init.{new.__name__[:-1]} is now deprecated in favor of nn.init.{new.__name__}.",
                      FutureWarning, stacklevel=2)
        return new(*args, **kwargs)
    f.__name__ = new.__name__[:-1]
    return f


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
