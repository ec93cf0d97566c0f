"""Matrix products of the CPU ops, and the BLAS thread count.

`matmul(a, b, out)` runs float32/float64 products through Intel MKL's GEMM where the `mkl` wheel is installed
(`pip install "disttensor[mkl]"`) and the CPU is Intel's, else through NumPy's matmul (OpenBLAS). Why: on the
development machine (Xeon, AVX-512) OpenBLAS's sgemm ran at 113-128 GFLOP/s per core and MKL's at 142-161
(PyTorch's CPU build does its GEMMs in MKL / oneDNN), so every GEMM-bound op (matmul, linear, convolutions) was
1.1-1.4x PyTorch's time from the BLAS alone (benchmarks/RESULTS.md, "MKL GEMMs").

MKL runs in its sequential layer (no OpenMP runtime beside torch's or numba's). A product big enough is cut into
blocks of rows (or columns, or batch items) over `num_threads()` Python threads, as OpenBLAS's own threads would
cut it; ctypes calls release the GIL. Used by matmul, linear and einsum; the convolutions keep NumPy's GEMMs (see
nn_conv). DISTTENSOR_BLAS=numpy turns MKL off; =mkl uses it on any x86 CPU.
"""
import ctypes
import itertools
import os
import sys

import numpy as np

from .device import xp_of

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_ROW, _NOTRANS, _TRANS = 101, 111, 112      # CBLAS_LAYOUT / CBLAS_TRANSPOSE values
_MIN_MACS = 1 << 18     # smaller products stay on NumPy (a ctypes call with 14 arguments costs a few us)
_SPLIT_MACS = 1 << 23   # products at least this big are cut over the BLAS threads (hand-off ~60 us)

_MKL = [0]              # 0: not looked up yet; None: not used; else the library (cblas functions typed)
_OPENBLAS = [0]         # 0: not looked up yet; None: unavailable; else (get_num_threads, set_num_threads)


# ---- thread count ----------------------------------------------------------------------------------------
def openblas_api():
    """(get_num_threads, set_num_threads) of NumPy's OpenBLAS (pthreads build), or None."""
    if _OPENBLAS[0] == 0:
        _OPENBLAS[0] = None
        if sys.platform.startswith("linux"):
            try:
                with open("/proc/self/maps") as f:
                    paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln and ".so" in ln})
                _OPENBLAS[0] = _find_openblas(paths)
            except Exception:  # pragma: no cover - any surprise: no thread control
                _OPENBLAS[0] = None
    return _OPENBLAS[0]


def _find_openblas(paths):
    for path in paths:
        lib = ctypes.CDLL(path)
        for pre, suf in itertools.product(("scipy_", ""), ("64_", "", "_64")):
            get = getattr(lib, f"{pre}openblas_get_num_threads{suf}", None)
            put = getattr(lib, f"{pre}openblas_set_num_threads{suf}", None)
            par = getattr(lib, f"{pre}openblas_get_parallel{suf}", None)
            if get is not None and put is not None:
                # only the pthreads build has one process-wide pool that this code may resize
                if par is not None and par() != 1:
                    return None
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                return get, put
    return None


def num_threads():
    """The BLAS thread count: OpenBLAS's (OPENBLAS_NUM_THREADS, disttensor.set_num_threads; 1 inside the
    convolution tile threads), 1 where it cannot be read."""
    api = openblas_api()
    return api[0]() if api is not None else 1


# ---- MKL -------------------------------------------------------------------------------------------------
def _intel_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return any(ln.startswith("vendor_id") and "GenuineIntel" in ln for ln in itertools.islice(f, 64))
    except OSError:
        return False


# MKL reports a bad argument through its xerbla handler and then computes nothing: this one records it, and
# matmul raises instead of returning an unwritten result
_XERBLA = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int)
_REJECTED = []
_ON_ERROR = _XERBLA(lambda name, info, n: _REJECTED.append((name[:n].decode(errors="replace"), info[0])))


