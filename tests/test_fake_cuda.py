"""disttensor's CUDA code path run on the CPU through a fake CuPy (tests/fake_cupy.py).

No GPU is available here; with the fake, `cuda_module()` returns a NumPy-backed CuPy look-alike, so
every op takes its `xp = cupy` branch (the non-numba fallbacks) on arrays of a fake CUDA device. A
NumPy function applied directly to such an array, a host array mixed in, a CuPy API CuPy lacks, or a
result that silently lands on the host fails here. Each op is compared with the CPU result of the same
op (the CPU path itself is checked against torch in tests/ops/test_ops.py).
"""
import glob
import importlib
import os

import numpy as np
import pytest

import disttensor as dt
from tests import fake_cupy

FAKE = fake_cupy.module()
# CuPy never warns about floating-point errors (a GPU has no such flags); NumPy under the fake would
pytestmark = pytest.mark.filterwarnings(r"ignore::RuntimeWarning:tests\.fake_cupy")


@pytest.fixture(scope="module", autouse=True)
def fake_cuda():
    undo = fake_cupy.install()
    try:
        yield FAKE
    finally:
        undo()


def _load_ops():
    here = os.path.join(os.path.dirname(__file__), "ops")
    ops, seen = [], {}
    for path in sorted(glob.glob(os.path.join(here, "opinfo_*.py"))):
        mod = importlib.import_module("tests.ops." + os.path.basename(path)[:-3])
        for op in mod.OPS:
            k = seen[op.name] = seen.get(op.name, -1) + 1
            ops.append((f"{op.name}-{k}", op))
    return ops


# Entries that fail on the CUDA path in files being rewritten by others right now (the fixes belong to
# them); strict, so a fix shows up as XPASS. Key: "<op name>-<occurrence among entries of that name>".
XFAIL = {
}


def _params():
    out = []
    for key, op in _load_ops():
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else []
        out.append(pytest.param(op, id=key, marks=marks))
    return out


# Creation functions that table entries call to build constants (L.eye, L.tensor(...)): on the CUDA run they
# default to device="cuda", as a script running on a GPU would pass it.
_CREATION = frozenset({"tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "range", "linspace",
                       "logspace", "eye", "rand", "randn", "randint", "randperm", "tril_indices", "triu_indices"})


class _CudaLib:
    def __getattr__(self, name):
        v = getattr(dt, name)
        if name in _CREATION:
            def on_cuda(*args, **kwargs):
                kwargs.setdefault("device", "cuda")
                return v(*args, **kwargs)
            return on_cuda
        return v


CUDA_LIB = _CudaLib()


def _is_fake(a):
    return a.__class__ is fake_cupy.ndarray


def _place(arrays, dtype, grad_args, cuda, contiguous=True):
    ts = []
    for i, a in enumerate(arrays):
        if isinstance(a, (np.ndarray, np.generic)):
            a = np.asarray(a)
            is_float = a.dtype.kind == "f"
            if is_float:
                a = a.astype(dtype)
            t = dt.from_numpy(a.copy())
            if cuda:
                t = t.to("cuda")
            if not contiguous and is_float and t.dim() and t.numel() > 1:
                t = dt.stack([t, t], -1)[..., 0]   # same values, strided
            if is_float and (grad_args is None or i in grad_args):
                t.requires_grad_(True)
            ts.append(t)
        else:
            ts.append(a)
    return ts


def _tensors(out):
    if isinstance(out, dt.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def _host(t):
    return t.detach().cpu().numpy()


def _compare(name, what, got, want, atol, rtol):
    assert tuple(got.shape) == tuple(want.shape), f"{name} {what}: shape {tuple(got.shape)} vs cpu {tuple(want.shape)}"
    assert got.dtype == want.dtype, f"{name} {what}: dtype {got.dtype} vs cpu {want.dtype}"
    assert got.device.type == "cuda", f"{name} {what}: result on {got.device}, expected cuda"
    assert _is_fake(got._data), f"{name} {what}: result array is {type(got._data)}, not a CUDA array"
    g, w = _host(got), _host(want)
    if g.dtype.kind in "biu":
        np.testing.assert_array_equal(g, w, err_msg=f"{name} {what}")
    else:
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), atol=atol, rtol=rtol,
                                   err_msg=f"{name} {what}")


@pytest.mark.parametrize("op", _params())
def test_op_on_cuda_matches_cpu(op):
    dtype = np.float32 if "float32" in op.dtypes else np.dtype(op.dtypes[0])
    samples = op.build_samples(np.random.default_rng(0))
    for arrays in samples:
        _check(op, arrays, dtype, True)
    if op.noncontig:
        _check(op, samples[-1], dtype, False)


