"""disttensor.testing: `assert_close`, `assert_allclose` and `make_tensor` with torch.testing's semantics.

`assert_close(actual, expected)` accepts what torch.testing.assert_close accepts: tensors (and subclasses
such as Parameter), NumPy arrays, Python and NumPy scalars, None, and nested sequences / mappings of them
(compared element by element; their structure must match). Tensors must agree in shape and, unless the
matching `check_*` flag is off, in dtype, device and stride; values are close when
`|actual - expected| <= atol + rtol * |expected|` (inf only equals inf of the same sign, NaN equals NaN
only with `equal_nan=True`). The default tolerances depend on the dtype (the looser of the two inputs):

    float16     rtol 1e-3    atol 1e-5        complex64   rtol 1.3e-6  atol 1e-5
    bfloat16    rtol 1.6e-2  atol 1e-5        complex128  rtol 1e-7    atol 1e-7
    float32     rtol 1.3e-6  atol 1e-5        other       exact (0, 0)
    float64     rtol 1e-7    atol 1e-7

The AssertionError reads like PyTorch's ("Tensor-likes are not close!", the count of mismatched elements
and the greatest absolute and relative differences with their indices), with `disttensor.` where PyTorch
writes `torch.` (dtypes, Size).
"""
import cmath
import collections.abc
import contextlib
import math
import warnings

import numpy as np

__all__ = ["assert_close", "assert_allclose", "make_tensor"]


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise, its message and where it happened (id)."""

    def __init__(self, type, msg, id=()):
        super().__init__(msg)
        self.type = type
        self.msg = msg
        self.id = id

    def to_error(self, msg=None):
        if isinstance(msg, str):
            return self.type(msg)
        generated = self.msg
        if self.id:
            generated += "\n\nThe failure occurred for item " + "".join(str([item]) for item in self.id)
        return self.type(msg(generated) if callable(msg) else generated)


class _Unsupported(Exception):
    pass


def _dt():
    import disttensor
    return disttensor


def _precisions():
    dt = _dt()
    return {dt.float16: (1e-3, 1e-5), dt.bfloat16: (1.6e-2, 1e-5), dt.float32: (1.3e-6, 1e-5),
            dt.float64: (1e-7, 1e-7), dt.complex64: (1.3e-6, 1e-5), dt.complex128: (1e-7, 1e-7)}


def _tolerances(dtypes, rtol, atol, id, table=None):
    if (rtol is None) != (atol is None):
        raise _Mismatch(ValueError, "Both 'rtol' and 'atol' must be either specified or omitted, "
                                    f"but got no {'rtol' if rtol is None else 'atol'}.", id)
    if rtol is not None:
        return rtol, atol
    table = _precisions() if table is None else table
    pairs = [table.get(d, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _mismatch_msg(default_identifier, extra, abs_diff, abs_idx, atol, rel_diff, rel_idx, rtol,
                  identifier=None):
    equality = rtol == 0 and atol == 0

    def diff_line(kind, diff, idx, tol):
        line = f"{kind.title()} difference: {diff}" if idx is None else \
            f"Greatest {kind} difference: {diff} at index {idx}"
        return line + ("" if equality else f" (up to {tol} allowed)") + "\n"

    if identifier is None:
        identifier = default_identifier
    elif callable(identifier):
        identifier = identifier(default_identifier)
    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += extra.strip() + "\n"
    msg += diff_line("absolute", abs_diff, abs_idx, atol)
    msg += diff_line("relative", rel_diff, rel_idx, rtol)
    return msg.strip()


def _scalar_msg(actual, expected, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg("Scalars", f"Expected {expected} but got {actual}.", abs_diff, None, atol,
                         rel_diff, None, rtol)


# ---- pairs: one per kind of leaf, tried in order (None, bool, number, tensor-like) ----------------------

class _NonePair:
    def __init__(self, actual, expected, id, **options):
        if not (actual is None or expected is None):
            raise _Unsupported
        self.actual, self.expected, self.id = actual, expected, id

    def compare(self):
        if not (self.actual is None and self.expected is None):
            raise _Mismatch(AssertionError, f"None mismatch: {self.actual} is not {self.expected}", self.id)


class _BoolPair:
    def __init__(self, actual, expected, id, **options):
        if not all(isinstance(x, (bool, np.bool_)) for x in (actual, expected)):
            raise _Unsupported
        self.actual, self.expected, self.id = bool(actual), bool(expected), id

    def compare(self):
        if self.actual is not self.expected:
            raise _Mismatch(AssertionError, f"Booleans mismatch: {self.actual} is not {self.expected}", self.id)


class _NumberPair:
    def __init__(self, actual, expected, id, rtol=None, atol=None, equal_nan=False, check_dtype=False,
                 **options):
        if not all(isinstance(x, (int, float, complex, np.number)) for x in (actual, expected)):
            raise _Unsupported
        actual, expected = (x.item() if isinstance(x, np.number) else x for x in (actual, expected))
        self.actual, self.expected, self.id = actual, expected, id
        dt = _dt()
        as_dtype = {int: dt.int64, float: dt.float64, complex: dt.complex128}
        # bool is an int here (a bool beside a non-bool number is compared as a number)
        kinds = [as_dtype[complex if isinstance(x, complex) else float if isinstance(x, float) else int]
                 for x in (actual, expected)]
        self.rtol, self.atol = _tolerances(kinds, rtol, atol, id)
        self.equal_nan, self.check_dtype = equal_nan, check_dtype

    def compare(self):
        a, e = self.actual, self.expected
        if self.check_dtype and type(a) is not type(e):
            raise _Mismatch(AssertionError, f"The (d)types do not match: {type(a)} != {type(e)}.", self.id)
        if a == e:
            return
        if self.equal_nan and cmath.isnan(a) and cmath.isnan(e):
            return
        abs_diff = abs(a - e)
        if cmath.isfinite(abs_diff) and abs_diff <= self.atol + self.rtol * abs(e):
            return
        raise _Mismatch(AssertionError, _scalar_msg(a, e, self.rtol, self.atol), self.id)


def _host(a):
    """A NumPy array of `a`'s data (copied off the GPU for CuPy arrays)."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


