"""Top-level torch.* configuration switches, dtype helpers, legacy constructors, printing options and the
extra math of disttensor/ops/extra_math.py, each against torch 2.13 (values, dtypes, errors, gradients)."""
import warnings

import numpy as np
import pytest

import disttensor as dt

torch = pytest.importorskip("torch")

DT_NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
            "complex64", "complex128"]


def _name(d):
    return str(d).split(".")[-1]


def _err(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


# ---- configuration -------------------------------------------------------------------------------
def test_float32_matmul_precision():
    try:
        for p in ("high", "medium", "highest"):
            dt.set_float32_matmul_precision(p)
            torch.set_float32_matmul_precision(p)
            assert dt.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == p
        dt.set_float32_matmul_precision("high")
        with pytest.warns(UserWarning, match="has no effect"):
            dt.set_float32_matmul_precision("bogus")
        assert dt.get_float32_matmul_precision() == "high"
        with pytest.raises(RuntimeError, match="expects a str"):
            dt.set_float32_matmul_precision(1)
        # documented: float32 matmuls stay full precision whatever the setting
        a = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
        np.testing.assert_array_equal((dt.from_numpy(a) @ dt.from_numpy(a)).numpy(), a @ a)
    finally:
        dt.set_float32_matmul_precision("highest")
        torch.set_float32_matmul_precision("highest")


def test_default_device():
    assert str(dt.get_default_device()) == str(torch.get_default_device()) == "cpu"
    dt.set_default_device("cpu")
    assert dt.zeros(2).device.type == "cpu"
    try:
        dt.set_default_device("cuda")
        assert dt.get_default_device().type == "cuda"
        if not dt.cuda.is_available():
            for make in (lambda: dt.zeros(2), lambda: dt.tensor([1.0]), lambda: dt.randn(2), lambda: dt.arange(3),
                         lambda: dt.hann_window(4)):
                with pytest.raises(Exception):
                    make()
            # an explicit device= still wins, and from_numpy is always on the CPU
            assert dt.zeros(2, device="cpu").device.type == "cpu"
            assert dt.from_numpy(np.zeros(2)).device.type == "cpu"
    finally:
        dt.set_default_device(None)
    assert dt.get_default_device().type == "cpu" and dt.ones(1).device.type == "cpu"
    with pytest.raises(RuntimeError):
        dt.set_default_device("foo")


def test_default_device_on_fake_cuda():
    from tests import fake_cupy
    undo = fake_cupy.install()
    try:
        dt.set_default_device("cuda")
        made = [dt.zeros(2, 3), dt.ones(2), dt.empty(2), dt.full((2,), 1.5), dt.tensor([1, 2]), dt.arange(4),
                dt.linspace(0, 1, 5), dt.eye(2), dt.rand(3), dt.randn(3), dt.randint(0, 5, (3,)), dt.randperm(4),
                dt.hann_window(5), dt.kaiser_window(4)]
        assert all(t.device.type == "cuda" for t in made)
        assert dt.zeros(2, device="cpu").device.type == "cpu"
    finally:
        dt.set_default_device(None)
        undo()


def test_deterministic_switches():
    try:
        assert dt.are_deterministic_algorithms_enabled() is False
        assert dt.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode() == 0
        for mode in (1, "error", "warn", 0, 2, "default"):
            dt.set_deterministic_debug_mode(mode)
            torch.set_deterministic_debug_mode(mode)
            assert dt.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
            assert dt.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
            assert (dt.is_deterministic_algorithms_warn_only_enabled()
                    == torch.is_deterministic_algorithms_warn_only_enabled())
        dt.use_deterministic_algorithms(True, warn_only=True)
        torch.use_deterministic_algorithms(True, warn_only=True)
        assert dt.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode() == 1
        for bad in ("foo", 3, 1.0):
            assert _err(lambda: dt.set_deterministic_debug_mode(bad)) is _err(
                lambda: torch.set_deterministic_debug_mode(bad))
        assert _err(lambda: dt.use_deterministic_algorithms(1)) is TypeError
    finally:
        dt.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


def test_interop_threads_and_predicates():
    assert dt.get_num_interop_threads() >= 1
    dt.set_num_interop_threads(3)
    assert dt.get_num_interop_threads() == 3
    with pytest.raises(RuntimeError, match="positive integer"):
        dt.set_num_interop_threads(0)
    assert dt.typename(3) == torch.typename(3) == "int"
    assert dt.typename(dt.nn.Linear) == "disttensor.nn.modules.linear.Linear" or dt.typename(dt.nn.Linear).endswith(
        ".Linear")
    assert dt.typename(dt.zeros(2)) == dt.zeros(2).type() == "disttensor.FloatTensor"
    assert dt.typename(dt.zeros(2, dtype=dt.int64)).endswith("LongTensor")
    assert dt.is_storage(dt.zeros(2)) is False and dt.is_storage([1]) is False
    for data in ([0.5], [[0]], [True], [0.0], 7, [False]):
        assert dt.is_nonzero(dt.tensor(data)) == torch.is_nonzero(torch.tensor(data))
    for data in ([], [1, 2]):
        with pytest.raises(RuntimeError) as e:
            dt.is_nonzero(dt.tensor(data))
        with pytest.raises(RuntimeError) as e2:
            torch.is_nonzero(torch.tensor(data))
        assert str(e.value) == str(e2.value)
    with pytest.raises(TypeError):
        dt.is_nonzero(3)


# ---- dtype helpers ------------------------------------------------------------------------------------
def test_promote_types_and_can_cast_match_torch():
    for a in DT_NAMES:
        for b in DT_NAMES:
            da, db, ta, tb = getattr(dt, a), getattr(dt, b), getattr(torch, a), getattr(torch, b)
            assert dt.promote_types(da, db).name == _name(torch.promote_types(ta, tb)), (a, b)
            assert dt.can_cast(da, db) == torch.can_cast(ta, tb), (a, b)


def _operands(lib, kind):
    if kind == "scalars":
        return [True, 3, 2.5, 1j]
    out = []
    for n in ("bool", "uint8", "int32", "int64", "float16", "float32", "float64", "complex64"):
        d = getattr(lib, n)
        out.append(lib.ones(2, dtype=d) if kind == "dim" else lib.ones((), dtype=d))
    return out


def test_result_type_matches_torch():
    kinds = ("dim", "zero", "scalars")
    for k1 in kinds:
        for k2 in kinds:
            for x_d, x_t in zip(_operands(dt, k1), _operands(torch, k1)):
                for y_d, y_t in zip(_operands(dt, k2), _operands(torch, k2)):
                    got, want = dt.result_type(x_d, y_d), torch.result_type(x_t, y_t)
                    if want == torch.complex32:   # no complex32 in disttensor: the nearest, complex64
                        assert got is dt.complex64
                        continue
                    assert got.name == _name(want), (k1, k2, x_t, y_t, got, want)
    with pytest.raises(TypeError):
        dt.result_type("a", dt.ones(1))


def test_broadcast_shapes():
    for shapes in [((2, 3), (3,)), ((1, 4), (5, 1), ()), (2, (3, 1)), ((0, 1), (3,)), (), ((7,),), ([2, 1], [1, 3])]:
        got = dt.broadcast_shapes(*shapes)
        assert isinstance(got, dt.Size) and tuple(got) == tuple(torch.broadcast_shapes(*shapes))
    for bad in [((2, 3), (4, 3)), ((-1,),), ((2,), (3,))]:
        with pytest.raises(Exception) as e:
            dt.broadcast_shapes(*bad)
        with pytest.raises(Exception) as e2:
            torch.broadcast_shapes(*bad)
        assert e.type is e2.type
    with pytest.raises(RuntimeError, match="Attempting to broadcast a dimension of length 4"):
        dt.broadcast_shapes((2, 3), (4, 3))


# ---- legacy constructors -----------------------------------------------------------------------------------
LEGACY = ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor", "HalfTensor"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_constructors(name):
    D, T = getattr(dt, name), getattr(torch, name)
    a, b = D(2, 3), T(2, 3)
    assert tuple(a.shape) == tuple(b.shape) and a.dtype.name == _name(b.dtype)
    assert tuple(D(dt.Size([4, 1])).shape) == (4, 1)
    assert tuple(D().shape) == tuple(T().shape) == (0,)
    assert tuple(D(5).shape) == (5,)
    for data in ([1, 2], [[1.0, 0.0], [3.0, 4.0]], (2, 3)):
        x, y = D(data), T(data)
        assert x.dtype.name == _name(y.dtype) and tuple(x.shape) == tuple(y.shape)
        np.testing.assert_array_equal(x.numpy().astype(np.float64), y.numpy().astype(np.float64))
    for n2 in LEGACY:
        d = getattr(dt, n2)([1, 0])
        t = getattr(torch, n2)([1, 0])
        assert isinstance(d, D) == isinstance(t, T), (name, n2)
    assert not isinstance(np.zeros(2), D) and isinstance(D([1]), dt.Tensor)
    same = D([1, 0])
    assert D(same) is not None and D(same).data_ptr() == same.data_ptr()
    other = dt.zeros(2, dtype=dt.float64 if name != "DoubleTensor" else dt.float32)
    with pytest.raises(TypeError):
        D(other)
    with pytest.raises(TypeError):
        D(2.5)


# ---- printing ---------------------------------------------------------------------------------------
@pytest.fixture
def reset_print():
    yield
    dt.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def _same_repr(a):
    r_d = repr(dt.from_numpy(a.copy())).replace("disttensor.", "torch.")
    r_t = repr(torch.from_numpy(a.copy()))
    # "dtype=disttensor.X" is 5 characters longer than torch's, so it may wrap onto its own line
    r_d = r_d.replace(",\n       dtype=", ", dtype=")
    r_t = r_t.replace(",\n       dtype=", ", dtype=")
    assert r_d == r_t, f"\n{r_d}\nvs torch\n{r_t}"


def _repr_cases():
    rng = np.random.default_rng(0)
    return [np.array([1.0, 2.0], np.float32), np.array(3.25, np.float32), np.array([1e-5, 1.0, 2e3], np.float32),
            rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal(1500).astype(np.float32),
            rng.standard_normal((30, 40)), np.arange(30), np.arange(2000).reshape(20, 100),
            np.array([True, False]), np.array([np.nan, 1.0, -np.inf], np.float32), np.zeros(3, np.float32),
            rng.standard_normal((3, 4)) * 1e9, np.array([1 + 2j, 3 - 1j], np.complex64), np.zeros((0, 3)),
            (rng.standard_normal((2, 3, 4)) * 100).astype(np.float16), np.arange(100, dtype=np.float32) * 1.5,
            np.array([1, -22], np.int32), rng.standard_normal((5, 6, 7)).astype(np.float32), np.array(7)]


@pytest.mark.parametrize("opts", [{}, dict(precision=2), dict(threshold=5), dict(edgeitems=1, threshold=10),
                                  dict(linewidth=40), dict(profile="short"), dict(profile="full"),
                                  dict(sci_mode=True), dict(sci_mode=False), dict(precision=6, linewidth=120),
                                  dict(profile="short", precision=5), dict(edgeitems=0, threshold=3)],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_set_printoptions_repr_matches_torch(opts, reset_print):
    dt.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    for a in _repr_cases():
        _same_repr(a)


def test_repr_suffixes(reset_print):
    x = dt.tensor([1.5, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1.5000, 2.0000], requires_grad=True)"
    assert repr(x * 2).startswith("tensor([3., 4.], grad_fn=<")
    dt.set_printoptions(precision=1)
    assert repr(x) == "tensor([1.5, 2.0], requires_grad=True)"
    dt.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.5000, 2.0000], requires_grad=True)"
    dt.set_default_dtype(dt.float64)
    try:
        assert repr(dt.tensor([1.5])) == "tensor([1.5000])"
        assert repr(dt.tensor([1.5], dtype=dt.float32)) == "tensor([1.5000], dtype=disttensor.float32)"
    finally:
        dt.set_default_dtype(dt.float32)


