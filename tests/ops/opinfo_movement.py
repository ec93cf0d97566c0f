"""OpInfos for shape and movement ops (views, splits, flips, diagonals, stacking, unfold)."""
import numpy as np

from tests.ops.opinfo import OpInfo


def _first_of(xs):
    return xs[0]


def _cat_all(L, xs):
    return L.cat([x.reshape(-1) for x in xs])


OPS = [
    OpInfo("reshape", lambda L, a, b: a.reshape_as(b), [((3, 4), (2, 6))], grad_args=(0,)),
    OpInfo("reshape", lambda L, a, b: a.view_as(b), [((3, 4), (2, 6))], grad_args=(0,), noncontig=False),
    OpInfo("unflatten", lambda L, a: a.unflatten(1, (2, -1)), [((3, 4),), ((2, 6, 2),)]),
    OpInfo("unflatten", lambda L, a: L.unflatten(a, -1, (2, 1, 2)), [((3, 4),)]),
    OpInfo("flatten", lambda L, a: L.flatten(a), [((2, 3, 4),), ((),)]),
    OpInfo("flatten", lambda L, a: a.flatten(0, 1), [((2, 3, 4),)]),
    OpInfo("squeeze", lambda L, a: a.squeeze((0, 2)), [((1, 3, 1, 4),)]),
    OpInfo("unsqueeze", lambda L, a: a.unsqueeze(-1), [((3, 4),), ((),)]),
    OpInfo("clone", lambda L, a: a.expand(2, -1, 4), [((3, 1),)]),
    OpInfo("broadcast_to", lambda L, a: L.broadcast_to(a, (2, 3, 4)), [((3, 1),), ((4,),)]),
    OpInfo("broadcast_tensors", lambda L, a, b: _cat_all(L, L.broadcast_tensors(a, b)), [((3, 1), (1, 4)),
                                                                                            ((2, 1, 3), (3,))]),
    OpInfo("clone", lambda L, a: a.repeat(2, 1, 3), [((3, 4),), ((4,),)]),
    OpInfo("clone", lambda L, a: a.repeat(2, 3), [((1, 2),)]),
    OpInfo("tile", lambda L, a: L.tile(a, (2, 2)), [((3, 4),), ((2, 3, 2),), ((3,),)]),
    OpInfo("repeat_interleave", lambda L, a: a.repeat_interleave(2, dim=1), [((3, 4),)]),
    OpInfo("repeat_interleave", lambda L, a: L.repeat_interleave(a, 3), [((2, 3),)]),
    OpInfo("repeat_interleave", lambda L, a, r: L.repeat_interleave(a, r, dim=0),
           make=lambda rng: [[rng.standard_normal((3, 2)), np.array([1, 0, 3])]]),
    OpInfo("repeat_interleave", lambda L, r: L.repeat_interleave(r), make=lambda rng: [[np.array([2, 0, 1])]],
           grad=False, noncontig=False),
    OpInfo("split", lambda L, a: _cat_all(L, a.split(2, 1)), [((3, 5),)]),
    OpInfo("split", lambda L, a: L.split(a, [1, 3, 1], dim=1)[1], [((3, 5),)]),
    OpInfo("split", lambda L, a: L.split(a, 2)[-1], [((5, 2),)]),
    OpInfo("chunk", lambda L, a: a.chunk(3, -1)[1], [((3, 5),), ((2, 6),)]),
    OpInfo("chunk", lambda L, a: _cat_all(L, L.chunk(a, 4, 0)), [((6, 2),)]),
    OpInfo("unbind", lambda L, a: L.unbind(a, 1)[2], [((3, 4),)]),
    OpInfo("unbind", lambda L, a: L.stack(list(a), 1), [((3, 4),)]),  # __iter__
    OpInfo("tensor_split", lambda L, a: L.tensor_split(a, 3, dim=1)[1], [((2, 7),)]),
    OpInfo("tensor_split", lambda L, a: _cat_all(L, a.tensor_split([1, 4], dim=0)), [((6, 2),)]),
    OpInfo("tensor_split", lambda L, a: a.tensor_split([1, 4])[2], [((3, 2),)]),
    OpInfo("narrow", lambda L, a: a.narrow(1, 1, 2), [((3, 4),)]),
    OpInfo("narrow", lambda L, a: L.narrow(a, -1, -3, 3), [((3, 4),)]),
    OpInfo("select", lambda L, a: a.select(1, -1), [((3, 4, 2),)]),
    OpInfo("movedim", lambda L, a: L.movedim(a, 0, -1), [((2, 3, 4),)], covers=["moveaxis"]),
    OpInfo("movedim", lambda L, a: a.moveaxis((0, 1), (2, 0)), [((2, 3, 4),)]),
    OpInfo("flip", lambda L, a: L.flip(a, (0, 2)), [((2, 3, 4),)]),
    OpInfo("flip", lambda L, a: a.flip(-1), [((3, 4),)]),
    OpInfo("fliplr", lambda L, a: L.fliplr(a), [((3, 4),)]),
    OpInfo("flipud", lambda L, a: a.flipud(), [((3, 4),)]),
    OpInfo("roll", lambda L, a: L.roll(a, 2), [((3, 4),)]),
    OpInfo("roll", lambda L, a: a.roll((1, -2), (0, 1)), [((3, 4),)]),
    OpInfo("roll", lambda L, a: a.roll(1, -1), [((3, 4),)]),
    OpInfo("rot90", lambda L, a: L.rot90(a), [((3, 4),)]),
    OpInfo("rot90", lambda L, a: a.rot90(3, (1, 2)), [((2, 3, 4),)]),
    OpInfo("rot90", lambda L, a: a.rot90(-2, (0, 1)), [((3, 4),)]),
    OpInfo("tril", lambda L, a: L.tril(a), [((4, 4),), ((2, 3, 5),)]),
    OpInfo("tril", lambda L, a: a.tril(-1), [((4, 3),)]),
    OpInfo("tril", lambda L, a: a.clone().tril_(1), [((3, 4),)]),
    OpInfo("triu", lambda L, a: L.triu(a, 1), [((4, 4),), ((2, 3, 5),)]),
    OpInfo("triu", lambda L, a: a.clone().triu_(-1), [((3, 4),)]),
    OpInfo("diag", lambda L, a: L.diag(a), [((4,),), ((3, 4),)]),
    OpInfo("diag", lambda L, a: a.diag(-1), [((4,),), ((4, 3),)]),
    OpInfo("diag", lambda L, a: a.diag(2), [((3, 4),)]),
    OpInfo("diagonal", lambda L, a: L.diagonal(a), [((3, 4),)]),
    OpInfo("diagonal", lambda L, a: a.diagonal(1, 0, 2), [((3, 2, 4),)]),
    OpInfo("diagonal", lambda L, a: a.diagonal(-1, -1, 0), [((3, 2, 4),)]),
    OpInfo("diagonal", lambda L, a: a.diagonal(5), [((3, 4),)], gradcheck=False),
    OpInfo("diag_embed", lambda L, a: L.diag_embed(a), [((3,),), ((2, 3),)]),
    OpInfo("diag_embed", lambda L, a: a.diag_embed(1, 0, 2), [((2, 3),)]),
    OpInfo("diag_embed", lambda L, a: a.diag_embed(-2, -1, 1), [((2, 3),)]),
    OpInfo("hstack", lambda L, a, b: L.hstack([a, b]), [((3,), (2,)), ((3, 2), (3, 4))]),
    OpInfo("vstack", lambda L, a, b: L.vstack((a, b)), [((3,), (3,)), ((1, 3), (2, 3))], covers=["row_stack"]),
    OpInfo("dstack", lambda L, a, b: L.dstack([a, b]), [((3,), (3,)), ((2, 3), (2, 3)), ((2, 3, 1), (2, 3, 2))]),
    OpInfo("column_stack", lambda L, a, b, c: L.column_stack([a, b, c]), [((3,), (3, 2), (3,))]),
    OpInfo("atleast_1d", lambda L, a: L.atleast_1d(a), [((),), ((3,),)]),
    OpInfo("atleast_2d", lambda L, a: L.atleast_2d(a), [((),), ((3,),), ((2, 3, 4),)]),
    OpInfo("atleast_3d", lambda L, a: L.atleast_3d(a), [((),), ((3,),), ((2, 3),)]),
    OpInfo("atleast_2d", lambda L, a, b: _cat_all(L, L.atleast_2d(a, b)), [((), (3,))]),
    OpInfo("meshgrid", lambda L, a, b: L.stack(L.meshgrid(a, b, indexing="ij")), [((3,), (4,))]),
    OpInfo("meshgrid", lambda L, a, b, c: L.stack(L.meshgrid([a, b, c], indexing="xy")), [((3,), (4,), (2,))]),
    OpInfo("cat", lambda L, a, b, c: L.cat((a, b, c), -1), [((2, 3), (2, 1), (2, 0))]),
    OpInfo("cat", lambda L, a, b: L.cat([a, b]), [((0,), (2, 3))]),
    OpInfo("stack", lambda L, a, b: L.stack([a, b], 1), [((3, 4), (3, 4)), ((3,), (3,))]),
    OpInfo("stack", lambda L, a, b: L.stack([a, b]), [((), ())]),
    OpInfo("contiguous", lambda L, a: a.t().contiguous(), [((3, 4),)]),
    OpInfo("contiguous", lambda L, a: a.unfold(1, 2, 1), [((3, 5),)]),
    OpInfo("contiguous", lambda L, a: a.unfold(0, 3, 2), [((7, 2),)]),
    OpInfo("contiguous", lambda L, a: a.unfold(-1, 2, 3), [((2, 3, 8),)]),
]

