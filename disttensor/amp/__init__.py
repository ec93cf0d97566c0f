"""disttensor.amp: automatic mixed precision, as torch.amp.

- `autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`: a context manager / decorator. Inside,
  the matmul family (matmul, mm, bmm, addmm, baddbmm, addbmm), linear, the convolutions and
  scaled_dot_product_attention run in `dtype` (default float16 on CUDA, bfloat16 on CPU), the losses (cross_entropy,
  nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy_with_logits) in float32,
  and on CUDA also softmax, log_softmax, layer_norm and group_norm in float32; other ops run in their inputs'
  dtype, with the usual type promotion. float64 tensors are never cast. Casts are recorded by autograd, so
  float32 parameters get float32 gradients. The state is per thread and per device type. Differences from
  PyTorch: a smaller op list (the ops above), and `cache_enabled` is accepted but casts are not cached.
- `GradScaler(device="cuda", init_scale=2.**16, growth_factor=2., backoff_factor=.5, growth_interval=2000,
  enabled=True)`: loss scaling with PyTorch's update rule; an optimizer step whose gradients hold inf or NaN is
  skipped and the scale backs off.
- `custom_fwd` / `custom_bwd` for autograd.Function.
"""
import functools
import warnings

from .. import _autocast
from .grad_scaler import GradScaler, OptState  # noqa: F401

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd", "is_autocast_available"]

_DEVICE_TYPES = ("cpu", "cuda")


def is_autocast_available(device_type):
    return device_type in _DEVICE_TYPES


def _default_dtype(device_type):
    from .. import _dtype
    return _dtype.float16 if device_type == "cuda" else _dtype.bfloat16


class autocast:
    """with autocast("cuda"): ...  /  @autocast("cpu", dtype=torch.bfloat16)"""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        from .. import _dtype
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEVICE_TYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = _default_dtype(device_type) if dtype is None else dtype
        self._enabled = bool(enabled)
        self._cache_enabled = cache_enabled
        if self._enabled and self.fast_dtype not in (_dtype.float16, _dtype.bfloat16):
            warnings.warn(f"In {device_type.upper()} autocast, but the target dtype is not supported. Disabling "
                          "autocast.\n" + f"{device_type.upper()} Autocast only supports dtypes of "
                          "torch.bfloat16, torch.float16 currently.")
            self._enabled = False
        if self._enabled and device_type == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling")
                self._enabled = False
        self._prev = []

    def __enter__(self):
        self._prev.append(_autocast.get_dtype(self.device))
        _autocast.set_dtype(self.device, self.fast_dtype if self._enabled else None)
        if self._enabled:
            _autocast.ACTIVE[0] += 1
        return self

    def __exit__(self, *exc):
        _autocast.set_dtype(self.device, self._prev.pop())
        if self._enabled:
            _autocast.ACTIVE[0] -= 1
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type="cuda"):
    return _autocast.get_dtype(device_type) is not None


def get_autocast_dtype(device_type):
    d = _autocast.get_dtype(device_type)
    return d if d is not None else _default_dtype(device_type)


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorator for an autograd.Function's forward: with `cast_inputs`, inside an enabled autocast region of
    `device_type` the floating tensor arguments are cast to it and forward runs with autocast off; without it,
    forward runs in the caller's autocast state (which custom_bwd then restores for backward)."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._fwd_autocast = _autocast.get_dtype(device_type)
        if cast_inputs is None or ctx._fwd_autocast is None:
            return fwd(*args, **kwargs)
        ctx._fwd_autocast = None
        cast = [_cast(a, cast_inputs) for a in args[1:]]
        with autocast(device_type, enabled=False):
            return fwd(ctx, *cast, **{k: _cast(v, cast_inputs) for k, v in kwargs.items()})
    decorate_fwd._amp_device_type = device_type
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorator for an autograd.Function's backward: runs in the autocast state its forward ran in."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        dt = getattr(args[0], "_fwd_autocast", None)
        with autocast(device_type, dtype=dt, enabled=dt is not None):
            return bwd(*args, **kwargs)
    return decorate_bwd


def _cast(v, dtype):
    from ..tensor import Tensor
    if isinstance(v, Tensor) and v.dtype.is_floating_point and v.dtype != dtype:
        return v.to(dtype)
    if isinstance(v, (list, tuple)):
        return type(v)(_cast(a, dtype) for a in v)
    return v


def device_namespace(device_type):
    """The deprecated-but-common `torch.cuda.amp` / `torch.cpu.amp` modules: autocast and GradScaler bound to
    one device type."""
    import types
    m = types.ModuleType(f"disttensor.{device_type}.amp")

    class _Autocast(autocast):
        def __init__(self, enabled=True, dtype=None, cache_enabled=True):
            super().__init__(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class _GradScaler(GradScaler):
        def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                     enabled=True):
            super().__init__(device_type, init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    _Autocast.__name__ = _Autocast.__qualname__ = "autocast"
    _GradScaler.__name__ = _GradScaler.__qualname__ = "GradScaler"
    m.autocast, m.GradScaler = _Autocast, _GradScaler
    m.custom_fwd = functools.partial(custom_fwd, device_type=device_type)
    m.custom_bwd = functools.partial(custom_bwd, device_type=device_type)
    return m
