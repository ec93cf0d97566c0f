"""The backward engine: iterative (no recursion), dependency-counted, frees saved arrays as it goes.

Order: a node runs once all gradients flowing into it have arrived. Leaves are accumulated into
`.grad` (in place when a gradient already exists, so DDP's bucket views stay views), then their
post-accumulate hooks fire. Callbacks queued during backward run once at its end.
"""
import sys
import threading

import numpy as np

from .node import Node, FREED
from . import anomaly_mode

# Per thread (backward may run in several Python threads at once, as in PyTorch): a list while a
# backward runs in this thread; queue_callback appends to it
_state = threading.local()


def queue_callback(fn):
    """Run `fn()` once the current backward pass has finished (DDP finalizes buckets here)."""
    cbs = getattr(_state, "callbacks", None)
    if cbs is None:
        raise RuntimeError("queue_callback: no backward pass is running")
    cbs.append(fn)


def is_checkpoint_valid():
    """torch.autograd._is_checkpoint_valid: False while the innermost backward on this thread computes only
    some gradients (autograd.grad, or backward(inputs=...)), which a reentrant checkpoint cannot serve."""
    return not getattr(_state, "partial", False)


def _sum_to(g, shape):
    """Undo broadcasting: sum `g` down to `shape`. The one helper every op relies on."""
    if g.shape == shape:
        return g
    nd = g.ndim - len(shape)
    if nd < 0:
        return g.reshape(shape)
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and g.shape[i + nd] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if nd:
        g = g.reshape(shape)
    return g


def _fit(g, shape, dtype):
    if g.shape != shape:
        if g.size == 1 and len(shape) == 0:
            g = g.reshape(shape)
        else:
            g = _sum_to(g, shape)
    if g.dtype != dtype:
        if g.dtype.kind == "c" and dtype.kind != "c":
            g = g.real      # a real input of a complex result gets the real part, as in PyTorch
        if g.dtype != dtype:
            g = g.astype(dtype)
    return g


def _collect(roots):
    """Count, for every node and leaf reachable from roots, how many edges lead into it."""
    deps = {}
    seen = set()
    stack = [r for r in roots if isinstance(r, Node)]
    for r in stack:
        seen.add(id(r))
    while stack:
        n = stack.pop()
        if n.saved is FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                f"after they have already been freed) at {n.name()}. Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time.")
        for e in n._next:
            if e is None:
                continue
            k = id(e)
            deps[k] = deps.get(k, 0) + 1
            if k not in seen and isinstance(e, Node):
                seen.add(k)
                stack.append(e)
    return deps


