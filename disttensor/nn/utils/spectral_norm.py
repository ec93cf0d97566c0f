"""spectral_norm / remove_spectral_norm (the hook-based API): w = w_orig / sigma(w_orig), sigma estimated by
power iteration on the buffers `<name>_u`, `<name>_v` (updated in training mode), as PyTorch does."""
from ...tensor import Tensor
from ..._backends.device import xp_of
from ..parameter import Parameter

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]


def _normalize(xp, a, eps):
    n = float(xp.sqrt((a * a).sum()))
    return a / max(n, eps)


class SpectralNorm:
    _version = 1

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def _mat_arr(self, a):
        if self.dim != 0:
            perm = [self.dim] + [d for d in range(a.ndim) if d != self.dim]
            a = a.transpose(perm)
        return a.reshape(a.shape[0], -1)

    def reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.dim()) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        if do_power_iteration:
            W = self._mat_arr(weight._data)
            xp = xp_of(W)
            ua, va = u._data, v._data
            for _ in range(self.n_power_iterations):
                va[...] = _normalize(xp, W.T @ ua, self.eps)
                ua[...] = _normalize(xp, W @ va, self.eps)
            u._vc[0] += 1
            v._vc[0] += 1
        uc = Tensor._wrap(u._data.copy())
        vc = Tensor._wrap(v._data.copy())
        wm = self.reshape_weight_to_matrix(weight)
        sigma = (uc * wm.matmul(vc)).sum()
        return weight / sigma

    def remove(self, module):
        from ...autograd.grad_mode import no_grad
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(Tensor._wrap(weight.detach()._data.copy())))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        from ..init import normal_
        from ..modules._utils import empty_tensor
        W = fn._mat_arr(weight._data)
        h, w = W.shape
        xp = xp_of(W)
        u = normal_(empty_tensor((h,), weight.device, weight.dtype))
        v = normal_(empty_tensor((w,), weight.device, weight.dtype))
        u._data[...] = _normalize(xp, u._data, fn.eps)
        v._data[...] = _normalize(xp, v._data, fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    if dim is None:
        from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module}")
