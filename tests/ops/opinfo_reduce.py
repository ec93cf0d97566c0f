"""OpInfos for reductions, scans and sorting."""
import numpy as np

from tests.ops.opinfo import OpInfo

A = [((3, 4, 5),)]


def _first_of(r):
    return r[0]


def _ties(rng):
    return [[np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [5.0, 4.0, 5.0, 5.0]])]]


def _zeros(rng):
    a = rng.uniform(0.5, 2.0, size=(3, 5))
    b = a.copy()
    b[0, 1] = 0.0
    b[1, 2] = 0.0
    b[1, 4] = 0.0
    return [[a], [b]]


def _ints(rng):
    return [[rng.integers(-5, 5, size=(3, 4))], [rng.integers(0, 2, size=(3, 4)).astype(bool)]]


def _distinct(shape):
    def make(rng):
        n = int(np.prod(shape))
        return [[rng.permutation(n).reshape(shape) / n + rng.uniform(0, 1e-3, size=shape)]]
    return make


def _nans(rng):
    a = rng.uniform(-2, 2, size=(3, 4))
    a[0, 1] = np.nan
    a[2, :] = np.nan
    return [[a]]


OPS = [
    # sum / mean with tuples, negative dims, keepdim, integers and bools
    OpInfo("sum", lambda L, a: a.sum((-1, 0), keepdim=True), A),
    OpInfo("sum", lambda L, a: L.sum(a, dim=[]), A),
    OpInfo("sum", lambda L, a: a.sum(1), make=_ints),
    OpInfo("sum", lambda L, a: a.sum(), make=_ints),
    OpInfo("sum", lambda L, a: a.sum(dtype=L.float64), [((3, 4),)]),
    OpInfo("mean", lambda L, a: a.mean((0, -1), True), A),
    OpInfo("prod", lambda L, a: L.prod(a), make=_zeros),
    OpInfo("prod", lambda L, a: a.prod(1), make=_zeros),
    OpInfo("prod", lambda L, a: a.prod(-1, keepdim=True), make=_zeros),
    OpInfo("prod", lambda L, a: a.prod(0), [((3, 4),), ((),)], domain=(0.5, 1.5)),
    OpInfo("prod", lambda L, a: a.prod(1), make=_ints),
    OpInfo("nansum", lambda L, a: L.nansum(a), make=_nans),
    OpInfo("nansum", lambda L, a: a.nansum(1), make=_nans),
    OpInfo("nanmean", lambda L, a: L.nanmean(a), make=_nans, gradcheck=False),
    OpInfo("nanmean", lambda L, a: a.nanmean(1, keepdim=True), make=_nans, gradcheck=False),
    # max / min: full reduction (even split of ties), along a dim (values, indices)
    OpInfo("max", lambda L, a: L.max(a), A),
    OpInfo("max", lambda L, a: a.max(), make=_ties, gradcheck=False),
    OpInfo("max", lambda L, a: a.max(1), A),
    OpInfo("max", lambda L, a: a.max(dim=-1, keepdim=True).values, A),
    OpInfo("max", lambda L, a: a.max(1).indices, A, grad=False),
    OpInfo("max", lambda L, a, b: L.max(a, b), [((3, 4), (4,))]),
    OpInfo("max", lambda L, a: a.max(0), [((),)]),
    OpInfo("min", lambda L, a: L.min(a), A),
    OpInfo("min", lambda L, a: a.min(), make=_ties, gradcheck=False),
    OpInfo("min", lambda L, a: a.min(0), A),
    OpInfo("min", lambda L, a: a.min(2, True)[1], A, grad=False),
    OpInfo("amax", lambda L, a: L.amax(a, 1), make=_ties, gradcheck=False),
    OpInfo("amax", lambda L, a: a.amax((0, -1), keepdim=True), A),
    OpInfo("amax", lambda L, a: a.amax(), make=_ties, gradcheck=False),
    OpInfo("amin", lambda L, a: L.amin(a, 1), make=_ties, gradcheck=False),
    OpInfo("amin", lambda L, a: a.amin(-1), A),
    OpInfo("aminmax", lambda L, a: L.aminmax(a).min, A),
    OpInfo("aminmax", lambda L, a: L.aminmax(a, dim=1).max, A),
    OpInfo("argmax", lambda L, a: L.argmax(a), A),
    OpInfo("argmax", lambda L, a: a.argmax(1, keepdim=True), A),
    OpInfo("argmax", lambda L, a: a.argmax(0), make=_ties),
    OpInfo("argmin", lambda L, a: L.argmin(a, -1), A),
    OpInfo("argmin", lambda L, a: a.argmin(), A),
    OpInfo("argmin", lambda L, a: a.argmin(0), [((5,),)]),
    OpInfo("argmax", lambda L, a: L.argmax(a, -1), [((5,),)]),
    # var / std
    OpInfo("var", lambda L, a: L.var(a), A),
    OpInfo("var", lambda L, a: a.var(1), A),
    OpInfo("var", lambda L, a: a.var((0, 2), keepdim=True, correction=0), A),
    OpInfo("var", lambda L, a: a.var(1, unbiased=False), A),
    OpInfo("var", lambda L, a: a.var(False), A),
    OpInfo("std", lambda L, a: L.std(a), A),
    OpInfo("std", lambda L, a: a.std(-1, keepdim=True), A),
    OpInfo("std", lambda L, a: a.std(0, correction=2), A),
    OpInfo("var_mean", lambda L, a: L.var_mean(a, 1)[0], A),
    OpInfo("var_mean", lambda L, a: L.var_mean(a, 1, keepdim=True)[1], A),
    OpInfo("std_mean", lambda L, a: L.std_mean(a)[0], A),
    OpInfo("std_mean", lambda L, a: L.std_mean(a, (0, 1), correction=0)[1], A),
    # logsumexp, norm
    OpInfo("logsumexp", lambda L, a: L.logsumexp(a, 1), A),
    OpInfo("logsumexp", lambda L, a: a.logsumexp((0, 2), keepdim=True), A),
    OpInfo("logsumexp", lambda L, a: L.logsumexp(a, 0),
           make=lambda r: [[np.array([[1000.0, -1000.0], [999.0, -np.inf]])],
                           [np.array([[-np.inf], [-np.inf]])]],
           gradcheck=False, noncontig=False),
    OpInfo("logsumexp", lambda L, a: L.logsumexp(a, -1), make=lambda r: [[r.integers(-3, 3, (3, 4))]]),
    OpInfo("norm", lambda L, a: L.norm(a), A),
    OpInfo("norm", lambda L, a: a.norm(dim=1), A),
    OpInfo("norm", lambda L, a: a.norm(1), A),
    OpInfo("norm", lambda L, a: a.norm(1, dim=(0, 2), keepdim=True), A),
    OpInfo("norm", lambda L, a: a.norm(float("inf"), 1), A),
    OpInfo("norm", lambda L, a: a.norm(float("inf")), make=_ties, gradcheck=False),
    OpInfo("norm", lambda L, a: a.norm(3, -1), A),
    OpInfo("norm", lambda L, a: a.norm("fro", dim=(0, 1)), A),
    OpInfo("norm", lambda L, a: a.norm(0.5), [((3, 4),)], domain=(0.5, 2)),
    OpInfo("norm", lambda L, a: a.norm(), make=lambda r: [[np.zeros((2, 3))]], gradcheck=False),
    # all / any / count_nonzero
    OpInfo("all", lambda L, a: L.all(a > 0), A, covers=["any"]),
    OpInfo("all", lambda L, a: (a > -1.5).all(1), A),
    OpInfo("all", lambda L, a: a.all(0, keepdim=True), make=lambda r: [[r.integers(0, 3, (3, 4))],
                                                                       [r.integers(0, 3, (3, 4)).astype(np.uint8)]]),
    OpInfo("any", lambda L, a: (a > 1.5).any(-1), A),
    OpInfo("any", lambda L, a: a.any(), make=lambda r: [[r.integers(0, 2, (3, 4))],
                                                         [r.integers(0, 2, (3, 4)).astype(np.uint8)]]),
    OpInfo("count_nonzero", lambda L, a: L.count_nonzero(a), make=lambda r: [[r.integers(0, 3, (3, 4)).astype(float)]]),
    OpInfo("count_nonzero", lambda L, a: a.count_nonzero((0, 1)), make=lambda r: [[r.integers(0, 3, (2, 3, 4))]]),
    # scans
    OpInfo("cumsum", lambda L, a: L.cumsum(a, 1), A),
    OpInfo("cumsum", lambda L, a: a.cumsum(-1), [((4,),), ((),)]),
    OpInfo("cumsum", lambda L, a: a.cumsum(0), make=_ints),
    OpInfo("cumsum", lambda L, a: a.cumsum(0, dtype=L.float64), [((3, 4),)]),
    OpInfo("cumprod", lambda L, a: L.cumprod(a, 1), make=_zeros),
    OpInfo("cumprod", lambda L, a: a.cumprod(0), A, domain=(0.5, 1.5)),
    OpInfo("cumprod", lambda L, a: a.cumprod(-1), make=lambda r: [[np.array([[0.0, 2.0, 3.0, 0.0, 1.5],
                                                                             [2.0, 0.0, 0.0, 1.5, 2.0]])]]),
    OpInfo("cumprod", lambda L, a: a.cumprod(1), make=_ints),
    # sorting and selection
    OpInfo("sort", lambda L, a: L.sort(a), make=_distinct((3, 4, 5))),
    OpInfo("sort", lambda L, a: a.sort(1, descending=True)[0], make=_distinct((3, 4, 5))),
    OpInfo("sort", lambda L, a: a.sort(dim=0, stable=True)[1], make=_ties),
    OpInfo("sort", lambda L, a: L.sort(a, dim=1, descending=True, stable=True).indices, make=_ties),
    OpInfo("sort", lambda L, a: a.sort(descending=True)[0], make=lambda r: [[np.array([1.0, np.nan, -np.inf, 3.0])]],
           gradcheck=False),
    OpInfo("sort", lambda L, a: a.sort()[0], make=lambda r: [[np.array([1.0, np.nan, -np.inf, 3.0])]],
           gradcheck=False),
    OpInfo("argsort", lambda L, a: L.argsort(a, stable=True), make=_ties),
    OpInfo("argsort", lambda L, a: a.argsort(dim=0, descending=True, stable=True), make=_ties),
    OpInfo("msort", lambda L, a: L.msort(a), make=_distinct((4, 3))),
    OpInfo("topk", lambda L, a: L.topk(a, 2), make=_distinct((3, 4, 5))),
    OpInfo("topk", lambda L, a: a.topk(3, dim=0, largest=False).values, make=_distinct((4, 5))),
    OpInfo("topk", lambda L, a: a.topk(3, dim=1)[1], make=_distinct((4, 5))),
    OpInfo("topk", lambda L, a: a.topk(5, dim=1).values, make=_distinct((3, 100))),   # partition path
    OpInfo("topk", lambda L, a: a.topk(4, dim=0, largest=False)[1], make=_distinct((100, 3)), grad=False),
    OpInfo("topk", lambda L, a: a.topk(4, dim=0, largest=False, sorted=False)[0].sort(0)[0], make=_distinct((100, 3))),
    OpInfo("kthvalue", lambda L, a: L.kthvalue(a, 2), make=_distinct((3, 4, 5))),
    OpInfo("kthvalue", lambda L, a: a.kthvalue(3, 0, keepdim=True).values, make=_distinct((4, 5))),
    OpInfo("kthvalue", lambda L, a: a.kthvalue(1, 1).indices, make=_distinct((4, 5))),
    OpInfo("median", lambda L, a: L.median(a), make=_distinct((3, 4))),
    OpInfo("median", lambda L, a: a.median(), make=_ties, gradcheck=False),
    OpInfo("median", lambda L, a: a.median(1), make=_distinct((3, 4))),
    OpInfo("median", lambda L, a: a.median(0, keepdim=True).indices, make=_distinct((5, 4))),
    OpInfo("median", lambda L, a: a.median(1), make=lambda r: [[np.array([[1.0, np.nan, 3.0, np.nan, 0.0],
                                                                          [2.0, 1.0, 0.0, 5.0, 4.0]])]],
           gradcheck=False),
    OpInfo("median", lambda L, a: a.median(1).indices, make=lambda r: [[np.array([[1.0, np.nan, 3.0, np.nan, 0.0],
                                                                                  [2.0, 1.0, 0.0, 5.0, 4.0]])]]),
    OpInfo("median", lambda L, a: a.median(), make=lambda r: [[np.array([[1.0, np.nan, 3.0, np.nan, 0.0]])]],
           gradcheck=False),
]

