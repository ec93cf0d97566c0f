"""Linear algebra: matmul/@, mm/bmm/mv/dot/outer/addmm family, einsum (pairwise batched GEMMs) and
tensordot/kron/inner/cross/trace, and the torch.linalg functions (exported by disttensor/linalg.py):
decompositions and inverses through the array module's linalg, each with its backward here.
Multi-output decompositions (qr, svd, eigh) record one node per output; each takes the other outputs'
gradients as zero, and the engine sums the parts, which is exact because the gradient is linear in them. The
exception is complex svd: one node sees all its outputs' gradients, to check (as torch) that the loss does not
depend on the arbitrary phases of the singular vectors. Complex backwards follow torch's conjugate Wirtinger
convention (conjugate transposes where real formulas transpose)."""
import numpy as np

from .. import _dtype
from ..autograd.node import Node
from ..tensor import Tensor
from .._backends.device import xp_of
from .._backends.blas import matmul as _mm
from ._apply import apply, apply1
from ._registry import register
from .. import _autocast
from .._autocast import ACTIVE as _AC
from .movement import with_out, write_out


_HALF = (np.dtype(np.float16), _dtype.bfloat16.np)
_F32 = np.dtype(np.float32)


class Matmul(Node):
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, a, b):
        self.saved = (a, b)
        if a.dtype in _HALF and a.__class__ is np.ndarray:
            return self._half_forward(a, b)
        if a.ndim > 2 and b.ndim == 2:
            # one 2-D GEMM over all leading dims: NumPy's stacked matmul is several times slower
            return _mm(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[1],))
        return _mm(a, b)

    @staticmethod
    def _half_forward(a, b):
        """CPU float16/bfloat16: NumPy has no half-precision GEMM (float16 ran a loop ~80x slower than BLAS, and
        ml_dtypes' bfloat16 matmul returned float32), so the product is computed in float32 (which PyTorch also
        accumulates in) and rounded back."""
        return (a.astype(_F32) @ b.astype(_F32)).astype(a.dtype)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        if a.dtype in _HALF and xp is np:     # the float32 products of _half_forward, rounded back
            dt = a.dtype
            a32, b32 = a.astype(_F32), b.astype(_F32)
            self.saved = (a32, b32)
            try:
                return tuple(None if r is None else r.astype(dt) for r in self.backward(g.astype(_F32)))
            finally:
                self.saved = (a, b)
        if a.dtype.kind == "c":           # complex: g @ b^H and a^H @ g (PyTorch's conjugate convention)
            a, b = a.conj(), b.conj()
        need_a, need_b = self._next[0] is not None, self._next[1] is not None
        if need_a and need_b and not (g.flags.c_contiguous or g.flags.f_contiguous):
            # e.g. the expanded gradient of sum(): NumPy would copy it inside each of the two GEMMs
            g = xp.ascontiguousarray(g)
        if a.ndim > 2 and b.ndim == 2:
            g2 = g.reshape(-1, g.shape[-1])
            ga = _mm(g2, b.T).reshape(a.shape) if need_a else None
            gb = _mm(a.reshape(-1, a.shape[-1]).T, g2) if need_b else None
            return ga, gb
        if a.ndim == 1 and b.ndim == 1:
            return g * b, g * a
        if a.ndim == 1:   # (k) @ (..., k, n) -> (..., n)
            ga = (xp.expand_dims(g, -2) @ xp.swapaxes(b, -1, -2))[..., 0, :]
            gb = a[:, None] * xp.expand_dims(g, -2)
            return ga, gb
        if b.ndim == 1:   # (..., m, k) @ (k) -> (..., m)
            ga = xp.expand_dims(g, -1) * b
            gb = xp.swapaxes(a, -1, -2) @ xp.expand_dims(g, -1)
            gb = gb[..., 0]
            if gb.ndim > 1:
                gb = gb.reshape(-1, gb.shape[-1]).sum(0)
            return ga, gb
        ga = _mm(g, xp.swapaxes(b, -1, -2)) if need_a else None
        gb = _mm(xp.swapaxes(a, -1, -2), g) if need_b else None
        return ga, gb


@register("matmul")
def matmul(input, other, *, out=None):
    if out is not None:
        return write_out(matmul(input, other), out, "matmul")
    if _AC[0]:
        input, other = _autocast.lower(input, other)
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        sa = tuple(a.shape) if a.ndim > 1 else (1, a.shape[0])
        sb = tuple(b.shape) if b.ndim > 1 else (b.shape[0], 1)
        raise RuntimeError(f"matmul: shapes {sa} and {sb} cannot be multiplied "
                           f"({'x'.join(map(str, sa[-2:]))} and {'x'.join(map(str, sb[-2:]))})")
    if a.dtype != b.dtype:
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, but got {input.dtype} and "
                           f"{other.dtype}")
    return apply(Matmul, input, other)


# ---- matrix products -------------------------------------------------------------------------------
def _check_same(a, b, op):
    if a._data.__class__ is not b._data.__class__ or a.device != b.device:
        raise RuntimeError(f"{op}: Expected all tensors to be on the same device, but found at least two devices, "
                           f"{a.device} and {b.device}!")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got {a.dtype} and {b.dtype}")


@register("mm")
@with_out
def mm(input, mat2, *, out=None):
    if _AC[0]:
        input, mat2 = _autocast.lower(input, mat2)
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError(f"mm: self must be a matrix, got a {a.ndim}-D tensor of shape {tuple(a.shape)}")
    if b.ndim != 2:
        raise RuntimeError(f"mm: mat2 must be a matrix, got a {b.ndim}-D tensor of shape {tuple(b.shape)}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                           f"{b.shape[0]}x{b.shape[1]})")
    _check_same(input, mat2, "mm")
    return apply(Matmul, input, mat2)


@register("bmm")
@with_out
def bmm(input, mat2, *, out=None):
    if _AC[0]:
        input, mat2 = _autocast.lower(input, mat2)
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError(f"bmm: batch1 must be a 3D tensor, got a {a.ndim}-D tensor of shape {tuple(a.shape)}")
    if b.ndim != 3:
        raise RuntimeError(f"bmm: batch2 must be a 3D tensor, got a {b.ndim}-D tensor of shape {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected batch1 and batch2 to have the same batch size, but got batch1 of shape "
                           f"{tuple(a.shape)} and batch2 of shape {tuple(b.shape)}")
    if a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm: expected size of batch1 dim 2 to equal size of batch2 dim 1, but got batch1 of "
                           f"shape {tuple(a.shape)} and batch2 of shape {tuple(b.shape)} "
                           f"({a.shape[1]}x{a.shape[2]} and {b.shape[1]}x{b.shape[2]})")
    _check_same(input, mat2, "bmm")
    return apply(Matmul, input, mat2)


