"""utils.data vs PyTorch: datasets, collate, samplers, DistributedSampler, DataLoader with worker processes."""
import collections
import multiprocessing as mp
import os
import random
import signal

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import disttensor as dt
from disttensor.utils import data as dd


@pytest.fixture(autouse=True)
def _reap_children():
    yield
    for p in mp.active_children():  # only processes this test process started
        p.terminate()
        p.join(2)


def _np(x):
    if isinstance(x, (dt.Tensor, torch.Tensor)):
        return np.asarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x.numpy())
    return x


def _same(a, b):
    """Compare a disttensor batch structure with a torch one."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, dt.Tensor), type(a)
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        np.testing.assert_array_equal(_np(a), _np(b))
    elif isinstance(b, dict):
        assert type(a) is type(b) and a.keys() == b.keys()
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


Point = collections.namedtuple("Point", "x y")


def test_default_collate_matches_torch():
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(4)]
    samples = [
        {"img": arrs[i], "label": i, "w": float(i) / 2, "name": f"s{i}", "pt": Point(i, np.int32(i)),
         "pair": (i, [1.5, 2.5]), "flag": bool(i % 2), "np64": np.float64(i)}
        for i in range(4)]
    a = dd.default_collate(samples)
    b = tud.default_collate(samples)
    _same(a, b)
    ta = [dt.tensor(x) for x in arrs]
    tb = [torch.tensor(x) for x in arrs]
    _same(dd.default_collate(ta), tud.default_collate(tb))
    with pytest.raises(RuntimeError, match="equal size"):
        dd.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError):
        dd.default_collate([object(), object()])
    _same(dd.default_convert({"a": arrs[0], "b": (1, arrs[1])}), tud.default_convert({"a": arrs[0], "b": (1, arrs[1])}))


def test_datasets_and_random_split():
    x = dt.arange(30).reshape(10, 3)
    y = dt.arange(10)
    ds = dd.TensorDataset(x, y)
    assert len(ds) == 10 and ds[3][1].item() == 3
    sub = dd.Subset(ds, [1, 5, 7])
    assert len(sub) == 3 and sub[1][1].item() == 5
    cat = dd.ConcatDataset([ds, sub])
    assert len(cat) == 13 and cat[11][1].item() == 5 and cat[-1][1].item() == 7
    for lengths in ([0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [3, 7], [0.1, 0.9]):
        a = dd.random_split(range(10), lengths, generator=dt.Generator().manual_seed(1))
        b = tud.random_split(range(10), lengths, generator=torch.Generator().manual_seed(1))
        assert [len(s) for s in a] == [len(s) for s in b]
        got = sorted(i for s in a for i in s)
        assert got == list(range(10))
    a1 = dd.random_split(range(50), [0.5, 0.5], generator=dt.Generator().manual_seed(3))
    a2 = dd.random_split(range(50), [0.5, 0.5], generator=dt.Generator().manual_seed(3))
    assert list(a1[0]) == list(a2[0])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        dd.random_split(range(10), [3, 3])


def test_samplers():
    src = list(range(10))
    assert list(dd.SequentialSampler(src)) == src
    r = list(dd.RandomSampler(src, generator=dt.Generator().manual_seed(0)))
    assert sorted(r) == src
    assert r == list(dd.RandomSampler(src, generator=dt.Generator().manual_seed(0)))
    r = list(dd.RandomSampler(src, num_samples=25, generator=dt.Generator().manual_seed(0)))
    assert len(r) == 25 and sorted(r[:10]) == src and sorted(r[10:20]) == src
    r = list(dd.RandomSampler(src, replacement=True, num_samples=100))
    assert len(r) == 100 and set(r) <= set(src)
    r = list(dd.SubsetRandomSampler([3, 5, 7]))
    assert sorted(r) == [3, 5, 7]
    w = list(dd.WeightedRandomSampler([0, 0, 1.0, 0], 20))
    assert w == [2] * 20
    w = list(dd.WeightedRandomSampler(dt.tensor([1.0, 2.0, 3.0]), 3, replacement=False))
    assert sorted(w) == [0, 1, 2]
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False)]:
        a = dd.BatchSampler(dd.SequentialSampler(range(n)), bs, drop)
        b = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(a) == list(b) and len(a) == len(b)
    with pytest.raises(ValueError):
        dd.BatchSampler(src, 0, False)


@pytest.mark.parametrize("size,replicas,drop_last,shuffle,epoch,seed", [
    (10, 3, False, False, 0, 0), (10, 3, True, False, 0, 0), (10, 3, False, True, 0, 0), (10, 3, True, True, 2, 0),
    (2, 5, False, True, 1, 0), (17, 4, False, True, 5, 42), (100, 8, True, True, 3, 7), (64, 2, False, True, 0, 1),
    (3, 7, False, False, 0, 0), (1000, 3, False, True, 11, 123)])
def test_distributed_sampler_matches_torch(size, replicas, drop_last, shuffle, epoch, seed):
    ds = list(range(size))
    for rank in range(replicas):
        a = dd.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed,
                                  drop_last=drop_last)
        b = tud.DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed,
                                   drop_last=drop_last)
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert list(a) == list(b)
        assert len(a) == len(b)
    with pytest.raises(ValueError, match="Invalid rank"):
        dd.DistributedSampler(ds, num_replicas=2, rank=2)


def test_distributed_sampler_needs_group():
    with pytest.raises(RuntimeError):
        dd.DistributedSampler(list(range(4)))


# ---- DataLoader -------------------------------------------------------------------------------------
class SquareDataset(dd.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.int64), i


class SeedDataset(dd.Dataset):
    """Each sample reports the worker that made it and draws from every RNG the worker seeded."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = dd.get_worker_info()
        return (info.id if info else -1, info.seed if info else -1, random.random(), float(np.random.rand()),
                float(dt.rand(1).item()))


