"""disttensor.testing against torch.testing (same inputs: both pass or both raise the same error with the
same message), and disttensor.backends (training-script preambles, read-back, context managers)."""
import collections
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.testing as dtt
from disttensor.backends import _flags


def _outcome(fn, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, **kwargs)
        return "pass"
    except Exception as e:
        return f"{type(e).__name__}: {e}".replace("disttensor.", "torch.")


def _both(a, e, dtype, **kw):
    ta, te = torch.tensor(a, dtype=getattr(torch, dtype)), torch.tensor(e, dtype=getattr(torch, dtype))
    da, de = dt.tensor(a, dtype=getattr(dt, dtype)), dt.tensor(e, dtype=getattr(dt, dtype))
    return _outcome(torch.testing.assert_close, ta, te, **kw), _outcome(dtt.assert_close, da, de, **kw)


INF, NAN = float("inf"), float("nan")
VALUE_CASES = [
    ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], {}),
    ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.00001], {}),
    ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.1], {}),
    ([[1.0, 0.0], [3.0, 4.0]], [[1.0, 1e-3], [3.5, 4.0]], {}),
    ([[1.0, 0.0], [3.0, 4.0]], [[1.0, 1e-3], [3.5, 4.0]], {"rtol": 0.2, "atol": 1e-2}),
    ([[1.0, 0.0], [3.0, 4.0]], [[1.0, 1e-3], [3.5, 4.0]], {"rtol": 0.0, "atol": 0.0}),
    ([1.0, NAN], [1.0, NAN], {}),
    ([1.0, NAN], [1.0, NAN], {"equal_nan": True}),
    ([1.0, NAN], [1.0, 2.0], {"equal_nan": True}),
    ([1.0, INF], [1.0, INF], {}),
    ([1.0, INF], [1.0, -INF], {}),
    ([1.0, 5.0], [1.0, INF], {}),
    (3.0, 3.1, {}),
    (3.0, 3.0000001, {}),
    ([0.0, 0.0, 2.0], [1.0, 0.0, 0.0], {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "complex64", "complex128"])
@pytest.mark.parametrize("case", range(len(VALUE_CASES)))
def test_assert_close_matches_torch_floating(case, dtype):
    a, e, kw = VALUE_CASES[case]
    t, d = _both(a, e, dtype, **kw)
    assert d == t


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool"])
@pytest.mark.parametrize("a,e,kw", [
    ([1, 2, 3], [1, 2, 3], {}), ([1, 2, 3], [1, 0, 4], {}), ([[1, 5], [0, 1]], [[1, 1], [1, 1]], {}),
    ([1, 2], [1, 3], {"rtol": 0.5, "atol": 0.0}), ([1, 2], [1, 3], {"rtol": 0.1, "atol": 0.5}),
])
def test_assert_close_matches_torch_integral(a, e, kw, dtype):
    if dtype == "bool":
        a, e = [np.asarray(x).astype(bool).tolist() for x in (a, e)]
    t, d = _both(a, e, dtype, **kw)
    assert d == t


def test_message_format():
    with pytest.raises(AssertionError) as info:
        dtt.assert_close(dt.tensor([1.0, 2.0, 3.0, 4.0]), dt.tensor([1.0, 2.0, 3.0, 4.5]))
    assert str(info.value) == ("Tensor-likes are not close!\n\nMismatched elements: 1 / 4 (25.0%)\n"
                               "Greatest absolute difference: 0.5 at index (3,) (up to 1e-05 allowed)\n"
                               "Greatest relative difference: 0.1111111119389534 at index (3,) "
                               "(up to 1.3e-06 allowed)")


def _pair(obj, lib):
    """Build the same structure for torch and disttensor: tensors given as ('t', data, dtype)."""
    if isinstance(obj, tuple) and obj and obj[0] == "t":
        return lib.tensor(obj[1], dtype=getattr(lib, obj[2]))
    if isinstance(obj, list):
        return [_pair(x, lib) for x in obj]
    if isinstance(obj, tuple):
        return tuple(_pair(x, lib) for x in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _pair(v, lib)) for k, v in obj.items())
    return obj


