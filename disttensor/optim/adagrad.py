"""Adagrad, RMSprop and Adadelta with PyTorch's update rules."""
import numpy as np

from .optimizer import Optimizer, _sc, _check_lr, _check, _to_float
from ..tensor import _new_tensor

__all__ = ["Adagrad", "RMSprop", "Adadelta"]


def _xp(a):
    from .._backends.device import xp_of
    return xp_of(a)


def _grad(group, p, g, dt):
    if group["maximize"]:
        g *= -1
    wd = group["weight_decay"]
    if wd != 0:
        g += p * dt(wd)
    return g


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value,
               f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        # PyTorch creates Adagrad's state eagerly, for every parameter
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                st["step"] = _new_tensor(np.array(0.0, dtype=np.float32))
                xp = _xp(p._data)
                st["sum"] = _new_tensor(xp.full(p._data.shape, group["initial_accumulator_value"], p._data.dtype))

    def _buffers(self, group):
        return ("sum",)

    def _buffer_init(self, group, name):
        return group["initial_accumulator_value"]

    def _kernel(self, group, step, scalars, dtype):
        clr = _to_float(group["lr"]) / (1 + (step - 1) * group["lr_decay"])
        return ("adagrad", ("sum",), (*_sc(dtype, clr, group["weight_decay"], group["eps"]),
                                      bool(group["maximize"])), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        clr = lr / (1 + (step - 1) * group["lr_decay"])
        s = bufs["sum"]
        xp = _xp(p)
        g = _grad(group, p, g, dt)
        tmp = xp.multiply(g, g)
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += dt(group["eps"])
        xp.divide(g, tmp, out=tmp)
        tmp *= dt(clr)
        p -= tmp
        return None


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
                        capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        keys = ("square_avg",)
        if group["momentum"] > 0:
            keys += ("momentum_buffer",)
        if group["centered"]:
            keys += ("grad_avg",)
        return keys

    def _kernel(self, group, step, scalars, dtype):
        mom, centered, alpha = group["momentum"], group["centered"], group["alpha"]
        return ("rmsprop", ("square_avg", "grad_avg" if centered else None, "momentum_buffer" if mom > 0 else None),
                (*_sc(dtype, _to_float(group["lr"]), alpha, 1 - alpha, group["eps"], group["weight_decay"], mom),
                 bool(centered), mom > 0, bool(group["maximize"])), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        alpha, eps, mom, centered = group["alpha"], group["eps"], group["momentum"], group["centered"]
        sq = bufs["square_avg"]
        gavg = bufs.get("grad_avg")
        buf = bufs.get("momentum_buffer")
        xp = _xp(p)
        g = _grad(group, p, g, dt)
        sq *= dt(alpha)
        tmp = xp.multiply(g, g)
        tmp *= dt(1 - alpha)
        sq += tmp
        if centered:
            xp.subtract(g, gavg, out=tmp)
            tmp *= dt(1 - alpha)
            gavg += tmp
            xp.multiply(gavg, gavg, out=tmp)
            xp.subtract(sq, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(sq, out=tmp)
        tmp += dt(eps)
        xp.divide(g, tmp, out=tmp)
        if mom > 0:
            buf *= dt(mom)
            buf += tmp
            xp.multiply(buf, dt(lr), out=tmp)
        else:
            tmp *= dt(lr)
        p -= tmp
        return None


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=capturable,
                        foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("square_avg", "acc_delta")

    def _kernel(self, group, step, scalars, dtype):
        rho = group["rho"]
        return ("adadelta", ("square_avg", "acc_delta"),
                (*_sc(dtype, _to_float(group["lr"]), rho, 1 - rho, group["eps"], group["weight_decay"]),
                 bool(group["maximize"])), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        rho, eps = group["rho"], group["eps"]
        sq, acc = bufs["square_avg"], bufs["acc_delta"]
        xp = _xp(p)
        g = _grad(group, p, g, dt)
        sq *= dt(rho)
        tmp = xp.multiply(g, g)
        tmp *= dt(1 - rho)
        sq += tmp
        std = sq + dt(eps)
        xp.sqrt(std, out=std)
        xp.add(acc, dt(eps), out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp /= std
        tmp *= g
        acc *= dt(rho)
        xp.multiply(tmp, tmp, out=std)
        std *= dt(1 - rho)
        acc += std
        tmp *= dt(lr)
        p -= tmp
        return None
