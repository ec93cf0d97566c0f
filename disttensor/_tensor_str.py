"""repr(tensor) in PyTorch's style: tensor([[1., 2.]], requires_grad=True)."""
import numpy as np


def _fmt_array(a):
    if a.dtype.name == "bfloat16" or a.dtype == np.float16:
        a = a.astype(np.float32)
    kind = a.dtype.kind
    if kind == "b":
        w = 5 if (~a).any() else 4
        return np.array2string(a, separator=", ", formatter={"bool": lambda v: f"{'True' if v else 'False':>{w}}"},
                               prefix="tensor(", threshold=1000, edgeitems=3)
    if kind in "iu":
        return np.array2string(a, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3)
    if kind == "f":
        finite = a[np.isfinite(a)] if a.size else a
        big = finite.size and (np.abs(finite).max() >= 1e8 or (np.abs(finite[finite != 0]).min() < 1e-4
                                                              if (finite != 0).any() else False))
        ints = finite.size and np.all(finite == np.round(finite)) and not big

        def g(v):
            if not np.isfinite(v):
                return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
            if big:
                return f"{v:.4e}"
            if ints:
                return f"{v:.0f}."
            return f"{v:.4f}"
        sample = a if a.size <= 1000 else np.concatenate([a.ravel()[:3], a.ravel()[-3:]])
        width = max((len(g(v)) for v in sample.ravel()), default=0)

        def f(v):
            return g(v).rjust(width)
        return np.array2string(a, separator=", ", formatter={"float_kind": f}, prefix="tensor(",
                               threshold=1000, edgeitems=3)
    return np.array2string(a, separator=", ", prefix="tensor(")


def tensor_repr(t):
    d = t._data
    host = d if d.__class__ is np.ndarray else d.get()
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    default_shown = {"float32", "int64", "bool"}
    if t.dtype.name not in default_shown or (d.size == 0 and t.dtype.name != "float32"):
        extras.append(f"dtype=disttensor.{t.dtype.name}")
    if d.size == 0 and d.ndim != 1:
        extras.insert(0, f"size={tuple(d.shape)}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    body = _fmt_array(host) if d.size else "[]"
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
