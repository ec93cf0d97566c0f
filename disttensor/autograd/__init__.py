"""Reverse-mode autograd: backward, grad, custom Functions, grad modes, gradcheck, anomaly mode."""
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled,  # noqa: F401
                        is_inference_mode_enabled)
from .anomaly_mode import detect_anomaly, set_detect_anomaly, is_anomaly_enabled  # noqa: F401
from .node import Node  # noqa: F401
from .engine import queue_callback, is_checkpoint_valid as _is_checkpoint_valid  # noqa: F401
from .function import Function, FunctionCtx, once_differentiable  # noqa: F401
from . import engine as _engine
from ._gradcheck import gradcheck, gradgradcheck, GradcheckError  # noqa: F401


def _make_grads(tensors, grads, op):
    import numpy as np
    from ..tensor import Tensor
    out = []
    for i, t in enumerate(tensors):
        g = None if grads is None else grads[i]
        if g is None:
            if not t.requires_grad:
                raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
            if t._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs ({op} on a tensor of "
                                   f"shape {tuple(t.shape)}; pass gradient=)")
            if t._data.dtype.kind == "c":
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {t.dtype} "
                                   f"({op}; pass gradient=)")
            from .._backends.device import xp_of
            out.append(xp_of(t._data).ones_like(t._data))
        else:
            garr = g._data if isinstance(g, Tensor) else np.asarray(g, dtype=t._data.dtype)
            if garr.shape != t._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(garr.shape)} and "
                                   f"output[{i}] has a shape of {tuple(t.shape)}.")
            if not t.requires_grad:
                raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
            out.append(garr)
    return out


def _fresh_views(tensors):
    """Views among the roots whose base was written in place since their history was recorded (ops/_apply.fresh)."""
    from ..ops._apply import fresh
    for t in tensors:
        if t._base is not None and t._gv != t._vc[0]:
            fresh(t)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None, grad_variables=None):
    """Compute gradients of `tensors` and accumulate them into the leaves' `.grad`."""
    from ..tensor import Tensor
    if create_graph:
        raise NotImplementedError("backward(create_graph=True): higher-order gradients are not supported yet")
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None:
        grad_tensors = grad_variables
    if isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    _fresh_views(tensors)
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    grads = _make_grads(tensors, grad_tensors, "backward")
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    _engine.run_backward(list(tensors), grads, retain_graph=bool(retain_graph), inputs=inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    """Gradients of outputs with respect to inputs, returned (not accumulated into .grad)."""
    from ..tensor import Tensor
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): higher-order gradients are not supported yet")
    single = isinstance(inputs, Tensor)
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    if single:
        inputs = [inputs]
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    _fresh_views(outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
    grads = _make_grads(list(outputs), grad_outputs, "grad")
    res = _engine.run_backward(list(outputs), grads, retain_graph=bool(retain_graph), capture=list(inputs),
                               allow_unused=bool(allow_unused) or materialize_grads)
    if materialize_grads:
        from ..ops.creation import zeros_like
        res = [zeros_like(t) if r is None else r for r, t in zip(res, inputs)]
    return tuple(res)


def __getattr__(name):
    if name == "functional":
        import importlib
        return importlib.import_module(".functional", __name__)
    raise AttributeError(f"module 'disttensor.autograd' has no attribute {name!r}")


class Variable:  # PyTorch's legacy alias; Variable(t) returns t
    def __new__(cls, data, requires_grad=False):
        return data.requires_grad_(requires_grad) if requires_grad else data
