"""Local and hostfile launch through mpiexec, with failure handling and restarts."""

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from ._common import Demux, find_mpiexec, set_pdeathsig
from .report import format_report, pick_root_cause, read_error_files


@dataclass
class Group:
    """One process the launcher starts (an mpiexec for many ranks, or one rank)."""
    name: str
    cmd: list
    env: dict
    ranks: list
    proc: object = None
    pump: object = None
    returncode: object = None
    extra: dict = field(default_factory=dict)


def parse_hostfile(path):
    """Hosts of an MPICH/hydra hostfile (``host``, ``host:slots``; ``#`` comments)."""
    hosts = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            host = line.split()[0].split(":", 1)[0]
            hosts.append(host)
    if not hosts:
        raise ValueError("hostfile %s lists no hosts" % path)
    return hosts


def bootstrap_cmd(python, target, args, module=False, no_python=False):
    cmd = [python, "-u", "-m", "launcher.bootstrap"]
    if no_python:
        return cmd + ["--no-python", target] + list(args)
    if module:
        return cmd + ["-m", target] + list(args)
    return cmd + [target] + list(args)


def plan(opts, run_dir, restart):
    """The groups of processes for one attempt of a local/hostfile job."""
    nproc, nnodes = opts.nproc_per_node, opts.nnodes
    world = nproc * nnodes
    python = sys.executable
    target = opts.training_script
    if not (opts.module or opts.no_python) and os.path.exists(target):
        target = os.path.abspath(target)
    launch = bootstrap_cmd(python, target, opts.training_script_args, opts.module, opts.no_python)

    # a dtrun started from inside another dtrun's rank must not inherit that rank's place
    base = {k: v for k, v in os.environ.items() if not k.startswith("DTRUN_")}
    base.update(opts.extra_env)
    base.update({
        "MASTER_ADDR": opts.master_addr, "MASTER_PORT": str(opts.master_port),
        "DTRUN_NPROC_PER_NODE": str(nproc), "DTRUN_NNODES": str(nnodes),
        "DTRUN_WORLD_SIZE": str(world),
        "DTRUN_RESTART_COUNT": str(restart), "TORCHELASTIC_RESTART_COUNT": str(restart),
        "DISTTENSOR_RESTART_COUNT": str(restart),
        "DTRUN_MAX_RESTARTS": str(opts.max_restarts), "DTRUN_RUN_ID": opts.run_id,
        "DTRUN_RUN_DIR": run_dir, "DTRUN_KILL_GRACE": str(opts.kill_grace),
        "DTRUN_PREFIX": "0" if opts.no_prefix else "1", "DTRUN_ROLE": opts.role,
        "DTRUN_LOCAL_RANKS_FILTER": opts.local_ranks_filter,
        "PYTHONUNBUFFERED": "1", "DTRUN_STATUS_RECORDS": "1",
    })
    # the ranks must import the launcher even where it is not installed (hostfile nodes)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pp = base.get("PYTHONPATH", "")
    if pkg_parent not in pp.split(os.pathsep):
        base["PYTHONPATH"] = pkg_parent + (os.pathsep + pp if pp else "")

    if opts.launch_with:
        env = dict(base, DTRUN_MPI_WORLD="shared")
        return [Group(opts.launch_with[0], list(opts.launch_with) + launch, env,
                      list(range(world)))]

    mpiexec = None if opts.no_mpiexec else (opts.mpiexec or find_mpiexec())
    if not opts.no_mpiexec and mpiexec is None:
        sys.stderr.write("dtrun: mpiexec not found (install the 'mpich' wheel); starting the "
                         "ranks as plain processes, which cannot share an MPI world\n")
    extra = list(opts.mpiexec_args)

    if opts.hostfile:
        hf = os.path.join(run_dir, "hostfile")
        with open(hf, "w") as f:
            for h in opts.hosts[:nnodes]:
                f.write("%s:%d\n" % (h, nproc))
        env = dict(base, DTRUN_MPI_WORLD="shared")
        cmd = [mpiexec, "-f", hf, "-n", str(world), "-ppn", str(nproc)] + extra + launch
        return [Group("mpiexec", cmd, env, list(range(world)))]

    if nnodes == 1 and mpiexec:
        env = dict(base, DTRUN_MPI_WORLD="shared")
        cmd = [mpiexec, "-n", str(nproc)] + extra + launch
        return [Group("mpiexec", cmd, env, list(range(nproc)))]

    # One process per rank: torchrun-style multi-node (one dtrun per node, every rank in
    # its own `mpiexec -n 1` so that it can join the others' world), or no mpiexec at all.
    groups = []
    for local in range(nproc):
        rank = opts.node_rank * nproc + local
        env = dict(base, DTRUN_RANK=str(rank), DTRUN_LOCAL_RANK=str(local),
                   DTRUN_LOCAL_WORLD_SIZE=str(nproc), DTRUN_GROUP_RANK=str(opts.node_rank),
                   DTRUN_MPI_WORLD="per-rank" if mpiexec else "none")
        cmd = ([mpiexec, "-n", "1"] + extra + launch) if mpiexec else launch
        groups.append(Group("rank %d" % rank, cmd, env, [rank]))
    return groups