def run_backward(tensors, grads, retain_graph=False, inputs=None, capture=None, allow_unused=False):
    """Propagate `grads` from `tensors` through the graph.

    capture: None to accumulate into leaves' .grad; or a list of tensors whose gradients are
    returned instead (autograd.grad), leaving every .grad untouched.
    """
    from ..tensor import Tensor

    roots = []
    buffers = {}
    for t, g in zip(tensors, grads):
        root = t.grad_fn if t.grad_fn is not None else t
        roots.append(root)
        k = id(root)
        buffers[k] = g if k not in buffers else buffers[k] + g

    captured = None
    cap_ids = None
    if capture is not None:
        captured = [None] * len(capture)
        cap_ids = {}
        for i, t in enumerate(capture):
            cap_ids.setdefault(id(t.grad_fn if t.grad_fn is not None else t), []).append(i)
    only = None
    if inputs is not None:
        only = {id(t) for t in inputs}

    deps = _collect(roots)
    ready = []
    for r in roots:
        if deps.get(id(r), 0) == 0 and all(r is not x for x in ready):
            ready.append(r)

    outer = getattr(_state, "callbacks", None)
    callbacks = _state.callbacks = []
    outer_partial = getattr(_state, "partial", False)
    _state.partial = capture is not None or inputs is not None
    anomaly = anomaly_mode.STATE.enabled
    try:
        while ready:
            n = ready.pop()
            g = buffers.pop(id(n), None)
            if g is None:
                # every gradient into n was None (a backward returned None for it): nothing to run, but
                # what n leads to must stop waiting for it, or gradients from other paths would be lost
                if isinstance(n, Node):
                    _release(n._next, deps, ready)
                continue
            if isinstance(n, Node):
                if n._pre_hooks is not None:
                    for h in n._pre_hooks.values():
                        r = h(Tensor._wrap(g))
                        if r is not None:
                            g = r._data
                if n._retain is not None:
                    rt = n._retain()
                    if rt is not None:
                        _accumulate(rt, g, fire_hooks=False)
                if cap_ids is not None and id(n) in cap_ids:
                    for i in cap_ids[id(n)]:
                        captured[i] = Tensor._wrap(g)
                if n._versions is not None:
                    _check_versions(n)
                if anomaly:
                    gin = anomaly_mode.run_checked(n, g)
                else:
                    gin = n.backward(g)
                if gin.__class__ is not tuple and gin.__class__ is not list:
                    gin = (gin,)
                nxt = n._next
                if not retain_graph:
                    if n.saved is not None:
                        n.saved = FREED
                for e, gi in zip(nxt, gin):
                    if e is None:
                        continue
                    if gi is None:
                        _release((e,), deps, ready)
                        continue
                    k = id(e)
                    if isinstance(e, Node):
                        if gi.shape != e._oshape or gi.dtype is not e._odtype:
                            gi = _fit(gi, e._oshape, e._odtype)
                    else:
                        d = e._data
                        if gi.shape != d.shape or gi.dtype is not d.dtype:
                            gi = _fit(gi, d.shape, d.dtype)
                    b = buffers.get(k)
                    buffers[k] = gi if b is None else b + gi
                    d = deps[k] - 1
                    deps[k] = d
                    if d == 0:
                        ready.append(e)
                gin = gi = b = None  # drop references so leaves can adopt their gradient arrays
            else:
                # a leaf tensor
                leaf = n
                if cap_ids is not None:
                    if id(leaf) in cap_ids:
                        for h in list(leaf._hooks.values()) if leaf._hooks else ():
                            r = h(Tensor._wrap(g))
                            if r is not None:
                                g = r._data
                        for i in cap_ids[id(leaf)]:
                            captured[i] = Tensor._wrap(g)
                    continue
                if only is not None and id(leaf) not in only:
                    continue
                _accumulate(leaf, g, fire_hooks=True)
        for cb in callbacks:
            cb()
    finally:
        _state.callbacks = outer
        _state.partial = outer_partial

    if capture is not None:
        for i, t in enumerate(capture):
            if captured[i] is None and not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {i}, shape {tuple(t.shape)}) appears to not "
                    "have been used in the graph. Set allow_unused=True if this is the desired behavior.")
        return captured
    return None


def _release(edges, deps, ready):
    """The edges' targets get no gradient from this node: one fewer to wait for (queued once none is left;
    with nothing buffered it then only releases what it leads to)."""
    for e in edges:
        if e is not None:
            k = id(e)
            d = deps[k] - 1
            deps[k] = d
            if d == 0:
                ready.append(e)


_refcount = sys.getrefcount


def _accumulate(leaf, g, fire_hooks):
    from ..tensor import Tensor
    if fire_hooks and leaf._hooks is not None:
        for h in list(leaf._hooks.values()):
            r = h(Tensor._wrap(g))
            if r is not None:
                g = r._data
    cur = leaf.grad
    if cur is None:
        # Adopt the array when nothing else refers to it (the caller's local and ours: 3 with
        # getrefcount's own); otherwise copy, since a backward may hand one array to several edges.
        if g.base is None and _refcount(g) <= 3 and g.flags.c_contiguous:
            leaf.grad = Tensor._wrap(g)
        else:
            leaf.grad = Tensor._wrap(g.copy())
    else:
        c = cur._data
        if c.shape == g.shape:
            c += g
        else:
            raise RuntimeError(f"accumulating gradient of shape {g.shape} into .grad of shape {c.shape}")
    if fire_hooks and leaf._post_hooks is not None:
        for h in list(leaf._post_hooks.values()):
            h(leaf)


def _check_versions(n):
    for cell, v in n._versions:
        if cell[0] != v:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{n.name()}] is at version {cell[0]}; expected version {v} instead. Hint: the "
                "backtrace further above shows the operation that failed to compute its gradient. "
                "The variable in question was changed in there or anywhere later. Good luck!")
