"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update rule)."""
from .optimizer import Optimizer, _sc, required, _check_lr, _check, _to_float

__all__ = ["SGD"]


class SGD(Optimizer):
    _step_in_state = False
    _setstate_defaults = dict(nesterov=False, maximize=False)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required:
            _check_lr(lr)
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(_to_float(weight_decay) >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
                        fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _buffers(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _kernel(self, group, step, scalars, dtype):
        mom = group["momentum"]
        return ("sgd", ("momentum_buffer" if mom != 0 else None,),
                (*_sc(dtype, _to_float(group["lr"]), _to_float(group["weight_decay"]), mom, 1 - group["dampening"]),
                 bool(group["nesterov"]), bool(group["maximize"]), step == 1.0, mom != 0), None)

    def _update(self, group, p, g, bufs, step, scalars):
        dt = p.dtype.type
        lr = _to_float(group["lr"])
        wd = _to_float(group["weight_decay"])
        mom = group["momentum"]
        damp = group["dampening"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        first = step == 1.0
        has_mom = mom != 0
        buf = bufs.get("momentum_buffer")
        if maximize:
            g *= -1
        if wd != 0:
            g += p * dt(wd)
        if has_mom:
            if first:
                buf[...] = g
            else:
                buf *= dt(mom)
                if damp != 1:
                    buf += g * dt(1 - damp) if damp != 0 else g
            if nesterov:
                g += buf * dt(mom)
            else:
                g = buf
        p -= g * dt(lr)
        return None