@register("mv")
def mv(input, vec):
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"mv: vector + matrix @ vector expected, got a {a.ndim}-D matrix of shape "
                           f"{tuple(a.shape)} and a {v.ndim}-D vector of shape {tuple(v.shape)}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"mv: size mismatch, got input ({a.shape[0]}x{a.shape[1]}) and vec ({v.shape[0]})")
    _check_same(input, vec, "mv")
    return apply(Matmul, input, vec)


def _vec_pair(x, y, op):
    a, b = x._data, y._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"{op}: 1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"{op}: inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
                           "have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    _check_same(x, y, op)


@register("dot")
def dot(input, tensor):
    _vec_pair(input, tensor, "dot")
    return apply(Matmul, input, tensor)


@register("vdot")
def vdot(input, other):
    _vec_pair(input, other, "vdot")
    if input.is_complex():
        from .elementwise import conj
        input = conj(input)
    return apply(Matmul, input, other)


class Outer(Node):
    __slots__ = ()
    save_inputs = (0, 1)

    def forward(self, a, b):
        self.saved = (a, b)
        return a[:, None] * b[None, :]

    def backward(self, g):
        a, b = self.saved
        if g.dtype.kind == "c":
            a, b = a.conj(), b.conj()
        return g @ b, a @ g


@register("outer", "ger")
def outer(input, vec2):
    a, b = input._data, vec2._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1D tensors, but got {a.ndim}D and {b.ndim}D tensors")
    _check_same(input, vec2, "outer")
    return apply(Outer, input, vec2)


def _scale(t, s):
    from .elementwise import mul
    return t if s == 1 else mul(t, s)


class _IgnoreFirst(Node):
    __slots__ = ("shape",)

    def forward(self, c, p):
        self.shape = c.shape
        return p

    def backward(self, g):
        return xp_of(g).zeros(self.shape, dtype=g.dtype), g


def _addmm_like(input, prod, beta, alpha):
    from .elementwise import add
    from .movement import expand
    p = _scale(prod, alpha)
    if beta == 0:
        if input._data.shape != p._data.shape:
            try:
                np.broadcast_shapes(input._data.shape, p._data.shape)
            except ValueError:
                raise RuntimeError(f"the size of input {tuple(input.shape)} must be broadcastable to "
                                   f"{tuple(p.shape)}") from None
        return apply(_IgnoreFirst, input, p)  # beta=0: input is ignored (nan/inf too), its gradient is zero
    r = add(_scale(input, beta), p)
    if r._data.shape != p._data.shape:
        raise RuntimeError(f"the size of input {tuple(input.shape)} must be broadcastable to {tuple(p.shape)}")
    return r if r._data.shape == p._data.shape else expand(r, *p._data.shape)


@register("addmm")
@with_out
def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    if _AC[0]:
        input, mat1, mat2 = _autocast.lower(input, mat1, mat2)
    return _addmm_like(input, mm(mat1, mat2), beta, alpha)


@register("addmv")
@with_out
def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    return _addmm_like(input, mv(mat, vec), beta, alpha)


@register("baddbmm")
@with_out
def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    if _AC[0]:
        input, batch1, batch2 = _autocast.lower(input, batch1, batch2)
    return _addmm_like(input, bmm(batch1, batch2), beta, alpha)


@register("addbmm")
@with_out
def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    if _AC[0]:
        input, batch1, batch2 = _autocast.lower(input, batch1, batch2)
    from .reduce import sum as _sum
    return _addmm_like(input, _sum(bmm(batch1, batch2), 0), beta, alpha)


@register("addr")
def addr(input, vec1, vec2, *, beta=1, alpha=1):
    return _addmm_like(input, outer(vec1, vec2), beta, alpha)


# ---- einsum and friends ----------------------------------------------------------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(eq, shapes):
    """Expand '...' into letters. Returns (list of input subscripts, output subscripts)."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise RuntimeError(f"einsum(): more operands were provided than specified in the equation" if
                           len(shapes) > len(ins) else
                           "einsum(): fewer operands were provided than specified in the equation")
    for s in ins + [rhs]:
        bad = [c for c in s.replace("...", "") if c not in _LETTERS]
        if bad:
            raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(bad[0])} in the equation "
                               f"string, subscripts must be in [a-zA-Z]")
    used = set(eq)
    free = [c for c in _LETTERS if c not in used]
    ell_nd = 0
    for s, sh in zip(ins, shapes):
        if "..." in s:
            ell_nd = max(ell_nd, len(sh) - (len(s) - 3))
    ell = "".join(free[:ell_nd])
    out_ins = []
    for k, (s, sh) in enumerate(zip(ins, shapes)):
        if "..." in s:
            n = len(sh) - (len(s) - 3)
            if n < 0:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s) - 3}) is more than "
                                   f"the number of dimensions ({len(sh)}) for operand {k}")
            s = s.replace("...", ell[ell_nd - n:] if n else "")
        elif len(s) != len(sh):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s)}) does not match the "
                               f"number of dimensions ({len(sh)}) for operand {k}"
                               f"{' and no ellipsis was given' if '...' not in s else ''}")
        out_ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {}
        for s in out_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    sizes = {}
    for s, sh in zip(out_ins, shapes):
        for c, n in zip(s, sh):
            if c in sizes and sizes[c] != n and n != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                                   f"subscript '{c}' has size {sizes[c]} in one operand and {n} in another")
            sizes[c] = max(sizes.get(c, 1), n)
    if len(set(out)) != len(out):
        c = next(c for c in out if out.count(c) > 1)
        raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
    for c in out:
        if c not in sizes:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    return out_ins, out, sizes


def _einsum_arrays(xp, eq, *arrays):
    lhs, out = eq.split("->")
    ins = lhs.split(",")
    if len(arrays) == 1:
        return xp.einsum(eq, arrays[0])
    if len(arrays) == 2:
        return _einsum_pair(xp, ins[0], arrays[0], ins[1], arrays[1], out)
    # several operands: NumPy's greedy path picks the order (on zero-stride stand-ins: shapes only)
    dummies = [np.lib.stride_tricks.as_strided(np.zeros(1), a.shape, (0,) * a.ndim) for a in arrays]
    path = np.einsum_path(eq, *dummies, optimize="greedy")[0][1:]
    ops = list(zip(ins, arrays))
    for step in path:
        picked = [ops[i] for i in step]
        for i in sorted(step, reverse=True):
            ops.pop(i)
        need = set(out).union(*[set(sub) for sub, _ in ops])
        cur_s, cur = picked[0]
        for k, (sb, b) in enumerate(picked[1:], 1):
            later = need.union(*[set(sub) for sub, _ in picked[k + 1:]])
            target = "".join(c for c in dict.fromkeys(cur_s + sb) if c in later)
            cur = _einsum_pair(xp, cur_s, cur, sb, b, target)
            cur_s = target
        if len(picked) == 1:
            cur_s, cur = _reduce_operand(xp, cur_s, cur, need)
        ops.append((cur_s, cur))
    s_, r = ops[0]
    return r if s_ == out else xp.einsum(s_ + "->" + out, r)


def _reduce_operand(xp, s, a, needed):
    """Take diagonals of repeated letters and sum letters no one else needs, in one single-operand einsum."""
    keep = "".join(c for c in dict.fromkeys(s) if c in needed)
    if keep == s:
        return s, a
    return keep, xp.einsum(s + "->" + keep, a)


def _einsum_pair(xp, sa, a, sb, b, so):
    """Contract two operands through one batched GEMM (BLAS) instead of einsum's loops."""
    sa, a = _reduce_operand(xp, sa, a, set(sb) | set(so))
    sb, b = _reduce_operand(xp, sb, b, set(sa) | set(so))
    size = {}
    for s, x in ((sa, a), (sb, b)):
        for c, n in zip(s, x.shape):
            if c in size and size[c] != n:
                return xp.einsum(f"{sa},{sb}->{so}", a, b)  # size-1 broadcasting: let einsum handle it
            size[c] = n
    batch = [c for c in sa if c in sb and c in so]
    contract = [c for c in sa if c in sb and c not in so]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]
    if len(set(so)) != len(so) or any(c not in size for c in so):
        return xp.einsum(f"{sa},{sb}->{so}", a, b)

    def prod(cs):
        n = 1
        for c in cs:
            n *= size[c]
        return n
    at = a.transpose([sa.index(c) for c in batch + left + contract]).reshape(prod(batch), prod(left), prod(contract))
    bt = b.transpose([sb.index(c) for c in batch + contract + right]).reshape(prod(batch), prod(contract),
                                                                              prod(right))
    r = _mm(at, bt).reshape([size[c] for c in batch + left + right])
    order = batch + left + right
    return r.transpose([order.index(c) for c in so])


