"""Lazy modules: parameter shapes taken from the first input, then the module becomes its eager class
(LazyLinear -> Linear, LazyConv2d -> Conv2d, LazyBatchNorm2d -> BatchNorm2d, ...), as in PyTorch."""
from ..parameter import UninitializedParameter
from .module import Module
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import LazyLinear  # noqa: F401

__all__ = ["LazyModuleMixin", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
           "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"]


class LazyModuleMixin:
    cls_to_become = None

    def has_uninitialized_params(self):
        for t in list(self._parameters.values()) + list(self._buffers.values()):
            if isinstance(t, UninitializedParameter) or getattr(t, "_lazy_buffer", False):
                return True
        return False

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError(f"initialize_parameters is not implemented for {self.__class__.__name__}")

    def __call__(self, *args, **kwargs):
        if self.has_uninitialized_params():
            self.initialize_parameters(*args, **kwargs)
            if self.cls_to_become is not None:
                self.__class__ = self.cls_to_become
        return Module.__call__(self, *args, **kwargs)


def _lazy_buffer():
    from ._utils import empty_tensor
    t = empty_tensor((0,))
    t._lazy_buffer = True
    return t


class _LazyConvXdMixin(LazyModuleMixin):
    def _init_lazy(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _get_in_channels(self, input):
        num_spatial = self._get_num_spatial_dims()
        num_dims_no_batch = num_spatial + 1
        num_dims_batch = num_dims_no_batch + 1
        if input.dim() not in (num_dims_no_batch, num_dims_batch):
            raise RuntimeError(f"Expected {num_dims_no_batch}D (unbatched) or {num_dims_batch}D (batched) input "
                               f"to {self.__class__.__name__}, but got input of size: {tuple(input.shape)}")
        return input.shape[1] if input.dim() == num_dims_batch else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
            else:
                shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
            self.weight.materialize(shape)
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()


def _make_lazy_conv(name, base, nsp):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, *args, bias=True, device=None, dtype=None,
                 **kwargs):
        # build the eager module with a 1-channel placeholder, then make its parameters uninitialised
        in_placeholder = kwargs.get("groups", 1)
        base.__init__(self, in_placeholder, out_channels, kernel_size, stride, padding, *args, bias=bias,
                      device=device, dtype=dtype, **kwargs)
        self.in_channels = 0
        self._init_lazy(out_channels, bias, device, dtype)

    cls = type(name, (_LazyConvXdMixin, base), {"__init__": __init__, "cls_to_become": base,
                                                  "_get_num_spatial_dims": lambda self: nsp})
    cls.__module__ = __name__
    return cls


LazyConv1d = _make_lazy_conv("LazyConv1d", Conv1d, 1)
LazyConv2d = _make_lazy_conv("LazyConv2d", Conv2d, 2)
LazyConv3d = _make_lazy_conv("LazyConv3d", Conv3d, 3)
LazyConvTranspose1d = _make_lazy_conv("LazyConvTranspose1d", ConvTranspose1d, 1)
LazyConvTranspose2d = _make_lazy_conv("LazyConvTranspose2d", ConvTranspose2d, 2)
LazyConvTranspose3d = _make_lazy_conv("LazyConvTranspose3d", ConvTranspose3d, 3)


class _LazyNormMixin(LazyModuleMixin):
    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            if self.affine:
                self.weight.materialize((self.num_features,))
                if self.bias is not None:
                    self.bias.materialize((self.num_features,))
            if self.track_running_stats:
                from ._utils import zeros_tensor, ones_tensor
                dev, dt = input.device, (self.weight.dtype if self.affine else input.dtype)
                self.running_mean = zeros_tensor((self.num_features,), dev, dt)
                self.running_var = ones_tensor((self.num_features,), dev, dt)
            self.reset_parameters()


def _make_lazy_norm(name, base, default_affine, default_track):
    def __init__(self, eps=1e-5, momentum=0.1, affine=default_affine, track_running_stats=default_track,
                 device=None, dtype=None):
        base.__init__(self, 0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            from ._utils import zeros_tensor
            self.running_mean = _lazy_buffer()
            self.running_var = _lazy_buffer()
            self.num_batches_tracked = zeros_tensor((), device, "int64")

    cls = type(name, (_LazyNormMixin, base), {"__init__": __init__, "cls_to_become": base})
    cls.__module__ = __name__
    return cls


LazyBatchNorm1d = _make_lazy_norm("LazyBatchNorm1d", BatchNorm1d, True, True)
LazyBatchNorm2d = _make_lazy_norm("LazyBatchNorm2d", BatchNorm2d, True, True)
LazyBatchNorm3d = _make_lazy_norm("LazyBatchNorm3d", BatchNorm3d, True, True)
LazyInstanceNorm1d = _make_lazy_norm("LazyInstanceNorm1d", InstanceNorm1d, False, False)
LazyInstanceNorm2d = _make_lazy_norm("LazyInstanceNorm2d", InstanceNorm2d, False, False)
LazyInstanceNorm3d = _make_lazy_norm("LazyInstanceNorm3d", InstanceNorm3d, False, False)
