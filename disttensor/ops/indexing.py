"""Indexing: `__getitem__`/`__setitem__`, gather/scatter, index_*, masked_*, nonzero, take, put,
searchsorted/bucketize, unique, bincount. index_reduce shares scatter_reduce's node.

`x[idx] = v` is an in-place op with PyTorch's autograd rules: the write goes into x's own memory
(views see it), x's version counter is bumped (a backward that saved x fails loudly), and x takes
over a new grad_fn whose backward routes the gradient to the old x (zero where overwritten) and to
the value. Writing through a view of a tensor that takes part in autograd rebases the base's
history, as PyTorch does: the base gets the new node and the view becomes a view of it again
(`inplace_on_view` does the same for `view.add_(...)` and friends, called from ops/inplace.py).

Known limit: other views of the same base made before such a write keep their old grad_fn (PyTorch
regenerates them lazily); their data is current, but gradients through them skip the write.
"""
import numpy as np

from ..autograd.grad_mode import STATE as GRAD
from ..autograd.node import Node
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply1, apply
from ._registry import register
from .movement import GetItem, as_view, _dim, add_rows, ufunc_at, _Piece


# ---- index conversion ------------------------------------------------------------------------------
def _int_array(v):
    a = np.asarray(v)
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(np.int64)
    return a


def convert_index(idx, xp=np, ndim=None):
    """A PyTorch index -> (index for the array module, is_basic)."""
    if idx.__class__ is not tuple:
        idx = (idx,)
    out = []
    basic = True
    for i in idx:
        c = i.__class__
        if c is int or c is slice or i is None or i is Ellipsis:
            if c is slice and i.step is not None and _as_int(i.step) <= 0:
                if _as_int(i.step) == 0:
                    raise ValueError("slice step cannot be zero")
                raise ValueError("step must be greater than zero")
        elif isinstance(i, Tensor):
            d = i._data
            if d.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got {i.dtype}")
            if d.dtype == np.uint8:  # byte tensors index as masks in PyTorch (deprecated there, still honoured)
                d = d.astype(bool)
            if d.ndim == 0 and d.dtype.kind in "iu":
                i = int(d)
            else:
                i = d if xp is np or d.__class__ is not np.ndarray else xp.asarray(d)
                basic = False
        elif isinstance(i, (list, np.ndarray, range, tuple)) or (xp is not np and isinstance(i, xp.ndarray)):
            if isinstance(i, (list, tuple)) and any(isinstance(x, Tensor) for x in i):
                i = [x._data if isinstance(x, Tensor) else x for x in i]
            i = _int_array(i)
            if i.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got {i.dtype}")
            if xp is not np:
                i = xp.asarray(i)
            basic = False
        elif isinstance(i, (bool, np.bool_)):
            basic = False
        elif isinstance(i, np.integer):
            i = int(i)
        elif hasattr(i, "__index__") and not isinstance(i, float):
            i = i.__index__()
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(i).__name__})")
        out.append(i)
    out = tuple(out)
    if not basic and ndim is not None and any(i is Ellipsis for i in out):
        # an Ellipsis that stands for no dimension does not separate advanced indices in PyTorch
        used = 0
        for i in out:
            if hasattr(i, "dtype") and i.dtype.kind == "b":
                used += i.ndim
            elif i is not None and i is not Ellipsis and not isinstance(i, (bool, np.bool_)):
                used += 1
        if used >= ndim:
            out = tuple(i for i in out if i is not Ellipsis)
    if not basic and any(i.__class__ is int for i in out):
        return _mixed(out), False
    return out, basic


class Mixed:
    """An index mixing integers with advanced (array) indices, split as PyTorch applies it: the basic part
    (integers, slices, None, Ellipsis) first as a view, then the advanced part on that view. NumPy would
    instead count the integers as advanced indices, which moves dimensions differently."""
    __slots__ = ("first", "second")

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __repr__(self):
        return f"Mixed({self.first!r}, {self.second!r})"


def _mixed(idx):
    first, second = [], []
    for i in idx:
        if hasattr(i, "shape") or isinstance(i, (bool, np.bool_)):
            k = i.ndim if hasattr(i, "ndim") and i.dtype.kind == "b" else 1
            if isinstance(i, (bool, np.bool_)):
                first.append(None)
                second.append(np.asarray(i))
                continue
            first.extend([slice(None)] * k)
            second.append(i)
        elif i.__class__ is int:
            first.append(i)
        else:
            first.append(i)
            second.append(slice(None) if i is not Ellipsis else i)
    return Mixed(tuple(first), tuple(second))


def iget(a, idx):
    return a[idx.first][idx.second] if idx.__class__ is Mixed else a[idx]


def iset(a, idx, v):
    if idx.__class__ is Mixed:
        a[idx.first][idx.second] = v
    else:
        a[idx] = v


def _as_int(v):
    return int(v._data) if isinstance(v, Tensor) else int(v)


def _torch_index_error(e, shape):
    msg = str(e)
    if "out of bounds for axis" in msg:
        return IndexError(msg.replace("axis", "dimension"))
    if msg.startswith("too many indices"):
        return IndexError(f"too many indices for tensor of dimension {len(shape)} (got an index for more dimensions "
                          f"than the tensor of shape {tuple(shape)} has)")
    if "boolean index did not match" in msg:
        return IndexError(f"The shape of the mask does not match the shape of the indexed tensor {list(shape)}: "
                          + msg.replace("axis", "dimension"))
    return IndexError(f"{msg} (indexing a tensor of shape {tuple(shape)})")


def _check_cuda_bounds(shape, idx):
    """CuPy's gather/scatter kernels wrap an out-of-bounds index array around where NumPy raises: check the
    integer index arrays of a converted index against the dimensions they index (CUDA arrays only)."""
    if idx.__class__ is Mixed:
        shape = np.broadcast_to(np.empty((), np.int8), shape)[idx.first].shape
        idx = idx.second
    if idx.__class__ is not tuple:
        idx = (idx,)
    kinds = [getattr(getattr(i, "dtype", None), "kind", None) for i in idx]
    used = sum(i.ndim if k == "b" else 0 if (i is None or i is Ellipsis or i is True or i is False) else 1
               for i, k in zip(idx, kinds))
    dim = 0
    for i, k in zip(idx, kinds):
        if i is None or i is True or i is False:
            continue
        if i is Ellipsis:
            dim += len(shape) - used
        elif k == "b":
            dim += i.ndim
        else:
            if k is not None and k in "iu" and i.ndim and i.size and dim < len(shape):
                n = shape[dim]
                bad = (i < -n) | (i >= n)
                if bad.any():
                    raise IndexError(f"index {int(i[bad].reshape(-1)[0])} is out of bounds for dimension {dim} "
                                     f"with size {n}")
            dim += 1


