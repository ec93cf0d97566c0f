"""Shape and movement ops: views where PyTorch gives views (reshape/view/transpose/permute/slicing).

Views share memory and the version counter with their base, so in-place edits are seen (and
checked) through every alias. The pieces of one split/chunk/unbind share one gradient buffer
(`_pieces`), so their backward is linear in the input's size, not in pieces x size.
"""
import numpy as np

from ..autograd.node import Node
from ..autograd.grad_mode import STATE as GRAD
from ..autograd import anomaly_mode
from ..tensor import Tensor, _new_tensor
from .._backends.device import xp_of
from ._apply import apply1, apply
from ._registry import register, method


def as_view(out, src):
    """Mark `out` as a view of `src`: shared version counter and base."""
    out._vc = src._vc
    out._base = src._base if src._base is not None else src
    out._gv = src._vc[0]
    return out


def write_out(r, out, name):
    """The `out=` argument: PyTorch's rules (no autograd through it; resized when its shape differs)."""
    if r.__class__ is not tuple and not isinstance(r, tuple):
        rs, outs = (r,), (out,)
    else:
        rs, outs = r, tuple(out)
        if len(outs) != len(rs):
            raise RuntimeError(f"{name}(): expected out to be a tuple of {len(rs)} tensors, got {len(outs)}")
    from .inplace import write_into
    for ri, oi in zip(rs, outs):
        if ri.requires_grad and GRAD.enabled:
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                               "differentiation, but one of the arguments requires grad.")
        if oi._data.shape != ri._data.shape:
            oi._data = xp_of(ri._data).empty_like(ri._data, dtype=oi._data.dtype)
        write_into(oi, ri._data, f"{name}(out=)")
        oi._vc[0] += 1
    return out if r.__class__ is not tuple and not isinstance(r, tuple) else \
        (type(r)(*outs) if hasattr(r, "_fields") else outs)


def with_out(fn):
    """Decorator: give fn PyTorch's `out=` keyword through write_out."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        r = fn(*args, **kwargs)
        return r if out is None else write_out(r, out, fn.__name__)
    return wrapper


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _infer(shape, numel, op):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    if neg:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Node):
    __slots__ = ("shape",)

    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


@method("view")
def view(self, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None:
        from .elementwise import _cast  # view(dtype)
        from .._dtype import to_dtype
        dt = to_dtype(shape[0])
        if dt.itemsize != self._data.itemsize:
            raise RuntimeError("view(dtype): only same-size dtypes are supported")
        from ..tensor import _new_tensor
        return as_view(_new_tensor(self._data.view(dt.np)), self)
    shape = _infer(_shape_arg(shape), self._data.size, "view")
    d = self._data
    if not d.flags.c_contiguous and d.size > 1:
        try:
            if d.__class__ is np.ndarray:
                d.reshape(shape, copy=False)
            elif d.reshape(shape).data.mem is not d.data.mem:  # CuPy's reshape has no copy=; it copies if it must
                raise ValueError
        except (ValueError, TypeError):
            raise RuntimeError(f"view size is not compatible with input tensor's size and stride (shape "
                               f"{tuple(d.shape)} to {shape}): at least one dimension spans across two contiguous "
                               "subspaces. Use .reshape(...) instead.") from None
    return as_view(apply1(Reshape, self, shape), self)


@register("reshape")
def reshape(input, *shape):
    shape = _infer(_shape_arg(shape), input._data.size, "reshape")
    out = apply1(Reshape, input, shape)
    r, d = out._data, input._data
    if (np.may_share_memory(r, d) if d.__class__ is np.ndarray else r.data.mem is d.data.mem) and d.size:
        as_view(out, input)  # reshape returned a view (no copy was needed)
    return out


class Transpose(Node):
    __slots__ = ("perm",)

    def forward(self, a, perm):
        self.perm = perm
        return a.transpose(perm)

    def backward(self, g):
        return g.transpose(np.argsort(self.perm))


@register("permute")
def permute(input, *dims):
    dims = _shape_arg(dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the length "
                           f"of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
                           f"len(dims) = {len(dims)}")
    perm = tuple(d % nd for d in dims)
    return as_view(apply1(Transpose, input, perm), input)


@register("transpose", "swapaxes", "swapdims")
def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return input
    perm = list(range(nd))
    d0, d1 = dim0 % nd, dim1 % nd
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return as_view(apply1(Transpose, input, tuple(perm)), input)


@register("t")
def t(input):
    if input._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D")
    return transpose(input, 0, 1) if input._data.ndim == 2 else input


def _T(self):
    return permute(self, *reversed(range(self._data.ndim)))


def _matrix_check(self, what, batches=True):
    """torch's rules for mT/mH/H/adjoint: 1-D (or >2-D for H) raises, 0-D warns and is left as is."""
    n = self._data.ndim
    if n == 0:
        import warnings
        warnings.warn(f"{what} is deprecated on 0-D tensors. " + ("This function is the identity in these cases."
                      if what == "Tensor.mT" else "Consider using x.conj()."))
        return False
    name = "tensor." + what.split(".")[-1]
    if n == 1 or (n > 2 and not batches):
        if not batches:
            raise RuntimeError(f"{name} is only supported on matrices (2-D tensors). Got {n}-D tensor."
                               + (" For batches of matrices, consider using tensor.mH" if n > 2 else ""))
        raise RuntimeError(f"{name} is only supported on matrices or batches of matrices. Got {n}-D tensor.")
    return True