# ---- ops ----------------------------------------------------------------------------------------------
def _pair(a, requires_grad=True):
    d = dt.tensor(a, requires_grad=requires_grad)
    t = torch.tensor(a, requires_grad=requires_grad)
    return d, t


def _close(d, t, **kw):
    assert tuple(d.shape) == tuple(t.shape)
    assert d.dtype.name == _name(t.dtype), (d.dtype, t.dtype)
    np.testing.assert_allclose(d.detach().numpy().astype(np.float64), t.detach().numpy().astype(np.float64),
                               **({"rtol": 1e-5, "atol": 1e-6} | kw))


def _grads_match(fd, ft, inputs_d, inputs_t, seed=0):
    out_d, out_t = fd(*inputs_d), ft(*inputs_t)
    _close(out_d, out_t)
    g = np.random.default_rng(seed).standard_normal(tuple(out_t.shape))
    gd = dt.autograd.grad([out_d], inputs_d, [dt.tensor(g, dtype=out_d.dtype)])
    gt = torch.autograd.grad([out_t], inputs_t, [torch.tensor(g, dtype=out_t.dtype)])
    for a, b in zip(gd, gt):
        _close(a, b)


def test_histc():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200)
    for kw in ({}, dict(bins=10), dict(bins=4, min=-1, max=1), dict(bins=3, min=0.5, max=0.5)):
        for dtype in ("float32", "float64"):
            _close(dt.histc(dt.tensor(a, dtype=getattr(dt, dtype)), **kw),
                   torch.histc(torch.tensor(a, dtype=getattr(torch, dtype)), **kw))
    _close(dt.histc(dt.tensor([2.0, 2.0]), bins=4), torch.histc(torch.tensor([2.0, 2.0]), bins=4))
    _close(dt.histc(dt.tensor([1.0, 2.0, np.nan]), bins=2, min=0, max=3),
           torch.histc(torch.tensor([1.0, 2.0, np.nan]), bins=2, min=0, max=3))
    x = dt.tensor([1.0, 2.0], requires_grad=True)
    assert not dt.histc(x, 3).requires_grad and not torch.histc(torch.tensor([1.0, 2.0], requires_grad=True),
                                                                 3).requires_grad
    for bad in (lambda L: L.histc(L.tensor([1, 2]), 3), lambda L: L.histc(L.tensor([1.0]), 0),
                lambda L: L.histc(L.tensor([1.0]), 3, 2, 1)):
        assert _err(lambda: bad(dt)) is _err(lambda: bad(torch)) is not None