class GetMixed(Node):
    __slots__ = ("shape", "idx")

    def forward(self, a, idx):
        self.shape, self.idx = a.shape, idx
        return a[idx.first][idx.second]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        ufunc_at("add", full[self.idx.first], self.idx.second, g)
        return full


def getitem(self, idx):
    d = self._data
    if idx.__class__ is int:   # fast path: x[i]
        try:
            out = apply1(GetItem, self, idx, True)
        except IndexError as e:
            raise _torch_index_error(e, d.shape) from None
        out._vc = self._vc
        out._base = self._base if self._base is not None else self
        out._gv = self._vc[0]
        return out
    idx, basic = convert_index(idx, xp_of(d), d.ndim)
    if not basic and d.__class__ is not np.ndarray:
        _check_cuda_bounds(d.shape, idx)
    try:
        out = apply1(GetMixed, self, idx) if idx.__class__ is Mixed else apply1(GetItem, self, idx, basic)
    except IndexError as e:
        raise _torch_index_error(e, d.shape) from None
    if basic:
        as_view(out, self)
    return out


Tensor.__getitem__ = getitem


# ---- __setitem__ -----------------------------------------------------------------------------------
class SetItem(Node):
    """new = old with old[idx] replaced by value; forward writes into old's memory."""
    __slots__ = ("idx",)

    def forward(self, a, v, idx, target=None):
        self.idx = idx
        iset(a if target is None else target, idx, v)
        return a

    def backward(self, g):
        ga = g.copy()
        iset(ga, self.idx, 0)
        return ga, iget(g, self.idx)


class SetFlat(Node):
    """A write through a view, seen from the base (PyTorch's CopySlices): the base's flat positions `pos` get
    the value, whose gradient has the shape `vshape` of view[idx]. With `split`, view and base differ in kind
    (.real/.imag/view_as_real of a complex base, view_as_complex of a real one): positions then count the real
    numbers of view_as_real(base), and a complex view's positions end in a (re, im) axis."""
    __slots__ = ("pos", "vshape", "split")

    def forward(self, base, v, pos, view_arr, idx, split=False):
        self.pos, self.vshape, self.split = pos.reshape(-1), pos.shape, split
        iset(view_arr, idx, v)
        return base

    def backward(self, g):
        ga = g.copy()
        gu, gau = (_units(g), _units(ga)) if self.split and g.dtype.kind == "c" else (g, ga)
        gau.reshape(-1)[self.pos] = 0
        gv = gu.reshape(-1)[self.pos].reshape(self.vshape)
        if self.split and g.dtype.kind != "c":      # a complex view of a real base: (re, im) pairs -> complex
            gv = _from_units(gv)
        return ga, gv


class ViewFromBase(Node):
    """The view (elements at flat positions `pos` of its base) after the base's history was rebased; `split`
    as in SetFlat."""
    __slots__ = ("pos", "shape", "split", "bdt")

    def forward(self, base, pos, view_arr, split=False):
        self.pos, self.shape, self.split, self.bdt = pos, base.shape, split, base.dtype
        return view_arr

    def backward(self, g):
        xp = xp_of(g)
        if not self.split:
            full = xp.zeros(self.shape, dtype=g.dtype)
            full.reshape(-1)[self.pos] = g.reshape(-1)
            return full
        full = xp.zeros(self.shape, dtype=self.bdt)
        fu = _units(full) if full.dtype.kind == "c" else full
        fu.reshape(-1)[self.pos] = (_units(g) if g.dtype.kind == "c" else g).reshape(-1)
        return full


def _units(a):
    """A complex array as its real numbers: view_as_real's (..., 2) array of real and imaginary parts, same
    memory."""
    rd = a.real.dtype
    return a.reshape(1).view(rd) if a.ndim == 0 else a[..., None].view(rd)


def _from_units(u):
    """(..., 2) real and imaginary parts -> the complex array (a copy)."""
    cdt = np.complex128 if u.dtype == np.float64 else np.complex64
    return xp_of(u).ascontiguousarray(u).view(cdt)[..., 0]


def _view_positions(view_arr, base_arr):
    """(positions of view_arr's elements in base_arr, split). split: one is complex and the other real, so
    positions count real numbers (see SetFlat)."""
    vc, bc = view_arr.dtype.kind == "c", base_arr.dtype.kind == "c"
    if vc == bc:
        return _positions_in_base(view_arr, base_arr), False
    return _positions_in_base(_units(view_arr) if vc else view_arr, _units(base_arr) if bc else base_arr), True


def _ptr(a):
    return a.ctypes.data if a.__class__ is np.ndarray else a.data.ptr


def _byte_offsets(a, xp):
    off = xp.zeros(a.shape, dtype=np.int64)
    for ax, (n, st) in enumerate(zip(a.shape, a.strides)):
        shape = [1] * a.ndim
        shape[ax] = n
        off = off + (xp.arange(n, dtype=np.int64) * st).reshape(shape)
    return off


def _positions_in_base(view_arr, base_arr):
    """Flat (C-order) positions in base_arr of every element of view_arr (which shares its memory)."""
    xp = xp_of(base_arr)
    voff = _byte_offsets(view_arr, xp) + (_ptr(view_arr) - _ptr(base_arr))
    if base_arr.flags.c_contiguous:
        return voff // base_arr.itemsize
    boff = _byte_offsets(base_arr, xp).reshape(-1)
    order = xp.argsort(boff, kind="stable")
    return order[xp.searchsorted(boff[order], voff.reshape(-1))].reshape(view_arr.shape)


def _tname(t):
    from .extra_math import _tname
    return _tname(t)