def _mT(self):
    return transpose(self, -2, -1) if _matrix_check(self, "Tensor.mT") else self


def _adjoint(self, what):
    # conj is the identity on real tensors, so a real adjoint stays a view like torch's
    from .elementwise import conj
    return conj(transpose(self, -2, -1) if _matrix_check(self, what, what != "Tensor.H") else self)


@register("adjoint")
def adjoint(input):
    """Conjugate transpose of the last two dimensions (torch.adjoint / Tensor.adjoint / Tensor.mH)."""
    return _adjoint(input, "adjoint()")


Tensor.T = property(_T)
Tensor.mT = property(_mT)
Tensor.mH = property(lambda self: _adjoint(self, "Tensor.mH"))
Tensor.H = property(lambda self: _adjoint(self, "Tensor.H"))


# ---- indexing ----------------------------------------------------------------------------------
# Index conversion, x[...] and x[...] = v live in ops/indexing.py; GetItem (used by every view-producing
# slice here) stays in this file.


class GetItem(Node):
    __slots__ = ("shape", "idx", "basic", "dtype")

    def forward(self, a, idx, basic):
        self.shape, self.idx, self.basic, self.dtype = a.shape, idx, basic, a.dtype
        return a[idx]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        idx = self.idx
        if self.basic:
            full[idx] = g
        elif len(idx) == 1 and idx[0].dtype.kind in "iu":   # x[int_tensor]: rows, repeated ones summed
            i = idx[0]
            n = self.shape[0]
            add_rows(full, xp.where(i < 0, i + n, i) if i.dtype.kind == "i" else i, g)
        else:
            ufunc_at("add", full, idx, g)
        return full


def ufunc_at(name, a, idx, v):
    """Unbuffered in-place `a[idx] (op)= v` with repeated indices applied each time (numpy's ufunc.at);
    on CuPy through cupyx's scatter kernels."""
    if a.__class__ is np.ndarray:
        getattr(np, name).at(a, idx, v)
        return
    import cupyx
    f = {"add": cupyx.scatter_add, "maximum": cupyx.scatter_max, "minimum": cupyx.scatter_min}.get(name)
    if f is not None:
        f(a, idx, v)
    else:
        _at_in_rounds(xp_of(a), name, a, idx, v)


def _at_in_rounds(xp, name, a, idx, v):
    """ufunc.at for a ufunc CuPy has no scatter kernel for (multiply): the targets, sorted, are applied in
    rounds, each round writing every target at most once (as many rounds as the most repeated target)."""
    lin = xp.arange(a.size).reshape(a.shape)[idx]
    if lin.size == 0:
        return
    v = xp.broadcast_to(v if hasattr(v, "shape") else xp.asarray(v), lin.shape).reshape(-1)
    lin = lin.reshape(-1)
    order = xp.argsort(lin)
    s, vs = lin[order], v[order]
    rank = xp.arange(s.size) - xp.searchsorted(s, s)
    f = getattr(xp, name)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        t = xp.unravel_index(s[sel], a.shape)
        a[t] = f(a[t], vs[sel])


def add_rows(full, idx, g):
    """full[idx] += g along the first axis with repeated indices summed: a fast np.add.at for rows.

    idx: non-negative integers of any shape; g: idx.shape + full.shape[1:]."""
    xp = xp_of(full)
    flat = idx.reshape(-1)
    if flat.size == 0:
        return
    g = g.reshape((flat.size,) + full.shape[1:])
    if xp is not np:
        ufunc_at("add", full, flat, g)
        return
    if flat.size > 1 and int(xp.bincount(flat, minlength=full.shape[0]).max()) > 1:
        order = xp.argsort(flat, kind="stable")
        srt = flat[order]
        first = xp.ones(srt.size, dtype=bool)
        first[1:] = srt[1:] != srt[:-1]
        starts = xp.flatnonzero(first)
        full[srt[starts]] += xp.add.reduceat(g[order], starts, axis=0)
        return
    full[flat] += g


def getitem(self, idx):
    """x[idx] (the implementation is in ops/indexing.py)."""
    from .indexing import getitem as _getitem
    return _getitem(self, idx)


class Contiguous(Node):
    __slots__ = ()

    def forward(self, a):
        return xp_of(a).ascontiguousarray(a)

    def backward(self, g):
        return g


@method("contiguous")
def contiguous(self, memory_format=None):
    if self._data.flags.c_contiguous:
        return self
    return apply1(Contiguous, self)


class Clone(Node):
    __slots__ = ()

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


@register("clone")
def clone(input, *, memory_format=None):
    return apply1(Clone, input)


class Expand(Node):
    __slots__ = ("shape",)

    def forward(self, a, shape):
        self.shape = a.shape
        return xp_of(a).broadcast_to(a, shape)

    def backward(self, g):
        return g  # the engine sums broadcast gradients back to the input's shape


@method("expand")
def expand(self, *sizes):
    sizes = _shape_arg(sizes)
    nd = self._data.ndim
    lead = len(sizes) - nd
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({nd})")
    for i in range(lead):
        if sizes[i] < 0:
            raise RuntimeError(f"expand: the expanded size of the tensor ({sizes[i]}) isn't allowed in a leading, "
                               f"non-existing dimension {i}")
    shape = tuple(self._data.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    try:
        out = apply1(Expand, self, shape)
    except ValueError:
        raise RuntimeError(f"expand: the expanded size of the tensor ({list(sizes)}) must match the existing size "
                           f"({list(self._data.shape)}) at non-singleton dimensions") from None
    return as_view(out, self)


@method("expand_as")
def expand_as(self, other):
    return expand(self, *other._data.shape)


@register("unsqueeze")
def unsqueeze(input, dim):
    nd = input._data.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    shape = list(input._data.shape)
    shape.insert(dim % nd, 1)
    return as_view(apply1(Reshape, input, tuple(shape)), input)


@register("squeeze")
def squeeze(input, dim=None):
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_dim(d, len(shape), "squeeze") for d in dims}
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return as_view(apply1(Reshape, input, new), input)


