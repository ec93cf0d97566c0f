"""OpInfos for disttensor/ops/extra_math.py: histc, trapezoid, vander, nextafter, frexp, ldexp, cov, gradient,
frombuffer and the signal windows (constructors take no tensor inputs: their samples are empty)."""
import numpy as np

from tests.ops.opinfo import OpInfo

_NO_INPUT = dict(make=lambda rng: [[]], grad=False, noncontig=False)


def _dev(L):
    """The device constants go to: cpu here, cuda under tests/test_fake_cuda.py (its L.zeros defaults there)."""
    return L.zeros(0).device


def _distinct(rng):
    """Coordinates with distinct, increasing values (x for trapezoid / gradient)."""
    return np.cumsum(rng.uniform(0.3, 1.0, size=5))


OPS = [
    OpInfo("histc", lambda L, a: L.histc(a, bins=7), [((40,),), ((3, 5),)], grad=False),
    OpInfo("histc", lambda L, a: a.histc(5, min=-1, max=1), [((50,),)], grad=False),
    OpInfo("trapezoid", lambda L, y: L.trapezoid(y), [((4, 5),), ((6,),)], covers=["trapz"]),
    OpInfo("trapezoid", lambda L, y: L.trapezoid(y, dx=0.5, dim=0), [((4, 5),)]),
    OpInfo("trapezoid", lambda L, y, x: L.trapezoid(y, x), make=lambda rng: [[rng.uniform(-2, 2, (3, 5)), _distinct(rng)]]),
    OpInfo("trapezoid", lambda L, y, x: L.trapz(y, x, dim=0),
           make=lambda rng: [[rng.uniform(-2, 2, (4, 3)), rng.uniform(-2, 2, (4, 3))]]),
    OpInfo("cumulative_trapezoid", lambda L, y: L.cumulative_trapezoid(y, dx=2.0), [((3, 5),)]),
    OpInfo("cumulative_trapezoid", lambda L, y, x: L.cumulative_trapezoid(y, x),
           make=lambda rng: [[rng.uniform(-2, 2, (2, 5)), _distinct(rng)]]),
    # torch 2.13's own vander backward raises (an in-place version error inside it): forward only here; the
    # gradient is checked by gradcheck and an analytic formula in tests/test_torch_namespace_extra.py
    OpInfo("vander", lambda L, x: L.vander(x), [((4,),)], grad=False),
    OpInfo("vander", lambda L, x: L.vander(x, 3, increasing=True), [((5,),)], grad=False),
    OpInfo("nextafter", lambda L, a, b: L.nextafter(a, b), [((3, 4), (3, 4)), ((3, 1), (4,))], gradcheck=False),
    OpInfo("frexp", lambda L, a: L.frexp(a)[0], [((3, 4),)], gradcheck=False),
    OpInfo("frexp", lambda L, a: a.frexp()[1], [((3, 4),)], grad=False),
    OpInfo("ldexp", lambda L, a, b: L.ldexp(a, b), [((3, 4), (3, 4)), ((3, 1), (4,))]),
    OpInfo("cov", lambda L, a: L.cov(a), [((3, 6),), ((7,),)]),
    OpInfo("cov", lambda L, a, w: L.cov(a, correction=0, aweights=w),
           make=lambda rng: [[rng.uniform(-2, 2, (2, 5)), rng.uniform(0.5, 2, 5)]]),
    OpInfo("corrcoef", lambda L, a: L.corrcoef(a), [((3, 6),)]),
    OpInfo("corrcoef", lambda L, a: a.corrcoef(), [((6,),)]),
    OpInfo("gradient", lambda L, a: L.gradient(a)[0], [((5, 4),)]),
    OpInfo("gradient", lambda L, a: L.gradient(a, spacing=0.5, dim=1, edge_order=2)[0], [((3, 6),)]),
    OpInfo("gradient", lambda L, a, x: L.gradient(a, spacing=[x], dim=1, edge_order=2)[0],
           make=lambda rng: [[rng.uniform(-2, 2, (3, 5)), _distinct(rng)]]),
    OpInfo("gradient", lambda L, a, x: L.gradient(a, spacing=(x,), dim=0)[0],
           make=lambda rng: [[rng.uniform(-2, 2, (5, 2)), _distinct(rng)]]),
    OpInfo("frombuffer", lambda L: L.frombuffer(bytearray(np.arange(6, dtype=np.float32).tobytes()),
                                                dtype=L.float32, offset=4, count=3).to(_dev(L)), **_NO_INPUT),
    OpInfo("hann_window", lambda L: L.hann_window(8, device=_dev(L)), **_NO_INPUT),
    OpInfo("hann_window", lambda L: L.hann_window(7, periodic=False, dtype=L.float64, device=_dev(L)), **_NO_INPUT),
    OpInfo("hamming_window", lambda L: L.hamming_window(9, False, alpha=0.5, beta=0.4, device=_dev(L)), **_NO_INPUT),
    OpInfo("hamming_window", lambda L: L.hamming_window(6, device=_dev(L)), **_NO_INPUT),
    OpInfo("bartlett_window", lambda L: L.bartlett_window(7, device=_dev(L)), **_NO_INPUT),
    OpInfo("bartlett_window", lambda L: L.bartlett_window(6, periodic=False, device=_dev(L)), **_NO_INPUT),
    OpInfo("blackman_window", lambda L: L.blackman_window(10, device=_dev(L)), **_NO_INPUT),
    OpInfo("blackman_window", lambda L: L.blackman_window(5, periodic=False, dtype=L.float64, device=_dev(L)), **_NO_INPUT),
    OpInfo("kaiser_window", lambda L: L.kaiser_window(9, device=_dev(L)), **_NO_INPUT),
    OpInfo("kaiser_window", lambda L: L.kaiser_window(8, False, beta=5.0, dtype=L.float64, device=_dev(L)), **_NO_INPUT),
]
