"""weight_norm / remove_weight_norm (the hook-based API): w = g * v / ||v|| recomputed before each forward,
with parameters `<name>_g` and `<name>_v` (state_dict keys as PyTorch's)."""
from ...tensor import Tensor
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


def _norm_except_dim(v, dim):
    """||v|| over every dim except `dim` (keepdim shape), or the whole norm when dim is None/-1 with 1-D."""
    if dim is None or dim == -1 and v.dim() == 1:
        return (v * v).sum().sqrt()
    d = dim % v.dim()
    axes = [i for i in range(v.dim()) if i != d]
    return (v * v).sum(dim=axes, keepdim=True).sqrt() if axes else v.abs()


class WeightNorm:
    def __init__(self, name, dim):
        if dim is None:
            dim = -1
        self.name = name
        self.dim = dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, None if self.dim == -1 else self.dim))

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        g = _norm_except_dim(weight.detach(), None if dim == -1 else dim)
        module.register_parameter(name + "_g", Parameter(Tensor._wrap(g._data.copy())))
        module.register_parameter(name + "_v", Parameter(Tensor._wrap(weight.detach()._data.copy())))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module).detach()
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(Tensor._wrap(weight._data.copy())))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
