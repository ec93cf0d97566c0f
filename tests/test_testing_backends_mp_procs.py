"""disttensor.multiprocessing with real processes (at most 2 at once, each test under a timeout, children
killed on failure). Workers live at module top level so spawned children can import them; this module does
not import torch so that children start fast."""
import multiprocessing as std_mp
import os
import signal
import sys
import time

import numpy as np
import pytest

import disttensor as dt
import disttensor.multiprocessing as mp


@pytest.fixture
def no_orphans():
    before = {p.pid for p in std_mp.active_children()}
    yield
    for p in std_mp.active_children():
        if p.pid not in before:
            p.kill()
            p.join(5)


def _write_rank(i, path, tensor):
    tensor.add_(1)  # in-place change in the child: must not reach the parent (tensors are copied)
    with open(os.path.join(path, f"rank{i}"), "w") as f:
        f.write(f"{i} {tensor.sum().item()}")


def _raise_on_one(i):
    if i == 1:
        raise ValueError("bad rank one")
    time.sleep(30)  # rank 0 would hang: it must be terminated when rank 1 fails


def _exit_code(i, code):
    sys.exit(code)


def _kill_self(i):
    os.kill(os.getpid(), signal.SIGKILL)


def _queue_roundtrip(q_in, q_out):
    t = q_in.get(timeout=30)
    t.mul_(10)
    q_out.put(t * 2)


def test_reexports_stdlib():
    for name in ("get_context", "Process", "Queue", "set_start_method", "cpu_count", "Pool", "Pipe", "Event",
                 "Lock", "Manager", "SimpleQueue", "get_start_method", "current_process", "active_children"):
        assert hasattr(mp, name), name
        assert name in mp.__all__
    assert mp.cpu_count() == std_mp.cpu_count()
    assert mp.get_context("spawn").get_start_method() == "spawn"
    assert set(mp.get_all_sharing_strategies()) == {"file_descriptor", "file_system"}
    assert mp.get_sharing_strategy() == "file_descriptor"
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    mp.set_sharing_strategy("file_descriptor")
    with pytest.raises(AssertionError, match="invalid sharing strategy"):
        mp.set_sharing_strategy("shm")
    assert dt.multiprocessing is mp


@pytest.mark.timeout(60)
def test_spawn_runs_fn_with_index_and_copies_tensors(tmp_path, no_orphans):
    t = dt.ones(3)
    assert mp.spawn(_write_rank, args=(str(tmp_path), t), nprocs=2) is None
    got = sorted(open(tmp_path / f"rank{i}").read() for i in range(2))
    assert got == ["0 6.0", "1 6.0"]  # each child saw its own index and added 1 to its own copy
    np.testing.assert_array_equal(t.numpy(), np.ones(3))  # the parent's tensor is unchanged


@pytest.mark.timeout(60)
def test_spawn_join_false_returns_context(tmp_path, no_orphans):
    ctx = mp.spawn(_write_rank, args=(str(tmp_path), dt.zeros(2)), nprocs=2, join=False)
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 2
    while not ctx.join(timeout=30):
        pass
    assert ctx.join() is True
    assert all(p.exitcode == 0 for p in ctx.processes)
    assert (tmp_path / "rank1").read_text() == "1 2.0"


@pytest.mark.timeout(60)
def test_child_exception_raises_with_traceback_and_stops_the_others(no_orphans):
    start = time.monotonic()
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.spawn(_raise_on_one, nprocs=2)
    err = info.value
    assert err.error_index == 1
    assert "-- Process 1 terminated with the following error:" in str(err)
    assert "ValueError: bad rank one" in str(err) and "Traceback" in str(err) and "_raise_on_one" in str(err)
    assert time.monotonic() - start < 25  # rank 0 (sleeping 30 s) was terminated, not waited for
    assert not [p for p in std_mp.active_children() if p.is_alive()]


@pytest.mark.timeout(60)
def test_nonzero_exit_and_signal_raise_process_exited(no_orphans):
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3") as info:
        mp.spawn(_exit_code, args=(3,), nprocs=1)
    assert info.value.exit_code == 3 and info.value.error_index == 0
    with pytest.raises(mp.ProcessExitedException, match="terminated with signal SIGKILL") as info:
        mp.start_processes(_kill_self, nprocs=1, start_method="fork")
    assert info.value.exit_code == -signal.SIGKILL and info.value.signal_name == "SIGKILL"


@pytest.mark.timeout(60)
def test_queue_sends_copies(no_orphans):
    ctx = mp.get_context("spawn")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_queue_roundtrip, args=(q_in, q_out))
    p.start()
    try:
        t = dt.tensor([1.0, 2.0])
        q_in.put(t)
        back = q_out.get(timeout=50)
        np.testing.assert_array_equal(back.numpy(), [20.0, 40.0])
        np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])  # the child's mul_ changed its copy only
        assert not t.is_shared() and t.share_memory_() is t
        p.join(30)
        assert p.exitcode == 0
    finally:
        if p.is_alive():
            p.kill()
            p.join()


@pytest.mark.timeout(60)
def test_spawn_warns_on_other_start_method(no_orphans):
    with pytest.warns(FutureWarning, match="only supports start_method=spawn"):
        mp.spawn(_exit_code, args=(0,), nprocs=1, start_method="fork")


def test_exceptions_pickle():
    import pickle
    e = pickle.loads(pickle.dumps(mp.ProcessExitedException("m", 1, 2, 3, "SIGTERM")))
    assert (e.msg, e.error_index, e.error_pid, e.exit_code, e.signal_name) == ("m", 1, 2, 3, "SIGTERM")
    r = pickle.loads(pickle.dumps(mp.ProcessRaisedException("m", 0, 5)))
    assert isinstance(r, mp.ProcessException) and r.error_pid == 5