def _check(op, arrays, dtype, contiguous):
    cpu = _place(arrays, dtype, op.grad_args, cuda=False, contiguous=contiguous)
    gpu = _place(arrays, dtype, op.grad_args, cuda=True, contiguous=contiguous)
    out_c, out_g = op.fn(dt, *cpu), op.fn(CUDA_LIB, *gpu)
    tc, tg = _tensors(out_c), _tensors(out_g)
    assert len(tc) == len(tg), f"{op.name}: {len(tg)} tensor outputs on cuda, {len(tc)} on cpu"
    if not tc:
        assert out_g == out_c, f"{op.name}: {out_g!r} on cuda vs {out_c!r} on cpu"
        return
    for k, (g, c) in enumerate(zip(tg, tc)):
        _compare(op.name, f"output {k}", g, c, op.atol32, op.rtol32)
    first_c, first_g = tc[0], tg[0]
    if not op.grad or not first_c.requires_grad:
        return
    seed = np.random.default_rng(1).standard_normal(tuple(first_c.shape)).astype(first_c._data.dtype)
    diff_c = [t for t in cpu if isinstance(t, dt.Tensor) and t.requires_grad]
    diff_g = [t for t in gpu if isinstance(t, dt.Tensor) and t.requires_grad]
    gc = dt.autograd.grad([first_c], diff_c, [dt.from_numpy(seed.copy())], allow_unused=True)
    gg = dt.autograd.grad([first_g], diff_g, [dt.from_numpy(seed.copy()).to("cuda")], allow_unused=True)
    for k, (a, b) in enumerate(zip(gg, gc)):
        if b is None:
            assert a is None or not np.any(_host(a)), f"{op.name}: grad {k} is None on cpu but not on cuda"
            continue
        assert a is not None, f"{op.name}: grad {k} is None on cuda, not on cpu"
        _compare(op.name, f"grad of input {k}", a, b, op.atol32 * 10, max(op.rtol32 * 10, 1e-5))


# ---- creation, moves, devices -------------------------------------------------------------------
def test_creation_on_cuda():
    made = {
        "zeros": dt.zeros(2, 3, device="cuda"), "ones": dt.ones(2, 3, device="cuda"),
        "full": dt.full((2, 3), 1.5, device="cuda"), "arange": dt.arange(5, device="cuda"),
        "eye": dt.eye(3, device="cuda"), "linspace": dt.linspace(0, 1, 5, device="cuda"),
        "empty": dt.empty(2, 3, device="cuda"), "tensor": dt.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda"),
        "zeros_like": dt.zeros_like(dt.ones(2, device="cuda")), "ones_like": dt.ones_like(dt.ones(2, device="cuda")),
        "full_like": dt.full_like(dt.ones(2, device="cuda"), 7.0),
        "rand": dt.rand(3, 4, device="cuda"), "randn": dt.randn(3, 4, device="cuda"),
        "randint": dt.randint(0, 5, (3, 4), device="cuda"), "randperm": dt.randperm(6, device="cuda"),
        "rand_like": dt.rand_like(dt.ones(2, device="cuda")), "randn_like": dt.randn_like(dt.ones(2, device="cuda")),
        "normal": dt.normal(0.0, 1.0, (3,), device="cuda"),
    }
    for name, t in made.items():
        assert t.device.type == "cuda" and _is_fake(t._data), f"{name}: {t.device}, {type(t._data)}"
    np.testing.assert_array_equal(made["eye"].cpu().numpy(), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(made["arange"].cpu().numpy(), np.arange(5))
    assert made["arange"].dtype == dt.int64 and made["rand"].dtype == dt.float32
    assert sorted(made["randperm"].cpu().tolist()) == list(range(6))
    r = made["randint"].cpu().numpy()
    assert r.dtype == np.int64 and r.min() >= 0 and r.max() < 5
    u = made["rand"].cpu().numpy()
    assert u.min() >= 0 and u.max() < 1


def test_random_fills_and_sampling_on_cuda():
    x = dt.empty(50, device="cuda")
    for fill in (lambda t: t.uniform_(-1, 1), lambda t: t.normal_(0, 1), lambda t: t.bernoulli_(0.3),
                 lambda t: t.exponential_(), lambda t: t.random_(0, 10), lambda t: t.fill_(2.0),
                 lambda t: t.zero_()):
        fill(x)
        assert x.device.type == "cuda" and _is_fake(x._data)
    p = dt.full((4, 5), 0.5, device="cuda")
    b = dt.bernoulli(p)
    assert b.device.type == "cuda" and set(np.unique(b.cpu().numpy())) <= {0.0, 1.0}
    d = dt.nn.functional.dropout(dt.ones(100, device="cuda"), 0.5, training=True)
    assert d.device.type == "cuda" and set(np.unique(d.cpu().numpy())) <= {0.0, 2.0}


def test_manual_seed_repeats_cuda_draws():
    dt.manual_seed(3)
    a = dt.randn(5, device="cuda").cpu().numpy()
    dt.manual_seed(3)
    b = dt.randn(5, device="cuda").cpu().numpy()
    np.testing.assert_array_equal(a, b)


def test_to_and_cpu_round_trips_and_gradient():
    x = dt.randn(3, 4, requires_grad=True)
    g = x.to("cuda")
    assert g.device.type == "cuda" and g.is_cuda and _is_fake(g._data)
    assert x.cuda().device == g.device and dt.device("cuda:0") == g.device
    back = (g * 3).cpu()
    assert back.device.type == "cpu" and back._data.__class__ is np.ndarray
    back.sum().backward()
    assert x.grad.device.type == "cpu" and x.grad._data.__class__ is np.ndarray
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 3.0))
    h = x.detach().to("cuda", dt.float64)
    assert h.dtype == dt.float64 and h.device.type == "cuda"
    np.testing.assert_array_equal(h.cpu().numpy(), x.detach().numpy().astype(np.float64))
    assert g.to("cuda") is g or g.to("cuda")._data is g._data