def _same_dtype(self, src, op):
    """torch refuses a source of another dtype (no silent cast) in the index/scatter writes; `op` is its wording."""
    if isinstance(src, Tensor) and src._data.dtype != self._data.dtype:
        raise RuntimeError({
            "index_copy": "index_copy_(): self and source expected to have the same dtype, but got (self) {s} and "
                          "(source) {v}",
            "index_add": "index_add_(): self ({s}) and source ({v}) must have the same scalar type",
            "scatter": "scatter(): Expected self.dtype to be equal to src.dtype",
            "index_put": "Index put requires the source and destination dtypes match, got {s} for the destination "
                         "and {v} for the source.",
            "masked_scatter": "masked_scatter: expected self and source to have same dtypes but got{s} and {v}",
            "put": "put_(): self and source expected to have the same dtype, but got self.dtype = {s} and "
                   "source.dtype = {v}",
        }[op].format(s=_tname(self), v=_tname(src)))


def _put_dtype_check(self, arrays, value):
    """An advanced-index write of a value tensor goes through torch's index_put_, which casts only when it
    becomes a masked_fill (one bool mask, a one-element value) and otherwise requires equal dtypes."""
    if value._data.dtype == self._data.dtype or not arrays:
        return
    if len(arrays) == 1 and arrays[0].dtype.kind == "b" and value._data.size == 1:
        return
    _same_dtype(self, value, "index_put")


def setitem(self, idx, value):
    d = self._data
    if d.__class__ is np.ndarray and not d.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a single "
                           "memory location. Please clone() the tensor before performing the operation.")
    xp = xp_of(d)
    idx, basic = convert_index(idx, xp, d.ndim)
    if not basic and d.__class__ is not np.ndarray:
        _check_cuda_bounds(d.shape, idx)
    vt = isinstance(value, Tensor)
    if vt:
        if value._data.__class__ is not d.__class__:
            raise RuntimeError(f"setitem: expected the value to be on {self.device} like the indexed tensor, "
                               f"but got a value on {value.device}")
        if not basic:
            _put_dtype_check(self, [i for i in (idx.second if idx.__class__ is Mixed else idx) if hasattr(i, "dtype")],
                             value)
    need = GRAD.enabled and (self.requires_grad or (vt and value.requires_grad))
    if not need:
        try:
            iset(d, idx, value._data if vt else value)
        except IndexError as e:
            raise _torch_index_error(e, d.shape) from None
        except ValueError as e:
            raise RuntimeError(f"setitem: shape mismatch: value tensor of shape "
                               f"{tuple(value.shape) if vt else ()} cannot be broadcast to indexing result: {e}") \
                from None
        self._vc[0] += 1
        return
    check_inplace_leaf(self)
    base = self._base
    try:
        if base is not None:
            _setitem_view(self, base, idx, value)
        else:
            old = _new_tensor(d)
            old.grad_fn = self.grad_fn
            old.requires_grad = self.requires_grad
            r = apply(SetItem, old, value, idx=idx)
            self.grad_fn = r.grad_fn
            self.requires_grad = True
    except IndexError as e:
        raise _torch_index_error(e, d.shape) from None
    except ValueError as e:
        raise RuntimeError(f"setitem: shape mismatch: value tensor of shape {tuple(value.shape) if vt else ()} "
                           f"cannot be broadcast to indexing result: {e}") from None
    self._vc[0] += 1
    self._gv = self._vc[0]      # (a view: its history was just derived from the base's new one)


def check_inplace_leaf(t):
    if t.requires_grad and t.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    b = t._base
    if b is not None and b.requires_grad and b.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def inplace_on_view(view, fn, args, kwargs, name):
    """`view.op_(...)` with autograd when view is a view: computes the new value out of place from a copy of
    the old one, writes it through the view and rebases the base's history, as setitem does."""
    check_inplace_leaf(view)
    if view._gv != view._vc[0]:
        regenerate_view(view)       # its old value's history must include writes since it was taken
    old = _new_tensor(view._data.copy())
    old.grad_fn = view.grad_fn
    old.requires_grad = view.requires_grad
    r = fn(old, *args, **kwargs)
    d, rd = view._data, r._data
    if rd.shape != d.shape:
        try:
            ok = np.broadcast_shapes(rd.shape, d.shape) == d.shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"{name}: output with shape {list(d.shape)} doesn't match the broadcast shape of the "
                               f"result {list(rd.shape)}")
    if rd.dtype != d.dtype and not np.can_cast(rd.dtype, d.dtype, casting="same_kind") and \
            "bfloat16" not in (rd.dtype.name, d.dtype.name):
        raise RuntimeError(f"{name}: result type {rd.dtype} can't be cast to the desired output type {d.dtype}")
    if r.requires_grad:
        _setitem_view(view, view._base, Ellipsis, r)
    else:
        d[...] = rd
    view._vc[0] += 1
    view._gv = view._vc[0]
    return view


def regenerate_view(t):
    """ops/_apply.fresh: t (a view) becomes ViewFromBase of its base's current history. Under no_grad nothing
    is recorded and t stays stale until it is next used with grad mode on."""
    base = t._base
    if not GRAD.enabled:
        return
    if t.grad_fn.__class__ is _Piece:
        raise RuntimeError("Output of unbind/split/chunk is a view and its base or another view of its base has "
                           "been modified inplace. This view is the output of a function that returns multiple "
                           "views. Such functions do not allow the output views to be modified inplace. You should "
                           "replace the inplace operation by an out-of-place one.")
    t._gv = t._vc[0]
    if not base.requires_grad:            # e.g. the base was filled with constants: no history is left
        t.grad_fn = None
        t.requires_grad = False
        return
    if t._data.size == 0:
        return
    pos, split = _view_positions(t._data, base._data)
    v = apply(ViewFromBase, base, pos=pos.reshape(-1), view_arr=t._data, split=split)
    t.grad_fn = v.grad_fn
    t.requires_grad = True


def _setitem_view(view, base, idx, value):
    va = view._data
    pos, split = _view_positions(va, base._data)
    if split and va.dtype.kind == "c":      # a complex view of a real base: select whole (re, im) pairs
        sel = xp_of(pos).stack([iget(pos[..., 0], idx), iget(pos[..., 1], idx)], -1)
    else:
        sel = iget(pos, idx)
    old = _new_tensor(base._data)
    old.grad_fn = base.grad_fn
    old.requires_grad = base.requires_grad
    r = apply(SetFlat, old, value, pos=sel, view_arr=va, idx=idx, split=split)
    base.grad_fn = r.grad_fn
    base.requires_grad = True
    v = apply(ViewFromBase, base, pos=pos.reshape(-1), view_arr=va, split=split)
    view.grad_fn = v.grad_fn
    view.requires_grad = True