STRUCT_CASES = [
    (("t", [1.0, 2.0], "float32"), ("t", [1.0, 2.0, 3.0], "float32"), {}),
    (("t", [1.0, 2.0], "float32"), ("t", [1.0, 2.0], "float64"), {}),
    (("t", [1.0, 2.0], "float32"), ("t", [1.0, 2.0], "float64"), {"check_dtype": False}),
    (("t", [1.0, 2.5], "float32"), ("t", [1.0, 2.0], "float64"), {"check_dtype": False}),
    (("t", [1, 2], "int64"), ("t", [1.0, 2.0], "float32"), {"check_dtype": False}),
    ([("t", [1.0], "float32"), 2.0, None], (("t", [1.0], "float32"), 2.0, None), {}),
    ([("t", [1.0], "float32"), 2.0], [("t", [1.0], "float32"), 2.5], {}),
    ([("t", [1.0], "float32"), 2.0], [("t", [1.0], "float32")], {}),
    ({"w": ("t", [1.0, 2.0], "float32"), "b": [1, 2]}, {"b": [1, 2], "w": ("t", [1.0, 2.0], "float32")}, {}),
    ({"w": ("t", [1.0, 2.0], "float32"), "b": [1, 2]}, {"b": [1, 3], "w": ("t", [1.0, 2.5], "float32")}, {}),
    ({"w": 1.0, "x": 2}, {"w": 1.0, "y": 2}, {}),
    (collections.OrderedDict(a=1.0), {"a": 1.0}, {}),
    (1.0, 1, {}), (1.0, 1, {"check_dtype": False}), (1, 2, {}), (1.5, 1.5 + 1e-8, {}), (1.5, 1.6, {}),
    (1 + 2j, 1 + 2j, {}), (1 + 2j, 1 + 3j, {}), (NAN, NAN, {}), (NAN, NAN, {"equal_nan": True}), (0.0, 1e-3, {}),
    (True, True, {}), (True, False, {}), (None, None, {}), (None, 1, {}),
    (np.float32(1.0), np.float32(1.0), {}), (np.int64(3), 3, {}), (np.float64(2.0), 2.0001, {}),
    ("abc", "abc", {}), (1.0, 2.0, {"rtol": 1.0}), (1.0, 2.0, {"atol": 1.0}), (1.0, 2.0, {"rtol": 0.0, "atol": 1.0}),
    ([1.0, 2.0], [1.0, 3.0], {"msg": "custom"}), ([1.0, 2.0], [1.0, 2.0, 3.0], {"msg": "custom"}),
    (("t", [1.0, 2.0], "float32"), ("t", [1.0, 5.0], "float32"), {"msg": "Argh"}),
    (("t", [1.0, 2.0], "float32"), ("t", [1.0, 5.0], "float32"), {"msg": lambda m: f"Header\n\n{m}\n\nFooter"}),
    ([("t", [1.0, 2.0], "float32")], [("t", [1.0, 5.0], "float32")], {"msg": lambda m: m.upper()}),
    (("t", 1.0, "float32"), ("t", 2.0, "float32"), {}),
    (("t", NAN, "float64"), ("t", NAN, "float64"), {}),
    (("t", [[True, False]], "bool"), ("t", [[True, True]], "bool"), {}),
]


@pytest.mark.parametrize("case", range(len(STRUCT_CASES)))
def test_assert_close_structures_scalars_and_errors_match_torch(case):
    a, e, kw = STRUCT_CASES[case]
    t = _outcome(torch.testing.assert_close, _pair(a, torch), _pair(e, torch), **kw)
    d = _outcome(dtt.assert_close, _pair(a, dt), _pair(e, dt), **kw)
    assert d.replace("disttensor.tensor.Tensor", "torch.Tensor") == t


@pytest.mark.parametrize("a,e", [
    (np.array([1.0, 2.0]), np.array([1.0, 2.0])), (np.array([1.0, 2.0]), np.array([1.0, 2.1])),
    (np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64)), (np.array(3.0), np.array(3.5)),
])
def test_numpy_arrays_compared_like_torch(a, e):
    assert _outcome(dtt.assert_close, a, e) == _outcome(torch.testing.assert_close, a, e)


def test_bool_against_int_is_a_dtype_mismatch():
    # torch 2.13 fails here with an internal RuntimeError ("Originating a NumberPair() ... please file an
    # issue"); disttensor reports the mismatch of types it means
    with pytest.raises(AssertionError, match="The \\(d\\)types do not match"):
        dtt.assert_close(True, 1)
    dtt.assert_close(True, 1, check_dtype=False)