@register("flatten")
def flatten(input, start_dim=0, end_dim=-1):
    shape = input._data.shape
    nd = len(shape)
    if nd == 0:
        return reshape(input, 1)
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for x in shape[s:e + 1]:
        n *= x
    return reshape(input, shape[:s] + (n,) + shape[e + 1:])


class Cat(Node):
    __slots__ = ("sizes", "axis", "skip")

    def forward(self, *arrays, axis, skip=None):
        # skip: positions of legacy empty 1-D tensors (shape (0,)), which PyTorch lets cat ignore
        self.axis, self.skip = axis, skip
        if skip:
            arrays = [a for i, a in enumerate(arrays) if i not in skip]
        self.sizes = [a.shape[axis] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, g):
        pre = (slice(None),) * self.axis
        parts, start = [], 0
        for n in self.sizes:
            parts.append(g[pre + (slice(start, start + n),)])
            start += n
        if not self.skip:
            return tuple(parts)
        it = iter(parts)
        return tuple(xp_of(g).zeros((0,), dtype=g.dtype) if i in self.skip else next(it)
                     for i in range(len(self.sizes) + len(self.skip)))


@register("cat", "concat", "concatenate", method=False)
def cat(tensors, dim=0, *, out=None):
    if out is not None:
        return write_out(cat(tensors, dim), out, "cat")
    if tensors.__class__ is not list and tensors.__class__ is not tuple:
        tensors = list(tensors)
    try:
        d0 = tensors[0]._data
        c0, dt0, nd = d0.__class__, d0.dtype, d0.ndim
        simple = nd > 0 and (nd != 1 or d0.shape[0] != 0)
        for t in tensors:
            d = t._data
            if d.__class__ is not c0 or d.dtype is not dt0 or d.ndim != nd or (nd == 1 and d.shape[0] == 0):
                simple = False
                break
    except (AttributeError, IndexError):
        simple = False
    if simple:  # one dtype, one device, same rank: NumPy checks the sizes; explain only if it complains
        ax = dim if 0 <= dim < nd else _dim(dim, nd, "cat()")
        try:
            return apply(Cat, *tensors, axis=ax)
        except ValueError:
            pass
    return _cat_checked(list(tensors), dim)


def _cat_checked(tensors, dim):
    """cat with every check and PyTorch's rules (dtype promotion, legacy empty 1-D tensors skipped)."""
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    if len(tensors) > 1:
        _same_device(tensors, "cat()")
    all_tensors = tensors
    skip = {i for i, t in enumerate(tensors) if t._data.ndim == 1 and t._data.shape[0] == 0}
    if len(skip) == len(tensors):
        skip = set(range(1, len(tensors)))
    tensors = [t for i, t in enumerate(tensors) if i not in skip]
    nd = tensors[0]._data.ndim
    ax = _dim(dim, nd, "cat()")
    ref = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        d = t._data
        if d.ndim != nd:
            raise RuntimeError(f"cat(): Tensors must have same number of dimensions: got {nd} and {d.ndim} "
                               f"(shapes {tuple(ref.shape)} and {tuple(t.shape)})")
        for k in range(nd):
            if k != ax and d.shape[k] != ref._data.shape[k]:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {ax}. Expected size "
                                   f"{ref._data.shape[k]} but got size {d.shape[k]} for tensor number {i} in the "
                                   f"list (shapes {tuple(ref.shape)} and {tuple(t.shape)}).")
    dts = {t._data.dtype for t in tensors}
    if len(dts) > 1:
        from .. import _dtype
        want = tensors[0].dtype
        for t in tensors[1:]:
            want = _dtype.promote_types(want, t.dtype)
        tensors = [t.to(want) for t in tensors]
        all_tensors = [t.to(want) for t in all_tensors]
    if skip:
        return apply(Cat, *all_tensors, axis=ax, skip=skip)
    return apply(Cat, *tensors, axis=ax)


@register("stack", method=False)
def stack(tensors, dim=0, *, out=None):
    if out is not None:
        return write_out(stack(tensors, dim), out, "stack")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0]._data.shape
    _dim(dim, len(s0) + 1, "stack")
    if len(tensors) > 1:
        _same_device(tensors, "stack")
    for i, t in enumerate(tensors):
        if t._data.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at entry 0 and "
                               f"{list(t._data.shape)} at entry {i}")
    dts = {t._data.dtype for t in tensors}
    if len(dts) > 1:
        from .. import _dtype
        want = tensors[0].dtype
        for t in tensors[1:]:
            want = _dtype.promote_types(want, t.dtype)
        tensors = [t.to(want) for t in tensors]
    return apply(Stack, *tensors, axis=dim % (len(s0) + 1))


class Stack(Node):
    __slots__ = ("axis", "n")

    def forward(self, *arrays, axis):
        self.axis, self.n = axis, len(arrays)
        return xp_of(arrays[0]).stack(arrays, axis=axis)

    def backward(self, g):
        pre = (slice(None),) * self.axis
        return tuple(g[pre + (i,)] for i in range(self.n))