Tensor.__setitem__ = setitem


# ---- gather / scatter ------------------------------------------------------------------------------
def _check_index(index, op, name="index"):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(index).__name__}")
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for {name}, but got {index.dtype}")
    return index._data


def _bounds(idx, n, dim, op):
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise RuntimeError(f"{op}(): index {bad} is out of bounds for dimension {dim} with size {n}")


def _full_index(index, axis):
    xp = xp_of(index)
    nd = index.ndim
    out = []
    for d in range(nd):
        if d == axis:
            out.append(index)
        else:
            shape = [1] * nd
            shape[d] = index.shape[d]
            out.append(xp.arange(index.shape[d]).reshape(shape))
    return tuple(out)


def _check_gather_shapes(inp, index, axis, op, src=None):
    if index.ndim != max(inp.ndim, 1) and not (index.ndim == 0 and inp.ndim == 0):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as input tensor "
                           f"(got index of shape {tuple(index.shape)} and input of shape {tuple(inp.shape)})")
    for d in range(index.ndim):
        if d != axis and inp.ndim and index.shape[d] > inp.shape[d]:
            raise RuntimeError(f"{op}(): Size does not match at dimension {d} expected index {list(index.shape)} to be "
                               f"smaller than self {list(inp.shape)} apart from dimension {axis}")
        if src is not None and index.shape[d] > src.shape[d]:
            raise RuntimeError(f"{op}(): Expected index {list(index.shape)} to be smaller than src {list(src.shape)} "
                               f"at dimension {d}")


def _pad_to(g, shape):
    if g.shape == tuple(shape):
        return g
    full = xp_of(g).zeros(shape, dtype=g.dtype)
    full[tuple(slice(0, s) for s in g.shape)] = g
    return full


class Gather(Node):
    __slots__ = ("shape", "tup")

    def forward(self, a, tup):
        self.shape, self.tup = a.shape, tup
        return a[tup]

    def backward(self, g):
        full = xp_of(g).zeros(self.shape, dtype=g.dtype)
        ufunc_at("add", full, self.tup, g)
        return full


@register("gather")
def gather(input, dim, index, *, sparse_grad=False):
    idx = _check_index(index, "gather")
    a = input._data
    ax = _dim(dim, a.ndim, "gather")
    if a.ndim == 0:
        return apply1(Gather, input, ())
    _check_gather_shapes(a, idx, ax, "gather")
    _bounds(idx, a.shape[ax], ax, "gather")
    return apply1(Gather, input, _full_index(idx, ax))


class Scatter(Node):
    """out = a with out[tup] replaced (mode 'set'), added to ('add') or multiplied ('multiply') by src."""
    __slots__ = ("tup", "mode", "sshape", "src", "scalar")

    def forward(self, a, src, tup, mode):
        self.tup, self.mode = tup, mode
        xp = xp_of(a)
        out = a.copy()
        scalar = not hasattr(src, "shape")
        self.scalar = scalar
        if not scalar:
            self.sshape = src.shape
            if tup:
                src = src[tuple(slice(0, n) for n in np.broadcast_shapes(*[t.shape for t in tup]))]
            src = src.astype(a.dtype, copy=False)
        if mode == "set":
            out[tup] = src
        elif mode == "add":
            ufunc_at("add", out, tup, src if not scalar else xp.asarray(src, dtype=a.dtype))
        elif mode == "multiply":
            self.saved = (a, src)
            ufunc_at("multiply", out, tup, src if not scalar else xp.asarray(src, dtype=a.dtype))
        return out

    def backward(self, g):
        if self.mode == "multiply":
            raise RuntimeError("scatter(): the derivative for scatter with reduce='multiply' is not implemented; "
                               "use scatter_reduce(..., reduce='prod')")
        if self.mode == "set":
            ga = g.copy()
            ga[self.tup] = 0
        else:
            ga = g
        gs = None if self.scalar else _pad_to(g[self.tup], self.sshape)
        return ga, gs


def _scatter(input, dim, index, src, mode, op):
    idx = _check_index(index, op)
    a = input._data
    ax = _dim(dim, a.ndim, op)
    s = src._data if isinstance(src, Tensor) else None
    _same_dtype(input, src, "scatter")
    if a.ndim == 0:
        a_idx = ()
        if idx.size:
            _bounds(idx, 1, 0, op)
        return apply(Scatter, input, src, tup=a_idx, mode=mode)
    _check_gather_shapes(a, idx, ax, op, s)
    _bounds(idx, a.shape[ax], ax, op)
    if s is not None and s.__class__ is not a.__class__:
        raise RuntimeError(f"{op}(): Expected all tensors to be on the same device")
    return apply(Scatter, input, src, tup=_full_index(idx, ax), mode=mode)


@register("scatter", inplace=True)
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): expected a src tensor or a value")
    if reduce is None:
        mode = "set"
    elif reduce == "add":
        mode = "add"
    elif reduce == "multiply":
        mode = "multiply"
    else:
        raise RuntimeError(f"scatter(): Expected reduce argument to be add or multiply, got {reduce}")
    return _scatter(input, dim, index, src, mode, "scatter")


@register("scatter_add", inplace=True)
def scatter_add(input, dim, index, src):
    return _scatter(input, dim, index, src, "add", "scatter_add")


