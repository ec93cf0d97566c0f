"""`disttensor.fft`: PyTorch's `torch.fft` namespace.

Every transform is one of three Nodes, forward and backward on raw arrays with the array module of the
input (`xp.fft`, so NumPy and CuPy share the code):

- `_C2C`  complex to complex (fft, ifft, fft2, ifft2, fftn, ifftn; real inputs are promoted to complex),
- `_R2C`  real to one-sided complex (rfft*, and ihfft* as conj(rfft*) with the norm swapped),
- `_C2R`  one-sided complex to real (irfft*, and hfft* as irfft*(conj(x)) with the norm swapped).

Gradients follow PyTorch's convention for complex numbers (the conjugate Wirtinger derivative: for a real
loss L the gradient of z is dL/dRe(z) + i dL/dIm(z)), so each backward is the adjoint of the forward map:

- the adjoint of a c2c transform is the opposite transform with the norm swapped ("backward" <-> "forward",
  "ortho" stays), followed by undoing the padding/trimming to the input's length (trim / zero-pad);
- the adjoint of r2c embeds the one-sided gradient in the full spectrum and keeps the real part of its
  inverse, which is a c2r transform of the gradient with its interior (mirrored) bins halved;
- the adjoint of c2r is the r2c transform of the gradient with the interior bins doubled (the Hermitian
  doubling), as torch does; the imaginary parts of the DC and Nyquist bins get no gradient.

A real input of a complex transform gets the real part of that gradient (PyTorch's rule for a real tensor
promoted to complex). These are plain functions, not registered ops (no `disttensor.<name>` alias), and no
Tensor methods, as in PyTorch.

dtypes as in PyTorch on CPU: float32 -> complex64, float64 -> complex128, integer and bool inputs are promoted
to the default float dtype first, float16 / bfloat16 raise "Unsupported dtype". Every transform has a gradient
(`GRADIENT_NOT_IMPLEMENTED` is empty).
"""
import operator

import numpy as np

from .autograd.node import Node
from .tensor import Tensor, _new_tensor
from ._backends.device import xp_of
from . import _dtype
from .ops._apply import apply1
from .ops.movement import write_out

__all__ = [
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft",
    "fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2",
    "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn",
    "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

# Transforms whose backward is not available (each name with the reason). None: all are differentiable.
GRADIENT_NOT_IMPLEMENTED = ()

_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}
_TORCH_NAME = {"float16": "Half", "bfloat16": "BFloat16", "complex64": "ComplexFloat",
               "complex128": "ComplexDouble"}


# ---------------------------------------------------------------------------------------------- arguments

def _norm(norm):
    if norm is None:
        return "backward"
    if norm in _SWAP:
        return norm
    raise RuntimeError(f'Invalid normalization mode: "{norm}"')


def _tensor(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"fft_{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def _int(v, what, name):
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"fft_{name}(): argument '{what}' must be int, not {type(v).__name__}") from None


def _wrap_dim(d, nd, name):
    d = _int(d, "dim", name)
    if nd == 0:
        raise IndexError(f"{name}: Dimension specified as {d} but tensor has no dimensions")
    if not -nd <= d < nd:
        raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {d})")
    return d % nd


def _points(n, name):
    if n < 1:
        raise RuntimeError(f"{name}: Invalid number of data points ({n}) specified")
    return n


def _check_float(dt, name):
    if dt.kind == "f" and dt.itemsize < 4 or dt.name == "bfloat16":
        raise RuntimeError(f"{name}: Unsupported dtype {_TORCH_NAME.get(dt.name, dt.name)}")


def _check_real_input(x, name):
    dt = x._data.dtype
    if dt.kind == "c":
        raise RuntimeError(f"{name} expects a real input tensor, but got {_TORCH_NAME.get(dt.name, dt.name)}")
    _check_float(dt, name)


def _args1(x, n, dim, name, c2r=False):
    """axes and transform sizes of the one-dimensional transforms."""
    shape = x._data.shape
    ax = _wrap_dim(dim, len(shape), name)
    if n is None:
        n = 2 * (shape[ax] - 1) if c2r else shape[ax]
    else:
        n = _int(n, "n", name)
    return (ax,), (_points(n, name),)


