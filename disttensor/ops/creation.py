"""Tensor creation: from data, filled, ranges, random; and device moves (differentiable)."""
import builtins

import numpy as np

from .. import _dtype
from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import device as _device, get_xp, to_device_array, device_of_array, xp_of
from ..random import generator_for, permutation as _permutation
from ._apply import apply1
from ._registry import register

_np_default = None
_default_device = None   # set by disttensor.set_default_device: where factories without device= create


def _xp(device):
    return np if device is None else get_xp(device)


def _finish(arr, device, requires_grad):
    if device is None:
        device = _default_device
    if device is not None:
        dev = _device(device)
        if dev.type != "cpu":
            arr = to_device_array(arr, dev)
    t = _new_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        return tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"size must be a sequence of ints, got {size!r}") from None


def _float_np(dtype):
    return (_dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()).np


def _infer_np_dtype(data):
    """PyTorch's dtype inference for Python data: bool, int64, default float, complex64."""
    if isinstance(data, Tensor):
        return data._data.dtype
    if isinstance(data, (np.ndarray, np.generic)):
        return data.dtype
    flat = data
    while isinstance(flat, (list, tuple)) and flat:
        # the widest kind anywhere decides
        kinds = set()
        stack = [data]
        while stack:
            x = stack.pop()
            if isinstance(x, (list, tuple)):
                stack.extend(x)
            elif isinstance(x, Tensor):
                kinds.add(x._data.dtype.kind if x._data.dtype.name != "bfloat16" else "f")
            elif isinstance(x, builtins.bool) or isinstance(x, np.bool_):
                kinds.add("b")
            elif isinstance(x, (builtins.int, np.integer)):
                kinds.add("i")
            elif isinstance(x, (builtins.float, np.floating)):
                kinds.add("f")
            elif isinstance(x, builtins.complex):
                kinds.add("c")
        break
    else:
        if isinstance(data, builtins.bool):
            return np.dtype(np.bool_)
        if isinstance(data, builtins.int):
            return np.dtype(np.int64)
        if isinstance(data, builtins.complex):
            return np.dtype(np.complex64)
        if isinstance(data, (list, tuple)):
            return _dtype.get_default_dtype().np
        return _dtype.get_default_dtype().np
    if "c" in kinds:
        return np.dtype(np.complex64)
    if "f" in kinds:
        return _dtype.get_default_dtype().np
    if "i" in kinds or "u" in kinds:
        return np.dtype(np.int64)
    if "b" in kinds:
        return np.dtype(np.bool_)
    return _dtype.get_default_dtype().np


def _to_array(data, npd):
    if isinstance(data, Tensor):
        a = data._data if data._data.__class__ is np.ndarray else data._data.get()
        return a.astype(npd) if npd is not None and a.dtype != npd else a
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [_to_array(x, None) for x in data]
    return np.asarray(data, dtype=npd)


@register("tensor", method=False)
def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    npd = _dtype.np_dtype(dtype) if dtype is not None else _infer_np_dtype(data)
    arr = _to_array(data, npd)
    if arr.dtype.kind == "O":
        raise TypeError(f"tensor(): could not infer dtype of {type(data).__name__} (ragged or non-numeric data)")
    arr = np.array(arr, dtype=npd, copy=True)
    if device is None and isinstance(data, Tensor):
        device = data.device
    return _finish(arr, device, requires_grad)


@register("as_tensor", "asarray", method=False)
def as_tensor(data, dtype=None, device=None, **kw):
    if isinstance(data, Tensor):
        out = data
        if dtype is not None or device is not None:
            out = data.to(device=device, dtype=dtype)
        return out
    npd = _dtype.np_dtype(dtype) if dtype is not None else _infer_np_dtype(data)
    if isinstance(data, np.ndarray):
        arr = data if data.dtype == npd else data.astype(npd)
    else:
        arr = np.asarray(data, dtype=npd)
        if arr.ndim == 0:
            arr = np.array(arr)
    return _finish(arr, device, kw.get("requires_grad", False))


@register("from_numpy", method=False)
def from_numpy(ndarray):
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return _new_tensor(ndarray)