class ScatterReduce(Node):
    __slots__ = ("tup", "mode", "include", "sshape", "cnt", "mask")
    save_inputs = (0, 1)
    save_output = True

    def forward(self, a, src, tup, mode, include):
        xp = xp_of(a)
        self.tup, self.mode, self.include, self.sshape = tup, mode, include, src.shape
        if tup:
            src = src[tuple(slice(0, n) for n in np.broadcast_shapes(*[t.shape for t in tup]))]
        src = src.astype(a.dtype, copy=False)
        out = a.copy()
        mask = xp.zeros(a.shape, dtype=bool)   # positions some src element scatters into
        mask[tup] = True
        self.mask = mask
        if mode in ("sum", "mean"):
            if not include:
                out[mask] = 0
            ufunc_at("add", out, tup, src)
            if mode == "mean":
                cnt = xp.zeros(a.shape, dtype=np.int64)
                ufunc_at("add", cnt, tup, 1)
                if include:
                    cnt += 1
                cnt = xp.maximum(cnt, 1)
                self.cnt = cnt
                if out.dtype.kind in "iu":
                    out = xp.floor_divide(out, cnt).astype(a.dtype)
                else:
                    out = (out / cnt).astype(a.dtype)
        elif mode == "prod":
            if not include:
                out[mask] = 1
            ufunc_at("multiply", out, tup, src)
        elif mode in ("amax", "amin"):
            if not include:   # start the positions written to at the identity of max / min
                k = a.dtype.kind
                if k in "iu":
                    fill = np.iinfo(a.dtype).min if mode == "amax" else np.iinfo(a.dtype).max
                elif k == "b":
                    fill = mode == "amin"
                else:             # float kinds, and ml_dtypes' bfloat16 (kind 'V')
                    fill = -np.inf if mode == "amax" else np.inf
                out[mask] = fill
            with np.errstate(invalid="ignore"):   # NaN propagates, as in torch, without NumPy's warning
                ufunc_at("maximum" if mode == "amax" else "minimum", out, tup, src)
        else:
            raise RuntimeError(f"scatter_reduce(): reduce argument must be either sum, prod, mean, amax or amin, got "
                               f"{mode}")
        self.saved = (a, src, out)
        return out

    def backward(self, g):
        xp = xp_of(g)
        a, src, out = self.saved
        tup, mask, include = self.tup, self.mask, self.include
        keep_self = None if include else ~mask  # where self still takes part in the result
        if self.mode == "sum":
            ga = g if include else g * keep_self
            gs = g[tup]
        elif self.mode == "mean":
            gc = g / self.cnt
            ga = gc if include else xp.where(mask, 0, g)
            gs = gc[tup]
        elif self.mode == "prod":
            # products of the nonzero factors and the count of zero factors per position
            nzp = xp.where(a == 0, 1, a) if include else xp.where(mask, 1, a)
            zc = (a == 0).astype(np.int64) if include else xp.where(mask, 0, (a == 0).astype(np.int64))
            ufunc_at("multiply", nzp, tup, xp.where(src == 0, 1, src))
            ufunc_at("add", zc, tup, (src == 0).astype(np.int64))
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = xp.where(a != 0, g * out / xp.where(a == 0, 1, a), g * xp.where(zc == 1, nzp, 0))
                if not include:
                    ga = xp.where(mask, 0, g)
                st = src
                gt, ot, nt, zt = g[tup], out[tup], nzp[tup], zc[tup]
                gs = xp.where(st != 0, gt * ot / xp.where(st == 0, 1, st), gt * xp.where(zt == 1, nt, 0))
        else:  # amax / amin: the gradient is shared evenly between the elements equal to the result
            # As torch does, self counts as a tie wherever it equals the result, also where include_self=False
            # left it out; its share is then dropped (a source tied with such a self gets half the gradient).
            cnt = xp.zeros(out.shape, dtype=g.dtype)
            self_hit = a == out
            cnt += self_hit
            src_hit = src == out[tup]
            ufunc_at("add", cnt, tup, src_hit.astype(g.dtype))
            cnt = xp.maximum(cnt, 1)
            gc = g / cnt
            ga = gc * (self_hit if include else self_hit & ~mask)
            gs = gc[tup] * src_hit
        return ga, _pad_to(gs, self.sshape)


def _no_kernel(input, kernel):
    """torch's error for a dtype its kernel lacks: NotImplementedError (a RuntimeError) naming the kernel."""
    return NotImplementedError(f'"{kernel}" not implemented for \'{_tname(input)}\'')


@register("scatter_reduce", inplace=True)
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    idx = _check_index(index, "scatter_reduce")
    _same_dtype(input, src, "scatter")
    a = input._data
    ax = _dim(dim, a.ndim, "scatter_reduce")
    _check_gather_shapes(a, idx, ax, "scatter_reduce", src._data)
    k = a.dtype.kind   # no max/min of complex numbers (NumPy would order them), no mean of bools
    if idx.size and (k == "c" and reduce in ("amax", "amin") or k == "b" and reduce == "mean"):
        raise _no_kernel(input, f"scatter_gather_tensor_cpu_reduce_{reduce}")
    _bounds(idx, a.shape[ax] if a.ndim else 1, ax, "scatter_reduce")
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(f"scatter_reduce(): reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    if a.ndim == 0 and idx.ndim == 1:   # a 0-d self with a 1-d index: a row of one element
        return apply(ScatterReduce, input.reshape(1), src, tup=(idx,), mode=reduce,
                     include=bool(include_self)).reshape(())
    return apply(ScatterReduce, input, src, tup=_full_index(idx, ax), mode=reduce, include=bool(include_self))


def _slab_index(idx, ax, shape):
    """The scatter index sending slab k (along `ax`) of a source of `shape` to slab idx[k]: index_reduce is a
    scatter_reduce with the index broadcast over the other dims."""
    xp = xp_of(idx)
    out = []
    for d, n in enumerate(shape):
        sh = [1] * len(shape)
        sh[d] = n
        out.append((idx if d == ax else xp.arange(n)).reshape(sh))
    return tuple(out)


@register("index_reduce", inplace=True)
def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    # checks in torch's order, with torch's messages (each also naming the op)
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    for name, pos, t in (("index", 2, index), ("source", 3, source)):
        if not isinstance(t, Tensor):
            raise TypeError(f"index_reduce(): argument '{name}' (position {pos}) must be Tensor, not "
                            f"{type(t).__name__}")
    a, s, idx = input._data, source._data, index._data
    ax = _dim(dim, a.ndim, "index_reduce")
    if idx.ndim > 1:
        raise IndexError(f"index_reduce_(): Index is supposed to be a vector, but got dim: {idx.ndim} with type: "
                         f"{_tname(index)} and size: {list(idx.shape)}")
    if idx.dtype not in (np.int32, np.int64):
        raise RuntimeError(f"index_reduce_(): Expected dtype int32/int64 for index but got: {_tname(index)}")
    if s.dtype != a.dtype:
        raise RuntimeError(f"index_reduce_(): self ({_tname(input)}) and source ({_tname(source)}) must have the "
                           "same scalar type")
    if ax and ax >= s.ndim:
        raise RuntimeError(f"index_reduce_(): Indexing dim {ax} is out of bounds of the source tensor with dim "
                           f"{s.ndim}")
    idx = idx.reshape(-1)
    if s.ndim == 0 and idx.size != 1:   # torch's message comes from asking a 0-d source for its size
        raise IndexError(f"index_reduce_(): Dimension specified as 0 but tensor has no dimensions (source is 0-d, "
                         f"index has {idx.size} elements)")
    if s.ndim and idx.size != s.shape[ax]:
        raise RuntimeError(f"index_reduce_(): Number of indices ({idx.size}) should be equal to source.size(dim): "
                           f"({s.shape[ax]}), for dim: {ax}")
    rest = (lambda sh: sh[:ax] + sh[ax + 1:]) if a.ndim and s.ndim else (lambda sh: sh)  # 0-d: the whole shape
    if rest(a.shape) != rest(s.shape):
        raise RuntimeError("index_reduce_(): source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(a.shape)} source.shape = {list(s.shape)}")
    if a.dtype.kind in "cb":
        raise _no_kernel(input, "index_func_")
    n = a.shape[ax] if a.ndim else 1
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"index_reduce_(): index out of range in self (index {lo if lo < 0 else hi}, "
                             f"dimension {ax} of size {n})")
    if a.ndim == 0:   # a 0-d self and source act as one slab along dim 0
        return apply(ScatterReduce, input.reshape(1), source.reshape(1), tup=(idx,), mode=reduce,
                     include=bool(include_self)).reshape(())
    return apply(ScatterReduce, input, source, tup=_slab_index(idx, ax, s.shape), mode=reduce,
                 include=bool(include_self))