def _argsn(x, s, dim, name, c2r=False, one_sided=False):
    """axes and transform sizes of the n-dimensional transforms, with torch's rules for s and dim."""
    shape = x._data.shape
    nd = len(shape)
    if s is not None:
        s = (s,) if isinstance(s, int) else tuple(_int(v, "s", name) for v in s)
    if dim is not None:
        dims = (dim,) if not isinstance(dim, (tuple, list)) else tuple(dim)
        axes = tuple(_wrap_dim(d, nd, name) for d in dims)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"{name}: FFT dims must be unique")
        if s is not None and len(s) != len(axes):
            raise RuntimeError(f"{name}: When given, dim and shape arguments must have the same length")
    elif s is not None:
        if len(s) > nd:
            raise RuntimeError(f"{name}: Got shape with {len(s)} values but input tensor only has {nd} dimensions.")
        axes = tuple(range(nd - len(s), nd))
    else:
        axes = tuple(range(nd))
    if one_sided and not axes:
        raise RuntimeError(f"{name} must transform at least one axis")
    sizes = []
    last = len(axes) - 1
    for i, ax in enumerate(axes):
        v = -1 if s is None else s[i]
        if v == -1:
            v = 2 * (shape[ax] - 1) if (c2r and i == last) else shape[ax]
        sizes.append(_points(v, name))
    return axes, tuple(sizes)


# ------------------------------------------------------------------------------------------ array helpers

def _complex_of(a):
    """The complex array of `a` (integer/bool inputs through the default float dtype)."""
    k = a.dtype.kind
    if k == "c":
        return a
    if k != "f":
        a = a.astype(_dtype.get_default_dtype().np)
    return a.astype(np.complex64 if a.dtype.itemsize == 4 else np.complex128)


def _float_of(a):
    if a.dtype.kind != "f":
        return a.astype(_dtype.get_default_dtype().np)
    return a


def _resize(xp, g, axes, lengths):
    """Trim or zero-pad `g` along `axes` to `lengths` (the adjoint of torch's padding/trimming to n/s)."""
    shape = list(g.shape)
    src, pad = [slice(None)] * g.ndim, False
    for ax, n in zip(axes, lengths):
        if shape[ax] > n:
            src[ax] = slice(0, n)
        elif shape[ax] < n:
            pad = True
        shape[ax] = n
    g = g[tuple(src)]
    if not pad:
        return g
    out = xp.zeros(shape, dtype=g.dtype)
    out[tuple(slice(0, k) for k in g.shape)] = g
    return out