OPS += [
    OpInfo("ravel", lambda L, a: L.ravel(a), [((2, 3, 4),), ((),)]),
    OpInfo("ravel", lambda L, a: a.t().ravel(), [((3, 4),)]),
    OpInfo("hsplit", lambda L, a: L.hsplit(a, 2)[1], [((3, 4),), ((6,),)]),
    OpInfo("hsplit", lambda L, a: a.hsplit([1, 2])[2], [((3, 4),)]),
    OpInfo("vsplit", lambda L, a: L.vsplit(a, [1])[1], [((3, 4),)]),
    OpInfo("dsplit", lambda L, a: L.dsplit(a, 2)[0], [((2, 3, 4),)]),
    OpInfo("diagflat", lambda L, a: L.diagflat(a), [((2, 2),), ((3,),)]),
    OpInfo("diagflat", lambda L, a: a.diagflat(-1), [((3,),)]),
    OpInfo("block_diag", lambda L, a, b, c: L.block_diag(a, b, c), [((2, 3), (1, 2), (3,))]),
]

OPS += [
    OpInfo("narrow_copy", lambda L, a: L.narrow_copy(a, 1, 1, 2), [((3, 4),)]),
    OpInfo("as_strided", lambda L, a: L.as_strided(a, (3, 2), (2, 1)), [((3, 4),)], noncontig=False),
    OpInfo("as_strided", lambda L, a: a.as_strided((2, 2, 3), (4, 1, 2), 1), [((3, 4),)], noncontig=False),
    OpInfo("as_strided", lambda L, a: a.as_strided((4, 3), (0, 1)), [((3, 4),)], noncontig=False),
]