# ---- index_* along one dim -------------------------------------------------------------------------
def _dim_index(index, op, n, dim, allow_negative=False):
    idx = _check_index(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, got a tensor of shape {tuple(idx.shape)}")
    idx = idx.reshape(-1)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if allow_negative and lo < 0 and lo >= -n:
            idx = idx % n
            lo = 0
        if lo < 0 or hi >= n:
            bad = hi if hi >= n else lo
            raise IndexError(f"{op}(): index {bad} is out of range for dimension {dim} with size {n}")
    return idx


class IndexSelect(Node):
    __slots__ = ("shape", "pre", "idx")

    def forward(self, a, pre, idx):
        self.shape, self.pre, self.idx = a.shape, pre, idx
        return a[pre + (idx,)]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        ax = len(self.pre)
        add_rows(xp.moveaxis(full, ax, 0), self.idx, xp.moveaxis(g, ax, 0))
        return full


@register("index_select")
def index_select(input, dim, index):
    a = input._data
    if a.ndim == 0:
        idx = _dim_index(index, "index_select", 1, dim)
        return apply1(IndexSelect, input.reshape(1), (), idx).reshape(index.shape)
    ax = _dim(dim, a.ndim, "index_select")
    idx = _dim_index(index, "index_select", a.shape[ax], ax)
    return apply1(IndexSelect, input, (slice(None),) * ax, idx)


class IndexWrite(Node):
    """out = a with a[..., idx, ...] along one dim set / added (alpha) / filled."""
    __slots__ = ("key", "mode", "alpha", "scalar", "vshape")

    def forward(self, a, v, key, mode, alpha=1):
        self.key, self.mode, self.alpha = key, mode, alpha
        self.scalar = not hasattr(v, "shape")
        self.vshape = () if self.scalar else v.shape
        out = a.copy()
        if mode == "add":
            xp = xp_of(a)
            ax = len(key) - 1
            v = v * alpha if alpha != 1 else v
            if hasattr(v, "shape") and v.ndim == a.ndim:
                add_rows(xp.moveaxis(out, ax, 0), key[-1], xp.moveaxis(v.astype(a.dtype, copy=False), ax, 0))
            else:
                ufunc_at("add", out, key, v)
        else:
            out[key] = v
        return out

    def backward(self, g):
        if self.mode == "add":
            ga = g
            gv = g[self.key]
            if self.alpha != 1:
                gv = gv * self.alpha
        else:
            ga = g.copy()
            ga[self.key] = 0
            gv = g[self.key]
        if self.scalar:
            return ga, None
        if self.mode == "fill":
            gv = g.sum() - ga.sum()  # each filled position once, even for repeated indices
        return ga, gv


def _index_write(input, dim, index, v, mode, op, alpha=1):
    a = input._data
    if mode != "fill":
        _same_dtype(input, v, op)
    if a.ndim == 0:
        idx = _dim_index(index, op, 1, dim)
        out = _index_write(input.reshape(1), 0, Tensor._wrap(idx), v.reshape(1) if isinstance(v, Tensor) and
                           mode != "fill" else v, mode, op, alpha)
        return out.reshape(())
    ax = _dim(dim, a.ndim, op)
    idx = _dim_index(index, op, a.shape[ax], ax, allow_negative=mode == "fill")
    key = (slice(None),) * ax + (idx,)
    if isinstance(v, Tensor) and mode != "fill":
        s = v._data
        want = a.shape[:ax] + (idx.size,) + a.shape[ax + 1:]
        if s.ndim == 0 and a.ndim <= 1:
            pass
        elif tuple(s.shape) != tuple(want):
            raise RuntimeError(f"{op}(): source of shape {tuple(s.shape)} does not match the expected shape "
                               f"{tuple(want)} (self {tuple(a.shape)}, index of size {idx.size} along dim {ax})")
    return apply(IndexWrite, input, v, key=key, mode=mode, alpha=alpha)


@register("index_add", inplace=True)
def index_add(input, dim, index, source, *, alpha=1):
    return _index_write(input, dim, index, source, "add", "index_add", alpha)


@register("index_copy", inplace=True)
def index_copy(input, dim, index, source):
    return _index_write(input, dim, index, source, "set", "index_copy")


@register("index_fill", inplace=True)
def index_fill(input, dim, index, value):
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value._data.ndim} dimension(s).")
    if input._data.dtype.kind != "c" and (isinstance(value, complex) or
                                          isinstance(value, Tensor) and value._data.dtype.kind == "c"):
        raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type is not supported")
    return _index_write(input, dim, index, value, "fill", "index_fill")