class Einsum(Node):
    __slots__ = ("ins", "out", "sizes", "save_inputs")  # save_inputs per call: every operand is kept

    def forward(self, *arrays, ins, out, sizes):
        self.ins, self.out, self.sizes = ins, out, sizes
        self.save_inputs = tuple(range(len(arrays)))
        self.saved = arrays
        return _einsum_arrays(xp_of(arrays[0]), ",".join(ins) + "->" + out, *arrays)

    def backward(self, g):
        xp = xp_of(g)
        arrays = self.saved
        if g.dtype.kind == "c":   # holomorphic in every operand: the real formula on conjugated operands
            arrays = [x.conj() if x.dtype.kind == "c" else x for x in arrays]
        grads = []
        for i, s in enumerate(self.ins):
            uniq = "".join(dict.fromkeys(s))
            others = [j for j in range(len(arrays)) if j != i]
            avail = set(self.out).union(*[set(self.ins[j]) for j in others])
            keep = "".join(c for c in uniq if c in avail)
            eq = ",".join([self.out] + [self.ins[j] for j in others]) + "->" + keep
            r = _einsum_arrays(xp, eq, g, *[arrays[j] for j in others])
            if len(keep) != len(uniq):  # letters summed only inside operand i: broadcast back
                shape = [self.sizes[c] if c in keep else 1 for c in uniq]
                r = xp.broadcast_to(r.reshape(shape), tuple(self.sizes[c] if c not in keep else r.shape[keep.index(c)]
                                                             for c in uniq))
            if len(uniq) != len(s):  # repeated letters: the gradient lives on a generalised diagonal
                full = xp.zeros(tuple(self.sizes[c] for c in s), dtype=g.dtype)
                idx = []
                for c in s:
                    shp = [1] * len(uniq)
                    k = uniq.index(c)
                    shp[k] = self.sizes[c]
                    idx.append(xp.arange(self.sizes[c]).reshape(shp))
                full[tuple(idx)] = r
                r = full
            grads.append(r)
        return tuple(grads)


def _sublist_equation(args):
    """einsum(op0, [0, 1], op1, [1, 2], [0, 2]): the sublist form, turned into an equation string."""
    def sub(lst):
        out = ""
        for v in lst:
            if v is Ellipsis:
                out += "..."
            else:
                if not 0 <= int(v) < 52:
                    raise RuntimeError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
                out += _LETTERS[int(v)]
        return out
    args = list(args)
    out = args.pop() if len(args) % 2 else None
    ops, subs = args[0::2], args[1::2]
    eq = ",".join(sub(x) for x in subs) + ("" if out is None else "->" + sub(out))
    return eq, ops


@register("einsum", method=False)
def einsum(equation, *operands):
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for t in operands[1:]:
        _check_same(operands[0], t, "einsum()")
    ins, out, sizes = parse_einsum(equation, [t._data.shape for t in operands])
    return apply(Einsum, *operands, ins=ins, out=out, sizes=sizes)


@register("tensordot", method=False)
@with_out
def tensordot(a, b, dims=2, out=None):
    na, nb = a._data.ndim, b._data.ndim
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(na - dims, na)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    if len(da) != len(db):
        raise RuntimeError(f"both dimension lists should have same length, got {da} and {db}")
    da = [d % na for d in da]
    db = [d % nb for d in db]
    for x, y in zip(da, db):
        if a._data.shape[x] != b._data.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a._data.shape[x]} in dim "
                               f"{x} and second has size {b._data.shape[y]} in dim {y}")
    letters = iter(_LETTERS)
    sa = [next(letters) for _ in range(na)]
    sb = [None] * nb
    for x, y in zip(da, db):
        sb[y] = sa[x]
    sb = [c if c is not None else next(letters) for c in sb]
    out_s = [c for k, c in enumerate(sa) if k not in da] + [c for k, c in enumerate(sb) if k not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out_s), a, b)


@register("inner")
def inner(input, other):
    if input._data.ndim == 0 or other._data.ndim == 0:
        from .elementwise import mul
        return mul(input, other)
    if input._data.shape[-1] != other._data.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


