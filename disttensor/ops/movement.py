"""Shape and movement ops: views where PyTorch gives views (reshape/view/transpose/permute/slicing).

Views share memory and the version counter with their base, so in-place edits are seen (and
checked) through every alias.
"""
import numpy as np

from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from ._apply import apply1, apply
from ._registry import register, method


def as_view(out, src):
    """Mark `out` as a view of `src`: shared version counter and base."""
    out._vc = src._vc
    out._base = src._base if src._base is not None else src
    return out


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
            d.reshape(shape, copy=False)
        except (ValueError, TypeError):
            raise RuntimeError(f"view size is not compatible with input tensor's size and stride (shape "
                               f"{tuple(d.shape)} to {shape}): at least one dimension spans across two contiguous "
                               "subspaces. Use .reshape(...) instead.") from None
    return as_view(apply1(Reshape, self, shape), self)


@register("reshape")
def reshape(input, *shape):
    shape = _infer(_shape_arg(shape), input._data.size, "reshape")
    out = apply1(Reshape, input, shape)
    if np.shares_memory(out._data, input._data) if input._data.__class__ is np.ndarray else False:
        as_view(out, input)
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


def _mT(self):
    return transpose(self, -2, -1)


Tensor.T = property(_T)
Tensor.mT = property(_mT)


# ---- indexing ----------------------------------------------------------------------------------
def convert_index(idx):
    """Tensors in an index become arrays; lists become integer arrays. Returns (index, is_basic)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out = []
    basic = True
    for i in idx:
        if isinstance(i, Tensor):
            d = i._data
            if d.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got {i.dtype}")
            if d.ndim == 0 and d.dtype.kind in "iu":
                i = int(d)
            else:
                i = d
                basic = False
        elif isinstance(i, (list, np.ndarray)):
            i = np.asarray(i)
            basic = False
        elif not (i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer))):
            if hasattr(i, "__index__"):
                i = i.__index__()
            elif hasattr(i, "shape"):
                basic = False
            else:
                raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte tensors are "
                                 f"valid indices (got {type(i).__name__})")
        out.append(i)
    return tuple(out), basic


class GetItem(Node):
    __slots__ = ("shape", "idx", "basic", "dtype")

    def forward(self, a, idx, basic):
        self.shape, self.idx, self.basic, self.dtype = a.shape, idx, basic, a.dtype
        return a[idx]

    def backward(self, g):
        xp = xp_of(g)
        full = xp.zeros(self.shape, dtype=g.dtype)
        if self.basic:
            full[self.idx] = g
        else:
            xp.add.at(full, self.idx, g)
        return full


def getitem(self, idx):
    idx, basic = convert_index(idx)
    try:
        out = apply1(GetItem, self, idx, basic)
    except IndexError as e:
        raise IndexError(f"index {idx!r} is out of bounds for tensor of shape {tuple(self.shape)}: {e}") from None
    if basic:
        as_view(out, self)
    return out


Tensor.__getitem__ = getitem


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
        nd = max(len(shape), 1)
        dims = {d % nd for d in dims}
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
    __slots__ = ("sizes", "axis")

    def forward(self, *arrays, axis):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, g):
        idx = np.cumsum(self.sizes)[:-1]
        return tuple(xp_of(g).split(g, idx, axis=self.axis))


@register("cat", "concat", "concatenate", method=False)
def cat(tensors, dim=0, *, out=None):
    tensors = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)] or list(tensors)[:1]
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    nd = tensors[0]._data.ndim
    ax = dim % nd if nd else 0
    ref = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        d = t._data
        if d.ndim != nd or any(d.shape[k] != ref._data.shape[k] for k in range(nd) if k != ax):
            raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {dim}. Expected size "
                               f"{tuple(ref.shape)} but got size {tuple(t.shape)} for tensor number {i} in the list.")
    dts = {t._data.dtype for t in tensors}
    if len(dts) > 1:
        from .. import _dtype
        want = tensors[0].dtype
        for t in tensors[1:]:
            want = _dtype.promote_types(want, t.dtype)
        tensors = [t.to(want) for t in tensors]
    return apply(Cat, *tensors, axis=ax)


@register("stack", method=False)
def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at entry 0 and "
                               f"{list(t._data.shape)} at entry {i}")
    return cat([unsqueeze(t, dim) for t in tensors], dim if dim >= 0 else dim + len(s0) + 1)
