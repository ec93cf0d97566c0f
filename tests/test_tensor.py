"""Tensor basics against PyTorch: creation, dtype inference and promotion, repr, conversions, errors."""
import pickle
import copy

import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


@pytest.mark.parametrize("data", [[1, 2, 3], [1.0, 2], [True, False], 3, 2.5, True, [[1, 2], [3, 4]], [],
                                  [1, 2.0, True]])
def test_tensor_dtype_inference_matches_torch(data):
    a, b = dt.tensor(data), torch.tensor(data)
    assert a.dtype.name == str(b.dtype).split(".")[1]
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_creation_functions_match_torch():
    for name, args in [("zeros", (2, 3)), ("ones", (4,)), ("eye", (3,)), ("arange", (5,)), ("arange", (1, 4, 0.5)),
                       ("linspace", (0, 1, 5)), ("full", ((2, 2), 7)), ("full", ((2,), 1.5))]:
        a, b = getattr(dt, name)(*args), getattr(torch, name)(*args)
        assert a.dtype.name == str(b.dtype).split(".")[1], name
        np.testing.assert_allclose(a.numpy(), b.numpy(), err_msg=name)
    assert dt.zeros_like(dt.ones(2, dtype=dt.int32)).dtype == dt.int32
    assert dt.randn(3, 4).shape == (3, 4)
    assert dt.rand(2, 2, dtype=dt.float64).dtype == dt.float64
    r = dt.randint(0, 5, (1000,))
    assert r.dtype == dt.int64 and r.numpy().min() >= 0 and r.numpy().max() < 5
    assert sorted(dt.randperm(10).tolist()) == list(range(10))


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_binary_promotion_matches_torch(da, db):
    if "bfloat16" in (da, db) and "float16" in (da, db):
        pass
    x = dt.ones(3, dtype=getattr(dt, da))
    y = dt.ones(3, dtype=getattr(dt, db))
    xt = torch.ones(3, dtype=getattr(torch, da))
    yt = torch.ones(3, dtype=getattr(torch, db))
    assert (x + y).dtype.name == str((xt + yt).dtype).split(".")[1]
    assert (x * y).dtype.name == str((xt * yt).dtype).split(".")[1]
    assert (x / y).dtype.name == str((xt / yt).dtype).split(".")[1]


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_scalar_promotion_matches_torch(da, scalar):
    x = dt.ones(3, dtype=getattr(dt, da))
    xt = torch.ones(3, dtype=getattr(torch, da))
    assert (x * scalar).dtype.name == str((xt * scalar).dtype).split(".")[1]


def test_zero_dim_tensor_promotion_matches_torch():
    cases = [(dt.float32, dt.float64), (dt.int64, dt.float64), (dt.float16, dt.int64), (dt.int32, dt.float16)]
    for d1, d0 in cases:
        a = dt.ones(3, dtype=d1) + dt.tensor(1, dtype=d0)
        b = torch.ones(3, dtype=getattr(torch, d1.name)) + torch.tensor(1, dtype=getattr(torch, d0.name))
        assert a.dtype.name == str(b.dtype).split(".")[1]


@pytest.mark.parametrize("data,kw", [([[1.0, 2.5], [3.0, 4.0]], {}), ([1, 2, 3], {}), ([True, False], {}),
                                     ([1.0, 2.0], {"requires_grad": True}), ([[1.0, 2.0]], {"dtype": "float64"}),
                                     ([1.5e-5, 2.0], {}), (3.25, {}), ([1, 2], {"dtype": "int32"})])
def test_repr_matches_torch(data, kw):
    kw_dt = {k: (getattr(dt, v) if k == "dtype" else v) for k, v in kw.items()}
    kw_pt = {k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()}
    assert repr(dt.tensor(data, **kw_dt)) == repr(torch.tensor(data, **kw_pt)).replace("torch.", "disttensor.")


def test_size_and_metadata():
    x = dt.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert repr(x.shape) == "disttensor.Size([2, 3, 4])"
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
    assert x.stride() == (12, 4, 1) and x.is_contiguous()
    assert not x.transpose(0, 1).is_contiguous()
    assert x.device == dt.device("cpu") and str(x.device) == "cpu"
    assert x.dtype is dt.float32 and x.is_floating_point()


