"""The nccl backend against a recording fake communicator (no GPU here), in process."""
import pickle
import time

import ml_dtypes
import numpy as np
import pytest

import disttensor as torch
import disttensor.distributed as dist
from collectives import distributed_c10d as c10d
from collectives.store import HashStore

from .fake_cuda import make, cuda_tensor

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake():
    nccl, cp, log = make()
    c10d._set_nccl_hooks(nccl, cp)
    yield nccl, cp, log
    if dist.is_initialized():
        dist.destroy_process_group()
    c10d._set_nccl_hooks(None, None)


def _init(rank=0, world_size=2, store=None):
    if store is None:
        store = HashStore()
        if rank != 0:  # what rank 0 would have published
            store.set("dt/nccl/uid/0", pickle.dumps(tuple(range(128))))
    dist.init_process_group("nccl", store=store, rank=rank, world_size=world_size)
    return dist.GroupMember.WORLD.nccl


def _calls(log, name):
    return [e for e in log if e[0] == name]


def test_without_gpu_init_fails_at_once():
    c10d._set_nccl_hooks(None, None)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="backend='nccl'.*(CuPy|CUDA GPU)"):
        dist.init_process_group("nccl", store=HashStore(), rank=0, world_size=2)
    assert time.monotonic() - t0 < 5
    assert not dist.is_initialized()
    nccl, cp, _ = make(devices=None)  # CuPy present, no driver/device
    c10d._set_nccl_hooks(nccl, cp)
    try:
        with pytest.raises(RuntimeError, match="needs a CUDA GPU, and none is available"):
            dist.init_process_group("nccl", store=HashStore(), rank=0, world_size=2)
    finally:
        c10d._set_nccl_hooks(None, None)
    assert not dist.is_initialized()


def test_unique_id_through_store(fake):
    nccl, cp, log = fake
    store = HashStore()
    store.set("dt/nccl/uid/0", pickle.dumps(tuple(range(5, 133))))
    _init(rank=1, store=store)
    assert _calls(log, "CommInitRank") == [("CommInitRank", 2, tuple(range(5, 133)), 1)]
    dist.destroy_process_group()
    store = HashStore()
    _init(rank=0, store=store)
    assert pickle.loads(store.get("dt/nccl/uid/0")) == tuple(range(128))


def test_all_reduce_in_place_on_dedicated_stream(fake):
    nccl, cp, log = fake
    pg = _init()
    t = cuda_tensor(np.ones(8, ml_dtypes.bfloat16))
    ptr = t._data.data.ptr
    log.clear()
    w = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
    names = [e[0] for e in log]
    assert names == ["record", "wait_event", "allReduce", "record"], log
    rec_cur, wait, call, rec_done = log
    cur = cp.cuda.get_current_stream().ptr
    assert rec_cur[2] == cur and wait[1] == pg.stream.ptr and wait[2] == rec_cur[1]
    assert call == ("allReduce", ptr, ptr, 8, nccl.NCCL_BFLOAT16, nccl.NCCL_AVG, pg.stream.ptr)
    assert pg.stream.ptr != cur
    assert rec_done[2] == pg.stream.ptr
    log.clear()
    assert w.is_completed()
    w.wait()
    assert log == [("wait_event", cur, rec_done[1])]  # the caller's stream waits, not the host
    for dt, code in ((np.float32, nccl.NCCL_FLOAT32), (np.float16, nccl.NCCL_FLOAT16),
                     (np.int64, nccl.NCCL_INT64), (np.float64, nccl.NCCL_FLOAT64)):
        for op, ncop in ((dist.ReduceOp.SUM, nccl.NCCL_SUM), (dist.ReduceOp.MAX, nccl.NCCL_MAX),
                         (dist.ReduceOp.MIN, nccl.NCCL_MIN), (dist.ReduceOp.PRODUCT, nccl.NCCL_PROD)):
            log.clear()
            dist.all_reduce(cuda_tensor(np.ones((2, 3), dt)), op=op)
            (call,) = _calls(log, "allReduce")
            assert call[3:6] == (6, code, ncop)
    log.clear()
    dist.all_reduce(cuda_tensor(np.ones(3, np.complex64)))
    assert _calls(log, "allReduce")[0][3:6] == (6, nccl.NCCL_FLOAT32, nccl.NCCL_SUM)
    log.clear()
    dist.all_reduce(cuda_tensor(np.ones(3, np.bool_)))
    assert _calls(log, "allReduce")[0][3:6] == (3, nccl.NCCL_UINT8, nccl.NCCL_MAX)


def test_non_contiguous_is_staged_and_copied_back_on_the_comm_stream(fake):
    nccl, cp, log = fake
    pg = _init()
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = cuda_tensor(base)
    t._data = t._data[:, ::2]
    log.clear()
    dist.all_reduce(t)
    names = [e[0] for e in log]
    assert names[0] == "copy" and "allReduce" in names
    call = _calls(log, "allReduce")[0]
    assert call[1] != base.__array_interface__["data"][0] and call[3] == 6
    # while the device may still use it, the staging buffer is held by the work
    cp.events_done = False
    log.clear()
    w = dist.all_reduce(t, async_op=True)
    staged_ptr = _calls(log, "allReduce")[0][1]
    assert any(x.data.ptr == staged_ptr for x in w.live)
    cp.events_done = True
    assert w.is_completed() and w.live is None