def test_trapezoid_family():
    rng = np.random.default_rng(1)
    y, x = rng.standard_normal((3, 6)), np.cumsum(rng.uniform(0.2, 1, 6))
    yd, yt = _pair(y)
    xd, xt = _pair(x)
    for fd, ft in [(lambda a, b: dt.trapezoid(a, b), lambda a, b: torch.trapezoid(a, b)),
                   (lambda a, b: dt.cumulative_trapezoid(a, b), lambda a, b: torch.cumulative_trapezoid(a, b)),
                   (lambda a, b: dt.trapz(a, b), lambda a, b: torch.trapz(a, b))]:
        _grads_match(fd, ft, [yd, xd], [yt, xt])
    for kw in (dict(dx=0.25), dict(dim=0), dict(dx=3, dim=0)):
        _grads_match(lambda a: dt.trapezoid(a, **kw), lambda a: torch.trapezoid(a, **kw), [yd], [yt])
        _grads_match(lambda a: dt.cumulative_trapezoid(a, **kw), lambda a: torch.cumulative_trapezoid(a, **kw),
                     [yd], [yt])
    for data in ([1, 2, 4], [[1, 2], [3, 5]]):
        _close(dt.trapezoid(dt.tensor(data)), torch.trapezoid(torch.tensor(data)))
        _close(dt.cumulative_trapezoid(dt.tensor(data)), torch.cumulative_trapezoid(torch.tensor(data)))
        _close(dt.trapezoid(dt.tensor(data), dx=2), torch.trapezoid(torch.tensor(data), dx=2))
    _close(dt.trapezoid(dt.ones(0)), torch.trapezoid(torch.ones(0)))
    _close(dt.trapezoid(dt.ones(3, 1)), torch.trapezoid(torch.ones(3, 1)))
    _close(dt.cumulative_trapezoid(dt.ones(2, 0)), torch.cumulative_trapezoid(torch.ones(2, 0)))
    with pytest.raises(RuntimeError, match="one `x` value for each sample point"):
        dt.trapezoid(dt.ones(2, 3), dt.ones(2))
    with pytest.raises(TypeError):
        dt.trapezoid(dt.ones(2), dt.ones(2), dx=1.0)