def test_type_relations():
    x = dt.tensor([1.0, 2.0])
    # a NumPy array and a tensor are not directly related: TypeError, as in torch
    with pytest.raises(TypeError, match="No comparison pair"):
        dtt.assert_close(x, x.numpy())
    p = dt.nn.Parameter(x.clone())
    dtt.assert_close(p, x)
    with pytest.raises(TypeError, match="No comparison pair"):
        dtt.assert_close(p, x, allow_subclasses=False)
    # requires_grad does not matter
    dtt.assert_close(dt.ones(2, requires_grad=True) * 2, dt.full((2,), 2.0))


def test_stride_check():
    a = dt.arange(6.0).reshape(2, 3)
    b = a.t().contiguous().t()
    dtt.assert_close(a, b)
    ta = torch.arange(6.0).reshape(2, 3)
    tb = ta.t().contiguous().t()
    assert (_outcome(dtt.assert_close, a, b, check_stride=True)
            == _outcome(torch.testing.assert_close, ta, tb, check_stride=True))
    assert "stride()" in _outcome(dtt.assert_close, a, b, check_stride=True)


def test_default_tolerances_per_dtype():
    # just inside / just outside each dtype's default tolerances at 1.0 (|diff| <= atol + rtol)
    for name, rtol, atol in [("float16", 1e-3, 1e-5), ("bfloat16", 1.6e-2, 1e-5), ("float32", 1.3e-6, 1e-5),
                             ("float64", 1e-7, 1e-7)]:
        for diff in (0.5 * (rtol + atol), 4 * (rtol + atol)):
            t, d = _both([100.0], [100.0 + 100 * diff], name)
            assert d == t, (name, diff)


def test_assert_allclose_like_torch():
    cases = [([1.0, 2.0], [1.0, 2.00001], {}), ([1.0, 2.0], [1.0, 2.01], {}),
             ([1.0, NAN], [1.0, NAN], {}), ([1.0, NAN], [1.0, NAN], {"equal_nan": False}),
             ([1.0, 2.0], [1.0, 2.5], {"rtol": 0.3, "atol": 0.0}), ([1.0, 2.0], [1.0, 2.5], {"msg": "boom"}),
             ([1.0, 2.0], [1.0, 2.5], {"rtol": 0.3})]
    for a, e, kw in cases:
        t = _outcome(torch.testing.assert_allclose, torch.tensor(a), e, **kw)
        d = _outcome(dtt.assert_allclose, dt.tensor(a), e, **kw)
        assert d == t, (a, e, kw)
    # dtype differences are ignored; Python lists are converted
    t = _outcome(torch.testing.assert_allclose, torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))
    assert _outcome(dtt.assert_allclose, dt.tensor([1, 2]), dt.tensor([1.0, 2.0])) == t == "pass"
    assert _outcome(dtt.assert_allclose, [1.0, 2.0], [1.0, 2.0]) == "pass"
    with pytest.warns(FutureWarning, match="assert_allclose"):
        dtt.assert_allclose(dt.tensor([1.0]), dt.tensor([1.0]))


@pytest.mark.parametrize("dtype,lo,hi", [
    ("bool", 0, 1), ("uint8", 0, 9), ("int8", -9, 9), ("int16", -9, 9), ("int32", -9, 9), ("int64", -9, 9),
    ("float16", -9, 9), ("bfloat16", -9, 9), ("float32", -9, 9), ("float64", -9, 9),
    ("complex64", -9, 9), ("complex128", -9, 9),
])
def test_make_tensor_default_ranges(dtype, lo, hi):
    d = getattr(dt, dtype)
    x = dtt.make_tensor(400, dtype=d, device="cpu")
    assert x.dtype == d and tuple(x.shape) == (400,) and x.device.type == "cpu" and not x.requires_grad
    v = x.numpy()
    parts = [v.real, v.imag] if d.is_complex else [v.astype(np.float64)]
    for p in parts:
        # [low, high) for float32/float64; float16/bfloat16 values drawn just below 9 may round up to 9
        exclusive = dtype in ("float32", "float64", "complex64", "complex128")
        assert p.min() >= lo and (p.max() < hi if exclusive else p.max() <= hi)
        assert len(np.unique(p)) > 1  # actually random