_MISMATCH = {
    "add": lambda c, g: c + g, "matmul": lambda c, g: c @ g.t(), "bmm": lambda c, g: dt.bmm(c[None], g.t()[None]),
    "linear": lambda c, g: dt.nn.functional.linear(c, g), "where": lambda c, g: dt.where(c > 0, c, g),
    "cat": lambda c, g: dt.cat([c, g]), "einsum": lambda c, g: dt.einsum("ij,kj->ik", c, g),
    "masked_fill": lambda c, g: g.masked_fill(c > 0, 1.0), "lerp": lambda c, g: dt.lerp(c, g, 0.5),
    "mse_loss": lambda c, g: dt.nn.functional.mse_loss(c, g),
    "embedding": lambda c, g: dt.nn.functional.embedding(dt.zeros(2, dtype=dt.int64), g),
    "cross_entropy": lambda c, g: dt.nn.functional.cross_entropy(g, dt.zeros(2, dtype=dt.int64)),
    "conv2d": lambda c, g: dt.nn.functional.conv2d(c.reshape(1, 1, 2, 3), g.reshape(1, 1, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(_MISMATCH))
def test_device_mismatch_is_reported(name):
    with pytest.raises(RuntimeError, match="same device"):
        _MISMATCH[name](dt.ones(2, 3), dt.ones(2, 3, device="cuda"))


def test_cuda_queries():
    assert dt.cuda.is_available() and dt.cuda.device_count() == 1 and dt.cuda.current_device() == 0
    dt.cuda.set_device(0)
    dt.cuda.synchronize()
    dt.cuda.empty_cache()
    assert dt.cuda.memory_allocated() == 0


def test_module_to_cuda_and_state_dict():
    m = dt.nn.Linear(4, 3)
    m.to("cuda")
    assert all(p.device.type == "cuda" and _is_fake(p._data) for p in m.parameters())
    sd = m.state_dict()
    assert all(v.device.type == "cuda" for v in sd.values())
    m2 = dt.nn.Linear(4, 3)
    m2.load_state_dict(sd)
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().numpy())


class _Net(dt.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = dt.nn.Conv2d(2, 4, 3, padding=1, bias=False)  # a bias before BN gets ~0 gradients
        self.bn = dt.nn.BatchNorm2d(4)
        self.fc = dt.nn.Linear(4 * 4 * 4, 5)
        self.ln = dt.nn.LayerNorm(5)

    def forward(self, x):
        h = dt.nn.functional.max_pool2d(dt.relu(self.bn(self.conv(x))), 2)
        return self.ln(self.fc(h.flatten(1)))


def test_training_step_on_cuda_equals_cpu():
    dt.manual_seed(0)
    cpu = _Net()
    gpu = _Net()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    opt_c = dt.optim.Adam(cpu.parameters(), lr=1e-2)
    opt_g = dt.optim.Adam(gpu.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((6, 2, 8, 8)).astype(np.float32)
        y = rng.integers(0, 5, 6)
        losses = []
        for net, opt, dev in ((cpu, opt_c, "cpu"), (gpu, opt_g, "cuda")):
            opt.zero_grad()
            loss = dt.nn.functional.cross_entropy(net(dt.from_numpy(x).to(dev)), dt.from_numpy(y).to(dev))
            loss.backward()
            opt.step()
            losses.append(loss)
        assert losses[1].device.type == "cuda"
        np.testing.assert_allclose(losses[1].item(), losses[0].item(), rtol=1e-5, atol=1e-6)
    for (n, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert b.device.type == "cuda" and _is_fake(b._data), n
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=n)
    for (n, a), (_, b) in zip(cpu.named_buffers(), gpu.named_buffers()):
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


# ---- the fake itself ------------------------------------------------------------------------------
def test_fake_cupy_dispatch_mode(monkeypatch):
    """MODE = "cupy" forwards NumPy calls as real CuPy's __array_function__/__array_ufunc__ do."""
    monkeypatch.setattr(fake_cupy, "MODE", "cupy")
    a = FAKE.asarray(np.arange(6.0).reshape(2, 3))
    assert _is_fake(np.exp(a)) and _is_fake(np.where(a > 1, a, 0)) and _is_fake(np.concatenate([a, a]))
    out = FAKE.empty_like(a)
    assert np.add(a, 1, out=out) is out
    with pytest.raises(TypeError):
        np.add.at(a, [0], 1.0)   # CuPy's __array_ufunc__ forwards only plain calls
    with pytest.raises(TypeError):
        np.exp(a) + np.ones(3)


def test_fake_refuses_numpy_on_cuda_arrays(monkeypatch):
    monkeypatch.setattr(fake_cupy, "MODE", "strict")
    cp = FAKE
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(fake_cupy.FakeCudaError, match="numpy.exp called on a CUDA array"):
        np.exp(a)
    with pytest.raises(fake_cupy.FakeCudaError, match="numpy.add"):
        np.add(a, a, out=a)
    with pytest.raises(fake_cupy.FakeCudaError, match="numpy.where"):
        np.where(a > 1, a, 0)
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        cp.maximum(a, np.ones(3))
    with pytest.raises(NotImplementedError):
        cp.maximum.accumulate(a, axis=0)
    with pytest.raises(AttributeError):
        cp.errstate
    with pytest.raises(AttributeError):
        a.searchsorted(1.0)
    with pytest.raises(TypeError, match="casting"):
        a.astype(np.float32, casting="unsafe")
    with pytest.raises(TypeError, match="unexpected keyword"):
        a.sum(initial=0.0)
    with pytest.raises(AttributeError):
        cp.random.Generator(cp.random.XORWOW(0)).permutation(3)
    # what CuPy allows
    s = (a + 1).sum()
    assert _is_fake(s) and s.shape == () and float(s) == 21.0
    assert _is_fake(a[0, 1]) and _is_fake(cp.exp(a)) and _is_fake(a.reshape(3, 2))
    assert cp.ascontiguousarray(a) is a and a.astype(a.dtype, copy=False) is a
    a[0] = np.array([7.0, 8.0, 9.0])
    np.testing.assert_array_equal(a.get()[0], [7, 8, 9])
    assert isinstance(a.get(), np.ndarray) and a.get().__class__ is np.ndarray
    from disttensor._backends.device import xp_of
    assert xp_of(a) is cp and xp_of(a.get()) is np


def test_fake_refuses_numba_kernels():
    numba = pytest.importorskip("numba")

    @numba.njit
    def total(x):
        return x.sum()

    with pytest.raises(Exception, match="numba CPU kernel"):
        total(FAKE.ones(3))


def test_packed_sequence_on_cuda():
    rnn = dt.nn.utils.rnn
    x = dt.randn(3, 4, 2, device="cuda")
    packed = rnn.pack_padded_sequence(x, dt.tensor([4, 2, 1]), batch_first=True)
    lstm = dt.nn.LSTM(2, 3, batch_first=True).to("cuda")
    out, _ = lstm(packed)
    padded, lengths = rnn.pad_packed_sequence(out, batch_first=True)
    assert padded.device.type == "cuda" and padded.shape == (3, 4, 3) and lengths.tolist() == [4, 2, 1]
    assert float(padded[2, 1:].abs().sum()) == 0.0


def test_view_of_strided_cuda_tensor():
    g = dt.arange(12.0, device="cuda").reshape(3, 4)[:, :2]
    v = g.view(3, 2, 1)   # adding a unit dim is a valid view of a strided tensor
    assert v._data.data.mem is g._data.data.mem
    np.testing.assert_array_equal(v.cpu().numpy()[..., 0], g.cpu().numpy())
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        g.view(6)


def test_random_distributions_on_cuda():
    x = dt.empty(400, device="cuda")
    for name, fill in (("log_normal_", lambda t: t.log_normal_(0.0, 0.5)), ("cauchy_", lambda t: t.cauchy_()),
                       ("geometric_", lambda t: t.geometric_(0.3)), ("random_", lambda t: t.random_(3))):
        fill(x)
        assert x.device.type == "cuda" and _is_fake(x._data), name
        assert np.isfinite(x.cpu().numpy()).all(), name
    assert (x.cpu().numpy() < 3).all()
    x.log_normal_(0.0, 0.5)
    assert (x.cpu().numpy() > 0).all()
    x.cauchy_()
    assert abs(float(np.median(x.cpu().numpy()))) < 0.5
    mean = dt.zeros(3, 4, device="cuda")
    n = dt.normal(mean, 1.0)
    assert n.device.type == "cuda" and n.shape == (3, 4)
    b = dt.bernoulli(dt.ones(200, device="cuda"), 0.25)
    assert b.device.type == "cuda" and 0.1 < float(b.mean()) < 0.4
    p = dt.poisson(dt.full((50,), 3.0, device="cuda"))
    assert p.device.type == "cuda" and p.dtype == dt.float32


def test_init_on_cuda():
    init = dt.nn.init
    w = dt.empty(6, 4, device="cuda")
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                 "kaiming_normal_", "orthogonal_"):
        getattr(init, name)(w)
        assert w.device.type == "cuda" and _is_fake(w._data) and np.isfinite(w.cpu().numpy()).all(), name
    init.sparse_(w, 0.5)
    assert ((w.cpu().numpy() == 0).sum(0) >= 3).all()
    init.eye_(w)
    np.testing.assert_array_equal(w.cpu().numpy(), np.eye(6, 4, dtype=np.float32))
    init.constant_(w, 0.5)
    assert (w.cpu().numpy() == 0.5).all()
    c = dt.empty(4, 2, 3, 3, device="cuda")
    init.dirac_(c, 2)
    assert float(c.sum()) == 4.0 and c.device.type == "cuda"


_OPTIMIZERS = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=1e-2)), ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)), ("AdamW", dict(lr=1e-2)),
    ("Adamax", dict(lr=1e-2)), ("NAdam", dict(lr=1e-2)), ("RAdam", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9, centered=True)), ("Adagrad", dict(lr=0.1)), ("Adadelta", dict(lr=1.0)),
]


