"""Start real MPI jobs for the tests: every job has a timeout and its whole process group is
killed when it runs over or the test fails."""
import os
import signal
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MPIEXEC = os.path.join(BIN, "mpiexec")
WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers")


def _env(extra):
    env = dict(os.environ)
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK",
              "DISTTENSOR_DEBUG", "DISTTENSOR_TIMEOUT", "TORCH_DISTRIBUTED_DEBUG"):
        env.pop(k, None)
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def _kill(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(procs, timeout):
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            _kill(p)
        res = []
        for p in procs:
            out, err = p.communicate()
            res.append((None, out, err))
        raise AssertionError("job timed out after %ss:\n" % timeout +
                             "\n".join(f"--- stdout\n{o}\n--- stderr\n{e}" for _, o, e in res))
    finally:
        for p in procs:
            if p.poll() is None:
                _kill(p)
    return outs


def mpirun(worker, n=2, timeout=60, env=None, args=()):
    """`mpiexec -n N python workers/<worker>`; returns (returncode, stdout, stderr)."""
    cmd = [MPIEXEC, "-n", str(n), sys.executable, os.path.join(WORKERS, worker), *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_env(env), cwd=ROOT, start_new_session=True)
    return _communicate([p], timeout)[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_env(worker, n=2, timeout=60, env=None, under_mpiexec=True, args=(), only=None):
    """Each rank its own process (under its own `mpiexec -n 1` unless under_mpiexec=False) with only
    RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set, like a launcher; returns [(rc, out, err)]."""
    port = free_port()
    procs = []
    try:
        for r in (range(n) if only is None else only):
            e = dict(env or {}, RANK=str(r), WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1",
                     MASTER_PORT=str(port), LOCAL_RANK=str(r))
            cmd = [sys.executable, os.path.join(WORKERS, worker), *args]
            if under_mpiexec:
                cmd = [MPIEXEC, "-n", "1"] + cmd
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=_env(e), cwd=ROOT, start_new_session=True))
    except Exception:
        for p in procs:
            _kill(p)
        raise
    return _communicate(procs, timeout)


def check_ok(res, marker="ALL OK"):
    rc, out, err = res
    assert rc == 0 and out.count(marker) >= 1, f"rc={rc}\n--- stdout\n{out}\n--- stderr\n{err}"
