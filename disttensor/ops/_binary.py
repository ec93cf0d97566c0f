"""The call path of binary elementwise ops: unwrap, compute, apply PyTorch's dtype promotion, record.

NumPy 2 (NEP 50) already matches PyTorch for tensor-with-Python-scalar and same-dtype cases; the
differences fixed here are integer true division, int/float mixes that NumPy widens to float64,
and 0-dim tensors, which PyTorch treats like scalars of their category.
"""
import numpy as np

from ..autograd.grad_mode import STATE as GRAD
from ..tensor import Tensor, _new_tensor
from .. import _dtype
from ._apply import _finish, _coerce, fresh
from ..autograd import anomaly_mode as _anomaly

_ndarray = np.ndarray
_f64 = np.dtype(np.float64)
_c128 = np.dtype(np.complex128)


def _result_dtype(a, b):
    """PyTorch's result dtype for two arrays (0-dim ones count as weakly typed)."""
    da, db = _dtype.from_numpy_dtype(a.dtype), _dtype.from_numpy_dtype(b.dtype)
    if (a.ndim == 0) == (b.ndim == 0):
        return _dtype.promote_types(da, db)
    dim, zero = (da, db) if b.ndim == 0 else (db, da)
    return zero if _dtype._category(zero) > _dtype._category(dim) else dim


def binary_apply(cls, x, y):
    # Fast path: two tensors of one dtype, neither 0-dim (the common case in model code).
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        if x._base is not None and x._gv != x._vc[0]:
            fresh(x)
        if y._base is not None and y._gv != y._vc[0]:
            fresh(y)
        a = x._data
        b = y._data
        da = a.dtype
        if da is b.dtype and a.ndim and b.ndim:
            node = cls.__new__(cls)
            node.saved = None
            try:
                r = node.forward(a, b)
            except (ValueError, TypeError) as e:
                raise _explain(cls, x, y, e) from None
            if r.__class__ is not _ndarray:
                r = _coerce(r)
            elif r.dtype is not da and cls.promotes and r.dtype == _f64:
                r = r.astype(_dtype.get_default_dtype().np)  # integer true division
            out = _new_tensor(r)
            if GRAD.enabled and (x.requires_grad or y.requires_grad):
                node._next = (x.grad_fn or (x if x.requires_grad else None),
                              y.grad_fn or (y if y.requires_grad else None))
                node._pre_hooks = None
                node._retain = None
                if node.save_inputs:
                    node._versions = ((x._vc, x._vc[0]), (y._vc, y._vc[0]))
                else:
                    node._versions = None
                node._oshape = r.shape
                node._odtype = r.dtype
                if node.saved is None:
                    node.saved = ()
                if _anomaly.STATE.enabled:
                    _anomaly.record_trace(node)
                out.grad_fn = node
                out.requires_grad = True
            return out
    return _binary_general(cls, x, y)


def _binary_general(cls, x, y):
    xt = isinstance(x, Tensor)
    yt = isinstance(y, Tensor)
    if xt and x._base is not None and x._gv != x._vc[0]:
        fresh(x)
    if yt and y._base is not None and y._gv != y._vc[0]:
        fresh(y)
    a = x._data if xt else x
    b = y._data if yt else y
    node = cls.__new__(cls)
    node.saved = None
    try:
        r = node.forward(a, b)
    except (ValueError, TypeError) as e:
        raise _explain(cls, x, y, e) from None
    if r.__class__ is not _ndarray:
        r = _coerce(r)
    if cls.promotes:
        if xt and yt:
            if a.dtype != b.dtype or a.ndim == 0 or b.ndim == 0:
                want = _result_dtype(a, b)
                if cls.float_result and not want.is_floating_point and not want.is_complex:
                    want = _dtype.get_default_dtype()
                if r.dtype != want.np:
                    r = r.astype(want.np)
            elif r.dtype == _f64 and a.dtype != _f64:
                r = r.astype(_dtype.get_default_dtype().np)
        else:
            t, s = (a, b) if xt else (b, a)
            if hasattr(t, "dtype") and not hasattr(s, "dtype"):
                want = _dtype.result_type_scalar(_dtype.from_numpy_dtype(t.dtype), s)
                if cls.float_result and not (want.is_floating_point or want.is_complex):
                    want = _dtype.get_default_dtype()
                if r.dtype != want.np:
                    r = r.astype(want.np)
    out = _new_tensor(r)
    if GRAD.enabled and ((xt and x.requires_grad) or (yt and y.requires_grad)):
        if r.dtype.kind == "c" and ((xt and a.dtype.kind != "c") or (yt and b.dtype.kind != "c")):
            node.__class__ = _real_part_grads(cls, xt and a.dtype.kind != "c", yt and b.dtype.kind != "c")
        _finish(node, (x, y), out)
    return out


_RPG = {}


def _real_part_grads(cls, rx, ry):
    """A subclass of cls whose backward hands a real operand of a complex result the real part of its
    gradient (PyTorch's rule), instead of leaving the engine's cast to discard the imaginary part."""
    k = (cls, rx, ry)
    sub = _RPG.get(k)
    if sub is None:
        def backward(self, g):
            ga, gb = cls.backward(self, g)[:2]
            if rx and ga is not None and ga.dtype.kind == "c":
                ga = ga.real
            if ry and gb is not None and gb.dtype.kind == "c":
                gb = gb.real
            return ga, gb
        sub = _RPG[k] = type(cls.__name__, (cls,), {"__slots__": (), "backward": backward})
    return sub


def _explain(cls, x, y, err):
    from .._backends.device import device_of_array
    name = cls.op_name
    arrs = [v._data for v in (x, y) if isinstance(v, Tensor)]
    devs = {str(device_of_array(d)) for d in arrs}
    if len(devs) > 1:
        return RuntimeError(f"{name}: Expected all tensors to be on the same device, but found at least two "
                            f"devices, {' and '.join(sorted(devs))}!")
    if len(arrs) == 2:
        sa, sb = arrs[0].shape, arrs[1].shape
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            for i in range(1, max(len(sa), len(sb)) + 1):
                da = sa[-i] if i <= len(sa) else 1
                db = sb[-i] if i <= len(sb) else 1
                if da != db and da != 1 and db != 1:
                    dim = max(len(sa), len(sb)) - i
                    return RuntimeError(f"{name}: The size of tensor a ({da}) must match the size of tensor b ({db}) "
                                        f"at non-singleton dimension {dim} (shapes {tuple(sa)} and {tuple(sb)})")
    return RuntimeError(f"{name}: {err} (operands: {_describe(x)}, {_describe(y)})")


def _describe(v):
    if isinstance(v, Tensor):
        return f"Tensor(shape={tuple(v.shape)}, dtype={v.dtype}, device={v.device})"
    return f"{type(v).__name__} {v!r}"