def _raw_cuda_arrays(obj, path="state"):
    """Paths of raw CUDA arrays (not wrapped in a Tensor) inside a state dict: real CuPy arrays cannot be saved."""
    if isinstance(obj, dt.Tensor):
        return []
    if _is_fake(obj):
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _raw_cuda_arrays(v, f"{path}[{k!r}]")]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _raw_cuda_arrays(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("name,kw", _OPTIMIZERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(_OPTIMIZERS)])
def test_optimizer_step_on_cuda_equals_cpu(name, kw):
    rng = np.random.default_rng(0)
    shapes = [(5, 3), (3,), (2, 2, 2)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = {dev: [dt.nn.Parameter(dt.from_numpy(a.copy()).to(dev)) for a in init] for dev in ("cpu", "cuda")}
    opts = {dev: getattr(dt.optim, name)(params[dev], **kw) for dev in params}
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for dev in params:
            for p, g in zip(params[dev], grads):
                p.grad = dt.from_numpy(g.copy()).to(dev)
            opts[dev].step()
    for p, q in zip(params["cuda"], params["cpu"]):
        assert p.device.type == "cuda" and _is_fake(p._data)
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    sd = opts["cuda"].state_dict()
    assert not _raw_cuda_arrays(sd), f"{name} state_dict holds raw CUDA arrays: {_raw_cuda_arrays(sd)}"
    fresh = getattr(dt.optim, name)(params["cuda"], **kw)
    fresh.load_state_dict(sd)


def test_clip_grad_on_cuda():
    ps = {}
    for dev in ("cpu", "cuda"):
        ps[dev] = [dt.ones(3, 4, device=dev, requires_grad=True), dt.ones(5, device=dev, requires_grad=True)]
        for i, p in enumerate(ps[dev]):
            p.grad = dt.full(p.shape, float(i + 2), device=dev)
    n_c = dt.nn.utils.clip_grad_norm_(ps["cpu"], 1.0)
    n_g = dt.nn.utils.clip_grad_norm_(ps["cuda"], 1.0)
    assert n_g.device.type == "cuda"
    np.testing.assert_allclose(n_g.item(), n_c.item(), rtol=1e-6)
    dt.nn.utils.clip_grad_value_(ps["cuda"], 0.05)
    dt.nn.utils.clip_grad_value_(ps["cpu"], 0.05)
    for a, b in zip(ps["cuda"], ps["cpu"]):
        assert a.grad.device.type == "cuda"
        np.testing.assert_allclose(a.grad.cpu().numpy(), b.grad.numpy(), rtol=1e-6)


def test_save_and_load_cuda_tensors(tmp_path):
    t = dt.arange(6.0, device="cuda").reshape(2, 3)
    opt = dt.optim.Adam([dt.nn.Parameter(dt.ones(2, device="cuda"))], lr=0.1)
    opt.param_groups[0]["params"][0].grad = dt.ones(2, device="cuda")
    opt.step()
    f = tmp_path / "ck.pt"
    dt.save({"t": t, "opt": opt.state_dict()}, f)
    back = dt.load(f)
    assert back["t"].device.type == "cuda" and _is_fake(back["t"]._data)
    np.testing.assert_array_equal(back["t"].cpu().numpy(), t.cpu().numpy())
    on_cpu = dt.load(f, map_location="cpu")
    assert on_cpu["t"].device.type == "cpu" and on_cpu["t"]._data.__class__ is np.ndarray


def _module_cases():
    nn = dt.nn
    r = np.random.default_rng(0)
    f = lambda *s: r.standard_normal(s).astype(np.float32)  # noqa: E731
    return [
        ("LSTM", lambda: nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True), [f(2, 3, 4)]),
        ("GRU", lambda: nn.GRU(4, 5), [f(3, 2, 4)]),
        ("RNN", lambda: nn.RNN(4, 5, nonlinearity="relu"), [f(3, 2, 4)]),
        ("LSTMCell", lambda: nn.LSTMCell(4, 5), [f(2, 4)]),
        ("MultiheadAttention", lambda: nn.MultiheadAttention(8, 2, batch_first=True), [f(2, 3, 8)] * 3),
        ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
         [f(2, 3, 8)]),
        ("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
         [f(2, 3, 8), f(2, 4, 8)]),
        ("Embedding", lambda: nn.Embedding(10, 4, padding_idx=0), [r.integers(0, 10, (2, 3))]),
        ("EmbeddingBag", lambda: nn.EmbeddingBag(10, 4, mode="mean"), [r.integers(0, 10, (2, 3))]),
        ("ConvTranspose2d", lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
         [f(1, 2, 5, 5)]),
        ("Conv1d", lambda: nn.Conv1d(2, 3, 3, padding=2, dilation=2), [f(2, 2, 7)]),
        ("Conv3d", lambda: nn.Conv3d(2, 3, 2), [f(1, 2, 4, 4, 4)]),
        ("GroupNorm", lambda: nn.GroupNorm(2, 4), [f(2, 4, 3, 3)]),
        ("InstanceNorm2d", lambda: nn.InstanceNorm2d(4, affine=True), [f(2, 4, 3, 3)]),
        ("BatchNorm1d", lambda: nn.BatchNorm1d(4), [f(5, 4)]),
        ("RMSNorm", lambda: nn.RMSNorm(4), [f(3, 4)]),
        ("LocalResponseNorm", lambda: nn.LocalResponseNorm(2), [f(2, 4, 3, 3)]),
        ("Upsample", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [f(1, 2, 3, 3)]),
        ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(3), [f(1, 2, 5, 7)]),
        ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d(2), [f(1, 2, 5, 7)]),
        ("LPPool2d", lambda: nn.LPPool2d(2, 2), [f(1, 2, 4, 4)]),
        ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), [f(1, 2, 6, 6)]),
        ("PReLU", lambda: nn.PReLU(), [f(3, 4)]),
        ("Bilinear", lambda: nn.Bilinear(3, 4, 5), [f(2, 3), f(2, 4)]),
        ("Unfold", lambda: nn.Unfold(2, padding=1), [f(1, 2, 3, 3)]),
        ("Fold", lambda: nn.Fold((3, 3), 2), [f(1, 8, 4)]),
        ("AdaptiveLogSoftmaxWithLoss", lambda: nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4]),
         [f(3, 8), r.integers(0, 10, 3)]),
        ("MultiMarginLoss", lambda: nn.MultiMarginLoss(p=2), [f(3, 5), r.integers(0, 5, 3)]),
        ("MultiLabelMarginLoss", lambda: nn.MultiLabelMarginLoss(), [f(2, 4), np.array([[2, 0, -1, 1], [3, -1, 0, 0]])]),
        ("CTCLoss", lambda: nn.CTCLoss(reduction="none"),
         [f(6, 2, 4), np.array([[1, 1, 2], [3, 0, 0]]), np.array([6, 5]), np.array([3, 1])]),
    ]


