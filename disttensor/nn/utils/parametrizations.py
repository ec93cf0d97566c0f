"""nn.utils.parametrizations: weight_norm as a parametrization (keys parametrizations.<name>.original0/1)."""
from ..modules.module import Module
from . import parametrize

__all__ = ["weight_norm", "spectral_norm"]


def _norm_except_dim(v, dim):
    if dim is None or dim == -1:
        return (v * v).sum().sqrt()
    d = dim % v.dim()
    axes = [i for i in range(v.dim()) if i != d]
    return (v * v).sum(dim=axes, keepdim=True).sqrt() if axes else v.abs()


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        weight_g = _norm_except_dim(weight, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module, name="weight", dim=0):
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError("Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            from ..init import normal_
            from ..modules._utils import empty_tensor
            self.n_power_iterations = n_power_iterations
            W = self._mat(weight.detach()._data)
            h, w = W.shape
            u = normal_(empty_tensor((h,), weight.device, weight.dtype))
            v = normal_(empty_tensor((w,), weight.device, weight.dtype))
            u._data[...] = self._normalize(u._data)
            v._data[...] = self._normalize(v._data)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(W, 15)

    def _normalize(self, a):
        from ..._backends.device import xp_of
        n = float(xp_of(a).sqrt((a * a).sum()))
        return a / max(n, self.eps)

    def _mat(self, a):
        if self.dim != 0:
            a = a.transpose([self.dim] + [d for d in range(a.ndim) if d != self.dim])
        return a.reshape(a.shape[0], -1)

    def _power_method(self, W, n):
        u, v = self._u._data, self._v._data
        for _ in range(n):
            u[...] = self._normalize(W @ v)
            v[...] = self._normalize(W.conj().T @ u)
        self._u._vc[0] += 1
        self._v._vc[0] += 1

    def forward(self, weight):
        from ...tensor import Tensor
        if weight.ndim == 1:
            n = (weight * weight).sum().sqrt()
            return weight / n.clamp(min=self.eps) if hasattr(n, "clamp") else weight / n
        if self.training:
            self._power_method(self._mat(weight.detach()._data), self.n_power_iterations)
        u = Tensor._wrap(self._u._data.copy())
        v = Tensor._wrap(self._v._data.copy())
        wm = weight if self.dim == 0 else weight.permute(self.dim, *[d for d in range(weight.dim()) if d != self.dim])
        wm = wm.reshape(wm.shape[0], -1)
        sigma = (u * wm.matmul(v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    weight = getattr(module, name, None)
    from ...tensor import Tensor
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