def _check_rejected(a, b):
    if _REJECTED:
        name, arg = _REJECTED.pop()
        _REJECTED.clear()
        raise RuntimeError(f"matmul: MKL's {name.strip()} rejected its argument {arg} for operands of shapes "
                           f"{a.shape} and {b.shape}, strides {a.strides} and {b.strides} (DISTTENSOR_BLAS=numpy "
                           f"avoids MKL)")


def _load_mkl():
    mode = os.environ.get("DISTTENSOR_BLAS", "auto").strip().lower()
    if mode in ("numpy", "openblas", "0", "off") or not sys.platform.startswith("linux"):
        return None
    if mode != "mkl" and not _intel_cpu():
        return None
    names = [os.path.join(sys.prefix, "lib", f"libmkl_rt.so{v}") for v in (".2", ".3", "")]
    for path in [p for p in names if os.path.exists(p)]:
        try:
            lib = ctypes.CDLL(path)
            lib.MKL_Set_Threading_Layer(1)      # MKL_THREADING_SEQUENTIAL, before any other MKL call
        except (OSError, AttributeError):
            continue
        lib.mkl_set_xerbla.restype = ctypes.c_void_p
        lib.mkl_set_xerbla.argtypes = [_XERBLA]
        lib.mkl_set_xerbla(_ON_ERROR)
        i, p = ctypes.c_int, ctypes.c_void_p
        for name, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
            f = getattr(lib, f"cblas_{name}gemm")
            f.restype = None
            f.argtypes = [i, i, i, i, i, i, real, p, i, p, i, real, p, i]
            fb = getattr(lib, f"cblas_{name}gemm_batch_strided")
            fb.restype = None
            fb.argtypes = [i, i, i, i, i, i, real, p, i, i, p, i, i, real, p, i, i, i]
        return lib
    return None


def mkl():
    """The loaded MKL library (DISTTENSOR_BLAS and the CPU allowing), or None."""
    if _MKL[0] == 0:
        _MKL[0] = _load_mkl()
    return _MKL[0]


def _layout(x):
    """(transpose flag, leading dimension) of the last two axes of x for CBLAS's row-major layout, or None
    where neither axis has unit stride."""
    s0, s1 = x.strides[-2], x.strides[-1]
    r, c = x.shape[-2], x.shape[-1]
    it = x.itemsize
    if (s1 == it or c == 1) and s0 % it == 0 and s0 >= max(c, 1) * it:
        return _NOTRANS, s0 // it
    if (s0 == it or r == 1) and s1 % it == 0 and s1 >= max(r, 1) * it:
        return _TRANS, s1 // it
    return None