def _filled(fill, size, dtype, device, requires_grad, name):
    if device is None:
        device = _default_device
    npd = _dtype.np_dtype(dtype) if dtype is not None else None
    if npd is None:
        if fill is None or isinstance(fill, builtins.float) or fill in (0, 1) and name != "full":
            npd = _dtype.get_default_dtype().np
        elif isinstance(fill, builtins.bool):
            npd = np.dtype(np.bool_)
        elif isinstance(fill, builtins.int):
            npd = np.dtype(np.int64)
        else:
            npd = _dtype.get_default_dtype().np
    shape = _size(size)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"{name}: Trying to create tensor with negative dimension: {list(shape)}")
    xp = _xp(device)
    if device is not None and _device(device).type != "cpu":
        with xp.cuda.Device(_device(device).index or 0):
            arr = xp.empty(shape, npd) if fill is None else xp.full(shape, fill, npd)
        t = _new_tensor(arr)
    else:
        arr = np.empty(shape, npd) if fill is None else (np.zeros(shape, npd) if fill == 0 else np.full(shape, fill, npd))
        t = _new_tensor(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


@register("zeros", method=False)
def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
    return _filled(0, size, dtype, device, requires_grad, "zeros")


@register("ones", method=False)
def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
    return _filled(1, size, dtype, device, requires_grad, "ones")


@register("empty", method=False)
def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False,
          memory_format=None):
    return _filled(None, size, dtype, device, requires_grad, "empty")


@register("full", method=False)
def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled(fill_value, (size,) if isinstance(size, builtins.int) else size, dtype, device,
                   requires_grad, "full")


def _like(fn_fill, name):
    def like(input, *args, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
        dt = dtype if dtype is not None else input.dtype
        dev = device if device is not None else input.device
        if name == "full_like":
            return _filled(args[0], input._data.shape, dt, dev, requires_grad, name)
        return _filled(fn_fill, input._data.shape, dt, dev, requires_grad, name)
    like.__name__ = name
    register(name, method=False)(like)
    return like


zeros_like = _like(0, "zeros_like")
ones_like = _like(1, "ones_like")
empty_like = _like(None, "empty_like")
full_like = _like(None, "full_like")


@register("arange", method=False)
def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        npd = _dtype.get_default_dtype().np if any(isinstance(v, builtins.float) for v in vals) else np.int64
    else:
        npd = _dtype.np_dtype(dtype)
    if vals[2] == 0:
        raise RuntimeError("arange: step must be nonzero")
    arr = np.arange(vals[0], vals[1], vals[2]).astype(npd)
    return _finish(arr, device, requires_grad)


@register("range", method=False)
def range_(start, end, step=1, *, dtype=None, device=None, requires_grad=False):
    npd = _float_np(dtype)
    return _finish(np.arange(start, end + step / 2, step).astype(npd), device, requires_grad)


@register("linspace", method=False)
def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None):
    return _finish(np.linspace(start, end, int(steps)).astype(_float_np(dtype)), device, requires_grad)


@register("logspace", method=False)
def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, int(steps), base=base).astype(_float_np(dtype)), device, requires_grad)


@register("eye", method=False)
def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None):
    return _finish(np.eye(n, m, dtype=_float_np(dtype)), device, requires_grad)


# ---- random ------------------------------------------------------------------------------------
def _rng(device, generator):
    return generator_for(device if device is not None else _default_device, generator)


def _draw(sample, shape, npd, complex_scale):
    """sample(shape, dtype) cast to npd. Complex dtypes draw the real and imaginary parts independently (scaled
    by complex_scale: randn's parts have variance 1/2, so |z|^2 has mean 1, as in torch)."""
    if npd.kind == "c":
        part = np.float32 if npd == np.complex64 else np.float64
        ri = sample(tuple(shape) + (2,), dtype=part)
        if complex_scale != 1.0:
            ri *= part(complex_scale)
        return ri.view(npd)[..., 0]
    return sample(shape, dtype=np.float32 if npd == np.float32 else np.float64).astype(npd, copy=False)


