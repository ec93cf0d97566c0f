"""Fold an eval-mode BatchNorm into the preceding Conv/Linear (PyTorch's nn.utils.fusion)."""
import copy

from ...tensor import Tensor
from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def _arr(t):
    return None if t is None else t.detach()._data


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    w, rm, rv = _arr(conv_w), _arr(bn_rm), _arr(bn_rv)
    xp_dtype = w.dtype
    b = _arr(conv_b) if conv_b is not None else rm * 0
    gw = _arr(bn_w) if bn_w is not None else rv * 0 + 1
    gb = _arr(bn_b) if bn_b is not None else rm * 0
    inv = 1.0 / (rv + bn_eps) ** 0.5
    shape = [1] * w.ndim
    shape[1 if transpose else 0] = -1
    fw = (w * (gw * inv).reshape(shape)).astype(xp_dtype)
    fb = ((b - rm) * inv * gw + gb).astype(xp_dtype)
    return (Parameter(Tensor._wrap(fw), conv_w.requires_grad),
            Parameter(Tensor._wrap(fb), conv_b.requires_grad if conv_b is not None else True))


def fuse_conv_bn_eval(conv, bn, transpose=False):
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("BatchNorm running stats are required for fusion")
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    w, rm, rv = _arr(linear_w), _arr(bn_rm), _arr(bn_rv)
    b = _arr(linear_b) if linear_b is not None else rm * 0
    gw = _arr(bn_w) if bn_w is not None else rv * 0 + 1
    gb = _arr(bn_b) if bn_b is not None else rm * 0
    scale = gw / (rv + bn_eps) ** 0.5
    fw = (w * scale[:, None]).astype(w.dtype)
    fb = ((b - rm) * scale + gb).astype(w.dtype)
    return Parameter(Tensor._wrap(fw), linear_w.requires_grad), Parameter(Tensor._wrap(fb), True)


def fuse_linear_bn_eval(linear, bn):
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError("To fuse, linear.out_features must equal bn.num_features or bn.num_features must be 1")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused
