"""Rprop with PyTorch's update rule (etas, step_sizes, maximize), over the Optimizer base's flat buffers.

The update runs with array-module ufuncs over each flat run (no fused numba kernel for it yet).
"""
from .optimizer import Optimizer, _check_lr, _check, _to_float

__all__ = ["Rprop"]


class _NoKernel:
    """Mixin: always use the `_update` array path (these optimizers have no fused kernel)."""

    def _build(self, group, keys):
        buckets = super()._build(group, keys)
        for b in buckets[1:]:
            b.use_kernel = False
        return buckets


class Rprop(_NoKernel, Optimizer):
    _setstate_defaults = dict(foreach=None, maximize=False, differentiable=False, capturable=False)
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 < etas[0] < 1.0 < etas[1], f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("prev", "step_size")

    def _buffer_init(self, group, name):
        return _to_float(group["lr"]) if name == "step_size" else 0.0

    def _update(self, group, p, g, bufs, step, scalars):
        from .._backends.device import xp_of
        xp = xp_of(p)
        dt = p.dtype.type
        etaminus, etaplus = group["etas"]
        smin, smax = group["step_sizes"]
        prev, step_size = bufs["prev"], bufs["step_size"]
        if group["maximize"]:
            xp.negative(g, out=g)
        sign = xp.sign(g * prev)
        factor = xp.where(sign > 0, dt(etaplus), xp.where(sign < 0, dt(etaminus), dt(1))).astype(p.dtype, copy=False)
        step_size *= factor
        xp.clip(step_size, dt(smin), dt(smax), out=step_size)
        g[factor == dt(etaminus)] = 0  # a sign change: no step now, and no sign memory for the next one
        p -= xp.sign(g) * step_size
        prev[...] = g
        return None
