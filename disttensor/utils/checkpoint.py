"""Activation checkpointing with PyTorch's API: `checkpoint` and `checkpoint_sequential`.

A checkpointed function's forward keeps none of the intermediate arrays its ops would save for backward;
backward runs the function again (restoring the RNG state first when `preserve_rng_state`, so dropout draws
the same mask) and backpropagates through the recomputed values.

use_reentrant=True (torch's default when the argument is omitted, with the same warning as torch 2.13):
    the forward runs under no_grad inside one graph node whose edges are the tensor arguments. Its
    backward re-runs the function on detached copies of the inputs with grad enabled and calls backward on
    the recomputed outputs, which accumulates the parameters' gradients into their `.grad` directly (as
    torch's reentrant backward does) and returns the inputs' gradients. Keyword arguments raise ValueError.
    Outputs: a tensor, or a tuple mixing tensors and other values; every floating tensor output is
    differentiable. If no input requires grad, torch's warning is given and the outputs carry no graph
    (so parameters used inside get no gradient, as in torch).
    Like torch, differentiating such a checkpoint with `autograd.grad` or `backward(inputs=...)` raises a
    RuntimeError (the nested backward would fill the `.grad` of the parameters inside the function).

use_reentrant=False: the forward runs with grad enabled, so the graph is recorded with real edges to every
    tensor the function touches (parameters, closure tensors, keyword arguments); right after the call, the
    saved state of every node created inside the function is dropped (the node objects stay, without their
    arrays). The first time backward reaches one of those nodes, the function is run again and the saved
    state of the recomputed nodes is moved into the original nodes, matched one-to-one by walking both
    graphs from the outputs. So `autograd.grad`, `backward(inputs=...)`, kwargs, any output structure and
    `retain_graph=True` work as without checkpointing. `context_fn` (a pair of context managers for forward
    and recomputation) and `determinism_check` ("default": node types, shapes and dtypes of the recomputed
    graph must match, else RuntimeError; "none") are supported; `debug` is accepted and ignored.
    Differences from torch: the boundary between the function's nodes and the outside graph is the set of
    the arguments' own nodes (including tensors inside list/tuple/dict arguments): a tensor with autograd
    history made outside the function and reached only through a closure would lose its saved state, so
    its recomputation raises a RuntimeError naming the problem (pass such tensors as arguments). The
    forward records the graph (node objects, not their arrays), as torch's non-reentrant variant does.
"""
import warnings

import numpy as np

from ..autograd.node import Node
from ..autograd.grad_mode import STATE as _GRAD, no_grad, enable_grad

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn", "CheckpointFunction"]


class _Noop:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def noop_context_fn():
    return _Noop(), _Noop()


# ---- RNG state ---------------------------------------------------------------------------------------
def _tensors_in(args, kwargs=None):
    from ..tensor import Tensor
    out = []

    def visit(a, depth=0):
        if isinstance(a, Tensor):
            out.append(a)
        elif depth < 3 and isinstance(a, (list, tuple)):
            for x in a:
                visit(x, depth + 1)
        elif depth < 3 and isinstance(a, dict):
            for x in a.values():
                visit(x, depth + 1)
    for a in args:
        visit(a)
    if kwargs:
        for a in kwargs.values():
            visit(a)
    return out


def _rng_snapshot(tensors):
    """CPU generator state, plus the CUDA generators of the devices the inputs live on (when they exist)."""
    import copy
    from .. import random as _random
    cpu = _random.default_generator._rng.bit_generator.state
    cuda = {}
    for t in tensors:
        dev = t.device
        if dev.type == "cuda":
            idx = dev.index or 0
            if idx in cuda:
                continue
            _random.generator_for(dev)  # create it if needed
            g = _random._cuda_generators.get(idx)
            try:
                cuda[idx] = copy.deepcopy(g._rng)
            except Exception:  # pragma: no cover - depends on CuPy's generator
                warnings.warn("checkpoint: the CUDA RNG state could not be saved; random ops inside the "
                              "checkpointed function may draw differently when recomputed", stacklevel=3)
    return cpu, cuda