@pytest.mark.parametrize("case", _module_cases(), ids=lambda c: c[0])
def test_module_on_cuda_equals_cpu(case):
    name, ctor, arrays = case
    dt.manual_seed(0)
    cpu = ctor()
    gpu = ctor()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    outs = {}
    for dev, m in (("cpu", cpu), ("cuda", gpu)):
        xs = [dt.from_numpy(a.copy()).to(dev) for a in arrays]
        for x in xs:
            if x.is_floating_point():
                x.requires_grad_(True)
        out = m(*xs)
        first = _tensors(out)[0]
        first.float().sum().backward() if first.requires_grad else None
        outs[dev] = (out, xs, m)
    (oc, xc, mc), (og, xg, mg) = outs["cpu"], outs["cuda"]
    for k, (a, b) in enumerate(zip(_tensors(og), _tensors(oc))):
        _compare(name, f"output {k}", a, b, 1e-4, 1e-4)
    for k, (a, b) in enumerate(zip(xg, xc)):
        if b.grad is not None:
            _compare(name, f"grad of input {k}", a.grad, b.grad, 1e-4, 1e-4)
    for (pn, a), (_, b) in zip(mg.named_parameters(), mc.named_parameters()):
        if b.grad is not None:
            _compare(name, f"grad of {pn}", a.grad, b.grad, 1e-4, 1e-4)