def test_vander():
    for data in ([1, 2, 3], [True, False], [1.5, -2.0, 0.0]):
        for kw in ({}, dict(N=4), dict(N=2, increasing=True), dict(N=0)):
            _close(dt.vander(dt.tensor(data), **kw), torch.vander(torch.tensor(data), **kw))
    _close(dt.vander(dt.tensor([1, 2], dtype=dt.int32)), torch.vander(torch.tensor([1, 2], dtype=torch.int32)))
    for bad in (lambda L: L.vander(L.ones(2, 2)), lambda L: L.vander(L.ones(2), N=-1)):
        assert _err(lambda: bad(dt)) is _err(lambda: bad(torch)) is RuntimeError
    # torch 2.13's vander backward itself raises, so the gradient is checked against d/dx x^k = k x^(k-1)
    x = np.array([0.5, -1.5, 0.0, 2.0])
    for increasing in (False, True):
        xd = dt.tensor(x, requires_grad=True)
        g = np.random.default_rng(2).standard_normal((4, 5))
        (gx,) = dt.autograd.grad([dt.vander(xd, 5, increasing=increasing)], [xd], [dt.tensor(g)])
        k = np.arange(5) if increasing else np.arange(5)[::-1]
        want = (g * k * x[:, None] ** np.maximum(k - 1, 0)).sum(1)
        np.testing.assert_allclose(gx.numpy(), want, rtol=1e-12)
        assert dt.autograd.gradcheck(lambda t: dt.vander(t, 4, increasing=increasing), (xd,))


