"""ASGD (averaged SGD) with PyTorch's update rule, over the Optimizer base's flat buffers.

Per-parameter state as in PyTorch: `step`, `eta`, `mu` (0-d float32 tensors) and `ax` (the running
average of the parameter). The update runs with array-module ufuncs (no fused numba kernel for it yet).
"""
import numpy as np

from .optimizer import Optimizer, _check_lr, _check, _to_float
from .rprop import _NoKernel

__all__ = ["ASGD"]

_UNSET = -1.0  # eta before the first step: the group's lr at that step (as torch initialises it)


class ASGD(_NoKernel, Optimizer):
    _setstate_defaults = dict(foreach=None, maximize=False, differentiable=False, capturable=False)
    _extra_scalars = (("eta", _UNSET), ("mu", 1.0))

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("ax",)

    def _update(self, group, p, g, bufs, step, scalars):
        from .._backends.device import xp_of
        xp = xp_of(p)
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        lambd, alpha, t0, wd = group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        eta = scalars["eta"]
        if eta == _UNSET:
            eta = float(np.float32(lr))
        mu = scalars["mu"]
        ax = bufs["ax"]
        if group["maximize"]:
            xp.negative(g, out=g)
        if wd != 0:
            g += p * dt(wd)
        p *= dt(1 - lambd * eta)
        g *= dt(eta)
        p -= g
        if mu != 1:
            ax += (p - ax) * dt(mu)
        else:
            ax[...] = p
        return {"eta": lr / ((1 + lambd * lr * step) ** alpha), "mu": 1 / max(1, step - t0)}
