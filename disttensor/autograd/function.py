"""User-defined autograd Functions with PyTorch's API: forward(ctx, ...) and backward(ctx, ...) on Tensors."""
from .node import Node
from .grad_mode import STATE as GRAD, no_grad


class FunctionCtx:
    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._dirty = ()
        self._non_diff = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = value


class _CustomNode(Node):
    __slots__ = ("fn", "ctx", "n_out")

    def backward(self, grad):
        from ..tensor import Tensor
        ctx = self.ctx
        with no_grad():
            gs = self.fn.backward(ctx, Tensor._wrap(grad))
        if not isinstance(gs, tuple):
            gs = (gs,)
        return tuple(None if g is None else g._data for g in gs)

    def name(self):
        return self.fn.__name__ + "Backward"


class FunctionMeta(type):
    pass


class Function(metaclass=FunctionMeta):
    """Subclass with static forward(ctx, *args) and backward(ctx, *grads); call with .apply(*args)."""

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor
        from ..ops._apply import fresh
        for a in args:
            if isinstance(a, Tensor) and a._base is not None and a._gv != a._vc[0]:
                fresh(a)
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        if getattr(cls, "setup_context", None) is not None and _overrides_setup(cls):
            with no_grad():
                out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
        else:
            with no_grad():
                out = cls.forward(ctx, *args, **kwargs)
        need = GRAD.enabled and any(ctx.needs_input_grad)
        outs = out if isinstance(out, tuple) else (out,)
        if need:
            node = _CustomNode.__new__(_CustomNode)
            node.fn = cls
            node.ctx = ctx
            node.saved = ()
            node._pre_hooks = None
            node._retain = None
            node._versions = None
            from ..ops._apply import _edge
            node._next = tuple(_edge(a) if isinstance(a, Tensor) else None for a in args)
            first = outs[0]
            if isinstance(first, Tensor) and not any(first is x for x in ctx._non_diff):
                if any(first is a for a in args) and not any(first is d for d in ctx._dirty):
                    # forward returned an input as is: hand back an alias so the input keeps its history
                    first = first.detach()
                    out = first if not isinstance(out, tuple) else (first,) + tuple(outs[1:])
                node._oshape = first._data.shape
                node._odtype = first._data.dtype
                first.grad_fn = node
                first.requires_grad = True
        return out

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    setup_context = None


def _overrides_setup(cls):
    return cls.__dict__.get("setup_context") is not None or any(
        "setup_context" in k.__dict__ and k.__dict__["setup_context"] is not None for k in cls.__mro__[1:-2])


def once_differentiable(fn):
    return fn