# ---- more shape ops ------------------------------------------------------------------------------
def _dim(d, nd, op):
    """Wrap a possibly negative dim, with PyTorch's out-of-range IndexError."""
    n = max(nd, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


def _same_device(tensors, op):
    c0 = tensors[0]._data.__class__
    for t in tensors[1:]:
        if t._data.__class__ is not c0 or (c0 is not np.ndarray and t.device != tensors[0].device):
            raise RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at least two devices, "
                               f"{tensors[0].device} and {t.device}!")


@method("view_as")
def view_as(self, other):
    return view(self, *other._data.shape)


@method("reshape_as")
def reshape_as(self, other):
    return reshape(self, *other._data.shape)


@register("unflatten")
def unflatten(input, dim, sizes):
    shape = input._data.shape
    d = _dim(dim, len(shape), "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    try:
        sizes = _infer(sizes, shape[d], "unflatten")
    except RuntimeError:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({shape[d]}) in the input tensor") from None
    return view(input, shape[:d] + sizes + shape[d + 1:]) if input._data.flags.c_contiguous else \
        reshape(input, shape[:d] + sizes + shape[d + 1:])


@register("broadcast_to")
def broadcast_to(input, size):
    return expand(input, *size)


@register("broadcast_tensors", method=False)
def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    try:
        shape = np.broadcast_shapes(*[t._data.shape for t in tensors])
    except ValueError:
        raise RuntimeError("broadcast_tensors: shapes " + ", ".join(str(tuple(t.shape)) for t in tensors) +
                           " cannot be broadcast together") from None
    return tuple(t if t._data.shape == shape else expand(t, *shape) for t in tensors)


class Repeat(Node):
    __slots__ = ("shape", "reps")

    def forward(self, a, reps):
        lead = len(reps) - a.ndim
        a2 = a.reshape((1,) * lead + a.shape)
        self.shape, self.reps = a.shape, reps
        return xp_of(a).tile(a2, reps)

    def backward(self, g):
        src = (1,) * (len(self.reps) - len(self.shape)) + self.shape
        inter = []
        for r, s in zip(self.reps, src):
            inter += [r, s]
        g = g.reshape(inter).sum(axis=tuple(range(0, 2 * len(src), 2)))
        return g.reshape(self.shape)


@method("repeat")
def repeat(self, *sizes):
    sizes = _shape_arg(sizes)
    if len(sizes) < self._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    return apply1(Repeat, self, sizes)


@register("tile")
def tile(input, dims):
    dims = _shape_arg((dims,)) if isinstance(dims, (tuple, list)) else (int(dims),)
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return apply1(Repeat, input, dims)


class RepeatInterleave(Node):
    __slots__ = ("shape", "axis", "reps", "flat")

    def forward(self, a, reps, axis, flat):
        self.shape, self.axis, self.reps, self.flat = a.shape, axis, reps, flat
        if flat:
            a = a.reshape(-1)
        return xp_of(a).repeat(a, reps, axis=axis)

    def backward(self, g):
        xp = xp_of(g)
        shape = (-1,) if self.flat else self.shape
        n = int(np.prod(self.shape)) if self.flat else self.shape[self.axis]
        ax = self.axis
        if isinstance(self.reps, int):
            gs = g.shape
            g = g.reshape(gs[:ax] + (n, self.reps) + gs[ax + 1:]).sum(axis=ax + 1)
            return g.reshape(self.shape)
        full_shape = (n,) if self.flat else self.shape
        full = xp.zeros(full_shape, dtype=g.dtype)
        idx = xp.repeat(xp.arange(n), self.reps)
        ufunc_at("add", full, (slice(None),) * ax + (idx,), g)
        return full.reshape(self.shape) if shape == (-1,) else full


@register("repeat_interleave")
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if repeats is None:  # repeat_interleave(repeats): indices repeated
        r = input._data
        xp = xp_of(r)
        return Tensor._wrap(xp.repeat(xp.arange(r.shape[0], dtype=np.int64), r))
    if isinstance(repeats, Tensor):
        r = repeats._data
        if r.ndim == 0 or r.size == 1:
            repeats = int(r.reshape(-1)[0])
        else:
            repeats = r
    d = input._data
    if dim is None:
        flat, axis = True, 0
        n = d.size
    else:
        flat, axis = False, _dim(dim, d.ndim, "repeat_interleave")
        n = d.shape[axis] if d.ndim else 1
        if d.ndim == 0:
            flat = True
    if not isinstance(repeats, int) and repeats.shape[0] != n:
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {repeats.shape[0]} and input.size({dim if dim is not None else 0}) = "
                           f"{n}")
    return apply1(RepeatInterleave, input, repeats, axis, flat)


def _narrow_index(nd, axis, start, stop, step=1):
    return (slice(None),) * axis + (slice(start, stop, step),)


def _basic_view(input, idx):
    return as_view(apply1(GetItem, input, idx, True), input)


class _Collect(Node):
    """The shared parent of the pieces of one split/unbind (PyTorch's SplitBackward/UnbindBackward): each
    piece's backward adds its gradient into one buffer of the input's shape and passes on only a scalar
    token, so n pieces cost O(input) in backward instead of n input-sized zero arrays."""
    __slots__ = ("buf", "shape")

    def backward(self, g):
        buf = self.buf
        self.buf = None  # the next backward (retain_graph=True) starts from a fresh buffer
        return buf