def _interior(ndim, ax, n_full):
    """Index of the bins of a one-sided spectrum (length n_full // 2 + 1) that stand for two bins of the full
    one: 1 .. n_full - (n_full // 2 + 1)."""
    idx = [slice(None)] * ndim
    idx[ax] = slice(1, n_full - (n_full // 2 + 1) + 1)
    return tuple(idx)


# ------------------------------------------------------------------------------------------------ nodes

class _C2C(Node):
    __slots__ = ("axes", "inshape", "norm", "inverse", "real_in")

    def forward(self, a, axes, sizes, norm, inverse):
        xp = xp_of(a)
        self.axes, self.norm, self.inverse = axes, norm, inverse
        self.inshape = tuple(a.shape[ax] for ax in axes)
        self.real_in = a.dtype.kind != "c"
        a = _complex_of(a)
        if not axes:
            return a.copy()
        f = xp.fft.ifftn if inverse else xp.fft.fftn
        return f(a, s=sizes, axes=axes, norm=norm)

    def backward(self, g):
        xp = xp_of(g)
        if self.axes:
            f = xp.fft.fftn if self.inverse else xp.fft.ifftn
            g = _resize(xp, f(g, axes=self.axes, norm=_SWAP[self.norm]), self.axes, self.inshape)
        return xp.ascontiguousarray(g.real) if self.real_in else g


class _R2C(Node):
    """rfftn (conj=False) and conj(rfftn) (conj=True, ihfftn with the norm already swapped)."""
    __slots__ = ("axes", "sizes", "inshape", "norm", "conj")

    def forward(self, a, axes, sizes, norm, conj):
        xp = xp_of(a)
        self.axes, self.sizes, self.norm, self.conj = axes, sizes, norm, conj
        self.inshape = tuple(a.shape[ax] for ax in axes)
        r = xp.fft.rfftn(_float_of(a), s=sizes, axes=axes, norm=norm)
        return xp.conj(r) if conj else r

    def backward(self, g):
        xp = xp_of(g)
        h = xp.conj(g) if self.conj else g.copy()
        h[_interior(h.ndim, self.axes[-1], self.sizes[-1])] *= 0.5
        h = xp.fft.irfftn(h, s=self.sizes, axes=self.axes, norm=_SWAP[self.norm])
        return _resize(xp, h, self.axes, self.inshape)


class _C2R(Node):
    """irfftn (conj=False) and irfftn(conj(x)) (conj=True, hfftn with the norm already swapped)."""
    __slots__ = ("axes", "sizes", "inshape", "norm", "conj", "real_in")

    def forward(self, a, axes, sizes, norm, conj):
        xp = xp_of(a)
        self.axes, self.sizes, self.norm, self.conj = axes, sizes, norm, conj
        self.inshape = tuple(a.shape[ax] for ax in axes)
        self.real_in = a.dtype.kind != "c"
        a = _complex_of(a)
        if conj:
            a = xp.conj(a)
        return xp.fft.irfftn(a, s=sizes, axes=axes, norm=norm)

    def backward(self, g):
        xp = xp_of(g)
        h = xp.fft.rfftn(g, axes=self.axes, norm=_SWAP[self.norm])
        h[_interior(h.ndim, self.axes[-1], self.sizes[-1])] *= 2
        h = _resize(xp, h, self.axes, self.inshape)
        if self.real_in:
            return xp.ascontiguousarray(h.real)
        return xp.conj(h) if self.conj else h


# ------------------------------------------------------------------------------------------- transforms

def _finish(r, out, name):
    return r if out is None else write_out(r, out, name)


def _c2c(input, axes, sizes, norm, inverse, name, out):
    _check_float(input._data.dtype, name)
    return _finish(apply1(_C2C, input, axes, sizes, _norm(norm), inverse), out, name)


def _r2c(input, axes, sizes, norm, hermitian, name, out):
    _check_real_input(input, name)
    norm = _norm(norm)
    r = apply1(_R2C, input, axes, sizes, _SWAP[norm] if hermitian else norm, hermitian)
    return _finish(r, out, name)


def _c2r(input, axes, sizes, norm, hermitian, name, out):
    _check_float(input._data.dtype, name)
    norm = _norm(norm)
    r = apply1(_C2R, input, axes, sizes, _SWAP[norm] if hermitian else norm, hermitian)
    return _finish(r, out, name)


def fft(input, n=None, dim=-1, norm=None, *, out=None):
    """One-dimensional discrete Fourier transform of `input` along `dim` (zero-padded or trimmed to `n`)."""
    _tensor(input, "fft")
    axes, sizes = _args1(input, n, dim, "fft")
    return _c2c(input, axes, sizes, norm, False, "fft", out)


def ifft(input, n=None, dim=-1, norm=None, *, out=None):
    """One-dimensional inverse discrete Fourier transform."""
    _tensor(input, "ifft")
    axes, sizes = _args1(input, n, dim, "ifft")
    return _c2c(input, axes, sizes, norm, True, "ifft", out)


def rfft(input, n=None, dim=-1, norm=None, *, out=None):
    """FFT of a real signal: the n // 2 + 1 non-negative frequencies."""
    _tensor(input, "rfft")
    axes, sizes = _args1(input, n, dim, "rfft")
    return _r2c(input, axes, sizes, norm, False, "rfft", out)


def irfft(input, n=None, dim=-1, norm=None, *, out=None):
    """Inverse of rfft: a real signal of length n (default 2 * (input.size(dim) - 1))."""
    _tensor(input, "irfft")
    axes, sizes = _args1(input, n, dim, "irfft", c2r=True)
    return _c2r(input, axes, sizes, norm, False, "irfft", out)


def hfft(input, n=None, dim=-1, norm=None, *, out=None):
    """FFT of a Hermitian-symmetric signal given by its one-sided half: a real spectrum of length n."""
    _tensor(input, "hfft")
    axes, sizes = _args1(input, n, dim, "hfft", c2r=True)
    return _c2r(input, axes, sizes, norm, True, "hfft", out)


def ihfft(input, n=None, dim=-1, norm=None, *, out=None):
    """Inverse of hfft: the one-sided half of the inverse FFT of a real signal."""
    _tensor(input, "ihfft")
    axes, sizes = _args1(input, n, dim, "ihfft")
    return _r2c(input, axes, sizes, norm, True, "ihfft", out)


def fftn(input, s=None, dim=None, norm=None, *, out=None):
    """N-dimensional discrete Fourier transform over `dim` (default: all, or the last len(s) dims)."""
    _tensor(input, "fftn")
    axes, sizes = _argsn(input, s, dim, "fftn")
    return _c2c(input, axes, sizes, norm, False, "fftn", out)


def ifftn(input, s=None, dim=None, norm=None, *, out=None):
    _tensor(input, "ifftn")
    axes, sizes = _argsn(input, s, dim, "ifftn")
    return _c2c(input, axes, sizes, norm, True, "ifftn", out)


def rfftn(input, s=None, dim=None, norm=None, *, out=None):
    """N-dimensional FFT of a real signal; the last transformed dim is one-sided."""
    _tensor(input, "rfftn")
    axes, sizes = _argsn(input, s, dim, "rfftn", one_sided=True)
    return _r2c(input, axes, sizes, norm, False, "rfftn", out)


def irfftn(input, s=None, dim=None, norm=None, *, out=None):
    _tensor(input, "irfftn")
    axes, sizes = _argsn(input, s, dim, "irfftn", c2r=True, one_sided=True)
    return _c2r(input, axes, sizes, norm, False, "irfftn", out)


def hfftn(input, s=None, dim=None, norm=None, *, out=None):
    _tensor(input, "hfftn")
    axes, sizes = _argsn(input, s, dim, "hfftn", c2r=True, one_sided=True)
    return _c2r(input, axes, sizes, norm, True, "hfftn", out)


def ihfftn(input, s=None, dim=None, norm=None, *, out=None):
    _tensor(input, "ihfftn")
    axes, sizes = _argsn(input, s, dim, "ihfftn", one_sided=True)
    return _r2c(input, axes, sizes, norm, True, "ihfftn", out)


def fft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "fft2")
    axes, sizes = _argsn(input, s, dim, "fft2")
    return _c2c(input, axes, sizes, norm, False, "fft2", out)


def ifft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "ifft2")
    axes, sizes = _argsn(input, s, dim, "ifft2")
    return _c2c(input, axes, sizes, norm, True, "ifft2", out)


def rfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "rfft2")
    axes, sizes = _argsn(input, s, dim, "rfft2", one_sided=True)
    return _r2c(input, axes, sizes, norm, False, "rfft2", out)


def irfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "irfft2")
    axes, sizes = _argsn(input, s, dim, "irfft2", c2r=True, one_sided=True)
    return _c2r(input, axes, sizes, norm, False, "irfft2", out)


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "hfft2")
    axes, sizes = _argsn(input, s, dim, "hfft2", c2r=True, one_sided=True)
    return _c2r(input, axes, sizes, norm, True, "hfft2", out)


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    _tensor(input, "ihfft2")
    axes, sizes = _argsn(input, s, dim, "ihfft2", one_sided=True)
    return _r2c(input, axes, sizes, norm, True, "ihfft2", out)


# ------------------------------------------------------------------------------------- helper functions

def _freq_dtype(dtype, name):
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)
    if not (dt.is_floating_point or dt.is_complex):
        raise RuntimeError(f"{name} requires a floating point or complex dtype")
    return dt


def _freq(vals, n, d, dtype, device, requires_grad, out, name):
    from .ops.creation import _finish as _make
    dt = _freq_dtype(dtype if dtype is not None or out is None else out.dtype, name)
    npd = dt.np
    with np.errstate(divide="ignore", invalid="ignore"):     # n == 0: torch's rfftfreq(0) is [nan]
        arr = vals.astype(npd) * npd.type(np.float64(1.0) / np.float64(n * d))
    t = _make(arr.astype(npd, copy=False), device, requires_grad)
    return t if out is None else write_out(t, out, name)


def fftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Sample frequencies of a length-n FFT with sample spacing d: [0, 1, ..., -(n // 2), ..., -1] / (d * n)."""
    n = _int(n, "n", "fftfreq")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    vals = np.arange(n, dtype=np.int64)
    vals[(n + 1) // 2:] -= n
    return _freq(vals, n, d, dtype, device, requires_grad, out, "fftfreq")


def rfftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """Sample frequencies of rfft: [0, 1, ..., n // 2] / (d * n)."""
    n = _int(n, "n", "rfftfreq")
    m = int(n / 2) + 1              # C's truncating division, as torch: n = -1 gives one bin, n = -4 an error
    if m < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {m}: [{m}]")
    return _freq(np.arange(m, dtype=np.int64), n, d, dtype, device, requires_grad, out, "rfftfreq")


def _shift(input, dim, sign, name):
    _tensor(input, name)
    from .ops.movement import roll
    shape = input._data.shape
    nd = len(shape)
    if dim is None:
        axes = tuple(range(nd))
    elif isinstance(dim, (tuple, list)):
        axes = tuple(_wrap_dim(d, nd, name) for d in dim)
    else:
        axes = (_wrap_dim(dim, nd, name),)
    if not axes:
        return input.clone()
    return roll(input, tuple(sign * (shape[a] // 2) for a in axes), axes)


def fftshift(input, dim=None):
    """Move the zero-frequency term to the centre: roll each dim by size // 2."""
    return _shift(input, dim, 1, "fftshift")


def ifftshift(input, dim=None):
    """Inverse of fftshift: roll each dim by -(size // 2)."""
    return _shift(input, dim, -1, "ifftshift")