def test_make_tensor_options():
    x = dtt.make_tensor(3, 4, dtype=dt.float32, device="cpu", low=-1, high=1, requires_grad=True,
                        noncontiguous=True)
    assert tuple(x.shape) == (3, 4) and not x.is_contiguous() and x.requires_grad and x.is_leaf
    assert float(x.min()) >= -1 and float(x.max()) < 1
    y = dtt.make_tensor((2, 3), dtype=dt.int64, device="cpu", low=0, high=2, exclude_zero=True)
    assert tuple(y.shape) == (2, 3) and (y.numpy() == 1).all()
    z = dtt.make_tensor([5], dtype=dt.float32, device="cpu", low=0, high=1e-30, exclude_zero=True)
    assert (z.numpy() != 0).all()
    big = dtt.make_tensor(100, dtype=dt.float32, device="cpu", low=-math.inf, high=math.inf)
    assert np.isfinite(big.numpy()).all()
    assert dtt.make_tensor((), dtype=dt.float64, device="cpu", noncontiguous=True).shape == ()
    for kwargs, err in [(dict(dtype=dt.int32, requires_grad=True), ValueError),
                        (dict(dtype=dt.float32, low=2, high=1), ValueError),
                        (dict(dtype=dt.float32, low=math.nan), ValueError),
                        (dict(dtype=dt.uint8, low=300, high=400), ValueError)]:
        with pytest.raises(err):
            dtt.make_tensor(3, device="cpu", **kwargs)
        with pytest.raises(err):
            torch.testing.make_tensor(3, device="cpu", **{k: (getattr(torch, str(v).split(".")[-1])
                                                             if k == "dtype" else v) for k, v in kwargs.items()})
    dt.manual_seed(0)
    a = dtt.make_tensor(5, dtype=dt.float32, device="cpu")
    dt.manual_seed(0)
    dtt.assert_close(a, dtt.make_tensor(5, dtype=dt.float32, device="cpu"), rtol=0, atol=0)


# ---- backends ----------------------------------------------------------------------------------------

@pytest.fixture
def restore_backends():
    b = dt.backends
    saved = (dict(b.cudnn._state), dict(b.mkldnn._state), dict(b.cuda.matmul._state), dict(b.cuda._sdp),
             _flags._frozen)
    yield b
    b.cudnn._state.update(saved[0])
    b.mkldnn._state.update(saved[1])
    b.cuda.matmul._state.update(saved[2])
    b.cuda._sdp.update(saved[3])
    _flags._frozen = saved[4]


def test_training_script_preamble(restore_backends):
    import disttensor as torch_  # a script's `import disttensor as torch`
    torch_.backends.cudnn.benchmark = True
    torch_.backends.cuda.matmul.allow_tf32 = True
    torch_.backends.cudnn.allow_tf32 = True
    torch_.backends.cudnn.deterministic = True
    torch_.backends.cudnn.enabled = True
    assert torch_.backends.cudnn.benchmark is True
    assert torch_.backends.cuda.matmul.allow_tf32 is True
    assert torch_.backends.cudnn.deterministic is True
    torch_.backends.cudnn.benchmark = False
    assert torch_.backends.cudnn.benchmark is False


def test_defaults_match_torch_cpu_build(restore_backends):
    b, tb = dt.backends, torch.backends
    for name in ("enabled", "benchmark", "deterministic", "allow_tf32", "fp32_precision", "benchmark_limit",
                 "depthwise_kernel"):
        assert getattr(b.cudnn, name) == getattr(tb.cudnn, name), name
    for name in ("allow_tf32", "allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction",
                 "fp32_precision"):
        assert getattr(b.cuda.matmul, name) == getattr(tb.cuda.matmul, name), name
    assert b.cudnn.is_available() is False and b.cudnn.version() is None
    assert b.mps.is_available() is False and b.mps.is_built() is False
    assert b.cuda.is_built() is False  # no CuPy in this environment
    assert b.mkldnn.is_available() is False and b.mkl.is_available() is False
    assert b.openmp.is_available() is False
    assert b.opt_einsum.is_available() is False and b.opt_einsum.enabled is False
    assert b.opt_einsum.strategy is None and b.opt_einsum.get_opt_einsum() is None
    assert b.mkldnn.enabled is True
    assert isinstance(b.cpu.get_cpu_capability(), str)
    for f in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        assert getattr(b.cuda, f)() == getattr(tb.cuda, f)()


