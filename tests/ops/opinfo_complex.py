"""OpInfos for the complex-number ops. The registry test feeds real float tensors, so each entry builds its
complex values inside fn (complex(), view_as_complex()) and returns a real tensor; complex inputs, complex
upstream gradients and the write-through views are tested in tests/test_complex.py."""
from tests.ops.opinfo import OpInfo

P2 = [((3, 4), (3, 4)), ((3, 1), (4,))]


def _z(L, a, b):
    return L.complex(a, b)


def _write_real_views(L, a, b):
    y = _z(L, a, b) * 1
    y.real.mul_(b)
    y.imag[0] = a[0] * 3
    L.view_as_real(y)[1:, :, 1].add_(a[1:])
    return L.view_as_real(y * y)


def _write_complex_view(L, a, b):
    y = a * 1
    c = L.view_as_complex(y)
    c.mul_(L.view_as_complex(b * 1))
    return y * y


OPS = [
    OpInfo("complex", lambda L, a, b: L.view_as_real(_z(L, a, b) ** 2), P2),
    OpInfo("real", lambda L, a, b: L.real(_z(L, a, b) * _z(L, b, a)), P2),
    OpInfo("imag", lambda L, a, b: L.imag(_z(L, a, b) * _z(L, b, a)), P2),
    OpInfo("polar", lambda L, a, b: L.view_as_real(L.polar(a, b) ** 2), P2, domain=(0.1, 2.0)),
    OpInfo("angle", lambda L, a, b: L.angle(_z(L, a, b) * _z(L, b, a)), P2, domain=(0.3, 2.0)),
    OpInfo("angle", lambda L, a: L.angle(a), [((3, 4),)]),
    OpInfo("conj", lambda L, a, b: L.view_as_real(L.conj(_z(L, a, b)) * _z(L, b, a)), P2),
    OpInfo("conj_physical", lambda L, a, b: L.view_as_real(L.conj_physical(_z(L, a, b) ** 2)), P2),
    OpInfo("resolve_conj", lambda L, a, b: (L.resolve_conj(L.conj(_z(L, a, b))) * _z(L, b, a)).imag, P2,
           covers=["resolve_neg"]),
    OpInfo("is_conj", lambda L, a: a * (2.0 if L.is_complex(L.complex(a, a)) and not L.is_complex(a) else 1.0)
           * (3.0 if L.is_conj(a) or L.is_neg(a) else 1.0), [((3, 4),)], covers=["is_neg", "is_complex"]),
    OpInfo("view_as_real", lambda L, a, b: L.view_as_real(_z(L, a, b) * _z(L, a, b)), P2),
    OpInfo("view_as_complex", lambda L, a: L.view_as_real(L.view_as_complex(a) ** 3), [((3, 4, 2),), ((2,),)],
           noncontig=False),
    # reductions of complex values with real results
    OpInfo("var", lambda L, a, b: L.var(_z(L, a, b) * _z(L, b, a), 1), P2, covers=["var_mean"]),
    OpInfo("std", lambda L, a, b: L.std(_z(L, a, b) ** 2, 0, correction=0), P2, domain=(0.3, 2.0),
           covers=["std_mean"]),
    OpInfo("norm", lambda L, a, b: L.norm(_z(L, a, b) * _z(L, b, a), 3, dim=1), P2, domain=(0.3, 2.0)),
    OpInfo("linalg.vector_norm", lambda L, a, b: L.linalg.vector_norm(_z(L, a, b) ** 2), P2),
    OpInfo("linalg.matrix_norm", lambda L, a, b: L.linalg.matrix_norm(_z(L, a, b) ** 2, 1), [((3, 4), (3, 4))],
           domain=(0.3, 2.0)),
    # writes through real views of a complex tensor (and a complex view of a real one), as in torch's CopySlices
    OpInfo("real", lambda L, a, b: _write_real_views(L, a, b), [((3, 4), (3, 4))]),
    OpInfo("view_as_complex", lambda L, a, b: _write_complex_view(L, a, b), [((3, 4, 2), (3, 4, 2))],
           noncontig=False),
]

