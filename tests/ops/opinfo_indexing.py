"""OpInfos for indexing ops: getitem/setitem, gather/scatter family, index_*, masks, take/put, queries."""
import warnings

import numpy as np

from tests.ops.opinfo import OpInfo


def _quiet(f):
    """Call f with warnings silenced (PyTorch deprecation warnings of the reference calls)."""
    def g(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return f(*args)
    return g



def _setitem(idx, val_is_tensor=True):
    def fn(L, a, v=None):
        y = a * 1.0
        y[idx] = v if val_is_tensor else 2.5
        return y
    return fn


def _set_mask(L, a, m, v):
    y = a * 1.0
    y[m] = v
    return y


def _set_view(L, a, v):
    y = a * 1.0
    w = y[1:]
    w[:, 1] = v
    return y * 2


def _g(shape, rng):
    return rng.standard_normal(shape)


def _idx(rng, hi, shape):
    return rng.integers(0, hi, size=shape)


def _sr(reduce, include_self=True):
    return lambda L, a, i, s: L.scatter_reduce(a, 1, i, s, reduce, include_self=include_self)


def _scatter_samples(rng):
    return [[_g((3, 5), rng), _idx(rng, 5, (3, 4)), _g((3, 4), rng)],
            [_g((3, 5), rng), np.array([[0, 0, 1], [4, 4, 4], [2, 3, 2]]), _g((3, 3), rng)]]


def _prod_samples(rng):
    a = _g((3, 5), rng)
    a[0, 1] = 0.0
    s = _g((3, 4), rng)
    s[1, 2] = 0.0
    return [[a, np.array([[1, 1, 2, 0], [4, 4, 4, 3], [2, 3, 2, 2]]), s]]


def _ir(reduce, include_self=True, dim=1):
    return _quiet(lambda L, a, i, s: L.index_reduce(a, dim, i, s, reduce, include_self=include_self))


def _ir_samples(rng):
    """index_reduce along dim 1: repeated indices, untouched columns, and one column hit three times."""
    return [[_g((3, 5), rng), np.array([0, 4, 0, 2]), _g((3, 4), rng)],
            [_g((3, 5), rng), np.array([3, 3, 3]), _g((3, 3), rng)]]


def _ir_prod_samples(rng):
    a = _g((3, 5), rng)
    a[0, 4] = 0.0          # a zero of self meets source factors
    s = _g((3, 4), rng)
    s[1, 2] = 0.0          # a single zero among the source factors of (1, 1)
    s[2, 0] = s[2, 3] = 0.0  # two zeros into (2, 4): every gradient there is 0
    return [[a, np.array([4, 1, 1, 4]), s]]


OPS = [
    # __getitem__
    OpInfo("clone", lambda L, a: a[1], [((3, 4),)]),
    OpInfo("clone", lambda L, a: a[..., None, 1:3], [((2, 3, 4),)]),
    OpInfo("clone", lambda L, a: a[None, :, -1], [((2, 3),)]),
    OpInfo("clone", lambda L, a, m: a[m], make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5],
                                                           [_g((3, 4), rng), np.array([True, False, True])]]),
    OpInfo("clone", lambda L, a, i: a[i], make=lambda rng: [[_g((4, 3), rng), np.array([[0, 3], [3, 3]])]]),
    OpInfo("clone", lambda L, a, i, j: a[i, 1:, j], make=lambda rng: [[_g((4, 3, 5), rng), np.array([0, 2, 2]),
                                                                     np.array([1, 4, 1])]]),
    OpInfo("clone", lambda L, a, i: a[:, i], make=lambda rng: [[_g((4, 3), rng), np.array([2, 0, 2, 1])]]),
    OpInfo("clone", lambda L, a: a[[1, 0], ..., [2, 2]], [((3, 2, 4),)]),
    OpInfo("clone", lambda L, a: a[0, 1:, [1, 3]], [((2, 3, 4),)]),   # ints apply first, as in PyTorch
    OpInfo("clone", lambda L, a: a[[1, 0], 2, None, [0, 3]], [((2, 3, 4),)]),
    OpInfo("clone", lambda L, a, i: a[:, 1, i], make=lambda rng: [[_g((2, 3, 4), rng), np.array([[0, 1], [3, 3]])]]),
    OpInfo("clone", _setitem((0, slice(1, None), [1, 3])), [((2, 3, 4), (2, 2))]),
    OpInfo("clone", _setitem(([1, 0], 1, [0, 3])), [((2, 3, 4), (2,))]),
    # __setitem__
    OpInfo("clone", _setitem(1), [((3, 4), (4,))]),
    OpInfo("clone", _setitem((slice(None), slice(1, 3))), [((3, 4), (3, 1))]),
    OpInfo("clone", _setitem((Ellipsis, 0), False), [((3, 4),)]),
    OpInfo("clone", _setitem(([0, 2],)), [((3, 4), (2, 4))]),
    OpInfo("clone", _setitem((slice(None), [1, 3])), [((3, 4), ())]),
    OpInfo("clone", _set_mask, make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5, _g((), rng)]]),
    OpInfo("clone", _set_view, [((3, 4), (2,))]),
    # gather / scatter
    OpInfo("gather", lambda L, a, i: L.gather(a, 1, i),
           make=lambda rng: [[_g((3, 5), rng), _idx(rng, 5, (3, 4))], [_g((3, 5), rng), _idx(rng, 5, (2, 2))]]),
    OpInfo("gather", lambda L, a, i: a.gather(0, i), make=lambda rng: [[_g((3, 2), rng), _idx(rng, 3, (5, 2))]]),
    OpInfo("gather", lambda L, a, i: a.gather(-1, i), make=lambda rng: [[_g((2, 3, 4), rng), _idx(rng, 4, (2, 3, 6))]]),
    OpInfo("scatter", lambda L, a, i, s: L.scatter(a, 1, i, s), make=_scatter_samples, gradcheck=False),
    OpInfo("scatter", lambda L, a, i, s: a.scatter(1, i, s),
           make=lambda rng: [[_g((3, 5), rng), np.array([[0, 1], [4, 3], [2, 0]]), _g((3, 2), rng)]]),
    OpInfo("scatter", lambda L, a, i: a.scatter(0, i, 1.5), make=lambda rng: [[_g((4, 3), rng),
                                                                              np.array([[0, 1, 2], [3, 3, 0]])]]),
    OpInfo("scatter", _quiet(lambda L, a, i, s: a.scatter(1, i, s, reduce="add")), make=_scatter_samples, grad=False),
    OpInfo("scatter", lambda L, a, i, s: a.clone().scatter_(1, i, s),
           make=lambda rng: [[_g((3, 5), rng), np.array([[0, 1], [4, 3], [2, 0]]), _g((3, 2), rng)]]),
    OpInfo("scatter", _quiet(lambda L, a, i, s: a.scatter(1, i, s, reduce="multiply")), make=_scatter_samples,
           grad=False),
    OpInfo("scatter_add", lambda L, a, i, s: L.scatter_add(a, 1, i, s), make=_scatter_samples),
    OpInfo("scatter_add", lambda L, a, i, s: a.clone().scatter_add_(0, i, s),
           make=lambda rng: [[_g((3, 2), rng), np.array([[0, 2], [0, 0], [2, 1]]), _g((3, 2), rng)]]),
    OpInfo("scatter_reduce", _sr("sum"), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("sum", False), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("mean"), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("mean", False), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("amax"), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("amin", False), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("prod"), make=_scatter_samples),
    OpInfo("scatter_reduce", _sr("prod", False), make=_prod_samples),
    OpInfo("scatter_reduce", _sr("prod"), make=_prod_samples),
    OpInfo("scatter_reduce", lambda L, a, i, s: a.clone().scatter_reduce_(1, i, s, "amax"), make=_scatter_samples),
    OpInfo("index_reduce", _ir("prod"), make=_ir_samples),
    OpInfo("index_reduce", _ir("prod", False), make=_ir_samples),
    OpInfo("index_reduce", _ir("prod"), make=_ir_prod_samples),
    OpInfo("index_reduce", _ir("prod", False), make=_ir_prod_samples),
    OpInfo("index_reduce", _ir("mean"), make=_ir_samples),
    OpInfo("index_reduce", _ir("mean", False), make=_ir_samples),
    OpInfo("index_reduce", _ir("amax"), make=_ir_samples),
    OpInfo("index_reduce", _ir("amax", False), make=_ir_samples),
    OpInfo("index_reduce", _ir("amin"), make=_ir_samples),
    OpInfo("index_reduce", _ir("amin", False), make=_ir_samples),
    OpInfo("index_reduce", _quiet(lambda L, a, i, s: a.index_reduce(0, i, s, "amax")),
           make=lambda rng: [[_g((4, 3), rng), np.array([1, 3, 1]), _g((3, 3), rng)]]),
    OpInfo("index_reduce", _quiet(lambda L, a, i, s: a.clone().index_reduce_(-1, i, s, "mean", include_self=False)),
           make=lambda rng: [[_g((2, 3, 4), rng), np.array([2, 0, 2, 2, 1]), _g((2, 3, 5), rng)]]),
    OpInfo("index_reduce", _ir("amin", dim=1),
           make=lambda rng: [[_g((2, 3, 4), rng), np.array([2, 0, 2, 2, 1]), _g((2, 5, 4), rng)]]),
    OpInfo("index_reduce", _ir("prod", dim=0), make=lambda rng: [[_g((), rng), np.array([0]), _g((), rng)]]),
    # index_*
    OpInfo("index_select", lambda L, a, i: L.index_select(a, 0, i),
           make=lambda rng: [[_g((4, 3), rng), np.array([3, 0, 3])], [_g((4, 3), rng), np.array(2)]]),
    OpInfo("index_select", lambda L, a, i: a.index_select(-1, i), make=lambda rng: [[_g((2, 4, 3), rng),
                                                                                    np.array([2, 1])]]),
    OpInfo("index_add", lambda L, a, i, s: L.index_add(a, 1, i, s),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 3, 0]), _g((3, 3), rng)]]),
    OpInfo("index_add", lambda L, a, i, s: a.index_add(0, i, s, alpha=-2.0),
           make=lambda rng: [[_g((3, 4), rng), np.array([2, 2]), _g((2, 4), rng)]]),
    OpInfo("index_add", lambda L, a, i, s: a.clone().index_add_(0, i, s),
           make=lambda rng: [[_g((3, 4), rng), np.array([2, 0]), _g((2, 4), rng)]]),
    OpInfo("index_copy", lambda L, a, i, s: L.index_copy(a, 1, i, s),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 3]), _g((3, 2), rng)]]),
    OpInfo("index_copy", lambda L, a, i, s: a.clone().index_copy_(0, i, s),
           make=lambda rng: [[_g((3, 4), rng), np.array([2, 0]), _g((2, 4), rng)]]),
    OpInfo("index_fill", lambda L, a, i: L.index_fill(a, 1, i, -1.0),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 3])]]),
    OpInfo("index_fill", lambda L, a, i, v: a.index_fill(0, i, v),
           make=lambda rng: [[_g((3, 4), rng), np.array([2, 2]), _g((), rng)]]),
    OpInfo("index_fill", lambda L, a, i: a.clone().index_fill_(0, i, 3.0),
           make=lambda rng: [[_g((3, 4), rng), np.array([1])]]),
    OpInfo("index_put", lambda L, a, i, j, v: L.index_put(a, (i, j), v),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 2]), np.array([1, 3]), _g((2,), rng)]]),
    OpInfo("index_put", lambda L, a, i, v: a.index_put((i,), v, accumulate=True),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 2, 0]), _g((3, 4), rng)]]),
    OpInfo("index_put", lambda L, a, i, v: a.clone().index_put_((i,), v),
           make=lambda rng: [[_g((3, 4), rng), np.array([0, 2]), _g((4,), rng)]]),
    # masks
    OpInfo("masked_fill", lambda L, a, m: L.masked_fill(a, m, -3.0),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5], [_g((3, 4), rng), rng.random(4) > 0.5]]),
    OpInfo("masked_fill", lambda L, a, m, v: a.masked_fill(m, v),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5, _g((), rng)]]),
    OpInfo("masked_fill", lambda L, a, m: a.clone().masked_fill_(m, 0.0),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 1)) > 0.5]]),
    OpInfo("masked_fill", lambda L, a, m: a.masked_fill(m, 0.0),
           make=lambda rng: [[_g((4,), rng), rng.random((3, 4)) > 0.5]]),
    OpInfo("masked_select", lambda L, a, m: L.masked_select(a, m),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5], [_g((4,), rng), rng.random((3, 4)) > 0.5]]),
    OpInfo("masked_scatter", lambda L, a, m, s: L.masked_scatter(a, m, s),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5, _g((4, 4), rng)],
                             [_g((3, 4), rng), rng.random(4) > 0.5, _g((13,), rng)]]),
    OpInfo("masked_scatter", lambda L, a, m, s: a.clone().masked_scatter_(m, s),
           make=lambda rng: [[_g((3, 4), rng), rng.random((3, 4)) > 0.5, _g((3, 4), rng)]]),
    # queries and flat indexing
    OpInfo("nonzero", lambda L, a: L.nonzero(a), make=lambda rng: [[(rng.random((3, 4)) > 0.5).astype(np.int64)],
                                                                  [np.array(2.0)], [np.zeros((2, 3))]],
           grad=False),
    OpInfo("nonzero", lambda L, a: L.stack(a.nonzero(as_tuple=True)),
           make=lambda rng: [[(rng.random((3, 4)) > 0.5).astype(np.int64)]], grad=False),
    OpInfo("argwhere", lambda L, a: L.argwhere(a), make=lambda rng: [[rng.random((3, 4)) > 0.5]], grad=False),
    OpInfo("take", lambda L, a, i: L.take(a, i), make=lambda rng: [[_g((3, 4), rng), np.array([[0, 11], [5, 5]])]]),
    OpInfo("take_along_dim", lambda L, a, i: L.take_along_dim(a, i, 1),
           make=lambda rng: [[_g((3, 4), rng), _idx(rng, 4, (3, 2))], [_g((3, 4), rng), _idx(rng, 4, (1, 5))],
                             [_g((1, 4), rng), _idx(rng, 4, (3, 2))]]),
    OpInfo("take_along_dim", lambda L, a, i: a.take_along_dim(i), make=lambda rng: [[_g((3, 4), rng),
                                                                                    _idx(rng, 12, (5,))]]),
    OpInfo("put", lambda L, a, i, s: L.put(a, i, s), make=lambda rng: [[_g((3, 4), rng), np.array([0, 11, 5]),
                                                                        _g((3,), rng)]]),
    OpInfo("put", lambda L, a, i, s: a.put(i, s, accumulate=True),
           make=lambda rng: [[_g((3, 4), rng), np.array([[0, 11], [0, 5]]), _g((2, 2), rng)]]),
    OpInfo("put", lambda L, a, i, s: a.clone().put_(i, s), make=lambda rng: [[_g((3, 4), rng), np.array([1, 2]),
                                                                              _g((2,), rng)]]),
    OpInfo("searchsorted", lambda L, s, v: L.searchsorted(s, v),
           make=lambda rng: [[np.array([1.0, 2.0, 2.0, 5.0]), np.array([[0.5, 2.0], [5.0, 7.0]])]], grad=False),
    OpInfo("searchsorted", lambda L, s, v: L.searchsorted(s, v, right=True, out_int32=True),
           make=lambda rng: [[np.array([[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]]), np.array([[2.0, 2.5], [3.0, 5.0]])]],
           grad=False),
    OpInfo("searchsorted", lambda L, s: L.searchsorted(s, 2.0, side="right"),
           make=lambda rng: [[np.array([1.0, 2.0, 2.0, 5.0])]], grad=False),
    OpInfo("bucketize", lambda L, v, b: L.bucketize(v, b),
           make=lambda rng: [[np.array([[0.5, 2.0], [5.0, 7.0]]), np.array([1.0, 2.0, 5.0])]], grad=False),
    OpInfo("bucketize", lambda L, v, b: L.bucketize(v, b, right=True),
           make=lambda rng: [[np.array([0.5, 2.0, 5.0, 7.0]), np.array([1.0, 2.0, 5.0])]], grad=False),
    OpInfo("unique", lambda L, a: L.unique(a), make=lambda rng: [[rng.integers(0, 4, (3, 5))]], grad=False,
           noncontig=False),
    OpInfo("unique", lambda L, a: a.unique(return_inverse=True)[1], make=lambda rng: [[rng.integers(0, 4, (3, 5))]],
           grad=False),
    OpInfo("unique", lambda L, a: L.unique(a, return_counts=True)[1], make=lambda rng: [[rng.integers(0, 4, (7,))]],
           grad=False),
    OpInfo("unique", lambda L, a: L.cat(L.unique(a, dim=0, return_inverse=True, return_counts=True)[1:]),
           make=lambda rng: [[rng.integers(0, 2, (6, 2))]], grad=False),
    OpInfo("unique_consecutive", lambda L, a: L.cat(L.unique_consecutive(a, return_inverse=True,
                                                                         return_counts=True)),
           make=lambda rng: [[np.array([1, 1, 2, 2, 3, 1, 1, 2])]], grad=False),
    OpInfo("unique_consecutive", lambda L, a: a.unique_consecutive(dim=1),
           make=lambda rng: [[np.array([[1, 1, 2, 2], [3, 3, 1, 0]])]], grad=False),
    OpInfo("bincount", lambda L, a: L.bincount(a), make=lambda rng: [[rng.integers(0, 5, (10,))]], grad=False),
    OpInfo("bincount", lambda L, a, w: a.bincount(w, minlength=7),
           make=lambda rng: [[rng.integers(0, 5, (10,)), _g((10,), rng)]], grad=False),
]

OPS += [
    OpInfo("isin", lambda L, a, b: L.isin(a, b), make=lambda rng: [[rng.integers(0, 6, (3, 4)), np.array([1, 3, 9])]],
           grad=False),
    OpInfo("isin", lambda L, a: L.isin(a, 2, invert=True), make=lambda rng: [[rng.integers(0, 4, (5,))]], grad=False),
    OpInfo("isin", lambda L, b: L.isin(3, b), make=lambda rng: [[np.array([1, 3, 9])]], grad=False),
]