class _ForkedRng:
    """Restore a snapshot for the recomputation, then put the RNG back where it was (torch's fork_rng)."""

    def __init__(self, snap):
        self.snap = snap

    def __enter__(self):
        import copy
        from .. import random as _random
        if self.snap is None:
            return self
        cpu, cuda = self.snap
        gen = _random.default_generator._rng.bit_generator
        self.saved_cpu = gen.state
        gen.state = cpu
        self.saved_cuda = {}
        for idx, rng in cuda.items():
            g = _random._cuda_generators[idx]
            self.saved_cuda[idx] = g._rng
            g._rng = copy.deepcopy(rng)
        return self

    def __exit__(self, *exc):
        from .. import random as _random
        if self.snap is None:
            return False
        _random.default_generator._rng.bit_generator.state = self.saved_cpu
        for idx, rng in self.saved_cuda.items():
            _random._cuda_generators[idx]._rng = rng
        return False


# ---- reentrant variant ----------------------------------------------------------------------------------
_REENTRANT_GRAD_ERROR = (
    "When use_reentrant=True, torch.utils.checkpoint is incompatible"
    " with .grad() or passing an `inputs` parameter to .backward()."
    " To resolve this error, you can either set use_reentrant=False,"
    " or call .backward() without passing the `inputs` argument.")


class _CheckpointNode(Node):
    """One node for the whole function (use_reentrant=True). Edges: the positional arguments."""
    __slots__ = ("fn", "args", "rng", "packed")

    def name(self):
        return "CheckpointFunctionBackward"

    def backward(self, g):
        from ..tensor import Tensor
        from ..autograd import engine
        if not engine.is_checkpoint_valid():
            raise RuntimeError(_REENTRANT_GRAD_ERROR)
        args = self.args
        if args is None:
            raise RuntimeError("checkpoint: backward through a checkpointed function a second time after its "
                               "inputs were released")
        detached = []
        for a in args:
            if isinstance(a, Tensor):
                d = a.detach()
                d.requires_grad = a.requires_grad
                detached.append(d)
            else:
                detached.append(a)
        with _ForkedRng(self.rng), enable_grad():
            outs = self.fn(*detached)
        if not isinstance(outs, tuple):
            outs = (outs,)
        if self.packed:
            grads = list(g)
        else:
            grads = [g]
        roots, gs = [], []
        for o, gi in zip(outs, grads):
            if isinstance(o, Tensor) and o.requires_grad and gi is not None and not (
                    isinstance(gi, int) and gi == 0):
                roots.append(o)
                gs.append(gi)
        if not roots:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        engine.run_backward(roots, gs)
        return tuple(d.grad._data if isinstance(d, Tensor) and d.requires_grad and d.grad is not None else None
                     for d in detached)


class _SelectNode(Node):
    """Output i of a checkpointed function returning several tensors: hands its gradient to the checkpoint
    node in slot i of an object array (the engine sums those slot-wise)."""
    __slots__ = ("i", "n")

    def name(self):
        return "CheckpointFunctionBackward"

    def backward(self, g):
        p = np.zeros(self.n, dtype=object)
        p[self.i] = g
        return (p,)


def _floating(t):
    k = t._data.dtype.kind
    return k in "fc" or t._data.dtype.name == "bfloat16"


class CheckpointFunction:
    """torch.utils.checkpoint.CheckpointFunction: `CheckpointFunction.apply(function, preserve_rng_state, *args)`."""

    @staticmethod
    def apply(function, preserve_rng_state, *args):
        return _checkpoint_reentrant(function, preserve_rng_state, args)