def _l(*v):
    return dt.tensor(list(v), dtype=dt.int64)


# Out-of-bounds indices: CuPy's kernels wrap them around silently, so an op must check bounds itself to
# raise on CUDA as it does on CPU (and as PyTorch does on both).
_OOB = {
    "getitem": lambda x, d: x[_l(0, 5).to(d)],
    "getitem_col": lambda x, d: x[:, _l(-1, 4).to(d)],
    "getitem_mixed": lambda x, d: x[1, _l(-5).to(d)],
    "getitem_ellipsis": lambda x, d: x[..., _l(1, 9).to(d)],
    "getitem_pair": lambda x, d: x[_l(0, 2).to(d), _l(1, 4).to(d)],
    "setitem": lambda x, d: x.__setitem__(_l(5).to(d), 1.0),
    "setitem_col": lambda x, d: x.__setitem__((slice(None), _l(4).to(d)), 1.0),
    "index_select": lambda x, d: dt.index_select(x, 0, _l(0, 5).to(d)),
    "gather": lambda x, d: dt.gather(x, 1, _l(0, 9, 1).reshape(3, 1).to(d)),
    "scatter": lambda x, d: x.scatter(1, _l(0, 9, 1).reshape(3, 1).to(d), 1.0),
    "scatter_add": lambda x, d: x.scatter_add(1, _l(0, 9, 1).reshape(3, 1).to(d), x[:, :1]),
    "scatter_reduce": lambda x, d: x.scatter_reduce(1, _l(0, 9, 1).reshape(3, 1).to(d), x[:, :1], "amax"),
    "index_add": lambda x, d: x.index_add(0, _l(5).to(d), x[:1]),
    "index_copy": lambda x, d: x.index_copy(0, _l(5).to(d), x[:1]),
    "index_fill": lambda x, d: x.index_fill(0, _l(5).to(d), 1.0),
    "take": lambda x, d: dt.take(x, _l(20).to(d)),
    "take_along_dim": lambda x, d: dt.take_along_dim(x, _l(0, 9, 1).reshape(3, 1).to(d), 1),
    "put_": lambda x, d: x.clone().put_(_l(20).to(d), dt.ones(1, device=d)),
    "index_put_": lambda x, d: x.clone().index_put_((_l(5).to(d),), dt.ones(1, device=d)),
    "embedding": lambda x, d: dt.nn.functional.embedding(_l(7).to(d), x),
    "one_hot": lambda x, d: dt.nn.functional.one_hot(_l(5).to(d), 3),
    "nll_loss": lambda x, d: dt.nn.functional.nll_loss(x, _l(0, 9, 1).to(d)),
    "cross_entropy": lambda x, d: dt.nn.functional.cross_entropy(x, _l(0, 9, 1).to(d)),
}


