"""Per-rank bootstrap: ``python -m launcher.bootstrap [--no-python] [-m module | script.py] args``.

Started once per rank (by ``mpiexec``, ``srun``, a Ray actor or directly).  It

1. works out the rank's place in the job from what started it (DTRUN_* variables from dtrun,
   else PMI_RANK/PMI_SIZE from MPICH's hydra, OMPI_COMM_WORLD_* from Open MPI, SLURM_* from
   srun) and exports torchrun's contract: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
   GROUP_RANK, GROUP_WORLD_SIZE, ROLE_*, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT,
   DISTTENSOR_RESTART_COUNT, TORCHELASTIC_ERROR_FILE, and the thread variables (the node's cores
   split over its ranks);
2. runs the script in a child process (``launcher._runner``, which keeps the MPI/PMI file
   descriptors, so the child joins the same MPI world), streaming its stdout and stderr with a
   ``[rank N]`` prefix and keeping the tail of stderr;
3. when the child fails, writes one status record (rank, host, pid, exit code or signal,
   traceback from the error file or the stderr tail) into its stderr for the launcher, and exits
   with the child's code (128 + signal for a signal).

SIGTERM/SIGINT/SIGHUP to the bootstrap are passed on to the child (SIGKILL after
DTRUN_KILL_GRACE seconds); if the bootstrap dies, the child is killed with it (PR_SET_PDEATHSIG).
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ._common import (encode_record, hostname, set_pdeathsig, thread_env,
                      usable_cores)

_PMI_FD_VARS = ("PMI_FD", "HYDI_CONTROL_FD", "PMI_CONTROL_FD")


def _int(environ, *names, default=None):
    for n in names:
        v = environ.get(n)
        if v not in (None, ""):
            try:
                return int(str(v).split("(")[0].split(",")[0])
            except ValueError:
                pass
    return default


def resolve_contract(environ):
    """The rank's place in the job, from the variables of whatever started it."""
    nproc = _int(environ, "DTRUN_NPROC_PER_NODE")
    physical_local = _int(environ, "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", default=0)
    if environ.get("DTRUN_RANK") not in (None, ""):
        rank = _int(environ, "DTRUN_RANK")
        world = _int(environ, "DTRUN_WORLD_SIZE", default=rank + 1)
        lws = _int(environ, "DTRUN_LOCAL_WORLD_SIZE", default=nproc or 1)
        local = _int(environ, "DTRUN_LOCAL_RANK", default=rank % lws)
        group = _int(environ, "DTRUN_GROUP_RANK", default=rank // lws)
        gws = _int(environ, "DTRUN_NNODES", default=max(1, world // lws))
        source = "dtrun"
    else:
        rank = _int(environ, "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID")
        if rank is None:
            rank, world, source = 0, 1, "singleton"
        else:
            world = _int(environ, "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS",
                         default=rank + 1)
            source = "mpi" if "SLURM_PROCID" not in environ or "PMI_RANK" in environ else "slurm"
        if nproc:
            lws, local, group = nproc, rank % nproc, rank // nproc
        else:
            lws = _int(environ, "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE",
                       "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE", default=world)
            local = _int(environ, "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK",
                         "SLURM_LOCALID", default=rank % max(1, lws))
            group = _int(environ, "SLURM_NODEID", default=rank // max(1, lws))
        gws = _int(environ, "DTRUN_NNODES", "SLURM_JOB_NUM_NODES", "SLURM_NNODES",
                   default=max(1, -(-world // max(1, lws))))
    return {
        "rank": rank, "world_size": world, "local_rank": local, "local_world_size": lws,
        "group_rank": group, "group_world_size": gws, "source": source,
        "local_procs": max(lws, physical_local),
    }


def contract_env(environ):
    """The environment the rank's script sees."""
    c = resolve_contract(environ)
    restart = environ.get("DTRUN_RESTART_COUNT") or environ.get("TORCHELASTIC_RESTART_COUNT") or "0"
    env = {
        "RANK": c["rank"], "LOCAL_RANK": c["local_rank"], "WORLD_SIZE": c["world_size"],
        "LOCAL_WORLD_SIZE": c["local_world_size"], "GROUP_RANK": c["group_rank"],
        "GROUP_WORLD_SIZE": c["group_world_size"], "ROLE_RANK": c["rank"],
        "ROLE_WORLD_SIZE": c["world_size"],
        "ROLE_NAME": environ.get("DTRUN_ROLE") or environ.get("ROLE_NAME") or "default",
        "MASTER_ADDR": environ.get("MASTER_ADDR") or "127.0.0.1",
        "MASTER_PORT": environ.get("MASTER_PORT") or "29500",
        "TORCHELASTIC_RESTART_COUNT": restart, "DISTTENSOR_RESTART_COUNT": restart,
        "TORCHELASTIC_MAX_RESTARTS": environ.get("DTRUN_MAX_RESTARTS", "0"),
        "TORCHELASTIC_RUN_ID": environ.get("DTRUN_RUN_ID", "none"),
        "DTRUN_LAUNCHED_BY": c["source"],
    }
    env = {k: str(v) for k, v in env.items()}
    cpus = _int(environ, "DTRUN_CPUS_PER_RANK")
    if cpus:                      # Ray: the CPUs the placement group reserved for this rank
        env.update(thread_env(min(cpus, usable_cores()), 1, environ))
    else:
        env.update(thread_env(usable_cores(), c["local_procs"], environ))
    return env, c


class _Pump(threading.Thread):
    """Copies a child's pipe to one of our fds, prefixing each line; keeps a tail."""

    def __init__(self, src, dst_fd, prefix, keep=0):
        super().__init__(daemon=True)
        self.src, self.dst_fd, self.prefix, self.keep = src, dst_fd, prefix, keep
        self.tail = bytearray()
        self.at_line_start = True

    def run(self):
        # Whole lines go out in one write each (so ranks' lines do not interleave inside
        # mpiexec's forwarding); a partial line (a progress bar) goes out after 0.1 s.
        fd = self.src.fileno()
        pending = b""
        while True:
            if pending:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    self._out(pending)
                    pending = b""
                    continue
            try:
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            if self.keep:
                self.tail += data
                if len(self.tail) > 2 * self.keep:
                    del self.tail[:-self.keep]
            pending += data
            k = pending.rfind(b"\n")
            if k >= 0:
                self._out(pending[:k + 1])
                pending = pending[k + 1:]
            if len(pending) > 65536:
                self._out(pending)
                pending = b""
        if pending:
            self._out(pending)
        try:
            self.src.close()
        except OSError:
            pass

    def _out(self, data):
        if self.dst_fd is None:
            return
        if self.prefix:
            parts = data.split(b"\n")
            out = []
            for i, part in enumerate(parts):
                if i > 0:
                    out.append(b"\n")
                    self.at_line_start = True
                if part:
                    if self.at_line_start:
                        out.append(self.prefix)
                    out.append(part)
                    self.at_line_start = False
            data = b"".join(out)
        _write_all(self.dst_fd, data)

    def tail_text(self, lines=40):
        text = bytes(self.tail[-self.keep:]).decode("utf-8", "replace")
        return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def _write_all(fd, data):
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[n:]


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    no_python = False
    if argv and argv[0] == "--no-python":
        no_python, argv = True, argv[1:]
    if not argv:
        sys.stderr.write("usage: python -m launcher.bootstrap [--no-python] "
                         "[-m module | script.py] [args...]\n")
        return 2

    environ = os.environ
    extra, c = contract_env(environ)
    env = dict(environ)
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    run_dir = environ.get("DTRUN_RUN_DIR") or tempfile.mkdtemp(prefix="dtrun-")
    rank_dir = os.path.join(run_dir, "rank_%d" % c["rank"])
    os.makedirs(rank_dir, exist_ok=True)
    error_file = os.path.join(rank_dir, "error.json")
    try:
        os.unlink(error_file)
    except OSError:
        pass
    env["TORCHELASTIC_ERROR_FILE"] = error_file

    if no_python:
        cmd = argv
    else:
        cmd = [sys.executable, "-u", "-m", "launcher._runner"] + argv
        # the child must find the launcher even when it is not installed
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pp = env.get("PYTHONPATH", "")
        if pkg_parent not in pp.split(os.pathsep):
            env["PYTHONPATH"] = pkg_parent + (os.pathsep + pp if pp else "")

    pass_fds = []
    for k in _PMI_FD_VARS:
        v = _int(environ, k)
        if v is not None and v > 2:
            try:
                os.fstat(v)
                pass_fds.append(v)
            except OSError:
                pass

    use_prefix = environ.get("DTRUN_PREFIX", "1") not in ("0", "", "false", "no")
    prefix = ("[rank %d] " % c["rank"]).encode() if use_prefix else b""
    grace = float(environ.get("DTRUN_KILL_GRACE", "3"))
    # status records for dtrun (only when dtrun started us: they are control lines in stderr)
    records = environ.get("DTRUN_STATUS_RECORDS") == "1"

    try:
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 pass_fds=tuple(pass_fds), preexec_fn=set_pdeathsig)
    except OSError as e:
        msg = "dtrun bootstrap: cannot start %r: %s\n" % (cmd[0], e)
        _write_all(2, msg.encode())
        rec = {"rank": c["rank"], "local_rank": c["local_rank"], "group_rank": c["group_rank"],
               "host": hostname(), "pid": None, "exitcode": 127, "signal": None,
               "terminated": False, "time": time.time(), "error": msg.strip(),
               "traceback": "", "stderr_tail": ""}
        if records:
            _write_all(2, encode_record(rec))
        return 127

    state = {"terminated_at": None}

    def on_signal(signum, frame):
        if state["terminated_at"] is None:
            state["terminated_at"] = time.time()
            try:
                child.send_signal(signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)
            except OSError:
                pass

            def killer():
                time.sleep(grace)
                if child.poll() is None:
                    try:
                        child.kill()
                    except OSError:
                        pass
            threading.Thread(target=killer, daemon=True).start()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    # --local-ranks-filter: other local ranks' output is dropped (their stderr tail is still
    # kept for the failure report)
    shown = environ.get("DTRUN_LOCAL_RANKS_FILTER", "")
    quiet = bool(shown) and c["local_rank"] not in {int(x) for x in shown.split(",") if x}
    out_pump = _Pump(child.stdout, None if quiet else 1, prefix)
    err_pump = _Pump(child.stderr, None if quiet else 2, prefix, keep=1 << 16)
    out_pump.start()
    err_pump.start()
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:
            continue
    t_exit = time.time()
    out_pump.join(2.0)
    err_pump.join(2.0)

    if code == 0:
        if records:
            _write_all(2, encode_record({"rank": c["rank"], "host": hostname(),
                                         "pid": child.pid, "exitcode": 0, "signal": None,
                                         "time": t_exit, "ok": True}))
        return 0
    rec = {"rank": c["rank"], "local_rank": c["local_rank"], "group_rank": c["group_rank"],
           "host": hostname(), "pid": child.pid,
           "exitcode": code if code > 0 else None, "signal": -code if code < 0 else None,
           "terminated": state["terminated_at"] is not None and state["terminated_at"] <= t_exit,
           "time": t_exit, "error": "", "traceback": "", "stderr_tail": ""}
    try:
        with open(error_file) as f:
            err = json.load(f)
        rec["error"] = err.get("error") or err.get("message", {}).get("message", "")
        rec["traceback"] = err.get("traceback") or \
            err.get("message", {}).get("extraInfo", {}).get("py_callstack", "")
        rec["time"] = min(t_exit, float(err.get("time", t_exit)))
    except (OSError, ValueError, AttributeError):
        pass
    # stopped by us only if the stop came before the failure (an exception recorded before the
    # SIGTERM is this rank's own failure, even when the rank was still cleaning up)
    rec["terminated"] = state["terminated_at"] is not None and state["terminated_at"] <= rec["time"]
    if not rec["traceback"]:
        rec["stderr_tail"] = err_pump.tail_text()
    if records:
        _write_all(2, encode_record(rec))
    if code < 0:
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main())