class FailingDataset(dd.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"bad sample {i}")
        return i


class DyingDataset(dd.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class ShardedIterable(dd.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = dd.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


def _labels(loader):
    return [b[1].tolist() for b in loader]


@pytest.mark.timeout(60)
def test_dataloader_workers_values_and_order():
    ds = SquareDataset(23)
    ref = list(dd.DataLoader(ds, batch_size=4))
    assert len(ref) == 6
    tref = list(tud.DataLoader(ds, batch_size=4))
    for a, b in zip(ref, tref):
        _same(a, b)
    for nw, pf in [(1, 2), (2, 1), (3, 4)]:
        got = list(dd.DataLoader(ds, batch_size=4, num_workers=nw, prefetch_factor=pf))
        assert len(got) == len(ref)
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
            np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    dl = dd.DataLoader(ds, batch_size=5, drop_last=True, num_workers=2)
    assert len(dl) == 4 and _labels(dl) == [list(range(i, i + 5)) for i in range(0, 20, 5)]
    # no auto-batching
    got = list(dd.DataLoader(ds, batch_size=None, num_workers=2))
    assert len(got) == 23 and got[7][1] == 7 and isinstance(got[7][0], dt.Tensor)
    assert not mp.active_children()


@pytest.mark.timeout(60)
def test_dataloader_shuffle_determinism_and_worker_seeds():
    ds = SquareDataset(30)

    def run(seed, nw):
        g = dt.Generator().manual_seed(seed)
        return _labels(dd.DataLoader(ds, batch_size=4, shuffle=True, num_workers=nw, generator=g))

    a, b, c = run(5, 2), run(5, 2), run(6, 2)
    assert a == b and a != c
    assert sorted(sum(a, [])) == list(range(30))
    assert run(5, 0) == a  # same order with or without workers

    def seeds(seed):
        g = dt.Generator().manual_seed(seed)
        return list(dd.DataLoader(SeedDataset(), batch_size=2, num_workers=2, generator=g,
                                  collate_fn=lambda x: x))

    s1, s2 = seeds(11), seeds(11)
    assert s1 == s2
    flat = [s for b in s1 for s in b]
    ids = {s[0] for s in flat}
    assert ids == {0, 1}
    base = {s[1] - s[0] for s in flat}
    assert len(base) == 1  # seed = base_seed + worker_id
    # workers' random streams differ between workers
    w0 = [s[2:] for s in flat if s[0] == 0]
    w1 = [s[2:] for s in flat if s[0] == 1]
    assert w0[0] != w1[0]


@pytest.mark.timeout(60)
def test_worker_init_fn_and_worker_info():
    def init(wid):
        info = dd.get_worker_info()
        assert info.id == wid and info.num_workers == 3
        np.random.seed(1000 + wid)

    out = list(dd.DataLoader(SeedDataset(), batch_size=None, num_workers=3, worker_init_fn=init))
    assert dd.get_worker_info() is None
    exp = {}
    for wid in range(3):
        rs = np.random.RandomState(1000 + wid)
        exp[wid] = rs.rand()
    firsts = {}
    for s in out:
        firsts.setdefault(s[0], s[3])
    assert firsts == exp


@pytest.mark.timeout(60)
def test_worker_error_is_reraised_with_traceback():
    dl = dd.DataLoader(FailingDataset(), batch_size=2, num_workers=2)
    with pytest.raises(ValueError) as ei:
        list(dl)
    msg = str(ei.value)
    assert "Caught ValueError in DataLoader worker process" in msg
    assert "bad sample 5" in msg and "Traceback" in msg and "__getitem__" in msg
    assert not mp.active_children()
    # in the main process the original exception propagates
    with pytest.raises(ValueError, match="bad sample 5"):
        list(dd.DataLoader(FailingDataset(), batch_size=2))
    # KeyError keeps its type
    with pytest.raises(KeyError):
        list(dd.DataLoader([{"a": 1}], batch_size=1, num_workers=1, collate_fn=lambda b: b[0]["missing"]))


@pytest.mark.timeout(60)
def test_dead_worker_detected():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(dd.DataLoader(DyingDataset(), batch_size=1, num_workers=2))
    assert not mp.active_children()


@pytest.mark.timeout(60)
def test_iterable_dataset_with_workers_and_persistent():
    ds = ShardedIterable(10)
    assert sorted(sum(_labels_iter(dd.DataLoader(ds, batch_size=3, num_workers=2)), [])) == list(range(10))
    assert _labels_iter(dd.DataLoader(ds, batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert _labels_iter(dd.DataLoader(ds, batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(dd.DataLoader(ds, batch_size=3)) == 4
    dl = dd.DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)
    e1 = _labels_iter(dl)
    pids = [w.pid for w in dl._iterator._workers]
    e2 = _labels_iter(dl)
    assert e1 == e2 and sorted(sum(e1, [])) == list(range(10))
    assert [w.pid for w in dl._iterator._workers] == pids  # same processes across epochs
    m = dd.DataLoader(SquareDataset(9), batch_size=2, shuffle=True, num_workers=2, persistent_workers=True,
                      generator=dt.Generator().manual_seed(0))
    it = iter(m)
    next(it)  # abandon an epoch half way
    full = _labels(m)
    assert sorted(sum(full, [])) == list(range(9))
    m._iterator._shutdown_workers()
    dl._iterator._shutdown_workers()
    assert not mp.active_children()


def _labels_iter(loader):
    return [b.tolist() for b in loader]


@pytest.mark.timeout(60)
def test_abandoned_iterator_shuts_down():
    import gc
    dl = dd.DataLoader(SquareDataset(100), batch_size=2, num_workers=2)
    it = iter(dl)
    next(it)
    procs = list(it._workers)
    del it
    gc.collect()
    for p in procs:
        p.join(5)
        assert not p.is_alive()


def test_dataloader_argument_errors():
    ds = SquareDataset(4)
    with pytest.raises(ValueError, match="mutually exclusive"):
        dd.DataLoader(ds, sampler=dd.SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="mutually exclusive"):
        dd.DataLoader(ds, batch_sampler=dd.BatchSampler(range(4), 2, False), batch_size=3)
    with pytest.raises(ValueError, match="persistent_workers"):
        dd.DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor"):
        dd.DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="shuffle"):
        dd.DataLoader(ShardedIterable(3), shuffle=True)
    dl = dd.DataLoader(ds, batch_sampler=dd.BatchSampler(range(4), 3, False), pin_memory=True)
    assert len(dl) == 2 and _labels(dl) == [[0, 1, 2], [3]]


_DIST_SCRIPT = r"""
import json, sys
import disttensor.distributed as dist
from disttensor.utils.data import DistributedSampler
dist.init_process_group("mpi")
s = DistributedSampler(list(range(11)), seed=3)
s.set_epoch(2)
print("RESULT" + json.dumps([dist.get_rank(), dist.get_world_size(), list(s)]))
dist.destroy_process_group()
"""


@pytest.mark.mpi
@pytest.mark.timeout(90)
def test_distributed_sampler_from_process_group():
    import subprocess
    import sys
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("mpiexec not installed")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=root)
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        env.pop(k, None)
    p = subprocess.Popen([mpiexec, "-n", "2", sys.executable, "-c", _DIST_SCRIPT], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=root, start_new_session=True)
    try:
        out, err = p.communicate(timeout=80)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    assert p.returncode == 0, err
    import json
    # mpiexec forwards both ranks' stdout through one pipe, so one rank's line may not have ended when
    # the other's starts: decode each record where it begins rather than line by line
    dec = json.JSONDecoder()
    res = sorted(dec.raw_decode(chunk.lstrip())[0] for chunk in out.split("RESULT")[1:])
    assert [r[:2] for r in res] == [[0, 2], [1, 2]]
    for rank, world, got in res:
        t = tud.DistributedSampler(list(range(11)), num_replicas=2, rank=rank, seed=3)
        t.set_epoch(2)
        assert got == list(t)


@pytest.mark.timeout(90)
def test_spawn_context_workers():
    from tests.data._spawn_ds import Squares  # a module without torch: spawned workers import it quickly
    dl = dd.DataLoader(Squares(10), batch_size=3, num_workers=2, multiprocessing_context="spawn")
    assert _labels(dl) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert not mp.active_children()


class SlowDataset(dd.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import time
        time.sleep(2)
        return i


def _bad_init(wid):
    raise OSError(f"cannot open shard for worker {wid}")


@pytest.mark.timeout(60)
def test_worker_init_error_and_timeout():
    with pytest.raises(OSError, match="cannot open shard for worker"):
        list(dd.DataLoader(SquareDataset(4), batch_size=2, num_workers=1, worker_init_fn=_bad_init))
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(dd.DataLoader(SlowDataset(), batch_size=1, num_workers=1, timeout=0.5))
    assert not mp.active_children()


def test_module_paths_like_torch():
    import subprocess
    import sys
    code = ("import disttensor as torch; u = torch.utils.data; "
            "assert u.DataLoader and u.distributed.DistributedSampler and u.dataset.Dataset and u.sampler.Sampler; "
            "assert u._utils.collate.default_collate and u.dataloader.get_worker_info")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