@pytest.mark.parametrize("name", sorted(_OOB))
def test_out_of_bounds_indices_raise_on_cuda(name):
    with pytest.raises((IndexError, RuntimeError)) as on_cpu:
        _OOB[name](dt.randn(3, 4), "cpu")
    try:
        _OOB[name](dt.randn(3, 4, device="cuda"), "cuda")
    except fake_cupy.FakeCudaError as e:
        pytest.fail(f"{name} on CUDA relies on the array library to reject the index (CuPy would not): {e}")
    except (IndexError, RuntimeError) as e:
        assert type(e) is type(on_cpu.value), f"{name}: {type(e).__name__} on cuda, {type(on_cpu.value).__name__} on cpu"
    else:
        pytest.fail(f"{name}: no error on CUDA for an out-of-bounds index")


def test_autograd_features_on_cuda():
    import copy
    import pickle
    x = dt.randn(3, 4, device="cuda", requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.device.type))
    for _ in range(2):                      # accumulation into .grad across backward calls
        y = (x * x).sum() + x.exp().mean()
        y.backward()
    assert x.grad.device.type == "cuda" and _is_fake(x.grad._data) and seen == ["cuda", "cuda"]
    xc = x.detach().cpu().numpy()
    np.testing.assert_allclose(x.grad.cpu().numpy(), 2 * (2 * xc + np.exp(xc) / 12), rtol=1e-5)
    (g,) = dt.autograd.grad((x ** 3).sum(), x)
    assert g.device.type == "cuda"
    np.testing.assert_allclose(g.cpu().numpy(), 3 * xc ** 2, rtol=1e-5)
    with dt.autograd.detect_anomaly():
        (x.tanh() * 2).sum().backward()
    for t in (copy.deepcopy(x), pickle.loads(pickle.dumps(x.detach()))):
        assert t.device.type == "cuda" and _is_fake(t._data)
        np.testing.assert_array_equal(t.detach().cpu().numpy(), xc)
    m = copy.deepcopy(dt.nn.Linear(3, 2).to("cuda"))
    assert all(p.device.type == "cuda" and _is_fake(p._data) for p in m.parameters())


