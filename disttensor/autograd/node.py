"""Graph nodes. Every differentiable op is a Node subclass with `forward` on raw arrays and
`backward` beside it; calling the op records one Node as the output's `grad_fn`.

Edges (`_next`) point at the node that produced each input (its `grad_fn`), or at the input
Tensor itself when it is a leaf that requires grad, or None when no gradient flows there.
"""

FREED = object()  # marks saved state released after a backward without retain_graph


class Node:
    __slots__ = ("_next", "saved", "_versions", "_oshape", "_odtype", "_pre_hooks",
                 "_retain", "_trace", "__weakref__")

    # Subclasses set these: which tensor inputs forward keeps (checked for in-place edits),
    # and whether it keeps its output.
    save_inputs = ()
    save_output = False

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad):
        """Gradients for each forward argument, given the gradient of the (first) output."""
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def name(self):
        return type(self).__name__ + "Backward0"

    def needs_input_grad(self, i):
        """Whether positional input i needs a gradient: backward may skip the work when it does not."""
        return self._next[i] is not None

    @property
    def next_functions(self):
        from ..tensor import Tensor
        out = []
        for e in self._next:
            if isinstance(e, Tensor):
                out.append((AccumulateGrad(e), 0))
            else:
                out.append((e, 0))
        return tuple(out)

    def register_hook(self, fn):
        raise NotImplementedError("Node.register_hook: register hooks on tensors instead")

    def __repr__(self):
        return f"<{type(self).__name__} object>"


class AccumulateGrad:
    """Shown in `next_functions` for leaves, as PyTorch does; the engine accumulates directly."""

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad object>"
