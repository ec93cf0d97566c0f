"""The registry-driven op test: every registered op against PyTorch's CPU build, plus gradcheck."""
import glob
import importlib
import os

import numpy as np
import pytest

import disttensor
from disttensor.ops import FUNCTIONS
from tests.ops.opinfo import noncontiguous

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _load_tables():
    ops = []
    here = os.path.dirname(__file__)
    for path in sorted(glob.glob(os.path.join(here, "opinfo_*.py"))):
        mod = importlib.import_module("tests.ops." + os.path.basename(path)[:-3])
        ops.extend(mod.OPS)
    return ops


ALL_OPS = _load_tables()

# Registry names that are not ops on tensor values: creation, random, conversions.
NOT_VALUE_OPS = {
    "tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "arange", "range", "linspace", "logspace", "eye", "rand", "randn", "randint",
    "randperm", "rand_like", "randn_like", "randint_like", "normal", "bernoulli", "multinomial", "poisson",
    "manual_seed", "is_tensor", "is_nonzero", "numel", "set_printoptions", "result_type", "can_cast",
    "broadcast_shapes", "empty_strided", "zeros_strided", "complex", "polar", "tril_indices", "triu_indices",
}


def test_every_registered_op_has_an_opinfo():
    covered = set()
    for op in ALL_OPS:
        covered.add(op.name)
        covered.update(op.covers)
    missing = sorted(n for n in FUNCTIONS if n not in covered and n not in NOT_VALUE_OPS)
    assert not missing, f"ops without an OpInfo entry in tests/ops/opinfo_*.py: {missing}"


def _to_libs(arrays, dtype, grad_args, contiguous=True):
    dts, pts = [], []
    for i, a in enumerate(arrays):
        is_float = np.asarray(a).dtype.kind == "f"
        if is_float:
            a = np.asarray(a, dtype=dtype)
        if not contiguous:
            a = noncontiguous(np.asarray(a))
        rg = is_float and (grad_args is None or i in grad_args)
        if isinstance(a, np.ndarray):
            d = disttensor.from_numpy(a)
            p = torch.from_numpy(a.copy()) if not contiguous else torch.from_numpy(a.copy())
            if not contiguous and a.ndim:
                p = torch.from_numpy(np.ascontiguousarray(a)).as_strided(a.shape, tuple(
                    s // a.itemsize for s in np.ascontiguousarray(a).strides))
            if rg:
                d.requires_grad_(True)
                p.requires_grad_(True)
        else:
            d = p = a
        dts.append(d)
        pts.append(p)
    return dts, pts


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def _np(x):
    if isinstance(x, disttensor.Tensor):
        return x.detach().numpy()
    return x.detach().numpy()


def _check_case(op, arrays, dtype, contiguous):
    atol, rtol = (op.atol, op.rtol) if dtype == np.float64 else (op.atol32, op.rtol32)
    dts, pts = _to_libs(arrays, dtype, op.grad_args, contiguous)
    out_d = _first(op.fn(disttensor, *dts))
    out_p = _first(op.fn(torch, *pts))
    assert tuple(out_d.shape) == tuple(out_p.shape), f"{op.name}: shape {tuple(out_d.shape)} vs torch {tuple(out_p.shape)}"
    assert str(out_d.dtype).split(".")[-1] == str(out_p.dtype).split(".")[-1], \
        f"{op.name}: dtype {out_d.dtype} vs torch {out_p.dtype}"
    np.testing.assert_allclose(_np(out_d).astype(np.float64) if _np(out_d).dtype.kind != "b" else _np(out_d),
                               _np(out_p).astype(np.float64) if _np(out_p).dtype.kind != "b" else _np(out_p),
                               atol=atol, rtol=rtol, err_msg=f"{op.name} forward")
    if not op.grad or not out_d.requires_grad:
        return
    g = np.random.default_rng(1).standard_normal(tuple(out_p.shape)).astype(dtype)
    diff_d = [t for t in dts if isinstance(t, disttensor.Tensor) and t.requires_grad]
    diff_p = [t for t in pts if isinstance(t, torch.Tensor) and t.requires_grad]
    gd = disttensor.autograd.grad([out_d], diff_d, [disttensor.from_numpy(g.copy())], allow_unused=True)
    gp = torch.autograd.grad([out_p], diff_p, [torch.from_numpy(g.copy())], allow_unused=True)
    for k, (a, b) in enumerate(zip(gd, gp)):
        if b is None:
            assert a is None or np.allclose(a.numpy(), 0), f"{op.name}: grad {k} should be None/zero"
            continue
        assert a is not None, f"{op.name}: grad {k} is None, torch has one"
        assert tuple(a.shape) == tuple(b.shape), f"{op.name}: grad {k} shape {tuple(a.shape)} vs {tuple(b.shape)}"
        np.testing.assert_allclose(a.numpy().astype(np.float64), b.numpy().astype(np.float64), atol=atol * 10,
                                   rtol=max(rtol * 10, 1e-5), err_msg=f"{op.name} grad of input {k}")


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.name)
def test_op_matches_torch(op):
    rng = np.random.default_rng(0)
    for arrays in op.build_samples(rng):
        for dt in op.dtypes:
            _check_case(op, arrays, np.dtype(dt), contiguous=True)
        if op.noncontig:
            _check_case(op, arrays, np.dtype(op.dtypes[-1]), contiguous=False)


@pytest.mark.parametrize("op", [o for o in ALL_OPS if o.grad and o.gradcheck], ids=lambda o: o.name)
def test_op_gradcheck(op):
    rng = np.random.default_rng(2)
    for arrays in op.build_samples(rng)[:2]:
        if max((np.asarray(a).size for a in arrays), default=0) > 200:
            continue  # finite differences are O(numel); the torch comparison covers big inputs
        dts, _ = _to_libs(arrays, np.float64, op.grad_args)
        if not any(isinstance(t, disttensor.Tensor) and t.requires_grad for t in dts):
            continue
        assert disttensor.autograd.gradcheck(lambda *xs: _first(op.fn(disttensor, *xs)), tuple(dts),
                                             eps=1e-6, atol=1e-5, rtol=1e-3)


BROADCAST_OPS = [o for o in ALL_OPS if o.broadcast]

try:
    from hypothesis import given, settings, HealthCheck, strategies as st
    from hypothesis.extra.numpy import mutually_broadcastable_shapes

    @pytest.mark.parametrize("op", BROADCAST_OPS, ids=lambda o: o.name)
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def test_op_broadcasting(op, data):
        shapes = data.draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
        rng = np.random.default_rng(3)
        lo, hi = op.domain
        arrays = [rng.uniform(lo, hi, size=s) for s in shapes.input_shapes]
        _check_case(op, arrays, np.dtype(np.float64), contiguous=True)
except ImportError:  # pragma: no cover
    pass
