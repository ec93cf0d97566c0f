"""OpInfos for linear algebra: products, einsum family, and the disttensor.linalg namespace."""
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



def _wc(rng, *shape):
    """Well-conditioned square matrices (diagonally dominant)."""
    n = shape[-1]
    return rng.uniform(-1, 1, shape) + 3 * np.eye(n)


def _spd(L, a):
    return a @ a.mT + a.shape[-1] * L.eye(a.shape[-1], dtype=a.dtype)


def _sq(x):
    return x * x  # invariant to the sign of singular/eigen vectors


EIN = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 3, 4), (4, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("bii->b", [(2, 3, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ji", [(3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("i...->...", [(3, 2, 2)]),
    ("...i,...i->...", [(2, 3, 4), (3, 4)]),
    ("ij,ij->ij", [(1, 4), (3, 4)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
]

OPS = [
    OpInfo("matmul", lambda L, a, b: L.matmul(a, b),
           [((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 1, 4, 5)), ((4,), (2, 3, 4, 5)), ((2, 3, 4, 5), (5,)),
            ((1, 3, 4), (2, 4, 5)), ((2, 3, 4), (1, 4, 5)), ((3, 1, 2, 4), (1, 2, 4, 3))]),
    OpInfo("mm", lambda L, a, b: L.mm(a, b), [((3, 4), (4, 5)), ((1, 4), (4, 1))]),
    OpInfo("bmm", lambda L, a, b: a.bmm(b), [((2, 3, 4), (2, 4, 5))]),
    OpInfo("mv", lambda L, a, b: L.mv(a, b), [((3, 4), (4,))]),
    OpInfo("dot", lambda L, a, b: L.dot(a, b), [((4,), (4,))]),
    OpInfo("vdot", lambda L, a, b: L.vdot(a, b), [((4,), (4,))]),
    OpInfo("outer", lambda L, a, b: L.outer(a, b), [((3,), (4,))], covers=["ger"]),
    OpInfo("outer", lambda L, a, b: a.ger(b), [((3,), (2,))]),
    OpInfo("inner", lambda L, a, b: L.inner(a, b), [((3,), (3,)), ((2, 3), (4, 3)), ((2, 2, 3), (3,)), ((), (2, 3))]),
    OpInfo("addmm", lambda L, c, a, b: L.addmm(c, a, b), [((3, 5), (3, 4), (4, 5)), ((5,), (3, 4), (4, 5))]),
    OpInfo("addmm", lambda L, c, a, b: c.addmm(a, b, beta=0.5, alpha=-2.0), [((3, 1), (3, 4), (4, 5))]),
    OpInfo("addmm", lambda L, c, a, b: L.addmm(c, a, b, beta=0), [((3, 5), (3, 4), (4, 5))]),
    OpInfo("addmv", lambda L, c, a, b: L.addmv(c, a, b, alpha=2), [((3,), (3, 4), (4,)), ((1,), (3, 4), (4,))]),
    OpInfo("addbmm", lambda L, c, a, b: L.addbmm(c, a, b, beta=2), [((3, 5), (2, 3, 4), (2, 4, 5))]),
    OpInfo("baddbmm", lambda L, c, a, b: L.baddbmm(c, a, b, alpha=0.5), [((2, 3, 5), (2, 3, 4), (2, 4, 5)),
                                                                          ((3, 5), (2, 3, 4), (2, 4, 5))]),
    OpInfo("addr", lambda L, c, a, b: L.addr(c, a, b), [((3, 4), (3,), (4,))]),
    *[OpInfo("einsum", (lambda e: lambda L, *xs: L.einsum(e, *xs))(eq), [tuple(shapes)]) for eq, shapes in EIN],
    OpInfo("einsum", lambda L, a, b: L.einsum("ij,jk", [a, b]), [((3, 4), (4, 2))]),
    OpInfo("tensordot", lambda L, a, b: L.tensordot(a, b), [((2, 3, 4), (3, 4, 5))]),
    OpInfo("tensordot", lambda L, a, b: L.tensordot(a, b, dims=([0, 2], [2, 1])), [((2, 3, 4), (5, 4, 2))]),
    OpInfo("tensordot", lambda L, a, b: L.tensordot(a, b, dims=0), [((2, 3), (4,))]),
    OpInfo("kron", lambda L, a, b: L.kron(a, b), [((2, 3), (3, 2)), ((2,), (3, 2)), ((2, 1, 2), (3,))]),
    OpInfo("cross", lambda L, a, b: L.cross(a, b, dim=1), [((2, 3), (2, 3)), ((4, 3, 2), (1, 3, 2))]),
    OpInfo("cross", lambda L, a, b: a.cross(b, -1), [((2, 3), (2, 3))]),
    OpInfo("trace", lambda L, a: L.trace(a), [((3, 3),), ((3, 5),)]),
    OpInfo("trace", lambda L, a: a.trace(), [((4, 2),)]),
    # torch.linalg
    OpInfo("linalg.inv", lambda L, a: L.linalg.inv(a), make=lambda r: [[_wc(r, 3, 3)], [_wc(r, 2, 3, 3)]],
           covers=["inverse"]),
    OpInfo("inverse", lambda L, a: L.inverse(a), make=lambda r: [[_wc(r, 4, 4)]]),
    OpInfo("det", lambda L, a: L.linalg.det(a), make=lambda r: [[_wc(r, 3, 3)], [_wc(r, 2, 3, 3)]]),
    OpInfo("det", lambda L, a: a.det(), make=lambda r: [[_wc(r, 2, 2)]]),
    # singular: the gradient is the adjugate (PyTorch returns zeros for some 2x2 singular inputs, so 3x3 here)
    OpInfo("det", lambda L, a: L.det(a), make=lambda r: [[np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0, 1, 5]])]],
           gradcheck=False),
    OpInfo("slogdet", lambda L, a: L.linalg.slogdet(a)[1], make=lambda r: [[_wc(r, 3, 3)], [-_wc(r, 2, 3, 3)]]),
    OpInfo("slogdet", lambda L, a: L.slogdet(a).sign, make=lambda r: [[_wc(r, 3, 3)], [-_wc(r, 3, 3)]], grad=False),
    OpInfo("logdet", lambda L, a: L.logdet(a), make=lambda r: [[_wc(r, 3, 3)], [_wc(r, 2, 2, 2)]]),
    OpInfo("linalg.solve", lambda L, a, b: L.linalg.solve(a, b),
           make=lambda r: [[_wc(r, 3, 3), r.standard_normal((3, 2))], [_wc(r, 3, 3), r.standard_normal(3)],
                           [_wc(r, 2, 3, 3), r.standard_normal((2, 3))],
                           [_wc(r, 2, 3, 3), r.standard_normal((3, 4))],
                           [_wc(r, 3, 3), r.standard_normal((2, 3, 1))]]),
    OpInfo("linalg.solve", lambda L, a, b: L.linalg.solve(a, b, left=False),
           make=lambda r: [[_wc(r, 3, 3), r.standard_normal((2, 3))]]),
    OpInfo("linalg.cholesky", lambda L, a: L.linalg.cholesky(_spd(L, a)), [((3, 3),), ((2, 4, 4),)]),
    OpInfo("linalg.cholesky", lambda L, a: L.linalg.cholesky(_spd(L, a), upper=True), [((3, 3),)]),
    OpInfo("cholesky", _quiet(lambda L, a: L.cholesky(_spd(L, a))), [((3, 3),)]),
    OpInfo("linalg.qr", lambda L, a: L.linalg.qr(a)[0], [((4, 3),), ((3, 3),), ((2, 5, 3),)], atol32=1e-3),
    OpInfo("linalg.qr", lambda L, a: L.linalg.qr(a).R, [((4, 3),), ((3, 3),), ((3, 5),)], atol32=1e-3),
    OpInfo("linalg.qr", lambda L, a: L.linalg.qr(a)[0] * 2 + L.linalg.qr(a)[1][..., :1, :1],
           [((3, 5),)], atol32=1e-3),
    OpInfo("linalg.qr", lambda L, a: L.linalg.qr(a, mode="complete")[0], [((4, 3),)], grad=False),
    OpInfo("qr", _quiet(lambda L, a: L.qr(a)[1]), [((4, 3),)], atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a: L.linalg.svd(a, full_matrices=False)[1], [((4, 3),), ((3, 5),)]),
    OpInfo("linalg.svd", lambda L, a: _sq(L.linalg.svd(a, full_matrices=False)[0]), [((4, 3),), ((3, 5),)],
           atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a: _sq(L.linalg.svd(a, full_matrices=False).Vh), [((4, 3),), ((3, 5),)],
           atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a: _sq(L.linalg.svd(a)[0]), [((4, 3),)], grad=False),
    # full_matrices=True: the columns beyond min(m, n) are not unique and get no gradient (as in torch)
    OpInfo("linalg.svd", lambda L, a: _sq(L.linalg.svd(a)[0][..., :3]) + L.linalg.svd(a)[1], [((4, 3),)],
           atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a: _sq(L.linalg.svd(a).Vh[..., :3, :]), [((3, 5),)], atol32=1e-3),
    OpInfo("svd", lambda L, a: _sq(L.svd(a)[2]), [((4, 3),)], atol32=1e-3),
    OpInfo("svd", lambda L, a: L.svd(a)[1], [((2, 4, 3),)]),
    OpInfo("linalg.svdvals", lambda L, a: L.linalg.svdvals(a), [((4, 3),), ((2, 3, 3),)]),
    OpInfo("linalg.eigh", lambda L, a: L.linalg.eigh(a + a.mT)[0], [((3, 3),), ((2, 4, 4),)]),
    OpInfo("linalg.eigh", lambda L, a: _sq(L.linalg.eigh(a + a.mT).eigenvectors), [((3, 3),), ((2, 4, 4),)],
           atol32=1e-3),
    OpInfo("linalg.eigvalsh", lambda L, a: L.linalg.eigvalsh(a + a.mT), [((3, 3),)]),
    OpInfo("linalg.pinv", lambda L, a: L.linalg.pinv(a), [((4, 3),), ((3, 5),), ((3, 3),)], atol32=1e-3),
    OpInfo("pinverse", lambda L, a: L.pinverse(a), [((4, 3),)], atol32=1e-3),
    OpInfo("matrix_power", lambda L, a: L.linalg.matrix_power(a, 3), [((3, 3),), ((2, 3, 3),)]),
    OpInfo("matrix_power", lambda L, a: a.matrix_power(0), [((3, 3),)]),
    OpInfo("matrix_power", lambda L, a: L.matrix_power(a, -2), make=lambda r: [[_wc(r, 3, 3)]]),
    OpInfo("linalg.matrix_rank", lambda L, a: L.linalg.matrix_rank(a @ a.mT), [((4, 2),), ((2, 3, 3),)],
           grad=False),
    OpInfo("linalg.vector_norm", lambda L, a: L.linalg.vector_norm(a), [((3, 4),), ((),)]),
    *[OpInfo("linalg.vector_norm", (lambda o: lambda L, a: L.linalg.vector_norm(a, o, dim=1))(o), [((3, 4),)])
      for o in (1, 3, 0.5, float("inf"), float("-inf"))],
    OpInfo("linalg.vector_norm", lambda L, a: L.linalg.vector_norm(a, 0, dim=-1), [((3, 4),)], grad=False),
    OpInfo("linalg.vector_norm", lambda L, a: L.linalg.vector_norm(a, 2, dim=(0, 2), keepdim=True), [((3, 4, 2),)]),
    OpInfo("linalg.vector_norm", lambda L, a: L.linalg.vector_norm(a, float("inf")),
           make=lambda r: [[np.array([1.0, -3.0, 3.0, 2.0])]], gradcheck=False),
    *[OpInfo("linalg.matrix_norm", (lambda o: lambda L, a: L.linalg.matrix_norm(a, o))(o), [((3, 4),), ((2, 3, 3),)])
      for o in ("fro", "nuc", 2, -2, 1, -1, float("inf"), float("-inf"))],
    OpInfo("linalg.matrix_norm", lambda L, a: L.linalg.matrix_norm(a, 1, dim=(2, 0), keepdim=True), [((3, 4, 2),)]),
    OpInfo("linalg.matrix_norm", lambda L, a: L.linalg.matrix_norm(a, "nuc", keepdim=True), [((2, 3, 4),)]),
    OpInfo("linalg.norm", lambda L, a: L.linalg.norm(a), [((3, 4),), ((2, 3, 4),)]),
    OpInfo("linalg.norm", lambda L, a: L.linalg.norm(a, 1), [((3, 4),), ((4,),)]),
    OpInfo("linalg.norm", lambda L, a: L.linalg.norm(a, dim=1), [((3, 4),)]),
    OpInfo("linalg.norm", lambda L, a: L.linalg.norm(a, "fro", dim=(0, 1)), [((3, 4, 2),)]),
    OpInfo("linalg.norm", lambda L, a: L.linalg.norm(a, float("inf"), dim=(-1, -2), keepdim=True), [((2, 3, 4),)]),
    OpInfo("linalg.multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), [((2, 3), (3, 4), (4, 2))]),
    OpInfo("linalg.vecdot", lambda L, a, b: L.linalg.vecdot(a, b), [((2, 3), (3,))]),
    OpInfo("linalg.cross", lambda L, a, b: L.linalg.cross(a, b), [((2, 3), (2, 3)), ((1, 3), (4, 3))]),
]

OPS += [
    OpInfo("cdist", lambda L, a, b: L.cdist(a, b), [((3, 4), (5, 4)), ((2, 3, 2), (2, 4, 2))]),
    OpInfo("cdist", lambda L, a, b: L.cdist(a, b, p=1), [((3, 4), (5, 4))]),
    OpInfo("cdist", lambda L, a, b: L.cdist(a, b, p=float("inf")), [((3, 4), (2, 4))]),
]

OPS += [
    OpInfo("einsum", lambda L, a, b: L.einsum(a, [0, 1], b, [1, 2], [0, 2]), [((3, 4), (4, 5))]),
    OpInfo("einsum", lambda L, a, b: L.einsum(a, [Ellipsis, 1], b, [1]), [((2, 3, 4), (4,))]),
]

OPS += [
    OpInfo("chain_matmul", lambda L, a, b, c: L.chain_matmul(a, b, c), [((2, 3), (3, 4), (4, 2))]),
    OpInfo("linalg.solve_triangular", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True),
           make=lambda r: [[_wc(r, 3, 3), r.standard_normal((3, 2))]]),
    OpInfo("linalg.solve_triangular", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False, left=False,
                                                                                  unitriangular=True),
           make=lambda r: [[_wc(r, 3, 3), r.standard_normal((2, 3))]]),
    OpInfo("linalg.lstsq", lambda L, a, b: L.linalg.lstsq(a, b).solution, [((5, 3), (5, 2))], atol32=1e-3),
    OpInfo("cholesky_solve", lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(_spd(L, a))),
           [((3, 2), (3, 3))]),
    OpInfo("cholesky_solve", lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(_spd(L, a), upper=True), True),
           [((3, 2), (3, 3))]),
    OpInfo("cholesky_inverse", lambda L, a: L.cholesky_inverse(L.linalg.cholesky(_spd(L, a))), [((3, 3),)]),
]

