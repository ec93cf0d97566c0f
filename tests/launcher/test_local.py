"""dtrun end to end with real processes: local (mpiexec) and hostfile modes, failures, restarts."""

import json
import os
import signal
import time

import pytest

from launcher._common import find_mpiexec, usable_cores

from ._util import ENV_SCRIPT, PY, base_env, dtrun, rank_json, run, write_script

pytestmark = [pytest.mark.mpi,
              pytest.mark.skipif(find_mpiexec() is None, reason="needs mpiexec (mpich wheel)")]


@pytest.mark.timeout(60)
def test_two_ranks_env_contract_and_shared_mpi_world(tmp_path):
    script = write_script(tmp_path, "env.py", ENV_SCRIPT)
    # an explicit thread setting wins; the others are the cores split over the local ranks
    rc, out, err = dtrun(["--nproc-per-node", "2", script, "--mpi", "x y"],
                         env=base_env(OMP_NUM_THREADS=1))
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [0, 1], out
    threads = str(max(1, usable_cores() // 2))
    for r, d in got.items():
        assert d["RANK"] == str(r) and d["LOCAL_RANK"] == str(r)
        assert d["WORLD_SIZE"] == "2" and d["LOCAL_WORLD_SIZE"] == "2"
        assert d["GROUP_RANK"] == "0" and d["GROUP_WORLD_SIZE"] == "1"
        assert d["MASTER_ADDR"] == "127.0.0.1"
        assert d["TORCHELASTIC_RESTART_COUNT"] == "0" and d["DISTTENSOR_RESTART_COUNT"] == "0"
        assert d["OMP_NUM_THREADS"] == "1"
        assert d["OPENBLAS_NUM_THREADS"] == d["MKL_NUM_THREADS"] == \
            d["NUMBA_NUM_THREADS"] == threads
        assert d["TORCHELASTIC_ERROR_FILE"].endswith("rank_%d/error.json" % r)
        assert d["DTRUN_MPI_WORLD"] == "shared"
        assert d["argv"] == ["--mpi", "x y"]
        # the script runs in a child of the bootstrap, and still shares mpiexec's world
        assert d["mpi"] == [r, 2, 3.0]
    assert got[0]["MASTER_PORT"] == got[1]["MASTER_PORT"]
    assert int(got[0]["MASTER_PORT"]) > 0


@pytest.mark.timeout(60)
def test_rank_that_raises_stops_the_job_and_is_reported(tmp_path):
    # rank 0 waits in a collective that rank 1 never joins: the job must still end promptly
    script = write_script(tmp_path, "boom.py", """
        import os, time
        from mpi4py import MPI
        def load_batch(i):
            raise ValueError("corrupt batch %d" % i)
        if os.environ["RANK"] == "1":
            time.sleep(0.2)
            load_batch(7)
        MPI.COMM_WORLD.Barrier()
        time.sleep(120)
    """)
    rc, out, err = dtrun(["--nproc-per-node", "2", script], timeout=45)
    assert rc == 1, (out, err)
    report = err[err.index("dtrun: job FAILED"):]
    assert "Root cause" in report
    assert "rank:        1 (local_rank 1, node_rank 0)" in report
    assert "exit code 1" in report
    assert "ValueError: corrupt batch 7" in report
    assert 'boom.py", line 5, in load_batch' in report
    tb = report.split("traceback:")[1]
    assert "_runner" not in tb and "runpy" not in tb          # frames of the user's code only
    assert "[rank 1] ValueError: corrupt batch 7" in err     # streamed as it happened


@pytest.mark.timeout(60)
def test_rank_killed_by_signal(tmp_path):
    pidfile = tmp_path / "rank0.pid"
    script = write_script(tmp_path, "kill.py", """
        import os, signal, sys, time
        if os.environ["RANK"] == "1":
            print("rank 1 going down", file=sys.stderr, flush=True)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        open(%r, "w").write(str(os.getpid()))
        time.sleep(120)
    """ % str(pidfile))
    rc, out, err = dtrun(["--nproc-per-node", "2", script], timeout=45)
    assert rc == 128 + signal.SIGKILL, err
    report = err[err.index("dtrun: job FAILED"):]
    assert "rank:        1" in report
    assert "killed by signal SIGKILL (9)" in report
    assert "rank 1 going down" in report                     # its stderr tail
    # the other rank is gone too
    pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("rank 0 (pid %d) survived the job" % pid)


@pytest.mark.timeout(60)
def test_sys_exit_code_is_reported(tmp_path):
    script = write_script(tmp_path, "ex.py", """
        import os, sys, time
        if os.environ["RANK"] == "0":
            sys.exit(3)
        time.sleep(120)
    """)
    rc, out, err = dtrun(["--nproc-per-node", "2", script], timeout=45)
    assert rc == 3
    assert "rank:        0" in err and "exit code 3" in err


@pytest.mark.timeout(90)
def test_max_restarts_resumes_from_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.json"
    script = write_script(tmp_path, "resume.py", """
        import json, os, sys
        ckpt = %r
        rank = int(os.environ["RANK"])
        restart = int(os.environ["TORCHELASTIC_RESTART_COUNT"])
        assert restart == int(os.environ["DISTTENSOR_RESTART_COUNT"])
        step = json.load(open(ckpt))["step"] if os.path.exists(ckpt) else 0
        print("START", json.dumps({"restart": restart, "step": step}), flush=True)
        if step == 0:
            if rank == 0:
                json.dump({"step": 5}, open(ckpt, "w"))
                raise RuntimeError("node lost after step 5")
            import time; time.sleep(120)
        print("DONE", json.dumps({"restart": restart, "step": step}), flush=True)
    """ % str(ckpt))
    rc, out, err = dtrun(["--nproc-per-node", "2", "--max-restarts", "1", script], timeout=75)
    assert rc == 0, err
    assert "job FAILED (attempt 1 of 2)" in err
    assert "RuntimeError: node lost after step 5" in err
    assert "restarting the job (restart 1 of 1)" in err
    done = rank_json(out, "DONE")
    assert done == {0: {"restart": 1, "step": 5}, 1: {"restart": 1, "step": 5}}


@pytest.mark.timeout(60)
def test_max_restarts_exhausted(tmp_path):
    script = write_script(tmp_path, "always.py", """
        raise SystemExit("always fails")
    """)
    rc, out, err = dtrun(["--nproc-per-node", "1", "--max-restarts", "1", script], timeout=45)
    assert rc == 1
    assert "attempt 1 of 2" in err and "attempt 2 of 2" in err


@pytest.mark.timeout(60)
def test_hostfile_with_localhost_twice(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# two 'nodes'\nlocalhost\nlocalhost:4\n")
    script = write_script(tmp_path, "env.py", ENV_SCRIPT)
    rc, out, err = dtrun(["--hostfile", str(hostfile), script, "--mpi"])
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [0, 1], out
    for r, d in got.items():
        assert d["RANK"] == str(r) and d["GROUP_RANK"] == str(r)
        assert d["LOCAL_RANK"] == "0" and d["LOCAL_WORLD_SIZE"] == "1"
        assert d["WORLD_SIZE"] == "2" and d["GROUP_WORLD_SIZE"] == "2"
        assert d["MASTER_ADDR"] == "localhost" and d["MASTER_PORT"] == "29500"
        # both ranks really share this machine's cores
        assert d["OMP_NUM_THREADS"] == str(max(1, usable_cores() // 2))
        assert d["mpi"] == [r, 2, 3.0]


@pytest.mark.timeout(60)
def test_torchrun_style_node_and_module_mode(tmp_path):
    """One dtrun per node (here: node 1 of 2); every rank under its own `mpiexec -n 1`."""
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_script(pkg, "envmod.py", ENV_SCRIPT)
    rc, out, err = dtrun(["--nnodes", "2", "--node-rank", "1", "--nproc-per-node", "2",
                          "--rdzv-endpoint", "10.1.2.3:29400", "-m", "mypkg.envmod", "a"],
                         cwd=str(tmp_path))
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [2, 3], out
    for r, d in got.items():
        assert d["LOCAL_RANK"] == str(r - 2) and d["GROUP_RANK"] == "1"
        assert d["WORLD_SIZE"] == "4" and d["LOCAL_WORLD_SIZE"] == "2"
        assert d["MASTER_ADDR"] == "10.1.2.3" and d["MASTER_PORT"] == "29400"
        assert d["DTRUN_MPI_WORLD"] == "per-rank"
        assert d["argv"] == ["a"]


@pytest.mark.timeout(60)
def test_launch_with_custom_starter_and_no_prefix(tmp_path):
    """--launch-with (what the sbatch script uses with srun) and --no-prefix."""
    # --no-prefix: the script prints its own rank tag
    own_tag = ENV_SCRIPT.replace('print("ENV"', 'print("[rank", os.environ["RANK"] + "] ENV"')
    script = write_script(tmp_path, "env.py", own_tag)
    rc, out, err = dtrun(["--launch-with", "%s -n 2" % find_mpiexec(), "--nproc-per-node", "2",
                          "--no-prefix", script])
    assert rc == 0, err
    got = rank_json(out)
    assert sorted(got) == [0, 1] and got[1]["WORLD_SIZE"] == "2"
    assert "[rank 0] [rank" not in out


@pytest.mark.timeout(30)
def test_launcher_imports_stay_light():
    code = ("import sys, launcher, launcher.cli, launcher.local, launcher.bootstrap, "
            "launcher.slurm, launcher.report, launcher._runner\n"
            "bad = [m for m in ('disttensor', 'collectives', 'parallel', 'ray', 'mpi4py', "
            "'numpy') if m in sys.modules]\n"
            "assert not bad, bad\n")
    rc, out, err = run([PY, "-c", code])
    assert rc == 0, err


@pytest.mark.timeout(30)
def test_help_and_bad_flags():
    rc, out, err = dtrun(["--help"])
    assert rc == 0 and "--nproc-per-node" in out and "--max-restarts" in out
    rc, out, err = dtrun(["--nnodes", "1:4", "x.py"])
    assert rc != 0 and "elastic" in err
    rc, out, err = dtrun(["--nproc-per-node", "many", "x.py"])
    assert rc != 0 and "--nproc-per-node" in err


@pytest.mark.timeout(60)
def test_ctrl_c_stops_every_rank(tmp_path):
    import subprocess
    piddir = tmp_path / "pids"
    piddir.mkdir()
    script = write_script(tmp_path, "sleep.py", """
        import os, time
        open(os.path.join(%r, os.environ["RANK"]), "w").write(str(os.getpid()))
        time.sleep(120)
    """ % str(piddir))
    p = subprocess.Popen([PY, "-m", "launcher", "--nproc-per-node", "2", script],
                         env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, text=True)
    try:
        for _ in range(300):
            if len(os.listdir(piddir)) == 2:
                break
            time.sleep(0.05)
        pids = [int((piddir / f).read_text()) for f in os.listdir(piddir)]
        assert len(pids) == 2
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 128 + signal.SIGINT
        assert "interrupted" in err
        for pid in pids:
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("rank pid %d survived Ctrl-C" % pid)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _collectives_available():
    try:
        import disttensor.distributed  # noqa: F401
        import collectives.distributed_c10d  # noqa: F401
        return True
    except Exception:
        return False


@pytest.mark.timeout(90)
@pytest.mark.skipif(not _collectives_available(), reason="needs collectives")
@pytest.mark.parametrize("nnodes", [1, 2])
def test_failure_inside_collectives_names_the_rank_that_raised(tmp_path, nnodes):
    """Rank 1 raises between two all_reduces: the others fail in the collective (aborted by
    collectives, which may also kill rank 1's bootstrap); the report must still name rank 1.
    nnodes=2: two dtruns (one per 'node'), each rank under its own `mpiexec -n 1`."""
    import subprocess
    script = write_script(tmp_path, "ar.py", """
        import os
        import disttensor as torch
        import disttensor.distributed as dist
        dist.init_process_group("mpi")
        t = torch.ones(4)
        dist.all_reduce(t)
        if dist.get_rank() == 1:
            raise RuntimeError("rank 1 fails after step 1")
        dist.all_reduce(t)
    """)
    if nnodes == 1:
        rc, out, err = dtrun(["--nproc-per-node", "2", script], timeout=75)
    else:
        port = str(__import__("launcher._common", fromlist=["x"]).free_port())
        args = ["--nnodes", "2", "--nproc-per-node", "1", "--master-port", port]
        other = subprocess.Popen([PY, "-m", "launcher"] + args + ["--node-rank", "1", script],
                                 env=base_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True, text=True)
        try:
            rc, out, err = dtrun(args + ["--node-rank", "0", script], timeout=75)
            out1, err1 = other.communicate(timeout=60)
        finally:
            if other.poll() is None:
                os.killpg(other.pid, signal.SIGKILL)
                other.wait()
        assert other.returncode == 1, err1
        # node 1 ran rank 1 itself: its report names it as the root cause
        report1 = err1[err1.index("dtrun: job FAILED"):]
        assert "rank:        1" in report1 and "RuntimeError: rank 1 fails" in report1
    assert rc == 1, err
    report = err[err.index("dtrun: job FAILED"):]
    assert "rank 1" in report and "RuntimeError: rank 1 fails after step 1" in report
    if nnodes == 1:
        assert "rank:        1 (local_rank 1, node_rank 0)" in report


@pytest.mark.timeout(60)
def test_log_dir_keeps_torchrun_error_file(tmp_path):
    script = write_script(tmp_path, "err.py", """
        import os
        if os.environ["RANK"] == "1":
            raise ZeroDivisionError("bad lr schedule")
    """)
    logs = tmp_path / "logs"
    rc, out, err = dtrun(["--nproc-per-node", "2", "--log-dir", str(logs), script])
    assert rc == 1
    data = json.loads((logs / "attempt_0" / "rank_1" / "error.json").read_text())
    assert data["message"]["message"] == "ZeroDivisionError: bad lr schedule"
    assert "err.py" in data["message"]["extraInfo"]["py_callstack"]
    assert int(data["message"]["extraInfo"]["timestamp"]) > 0
    assert data["rank"] == 1
    assert not (logs / "attempt_0" / "rank_0" / "error.json").exists()
    rc, out, err = dtrun(["no_such_script.py"])
    assert rc == 2 and "no such script" in err


@pytest.mark.timeout(60)
def test_local_ranks_filter_and_role(tmp_path):
    script = write_script(tmp_path, "env.py", ENV_SCRIPT + """
    print("ROLE", json.dumps(os.environ["ROLE_NAME"]), flush=True)
    """)
    rc, out, err = dtrun(["--nproc-per-node", "2", "--local-ranks-filter", "1", "--role",
                          "trainer", "--monitor-interval", "0.1", script])
    assert rc == 0, err
    assert sorted(rank_json(out)) == [1]
    assert "[rank 1] ROLE \"trainer\"" in out and "[rank 0]" not in out