def test_setters_check_types_like_torch(restore_backends):
    b, tb = dt.backends, torch.backends
    for value in (1, "x", None):
        for mod in ("cudnn",):
            for name in ("benchmark", "deterministic", "enabled", "allow_tf32"):
                with pytest.raises(RuntimeError, match="expects a bool"):
                    setattr(getattr(b, mod), name, value)
                with pytest.raises(RuntimeError, match="expects a bool"):
                    setattr(getattr(tb, mod), name, value)
        with pytest.raises(RuntimeError, match="expects a bool"):
            b.cuda.matmul.allow_tf32 = value
    with pytest.raises(AttributeError, match="Unknown attribute foo"):
        b.cuda.matmul.foo = True
    with pytest.raises(AttributeError, match="Unknown attribute foo"):
        b.cuda.matmul.foo
    with pytest.raises(RuntimeError, match="Unknown precision"):
        b.cudnn.fp32_precision = "bad"
    b.cudnn.fp32_precision = "tf32"
    assert b.cudnn.fp32_precision == "tf32"
    b.cuda.matmul.allow_fp16_reduced_precision_reduction = (False, False)
    assert b.cuda.matmul.allow_fp16_reduced_precision_reduction is False
    assert b.cuda.matmul.allow_fp16_reduced_precision_reduction_split_k is False
    b.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    assert b.cuda.matmul.allow_bf16_reduced_precision_reduction is False
    with pytest.raises(TypeError):
        b.cuda.matmul.allow_fp16_reduced_precision_reduction = (True, True, True)
    b.opt_einsum.enabled = True  # accepted and stored, as torch 2.13 does without opt_einsum
    assert b.opt_einsum.enabled is True
    b.opt_einsum.enabled = False


def test_flags_context_manager_restores(restore_backends):
    b = dt.backends
    b.cudnn.benchmark = True
    b.cudnn.deterministic = False
    with b.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        assert (b.cudnn.enabled, b.cudnn.benchmark, b.cudnn.deterministic) == (True, False, True)
    assert (b.cudnn.enabled, b.cudnn.benchmark, b.cudnn.deterministic) == (True, True, False)
    with b.cudnn.flags():  # PyTorch's defaults: cuDNN off
        assert b.cudnn.enabled is False and b.cudnn.allow_tf32 is True
    assert b.cudnn.enabled is True
    with pytest.raises(KeyError):
        with b.cudnn.flags(enabled=False, benchmark=False):
            raise KeyError("inside")
    assert b.cudnn.enabled is True and b.cudnn.benchmark is True
    with b.mkldnn.flags(enabled=False):
        assert b.mkldnn.enabled is False
    assert b.mkldnn.enabled is True
    with pytest.warns(FutureWarning):
        with b.cuda.sdp_kernel(enable_flash=False):
            assert b.cuda.flash_sdp_enabled() is False and b.cuda.math_sdp_enabled() is True
    assert b.cuda.flash_sdp_enabled() is True


def test_disable_global_flags(restore_backends):
    b = dt.backends
    assert b.flags_frozen() is False
    b.disable_global_flags()
    assert b.flags_frozen() is True
    with pytest.raises(RuntimeError, match="disable_global_flags"):
        b.cudnn.benchmark = True
    with b.cudnn.flags(enabled=True, benchmark=True):
        assert b.cudnn.benchmark is True
    assert b.cudnn.benchmark is False


def test_cufft_plan_cache_and_libraries(restore_backends):
    b = dt.backends
    cache = b.cuda.cufft_plan_cache
    old = cache.max_size
    cache.max_size = 8
    assert cache[0].max_size == 8 and cache.size == 0
    with pytest.raises(RuntimeError):
        cache.size = 3
    cache.max_size = old
    assert b.cuda.preferred_linalg_library() == "default"
    assert b.cuda.preferred_linalg_library("cusolver") == "cusolver"
    b.cuda.preferred_linalg_library("default")


def test_import_stays_light():
    # importing the three modules pulls in neither CuPy nor torch nor mpi4py
    code = ("import sys, disttensor as torch\n"
            "torch.backends.cudnn.benchmark = True; torch.testing; torch.multiprocessing\n"
            "assert torch.backends.cudnn.is_available() is False\n"
            "bad = [m for m in ('cupy', 'torch', 'mpi4py') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