def test_big_inputs_take_the_same_branches_as_a_gpu():
    """Sizes where the CPU path switches to numba kernels, threads or Winograd: the CUDA path must still
    give the CPU's numbers."""
    F = dt.nn.functional
    r = np.random.default_rng(0)
    cases = [
        ("conv2d", lambda L, x, w: F.conv2d(x, w, padding=1), [r.standard_normal((2, 32, 28, 28)),
                                                               r.standard_normal((64, 32, 3, 3)) * 0.05]),
        ("max_pool2d", lambda L, x: F.max_pool2d(x, 2), [r.standard_normal((4, 16, 32, 32))]),
        ("softmax", lambda L, x: F.softmax(x, -1), [r.standard_normal((64, 1000))]),
        ("log_softmax", lambda L, x: F.log_softmax(x, -1), [r.standard_normal((64, 1000))]),
        ("layer_norm", lambda L, x, w, b: F.layer_norm(x, (1024,), w, b), [r.standard_normal((64, 1024)),
                                                                          r.standard_normal(1024),
                                                                          r.standard_normal(1024)]),
        ("cross_entropy", lambda L, x, t: F.cross_entropy(x, t, label_smoothing=0.1),
         [r.standard_normal((256, 1000)), r.integers(0, 1000, 256)]),
        ("gelu", lambda L, x: F.gelu(x), [r.standard_normal((512, 1024))]),
        ("relu", lambda L, x: F.relu(x), [r.standard_normal((1200, 1024))]),
        ("matmul", lambda L, a, b: a @ b, [r.standard_normal((256, 512)), r.standard_normal((512, 256))]),
    ]
    for name, fn, arrays in cases:
        op = type("Op", (), {"name": name, "fn": staticmethod(fn), "grad": True, "grad_args": None,
                             "atol32": 2e-4, "rtol32": 2e-4})
        _check(op, arrays, np.float32, True)


def test_adam_on_a_large_flat_buffer_on_cuda_equals_cpu():
    r = np.random.default_rng(0)
    w = [r.standard_normal(s).astype(np.float32) for s in ((1024, 1024), (1024,), (300, 7))]
    ps = {d: [dt.nn.Parameter(dt.from_numpy(a.copy()).to(d)) for a in w] for d in ("cpu", "cuda")}
    opts = {d: dt.optim.AdamW(ps[d], lr=1e-3, weight_decay=0.01) for d in ps}
    for _ in range(2):
        gs = [r.standard_normal(a.shape).astype(np.float32) for a in w]
        for d in ps:
            for p, g in zip(ps[d], gs):
                p.grad = dt.from_numpy(g.copy()).to(d)
            opts[d].step()
    for a, b in zip(ps["cuda"], ps["cpu"]):
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", ["cpu", "cuda"], ids=["host", "fake-gpu"])  # an id "cuda" is skipped by conftest
def test_autograd_grad_fires_leaf_hooks(device):
    x = dt.randn(3, 4, device=device, requires_grad=True)
    x.register_hook(lambda g: g * 2)
    (g,) = dt.autograd.grad((x ** 3).sum(), x)
    np.testing.assert_allclose(g.cpu().numpy(), 6 * x.detach().cpu().numpy() ** 2, rtol=1e-5)


def test_setitem_through_views_with_grad_on_cuda():
    res = {}
    for dev in ("cpu", "cuda"):
        w = dt.from_numpy(np.asfortranarray(np.arange(12.0, dtype=np.float32).reshape(3, 4))).to(dev)
        w.requires_grad_(True)
        v = dt.full((2,), 5.0, device=dev, requires_grad=True)
        base = w * 1.0                # a non-view result with a strided (Fortran) layout
        assert not base._data.flags.c_contiguous
        view = base[1:]
        view[0, 1:3] = v              # writes through a view of a strided base
        view[1, [0, 2]] = v * 2
        (base * dt.arange(12.0, device=dev).reshape(3, 4)).sum().backward()
        res[dev] = (base.detach().cpu().numpy(), w.grad.cpu().numpy(), v.grad.cpu().numpy())
        assert base.device.type == dev and w.grad.device.type == dev
    for a, b in zip(res["cuda"], res["cpu"]):
        np.testing.assert_allclose(a, b)