def _checkpoint_reentrant(function, preserve, args):
    from ..tensor import Tensor
    from ..ops._apply import _edge
    tensors = [a for a in args if isinstance(a, Tensor)]
    needs = any(t.requires_grad for t in tensors)
    if not needs:
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=3)
    rng = _rng_snapshot(tensors) if preserve else None
    with no_grad():
        out = function(*args)
    if not (needs and _GRAD.enabled):
        return out
    node = _CheckpointNode.__new__(_CheckpointNode)
    node.fn = function
    node.args = tuple(args)
    node.rng = rng
    node.saved = ()
    node._pre_hooks = None
    node._retain = None
    node._next = tuple(_edge(a) if isinstance(a, Tensor) else None for a in args)
    vers = tuple((t._vc, t._vc[0]) for t in tensors)
    node._versions = vers or None
    from ..autograd import anomaly_mode
    if anomaly_mode.STATE.enabled:
        anomaly_mode.record_trace(node)

    def own(t):  # an output that is an input as is becomes an alias, so the input keeps its history
        if any(t is a for a in args):
            return t.detach()
        return t

    if isinstance(out, Tensor):
        out = own(out)
        node.packed = False
        node._oshape = out._data.shape
        node._odtype = out._data.dtype
        out.grad_fn = node
        out.requires_grad = True
        return out
    if not isinstance(out, tuple):
        raise RuntimeError(f"checkpoint (use_reentrant=True): the function must return a Tensor or a tuple, "
                           f"got {type(out).__name__}")
    n = len(out)
    node.packed = True
    node._oshape = (n,)
    node._odtype = np.dtype(object)
    res = []
    for i, o in enumerate(out):
        if isinstance(o, Tensor) and _floating(o):
            o = own(o)
            s = _SelectNode.__new__(_SelectNode)
            s.i, s.n = i, n
            s.saved = None
            s._pre_hooks = None
            s._retain = None
            s._versions = None
            s._next = (node,)
            s._oshape = o._data.shape
            s._odtype = o._data.dtype
            o.grad_fn = s
            o.requires_grad = True
        res.append(o)
    return tuple(res)


# ---- non-reentrant variant ----------------------------------------------------------------------------
_KEEP = frozenset(("_next", "_versions", "_oshape", "_odtype", "_pre_hooks", "_retain", "_trace", "__weakref__"))
_SLOT_CACHE = {}


def _state_slots(cls):
    s = _SLOT_CACHE.get(cls)
    if s is None:
        names = []
        for k in cls.__mro__:
            for name in getattr(k, "__slots__", ()):
                if name not in _KEEP and name not in names:
                    names.append(name)
        s = _SLOT_CACHE[cls] = tuple(names)
    return s


_MISSING = object()


def _flat_outputs(out):
    from ..tensor import Tensor
    res = []

    def visit(o, depth=0):
        if isinstance(o, Tensor):
            res.append(o)
        elif depth < 4 and isinstance(o, (list, tuple)):
            for x in o:
                visit(x, depth + 1)
        elif depth < 4 and isinstance(o, dict):
            for x in o.values():
                visit(x, depth + 1)
    visit(out)
    return res


class _Region:
    __slots__ = ("fn", "args", "kwargs", "rng", "ctx_fn", "check", "nodes", "hooks", "done", "old_outputs")

    def recompute(self, _g=None):
        if self.done:
            return None
        self.done = True
        for n, h in zip(self.nodes, self.hooks):  # remove our pre-hooks
            n._pre_hooks = h
        _fwd, recomp_ctx = self.ctx_fn()
        with _ForkedRng(self.rng), enable_grad(), recomp_ctx:
            out = self.fn(*self.args, **self.kwargs)
        olds = [t.grad_fn for t in self.old_outputs]
        news = [t.grad_fn for t in _flat_outputs(out)]
        self.match(olds, news)
        self.fn = self.args = self.kwargs = self.rng = None
        return None

    def match(self, olds, news):
        region = {id(n) for n in self.nodes}
        if len(olds) != len(news):
            raise RuntimeError("torch.utils.checkpoint: the recomputed function returned a different number of "
                               f"tensors ({len(news)}) than during the forward pass ({len(olds)})")
        seen = set()
        stack = list(zip(olds, news))
        check = self.check
        while stack:
            o, n = stack.pop()
            if o is None and n is None:
                continue
            if not isinstance(o, Node):
                continue
            if o is n:
                if id(o) in region:
                    raise RuntimeError(
                        "torch.utils.checkpoint (use_reentrant=False): a tensor with autograd history created "
                        "outside the checkpointed function is used inside it without being passed as an "
                        f"argument (reached through {o.name()}); pass it as an argument of checkpoint(...)")
                continue
            if id(o) in seen:
                continue
            seen.add(id(o))
            if id(o) not in region:
                raise RuntimeError("torch.utils.checkpoint: the recomputed graph does not match the forward pass "
                                   f"(found {type(n).__name__} where {o.name()} was expected)")
            if type(o) is not type(n) or len(o._next) != len(n._next):
                raise RuntimeError("torch.utils.checkpoint: recomputed graph differs from the forward pass: "
                                   f"{type(n).__name__} recomputed where {type(o).__name__} was recorded")
            if check == "default" and (getattr(o, "_oshape", None) != getattr(n, "_oshape", None)
                                       or getattr(o, "_odtype", None) != getattr(n, "_odtype", None)):
                raise RuntimeError(
                    "torch.utils.checkpoint: Recomputed values for the following tensors have different metadata "
                    f"than during the forward pass: {o.name()}: shape {getattr(o, '_oshape', None)} dtype "
                    f"{getattr(o, '_odtype', None)} recorded, shape {getattr(n, '_oshape', None)} dtype "
                    f"{getattr(n, '_odtype', None)} recomputed")
            o.saved = n.saved
            for name in _state_slots(type(o)):
                if name == "saved":
                    continue
                v = getattr(n, name, _MISSING)
                if v is not _MISSING:
                    setattr(o, name, v)
            for eo, en in zip(o._next, n._next):
                if isinstance(eo, Node):
                    stack.append((eo, en))