OPS += [
    OpInfo("tril_indices", lambda L: L.tril_indices(4, 3, -1), [()], grad=False, noncontig=False),
    OpInfo("triu_indices", lambda L: L.triu_indices(3, 5, 1), [()], grad=False, noncontig=False),
    OpInfo("cartesian_prod", lambda L, a, b: L.cartesian_prod(a, b), [((3,), (2,))]),
    OpInfo("combinations", lambda L, a: L.combinations(a), [((4,),)]),
    OpInfo("combinations", lambda L, a: L.combinations(a, 3, with_replacement=True), [((3,),)]),
    OpInfo("diff", lambda L, a: L.diff(a), [((3, 5),)]),
    OpInfo("diff", lambda L, a: a.diff(2, dim=0), [((5, 3),)]),
    OpInfo("diff", lambda L, a, p: L.diff(a, dim=1, prepend=p), [((3, 4), (3, 2))]),
    OpInfo("select_scatter", lambda L, a, s: L.select_scatter(a, s, 1, 2), [((3, 4), (3,))]),
    OpInfo("slice_scatter", lambda L, a, s: L.slice_scatter(a, s, 1, 0, 4, 2), [((3, 4), (3, 2))]),
    OpInfo("diagonal_scatter", lambda L, a, s: L.diagonal_scatter(a, s, 1), [((3, 4), (3,))]),
    OpInfo("adjoint", lambda L, a: L.adjoint(a), [((2, 3, 4),)]),
]