def _gemm(lib, a, b, c):
    """c = a @ b through MKL (2-D operands laid out as _layout says; c row-major)."""
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    m, k = a.shape
    n = b.shape[1]
    f = lib.cblas_sgemm if a.dtype == _F32 else lib.cblas_dgemm
    f(_ROW, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0, c.ctypes.data,
      c.strides[0] // c.itemsize)


def _gemm_batch(lib, a, b, c):
    """c[i] = a[i] @ b[i] for 3-D operands with a constant stride between items (0: one matrix for all)."""
    ta, lda = _layout(a)
    tb, ldb = _layout(b)
    nb, m, k = a.shape
    n = b.shape[2]
    it = a.itemsize
    f = lib.cblas_sgemm_batch_strided if a.dtype == _F32 else lib.cblas_dgemm_batch_strided
    f(_ROW, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, a.strides[0] // it, b.ctypes.data, ldb, b.strides[0] // it,
      0.0, c.ctypes.data, c.strides[1] // it, c.strides[0] // it, nb)


def _splits(n, parts, align):
    step = -(-n // parts)
    step = -(-step // align) * align
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def _run_parts(jobs):
    """Run the callables of `jobs`: all but the first on the shared pool, the first on this thread."""
    from ..ops.nn_activation import _pool
    pool = _pool(len(jobs) - 1)
    futs = [pool.submit(j) for j in jobs[1:]]
    jobs[0]()
    for f in futs:
        f.result()


def _usable(x, dt):
    return x.__class__ is np.ndarray and x.dtype == dt and x.ndim >= 2 and x.size and _layout(x) is not None and \
        all(s >= 0 for s in x.strides)


def matmul(a, b, out=None):
    """np.matmul(a, b, out=out), through MKL where it serves (see the module doc)."""
    lib = _MKL[0] if _MKL[0] != 0 else mkl()
    if a.__class__ is not np.ndarray or b.__class__ is not np.ndarray:     # CuPy (or a NumPy scalar)
        return a @ b if out is None else xp_of(a).matmul(a, b, out=out)
    if lib is None:
        return np.matmul(a, b, out=out)
    dt = a.dtype
    if (dt != _F32 and dt != _F64) or not _usable(a, dt) or not _usable(b, dt) or a.shape[-1] != b.shape[-2]:
        return np.matmul(a, b, out=out)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if m * n * k < _MIN_MACS:
        return np.matmul(a, b, out=out)
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return np.matmul(a, b, out=out)     # NumPy's error message
    shape = batch + (m, n)
    if out is None:
        out = np.empty(shape, dtype=dt)
    elif out.__class__ is not np.ndarray or out.shape != shape or out.dtype != dt or out.strides[-1] != dt.itemsize \
            or out.strides[-2] < n * dt.itemsize or any(s < 0 for s in out.strides):
        return np.matmul(a, b, out=out)
    if not batch:
        _gemm_2d(lib, a, b, out, m, n, k)
        _check_rejected(a, b)
        return out
    a3, b3, c3 = _items(a, batch), _items(b, batch), _items(out, batch)
    if a3 is None or b3 is None or c3 is None or not _usable(a3, dt) or not _usable(b3, dt) or \
            c3.strides[-1] != dt.itemsize:
        return np.matmul(a, b, out=out)
    nb = c3.shape[0]
    if nb == 1:     # (a size-1 axis may carry any stride, even 0, which MKL's batch call refuses)
        _gemm_2d(lib, a3[0], b3[0], c3[0], m, n, k)
        _check_rejected(a, b)
        return out
    if not (_item_stride_ok(a3) and _item_stride_ok(b3) and c3.strides[0] >= c3.strides[1] * m):
        return np.matmul(a, b, out=out)
    nt = num_threads() if m * n * k * nb >= _SPLIT_MACS else 1
    if nt < 2:
        _gemm_batch(lib, a3, b3, c3)
    else:
        _run_parts([lambda i0=i0, i1=i1: _gemm_batch(lib, a3[i0:i1], b3[i0:i1], c3[i0:i1])
                    for i0, i1 in _splits(nb, nt, 1)])
    _check_rejected(a, b)
    return out


def _item_stride_ok(x):
    """MKL's batch call takes, between the matrices of an operand, a stride of 0 (one matrix for all) or one
    past the whole matrix; anything else it rejects with a message and computes nothing, so NumPy does it."""
    trans, ld = _layout(x)
    rows = x.shape[1] if trans == _NOTRANS else x.shape[2]      # rows as stored
    return x.strides[0] == 0 or x.strides[0] >= ld * rows * x.itemsize


def _items(x, batch):
    """x broadcast over the batch dims `batch` as a 3-D view (n items, rows, cols), or None where that needs a
    copy (then NumPy does the product)."""
    if x.shape[:-2] != batch:
        x = np.broadcast_to(x, batch + x.shape[-2:])
    if x.ndim == 3:
        return x
    try:
        return x.reshape((-1,) + x.shape[-2:], copy=False)
    except (ValueError, TypeError):     # a copy would be needed (or NumPy < 2.1)
        return None


def _gemm_2d(lib, a, b, c, m, n, k):
    nt = num_threads() if m * n * k >= _SPLIT_MACS else 1
    if nt < 2:
        _gemm(lib, a, b, c)
    elif m >= n:
        _run_parts([lambda r0=r0, r1=r1: _gemm(lib, a[r0:r1], b, c[r0:r1]) for r0, r1 in _splits(m, nt, 16)])
    else:
        _run_parts([lambda c0=c0, c1=c1: _gemm(lib, a, b[:, c0:c1], c[:, c0:c1]) for c0, c1 in _splits(n, nt, 16)])