class IndexPut(Node):
    __slots__ = ("key", "acc", "scalar")

    def forward(self, a, v, key, acc):
        self.key, self.acc = key, acc
        self.scalar = not hasattr(v, "shape")
        out = a.copy()
        if acc:
            ufunc_at("add", out, key, v)
        else:
            out[key] = v
        return out

    def backward(self, g):
        if self.acc:
            ga = g
        else:
            ga = g.copy()
            ga[self.key] = 0
        return ga, None if self.scalar else g[self.key]


@register("index_put", inplace=True)
def index_put(input, indices, values, accumulate=False):
    for i in indices:
        if i is not None and (not isinstance(i, Tensor) or i._data.dtype.kind not in "iub"):
            raise IndexError("index_put(): tensors used as indices must be long, int, byte or bool tensors")
    key = tuple(slice(None) if i is None else i._data for i in indices)
    if isinstance(values, Tensor):
        _put_dtype_check(input, [i._data for i in indices if i is not None], values)
    if input._data.__class__ is not np.ndarray:
        _check_cuda_bounds(input._data.shape, key)
    try:
        return apply(IndexPut, input, values, key=key, acc=bool(accumulate))
    except IndexError as e:
        raise _torch_index_error(e, input._data.shape) from None


# ---- masks -----------------------------------------------------------------------------------------
def _mask(mask, op):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    m = mask._data
    if m.dtype.kind != "b":
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {mask.dtype}")
    return m


class MaskedFill(Node):
    __slots__ = ("mask", "scalar")

    def forward(self, a, v, mask):
        self.mask = mask
        self.scalar = not hasattr(v, "shape")
        return xp_of(a).where(mask, v, a).astype(a.dtype, copy=False)

    def backward(self, g):
        ga = xp_of(g).where(self.mask, 0, g)
        return ga, None if self.scalar else (g * self.mask).sum()


@register("masked_fill", inplace=True)
def masked_fill(input, mask, value):
    m = _mask(mask, "masked_fill_")
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value._data.ndim} dimension(s).")
    try:
        np.broadcast_shapes(m.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: the shape of the mask {tuple(m.shape)} must be broadcastable with the "
                           f"shape of the input {tuple(input._data.shape)}") from None
    return apply(MaskedFill, input, value, mask=m)


class MaskedSelect(Node):
    __slots__ = ("mask",)

    def forward(self, a, mask):
        xp = xp_of(a)
        shape = np.broadcast_shapes(a.shape, mask.shape)
        mask = xp.broadcast_to(mask, shape)
        self.mask = mask
        return xp.broadcast_to(a, shape)[mask]

    def backward(self, g):
        full = xp_of(g).zeros(self.mask.shape, dtype=g.dtype)
        full[self.mask] = g
        return full


@register("masked_select")
def masked_select(input, mask):
    m = _mask(mask, "masked_select")
    try:
        np.broadcast_shapes(m.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: the shape of the mask {tuple(m.shape)} must be broadcastable with the "
                           f"shape of the input {tuple(input._data.shape)}") from None
    return apply1(MaskedSelect, input, m)


class MaskedScatter(Node):
    __slots__ = ("mask", "n", "sshape")

    def forward(self, a, src, mask):
        xp = xp_of(a)
        shape = np.broadcast_shapes(a.shape, mask.shape)
        mask = xp.broadcast_to(mask, shape)
        out = xp.broadcast_to(a, shape).copy()
        n = int(mask.sum())
        if src.size < n:
            raise RuntimeError(f"masked_scatter: expected source to have at least as many elements as ones in mask "
                               f"({n}), but it has {src.size}")
        out[mask] = src.reshape(-1)[:n]
        self.mask, self.n, self.sshape = mask, n, src.shape
        return out

    def backward(self, g):
        xp = xp_of(g)
        gs = xp.zeros(int(np.prod(self.sshape)), dtype=g.dtype)
        gs[:self.n] = g[self.mask]
        return xp.where(self.mask, 0, g), gs.reshape(self.sshape)


@register("masked_scatter", inplace=True)
def masked_scatter(input, mask, source):
    m = _mask(mask, "masked_scatter_")
    _same_dtype(input, source, "masked_scatter")
    return apply(MaskedScatter, input, source, mask=m)


# ---- non-differentiable index queries ---------------------------------------------------------------
@register("nonzero")
def nonzero(input, *, as_tuple=False):
    a = input._data
    xp = xp_of(a)
    if a.ndim == 0:
        n = 1 if bool(a) else 0
        if as_tuple:
            return (Tensor._wrap(xp.zeros(n, dtype=np.int64)),)
        return Tensor._wrap(xp.zeros((n, 0), dtype=np.int64))
    nz = xp.nonzero(a)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64, copy=False)) for i in nz)
    return Tensor._wrap(xp.stack(nz, axis=1).astype(np.int64, copy=False))


@register("argwhere")
def argwhere(input):
    return nonzero(input)


class Take(Node):
    __slots__ = ("shape", "idx")

    def forward(self, a, idx):
        self.shape, self.idx = a.shape, idx
        return a.reshape(-1)[idx]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(int(np.prod(self.shape)), dtype=g.dtype)
        ufunc_at("add", full, self.idx, g)
        return full.reshape(self.shape)


def _flat_index(index, n, op):
    idx = _check_index(index, op)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -n or hi >= n:
            raise IndexError(f"out of range: tried to access index {hi if hi >= n else lo} on a tensor of {n} "
                             "elements.")
    return idx


@register("take")
def take(input, index):
    idx = _flat_index(index, input._data.size, "take")
    return apply1(Take, input, idx)


class TakeAlong(Node):
    __slots__ = ("shape", "tup")

    def forward(self, a, shape, tup):
        self.shape, self.tup = shape, tup
        return xp_of(a).broadcast_to(a, shape)[tup]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        ufunc_at("add", full, self.tup, g)
        return full