class _TensorPair:
    def __init__(self, actual, expected, id, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, **options):
        if not (isinstance(actual, type(expected)) or isinstance(expected, type(actual))):
            raise _Unsupported
        if not allow_subclasses and type(actual) is not type(expected):
            raise _Unsupported
        self.actual, self.expected = self._to_tensor(actual), self._to_tensor(expected)
        self.id = id
        self.rtol, self.atol = _tolerances([self.actual.dtype, self.expected.dtype], rtol, atol, id)
        self.equal_nan = equal_nan
        self.check_device, self.check_dtype = check_device, check_dtype
        self.check_layout, self.check_stride = check_layout, check_stride

    @staticmethod
    def _to_tensor(x):
        dt = _dt()
        if isinstance(x, dt.Tensor):
            return x
        try:
            return dt.as_tensor(x)
        except Exception:
            raise _Unsupported from None

    def _fail_attr(self, name, a, e):
        raise _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a} != {e}.", self.id)

    def compare(self):
        a, e = self.actual, self.expected
        if a.shape != e.shape:
            self._fail_attr("shape", a.shape, e.shape)
        la, le = getattr(a, "layout", "strided"), getattr(e, "layout", "strided")
        if la != le:
            if self.check_layout:
                self._fail_attr("layout", la, le)
        elif self.check_stride and a.stride() != e.stride():
            self._fail_attr("stride()", a.stride(), e.stride())
        if self.check_device and a.device != e.device:
            self._fail_attr("device", a.device, e.device)
        if self.check_dtype and a.dtype != e.dtype:
            self._fail_attr("dtype", a.dtype, e.dtype)
        if a.device != e.device:
            a, e = a.cpu(), e.cpu()
        if a.dtype != e.dtype:
            common = _dt().promote_types(a.dtype, e.dtype)
            a, e = a.to(common), e.to(common)
        self._compare_values(a, e)

    def _compare_values(self, a, e):
        rtol, atol = self.rtol, self.atol
        ad, ed = a.detach()._data, e.detach()._data
        matches = _isclose(ad, ed, rtol, atol, self.equal_nan, a.dtype)
        if bool(matches.all()):
            return
        if ad.ndim == 0:
            msg = _scalar_msg(_item(ad), _item(ed), rtol, atol)
        else:
            msg = _tensor_msg(_host(ad), _host(ed), _host(matches), a.dtype, rtol, atol)
        raise _Mismatch(AssertionError, msg, self.id)


def _item(a):
    v = _host(a).reshape(()).item() if a.dtype.kind in "biuc" else float(_host(a).reshape(()))
    return v