OPS += [
    OpInfo("cummax", lambda L, a: L.cummax(a, 1), make=_distinct((3, 6))),
    OpInfo("cummax", lambda L, a: a.cummax(0)[1], make=_ties),
    OpInfo("cummax", lambda L, a: a.cummax(1).values, make=_ties, gradcheck=False),
    OpInfo("cummax", lambda L, a: L.cummax(a, 1), make=_nans, gradcheck=False),
    OpInfo("cummin", lambda L, a: L.cummin(a, -1), make=_distinct((3, 6))),
    OpInfo("cummin", lambda L, a: a.cummin(0)[1], make=_ties),
    OpInfo("logcumsumexp", lambda L, a: L.logcumsumexp(a, 1), A),
    OpInfo("logcumsumexp", lambda L, a: a.logcumsumexp(0),
           make=lambda r: [[np.array([[1000.0, -np.inf], [-1000.0, 3.0], [999.0, 2.0]])]], gradcheck=False),
    OpInfo("nanmedian", lambda L, a: L.nanmedian(a), make=_nans),
    OpInfo("nanmedian", lambda L, a: a.nanmedian(1), make=lambda r: [[_nans(r)[0][0][:2]]]),
    OpInfo("nanmedian", lambda L, a: a.nanmedian(1, keepdim=True).indices, make=lambda r: [[_nans(r)[0][0][:2]]]),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.3), make=_distinct((3, 5))),
    OpInfo("quantile", lambda L, a: a.quantile(0.75, dim=1, keepdim=True), make=_distinct((3, 5))),
    OpInfo("quantile", lambda L, a: L.quantile(a, L.tensor([0.1, 0.5, 1.0], dtype=a.dtype), dim=0),
           make=_distinct((4, 3))),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.4, dim=1, interpolation="lower"), make=_distinct((3, 6))),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.4, dim=1, interpolation="higher"), make=_distinct((3, 6))),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.3, dim=1, interpolation="nearest"), make=_distinct((3, 6))),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.3, dim=1, interpolation="midpoint"), make=_distinct((3, 6))),
    OpInfo("quantile", lambda L, a: L.quantile(a, 0.5, dim=1), make=_nans, gradcheck=False),
    OpInfo("nanquantile", lambda L, a: L.nanquantile(a, 0.5, dim=1), make=_nans, gradcheck=False),
    OpInfo("nanquantile", lambda L, a: L.nanquantile(a, 0.2), make=_nans, gradcheck=False),
    OpInfo("dist", lambda L, a, b: L.dist(a, b), [((3, 4), (3, 4)), ((3, 4), (4,))]),
    OpInfo("dist", lambda L, a, b: L.dist(a, b, 1), [((3, 4), (3, 4))]),
]


def _modal(rng):
    return [[rng.integers(0, 4, size=(3, 7)).astype(float)], [rng.integers(0, 3, size=(5, 2, 4)).astype(float)]]


OPS += [
    OpInfo("mode", lambda L, a: L.mode(a), make=_modal, gradcheck=False),
    OpInfo("mode", lambda L, a: a.mode(0).indices, make=_modal),
    OpInfo("mode", lambda L, a: a.mode(1, keepdim=True)[0], make=_modal, gradcheck=False),
    OpInfo("mode", lambda L, a: a.mode(-1)[1], make=lambda r: [[r.integers(0, 4, size=(3, 7))]]),
]
