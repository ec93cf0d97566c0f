"""Helpers for the launcher tests: run dtrun as a real process, never leave processes behind."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def base_env(**extra):
    env = dict(os.environ)
    for k in THREAD_VARS:
        env.pop(k, None)
    for k in list(env):
        if k.startswith(("DTRUN_", "PMI_", "HYDI_", "MPI_LOCAL", "SLURM_", "OMPI_")) or \
                k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(k)
    pp = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = ROOT + (os.pathsep + pp if pp else "")
    env["RAY_AUTH_MODE"] = "disabled"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def write_script(dirpath, name, body):
    path = os.path.join(str(dirpath), name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(body))
    return path


def run(cmd, timeout=60, cwd=None, env=None):
    """Run a command in its own session; on timeout kill the whole session and fail."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env or base_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = p.communicate()
        pytest.fail("command timed out after %ss: %s\nstdout:\n%s\nstderr:\n%s"
                    % (timeout, cmd, out, err))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode, out, err


def dtrun(args, **kw):
    return run([PY, "-m", "launcher"] + list(args), **kw)


def rank_json(out, tag="ENV"):
    """{rank: dict} from lines '[rank N] TAG {json}'."""
    got = {}
    for m in re.finditer(r"^\[rank (\d+)\] %s (\{.*\})$" % tag, out, re.M):
        got[int(m.group(1))] = json.loads(m.group(2))
    return got


# A script that prints its environment contract as JSON (and, with MPI, its world).
ENV_SCRIPT = """
    import json, os, sys
    keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK",
            "GROUP_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT",
            "DISTTENSOR_RESTART_COUNT", "TORCHELASTIC_ERROR_FILE", "DTRUN_MPI_WORLD",
            "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"]
    d = {k: os.environ.get(k) for k in keys}
    d["argv"] = sys.argv[1:]
    if "--mpi" in sys.argv:
        from mpi4py import MPI
        import numpy as np
        c = MPI.COMM_WORLD
        buf = np.empty(1)
        c.Allreduce(np.array([float(c.rank + 1)]), buf)
        d["mpi"] = [c.rank, c.size, float(buf[0])]
    print("ENV", json.dumps(d), flush=True)
"""