def _checkpoint_nonreentrant(function, preserve, context_fn, determinism_check, args, kwargs):
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    tensors = _tensors_in(args, kwargs)
    rng = _rng_snapshot(tensors) if preserve else None
    fwd_ctx, _ = context_fn()
    with fwd_ctx:
        out = function(*args, **kwargs)
    if not _GRAD.enabled:
        return out
    boundary = {id(t.grad_fn) for t in tensors if t.grad_fn is not None}
    outs = _flat_outputs(out)
    nodes = []
    seen = set()
    stack = [t.grad_fn for t in outs if t.grad_fn is not None]
    while stack:
        n = stack.pop()
        k = id(n)
        if k in seen or k in boundary:
            continue
        seen.add(k)
        nodes.append(n)
        for e in n._next:
            if isinstance(e, Node):
                stack.append(e)
    if not nodes:
        return out
    reg = _Region()
    reg.fn, reg.args, reg.kwargs, reg.rng = function, args, kwargs, rng
    reg.ctx_fn, reg.check, reg.done = context_fn, determinism_check, False
    reg.nodes = nodes
    reg.old_outputs = [_OutRef(t) for t in outs]
    hook = reg.recompute
    hooks = []
    for n in nodes:
        old = n._pre_hooks
        hooks.append(old)
        d = {"_checkpoint": hook}
        if old:
            d.update(old)
        n._pre_hooks = d
        n.saved = None
        for name in _state_slots(type(n)):
            if name != "saved":
                try:
                    setattr(n, name, None)
                except AttributeError:
                    pass
    reg.hooks = hooks
    return out


class _OutRef:
    """An output's grad_fn as recorded at forward (the output tensor itself is not kept alive)."""
    __slots__ = ("grad_fn",)

    def __init__(self, t):
        self.grad_fn = t.grad_fn


# ---- public API -----------------------------------------------------------------------------------------
def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn, determinism_check="default",
               debug=False, early_stop=True, **kwargs):
    """torch.utils.checkpoint.checkpoint: run `function(*args, **kwargs)` without keeping its intermediate
    values for backward; they are recomputed during backward (see the module docstring)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be "
            "passed explicitly. Starting in PyTorch 2.9, calling checkpoint "
            "without use_reentrant will raise an exception. use_reentrant=False is "
            "recommended, but if you need to preserve the current default "
            "behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.", stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        return _checkpoint_reentrant(function, preserve, args)
    return _checkpoint_nonreentrant(function, preserve, context_fn, determinism_check, args, kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """torch.utils.checkpoint.checkpoint_sequential: split `functions` (a list or nn.Sequential) into
    `segments` chunks, checkpoint all but the last chunk."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant "
            "parameter should be passed explicitly. "
            "In version 2.9 we will raise an exception if use_reentrant "
            "is not passed. use_reentrant=False is "
            "recommended, but if you need to preserve the current default "
            "behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.", stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    from ..nn import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