@register("rand", method=False)
def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False):
    npd = _float_np(dtype)
    g = _rng(device, generator)
    shape = _size(size)
    arr = _draw(g.random, shape, npd, 1.0)
    return _finish(arr, device, requires_grad)


@register("randn", method=False)
def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False):
    npd = _float_np(dtype)
    g = _rng(device, generator)
    shape = _size(size)
    arr = _draw(g.standard_normal, shape, npd, 0.5 ** 0.5)
    return _finish(arr, device, requires_grad)


@register("randint", method=False)
def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    g = _rng(device, generator)
    npd = _dtype.np_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    arr = g.integers(low, high, size=_size((size,)) if not isinstance(size, builtins.int) else (size,))
    return _finish(arr.astype(npd), device, requires_grad)


@register("randperm", method=False)
def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    g = _rng(device, generator)
    npd = _dtype.np_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    return _finish(_permutation(g, int(n)).astype(npd), device, requires_grad)


@register("rand_like", method=False)
def rand_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    return rand(*input._data.shape, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad, generator=generator)


@register("randn_like", method=False)
def randn_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    return randn(*input._data.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad, generator=generator)


@register("randint_like", method=False)
def randint_like(input, low, high=None, *, dtype=None, device=None, requires_grad=False):
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype, device=device or input.device)


# ---- device moves ------------------------------------------------------------------------------
class ToDevice(Node):
    __slots__ = ("src",)

    def forward(self, a, dev):
        self.src = device_of_array(a)
        return to_device_array(a, dev)

    def backward(self, g):
        return to_device_array(g, self.src)


def _to_device(t, dev):
    return apply1(ToDevice, t, _device(dev))


# ---- random sampling ops and in-place fills ------------------------------------------------------
@register("normal", method=False)
def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        ref = mean if isinstance(mean, Tensor) else std
        g = _rng(ref.device, generator)
        shape = np.broadcast_shapes(getattr(m, "shape", ()), getattr(s, "shape", ()))
        arr = (g.standard_normal(shape) * s + m).astype(ref._data.dtype)
        return _finish(arr, ref.device, False)
    npd = _float_np(dtype)
    g = _rng(device, generator)
    arr = (g.standard_normal(_size((size,)) if isinstance(size, builtins.int) else _size(size)) * std + mean)
    return _finish(arr.astype(npd), device, requires_grad)


@register("bernoulli")
def bernoulli(input, p=None, *, generator=None):
    d = input._data
    g = _rng(input.device, generator)
    return _finish((g.random(d.shape) < (d if p is None else p)).astype(d.dtype), input.device, False)


@register("multinomial")
def multinomial(input, num_samples, replacement=False, *, generator=None):
    probs = input._data if input._data.__class__ is np.ndarray else input._data.get()
    probs = probs.astype(np.float64)
    if (probs < 0).any() or not np.isfinite(probs).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    g = _rng(None, generator)
    rows = probs.reshape(-1, probs.shape[-1])
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        s = row.sum()
        if s <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(row):
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        out[i] = g.choice(row.size, size=num_samples, replace=replacement, p=row / s)
    out = out.reshape(probs.shape[:-1] + (num_samples,))
    return _finish(out, input.device, False)


@register("poisson")
def poisson(input, generator=None):
    g = _rng(input.device, generator)
    return _finish(g.poisson(input._data).astype(input._data.dtype), input.device, False)


def _fill_inplace(name, sample):
    """Tensor.<name>_(...): overwrite in place from `sample(rng, shape, *args)`; no autograd history."""
    def fill(self, *args, generator=None, **kwargs):
        from .inplace import check_inplace
        check_inplace(self, name)
        d = self._data
        g = _rng(self.device, generator)
        vals = sample(g, d.shape, *args, **kwargs)
        xp_of(d).copyto(d, vals if d.__class__ is np.ndarray else xp_of(d).asarray(vals), casting="unsafe")
        self._vc[0] += 1
        return self
    fill.__name__ = name
    setattr(Tensor, name, fill)