@register("take_along_dim")
def take_along_dim(input, indices, dim=None):
    if dim is None:
        from .movement import reshape
        return take(reshape(input, -1), reshape(indices, -1))
    a = input._data
    idx = _check_index(indices, "take_along_dim", "indices")
    ax = _dim(dim, a.ndim, "take_along_dim")
    if idx.ndim != a.ndim:
        raise RuntimeError(f"take_along_dim(): input and indices should have the same number of dimensions, but got "
                           f"{a.ndim} dimensions for input, and {idx.ndim} dimensions for indices")
    n = a.shape[ax]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -n or hi >= n:
            raise IndexError(f"take_along_dim(): index {hi if hi >= n else lo} is out of bounds for dimension {ax} "
                             f"with size {n}")
    xp = xp_of(a)
    ash = list(a.shape)
    ish = list(idx.shape)
    ash[ax] = ish[ax] = 1
    try:
        b = list(np.broadcast_shapes(tuple(ash), tuple(ish)))
    except ValueError:
        raise RuntimeError(f"take_along_dim(): shapes {tuple(a.shape)} and {tuple(idx.shape)} cannot be broadcast "
                           f"apart from dimension {ax}") from None
    ashape = tuple(b[:ax] + [n] + b[ax + 1:])
    ishape = tuple(b[:ax] + [idx.shape[ax]] + b[ax + 1:])
    idx = xp.broadcast_to(idx % n if idx.size and int(idx.min()) < 0 else idx, ishape)
    return apply1(TakeAlong, input, ashape, _full_index(idx, ax))


class Put(Node):
    __slots__ = ("idx", "acc", "sshape")

    def forward(self, a, src, idx, acc):
        self.idx, self.acc, self.sshape = idx, acc, src.shape
        out = a.copy()
        flat = out.reshape(-1)
        if acc:
            ufunc_at("add", flat, idx, src.reshape(-1))
        else:
            flat[idx] = src.reshape(-1)
        return out

    def backward(self, g):
        ga = g
        if not self.acc:
            ga = g.copy()
            ga.reshape(-1)[self.idx] = 0
        return ga, g.reshape(-1)[self.idx].reshape(self.sshape)


@register("put", inplace=True)
def put(input, index, source, accumulate=False):
    idx = _flat_index(index, input._data.size, "put").reshape(-1)
    _same_dtype(input, source, "put")
    if idx.size != source._data.size:
        raise RuntimeError(f"put(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source._data.size}, index.numel() = {idx.size}")
    return apply(Put, input, source, idx=idx, acc=bool(accumulate))


def _val_array(v, like):
    if isinstance(v, Tensor):
        return v._data, False
    xp = xp_of(like)
    return xp.asarray(v), True


@register("searchsorted", method=False)
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    s = sorted_sequence._data
    v, _ = _val_array(input, s)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    sd = "right" if right else "left"
    xp = xp_of(s)
    srt = None if sorter is None else sorter._data
    if s.ndim == 1:
        r = xp.searchsorted(s, v, side=sd, sorter=srt)
    else:
        if v.ndim != s.ndim or v.shape[:-1] != s.shape[:-1]:
            raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                               f"dimensions of boundaries tensor and input value tensor must match, but we got "
                               f"boundaries tensor {list(s.shape)} and input value tensor {list(v.shape)}")
        s2 = s.reshape(-1, s.shape[-1])
        v2 = v.reshape(-1, v.shape[-1])
        st2 = None if srt is None else srt.reshape(-1, srt.shape[-1])
        r = xp.stack([xp.searchsorted(s2[i], v2[i], side=sd, sorter=None if st2 is None else st2[i])
                      for i in range(s2.shape[0])]).reshape(v.shape)
    r = xp.asarray(r).astype(np.int32 if out_int32 else np.int64)
    return Tensor._wrap(r)


@register("bucketize", method=False)
def bucketize(input, boundaries, *, out_int32=False, right=False):
    b = boundaries._data
    if b.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    v, _ = _val_array(input, b)
    r = xp_of(b).searchsorted(b, v, side="right" if right else "left")
    return Tensor._wrap(xp_of(b).asarray(r).astype(np.int32 if out_int32 else np.int64))


@register("unique")
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    a = input._data
    xp = xp_of(a)
    if dim is None:
        u, inv, cnt = xp.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        ax = _dim(dim, a.ndim, "unique")
        u, inv, cnt = xp.unique(a, return_inverse=True, return_counts=True, axis=ax)
        inv = inv.reshape(-1)
    out = [Tensor._wrap(u)]
    if return_inverse:
        out.append(Tensor._wrap(inv.astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(cnt.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@register("unique_consecutive")
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    a = input._data
    xp = xp_of(a)
    if dim is None:
        flat = a.reshape(-1)
        if flat.size == 0:
            starts = xp.zeros(0, dtype=bool)
        else:
            starts = xp.concatenate([xp.ones(1, dtype=bool), flat[1:] != flat[:-1]])
        u = flat[starts]
        shape = a.shape
    else:
        ax = _dim(dim, a.ndim, "unique_consecutive")
        m = xp.moveaxis(a, ax, 0).reshape(a.shape[ax], -1)
        if m.shape[0] == 0:
            starts = xp.zeros(0, dtype=bool)
        else:
            starts = xp.concatenate([xp.ones(1, dtype=bool), (m[1:] != m[:-1]).any(axis=1)])
        u = xp.compress(starts, a, axis=ax)
        shape = (a.shape[ax],)
    out = [Tensor._wrap(u)]
    grp = xp.cumsum(starts) - 1
    if return_inverse:
        out.append(Tensor._wrap(grp.reshape(shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(xp.bincount(grp, minlength=int(starts.sum())).astype(np.int64) if grp.size else
                                xp.zeros(0, dtype=np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@register("bincount")
def bincount(input, weights=None, minlength=0):
    a = input._data
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got a tensor of shape "
                           f"{tuple(a.shape)} and dtype {input.dtype}")
    if a.size and int(a.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    xp = xp_of(a)
    if weights is None:
        return Tensor._wrap(xp.bincount(a, minlength=minlength).astype(np.int64))
    w = weights._data
    if w.shape != a.shape:
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input, got {tuple(w.shape)} "
                           f"and {tuple(a.shape)}")
    dt = np.float32 if w.dtype == np.float32 else np.float64
    return Tensor._wrap(xp.bincount(a, weights=w, minlength=minlength).astype(dt))


@register("isin", method=False)
def isin(elements, test_elements, *, assume_unique=False, invert=False):
    e = elements._data if isinstance(elements, Tensor) else None
    t = test_elements._data if isinstance(test_elements, Tensor) else None
    like = e if e is not None else t
    xp = xp_of(like)
    if e is None:
        e = xp.asarray(elements)
    if t is None:
        t = xp.asarray(test_elements)
    return Tensor._wrap(xp.isin(e, t, assume_unique=assume_unique, invert=invert))