class _ErrPump(threading.Thread):
    """Forwards a group's stderr to ours and pulls out the status records."""

    def __init__(self, group, records, lock):
        super().__init__(daemon=True)
        self.group, self.records, self.lock = group, records, lock
        self.demux = Demux(self._on_record)

    def _on_record(self, rec):
        self.records.put(rec)

    def run(self):
        fd = self.group.proc.stderr.fileno()
        out = sys.stderr
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            text = self.demux.feed(data)
            if text:
                with self.lock:
                    _emit(out, text)
        rest = self.demux.flush()
        if rest:
            with self.lock:
                _emit(out, rest)


def _emit(stream, data):
    try:
        stream.flush()
        buf = getattr(stream, "buffer", None)
        if buf is not None:
            buf.write(data)
            buf.flush()
        else:
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()
    except (OSError, ValueError):
        pass


def _signal_group(g, sig):
    if g.proc is None or g.proc.poll() is not None:
        return
    try:
        if sig == signal.SIGKILL:
            os.killpg(g.proc.pid, sig)      # the group leader and everything it started here
        else:
            g.proc.send_signal(sig)         # mpiexec passes it on to all its ranks
    except (OSError, ProcessLookupError):
        pass


class Interrupted(Exception):
    pass


def run_groups(groups, kill_grace=3.0, stop_delay=0.5, poll=0.05):
    """Start the groups, watch them, stop them all when one rank fails.

    Returns (ok, records, exit_codes).  ``records`` maps rank -> status record.
    """
    recq = queue.Queue()
    lock = threading.Lock()
    records = {}
    interrupted = []

    def on_int(signum, frame):
        interrupted.append(signum)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, on_int)
    try:
        for g in groups:
            g.proc = subprocess.Popen(g.cmd, env=g.env, stdin=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True,
                                      preexec_fn=lambda: set_pdeathsig(signal.SIGTERM))
            g.pump = _ErrPump(g, recq, lock)
            g.pump.start()

        t_fail = None
        termed = killed = False
        while True:
            while True:
                try:
                    rec = recq.get_nowait()
                except queue.Empty:
                    break
                if t_fail is not None and rec.get("time", 0) > t_fail + 0.05:
                    rec.setdefault("collateral", True)
                records.setdefault(rec.get("rank"), rec)
            alive = [g for g in groups if g.proc.poll() is None]
            failed = (any(not r.get("ok") for r in records.values())
                      or any(g.proc.returncode not in (None, 0) for g in groups))
            if interrupted and t_fail is None:
                t_fail = time.time() - stop_delay
            if failed and t_fail is None:
                t_fail = time.time()
            if not alive:
                break
            if t_fail is not None:
                now = time.time()
                if not termed and now >= t_fail + stop_delay:
                    termed = True
                    for g in alive:
                        _signal_group(g, signal.SIGTERM)
                if not killed and now >= t_fail + stop_delay + kill_grace:
                    killed = True
                    for g in alive:
                        _signal_group(g, signal.SIGKILL)
            time.sleep(poll)
        for g in groups:
            g.pump.join(3.0)
            g.returncode = g.proc.returncode
            # leftovers of a group (a rank that ignored SIGTERM after mpiexec died)
            try:
                os.killpg(g.proc.pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        while True:
            try:
                rec = recq.get_nowait()
            except queue.Empty:
                break
            if t_fail is not None and rec.get("time", 0) > t_fail + 0.05:
                rec.setdefault("collateral", True)
            records.setdefault(rec.get("rank"), rec)
    finally:
        for g in groups:
            if g.proc is not None and g.proc.poll() is None:
                try:
                    os.killpg(g.proc.pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    pass
                g.proc.wait()
        for s, h in old.items():
            signal.signal(s, h)
    if interrupted:
        raise Interrupted(interrupted[0])
    codes = [(g.name, g.returncode) for g in groups]
    ok = all(r.get("ok") for r in records.values()) and all(c == 0 for _, c in codes)
    return ok, records, codes


def run_job(opts):
    """Local/hostfile mode with restarts; returns the launcher's exit code."""
    attempts = opts.max_restarts + 1
    keep_logs = bool(opts.log_dir)
    root_dir = opts.log_dir or tempfile.mkdtemp(prefix="dtrun-%s-" % opts.run_id)
    os.makedirs(root_dir, exist_ok=True)
    try:
        for attempt in range(attempts):
            run_dir = os.path.join(root_dir, "attempt_%d" % attempt)
            os.makedirs(run_dir, exist_ok=True)
            groups = plan(opts, run_dir, attempt)
            world = opts.nproc_per_node * opts.nnodes
            try:
                ok, records, codes = run_groups(groups, kill_grace=opts.kill_grace,
                                                poll=max(0.01, opts.monitor_interval))
            except Interrupted as e:
                sys.stderr.write("dtrun: interrupted (%s); all ranks stopped\n"
                                 % signal.Signals(e.args[0]).name)
                return 128 + e.args[0]
            if ok:
                return 0
            # ranks killed before they could report (mpiexec after an MPI_Abort) left files
            read_error_files(run_dir, records, world, opts.nproc_per_node)
            if opts.nnodes > 1 and not opts.hostfile:
                note = ("(this node ran ranks %d-%d; ranks elsewhere are stopped by their "
                        "own launcher)" % (groups[0].ranks[0], groups[-1].ranks[-1]))
                world_shown = 0
            else:
                note, world_shown = None, world
            sys.stderr.write(format_report(records, world_shown, attempt + 1, attempts,
                                           exit_codes=codes, note=note))
            if attempt + 1 < attempts:
                sys.stderr.write("dtrun: restarting the job (restart %d of %d)\n"
                                 % (attempt + 1, opts.max_restarts))
                continue
            return exit_code_for(records, codes)
    finally:
        if not keep_logs:
            shutil.rmtree(root_dir, ignore_errors=True)
    return 1


def exit_code_for(records, codes):
    root = pick_root_cause(records)
    if root is not None:
        if root.get("error") or root.get("traceback"):
            return int(root.get("exitcode") or 1) & 0xFF or 1
        if root.get("signal"):
            return 128 + int(root["signal"])
        if root.get("exitcode"):
            return int(root["exitcode"]) & 0xFF or 1
    for _, c in codes:
        if c and c > 0:
            return c
        if c and c < 0:
            return 128 - c
    return 1