class _Piece(Node):
    __slots__ = ("col", "idx")

    def forward(self, a, idx):
        self.idx = idx
        return a[idx]

    def backward(self, g):
        c = self.col
        if c.buf is None:
            c.buf = xp_of(g).zeros(c.shape, dtype=g.dtype)
        c.buf[self.idx] += g
        tok = _TOKENS.get((g.__class__, g.dtype))
        if tok is None:
            tok = _TOKENS[(g.__class__, g.dtype)] = xp_of(g).zeros((), dtype=g.dtype)
        return tok  # read-only use: the engine only adds tokens into new arrays


_TOKENS = {}


def _pieces(input, idxs):
    """Views input[idx] for each basic index in idxs, sharing one backward buffer when autograd records."""
    if not (input.requires_grad and GRAD.enabled) or len(idxs) < 2:
        return tuple(_basic_view(input, i) for i in idxs)
    col = _Collect.__new__(_Collect)
    col._next = (input.grad_fn if input.grad_fn is not None else input,)
    col.saved = None
    col._versions = None
    col._pre_hooks = None
    col._retain = None
    col._oshape = ()
    col._odtype = input._data.dtype
    col.buf = None
    col.shape = input._data.shape
    if anomaly_mode.STATE.enabled:
        anomaly_mode.record_trace(col)
    a = input._data
    vc = input._vc
    base = input._base if input._base is not None else input
    nxt = (col,)
    out = []
    for i in idxs:
        r = a[i]
        node = _Piece.__new__(_Piece)
        node.saved = None
        node.idx = i
        node.col = col
        node._next = nxt
        node._versions = None
        node._pre_hooks = None
        node._retain = None
        node._oshape = r.shape
        node._odtype = r.dtype
        t = _new_tensor(r)
        t.grad_fn = node
        t.requires_grad = True
        t._vc = vc
        t._base = base
        t._gv = vc[0]
        out.append(t)
    return tuple(out)


@register("narrow")
def narrow(input, dim, start, length):
    d = input._data
    ax = _dim(dim, d.ndim, "narrow")
    n = d.shape[ax]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start ({start}) out of range for dimension {dim} with size {n} "
                         f"(expected to be in range of [{-n}, {n}])")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _basic_view(input, _narrow_index(d.ndim, ax, start, start + length))


@register("select")
def select(input, dim, index):
    d = input._data
    if d.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    ax = _dim(dim, d.ndim, "select")
    n = d.shape[ax]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(d.shape)} at dimension {dim}")
    return _basic_view(input, (slice(None),) * ax + (index % n,))


@register("split")
def split(tensor, split_size_or_sections=None, dim=0, *, split_size=None):
    if split_size_or_sections is None:
        split_size_or_sections = split_size  # Tensor.split(split_size=...)
    d = tensor._data
    if d.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    ax = _dim(dim, d.ndim, "split")
    n = d.shape[ax]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {dim}), but got split_sizes={sizes}")
    else:
        s = int(split_size_or_sections)
        if s < 0 or (s == 0 and n != 0):
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    idxs, start = [], 0
    for s in sizes:
        idxs.append(_narrow_index(d.ndim, ax, start, start + s))
        start += s
    return _pieces(tensor, idxs)


