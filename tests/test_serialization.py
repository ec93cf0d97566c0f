"""disttensor.save / load: round trips, integrity errors, atomic writes, map_location."""
import collections
import io
import os

import ml_dtypes
import numpy as np
import pytest

import disttensor as dt
from disttensor import serialization


def _eq(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dt.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy().astype(np.float64) if a.dtype == dt.bfloat16
                                      else a.detach().numpy(),
                                      b.detach().numpy().astype(np.float64) if b.dtype == dt.bfloat16
                                      else b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _eq(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _eq(x, y)
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b


def _sample():
    rng = np.random.default_rng(0)
    w = dt.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    return {
        "model": collections.OrderedDict([
            ("fc.weight", w),
            ("fc.bias", dt.tensor(rng.standard_normal(4))),
            ("bf16", dt.Tensor._wrap(rng.standard_normal((2, 5)).astype(ml_dtypes.bfloat16))),
            ("half", dt.tensor(rng.standard_normal(3).astype(np.float16))),
            ("ints", dt.arange(7)), ("i32", dt.arange(3, dtype=dt.int32)), ("u8", dt.arange(4, dtype=dt.uint8)),
            ("mask", dt.tensor([True, False])), ("scalar", dt.tensor(3.5)), ("empty", dt.zeros(0, 3)),
            ("strided", dt.tensor(np.arange(12.0).reshape(3, 4)).t()),
        ]),
        "optimizer": {"state": {0: {"step": dt.tensor(3.0), "exp_avg": dt.zeros(3, 4)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0], "foreach": None,
                                        "amsgrad": False}]},
        "epoch": 7, "best": float("inf"), "nan": float("nan"), "name": "run-é", "blob": b"\x00\xff",
        "big": 2 ** 80, "c": 1 + 2j, "np": np.arange(5, dtype=np.int16), "npf": np.float32(1.5),
        "dtype": dt.float16, "device": dt.device("cpu"), "size": dt.Size([2, 3]), "milestones":
            collections.Counter({3: 1, 7: 2}), "nested": [(1, [2, None]), {"a": {}}], (1, 2): "tuple key",
    }


def test_round_trip_path_and_filelike(tmp_path):
    obj = _sample()
    p = tmp_path / "ckpt.dt"
    dt.save(obj, p)
    _eq(obj, dt.load(p))
    _eq(obj, dt.load(str(p), weights_only=False))
    buf = io.BytesIO()
    dt.save(obj, buf)
    buf.seek(0)
    _eq(obj, dt.load(buf))
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_shared_tensor_stays_shared(tmp_path):
    w = dt.ones(3)
    dt.save({"a": w, "b": w, "c": dt.ones(3)}, tmp_path / "s")
    out = dt.load(tmp_path / "s")
    assert out["a"] is out["b"] and out["a"] is not out["c"]


def test_unsupported_object_is_rejected(tmp_path):
    class Foo:
        pass

    with pytest.raises(TypeError, match="cannot store an object of type"):
        dt.save({"x": Foo()}, tmp_path / "f")
    assert not os.listdir(tmp_path)  # nothing left behind


def test_truncated_corrupted_foreign(tmp_path):
    p = tmp_path / "ckpt"
    dt.save(_sample(), p)
    raw = p.read_bytes()
    for cut in (len(raw) - 1, len(raw) - 40, len(raw) // 2, 30, 12, 3):
        q = tmp_path / f"cut{cut}"
        q.write_bytes(raw[:cut])
        with pytest.raises(RuntimeError, match="truncated|not a disttensor checkpoint"):
            dt.load(q)
    for pos in (len(raw) // 2, len(raw) - 100, 30):
        bad = bytearray(raw)
        bad[pos] ^= 0x40
        q = tmp_path / f"flip{pos}"
        q.write_bytes(bytes(bad))
        with pytest.raises(RuntimeError, match="corrupted|truncated|trailing|header"):
            dt.load(q)
    q = tmp_path / "foreign"
    q.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(RuntimeError, match="not a disttensor checkpoint.*PyTorch"):
        dt.load(q)
    q.write_bytes(b"")
    with pytest.raises(RuntimeError, match="not a disttensor checkpoint"):
        dt.load(q)
    bad = bytearray(raw)
    bad[8] = 99  # version
    q.write_bytes(bytes(bad))
    with pytest.raises(RuntimeError, match="format version 99"):
        dt.load(q)


def test_torch_checkpoint_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "t.pt"
    torch.save({"w": torch.ones(2)}, p)
    with pytest.raises(RuntimeError, match="PyTorch"):
        dt.load(p)


def test_atomic_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "ckpt"
    dt.save({"v": dt.ones(3)}, p)
    before = p.read_bytes()

    class Boom(Exception):
        pass

    real = serialization._write

    def failing(obj, fh):
        fh.write(b"partial data")
        raise Boom("disk full")

    monkeypatch.setattr(serialization, "_write", failing)
    with pytest.raises(Boom):
        dt.save({"v": dt.zeros(3)}, p)
    monkeypatch.setattr(serialization, "_write", real)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt"]  # temp file removed
    np.testing.assert_array_equal(dt.load(p)["v"].numpy(), np.ones(3, np.float32))


def test_map_location(tmp_path):
    p = tmp_path / "m"
    dt.save({"w": dt.ones(2), "n": 1}, p)
    for ml in ("cpu", dt.device("cpu"), {"cpu": "cpu"}, lambda t, loc: t, lambda t, loc: None):
        out = dt.load(p, map_location=ml)
        assert out["w"].device == dt.device("cpu") and out["n"] == 1
    seen = []

    def fn(t, loc):
        seen.append(loc)
        return t * 2

    assert dt.load(p, map_location=fn)["w"].tolist() == [2.0, 2.0] and seen == ["cpu"]


def test_model_optimizer_checkpoint_round_trip(tmp_path):
    from disttensor import optim
    rng = np.random.default_rng(0)
    params = [dt.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in [(4, 3), (3,)]]
    opt = optim.AdamW(params, lr=0.01)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    for _ in range(3):
        for p in params:
            p.grad = dt.tensor(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
        sched.step()
    dt.save({"params": params, "optimizer": opt.state_dict(), "sched": sched.state_dict(), "epoch": 3},
            tmp_path / "ck")
    ck = dt.load(tmp_path / "ck")
    params2 = [dt.tensor(p.detach().numpy(), requires_grad=True) for p in ck["params"]]
    opt2 = optim.AdamW(params2, lr=0.01)
    opt2.load_state_dict(ck["optimizer"])
    sched2 = optim.lr_scheduler.MultiStepLR(opt2, milestones=[2, 4])
    sched2.load_state_dict(ck["sched"])
    assert ck["epoch"] == 3
    for _ in range(3):
        g = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        for p, p2, gi in zip(params, params2, g):
            p.grad = dt.tensor(gi)
            p2.grad = dt.tensor(gi)
        opt.step()
        opt2.step()
        sched.step()
        sched2.step()
    for p, p2 in zip(params, params2):
        np.testing.assert_array_equal(p.detach().numpy(), p2.detach().numpy())
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_saved_file_mode_follows_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        p = tmp_path / "m"
        dt.save({"a": 1}, p)
        assert os.stat(p).st_mode & 0o777 == 0o644
        os.chmod(p, 0o600)
        dt.save({"a": 2}, p)
        assert os.stat(p).st_mode & 0o777 == 0o600 and dt.load(p) == {"a": 2}
    finally:
        os.umask(mask)


def test_large_file_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    big = dt.tensor(rng.standard_normal((600, 1000)).astype(np.float32))  # 2.4 MB: read through mmap
    p = tmp_path / "big"
    dt.save({"w": big, "b": dt.ones(3)}, p)
    out = dt.load(p)
    np.testing.assert_array_equal(out["w"].numpy(), big.numpy())
    out["w"].add_(1)  # loaded arrays are writable copies, not views of the map
    raw = p.read_bytes()
    p.write_bytes(raw[:-5000])
    with pytest.raises(RuntimeError, match="truncated"):
        dt.load(p)
    bad = bytearray(raw)
    bad[len(raw) // 2] ^= 1
    p.write_bytes(bytes(bad))
    with pytest.raises(RuntimeError, match="corrupted"):
        dt.load(p)
