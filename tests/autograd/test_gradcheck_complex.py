"""gradcheck on complex inputs and outputs, against torch 2.13's gradcheck: correct complex ops pass, and a
custom Function with a wrong complex backward (a missing conj) fails in both libraries."""
import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")


def _c(rng, shape):
    return rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)


def _inputs(L, arrays):
    return tuple(L.tensor(a, dtype=L.complex128 if np.iscomplexobj(a) else L.float64, requires_grad=True)
                 for a in arrays)


CORRECT = {
    "mul": (lambda L, a, b: a * b, [(3,), (3,)]),
    "matmul": (lambda L, a, b: a @ b, [(2, 3), (3, 2)]),
    "exp": (lambda L, a: L.exp(a), [(4,)]),
    "abs": (lambda L, a: L.abs(a), [(4,)]),                 # complex in, real out
    "inv": (lambda L, a: L.linalg.inv(a), [(3, 3)]),
    "real_times_complex": (lambda L, x, z: x * z, ["real(3,)", (3,)]),  # real in, complex out
    "sum_sq_abs": (lambda L, a: (a * a.conj()).real.sum(), [(3,)]),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_gradcheck_correct_complex_ops_pass(name):
    fn, shapes = CORRECT[name]
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-1, 1, int(s[5:-2])) if isinstance(s, str) else _c(rng, s) for s in shapes]
    if name == "inv":
        arrays[0] = arrays[0] + 3 * np.eye(3)
    assert torch.autograd.gradcheck(lambda *a: fn(torch, *a), _inputs(torch, arrays))
    assert dt.autograd.gradcheck(lambda *a: fn(dt, *a), _inputs(dt, arrays))


def _square_fn(L, correct):
    """z -> z * z; the correct backward is g * conj(2 z)."""
    class Square(L.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            return g * (2 * z).conj() if correct else g * 2 * z
    return Square.apply


def _abs2_fn(L, correct):
    """z -> |z|^2 (real output); the correct backward is g * 2 z."""
    class Abs2(L.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return (z * z.conj()).real

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            return g * 2 * z if correct else g * 2 * z.conj()
    return Abs2.apply


def _scale_fn(L, correct):
    """x (real) -> c x (complex output); the correct backward is real(conj(c) g)."""
    c = 0.5 + 2j

    class Scale(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * c

        @staticmethod
        def backward(ctx, g):
            return (g * (np.conj(c) if correct else c)).real
    return Scale.apply


FUNCTIONS = {"square": (_square_fn, True), "abs2": (_abs2_fn, True), "real_to_complex": (_scale_fn, False)}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("correct", [True, False])
def test_gradcheck_custom_function_matches_torch(name, correct):
    make, complex_in = FUNCTIONS[name]
    rng = np.random.default_rng(1)
    a = _c(rng, (4,)) if complex_in else rng.uniform(-1, 1, 4)
    expected = torch.autograd.gradcheck(make(torch, correct), _inputs(torch, [a]), raise_exception=False)
    assert expected is correct  # torch itself catches the wrong backward
    got = dt.autograd.gradcheck(make(dt, correct), _inputs(dt, [a]), raise_exception=False)
    assert got is expected
    if not correct:
        with pytest.raises(dt.autograd.GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
            dt.autograd.gradcheck(make(dt, correct), _inputs(dt, [a]))


def test_gradcheck_complex_output_names_the_part():
    """A backward that drops the imaginary part of the output's gradient fails the imaginary-part check."""
    class DropImag(dt.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            return z * 2

        @staticmethod
        def backward(ctx, g):
            return g.real * 2 + 0j

    z = dt.tensor(_c(np.random.default_rng(2), (3,)), requires_grad=True)
    with pytest.raises(dt.autograd.GradcheckError, match="While considering the imaginary part of complex outputs"):
        dt.autograd.gradcheck(DropImag.apply, (z,))


def test_gradcheck_real_still_catches_wrong_backward():
    class Wrong(dt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = dt.tensor(np.random.default_rng(3).uniform(-1, 1, 4), dtype=dt.float64, requires_grad=True)
    assert dt.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    assert dt.autograd.gradcheck(lambda x: x * x, (x,))
