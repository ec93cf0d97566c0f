"""Real MPI jobs (mpiexec -n 2, one with 3): every collective and dtype vs NumPy, async overlap,
subgroups, object collectives, the env:// join path, stalls, mismatches and failing ranks."""
import re

import pytest

from ._launch import mpirun, launch_env, check_ok

pytestmark = pytest.mark.mpi


@pytest.mark.timeout(90)
def test_every_collective_two_ranks():
    check_ok(mpirun("all_collectives.py", n=2, timeout=80))


@pytest.mark.timeout(90)
def test_every_collective_three_ranks():
    res = mpirun("all_collectives.py", n=3, timeout=80)
    check_ok(res)
    assert res[1].count("ALL OK") == 3


@pytest.mark.timeout(90)
def test_subgroups_three_ranks():
    res = mpirun("subgroups.py", n=3, timeout=80)
    check_ok(res)
    assert res[1].count("ALL OK") == 3


@pytest.mark.timeout(90)
def test_async_all_reduce_overlaps_compute():
    res = mpirun("overlap.py", n=2, timeout=80)
    check_ok(res)
    assert res[1].count("ALL OK") == 2


@pytest.mark.timeout(90)
def test_env_join_ranks_started_separately():
    """Each rank under its own `mpiexec -n 1`, only RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set."""
    for res in launch_env("env_join.py", n=2, timeout=80):
        check_ok(res)


@pytest.mark.timeout(60)
def test_bare_python_ranks_fail_clearly():
    """MPICH singletons cannot join one world: the error says to start each rank under mpiexec -n 1."""
    for rc, out, err in launch_env("env_join.py", n=2, timeout=50, under_mpiexec=False):
        assert rc != 0
        assert "mpiexec -n 1" in err, err


@pytest.mark.timeout(60)
def test_join_fails_when_a_rank_never_comes():
    ((rc, out, err),) = launch_env("env_join.py", n=2, timeout=50, only=[0], env={"DISTTENSOR_TIMEOUT": "3"})
    assert rc != 0
    assert "rank 1 did not join the MPI world" in err, err


@pytest.mark.timeout(60)
def test_stall_names_missing_rank():
    rc, out, err = mpirun("stall.py", n=2, timeout=50, env={"DISTTENSOR_TIMEOUT": "3"})
    assert rc != 0 and "UNREACHABLE" not in out
    assert "DistBackendError" in err, err
    assert re.search(r"all_reduce\(shape=\(16, 4\), dtype=float32, op=SUM\).*did not complete on rank 0", err), err
    assert "Ranks that did not arrive: [1]" in err, err
    # the report has every rank's position and last collectives
    assert re.search(r"rank 1 .*reached #2 on this group; not in a collective \(at .*stall\.py:14 in <module>\)", err), err
    assert "#2 broadcast(shape=(8,), dtype=float32, src=0)" in err


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case,pattern", [
    ("shape", r"all_reduce\(shape=\(4,\).*Rank 1 is running collective: all_reduce\(shape=\(5,\)"),
    ("dtype", r"dtype=float32.*Rank 1 is running collective: all_reduce\(shape=\(4,\), dtype=float64"),
    ("op", r"Rank 0 is running collective #2: all_reduce.*Rank 1 is running collective: broadcast"),
])
def test_mismatch_detected_in_detail_mode(case, pattern):
    rc, out, err = mpirun("mismatch.py", n=2, timeout=50, env={"DISTTENSOR_DEBUG": "DETAIL"},
                          args=(case,))
    assert rc == 0, out + err
    # mpiexec forwards both ranks' output through one pipe, so a line may not end before the other's starts
    assert sorted(re.findall(r"rank (\d): MISMATCH", out)) == ["0", "1"], out + err
    r0 = out[out.index("rank 0: MISMATCH"):].split("rank 1: MISMATCH")[0]
    assert re.search(pattern, r0), r0


@pytest.mark.timeout(60)
def test_exception_on_one_rank_ends_the_job():
    """Rank 1 raises; rank 0 waits in all_reduce with a 100 s timeout: the job still ends at once."""
    rc, out, err = mpirun("raises.py", n=2, timeout=40, env={"DISTTENSOR_TIMEOUT": "100"})
    assert rc != 0 and "UNREACHABLE" not in out
    assert "ValueError: boom on rank 1" in err


@pytest.mark.timeout(60)
def test_exception_on_one_rank_ends_the_joined_job():
    res = launch_env("raises.py", n=2, timeout=40, env={"DISTTENSOR_TIMEOUT": "100"})
    assert all(rc != 0 for rc, _, _ in res)
    assert "ValueError: boom on rank 1" in res[1][2]
    assert "aborted by another rank: rank 1 raised ValueError: boom on rank 1" in res[0][2], res[0][2]


@pytest.mark.timeout(60)
def test_monitored_barrier_names_late_rank():
    rc, out, err = mpirun("monitored.py", n=2, timeout=50)
    assert "rank 0: CAUGHT monitored_barrier" in out, out + err
    assert "Ranks that did not arrive: [1]" in out, out + err