def _isclose(a, b, rtol, atol, equal_nan, dtype):
    """torch.isclose on raw arrays of one dtype (NumPy or CuPy)."""
    with np.errstate(all="ignore"):
        close = a == b
        inexact = dtype.is_floating_point or dtype.is_complex
        if equal_nan and inexact:
            xp = _xp(a)
            close = close | (xp.isnan(a) & xp.isnan(b))
        if rtol == 0 and atol == 0:
            return close
        if not inexact:
            a, b = a.astype(np.float64), b.astype(np.float64)
        xp = _xp(a)
        err = abs(a - b)
        allowed = atol + abs(rtol * b)
        return close | (xp.isfinite(err) & (err <= allowed))


def _xp(a):
    if isinstance(a, np.ndarray):
        return np
    from ._backends.device import xp_of
    return xp_of(a)


def _tensor_msg(a, e, matches, dtype, rtol, atol):
    shape = matches.shape
    n = matches.size
    bad = n - int(matches.sum())
    extra = f"Mismatched elements: {bad} / {n} ({bad / n:.1%})"
    a, e, m = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    integral = not (dtype.is_floating_point or dtype.is_complex)
    if integral:
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(a - e)
        abs_diff[m] = 0
        i_abs = int(np.argmax(abs_diff))
        if integral:  # PyTorch divides integers in its default float dtype
            rel_diff = abs_diff.astype(np.float32) / np.abs(e).astype(np.float32)
        else:
            rel_diff = abs_diff / np.abs(e)
        rel_diff[m] = 0
        i_rel = int(np.argmax(rel_diff))

    def unravel(i):
        return tuple(int(k) for k in np.unravel_index(i, shape))

    def num(v):
        return int(v) if integral else float(v)

    return _mismatch_msg("Tensor-likes", extra, num(abs_diff[i_abs]), unravel(i_abs), atol,
                         float(rel_diff[i_rel]), unravel(i_rel), rtol)


def _originate(actual, expected, id, options):
    seq, mapping = collections.abc.Sequence, collections.abc.Mapping
    if (isinstance(actual, seq) and not isinstance(actual, str)
            and isinstance(expected, seq) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError,
                            f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", id)
        pairs = []
        for i in range(len(actual)):
            pairs.extend(_originate(actual[i], expected[i], (*id, i), options))
        return pairs
    if isinstance(actual, mapping) and isinstance(expected, mapping):
        ka, ke = set(actual.keys()), set(expected.keys())
        if ka != ke:
            raise _Mismatch(AssertionError,
                            "The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {sorted(ke - ka)}\n"
                            f"Additional keys in the actual mapping: {sorted(ka - ke)}", id)
        keys = ka
        with contextlib.suppress(Exception):
            keys = sorted(keys)
        pairs = []
        for k in keys:
            pairs.extend(_originate(actual[k], expected[k], (*id, k), options))
        return pairs
    for cls in (_NonePair, _BoolPair, _NumberPair, _TensorPair):
        try:
            return [cls(actual, expected, id, **options)]
        except _Unsupported:
            continue
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} "
                               f"and {type(expected)}.", id)


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Assert that `actual` and `expected` are close (torch.testing.assert_close); see the module docstring.

    `msg` replaces the generated message (a string) or is called with it and returns the new one (a callable).
    Raises AssertionError on a mismatch, ValueError when only one of rtol/atol is given, TypeError for inputs
    that cannot be compared (e.g. a NumPy array against a tensor, or a Parameter against a tensor with
    `allow_subclasses=False`).
    """
    __tracebackhide__ = True
    options = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                   check_device=check_device, check_dtype=check_dtype, check_layout=check_layout,
                   check_stride=check_stride)
    try:
        pairs = _originate(actual, expected, (), options)
    except _Mismatch as m:
        # like PyTorch: errors of structure and of arguments ignore `msg`
        raise m.to_error() from None
    for pair in pairs:
        try:
            pair.compare()
        except _Mismatch as m:
            raise m.to_error(msg) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated in PyTorch since 1.12 (a FutureWarning) and still there in 2.13: converts non-tensors with
    `tensor()` (`expected` to `actual`'s dtype), uses its own looser default tolerances (float16 1e-3/1e-3,
    float32 1e-4/1e-5, float64 1e-5/1e-8, every other dtype exact), treats NaNs as equal and ignores dtype
    differences. Use `assert_close`."""
    __tracebackhide__ = True
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
                  "release. Please use `torch.testing.assert_close()` instead. You can find detailed upgrade "
                  "instructions in https://github.com/pytorch/pytorch/issues/61844.", FutureWarning, stacklevel=2)
    dt = _dt()
    if not isinstance(actual, dt.Tensor):
        actual = dt.tensor(actual)
    if not isinstance(expected, dt.Tensor):
        expected = dt.tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        table = {dt.float16: (1e-3, 1e-3), dt.float32: (1e-4, 1e-5), dt.float64: (1e-5, 1e-8)}
        rtol, atol = _tolerances([actual.dtype, expected.dtype], None, None, (), table)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True,
                 check_dtype=False, check_stride=False, msg=msg or None)