@register("chunk")
def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = input._data
    if d.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    ax = _dim(dim, d.ndim, "chunk")
    n = d.shape[ax]
    size = -(-n // chunks) if n else 0
    if size == 0:
        return tuple(_basic_view(input, _narrow_index(d.ndim, ax, 0, 0)) for _ in range(chunks)) if n == 0 \
            else split(input, 1, dim)
    return split(input, size, dim)


@register("unbind")
def unbind(input, dim=0):
    d = input._data
    if d.ndim == 0:
        raise IndexError("unbind(): Dimension specified as 0 but tensor has no dimensions")
    ax = _dim(dim, d.ndim, "unbind")
    pre = (slice(None),) * ax
    return _pieces(input, [pre + (i,) for i in range(d.shape[ax])])


@register("tensor_split")
def tensor_split(input, indices_or_sections, dim=0):
    d = input._data
    ax = _dim(dim, d.ndim, "tensor_split")
    n = d.shape[ax]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = int(ios.item()) if ios._data.ndim == 0 else [int(v) for v in ios.tolist()]
    if isinstance(ios, (list, tuple)):
        bounds = [0] + [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in ios] + [n]
    else:
        k = int(ios)
        if k <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        bounds, b = [0], 0
        for i in range(k):
            b += q + (1 if i < r else 0)
            bounds.append(b)
    return _pieces(input, [_narrow_index(d.ndim, ax, bounds[i], max(bounds[i], bounds[i + 1]))
                           for i in range(len(bounds) - 1)])


@register("movedim", "moveaxis")
def movedim(input, source, destination):
    nd = input._data.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain "
                           f"the same number of dims as destination ({list(dst)} dims)")
    src = [_dim(s, nd, "movedim") for s in src]
    dst = [_dim(s, nd, "movedim") for s in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in source or destination")
    perm = [None] * nd
    for s, t_ in zip(src, dst):
        perm[t_] = s
    rest = iter(d for d in range(nd) if d not in src)
    perm = tuple(p if p is not None else next(rest) for p in perm)
    if nd == 0:
        return input
    return as_view(apply1(Transpose, input, perm), input)


class Flip(Node):
    __slots__ = ("axes",)

    def forward(self, a, axes):
        self.axes = axes
        return xp_of(a).flip(a, axes).copy()

    def backward(self, g):
        return xp_of(g).flip(g, self.axes)


@register("flip")
def flip(input, *dims):
    dims = _shape_arg(dims)
    nd = input._data.ndim
    axes = tuple(_dim(d, nd, "flip") for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip: dim {dims} appears multiple times in the list of dims")
    if nd == 0:
        return apply1(Clone, input)
    return apply1(Flip, input, axes)


@register("fliplr")
def fliplr(input):
    if input._data.ndim < 2:
        raise RuntimeError("fliplr: Input must be >= 2-d.")
    return flip(input, 1)


@register("flipud")
def flipud(input):
    if input._data.ndim < 1:
        raise RuntimeError("flipud: Input must be >= 1-d.")
    return flip(input, 0)


class Roll(Node):
    __slots__ = ("shifts", "axes")

    def forward(self, a, shifts, axes):
        self.shifts, self.axes = shifts, axes
        return xp_of(a).roll(a, shifts, axis=axes)

    def backward(self, g):
        sh = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp_of(g).roll(g, sh, axis=self.axes)


@register("roll")
def roll(input, shifts, dims=None):
    nd = input._data.ndim
    if dims is None:
        if isinstance(shifts, (tuple, list)):
            if len(shifts) != 1:
                raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims: 0")
            shifts = shifts[0]
        return apply1(Roll, input, int(shifts), None)
    s = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    d = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(s) != len(d):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(s)}, dims:{len(d)}")
    return apply1(Roll, input, tuple(int(x) for x in s), tuple(_dim(x, nd, "roll") for x in d))


class Rot90(Node):
    __slots__ = ("k", "axes")

    def forward(self, a, k, axes):
        self.k, self.axes = k, axes
        return xp_of(a).rot90(a, k, axes=axes).copy()

    def backward(self, g):
        return xp_of(g).rot90(g, -self.k, axes=self.axes)


@register("rot90")
def rot90(input, k=1, dims=(0, 1)):
    nd = input._data.ndim
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if nd < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {nd}")
    axes = tuple(_dim(x, nd, "rot90") for x in dims)
    if axes[0] == axes[1]:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = "
                           f"{dims[1]}")
    return apply1(Rot90, input, int(k) % 4, axes)


_TRI_MASKS = {}


def _tri_mask(a, n, m, k, upper):
    """Boolean mask of the kept triangle, cached per device (causal masks are rebuilt every step otherwise)."""
    key = (None if a.__class__ is np.ndarray else a.device.id, n, m, k, upper)
    mask = _TRI_MASKS.get(key)
    if mask is None:
        if len(_TRI_MASKS) > 64:
            _TRI_MASKS.clear()
        xp = xp_of(a)
        if xp is np:
            mask = ~np.tri(n, m, k - 1, dtype=bool) if upper else np.tri(n, m, k, dtype=bool)
        else:
            with a.device:
                mask = ~xp.tri(n, m, k - 1, dtype=bool) if upper else xp.tri(n, m, k, dtype=bool)
        _TRI_MASKS[key] = mask
    return mask


class Tri(Node):
    __slots__ = ("mask",)

    def forward(self, a, k, upper):
        xp = xp_of(a)
        self.mask = mask = _tri_mask(a, a.shape[-2], a.shape[-1], k, upper)
        kind = a.dtype.kind
        if kind == "b":
            return a & mask
        if kind in "iu":
            return a * mask.astype(a.dtype)
        return xp.where(mask, a, xp.zeros((), dtype=a.dtype))  # keeps 0 where a is inf/nan

    def backward(self, g):
        xp = xp_of(g)
        return xp.where(self.mask, g, xp.zeros((), dtype=g.dtype))


@register("tril", inplace=True)
def tril(input, diagonal=0):
    if input._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return apply1(Tri, input, int(diagonal), False)


@register("triu", inplace=True)
def triu(input, diagonal=0):
    if input._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return apply1(Tri, input, int(diagonal), True)


def diag_view(a, offset, d1, d2):
    """A writable view of the diagonal (offset, d1, d2) of array a, the diagonal as its last dim."""
    n1, n2 = a.shape[d1], a.shape[d2]
    if offset >= 0:
        L = max(0, min(n1, n2 - offset))
        r0, c0 = 0, offset
    else:
        L = max(0, min(n1 + offset, n2))
        r0, c0 = -offset, 0
    if L == 0:
        r0 = c0 = 0
    idx = [slice(None)] * a.ndim
    idx[d1] = slice(r0, None)
    idx[d2] = slice(c0, None)
    sub = a[tuple(idx)]
    others = [i for i in range(a.ndim) if i not in (d1, d2)]
    shape = tuple(a.shape[i] for i in others) + (L,)
    strides = tuple(a.strides[i] for i in others) + (a.strides[d1] + a.strides[d2],)
    if sub.size == 0:
        return xp_of(a).zeros(shape, dtype=a.dtype)
    return xp_of(a).lib.stride_tricks.as_strided(sub, shape, strides)


class Diagonal(Node):
    __slots__ = ("shape", "args")

    def forward(self, a, offset, d1, d2):
        self.shape, self.args = a.shape, (offset, d1, d2)
        return diag_view(a, offset, d1, d2)

    def backward(self, g):
        full = xp_of(g).zeros(self.shape, dtype=g.dtype)
        v = diag_view(full, *self.args)
        v[...] = g
        return full


