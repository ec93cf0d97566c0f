"""Stochastic weight averaging and EMA (torch.optim.swa_utils): AveragedModel, SWALR, update_bn and the
averaging functions. Averages are updated in place on the parameters' arrays (NumPy or CuPy)."""
import itertools
import math
from copy import deepcopy

from ..tensor import Tensor, _new_tensor
from .lr_scheduler import LRScheduler
from ..nn import Module
import numpy as np

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]


def _lerp_(start, end, weight):
    """start += weight * (end - start), in place on the arrays (torch.lerp's formula for each side of 0.5)."""
    a, b = start._data, end._data
    w = float(weight)
    if w < 0.5:
        a += (b - a) * a.dtype.type(w)
    else:
        a[...] = b - (b - a) * a.dtype.type(1 - w)
    start._vc[0] += 1


def _floating(t):
    return t._data.dtype.kind in "fc" or t._data.dtype.name == "bfloat16"


def get_ema_multi_avg_fn(decay=0.999):
    def ema_update(ema_param_list, current_param_list, _=None):
        for p_ema, p_model in zip(ema_param_list, current_param_list):
            if _floating(p_ema):
                _lerp_(p_ema, p_model, 1 - decay)
            else:
                p_ema._data[...] = p_ema._data * decay + p_model._data * (1 - decay)
                p_ema._vc[0] += 1
    return ema_update


def get_swa_multi_avg_fn():
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged.item()) if isinstance(num_averaged, Tensor) else float(num_averaged)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            if _floating(p_avg):
                _lerp_(p_avg, p_model, 1.0 / (n + 1))
            else:
                p_avg._data[...] = p_avg._data + (p_model._data - p_avg._data) / (n + 1)
                p_avg._vc[0] += 1
    return swa_update


def get_ema_avg_fn(decay=0.999):
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """Keeps a copy of `model` whose parameters (and buffers when use_buffers) are averaged by
    `update_parameters(model)`: an equal-weight running mean by default (SWA), or `avg_fn(avg, new, n)` /
    `multi_avg_fn(avg_list, new_list, n)` (e.g. get_ema_multi_avg_fn(decay))."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        n0 = _new_tensor(np.array(0, dtype=np.int64))
        self.register_buffer("n_averaged", n0.to(device) if device is not None else n0)
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model):
        from ..autograd.grad_mode import no_grad
        with no_grad():
            self._update(model)

    def _update(self, model):
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine = list(self.parameters())
            theirs = list(model.parameters())
        mine = [p.detach() for p in mine]
        theirs = [p.detach().to(a.device) for p, a in zip(theirs, mine)]
        n = int(self.n_averaged.item())
        if n == 0:
            for a, b in zip(mine, theirs):
                a._data[...] = b._data
                a._vc[0] += 1
        elif self.avg_fn is not None:
            nav = self.n_averaged
            for a, b in zip(mine, theirs):
                r = self.avg_fn(a, b, nav.to(a.device))
                a._data[...] = r._data if isinstance(r, Tensor) else r
                a._vc[0] += 1
        else:
            fn = self.multi_avg_fn if self.multi_avg_fn is not None else get_swa_multi_avg_fn()
            groups = {}
            for a, b in zip(mine, theirs):
                groups.setdefault((str(a.device), a._data.dtype), ([], []))
                groups[(str(a.device), a._data.dtype)][0].append(a)
                groups[(str(a.device), a._data.dtype)][1].append(b)
            for (dev, _), (la, lb) in groups.items():
                fn(la, lb, self.n_averaged.to(dev))
        if not self.use_buffers:
            # keep the buffers (e.g. BatchNorm's running stats) in sync with the model's
            for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                b_swa._data[...] = b_model.detach().to(b_swa.device)._data
                b_swa._vc[0] += 1
        self.n_averaged._data[...] = n + 1
        self.n_averaged._vc[0] += 1



def update_bn(loader, model, device=None):
    """Recompute BatchNorm running statistics with one pass over `loader` (cumulative averages, as
    torch.optim.swa_utils.update_bn); the first element of list/tuple batches is the input."""
    from ..autograd.grad_mode import no_grad
    from ..nn.modules.batchnorm import _BatchNorm
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for inp in loader:
            if isinstance(inp, (list, tuple)):
                inp = inp[0]
            if device is not None:
                inp = inp.to(device)
            model(inp)
    for module, m in momenta.items():
        module.momentum = m
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr to `swa_lr` over `anneal_epochs` ("cos" or "linear"), then keeps it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        if isinstance(swa_lr, (list, tuple)):
            if len(swa_lr) != len(optimizer.param_groups):
                raise ValueError(f"swa_lr must have the same length as optimizer.param_groups: swa_lr has "
                                 f"{len(swa_lr)}, optimizer.param_groups has {len(optimizer.param_groups)}")
            swa_lrs = list(swa_lr)
        else:
            swa_lrs = [swa_lr] * len(optimizer.param_groups)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must by one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(float(g["lr"]), g["swa_lr"], prev_alpha) for g in groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self.anneal_func = self._cosine_anneal if self._anneal_strategy == "cos" else self._linear_anneal