def test_collective_counts_and_roots(fake):
    nccl, cp, log = fake
    pg = _init(rank=1)
    s = pg.stream.ptr
    t = cuda_tensor(np.zeros((4, 3), np.float32))
    log.clear()
    dist.broadcast(t, src=0)
    assert _calls(log, "bcast") == [("bcast", t._data.data.ptr, 12, nccl.NCCL_FLOAT32, 0, s)]
    log.clear()
    dist.reduce(t, dst=0, op=dist.ReduceOp.MAX)
    assert _calls(log, "reduce")[0][3:7] == (12, nccl.NCCL_FLOAT32, nccl.NCCL_MAX, 0)
    out = cuda_tensor(np.zeros((8, 3), np.float32))
    inp = cuda_tensor(np.ones((4, 3), np.float32))
    log.clear()
    dist.all_gather_into_tensor(out, inp)
    assert _calls(log, "allGather") == [("allGather", inp._data.data.ptr, out._data.data.ptr, 12,
                                         nccl.NCCL_FLOAT32, s)]
    log.clear()
    dist.reduce_scatter_tensor(inp, out)
    assert _calls(log, "reduceScatter") == [("reduceScatter", out._data.data.ptr, inp._data.data.ptr, 12,
                                             nccl.NCCL_FLOAT32, nccl.NCCL_SUM, s)]
    # int16 has no NCCL type: moved as bytes, refused for reductions
    t16 = cuda_tensor(np.zeros(5, np.int16))
    log.clear()
    dist.broadcast(t16, src=0)
    assert _calls(log, "bcast")[0][2:4] == (10, nccl.NCCL_UINT8)
    with pytest.raises(RuntimeError, match="cannot reduce int16"):
        dist.all_reduce(t16)


def test_all_to_all_and_batched_p2p_use_groups(fake):
    nccl, cp, log = fake
    pg = _init(rank=0)
    inp = cuda_tensor(np.arange(6, dtype=np.float32))
    out = cuda_tensor(np.zeros(6, np.float32))
    log.clear()
    dist.all_to_all_single(out, inp)
    names = [e[0] for e in log if e[0] in ("groupStart", "groupEnd", "send", "recv")]
    assert names == ["groupStart", "send", "recv", "send", "recv", "groupEnd"]
    sends = _calls(log, "send")
    assert [(c[2], c[4]) for c in sends] == [(3, 0), (3, 1)]  # count, peer
    base = inp._data.data.ptr
    assert sends[1][1] == base + 12
    log.clear()
    ops = [dist.P2POp(dist.isend, cuda_tensor(np.ones(4, np.float32)), 1),
           dist.P2POp(dist.irecv, cuda_tensor(np.zeros(4, np.float32)), 1)]
    works = dist.batch_isend_irecv(ops)
    names = [e[0] for e in log if e[0] in ("groupStart", "groupEnd", "send", "recv")]
    assert names == ["groupStart", "send", "recv", "groupEnd"]
    assert len(works) == 2 and all(w.event is not None for w in works)
    # uneven splits
    log.clear()
    out2 = cuda_tensor(np.zeros((3, 2), np.float32))
    dist.all_to_all_single(out2, cuda_tensor(np.zeros((5, 2), np.float32)), [1, 2], [4, 1])
    assert [c[2] for c in _calls(log, "send")] == [8, 2] and [c[2] for c in _calls(log, "recv")] == [2, 4]


def test_stall_and_cpu_tensor_errors(fake):
    nccl, cp, log = fake
    pg = _init()
    with pytest.raises(RuntimeError, match="takes CUDA tensors; got a CPU tensor"):
        dist.all_reduce(torch.ones(3))
    cp.events_done = False  # the collective never finishes
    w = dist.all_reduce(cuda_tensor(np.ones(4, np.float32)), async_op=True)
    with pytest.raises(dist.DistBackendError, match=r"all_reduce\(shape=\(4,\).*did not complete"):
        w.wait(timeout=0.3)
    assert _calls(log, "abort")


def test_object_collectives_through_store(fake):
    nccl, cp, log = fake
    store = HashStore()
    _init(rank=0, world_size=1, store=store)
    objs = [None]
    dist.all_gather_object(objs, {"a": 1})
    assert objs == [{"a": 1}]
    lst = ["x", 2]
    dist.broadcast_object_list(lst, src=0)
    assert lst == ["x", 2]


def test_default_backend_routes_cpu_to_mpi_and_cuda_to_nccl(fake):
    nccl, cp, log = fake
    dist.init_process_group()  # one process: MPI world of 1, NCCL created on first CUDA tensor
    pg = dist.GroupMember.WORLD
    t = torch.ones(3)
    dist.all_reduce(t)
    assert pg._nccl is None and t.tolist() == [1.0, 1.0, 1.0]
    c = cuda_tensor(np.ones(3, np.float32))
    dist.all_reduce(c)
    assert pg._nccl is not None and _calls(log, "CommInitRank") == [("CommInitRank", 1, tuple(range(128)), 0)]
    assert _calls(log, "allReduce")[0][3] == 3
