"""Optimizer base with PyTorch's interface, running each update over flat contiguous buffers.

Layout: for every param group, parameters are bucketed by (device, dtype). A bucket owns one flat
1-D array holding all its parameters (each parameter's `_data` becomes a view into it, so code
holding the parameter still sees updates; a one-tensor bucket keeps its own storage), one flat array
per state buffer (`exp_avg`, ...; `optimizer.state[p]['exp_avg']` is a view into it), a flat scratch
gradient buffer, and a small host array of per-parameter scalar state (`step`, NAdam's `mu_product`;
`state[p]['step']` is a 0-d view into it).

An update runs once per *run*: consecutive parameters that all have gradients and share their
scalar state (the usual case is one run per bucket). CPU float32/float64 runs use fused numba
kernels (imported lazily; `prange` for large segments): a large contiguous gradient is read where
it lies, runs of small ones are gathered into the scratch buffer first, and the kernel arguments are
computed once per run (`_kernel`). Other dtypes, CUDA arrays, `DISTTENSOR_NO_NUMBA=1` or a missing
numba use in-place array-module ufuncs with `out=` over the same flat slices (`_update`).

Parameters that are views of arrays the optimizers did not make (a wrapper's sharded flat parameter)
keep their storage, as do all with `optimizer._flatten_params = False`: their updates run per
parameter. If a parameter's `_data` was replaced since flattening (`model.to(...)`, `p.data = ...`), a group's
parameter list was edited, or the state was loaded, the group is flattened again on the next step:
values are read from the current parameters and from `self.state` (cast to the parameters' dtype),
so nothing is lost.
"""
import os
import weakref
from collections import OrderedDict, defaultdict
from copy import deepcopy

import numpy as np

from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _use_numba():
    if os.environ.get("DISTTENSOR_NO_NUMBA", "") not in ("", "0"):
        return None
    from . import _kernels
    return _kernels.kernels()


def _to_float(v):
    if isinstance(v, Tensor):
        return float(v.item())
    return v


def _as_array(v):
    """A state value from a state dict as a host/device array (accepts foreign tensors, e.g. torch's)."""
    if isinstance(v, Tensor):
        return v._data
    if hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numpy"):  # a torch.Tensor
        v = v.detach().cpu()
        if str(v.dtype) == "torch.bfloat16":
            import ml_dtypes
            return v.float().numpy().astype(ml_dtypes.bfloat16)
        return v.numpy()
    return np.asarray(v)


# Flat parameter buffers made by any optimizer here (id -> array, weakly held): a parameter that is a view
# of one of them may be flattened again; a view of any other array (a wrapper's sharded flat parameter)
# keeps its storage, so the wrapper's aliasing survives.
_OWNED = weakref.WeakValueDictionary()


def _foreign_view(d):
    base = d.base
    return base is not None and _OWNED.get(id(base)) is not base


class _Bucket:
    __slots__ = ("params", "views", "offsets", "flat_p", "flat_g", "bufs", "scalars", "keys", "xp",
                 "use_kernel")