def test_nextafter_frexp_ldexp():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    b[0, 0] = a[0, 0]
    for dtype in ("float32", "float64"):
        ad, at = dt.tensor(a, dtype=getattr(dt, dtype), requires_grad=True), torch.tensor(
            a, dtype=getattr(torch, dtype), requires_grad=True)
        bd, bt = dt.tensor(b, dtype=getattr(dt, dtype), requires_grad=True), torch.tensor(
            b, dtype=getattr(torch, dtype), requires_grad=True)
        nd, nt = dt.nextafter(ad, bd), torch.nextafter(at, bt)
        np.testing.assert_array_equal(nd.detach().numpy(), nt.detach().numpy())
        _grads_match(dt.nextafter, torch.nextafter, [ad, bd], [at, bt])
        md, ed = dt.frexp(ad)
        mt, et = torch.frexp(at)
        np.testing.assert_array_equal(md.detach().numpy(), mt.detach().numpy())
        np.testing.assert_array_equal(ed.numpy(), et.numpy())
        assert ed.dtype.name == "int32" and md.dtype.name == dtype and ad.frexp().mantissa is not None
        _grads_match(lambda t: dt.frexp(t * 3)[0], lambda t: torch.frexp(t * 3)[0], [ad], [at])
    _close(dt.nextafter(dt.tensor([1.0], dtype=dt.float64), dt.tensor([3.0])),
           torch.nextafter(torch.tensor([1.0], dtype=torch.float64), torch.tensor([3.0])))
    assert _err(lambda: dt.nextafter(dt.tensor([1]), dt.tensor([2]))) is NotImplementedError
    assert _err(lambda: dt.frexp(dt.tensor([1]))) is _err(lambda: torch.frexp(torch.tensor([1]))) is RuntimeError
    e = np.array([[1, -2, 0, 3]] * 3)
    ad, at = _pair(a)
    _close(dt.ldexp(ad, dt.tensor(e)), torch.ldexp(at, torch.tensor(e)))
    # torch 2.13's LdexpBackward gives 0 for negative integer exponents (an integer exp2); the true gradient
    # of x * 2**e is g * 2**e
    g = rng.standard_normal((3, 4))
    (gx,) = dt.autograd.grad([dt.ldexp(ad, dt.tensor(e))], [ad], [dt.tensor(g)])
    np.testing.assert_allclose(gx.numpy(), g * 2.0 ** e, rtol=1e-6)
    ef = e.astype(np.float64)
    _grads_match(lambda x: dt.ldexp(x, dt.tensor(ef)), lambda x: torch.ldexp(x, torch.tensor(ef)), [ad], [at])
    ed, et = _pair(rng.standard_normal((3, 4)))
    _grads_match(dt.ldexp, torch.ldexp, [ad, ed], [at, et])
    for x, y in (([1, 2], [3, 4]), ([1.0], [3])):
        _close(dt.ldexp(dt.tensor(x), dt.tensor(y)), torch.ldexp(torch.tensor(x), torch.tensor(y)))
    _close(dt.ldexp(dt.tensor([1.0], dtype=dt.float64), dt.tensor([3])),
           torch.ldexp(torch.tensor([1.0], dtype=torch.float64), torch.tensor([3])))