@register("diagonal")
def diagonal(input, offset=0, dim1=0, dim2=1):
    nd = input._data.ndim
    d1, d2 = _dim(dim1, nd, "diagonal"), _dim(dim2, nd, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return as_view(apply1(Diagonal, input, int(offset), d1, d2), input)


class DiagEmbed(Node):
    __slots__ = ("args",)

    def forward(self, a, offset, d1, d2):
        self.args = (offset, d1, d2)
        n = a.shape[-1] + abs(offset) if a.ndim else 1 + abs(offset)
        nd = a.ndim + 1
        shape = list(a.shape[:-1])
        for d in sorted((d1, d2)):
            shape.insert(d, n)
        assert len(shape) == nd
        out = xp_of(a).zeros(tuple(shape), dtype=a.dtype)
        diag_view(out, offset, d1, d2)[...] = a
        return out

    def backward(self, g):
        return diag_view(g, *self.args)


@register("diag_embed")
def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    nd = input._data.ndim + 1
    d1, d2 = _dim(dim1, nd, "diag_embed"), _dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return apply1(DiagEmbed, input, int(offset), d1, d2)


@register("diag")
def diag(input, diagonal=0):
    nd = input._data.ndim
    if nd == 1:
        return apply1(DiagEmbed, input, int(diagonal), 0, 1)
    if nd == 2:
        return apply1(Clone, apply1(Diagonal, input, int(diagonal), 0, 1))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")


@register("atleast_1d", method=False)
def atleast_1d(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_1d(t) for t in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_1d(t) for t in tensors)
    t = tensors[0]
    return reshape(t, 1) if t._data.ndim == 0 else t


@register("atleast_2d", method=False)
def atleast_2d(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_2d(t) for t in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_2d(t) for t in tensors)
    t = tensors[0]
    nd = t._data.ndim
    return reshape(t, 1, 1) if nd == 0 else unsqueeze(t, 0) if nd == 1 else t


@register("atleast_3d", method=False)
def atleast_3d(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(atleast_3d(t) for t in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_3d(t) for t in tensors)
    t = tensors[0]
    s = t._data.shape
    if len(s) == 0:
        return reshape(t, 1, 1, 1)
    if len(s) == 1:
        return reshape(t, 1, s[0], 1)
    if len(s) == 2:
        return reshape(t, s[0], s[1], 1)
    return t


@register("hstack", method=False)
def hstack(tensors):
    ts = atleast_1d(list(tensors))
    return cat(ts, 0 if ts[0]._data.ndim == 1 else 1)


@register("vstack", "row_stack", method=False)
def vstack(tensors):
    return cat(atleast_2d(list(tensors)), 0)


@register("dstack", method=False)
def dstack(tensors):
    return cat(atleast_3d(list(tensors)), 2)


@register("column_stack", method=False)
def column_stack(tensors):
    ts = [reshape(t, t._data.size, 1) if t._data.ndim <= 1 else t for t in tensors]
    return cat(ts, 1)


@register("meshgrid", method=False)
def meshgrid(*tensors, indexing=None):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    sizes = [t._data.size for t in tensors]
    n = len(tensors)
    swap = indexing == "xy" and n >= 2
    if swap:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, t in enumerate(tensors):
        pos = i
        if swap and i < 2:
            pos = 1 - i
        shape = [1] * n
        shape[pos] = t._data.size
        out.append(expand(reshape(t, *shape), *sizes))
    return tuple(out)


class Unfold(Node):
    __slots__ = ("shape", "axis", "size", "step")

    def forward(self, a, axis, size, step):
        self.shape, self.axis, self.size, self.step = a.shape, axis, size, step
        n = (a.shape[axis] - size) // step + 1 if a.ndim else 1
        if a.ndim == 0:
            return a.reshape(1)
        shape = a.shape[:axis] + (n,) + a.shape[axis + 1:] + (size,)
        strides = a.strides[:axis] + (a.strides[axis] * step,) + a.strides[axis + 1:] + (a.strides[axis],)
        return xp_of(a).lib.stride_tricks.as_strided(a, shape, strides)

    def backward(self, g):
        if not self.shape:
            return g.reshape(())
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        ax, n = self.axis, g.shape[self.axis]
        for j in range(self.size):
            idx = (slice(None),) * ax + (slice(j, j + self.step * (n - 1) + 1, self.step),)
            full[idx] += g[..., j]
        return full


@method("unfold")
def unfold(self, dimension, size, step):
    d = self._data
    ax = _dim(dimension, d.ndim, "unfold")
    n = d.shape[ax] if d.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {ax} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return as_view(apply1(Unfold, self, ax, int(size), int(step)), self)


@register("ravel")
def ravel(input):
    return reshape(input, -1)


def _split_dir(input, ios, dim, op, min_nd):
    nd = input._data.ndim
    if nd < min_nd:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_nd} dimension, but got a tensor with "
                           f"{nd} dimensions!")
    if isinstance(ios, int) and input._data.shape[dim] % ios:
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{input._data.shape[dim]} is not divisible by the split_size {ios}!")
    return tensor_split(input, ios, dim)


@register("hsplit")
def hsplit(input, indices_or_sections):
    return _split_dir(input, indices_or_sections, 0 if input._data.ndim == 1 else 1, "hsplit", 1)


@register("vsplit")
def vsplit(input, indices_or_sections):
    return _split_dir(input, indices_or_sections, 0, "vsplit", 2)