OPS += [
    OpInfo("einsum", lambda L, a, b, c: L.einsum("ij,jk,k->i", a, b, c), [((3, 4), (4, 5), (5,))]),
    OpInfo("einsum", lambda L, a, b, c, d: L.einsum("ab,bc,cd,de->ae", a, b, c, d),
           [((2, 3), (3, 4), (4, 2), (2, 3))]),
    OpInfo("einsum", lambda L, a, b, c: L.einsum("ii,ij,j->", a, b, c), [((3, 3), (3, 4), (4,))]),
    OpInfo("einsum", lambda L, a, b, c: L.einsum("bi,bj,bk->bijk", a, b, c), [((2, 3), (2, 2), (2, 4))]),
]


# Complex inputs: built from two real tensors (complex(a, b)), so the float32/float64 runs compare complex64/
# complex128 gradients with torch and the float64 gradcheck checks the conjugate (Wirtinger) convention through
# the real parametrisation. Singular/eigen vectors enter through phase-invariant |x|^2 (tests/test_complex_linalg.py
# has more cases).
def _z(L, a, b):
    return L.complex(a, b)


def _r(L, z):
    return L.view_as_real(z)


def _abs2(z):
    return z.real * z.real + z.imag * z.imag


def _hpd(L, z):
    return z @ z.mT.conj() + z.shape[-1] * L.eye(z.shape[-1], dtype=z.dtype)


