"""repr(tensor) in PyTorch's style: tensor([[1., 2.]], requires_grad=True).

The layout follows PyTorch's printer: one formatter per tensor picks integer / fixed / scientific
notation and a common width from the (summarized) values; rows wrap at `linewidth`; tensors with more
than `threshold` elements show `edgeitems` items at each end of every dimension. All of it is set with
`set_printoptions` (same arguments and profiles as PyTorch's).
"""
import contextlib
import math

import numpy as np


class _PrintOptions:
    __slots__ = ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")

    def __init__(self):
        self.precision = 4
        self.threshold = 1000
        self.edgeitems = 3
        self.linewidth = 80
        self.sci_mode = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None):
    """Options for printing tensors, as in PyTorch (and NumPy).

    precision: digits after the point (default 4); threshold: element count above which a tensor is
    summarized (1000); edgeitems: items shown at each end of a summarized dimension (3); linewidth:
    characters per line (80); profile: "default", "short" (precision 2, edgeitems 2) or "full" (no
    summarization), overridable by the other arguments; sci_mode: True/False forces scientific notation
    on/off, None (what every call without it sets) chooses automatically.
    """
    o = PRINT_OPTS
    if profile is not None:
        if profile == "default":
            o.precision, o.threshold, o.edgeitems, o.linewidth = 4, 1000, 3, 80
        elif profile == "short":
            o.precision, o.threshold, o.edgeitems, o.linewidth = 2, 1000, 2, 80
        elif profile == "full":
            o.precision, o.threshold, o.edgeitems, o.linewidth = 4, math.inf, 3, 80
    if precision is not None:
        o.precision = precision
    if threshold is not None:
        o.threshold = threshold
    if edgeitems is not None:
        o.edgeitems = edgeitems
    if linewidth is not None:
        o.linewidth = linewidth
    o.sci_mode = sci_mode


def get_printoptions():
    o = PRINT_OPTS
    return {"precision": o.precision, "threshold": o.threshold, "edgeitems": o.edgeitems,
            "linewidth": o.linewidth, "sci_mode": o.sci_mode}


@contextlib.contextmanager
def printoptions(**kwargs):
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """Chooses the notation and the common width of one tensor's (or one complex part's) values."""

    def __init__(self, a):
        self.floating = a.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = a.reshape(-1)
        p = PRINT_OPTS.precision
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        absd = np.abs(vals.astype(np.float64))
        lo, hi = absd.min(), absd.max()
        self.int_mode = builtin_bool(np.all(vals == np.ceil(vals)))
        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = builtin_bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        else:
            self.sci_mode = PRINT_OPTS.sci_mode
        pyvals = vals.tolist()
        if self.sci_mode:
            w = max(len(f"{v:.{p}e}") for v in pyvals)
        elif self.int_mode:
            w = max(len(f"{v:.0f}") for v in pyvals) + 1
        else:
            w = max(len(f"{v:.{p}f}") for v in pyvals)
        self.max_width = max(self.max_width, w)

    def width(self):
        return self.max_width

    def format(self, v):
        if self.floating:
            p = PRINT_OPTS.precision
            if self.sci_mode:
                s = f"{v:{self.max_width}.{p}e}"
            elif self.int_mode:
                s = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    s += "."
            else:
                s = f"{v:.{p}f}"
        else:
            s = f"{v}"
        return (self.max_width - len(s)) * " " + s


builtin_bool = bool


def _summarized(a):
    """The values a summarized print shows (what the formatter is built from)."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate((a[:e], a[-e:])) if a.shape[0] > 2 * e else a
    if not e:
        return a[(slice(0, 0),) * a.ndim]
    rows = list(range(e)) + list(range(a.shape[0] - e, a.shape[0])) if a.shape[0] > 2 * e else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _value(v, f1, f2):
    if f2 is None:
        return f1.format(v)
    re = f1.format(v.real)
    im = (f2.format(v.imag) + "j").lstrip()
    return re + im if im[0] in "+-" else re + "+" + im


def _vector(a, indent, summarize, f1, f2):
    el = f1.width() + 2 + (f2.width() + 1 if f2 is not None else 0)
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / el))
    e = PRINT_OPTS.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        data = ([_value(v, f1, f2) for v in a[:e].tolist()] + [" ..."]
                + [_value(v, f1, f2) for v in a[-e:].tolist()])
    else:
        data = [_value(v, f1, f2) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(a, indent, summarize, f1, f2):
    if a.ndim == 0:
        return _value(a.item(), f1, f2)
    if a.ndim == 1:
        return _vector(a, indent, summarize, f1, f2)
    e = PRINT_OPTS.edgeitems
    n = a.shape[0]
    if summarize and n > 2 * e:
        parts = ([_nested(a[i], indent + 1, summarize, f1, f2) for i in range(e)] + ["..."]
                 + [_nested(a[i], indent + 1, summarize, f1, f2) for i in range(n - e, n)])
    else:
        parts = [_nested(a[i], indent + 1, summarize, f1, f2) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _body(a, indent):
    """The bracketed values of a non-empty host array."""
    if a.dtype.name == "bfloat16" or a.dtype == np.float16:
        a = a.astype(np.float32)
    summarize = a.size > PRINT_OPTS.threshold
    if a.dtype.kind == "c":
        re, im = a.real, a.imag
        f1 = _Formatter(_summarized(re) if summarize else re)
        f2 = _Formatter(_summarized(im) if summarize else im)
        return _nested(a, indent, summarize, f1, f2)
    f1 = _Formatter(_summarized(a) if summarize else a)
    return _nested(a, indent, summarize, f1, None)


def _add_suffixes(s, suffixes, indent):
    parts = [s]
    last = len(s) - s.rfind("\n") + 1
    for suf in suffixes:
        if last + len(suf) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suf)
            last = indent + len(suf)
        else:
            parts.append(", " + suf)
            last += len(suf) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t):
    from . import _dtype
    d = t._data
    host = d if d.__class__ is np.ndarray else d.get()
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    default = _dtype.get_default_dtype()
    name = t.dtype.name
    if d.size == 0:
        if d.ndim != 1:
            suffixes.append(f"size={tuple(d.shape)}")
        if t.dtype is not default:
            suffixes.append(f"dtype=disttensor.{name}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(d.shape)}")
        if t.dtype not in (default, default.to_complex(), _dtype.int64, _dtype.bool):
            suffixes.append(f"dtype=disttensor.{name}")
        body = _body(host, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