_fill_inplace("uniform_", lambda g, s, a=0.0, b=1.0, **k: g.uniform(a, b, s))
_fill_inplace("normal_", lambda g, s, mean=0.0, std=1.0, **k: g.standard_normal(s) * std + mean)
_fill_inplace("bernoulli_", lambda g, s, p=0.5, **k: g.random(s) < (p._data if isinstance(p, Tensor) else p))
_fill_inplace("exponential_", lambda g, s, lambd=1.0, **k: g.exponential(1.0 / lambd, s))
_fill_inplace("geometric_", lambda g, s, p, **k: g.geometric(p, s))


def _lognormal(g, s, mean, std):
    if g.__class__ is np.random.Generator:
        return g.lognormal(mean, std, s)
    z = g.standard_normal(s) * std + mean    # CuPy's Generator has no lognormal
    return xp_of(z).exp(z)


def _standard_cauchy(g, s):
    if g.__class__ is np.random.Generator:
        return g.standard_cauchy(s)
    u = g.random(s)                           # CuPy's Generator has no standard_cauchy
    return xp_of(u).tan(np.pi * (u - 0.5))


_fill_inplace("log_normal_", lambda g, s, mean=1.0, std=2.0, **k: _lognormal(g, s, mean, std))
_fill_inplace("cauchy_", lambda g, s, median=0.0, sigma=1.0, **k: median + sigma * _standard_cauchy(g, s))


def _random_(g, s, low=None, high=None, **k):
    if high is None:
        low, high = (0, low) if low is not None else (0, 2 ** 24)
    return g.integers(low, high, s)


_fill_inplace("random_", _random_)


def _fill_(self, value):
    """Tensor.fill_: differentiable in place like PyTorch (gradient to the old value is zero)."""
    from .inplace import check_inplace
    from ..autograd.grad_mode import STATE as GRAD
    if isinstance(value, Tensor):
        value = value.item()
    if self._base is not None and GRAD.enabled and self._base.requires_grad:
        self[...] = value          # a view: the base's history records the write (setitem's CopySlices)
        return self
    check_inplace(self, "fill_")
    self._data[...] = value
    if self.requires_grad and self.grad_fn is not None:
        self.grad_fn = None  # the new value does not depend on the old graph
        self.requires_grad = False
    self._vc[0] += 1
    return self


def _zero_(self):
    return _fill_(self, 0)


Tensor.fill_ = _fill_
Tensor.zero_ = _zero_


def _copy_(self, src, non_blocking=False):
    """Tensor.copy_: write src (broadcast, cast, moved across devices) into self's memory.

    Differentiable like PyTorch: the gradient flows to src, and the old value of self gets none.
    """
    from .inplace import check_inplace, write_into
    from ..autograd.grad_mode import STATE as GRAD
    if not isinstance(src, Tensor):
        src = tensor(src)
    if src.device != self.device:
        src = src.to(self.device)
    if self._base is not None and GRAD.enabled and (src.requires_grad or self._base.requires_grad):
        # a view: the base's history records the write (setitem's CopySlices), as in PyTorch
        moved = src.expand_as(self) if src._data.shape != self._data.shape else src
        self[...] = moved if moved._data.dtype == self._data.dtype else moved.to(self.dtype)
        return self
    if GRAD.enabled and src.requires_grad:
        check_inplace(self, "copy_")
        moved = src.expand_as(self) if src._data.shape != self._data.shape else src
        if moved._data.dtype != self._data.dtype:
            moved = moved.to(self.dtype)
        write_into(self, moved._data, "copy_")
        alias = moved.view_as(moved)  # a fresh node, so self's history is src's without sharing src's node
        self.grad_fn = alias.grad_fn
        self.requires_grad = True
    else:
        if GRAD.enabled and self.requires_grad:
            check_inplace(self, "copy_")
        arr = src._data
        write_into(self, arr if arr.dtype == self._data.dtype else arr.astype(self._data.dtype), "copy_")
        if GRAD.enabled and self.grad_fn is not None:
            self.grad_fn = None  # the new value no longer depends on the old history
            self.requires_grad = False
    self._vc[0] += 1
    return self


Tensor.copy_ = _copy_