def test_cov_corrcoef():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 7))
    fw = rng.integers(0, 4, 7)
    aw = rng.uniform(0.1, 2, 7)
    xd, xt = _pair(x)
    awd, awt = _pair(aw)
    for kw_d, kw_t in [({}, {}), (dict(correction=0), dict(correction=0)), (dict(correction=2), dict(correction=2)),
                       (dict(fweights=dt.tensor(fw)), dict(fweights=torch.tensor(fw)))]:
        _grads_match(lambda a: dt.cov(a, **kw_d), lambda a: torch.cov(a, **kw_t), [xd], [xt])
    for corr in (0, 1):
        _grads_match(lambda a, w: dt.cov(a, correction=corr, aweights=w, fweights=dt.tensor(fw)),
                     lambda a, w: torch.cov(a, correction=corr, aweights=w, fweights=torch.tensor(fw)),
                     [xd, awd], [xt, awt])
    _grads_match(dt.corrcoef, torch.corrcoef, [xd], [xt])
    vd, vt = _pair(x[0])
    _grads_match(dt.cov, torch.cov, [vd], [vt])
    _grads_match(dt.corrcoef, torch.corrcoef, [vd], [vt])
    for data in ([[1, 2, 4], [3, 1, 0]], [1, 2, 4]):
        _close(dt.cov(dt.tensor(data)), torch.cov(torch.tensor(data)))
        _close(dt.corrcoef(dt.tensor(data)), torch.corrcoef(torch.tensor(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(dt.cov(dt.tensor([[1.0, 2.0]]), correction=2), torch.cov(torch.tensor([[1.0, 2.0]]), correction=2),
               equal_nan=True)
    for bad in (lambda L: L.cov(L.ones(2, 2, 2)), lambda L: L.cov(L.ones(2, 3), fweights=L.ones(3)),
                lambda L: L.cov(L.ones(2, 3), aweights=L.ones(2)), lambda L: L.cov(L.ones(2, 3), fweights=-L.ones(
                    3, dtype=L.int64)), lambda L: L.cov(L.ones(2, 3), aweights=L.ones(3, dtype=L.int64))):
        assert _err(lambda: bad(dt)) is _err(lambda: bad(torch)) is RuntimeError


def test_gradient():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((5, 6))
    ad, at = _pair(a)
    c0, c1 = np.cumsum(rng.uniform(0.2, 1, 5)), np.cumsum(rng.uniform(0.2, 1, 6))
    cases = [dict(), dict(spacing=2.0), dict(dim=1), dict(dim=[1, 0]), dict(spacing=[0.5, 3.0]),
             dict(edge_order=2), dict(spacing=0.5, dim=-1, edge_order=2)]
    for kw in cases:
        out_d, out_t = dt.gradient(ad, **kw), torch.gradient(at, **kw)
        assert isinstance(out_d, tuple) and len(out_d) == len(out_t)
        for k in range(len(out_t)):
            _grads_match(lambda x: dt.gradient(x, **kw)[k], lambda x: torch.gradient(x, **kw)[k], [ad], [at], seed=k)
    for eo in (1, 2):
        cd = [dt.tensor(c0), dt.tensor(c1)]
        ct = [torch.tensor(c0), torch.tensor(c1)]
        for k in range(2):
            _grads_match(lambda x: dt.gradient(x, spacing=cd, edge_order=eo)[k],
                         lambda x: torch.gradient(x, spacing=ct, edge_order=eo)[k], [ad], [at])
    _close(dt.gradient(dt.tensor([1, 2, 4, 7]))[0], torch.gradient(torch.tensor([1, 2, 4, 7]))[0])
    for bad in (lambda L: L.gradient(L.tensor([1.0, 2.0]), edge_order=2),
                lambda L: L.gradient(L.tensor([1.0, 2.0, 5.0]), edge_order=3),
                lambda L: L.gradient(L.ones(3, 3), spacing=[1.0, 2.0, 3.0])):
        assert _err(lambda: bad(dt)) is _err(lambda: bad(torch)) is RuntimeError


def test_empty_strided_and_frombuffer():
    for size, stride in [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((4,), (2,)), ((0, 3), (3, 1)), ((), ())]:
        d, t = dt.empty_strided(size, stride), torch.empty_strided(size, stride)
        assert tuple(d.shape) == tuple(t.shape) and d.stride() == t.stride() and d.dtype.name == _name(t.dtype)
    d = dt.empty_strided((2, 2), (1, 2), dtype=dt.float64, requires_grad=True)
    assert d.dtype is dt.float64 and d.requires_grad and d.is_leaf
    d.detach().fill_(1.0)
    with pytest.raises(RuntimeError, match="dimensionality of sizes"):
        dt.empty_strided((2, 3), (1,))
    buf = bytearray(np.arange(8, dtype=np.float32).tobytes())
    d = dt.frombuffer(buf, dtype=dt.float32, offset=8, count=4)
    t = torch.frombuffer(bytearray(buf), dtype=torch.float32, offset=8, count=4)
    _close(d, t)
    d[0] = 100.0                 # shares memory with the buffer, like torch
    assert np.frombuffer(buf, np.float32)[2] == 100.0
    _close(dt.frombuffer(bytearray(6), dtype=dt.int16), torch.frombuffer(bytearray(6), dtype=torch.int16))
    for kw in (dict(), dict(offset=9), dict(count=3)):
        for n in (0, 7, 8):
            assert _err(lambda: dt.frombuffer(bytearray(n), dtype=dt.float32, **kw)) is _err(
                lambda: torch.frombuffer(bytearray(n), dtype=torch.float32, **kw)), (n, kw)


WINDOWS = ["hann_window", "hamming_window", "bartlett_window", "blackman_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows(name):
    fd, ft = getattr(dt, name), getattr(torch, name)
    for n in (0, 1, 2, 5, 8):
        for periodic in (True, False):
            for dtype in ("float32", "float64"):
                _close(fd(n, periodic, dtype=getattr(dt, dtype)), ft(n, periodic, dtype=getattr(torch, dtype)),
                       atol=1e-6)
    _close(fd(6), ft(6), atol=1e-6)
    w = fd(4, requires_grad=True)
    assert w.requires_grad and w.is_leaf and ft(4, requires_grad=True).requires_grad
    assert _err(lambda: fd(-1)) is _err(lambda: ft(-1)) is RuntimeError
    assert _err(lambda: fd(3, dtype=dt.int64)) is _err(lambda: ft(3, dtype=torch.int64)) is RuntimeError
    if name == "hamming_window":
        _close(fd(7, False, 0.6, 0.3), ft(7, False, 0.6, 0.3), atol=1e-6)
    if name == "kaiser_window":
        _close(fd(7, True, 3.5, dtype=dt.float64), ft(7, True, 3.5, dtype=torch.float64))


def test_names_exist_like_torch():
    names = ("set_float32_matmul_precision get_float32_matmul_precision set_default_device get_default_device "
             "set_printoptions are_deterministic_algorithms_enabled is_deterministic_algorithms_warn_only_enabled "
             "set_deterministic_debug_mode get_deterministic_debug_mode set_num_interop_threads "
             "get_num_interop_threads typename is_storage is_nonzero result_type can_cast broadcast_shapes "
             "promote_types histc trapezoid trapz cumulative_trapezoid vander nextafter frexp ldexp cov corrcoef "
             "gradient empty_strided frombuffer hann_window hamming_window bartlett_window blackman_window "
             "kaiser_window FloatTensor DoubleTensor LongTensor IntTensor BoolTensor ByteTensor HalfTensor").split()
    assert [n for n in names if not hasattr(dt, n)] == []
    for m in ("histc", "nextafter", "frexp", "ldexp", "cov", "corrcoef"):
        assert hasattr(dt.Tensor, m) == hasattr(torch.Tensor, m)