@register("kron")
def kron(input, other):
    from .elementwise import mul
    from .movement import reshape
    a, b = input._data, other._data
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + a.shape
    sb = (1,) * (nd - b.ndim) + b.shape
    ia, ib = [], []
    for x, y in zip(sa, sb):
        ia += [x, 1]
        ib += [1, y]
    r = mul(reshape(input, ia), reshape(other, ib))
    return reshape(r, tuple(x * y for x, y in zip(sa, sb)))


class Cross(Node):
    __slots__ = ("axis",)
    save_inputs = (0, 1)

    def forward(self, a, b, axis):
        self.axis = axis
        self.saved = (a, b)
        return xp_of(a).cross(a, b, axis=axis)

    def backward(self, g):
        a, b = self.saved
        xp = xp_of(g)
        ax = self.axis
        if g.dtype.kind == "c":
            a, b = a.conj(), b.conj()
        return xp.cross(b, g, axis=ax), xp.cross(g, a, axis=ax)


def _cross(input, other, dim, op):
    a, b = input._data, other._data
    if a.ndim != b.ndim:
        raise RuntimeError(f"{op}: inputs dimension {dim} must have length 3. Got {a.ndim} and {b.ndim}")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast") from None
    nd = len(shape)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
    ax = dim % nd
    if a.shape[ax] != 3 or b.shape[ax] != 3:
        raise RuntimeError(f"{op}: inputs dimension {dim} must have length 3. Got {a.shape[ax]} and {b.shape[ax]}")
    _check_same(input, other, op)
    return apply(Cross, input, other, axis=ax)


@register("cross")
def cross(input, other, dim=None):
    if dim is None:
        shape = np.broadcast_shapes(input._data.shape, other._data.shape)
        dims = [k for k, s in enumerate(shape) if s == 3]
        if not dims:
            raise RuntimeError(f"cross: no dimension of size 3 in input (shapes {tuple(input.shape)} and "
                               f"{tuple(other.shape)})")
        dim = dims[0]
    return _cross(input, other, dim, "cross")


@register("trace")
def trace(input):
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    from .movement import diagonal
    from .reduce import sum as _sum
    return _sum(diagonal(input))