def test_item_tolist_numpy_index():
    x = dt.tensor([[1, 2], [3, 4]])
    assert x.tolist() == [[1, 2], [3, 4]]
    assert dt.tensor(2.5).item() == 2.5
    assert [10, 20, 30][dt.tensor(1)] == 20
    with pytest.raises(RuntimeError, match="4 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(RuntimeError, match="requires grad"):
        dt.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dt.ones(2))
    assert float(dt.tensor([3.0])) == 3.0 and int(dt.tensor(7)) == 7


def test_from_numpy_shares_memory():
    a = np.zeros(3, dtype=np.float32)
    t = dt.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 5


def test_to_dtype_and_device():
    x = dt.tensor([1.5, 2.5])
    assert x.to(dt.float64).dtype is dt.float64
    assert x.double().dtype is dt.float64 and x.long().tolist() == [1, 2] and x.half().dtype is dt.float16
    assert x.to("cpu") is x
    assert x.bfloat16().float().tolist() == [1.5, 2.5]
    assert not dt.cuda.is_available()
    with pytest.raises(RuntimeError, match="CUDA|CuPy"):
        x.to("cuda")


def test_shape_mismatch_error_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"add: The size of tensor a \(3\) must match the size of tensor b \(4\)"):
        dt.ones(3) + dt.ones(4)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3, 4\) and \(5, 6\) cannot be multiplied"):
        dt.ones(3, 4) @ dt.ones(5, 6)


def test_pickle_and_deepcopy_round_trip():
    x = dt.randn(3, 2, requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())
    assert y.requires_grad
    z = copy.deepcopy(x)
    assert z is not x and np.array_equal(z.detach().numpy(), x.detach().numpy())


def test_manual_seed_reproducible():
    dt.manual_seed(123)
    a = dt.randn(5)
    dt.manual_seed(123)
    b = dt.randn(5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    g = dt.Generator().manual_seed(7)
    c = dt.rand(3, generator=g)
    g.manual_seed(7)
    np.testing.assert_array_equal(c.numpy(), dt.rand(3, generator=g).numpy())


def test_inplace_dunders_keep_identity_and_memory():
    x = dt.zeros(3)
    v = x[1:]
    ident = id(x)
    x += 1
    x *= 3
    assert id(x) == ident
    assert v.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        dt.zeros(3, dtype=dt.int64).add_(1.5)


def test_import_is_light():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, disttensor; "
                          "print([m for m in ('mpi4py', 'cupy', 'ray', 'torch', 'numba') if m in sys.modules])"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_float_domain_errors_are_silent_like_torch():
    # log(-1), sqrt(-1), 1/0, overflow: torch gives nan/inf without a warning; NumPy code of the user must
    # still warn. Run under -W error in a fresh process (pytest rewrites warning filters per test).
    import json
    import subprocess
    import sys
    body = ("x = L.tensor([-1.0, 0.0, 1.0], requires_grad=True)\n"
            "y = L.log(x) + L.sqrt(x) + x / 0 + L.tensor([3e38]) * 10\n"
            "y.sum().backward()\n"
            "r = [str(v) for v in y.tolist() + x.grad.tolist() + [L.tensor([1e10]).half().item()]]\n")
    code = ("import json, numpy as np, disttensor as L\n" + body + "print(json.dumps(r))\n"
            "try:\n    np.log(np.array([-1.0]))\nexcept RuntimeWarning:\n    print('numpy warns')\n")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ours, numpy_line = out.stdout.strip().splitlines()
    scope = {"L": torch}
    exec(body, scope)
    assert json.loads(ours) == scope["r"]
    assert numpy_line == "numpy warns"


def test_copy_matches_torch():
    w0 = np.array([1.0, 2.0, 3.0])
    w, wt = dt.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    for lib, v in ((dt, w), (torch, wt)):
        y = lib.zeros(2, 3) * 1
        y.copy_(v * 2)
        (y * lib.arange(6.0).view(2, 3)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy())
    b = dt.zeros(3, dtype=dt.int64).copy_(dt.tensor([1.7, -2.2, 3.9]))
    assert b.tolist() == torch.zeros(3, dtype=torch.int64).copy_(torch.tensor([1.7, -2.2, 3.9])).tolist()
    with pytest.raises(RuntimeError, match="copy_"):
        dt.zeros(3).copy_(dt.ones(4))
    p = dt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        p.copy_(dt.zeros(3))
