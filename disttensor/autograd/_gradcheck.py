"""gradcheck: compare analytical gradients with central finite differences (use float64 inputs)."""
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
        rng = np.random.default_rng(oi)
        # one random projection per output keeps the check O(inputs) instead of O(inputs * outputs)
        v = rng.standard_normal(o.shape)
        analytical = autograd_grad([out], [inputs[i] for i in diff], grad_outputs=[_new_tensor(v.astype(o.dtype))],
                                   retain_graph=True, allow_unused=True)
        for k, i in enumerate(diff):
            x = inputs[i]._data
            num = np.zeros(x.shape, dtype=np.float64)
            with no_grad():
                for j, idx in enumerate(np.ndindex(*x.shape)):
                    orig = x[idx].copy()
                    x[idx] = orig + eps
                    # astype copies: an output that is a view of the input must not change under us
                    fp = _as_tuple(func(*inputs))[oi]._data.astype(np.float64)
                    x[idx] = orig - eps
                    fm = _as_tuple(func(*inputs))[oi]._data.astype(np.float64)
                    x[idx] = orig
                    num[idx] = np.sum((fp - fm) * v) / (2 * eps)
            a = analytical[k]
            a = np.zeros(x.shape) if a is None else a._data.astype(np.float64)
            if not np.allclose(a, num, atol=atol, rtol=rtol):
                err = np.abs(a - num).max()
                msg = (f"Jacobian mismatch for output {oi} with respect to input {i}: max abs error {err:.3e}\n"
                       f"numerical:{num.ravel()[:10]}\nanalytical:{a.ravel()[:10]}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(*args, **kwargs):
    raise NotImplementedError("gradgradcheck: higher-order gradients are not supported yet")