# ---- torch.linalg: decompositions, inverses, norms --------------------------------------------------
class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a RuntimeError raised when a matrix is singular or not positive-definite."""


def _T(x):
    return x.swapaxes(-1, -2)


def _H(x):
    """Conjugate transpose; for real arrays the plain transpose (the same array view as _T)."""
    x = x.swapaxes(-1, -2)
    return x.conj() if x.dtype.kind == "c" else x


def _square(A, op):
    a = A._data
    if a.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices")
    _float(A, op)


def _float(A, op):
    if A._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got "
                           f"{A.dtype.name.capitalize()}")


def _linalg_call(fn, op, *args, **kw):
    try:
        return fn(*args, **kw)
    except Exception as e:
        if type(e).__name__ == "LinAlgError":
            msg = str(e)
            if "Singular" in msg or "singular" in msg:
                raise LinAlgError(f"{op}: The input matrix is singular, the {op.split('.')[-1]} could not be "
                                  f"completed ({msg}).") from None
            if "positive" in msg.lower():
                raise LinAlgError(f"{op}: The factorization could not be completed because the input is not "
                                  f"positive-definite ({msg}).") from None
            raise LinAlgError(f"{op}: {msg}") from None
        raise


class Inv(Node):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = _linalg_call(xp_of(a).linalg.inv, "linalg.inv", a)
        self.saved = r
        return r

    def backward(self, g):
        r = self.saved
        iT = _T(r if r.dtype.kind != "c" else r.conj())
        return -(iT @ g @ iT)


@with_out
def inv(A, *, out=None):
    _square(A, "linalg.inv")
    return apply(Inv, A)


class Det(Node):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        d = xp_of(a).linalg.det(a)
        self.saved = (a, d)
        return d

    def backward(self, g):
        a, d = self.saved
        xp = xp_of(g)
        if a.dtype.kind == "c":
            a, d = a.conj(), d.conj()
        try:
            iT = _T(xp.linalg.inv(a))
            return (g * d)[..., None, None] * iT
        except Exception:
            # singular matrices: the cofactor matrix from the SVD, U diag(prod_{j!=i} s_j) Vh * det(U) det(Vh)
            u, s, vh = xp.linalg.svd(a)
            ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
            left = xp.concatenate([ones, xp.cumprod(s[..., :-1], axis=-1)], axis=-1)
            right = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(s, -1)[..., :-1], axis=-1)], axis=-1), -1)
            prods = left * right  # product of all singular values but the i-th
            sgn = xp.linalg.det(u) * xp.linalg.det(vh)
            if a.dtype.kind == "c":  # cof(B) = det(u) det(vh) conj(u) diag(prods) conj(vh) for B = u S vh
                u, vh = u.conj(), vh.conj()
            cof = (u * (prods * sgn[..., None])[..., None, :]) @ vh
            return g[..., None, None] * cof


def det(A):
    _square(A, "linalg.det")
    return apply(Det, A)


class LogAbsDet(Node):
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        self.saved = a
        return xp_of(a).linalg.slogdet(a)[1]

    def backward(self, g):
        return g[..., None, None] * _H(_linalg_call(xp_of(g).linalg.inv, "linalg.slogdet", self.saved))


class SlogdetSign(Node):
    """The sign det/|det| of a complex matrix: d sign = sign * i Im tr(A^-1 dA), so
    gA = -i Im(conj(g) sign) A^-H. (The sign of a real matrix is piecewise constant: not differentiable.)"""
    __slots__ = ()
    save_inputs = (0,)

    def forward(self, a):
        sign = xp_of(a).linalg.slogdet(a)[0]
        self.saved = (a, sign)
        return sign

    def backward(self, g):
        a, sign = self.saved
        c = xp_of(g).asarray((g.conj() * sign).imag)
        return (-1j * c)[..., None, None] * _H(_linalg_call(xp_of(g).linalg.inv, "linalg.slogdet", a))


def _slogdet_result():
    import collections
    global _SlogdetResult
    if _SlogdetResult is None:
        _SlogdetResult = collections.namedtuple("slogdet", ["sign", "logabsdet"])
    return _SlogdetResult


_SlogdetResult = None


def slogdet(A):
    _square(A, "linalg.slogdet")
    a = A._data
    if a.dtype.kind == "c":
        sign = apply(SlogdetSign, A)
    else:
        sign = Tensor._wrap(xp_of(a).linalg.slogdet(a)[0])
    return _slogdet_result()(sign, apply(LogAbsDet, A))


def logdet(A):
    _square(A, "logdet")
    from .elementwise import add
    s, la = slogdet(A)
    if A._data.dtype.kind == "c":  # the complex logarithm of det: log(sign) + log|det|, as torch
        from .elementwise import log
        return add(log(s), la)
    sg = s._data
    xp = xp_of(sg)
    # log|det| where det > 0; nan for a negative determinant; -inf for a singular matrix
    fix = Tensor._wrap(xp.where(sg < 0, xp.nan, xp.where(sg == 0, -xp.inf, 0)).astype(la._data.dtype))
    return add(la, fix)


class Solve(Node):
    __slots__ = ()
    save_inputs = (0,)
    save_output = True

    def forward(self, a, b):
        x = _linalg_call(xp_of(a).linalg.solve, "linalg.solve", a, b)
        self.saved = (a, x)
        return x

    def backward(self, g):
        a, x = self.saved
        if a.dtype.kind == "c":
            a, x = a.conj(), x.conj()
        gb = xp_of(g).linalg.solve(_T(a), g)
        return -(gb @ _T(x)), gb


@with_out
def solve(A, B, *, left=True, out=None):
    from .movement import unsqueeze, squeeze
    _square(A, "linalg.solve")
    a, b = A._data, B._data
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    _check_same(A, B, "linalg.solve")
    vec = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if vec:
        if b.shape[-1] != a.shape[-1]:
            raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                               f"({a.shape[-2]}x{a.shape[-1]} and {b.shape[-1]}x1)")
        return squeeze(apply(Solve, A, unsqueeze(B, -1)), -1)
    if b.ndim < 2 or b.shape[-2] != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({a.shape[-2]}x{a.shape[-1]} and {'x'.join(map(str, b.shape[-2:]))})")
    return apply(Solve, A, B)


def _mT(t):
    from .movement import transpose
    return transpose(t, -2, -1)


def _mH(t):
    """Conjugate transpose of a tensor (the transpose for real ones)."""
    from .elementwise import conj
    return conj(_mT(t))


def _phi(x, xp):
    """Lower triangle with the diagonal halved."""
    r = xp.tril(x)
    d = xp.diagonal(r, axis1=-2, axis2=-1)
    return r - 0.5 * (d[..., None] * xp.eye(x.shape[-1], dtype=x.dtype))


class Cholesky(Node):
    __slots__ = ()
    save_output = True

    def forward(self, a):
        r = _linalg_call(xp_of(a).linalg.cholesky, "linalg.cholesky", a)
        self.saved = r
        return r

    def backward(self, g):
        L = self.saved
        xp = xp_of(g)
        Linv = xp.linalg.inv(L)
        if L.dtype.kind == "c":
            # torch's convention: the strict lower triangle of tril(L^H gL) mirrored conjugated, its diagonal
            # halved but kept complex; so the gradient is Hermitian only up to an anti-Hermitian part that
            # Hermitian perturbations of A do not see
            X = xp.tril(_H(L) @ g)
            return _H(Linv) @ (0.5 * (X + _H(xp.tril(X, -1)))) @ Linv
        P = _phi(_T(L) @ xp.tril(g), xp)
        S = _T(Linv) @ P @ Linv
        return 0.5 * (S + _T(S))


@with_out
def cholesky(A, *, upper=False, out=None):
    _square(A, "linalg.cholesky")
    L = apply(Cholesky, A)
    return _mH(L) if upper else L  # A = U^H U with U = L^H


def _qr_backward(Q, R, gQ, gR, xp):
    """A = QR with m >= n (reduced): gA = (gQ + Q copyltu(M)) R^-H, M = R gR^H - gQ^H Q, where copyltu mirrors
    the strict lower triangle onto the upper one (conjugated) and keeps the real part of the diagonal: R's
    diagonal is real, so the imaginary diagonal of Q^H dA R^-1 belongs to the skew-Hermitian Q^H dQ."""
    M = R @ _H(gR) - _H(gQ) @ Q
    low = xp.tril(M, -1)
    M = low + _H(low) + xp.tril(xp.triu(M.real))
    B = gQ + Q @ M
    # B R^-H: solve R X^H = B^H
    return _H(xp.linalg.solve(R, _H(B)))


class QRPart(Node):
    """One output (0: Q, 1: R) of a reduced QR; each part's backward takes the other's gradient as zero."""
    __slots__ = ("part", "mode")
    save_inputs = (0,)

    def forward(self, a, part, q, r, mode):
        self.part, self.mode = part, mode
        self.saved = (a, q, r)
        return q if part == 0 else r

    def backward(self, g):
        a, Q, R = self.saved
        xp = xp_of(g)
        m, n = a.shape[-2], a.shape[-1]
        # torch's errors, raised on backward as torch does (the forward stays usable without gradients)
        if self.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through "
                               "linalg.qr.")
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        gQ = g if self.part == 0 else xp.zeros_like(Q)
        gR = g if self.part == 1 else xp.zeros_like(R)
        if m >= n:
            return _qr_backward(Q, R, gQ, gR, xp)
        # wide: A = Q [X | Y] with X = Q R1 square
        R1 = R[..., :, :m]
        gR1, gR2 = gR[..., :, :m], gR[..., :, m:]
        Y = a[..., :, m:]
        gY = Q @ gR2
        gX = _qr_backward(Q, R1, gQ + Y @ _H(gR2), gR1, xp)
        return xp.concatenate([gX, gY], axis=-1)


@with_out
def qr(A, mode="reduced", *, out=None):
    a = A._data
    _float(A, "linalg.qr")
    if a.ndim < 2:
        raise RuntimeError(f"linalg.qr: The input tensor A must have at least 2 dimensions.")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or "
                           "'complete'")
    xp = xp_of(a)
    q, r = xp.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
    import collections
    res = collections.namedtuple("qr", ["Q", "R"])
    if mode == "r":  # Q is empty but, as in torch, still part of the graph (its backward raises)
        q = xp.zeros((0,), dtype=a.dtype)
    return res(apply(QRPart, A, part=0, q=q, r=r, mode=mode), apply(QRPart, A, part=1, q=q, r=r, mode=mode))


def _svd_grad(part, g, u, s, vh, xp):
    """gA for A = U diag(S) Vh from the gradient g of output `part` alone (0: U, 1: S, 2: Vh).

    Complex A: conjugate transposes throughout; U and V are fixed only up to U -> U D, Vh -> D^H Vh with D
    diagonal unitary, so U's part adds i Im(U^H gU)_jj / s_j on the diagonal (V's phase taken as fixed). The sum
    of the parts is the gradient for losses that do not depend on that phase (SVDComplex checks this)."""
    k = s.shape[-1]
    if u.shape[-1] != k or vh.shape[-2] != k:  # full_matrices=True: the extra columns get no gradient, as torch
        u, vh = u[..., :k], vh[..., :k, :]
        g = g[..., :k] if part == 0 else g[..., :k, :] if part == 2 else g
    if part == 1:
        return (u * g[..., None, :]) @ vh
    s2 = s * s
    F = s2[..., None, :] - s2[..., :, None]
    eye = xp.eye(k, dtype=bool)
    with np.errstate(divide="ignore"):
        F = xp.where(eye, 0, 1 / xp.where(eye, 1, F))
    S = s[..., None, :] * xp.eye(k, dtype=s.dtype)
    v = _H(vh)
    Sinv = (1 / s)[..., None, :] * xp.eye(k, dtype=s.dtype)
    if part == 0:
        gU = g
        J = F * (_H(u) @ gU - _H(gU) @ u)
        core = J @ S
        if u.dtype.kind == "c":
            core = core + 1j * (_phase_diag(u, gU, xp) / s)[..., None, :] * xp.eye(k, dtype=s.dtype)
        gA = u @ core @ vh
        m = u.shape[-2]
        if m > k:
            gA = gA + (gU - u @ (_H(u) @ gU)) @ Sinv @ vh
        return gA
    gV = _H(g)
    K = F * (_H(v) @ gV - _H(gV) @ v)
    gA = u @ (S @ K) @ vh
    n = v.shape[-2]
    if n > k:
        gA = gA + u @ Sinv @ _H(gV - v @ (_H(v) @ gV))
    return gA


def _phase_diag(x, gx, xp):
    """Im diag(x^H gx): how a loss changes when column j of x is multiplied by e^{i phi_j}."""
    return (x.conj() * gx).sum(axis=-2).imag


class SVDPart(Node):
    """One output (0: U, 1: S, 2: Vh) of a real SVD (and S of svdvals); the others' gradients are taken as
    zero, and the engine sums the parts."""
    __slots__ = ("part",)

    def forward(self, a, part, u, s, vh):
        self.part = part
        self.saved = (u, s, vh)
        return (u, s, vh)[part]

    def backward(self, g):
        u, s, vh = self.saved
        return _svd_grad(self.part, g, u, s, vh, xp_of(g))


class SVDComplex(Node):
    """All outputs of a complex SVD in one node (its _Pick outputs hand over their gradients packed in an object
    array): the gradient is defined only when the loss ignores the phases of the singular vectors, which can
    be checked only with the gradients of U and Vh together (as torch does)."""
    __slots__ = ()

    def name(self):
        return "LinalgSvdBackward0"

    def backward(self, g):
        u, s, vh = self.saved
        xp = xp_of(u)
        k = s.shape[-1]
        grads = [None if isinstance(x, int) else x for x in g]
        if grads[0] is not None or grads[2] is not None:
            im_u = _phase_diag(u[..., :k], grads[0][..., :k], xp) if grads[0] is not None else 0
            im_v = _phase_diag(_H(vh[..., :k, :]), _H(grads[2][..., :k, :]), xp) if grads[2] is not None else 0
            # torch's test (rtol=atol=1e-2 on twice these values): a loss invariant to the phase has im_u == -im_v
            if not bool(xp.all(xp.abs(2 * (im_u + im_v)) <= 1e-2 + 1e-2 * xp.abs(2 * im_v))):
                raise RuntimeError("svd_backward: The singular vectors in the complex case are specified up to "
                                   "multiplication by e^{i phi}. The specified loss function depends on this phase "
                                   "term, making it ill-defined.")
        gA = None
        for part, gp in enumerate(grads):
            if gp is not None:
                r = _svd_grad(part, gp, u, s, vh, xp)
                gA = r if gA is None else gA + r
        return gA


class _Pick(Node):
    """Output i of a multi-output node: its gradient goes to that node in slot i of an object array (the
    engine sums the object arrays arriving from several outputs slot by slot)."""
    __slots__ = ("i", "n")

    def name(self):
        return "Pick" + str(self.i) + "Backward"

    def backward(self, g):
        p = np.zeros(self.n, dtype=object)
        p[self.i] = g
        return (p,)


def _link(node, nxt, shape, dtype):
    node._next = nxt
    node._pre_hooks = None
    node._retain = None
    node._versions = None
    node._oshape = shape
    node._odtype = dtype
    from ..autograd import anomaly_mode
    if anomaly_mode.STATE.enabled:
        anomaly_mode.record_trace(node)


def _multi_output(cls, A, arrays):
    """The arrays as outputs of one `cls` node (which saves them all) with input A."""
    from ..autograd.grad_mode import STATE
    from ._apply import fresh, _edge
    outs = [Tensor._wrap(x) for x in arrays]
    if not (A.requires_grad and STATE.enabled):
        return outs
    if A._base is not None and A._gv != A._vc[0]:
        fresh(A)
    node = cls.__new__(cls)
    node.saved = tuple(arrays)
    n = len(arrays)
    _link(node, (_edge(A),), (n,), np.dtype(object))
    for i, o in enumerate(outs):
        p = _Pick.__new__(_Pick)
        p.i, p.n, p.saved = i, n, ()
        _link(p, (node,), o._data.shape, o._data.dtype)
        o.grad_fn = p
        o.requires_grad = True
    return outs


@with_out
def svd(A, full_matrices=True, *, driver=None, out=None):
    a = A._data
    _float(A, "linalg.svd")
    if a.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    u, s, vh = xp_of(a).linalg.svd(a, full_matrices=full_matrices)
    import collections
    res = collections.namedtuple("svd", ["U", "S", "Vh"])
    if a.dtype.kind == "c":
        return res(*_multi_output(SVDComplex, A, (u, s, vh)))
    return res(*(apply(SVDPart, A, part=i, u=u, s=s, vh=vh) for i in range(3)))


@with_out
def svdvals(A, *, driver=None, out=None):
    a = A._data
    _float(A, "linalg.svdvals")
    if a.ndim < 2:
        raise RuntimeError("linalg.svdvals: The input tensor A must have at least 2 dimensions.")
    u, s, vh = xp_of(a).linalg.svd(a, full_matrices=False)
    return apply(SVDPart, A, part=1, u=u, s=s, vh=vh)


class EighPart(Node):
    """Output 0 (eigenvalues) or 1 (eigenvectors) of a symmetric/Hermitian eigendecomposition."""
    __slots__ = ("part",)

    def forward(self, a, part, w, v):
        self.part = part
        self.saved = (w, v)
        return w if part == 0 else v

    def backward(self, g):
        w, v = self.saved
        xp = xp_of(g)
        if self.part == 0:
            return (v * g[..., None, :]) @ _H(v)
        if v.dtype.kind == "c":
            # eigenvectors are fixed up to a phase each; torch's test (rtol=atol=1e-2) that the loss ignores it
            if not bool(xp.all(xp.abs(_phase_diag(v, g, xp)) <= 1e-2)):
                raise RuntimeError("linalg_eigh_backward: The eigenvectors in the complex case are specified up to "
                                   "multiplication by e^{i phi}. The specified loss function depends on this "
                                   "quantity, so it is ill-defined.")
        k = w.shape[-1]
        E = w[..., None, :] - w[..., :, None]
        eye = xp.eye(k, dtype=bool)
        with np.errstate(divide="ignore"):
            F = xp.where(eye, 0, 1 / xp.where(eye, 1, E))
        gA = v @ (F * (_H(v) @ g)) @ _H(v)
        # A's Hermitian part is all that eigh reads: its gradient is Hermitian, as torch's
        return 0.5 * (gA + _H(gA))


@with_out
def eigh(A, UPLO="L", *, out=None):
    _square(A, "linalg.eigh")
    a = A._data
    w, v = xp_of(a).linalg.eigh(a, UPLO=UPLO)
    import collections
    res = collections.namedtuple("eigh", ["eigenvalues", "eigenvectors"])
    return res(apply(EighPart, A, part=0, w=w, v=v), apply(EighPart, A, part=1, w=w, v=v))


@with_out
def eigvalsh(A, UPLO="L", *, out=None):
    _square(A, "linalg.eigvalsh")
    a = A._data
    w, v = xp_of(a).linalg.eigh(a, UPLO=UPLO)
    return apply(EighPart, A, part=0, w=w, v=v)


class Pinv(Node):
    __slots__ = ()
    save_inputs = (0,)
    save_output = True

    def forward(self, a, rcond):
        xp = xp_of(a)
        p = xp.linalg.pinv(a, rtol=rcond) if xp is np else xp.linalg.pinv(a, rcond=rcond)
        self.saved = (a, p)
        return p

    def backward(self, g):
        a, p = self.saved
        xp = xp_of(g)
        m, n = a.shape[-2], a.shape[-1]
        Im = xp.eye(m, dtype=a.dtype)
        In = xp.eye(n, dtype=a.dtype)
        pH, gH = _H(p), _H(g)  # conjugate transposes: the same formula serves complex A
        return -(pH @ g @ pH) + (Im - a @ p) @ gH @ p @ pH + pH @ p @ gH @ (In - p @ a)


@with_out
def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None, rcond=None):
    a = A._data
    _float(A, "linalg.pinv")
    if a.ndim < 2:
        raise RuntimeError("linalg.pinv: The input tensor A must have at least 2 dimensions.")
    if rtol is None and rcond is not None:
        rtol = rcond
    if rtol is None and atol is None:
        rtol = max(a.shape[-2:]) * np.finfo(a.dtype).eps
    return apply(Pinv, A, rtol if rtol is not None else 0.0)


def matrix_power(A, n):
    _square(A, "linalg.matrix_power")
    n = int(n)
    if n == 0:
        xp = xp_of(A._data)
        e = xp.broadcast_to(xp.eye(A._data.shape[-1], dtype=A._data.dtype), A._data.shape).copy()
        return Tensor._wrap(e)
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, tol=None):
    a = A._data
    xp = xp_of(a)
    s = xp.linalg.svd(a, compute_uv=False)
    smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), dtype=s.dtype)
    if atol is None and rtol is None and tol is None:
        rtol = max(a.shape[-2:]) * np.finfo(a.dtype).eps
    tol_arr = xp.maximum(atol if atol is not None else (tol or 0.0), (rtol or 0.0) * smax)
    return Tensor._wrap((s > tol_arr).sum(axis=-1).astype(np.int64))


class VectorNorm(Node):
    __slots__ = ("ord", "axes", "keepdim", "shape")
    save_inputs = (0,)
    save_output = True

    def forward(self, a, ord, axes, keepdim):
        xp = xp_of(a)
        self.ord, self.axes, self.keepdim, self.shape = ord, axes, keepdim, a.shape
        if ord == 2 and axes is None and a.dtype.kind == "f":
            f = a.reshape(-1)
            r = xp.sqrt(xp.dot(f, f))  # one BLAS pass
            if keepdim:
                r = r.reshape((1,) * a.ndim)
            r = xp.asarray(r).astype(a.dtype, copy=False)
            self.saved = (a, r)
            return r
        x = xp.abs(a)               # real (|z| for complex a): so is the norm
        if ord == 2:
            r = xp.sqrt((x * x).sum(axis=axes, keepdims=keepdim))
        elif ord == 1:
            r = x.sum(axis=axes, keepdims=keepdim)
        elif ord == float("inf"):
            r = x.max(axis=axes, keepdims=keepdim) if x.size else xp.zeros(_red_shape(a.shape, axes, keepdim), x.dtype)
        elif ord == float("-inf"):
            r = x.min(axis=axes, keepdims=keepdim)
        elif ord == 0:
            r = (x != 0).sum(axis=axes, keepdims=keepdim).astype(x.dtype)
        else:
            r = ((x ** ord).sum(axis=axes, keepdims=keepdim)) ** (1.0 / ord)
        r = xp.asarray(r).astype(x.dtype, copy=False)
        self.saved = (a, r)
        return r

    def backward(self, g):
        from .reduce import expand_back
        from .elementwise import _sign
        a, r = self.saved
        xp = xp_of(g)
        if self.ord == 2 and self.axes is None:   # r is one number: one pass over a
            rv = float(r)
            return a * (g.reshape(()) / rv) if rv != 0 else xp.zeros_like(a)
        ge = expand_back(g, self.shape, self.axes, self.keepdim)
        re = expand_back(r, self.shape, self.axes, self.keepdim)
        o = self.ord
        with np.errstate(divide="ignore", invalid="ignore"):
            if o == 2:
                return xp.where(re == 0, 0, ge * a / re)
            if o == 0:     # a count: torch's backward gives no gradient at all (x.grad stays None)
                return None
            # d|z| = sgn(z): z / |z| for complex z (PyTorch's convention), the sign for real z
            sg = xp.sign(a) if a.dtype.kind != "c" else _sign(xp, a)
            if o == 1:
                return ge * sg
            if o in (float("inf"), float("-inf")):
                hit = (xp.abs(a) == re)
                cnt = expand_back(hit.sum(axis=self.axes, keepdims=self.keepdim), self.shape, self.axes, self.keepdim)
                return xp.where(hit, ge * sg, 0) / xp.maximum(cnt, 1)   # a nan norm hits nothing: 0 (PyTorch)
            x = xp.abs(a)
            return xp.where(re == 0, 0, ge * sg * x ** (o - 1) / re ** (o - 1))


def _red_shape(shape, axes, keepdim):
    axes = range(len(shape)) if axes is None else axes
    return tuple(1 if i in axes else s for i, s in enumerate(shape) if keepdim or i not in axes)


@with_out
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    from .reduce import norm_dims
    if dtype is not None:
        x = x.to(dtype)
    _float(x, "linalg.vector_norm")
    d = x._data
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got '{ord}'")
    ord = float(ord)
    axes = norm_dims(dim, d.ndim, "linalg.vector_norm")
    if axes is not None and d.ndim == 0:
        axes = None
    if ord < 0 and d.size == 0:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the "
                           "operation does not have an identity")
    return apply1(VectorNorm, x, ord, axes, keepdim)


@with_out
def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    from .movement import squeeze
    if dtype is not None:
        A = A.to(dtype)
    _float(A, "linalg.matrix_norm")
    nd = A._data.ndim
    if nd < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    d0, d1 = (int(d) % nd for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        from .movement import movedim
        from .reduce import sum as _sum
        s = svdvals(movedim(A, (d0, d1), (-2, -1)))
        if ord == "nuc":
            r = _sum(s, -1)
        else:
            r = vector_norm(s, float("inf") if ord == 2 else float("-inf"), -1)
        if keepdim:
            from .movement import unsqueeze
            for d in sorted((d0, d1)):
                r = unsqueeze(r, d)
        return r
    if ord in (1, -1, float("inf"), float("-inf")):
        inner_dim, outer_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        big = float("inf") if ord > 0 else float("-inf")
        r = vector_norm(vector_norm(A, 1, inner_dim, True), big, outer_dim, True)
        return r if keepdim else squeeze(r, (d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


@with_out
def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    nd = A._data.ndim
    if dim is not None and not isinstance(dim, int):
        dim = tuple(dim)
        if len(dim) == 1:
            dim = dim[0]
    if isinstance(dim, tuple) and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is None and ord is not None:
        if nd == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        if nd != 1:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                               f"{nd}D.")
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.norm: ord '{ord}' is a matrix norm and needs a 2-D input or a 2-tuple dim")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


@with_out
def multi_dot(tensors, *, out=None):
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    r = tensors[0]
    for t in tensors[1:]:
        r = matmul(r, t)
    return r


@with_out
def vecdot(x, y, *, dim=-1, out=None):
    from .elementwise import mul
    from .elementwise import conj
    from .reduce import sum as _sum
    return _sum(mul(conj(x), y), dim)  # sum(conj(x) * y), as torch


@with_out
def linalg_cross(input, other, *, dim=-1, out=None):
    return _cross(input, other, dim, "linalg.cross")


# top-level torch.* names for the same operations
register("det")(det)
register("logdet")(logdet)
register("slogdet")(slogdet)
register("inverse")(inv)
register("matrix_power")(matrix_power)
register("pinverse")(lambda input, rcond=1e-15: pinv(input, rcond=rcond))


@register("cholesky")
def _cholesky_legacy(input, upper=False):
    return cholesky(input, upper=upper)


@register("qr")
def _qr_legacy(input, some=True):
    return qr(input, "reduced" if some else "complete")


@register("svd")
def _svd_legacy(input, some=True, compute_uv=True):
    U, S, Vh = svd(input, full_matrices=not some)
    import collections
    res = collections.namedtuple("svd", ["U", "S", "V"])
    if not compute_uv:
        xp = xp_of(input._data)
        return res(Tensor._wrap(xp.zeros_like(U._data)), S, Tensor._wrap(xp.zeros_like(_T(Vh._data))))
    return res(U, S, _mH(Vh))  # A = U diag(S) V^H


@register("cdist", method=False)
def cdist(x1, x2, p=2.0, compute_mode=None):
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    from .elementwise import sub
    from .movement import unsqueeze
    a, b = x1._data, x2._data
    if a.ndim < 2 or b.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {a.ndim}D, X2 got: {b.ndim}D")
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {a.shape[-1]} X2: {b.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    return vector_norm(sub(unsqueeze(x1, -2), unsqueeze(x2, -3)), float(p), -1)


@register("chain_matmul", method=False)
@with_out
def chain_matmul(*matrices, out=None):
    if len(matrices) == 1:
        return matrices[0]
    return multi_dot(matrices)


@with_out
def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    """Solve AX = B (or XA = B) for triangular A; only A's triangle (and unit diagonal if asked) is read."""
    from .movement import triu, tril
    _square(A, "linalg.solve_triangular")
    T = triu(A) if upper else tril(A)
    if unitriangular:
        from .elementwise import add, sub
        from .movement import diagonal, diag_embed
        T = add(sub(T, diag_embed(diagonal(T, 0, -2, -1))), Tensor._wrap(xp_of(A._data).eye(A._data.shape[-1],
                                                                                          dtype=A._data.dtype)))
    if B._data.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 dimensions.")
    return solve(T, B, left=left)


def lstsq(A, B, rcond=None, *, driver=None):
    """Least squares through the pseudo-inverse; returns (solution, residuals, rank, singular_values)."""
    import collections
    a = A._data
    res = collections.namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])
    vec = B._data.ndim == a.ndim - 1
    from .movement import unsqueeze, squeeze
    Bm = unsqueeze(B, -1) if vec else B
    X = matmul(pinv(A, rtol=rcond), Bm)
    if vec:
        X = squeeze(X, -1)
    xp = xp_of(a)
    empty = Tensor._wrap(xp.zeros((0,), dtype=a.dtype))
    return res(X, empty, Tensor._wrap(xp.zeros((0,), dtype=np.int64)), empty)


@register("cholesky_solve")
def cholesky_solve(B, L, upper=False):
    LL = matmul(_mH(L), L) if upper else matmul(L, _mH(L))
    return solve(LL, B)


@register("cholesky_inverse")
def cholesky_inverse(L, upper=False):
    LL = matmul(_mH(L), L) if upper else matmul(L, _mH(L))
    return inv(LL)
