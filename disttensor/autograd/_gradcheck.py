"""gradcheck: compare analytical gradients with central finite differences (use float64 inputs).

Complex numbers follow torch's semantics: a complex output is checked as two real functions, its real
and its imaginary part; a complex input is perturbed in its real and its imaginary part separately, and
the analytical gradient (the conjugate Wirtinger gradient torch's backward returns, dL/dRe + i dL/dIm
for a real L) is compared with d/dRe + i d/dIm of the finite differences.
"""
import numpy as np


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, fast_mode=False, **kwargs):
    from ..tensor import Tensor, _new_tensor
    from . import grad as autograd_grad
    from .grad_mode import no_grad
    inputs = _as_tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in diff:
        if inputs[i].dtype.name not in ("float64", "complex128"):
            import warnings
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}, not float64; the check may be imprecise")
    outs = _as_tuple(func(*inputs))
    for oi, out in enumerate(outs):
        if not isinstance(out, Tensor) or not out.requires_grad:
            continue
        o = out._data
        out_complex = np.iscomplexobj(o)
        rng = np.random.default_rng(oi)
        # one random projection per output keeps the check O(inputs) instead of O(inputs * outputs).
        # L = sum(v * real(out)) has grad_output v; L = sum(v * imag(out)) has grad_output 1j * v.
        v = rng.standard_normal(o.shape)
        parts = [("imaginary", np.imag, 1j * v), ("real", np.real, v)] if out_complex else [(None, None, v)]
        analytical = [autograd_grad([out], [inputs[i] for i in diff], grad_outputs=[_new_tensor(g.astype(o.dtype))],
                                    retain_graph=True, allow_unused=True) for _, _, g in parts]
        fd_dtype = np.complex128 if out_complex else np.float64
        for k, i in enumerate(diff):
            x = inputs[i]._data
            in_complex = np.iscomplexobj(x)
            # a complex input is moved along its real and its imaginary axis; num = d/dRe + 1j * d/dIm
            steps = (1, 1j) if in_complex else (1,)
            nums = [np.zeros(x.shape, dtype=np.complex128 if in_complex else np.float64) for _ in parts]
            with no_grad():
                for idx in np.ndindex(*x.shape):
                    orig = x[idx].copy()
                    for step in steps:
                        x[idx] = orig + eps * step
                        # astype copies: an output that is a view of the input must not change under us
                        fp = _as_tuple(func(*inputs))[oi]._data.astype(fd_dtype)
                        x[idx] = orig - eps * step
                        fm = _as_tuple(func(*inputs))[oi]._data.astype(fd_dtype)
                        x[idx] = orig
                        d = (fp - fm) / (2 * eps)
                        for num, (_, take, _) in zip(nums, parts):
                            num[idx] += step * np.sum((d if take is None else take(d)) * v)
            for num, (part, _, _), grads in zip(nums, parts, analytical):
                a = grads[k]
                a = np.zeros(x.shape, dtype=num.dtype) if a is None else a._data.astype(num.dtype)
                if not np.allclose(a, num, atol=atol, rtol=rtol):
                    err = np.abs(a - num).max()
                    prefix = f"While considering the {part} part of complex outputs only, " if part else ""
                    msg = (f"{prefix}Jacobian mismatch for output {oi} with respect to input {i}: "
                           f"max abs error {err:.3e}\nnumerical:{num.ravel()[:10]}\nanalytical:{a.ravel()[:10]}")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
    return True


def gradgradcheck(*args, **kwargs):
    raise NotImplementedError("gradgradcheck: higher-order gradients (create_graph=True) are not supported yet")