@register("dsplit")
def dsplit(input, indices_or_sections):
    return _split_dir(input, indices_or_sections, 2, "dsplit", 3)


@register("diagflat")
def diagflat(input, offset=0):
    return diag(reshape(input, -1), offset)


@register("block_diag", method=False)
def block_diag(*tensors):
    from .creation import zeros
    mats = [reshape(t, 1, -1) if t._data.ndim < 2 else t for t in tensors]
    for t in mats:
        if t._data.ndim != 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input has "
                               f"{t._data.ndim} dimensions")
    cols = sum(t._data.shape[1] for t in mats)
    rows, start = [], 0
    for t in mats:
        r, c = t._data.shape
        left = zeros(r, start, dtype=t.dtype, device=t.device)
        right = zeros(r, cols - start - c, dtype=t.dtype, device=t.device)
        rows.append(cat([left, t, right], 1))
        start += c
    return cat(rows, 0)


@register("narrow_copy")
def narrow_copy(input, dim, start, length):
    return apply1(Clone, narrow(input, dim, start, length))


class AsStrided(Node):
    __slots__ = ("shape", "pos")

    def forward(self, a, size, stride, offset):
        xp = xp_of(a)
        self.shape = a.shape
        flat = a.reshape(-1)
        pos = xp.full(size, offset, dtype=np.int64) if size else xp.asarray(offset, dtype=np.int64)
        for ax, (n, st) in enumerate(zip(size, stride)):
            sh = [1] * len(size)
            sh[ax] = n
            pos = pos + (xp.arange(n, dtype=np.int64) * st).reshape(sh)
        self.pos = pos
        it = a.itemsize
        return xp.lib.stride_tricks.as_strided(flat[offset:] if flat.size else flat, size,
                                               tuple(s * it for s in stride))

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(int(np.prod(self.shape)), dtype=g.dtype)
        ufunc_at("add", full, self.pos.reshape(-1), g.reshape(-1))
        return full.reshape(self.shape)


@register("as_strided")
def as_strided(input, size, stride, storage_offset=0):
    """A strided view of the tensor's elements (taken in C order, as the storage of a contiguous tensor)."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"as_strided: mismatch in length of strides and shape ({len(size)} vs {len(stride)})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: "
                           f"{list(stride)}")
    n = input._data.size
    need = storage_offset + sum((sz - 1) * st for sz, st in zip(size, stride)) + 1 if all(size) else 0
    if need > n:
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                           f"{storage_offset} require {need} elements but the tensor has only {n}")
    src = input if input._data.flags.c_contiguous else contiguous(input)
    out = apply1(AsStrided, src, size, stride, int(storage_offset))
    return as_view(out, src) if src is input else out


def _tri_indices(row, col, offset, upper, dtype, device):
    from .creation import tensor
    from .. import _dtype
    r, c = np.nonzero(~np.tri(row, col, offset - 1, dtype=bool) if upper else np.tri(row, col, offset, dtype=bool))
    return tensor(np.stack([r, c]).astype(_dtype.np_dtype(dtype) if dtype is not None else np.int64), device=device)


@register("tril_indices", method=False)
def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, False, dtype, device)


@register("triu_indices", method=False)
def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, True, dtype, device)


@register("cartesian_prod", method=False)
def cartesian_prod(*tensors):
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


@register("combinations", method=False)
def combinations(input, r=2, with_replacement=False):
    import itertools
    if input._data.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    n = input._data.shape[0]
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(range(n), r)), dtype=np.int64).reshape(-1, r)
    if idx.shape[0] == 0:
        return input.new_zeros((0, r)) if r else input.new_zeros((0,))
    from .indexing import getitem
    return getitem(input, Tensor._wrap(idx if input._data.__class__ is np.ndarray else
                                       xp_of(input._data).asarray(idx)))


@register("diff")
def diff(input, n=1, dim=-1, prepend=None, append=None):
    from .elementwise import sub
    x = input
    if prepend is not None or append is not None:
        parts = ([prepend] if prepend is not None else []) + [x] + ([append] if append is not None else [])
        parts = [p if p._data.ndim else expand(reshape(p, *([1] * x._data.ndim)),
                                                *[1 if i == dim % x._data.ndim else s
                                                  for i, s in enumerate(x._data.shape)]) for p in parts]
        x = cat(parts, dim)
    ax = _dim(dim, x._data.ndim, "diff")
    for _ in range(n):
        m = x._data.shape[ax]
        if m == 0:
            break
        if x._data.dtype.kind == "b":
            from .elementwise import ne
            x = ne(narrow(x, ax, 1, m - 1), narrow(x, ax, 0, m - 1))
        else:
            x = sub(narrow(x, ax, 1, m - 1), narrow(x, ax, 0, m - 1))
    return x


@register("select_scatter")
def select_scatter(input, src, dim, index):
    out = apply1(Clone, input)
    ax = _dim(dim, input._data.ndim, "select_scatter")
    from .indexing import setitem
    setitem(out, (slice(None),) * ax + (index,), src)
    return out


@register("slice_scatter")
def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    out = apply1(Clone, input)
    ax = _dim(dim, input._data.ndim, "slice_scatter")
    from .indexing import setitem
    setitem(out, (slice(None),) * ax + (slice(start, end, step),), src)
    return out


@register("diagonal_scatter")
def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    out = apply1(Clone, input)
    view = diagonal(out, offset, dim1, dim2)
    from .indexing import setitem
    setitem(view, Ellipsis, src)
    return out