# ---- make_tensor --------------------------------------------------------------------------------------

def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A tensor of `shape` with values drawn uniformly from [low, high) (torch.testing.make_tensor).

    Default ranges: bool [0, 2), uint8 [0, 10), signed integers [-9, 10), floating and complex [-9, 9)
    (both the real and imaginary parts); `low`/`high` outside the dtype's finite range are clamped to it.
    `noncontiguous=True` gives a strided view (every second element of a wider last dimension) when the tensor
    has more than one element; `exclude_zero=True` replaces zeros with 1 (bool, integers) or the dtype's
    smallest normal number (floating, complex). Draws from disttensor's generator (`manual_seed` applies).
    """
    dt = _dt()
    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if noncontiguous and memory_format is not None:
        raise ValueError("The parameters `noncontiguous` and `memory_format` are mutually exclusive, "
                         f"but got noncontiguous={noncontiguous} and memory_format={memory_format}")
    integral = dtype in (dt.bool, dt.uint8, dt.int8, dt.int16, dt.int32, dt.int64)
    if not isinstance(dtype, dt.dtype):
        raise TypeError(f"The requested dtype '{dtype}' is not supported by torch.testing.make_tensor().")
    if requires_grad and integral:
        raise ValueError("`requires_grad=True` is not supported for boolean and integral dtypes, "
                         f"but got dtype={dtype}")

    def low_high(lowest, highest_exclusive, default_low, default_high):
        lo = default_low if low is None else low
        hi = default_high if high is None else high
        if any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
            raise ValueError(f"`low` and `high` cannot be NaN, but got low={lo} and high={hi}")
        if lo == hi and not integral:
            warnings.warn("Passing `low==high` to `torch.testing.make_tensor` for floating or complex types is "
                          "deprecated since 2.1 and will be removed in 2.3. Use `torch.full(...)` instead.",
                          FutureWarning, stacklevel=3)
        elif lo >= hi:
            raise ValueError(f"`low` must be less than `high`, but got {lo} >= {hi}")
        elif hi < lowest or lo >= highest_exclusive:
            raise ValueError(f"The value interval specified by `low` and `high` is [{lo}, {hi}), "
                             f"but {dtype} only supports [{lowest}, {highest_exclusive})")
        lo = min(max(lo, lowest), highest_exclusive)
        hi = min(max(hi, lowest), highest_exclusive)
        if integral:
            return math.ceil(lo), math.ceil(hi)
        return lo, hi

    n = 1
    for s in shape:
        n *= s
    noncontiguous = noncontiguous and n > 1
    if noncontiguous:
        shape = (*shape[:-1], 2 * shape[-1])
    if dtype is dt.bool:
        lo, hi = low_high(0, 2, 0, 2)
        result = dt.randint(lo, hi, shape, dtype=dtype, device=device)
    elif integral:
        info = dt.iinfo(dtype)
        lo, hi = low_high(info.min, info.max + (1 if dtype is not dt.int64 else 0), -9, 10)
        result = dt.randint(lo, hi, shape, dtype=dtype, device=device)
    else:
        real = {dt.complex64: dt.float32, dt.complex128: dt.float64}.get(dtype, dtype)
        fmax = float(dt.finfo(real).max)
        lo, hi = low_high(-fmax, fmax, -9, 9)

        def uniform(shp):
            t = dt.empty(shp, dtype=real, device=device)
            if hi - lo >= fmax:  # the width would overflow: draw at half scale
                return t.uniform_(lo / 2, hi / 2).mul_(2)
            return t.uniform_(lo, hi)

        if dtype.is_complex:
            parts = uniform((*shape, 2))._data
            data = parts[..., 0].astype(dtype.np) + parts[..., 1].astype(dtype.np) * 1j
            result = dt.Tensor._wrap(data.astype(dtype.np, copy=False))
        else:
            result = uniform(shape)
    if noncontiguous:
        result = result[..., 1::2]
    if exclude_zero:
        zero = result == 0
        if bool(zero.any()):
            fill = 1 if integral else float(dt.finfo(
                {dt.complex64: dt.float32, dt.complex128: dt.float64}.get(dtype, dtype)).tiny)
            result[zero] = fill
    if not integral:
        result.requires_grad = requires_grad
    return result
