"""Adam, AdamW, Adamax, NAdam, RAdam with PyTorch's update rules (single-tensor reference semantics)."""
import math

from .optimizer import Optimizer, _sc, _check_lr, _check, _to_float

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _check_betas(betas, eps, weight_decay):
    _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
    _check(0.0 <= _to_float(betas[0]) < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
    _check(0.0 <= _to_float(betas[1]) < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
    _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_lr(lr)
        _check_betas(betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("decoupled_weight_decay", isinstance(self, AdamW))

    def _buffers(self, group):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")

    def _kernel(self, group, step, scalars, dtype):
        lr = _to_float(group["lr"])
        b1, b2 = (_to_float(b) for b in group["betas"])
        wd = group["weight_decay"]
        amsgrad = group["amsgrad"]
        return ("adam", ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if amsgrad else None),
                (*_sc(dtype, lr, 1 - b1, b2, 1 - b2, group["eps"], wd, 1 - lr * wd, lr / (1 - b1 ** step),
                      math.sqrt(1 - b2 ** step)),
                 bool(amsgrad), bool(group["maximize"]), bool(group.get("decoupled_weight_decay", False))), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        b1, b2 = (_to_float(b) for b in group["betas"])
        eps = group["eps"]
        wd = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group.get("decoupled_weight_decay", False)
        m, v = bufs["exp_avg"], bufs["exp_avg_sq"]
        vmax = bufs.get("max_exp_avg_sq")
        bc1 = 1 - b1 ** step
        bc2s = math.sqrt(1 - b2 ** step)
        step_size = lr / bc1
        xp = _xp(p)
        if maximize:
            g *= -1
        if wd != 0:
            if decoupled:
                p *= dt(1 - lr * wd)
            else:
                g += p * dt(wd)
        tmp = xp.subtract(g, m)
        tmp *= dt(1 - b1)
        m += tmp
        v *= dt(b2)
        xp.multiply(g, g, out=tmp)
        tmp *= dt(1 - b2)
        v += tmp
        if amsgrad:
            xp.maximum(vmax, v, out=vmax)
            src = vmax
        else:
            src = v
        xp.sqrt(src, out=tmp)
        tmp /= dt(bc2s)
        tmp += dt(eps)
        xp.divide(m, tmp, out=tmp)
        tmp *= dt(step_size)
        p -= tmp
        return None


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)


def _nadam_coeffs(group, step, scalars):
    """NAdam's two step sizes and the new mu_product (kept in float32, like PyTorch's state tensor)."""
    import numpy as np
    lr = _to_float(group["lr"])
    b1 = group["betas"][0]
    md = group["momentum_decay"]
    mu = b1 * (1.0 - 0.5 * (0.96 ** (step * md)))
    mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
    mu_product = float(np.float32(scalars["mu_product"]) * np.float32(mu))
    c_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
    c_avg = -lr * mu_next / (1.0 - mu_product * mu_next)
    return c_grad, c_avg, mu_product


def _radam_rect(b2, step):
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * step * (b2 ** step) / (1 - b2 ** step)
    if rho_t > 5.0:
        return True, math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return False, 1.0


def _xp(a):
    from .._backends.device import xp_of
    return xp_of(a)


def _decay_grad(group, p, g, dt, decoupled=False):
    if group["maximize"]:
        g *= -1
    wd = group["weight_decay"]
    if wd != 0:
        if decoupled:
            p *= dt(1 - _to_float(group["lr"]) * wd)
        else:
            g += p * dt(wd)
    return g


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        _check_betas(betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("exp_avg", "exp_inf")

    def _kernel(self, group, step, scalars, dtype):
        b1, b2 = group["betas"]
        clr = _to_float(group["lr"]) / (1 - b1 ** step)
        return ("adamax", ("exp_avg", "exp_inf"),
                (*_sc(dtype, clr, 1 - b1, b2, group["eps"], group["weight_decay"]), bool(group["maximize"])), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        b1, b2 = group["betas"]
        eps, wd = group["eps"], group["weight_decay"]
        clr = lr / (1 - b1 ** step)
        m, u = bufs["exp_avg"], bufs["exp_inf"]
        xp = _xp(p)
        g = _decay_grad(group, p, g, dt)
        tmp = xp.subtract(g, m)
        tmp *= dt(1 - b1)
        m += tmp
        u *= dt(b2)
        xp.abs(g, out=tmp)
        tmp += dt(eps)
        xp.maximum(u, tmp, out=u)
        xp.divide(m, u, out=tmp)
        tmp *= dt(clr)
        p -= tmp
        return None


class NAdam(Optimizer):
    _extra_scalars = (("mu_product", 1.0),)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check_betas(betas, eps, weight_decay)
        _check(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _kernel(self, group, step, scalars, dtype):
        lr = _to_float(group["lr"])
        b1, b2 = group["betas"]
        wd = group["weight_decay"]
        c_grad, c_avg, mu_product = _nadam_coeffs(group, step, scalars)
        return ("nadam", ("exp_avg", "exp_avg_sq"),
                (*_sc(dtype, c_grad, c_avg, 1 - b1, b2, 1 - b2, 1 - b2 ** step, group["eps"], wd, 1 - lr * wd),
                 bool(group["decoupled_weight_decay"]), bool(group["maximize"])), {"mu_product": mu_product})

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        b1, b2 = group["betas"]
        eps = group["eps"]
        decoupled = group["decoupled_weight_decay"]
        bc2 = 1 - b2 ** step
        c_grad, c_avg, mu_product = _nadam_coeffs(group, step, scalars)
        m, v = bufs["exp_avg"], bufs["exp_avg_sq"]
        xp = _xp(p)
        g = _decay_grad(group, p, g, dt, decoupled)
        tmp = xp.subtract(g, m)
        tmp *= dt(1 - b1)
        m += tmp
        v *= dt(b2)
        xp.multiply(g, g, out=tmp)
        tmp *= dt(1 - b2)
        v += tmp
        xp.divide(v, dt(bc2), out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp += dt(eps)
        g /= tmp
        g *= dt(c_grad)
        p += g
        xp.divide(m, tmp, out=tmp)
        tmp *= dt(c_avg)
        p += tmp
        return {"mu_product": mu_product}


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        _check_betas(betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("exp_avg", "exp_avg_sq")

    def _kernel(self, group, step, scalars, dtype):
        lr = _to_float(group["lr"])
        b1, b2 = group["betas"]
        wd = group["weight_decay"]
        use_rect, rect = _radam_rect(b2, step)
        return ("radam", ("exp_avg", "exp_avg_sq"),
                (*_sc(dtype, lr, 1 - b1, b2, 1 - b2, 1 - b1 ** step, math.sqrt(1 - b2 ** step), rect, group["eps"],
                      wd, 1 - lr * wd),
                 bool(group["decoupled_weight_decay"]), bool(use_rect), bool(group["maximize"])), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        b1, b2 = group["betas"]
        eps, wd = group["eps"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        bc1 = 1 - b1 ** step
        bc2 = 1 - b2 ** step
        use_rect, rect = _radam_rect(b2, step)
        m, v = bufs["exp_avg"], bufs["exp_avg_sq"]
        xp = _xp(p)
        g = _decay_grad(group, p, g, dt, decoupled)
        tmp = xp.subtract(g, m)
        tmp *= dt(1 - b1)
        m += tmp
        v *= dt(b2)
        xp.multiply(g, g, out=tmp)
        tmp *= dt(1 - b2)
        v += tmp
        bm = m / dt(bc1)
        if use_rect:
            xp.sqrt(v, out=tmp)
            tmp += dt(eps)
            xp.divide(dt(math.sqrt(bc2)), tmp, out=tmp)
            tmp *= bm
            tmp *= dt(lr * rect)
            p -= tmp
        else:
            bm *= dt(lr)
            p -= bm
        return None
