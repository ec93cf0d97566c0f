"""Running an op: unwrap tensors, call the Node's forward on arrays, wrap the result, record the graph.

This is the hot path of every eager call, so it avoids kwargs parsing and isinstance ladders.
"""
import numpy as np

from ..autograd.grad_mode import STATE as GRAD
from ..autograd import anomaly_mode
from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor

_ndarray = np.ndarray
_generic = np.generic


def fresh(t):
    """Re-derive the history of a view whose base (or a sibling view) was written in place since its grad_fn was
    recorded: like PyTorch, the view becomes a view of the base's current history, so gradients see the
    write. Called where a tensor enters the graph, only when `t._base is not None and t._gv != t._vc[0]`."""
    from .indexing import regenerate_view      # the rare path: imported on first use
    regenerate_view(t)


def _edge(t):
    fn = t.grad_fn
    if fn is not None:
        return fn
    return t if t.requires_grad else None


def _finish(node, args, out):
    """Record `node` as out's grad_fn (called only when some input requires grad)."""
    node._next = tuple([_edge(a) if a.__class__ is Tensor or isinstance(a, Tensor) else None for a in args])
    node._pre_hooks = None
    node._retain = None
    si = node.save_inputs
    if si or node.save_output:
        vs = [(args[i]._vc, args[i]._vc[0]) for i in si if isinstance(args[i], Tensor)]
        if node.save_output:
            vs.append((out._vc, 0))
        node._versions = tuple(vs)
    else:
        node._versions = None
    d = out._data
    node._oshape = d.shape
    node._odtype = d.dtype
    if node.saved is None:
        node.saved = ()
    if anomaly_mode.STATE.enabled:
        anomaly_mode.record_trace(node)
    out.grad_fn = node
    out.requires_grad = True


def apply(cls, *args, **kwargs):
    """Generic op call: Tensor args are unwrapped; other args pass through to forward."""
    node = cls.__new__(cls)
    node.saved = None
    need = False
    arrays = []
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a._data)
            if a._base is not None and a._gv != a._vc[0]:
                fresh(a)
            if a.requires_grad:
                need = True
        else:
            arrays.append(a)
    try:
        r = node.forward(*arrays, **kwargs)
    except Exception:
        _check_devices(cls, args, kwargs)   # costs nothing unless forward failed
        raise
    if r.__class__ is tuple:
        outs = tuple(_wrap(x) for x in r)
        if need and GRAD.enabled:
            _finish(node, args, outs[0])
        return outs
    out = _wrap(r)
    if need and GRAD.enabled:
        _finish(node, args, out)
    return out


def _check_devices(cls, args, kwargs):
    """After a failed forward: operands on different devices (tensors, or raw arrays such as an index or a
    mask) get PyTorch's error, not the array library's."""
    from .._backends.device import device_of_array, cuda_module
    cp = cuda_module()
    devs = set()
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            a = a._data
        if a.__class__ is _ndarray or (cp is not None and isinstance(a, cp.ndarray)):
            devs.add(str(device_of_array(a)))
    if len(devs) > 1:
        name = getattr(cls, "op_name", None) or cls.__name__.lower()
        raise RuntimeError(f"{name}: Expected all tensors to be on the same device, but found at least two "
                           f"devices, {' and '.join(sorted(devs))}!")


def apply1(cls, a, *rest):
    """Fast path for ops with one tensor argument followed by plain (non-tensor) arguments."""
    node = cls.__new__(cls)
    node.saved = None
    if a._base is not None and a._gv != a._vc[0]:
        fresh(a)
    r = node.forward(a._data, *rest)
    if r.__class__ is not _ndarray:
        r = _coerce(r)
    out = _new_tensor(r)
    if a.requires_grad and GRAD.enabled:
        node._next = (a.grad_fn or a,)
        node._pre_hooks = None
        node._retain = None
        if node.save_inputs:
            node._versions = ((a._vc, a._vc[0]),)
        elif node.save_output:
            node._versions = ((out._vc, 0),)
        else:
            node._versions = None
        node._oshape = r.shape
        node._odtype = r.dtype
        if anomaly_mode.STATE.enabled:
            anomaly_mode.record_trace(node)
        out.grad_fn = node
        out.requires_grad = True
    return out


def _coerce(r):
    if isinstance(r, _generic):
        return np.asarray(r)
    if isinstance(r, (int, float, bool, complex)):
        return np.asarray(r)
    return r


def _wrap(r):
    if r.__class__ is not _ndarray:
        r = _coerce(r)
    return _new_tensor(r)


__all__ = ["apply", "apply1", "Node"]
