"""dtrun --ray and dtrun submit on real local Ray clusters (2 CPUs).  Skipped without Ray."""

import os
import time

import pytest

pytest.importorskip("ray")

from launcher._common import find_mpiexec, free_port  # noqa: E402

from ._util import ENV_SCRIPT, PY, dtrun, rank_json, write_script  # noqa: E402

pytestmark = pytest.mark.skipif(find_mpiexec() is None, reason="needs mpiexec (mpich wheel)")


def _ray_daemons():
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/comm" % pid) as f:
                    if f.read().strip() in ("raylet", "gcs_server"):
                        n += 1
            except OSError:
                pass
    return n


def _collectives_available():
    try:
        import collectives.distributed_c10d  # noqa: F401
        import disttensor.distributed  # noqa: F401
        return True
    except Exception:
        return False


ALLREDUCE_SCRIPT = ENV_SCRIPT + """
    import disttensor as torch
    import disttensor.distributed as dist
    dist.init_process_group("mpi")
    t = torch.ones(3) * (dist.get_rank() + 1)
    dist.all_reduce(t)
    print("SUM", json.dumps({"rank": dist.get_rank(), "world": dist.get_world_size(),
                             "sum": t.tolist()}), flush=True)
    dist.destroy_process_group()
"""


@pytest.mark.timeout(150)
def test_ray_local_cluster_two_ranks_env_streaming_and_all_reduce(tmp_path):
    """dtrun --ray starts its own local cluster: 2 actors in a placement group, each rank
    under its own `mpiexec -n 1`, joined into one MPI world by collectives."""
    before = _ray_daemons()
    real_collective = _collectives_available()
    script = write_script(tmp_path, "job.py", ALLREDUCE_SCRIPT if real_collective else ENV_SCRIPT)
    rc, out, err = dtrun(["--ray", "--nproc-per-node", "2", "--cpus-per-rank", "1", script, "q"],
                         timeout=130, cwd=str(tmp_path))
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [0, 1], (out, err)
    for r, d in got.items():
        assert d["RANK"] == str(r) and d["LOCAL_RANK"] == str(r)
        assert d["WORLD_SIZE"] == "2" and d["LOCAL_WORLD_SIZE"] == "2"
        assert d["GROUP_RANK"] == "0" and d["TORCHELASTIC_RESTART_COUNT"] == "0"
        assert d["DTRUN_MPI_WORLD"] == "per-rank"
        assert d["OMP_NUM_THREADS"] == "1" and d["NUMBA_NUM_THREADS"] == "1"
        assert d["argv"] == ["q"]
    assert got[0]["MASTER_ADDR"] == got[1]["MASTER_ADDR"]
    assert got[0]["MASTER_PORT"] == got[1]["MASTER_PORT"]
    if real_collective:
        sums = rank_json(out, "SUM")
        assert sums == {r: {"rank": r, "world": 2, "sum": [3.0, 3.0, 3.0]} for r in (0, 1)}
    # the cluster dtrun started is gone
    for _ in range(100):
        if _ray_daemons() <= before:
            break
        time.sleep(0.1)
    assert _ray_daemons() <= before


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster with the job API for the remaining tests; shut down at the end."""
    import ray
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = free_port()
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=True,
                   dashboard_host="127.0.0.1", dashboard_port=port, log_to_driver=False)
    try:
        yield {"gcs": ctx.address_info["gcs_address"], "dashboard": "http://127.0.0.1:%d" % port}
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old


@pytest.mark.timeout(150)
def test_ray_rank_failure_is_reported_and_restarted(ray_cluster, tmp_path):
    script = write_script(tmp_path, "fail.py", """
        import os, sys, time
        restart = os.environ["TORCHELASTIC_RESTART_COUNT"]
        print("attempt", restart, flush=True)
        if os.environ["RANK"] == "1" and restart == "0":
            time.sleep(0.3)
            raise KeyError("shard 17 missing")
        if restart == "0":
            time.sleep(120)
    """)
    rc, out, err = dtrun(["--ray", "--ray-address", ray_cluster["gcs"], "--nproc-per-node", "2",
                          "--max-restarts", "1", script], timeout=130)
    assert rc == 0, err
    report = err[err.index("dtrun: job FAILED (attempt 1 of 2)"):]
    assert "rank:        1" in report
    assert "KeyError: 'shard 17 missing'" in report and 'fail.py", line 7' in report
    assert "rank 0" in report.split("Other ranks:")[1]
    assert "[rank 0] attempt 1" in out and "[rank 1] attempt 1" in out


@pytest.mark.timeout(150)
def test_submit_to_ray_job_api(ray_cluster, tmp_path):
    write_script(tmp_path, "env.py", ENV_SCRIPT)
    rc, out, err = dtrun(["submit", "--address", ray_cluster["dashboard"], "--python", PY,
                          "--nproc-per-node", "2", "env.py", "--x"],
                         cwd=str(tmp_path), timeout=130)
    assert rc == 0, (out, err)
    assert "SUCCEEDED" in err
    got = rank_json(out)
    assert sorted(got) == [0, 1], (out, err)
    assert got[1]["WORLD_SIZE"] == "2" and got[1]["argv"] == ["--x"]
    # a failing job comes back non-zero
    write_script(tmp_path, "bad.py", "raise SystemExit(4)\n")
    rc, out, err = dtrun(["submit", "--address", ray_cluster["dashboard"], "--python", PY,
                          "bad.py"],
                         cwd=str(tmp_path), timeout=130)
    assert rc == 1 and "FAILED" in err