class Optimizer:
    """Base class: param_groups, state, zero_grad, state_dict/load_state_dict, step(closure)."""

    # per subclass: names of per-parameter scalar state (after 'step') with their initial values
    _extra_scalars = ()
    _step_in_state = True  # SGD keeps no 'step' in its state
    _flatten_params = True  # False: leave each parameter's storage alone (updates then run per parameter)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._buckets = {}
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {params.type()}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for g in param_groups:
            self.add_param_group(g)

    # ---- groups ----------------------------------------------------------------------------
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        plist = param_group["params"]
        if plist and isinstance(plist[0], tuple):
            param_group["param_names"] = [n for n, _ in plist]
            plist = param_group["params"] = [p for _, p in plist]
        for p in plist:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = set()
        for g in self.param_groups:
            seen.update(id(p) for p in g["params"])
        if len({id(p) for p in plist}) != len(plist):
            import warnings
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", stacklevel=3)
        if any(id(p) in seen for p in plist):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)
        self._buckets.pop(len(self.param_groups) - 1, None)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # group options that older pickles may lack, filled in on unpickling (as PyTorch's optimizers do)
    _setstate_defaults = {}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for group in self.param_groups:
            for k, v in self._setstate_defaults.items():
                group.setdefault(k, v)
        self._buckets = {}
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"

    # ---- grads -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        if g.grad_fn is not None:
                            g.detach_()
                        else:
                            g.requires_grad = False
                        g._data.fill(0)

    # ---- hooks -----------------------------------------------------------------------------
    def register_step_pre_hook(self, hook):
        from ..tensor import _RemovableHandle
        return _RemovableHandle(self._step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        from ..tensor import _RemovableHandle
        return _RemovableHandle(self._step_post_hooks, hook)

    # ---- state dict ------------------------------------------------------------------------
    def state_dict(self):
        mapping = {}
        groups = []
        idx = 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                if id(p) not in mapping:
                    mapping[id(p)] = idx
                    idx += 1
                ids.append(mapping[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state.get(p)
                if st:
                    state[mapping[id(p)]] = dict(st)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        saved_groups = state_dict["param_groups"]
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(groups, saved_groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for old_id, p in zip(sg["params"], g["params"]):
                id_map[old_id] = p
        new_state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k
            if key not in id_map:
                continue
            p = id_map[key]
            st = {}
            for name, val in v.items():
                st[name] = self._cast_state(p, name, val)
            new_state[p] = st
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            ng = {k: deepcopy(v) for k, v in sg.items() if k != "params"}
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
        self.state = new_state
        self.param_groups = new_groups
        self._buckets = {}

    @staticmethod
    def _cast_state(p, name, val):
        if val is None or isinstance(val, (int, float, bool)):
            return val
        arr = _as_array(val)
        if name == "step" or name == "mu_product":
            return _new_tensor(np.array(np.asarray(arr, dtype=np.float32).reshape(())))
        xp = xp_of(p._data)
        if arr.dtype.kind == "f" or arr.dtype.name == "bfloat16":
            arr = arr.astype(p._data.dtype)
        if xp is not np:
            arr = xp.asarray(arr)
        elif arr.__class__ is not np.ndarray:
            arr = arr.get()
        return _new_tensor(arr.copy())

    # ---- subclass interface ------------------------------------------------------------------
    def _buffers(self, group):
        """Names of this group's per-element state buffers, in kernel order."""
        return ()

    def _buffer_init(self, group, name):
        return 0.0

    def _update(self, group, p, g, bufs, step, scalars):
        """Array-module update of one run, in place (the NumPy/CuPy fallback). p, g: flat 1-D slices (g is
        scratch); bufs: name -> flat slice; step: the new step count (float); scalars: dict of extra scalar
        state (current values). Returns a dict of new extra-scalar values (or None)."""
        raise NotImplementedError

    def _kernel(self, group, step, scalars, dtype):
        """The fused kernel for one run: (kernel name, buffer names in kernel order (None: unused), scalar
        arguments, new extra-scalar values or None). Computed once per run, used for each of its segments."""
        raise NotImplementedError

    # ---- the step ------------------------------------------------------------------------------
    def step(self, closure=None):
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        for hook in list(self._step_pre_hooks.values()):
            hook(self, (), {})
        self._step_flat()
        for hook in list(self._step_post_hooks.values()):
            hook(self, (), {})
        return loss

    def _step_flat(self):
        kern = _use_numba()
        for gi, group in enumerate(self.param_groups):
            buckets = self._buckets.get(gi)
            keys = self._buffers(group)
            if buckets is None or not self._valid(buckets, group, keys):
                buckets = self._buckets[gi] = self._build(group, keys)
            for b in buckets[1:]:
                self._step_bucket(group, b, kern)

    @staticmethod
    def _valid(buckets, group, keys):
        """buckets[0] is the group's parameter list when it was flattened: any change (a parameter added,
        removed or swapped, a new `_data`, other state buffers) makes the group flatten again."""
        params = group["params"]
        snap = buckets[0]
        if len(snap) != len(params):
            return False
        for a, c in zip(snap, params):
            if a is not c:
                return False
        for b in buckets[1:]:
            if b.keys != keys:
                return False
            for p, v in zip(b.params, b.views):
                if p._data is not v:
                    return False
        return True

    def _build(self, group, keys):
        by_kind = {}
        order = []
        seen = set()
        for p in group["params"]:
            if id(p) in seen:
                continue
            seen.add(id(p))
            d = p._data
            k = (d.__class__, d.dtype, getattr(getattr(d, "device", None), "id", None))
            if k not in by_kind:
                by_kind[k] = []
                order.append(k)
            by_kind[k].append(p)
        n_sc = 1 + len(self._extra_scalars)
        buckets = [list(group["params"])]
        for k in order:
            params = by_kind[k]
            d0 = params[0]._data
            xp = xp_of(d0)
            dt = d0.dtype
            sizes = [int(p._data.size) for p in params]
            offsets = np.zeros(len(params) + 1, dtype=np.int64)
            np.cumsum(sizes, out=offsets[1:])
            total = int(offsets[-1])
            b = _Bucket()
            b.params, b.offsets, b.keys, b.xp = params, offsets, keys, xp
            b.use_kernel = xp is np and dt in (np.float32, np.float64)
            # Parameters move into one flat buffer (their _data become views of it), unless the bucket is
            # one contiguous parameter (used in place) or `_flatten_params` was set False by a wrapper that
            # owns the parameters' storage (e.g. a sharded flat parameter): then updates run per parameter.
            single = len(params) == 1 and d0.flags.c_contiguous
            flatten = self._flatten_params and not single and \
                not any(p._data.__class__ is np.ndarray and _foreign_view(p._data) for p in params)
            if single:
                flat_p = d0.reshape(-1)
            elif xp is np:
                flat_p = np.empty(total, dtype=dt)
            else:
                with xp.cuda.Device(d0.device.id):
                    flat_p = xp.empty(total, dtype=dt)
            b.flat_p = flat_p if (flatten or single) else None
            if flatten and xp is np:
                _OWNED[id(flat_p)] = flat_p
            b.flat_g = xp.empty_like(flat_p)
            b.bufs = {name: xp.empty_like(flat_p) for name in keys}
            if not (flatten or single):
                flat_p = None
            b.scalars = np.zeros((n_sc, len(params)), dtype=np.float32)
            views = []
            for i, p in enumerate(params):
                s, e = offsets[i], offsets[i + 1]
                if flatten:
                    v = flat_p[s:e]
                    v[...] = p._data.reshape(-1)
                    v = v.reshape(p._data.shape)
                    p._data = v
                views.append(p._data)
                st = self.state.get(p)
                initialised = bool(st)
                for name in keys:
                    seg = b.bufs[name][s:e]
                    src = st.get(name) if st else None
                    if isinstance(src, Tensor):
                        seg[...] = src._data.reshape(-1)
                        src._data = seg.reshape(p._data.shape)
                    else:
                        seg.fill(self._buffer_init(group, name))
                        if st is not None and initialised:
                            st[name] = _new_tensor(seg.reshape(p._data.shape))
                if initialised:
                    stp = st.get("step")
                    b.scalars[0, i] = _to_float(stp) if stp is not None else 1.0
                    for j, (name, init) in enumerate(self._extra_scalars, 1):
                        val = st.get(name)
                        b.scalars[j, i] = _to_float(val) if val is not None else init
                    self._expose_scalars(st, b, i)
                else:
                    for j, (name, init) in enumerate(self._extra_scalars, 1):
                        b.scalars[j, i] = init
            b.views = views
            buckets.append(b)
        return buckets

    def _expose_scalars(self, st, b, i):
        if self._step_in_state:
            old = st.get("step")
            view = b.scalars[0, i:i + 1].reshape(())
            if isinstance(old, Tensor):
                old._data = view
            else:
                st["step"] = _new_tensor(view)
        for j, (name, _) in enumerate(self._extra_scalars, 1):
            old = st.get(name)
            view = b.scalars[j, i:i + 1].reshape(())
            if isinstance(old, Tensor):
                old._data = view
            else:
                st[name] = _new_tensor(view)

    def _step_bucket(self, group, b, kern):
        params = b.params
        grads = [p.grad for p in params]
        n = len(params)
        sc = b.scalars
        if not any(g is None for g in grads) and (n == 1 or (sc.min(axis=1) == sc.max(axis=1)).all()):
            runs = ((0, n),)
        else:
            runs = self._runs(grads, sc)
            if not runs:
                return
        kern = kern if b.use_kernel else None
        off = b.offsets
        for i0, i1 in runs:
            old_step = float(sc[0, i0])
            step = old_step + 1.0
            extra = {name: float(sc[j, i0]) for j, (name, _) in enumerate(self._extra_scalars, 1)}
            if kern is not None:
                name, bnames, args, new_extra = self._kernel(group, step, extra, b.flat_g.dtype)
                bufs = [b.bufs[k] if k is not None else None for k in bnames]
                empty = b.flat_g[:0]
                if b.flat_p is None:  # parameters left in place: one call per parameter
                    for i in range(i0, i1):
                        s1, e1 = off[i], off[i + 1]
                        g = grads[i]._data
                        if not (g.dtype == b.flat_g.dtype and g.flags.c_contiguous):
                            self._gather(b, grads, i, i + 1)
                            g = b.flat_g[s1:e1]
                        arr = params[i]._data
                        pv = arr.reshape(-1) if arr.flags.c_contiguous else arr.flatten()
                        kern.pick(name, e1 - s1)(pv, g.reshape(-1), *[x[s1:e1] if x is not None else empty
                                                                       for x in bufs], *args)
                        if not arr.flags.c_contiguous:
                            arr[...] = pv.reshape(arr.shape)
                else:
                    for j0, j1, garr in self._segments(b, grads, i0, i1):
                        s, e = off[j0], off[j1]
                        if garr is None:
                            self._gather(b, grads, j0, j1)
                            garr = b.flat_g[s:e]
                        kern.pick(name, e - s)(b.flat_p[s:e], garr, *[x[s:e] if x is not None else empty
                                                                      for x in bufs], *args)
            else:
                self._gather(b, grads, i0, i1)
                bufs = {k: v for k, v in b.bufs.items()}
                if b.flat_p is None:
                    for i in range(i0, i1):
                        s1, e1 = off[i], off[i + 1]
                        arr = params[i]._data
                        pv = arr.reshape(-1) if arr.flags.c_contiguous else arr.flatten()
                        new_extra = self._update(group, pv, b.flat_g[s1:e1], {k: v[s1:e1] for k, v in bufs.items()},
                                                 step, extra)
                        if not arr.flags.c_contiguous:
                            arr[...] = pv.reshape(arr.shape)
                else:
                    s, e = off[i0], off[i1]
                    new_extra = self._update(group, b.flat_p[s:e], b.flat_g[s:e],
                                             {k: v[s:e] for k, v in bufs.items()}, step, extra)
            sc[0, i0:i1] = step
            if new_extra:
                for j, (name, _) in enumerate(self._extra_scalars, 1):
                    if name in new_extra:
                        sc[j, i0:i1] = new_extra[name]
            state = self.state
            for i in range(i0, i1):
                p = params[i]
                p._vc[0] += 1
                if old_step == 0.0 or not state.get(p):
                    self._materialise(p, b, i)

    @staticmethod
    def _gather(b, grads, i0, i1):
        off = b.offsets
        s, e = off[i0], off[i1]
        if i1 - i0 == 1:
            b.flat_g[s:e] = grads[i0]._data.reshape(-1)
        else:
            b.xp.concatenate([g._data.reshape(-1) for g in grads[i0:i1]], out=b.flat_g[s:e])

    _DIRECT_MIN = 1 << 15

    def _segments(self, b, grads, i0, i1):
        """Split a run for the fused kernels: a large contiguous gradient of the bucket's dtype is read where it
        lies (no copy: the kernels never write gradients); runs of the others are gathered together."""
        segs = []
        start = i0
        dt = b.flat_p.dtype
        big = self._DIRECT_MIN
        for i in range(i0, i1):
            g = grads[i]._data
            if g.size >= big and g.dtype == dt and g.__class__ is np.ndarray and g.flags.c_contiguous:
                if start < i:
                    segs.append((start, i, None))
                segs.append((i, i + 1, g.reshape(-1)))
                start = i + 1
        if start < i1:
            segs.append((start, i1, None))
        return segs

    @staticmethod
    def _runs(grads, sc):
        runs = []
        start = None
        for i, g in enumerate(grads):
            if g is None:
                if start is not None:
                    runs.append((start, i))
                    start = None
                continue
            if start is not None and not (sc[:, i] == sc[:, start]).all():
                runs.append((start, i))
                start = None
            if start is None:
                start = i
        if start is not None:
            runs.append((start, len(grads)))
        return runs

    def _materialise(self, p, b, i):
        """Expose parameter i's state (views into the flat buffers) in self.state after its first step."""
        st = self.state[p]
        s, e = b.offsets[i], b.offsets[i + 1]
        shape = p._data.shape
        for name, buf in b.bufs.items():
            old = st.get(name)
            view = buf[s:e].reshape(shape)
            if isinstance(old, Tensor):
                old._data = view
            else:
                st[name] = _new_tensor(view)
        self._expose_scalars(st, b, i)


def _sc(dtype, *vals):
    """Kernel scalars in the arrays' dtype (float32 math vectorises twice as wide and sqrt/div stay cheap),
    made with one array construction instead of one NumPy scalar constructor call each."""
    return tuple(np.array(vals, dtype=dtype))


def _check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= _to_float(lr):
        raise ValueError(f"Invalid learning rate: {lr}")


def _check(cond, msg):
    if not cond:
        raise ValueError(msg)