def _herm(L, z):
    return z + z.mT.conj()


def _wc2(r, *shape):
    return [_wc(r, *shape), r.uniform(-1, 1, shape)]


CPLX = [((4, 3), (4, 3)), ((2, 3, 5), (2, 3, 5))]
SQ = [((3, 3), (3, 3)), ((2, 3, 3), (2, 3, 3))]
OPS += [
    OpInfo("linalg.inv", lambda L, a, b: _r(L, L.linalg.inv(_z(L, a, b))), make=lambda r: [_wc2(r, 3, 3)]),
    OpInfo("det", lambda L, a, b: _r(L, L.linalg.det(_z(L, a, b))), make=lambda r: [_wc2(r, 3, 3), _wc2(r, 2, 3, 3)]),
    OpInfo("slogdet", lambda L, a, b: L.linalg.slogdet(_z(L, a, b)).logabsdet, make=lambda r: [_wc2(r, 3, 3)]),
    OpInfo("slogdet", lambda L, a, b: _r(L, L.linalg.slogdet(_z(L, a, b)).sign), make=lambda r: [_wc2(r, 3, 3)]),
    OpInfo("logdet", lambda L, a, b: _r(L, L.logdet(_z(L, a, b))), make=lambda r: [_wc2(r, 2, 3, 3)]),
    OpInfo("linalg.solve", lambda L, a, b, c: _r(L, L.linalg.solve(_z(L, a, b), _z(L, c, c * 2))),
           make=lambda r: [_wc2(r, 3, 3) + [r.standard_normal((3, 2))]]),
    OpInfo("linalg.cholesky", lambda L, a, b: _r(L, L.linalg.cholesky(_hpd(L, _z(L, a, b)))), SQ),
    OpInfo("linalg.cholesky", lambda L, a, b: _r(L, L.linalg.cholesky(_hpd(L, _z(L, a, b)), upper=True)), SQ[:1]),
    OpInfo("linalg.qr", lambda L, a, b: _r(L, L.linalg.qr(_z(L, a, b)).Q), CPLX, atol32=1e-3),
    OpInfo("linalg.qr", lambda L, a, b: _r(L, L.linalg.qr(_z(L, a, b)).R), CPLX, atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a, b: L.linalg.svd(_z(L, a, b), full_matrices=False).S, CPLX),
    OpInfo("linalg.svd", lambda L, a, b: _abs2(L.linalg.svd(_z(L, a, b), full_matrices=False).U), CPLX,
           atol32=1e-3),
    OpInfo("linalg.svd", lambda L, a, b: _abs2(L.linalg.svd(_z(L, a, b), full_matrices=False).Vh), CPLX,
           atol32=1e-3),
    OpInfo("linalg.svdvals", lambda L, a, b: L.linalg.svdvals(_z(L, a, b)), CPLX),
    OpInfo("linalg.eigh", lambda L, a, b: L.linalg.eigh(_herm(L, _z(L, a, b))).eigenvalues, SQ),
    OpInfo("linalg.eigh", lambda L, a, b: _abs2(L.linalg.eigh(_herm(L, _z(L, a, b))).eigenvectors), SQ,
           atol32=1e-3),
    OpInfo("linalg.eigvalsh", lambda L, a, b: L.linalg.eigvalsh(_herm(L, _z(L, a, b))), SQ[:1]),
    OpInfo("linalg.pinv", lambda L, a, b: _r(L, L.linalg.pinv(_z(L, a, b))), CPLX, atol32=1e-3),
    OpInfo("svd", lambda L, a, b: _r(L, (lambda s: (s.U * s.S.to(s.U.dtype)) @ s.V.mT.conj())(L.svd(_z(L, a, b)))),
           CPLX[:1], atol32=1e-3),
    OpInfo("cholesky_inverse", lambda L, a, b: _r(L, L.cholesky_inverse(L.linalg.cholesky(_hpd(L, _z(L, a, b))))),
           SQ[:1]),
    OpInfo("linalg.vecdot", lambda L, a, b: _r(L, L.linalg.vecdot(_z(L, a, b), _z(L, b, a * 2))), [((2, 3), (2, 3))]),
]
