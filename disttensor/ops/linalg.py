"""Linear algebra: matmul/@ (more: mm, bmm, einsum, outer, dot, ...)."""
import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from ._apply import apply
from ._registry import register


class Matmul(Node):
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, a, b):
        self.saved = (a, b)
        return a @ b

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        if a.ndim == 1 and b.ndim == 1:
            return g * b, g * a
        if a.ndim == 1:   # (k) @ (..., k, n) -> (..., n)
            ga = (xp.expand_dims(g, -2) @ xp.swapaxes(b, -1, -2))[..., 0, :]
            gb = a[:, None] * xp.expand_dims(g, -2)
            return ga, gb
        if b.ndim == 1:   # (..., m, k) @ (k) -> (..., m)
            ga = xp.expand_dims(g, -1) * b
            gb = xp.swapaxes(a, -1, -2) @ xp.expand_dims(g, -1)
            gb = gb[..., 0]
            if gb.ndim > 1:
                gb = gb.reshape(-1, gb.shape[-1]).sum(0)
            return ga, gb
        ga = g @ xp.swapaxes(b, -1, -2)
        if b.ndim == 2 and a.ndim > 2:
            # fold batch dims into one GEMM: (B*m, k)^T @ (B*m, n)
            a2 = a.reshape(-1, a.shape[-1])
            gb = a2.T @ g.reshape(-1, g.shape[-1])
        else:
            gb = xp.swapaxes(a, -1, -2) @ g
        return ga, gb


@register("matmul")
def matmul(input, other, *, out=None):
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        sa = tuple(a.shape) if a.ndim > 1 else (1, a.shape[0])
        sb = tuple(b.shape) if b.ndim > 1 else (b.shape[0], 1)
        raise RuntimeError(f"matmul: shapes {sa} and {sb} cannot be multiplied "
                           f"({'x'.join(map(str, sa[-2:]))} and {'x'.join(map(str, sb[-2:]))})")
    if a.dtype != b.dtype:
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, but got {input.dtype} and "
                           f"{other.dtype}")
    return apply(Matmul, input, other)
