"""``dtrun --ray``: one Ray actor per rank, in a placement group.

Each actor starts its rank as ``mpiexec -n 1 python -m launcher.bootstrap script args`` (a
process that MPI can join to the other ranks' world; see collectives/README.md), with the
environment contract computed here from where Ray placed the actors; the driver polls every
actor for its rank's output (already ``[rank N]``-prefixed by the bootstrap) and status records,
prints them, and stops every rank when one fails.
"""

import collections
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ._common import Demux, find_mpiexec, free_port, hostname, set_pdeathsig, usable_cores
from .report import format_report, record_from_error_file
from .local import exit_code_for


class RankActor:
    """Runs one rank's process on the node Ray placed it on (wrapped with ray.remote)."""

    def __init__(self):
        self.proc = None
        self.chunks = collections.deque()
        self.records = []
        self.lock = threading.Lock()
        self.threads = []
        self.rank = None
        self.run_dir = None
        self.reported = False

    def node_info(self):
        import ray
        try:
            gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        except Exception:
            gpu_ids = []
        return {"node_id": ray.get_runtime_context().get_node_id(),
                "ip": ray.util.get_node_ip_address(), "host": hostname(),
                "cores": usable_cores(), "gpu_ids": gpu_ids, "pid": os.getpid(),
                "mpiexec": find_mpiexec(), "cwd": os.getcwd()}

    def free_port(self):
        return free_port()

    def start(self, argv, env_update, cwd=None, use_mpiexec=True):
        env = dict(os.environ)
        # Ray's own per-worker thread setting must not hide the split computed for the rank
        for k in ("OMP_NUM_THREADS",):
            if k not in env_update:
                env.pop(k, None)
        env.update(env_update)
        self.rank = int(env_update.get("DTRUN_RANK", 0))
        self.run_dir = tempfile.mkdtemp(prefix="dtrun-ray-")
        env["DTRUN_RUN_DIR"] = self.run_dir
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        pp = env.get("PYTHONPATH", "")
        if pkg_parent not in pp.split(os.pathsep):
            env["PYTHONPATH"] = pkg_parent + (os.pathsep + pp if pp else "")
        launch = [sys.executable, "-u", "-m", "launcher.bootstrap"] + list(argv)
        mpiexec = find_mpiexec() if use_mpiexec else None
        cmd = ([mpiexec, "-n", "1"] + launch) if mpiexec else launch
        env["DTRUN_MPI_WORLD"] = "per-rank" if mpiexec else "none"
        if cwd and not os.path.isdir(cwd):
            cwd = None
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True,
                                     preexec_fn=lambda: set_pdeathsig(signal.SIGTERM))
        demux = Demux(self._record)
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, 1, None),
                                         daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, 2, demux),
                                         daemon=True)]
        for t in self.threads:
            t.start()
        return self.proc.pid

    def _record(self, rec):
        with self.lock:
            self.records.append(rec)
            self.reported = True

    def _pump(self, pipe, stream, demux):
        fd = pipe.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            if demux is not None:
                data = demux.feed(data)
            if data:
                with self.lock:
                    self.chunks.append((stream, data))
        if demux is not None:
            rest = demux.flush()
            if rest:
                with self.lock:
                    self.chunks.append((stream, rest))

    def poll(self):
        """(output chunks, status records, return code or None while running)."""
        code = None
        if self.proc is not None and self.proc.poll() is not None:
            for t in self.threads:
                t.join(2.0)
            code = self.proc.returncode
            if code != 0 and not self.reported:
                rec = record_from_error_file(
                    os.path.join(self.run_dir, "rank_%d" % self.rank, "error.json"), self.rank)
                if rec is not None:
                    self._record(rec)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        with self.lock:
            chunks = list(self.chunks)
            self.chunks.clear()
            records, self.records = self.records, []
        return chunks, records, code

    def stop(self, grace=3.0):
        p = self.proc
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        try:
            p.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
        return p.returncode


def _emit(stream, data):
    out = sys.stdout if stream == 1 else sys.stderr
    try:
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()
    except (AttributeError, OSError, ValueError):
        out.write(data.decode("utf-8", "replace"))
        out.flush()


def assign_ranks(infos):
    """Rank order from where the actors landed: nodes in order of first appearance, ranks
    of a node together (by GPU id when they have GPUs).  Returns per-actor dicts."""
    node_order = []
    by_node = collections.defaultdict(list)
    for i, info in enumerate(infos):
        if info["node_id"] not in by_node:
            node_order.append(info["node_id"])
        by_node[info["node_id"]].append(i)

    def gpu_key(i):
        ids = infos[i]["gpu_ids"]
        try:
            return (0, min(int(g) for g in ids), i) if ids else (1, 0, i)
        except ValueError:
            return (1, 0, i)

    out = [None] * len(infos)
    rank = 0
    for g, node in enumerate(node_order):
        members = sorted(by_node[node], key=gpu_key)
        node_gpus = []
        for i in members:
            node_gpus.extend(infos[i]["gpu_ids"])
        for local, i in enumerate(members):
            out[i] = {"rank": rank, "local_rank": local, "local_world_size": len(members),
                      "group_rank": g, "node_gpus": node_gpus}
            rank += 1
    return out, len(node_order)


def run_ray_job(opts):
    try:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
    except ImportError:
        sys.stderr.write("dtrun: --ray needs Ray: pip install 'disttensor[ray]' "
                         "(or 'ray[default]')\n")
        return 2

    world = opts.nproc_per_node * opts.nnodes
    address = opts.ray_address or os.environ.get("RAY_ADDRESS")
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            cpus = max(usable_cores(), int(math.ceil(world * opts.cpus_per_rank)))
            ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                     log_to_driver=False)
            started_here = True
    bundle = {"CPU": opts.cpus_per_rank}
    if opts.gpus_per_rank:
        bundle["GPU"] = opts.gpus_per_rank
    pg = placement_group([dict(bundle) for _ in range(world)], strategy=opts.placement_strategy)
    Actor = ray.remote(RankActor)
    try:
        try:
            ray.get(pg.ready(), timeout=opts.ray_timeout)
        except Exception as e:  # GetTimeoutError
            sys.stderr.write("dtrun: Ray could not reserve %d bundles of %s within %.0f s "
                             "(cluster resources: %s): %s\n"
                             % (world, bundle, opts.ray_timeout, ray.cluster_resources(),
                                type(e).__name__))
            return 1
        attempts = opts.max_restarts + 1
        for attempt in range(attempts):
            actors = [Actor.options(
                num_cpus=opts.cpus_per_rank, num_gpus=opts.gpus_per_rank or 0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    pg, placement_group_bundle_index=i)).remote() for i in range(world)]
            try:
                code, records = _attempt(ray, opts, actors, attempt)
            finally:
                for a in actors:
                    try:
                        ray.kill(a)
                    except Exception:
                        pass
            if code == 0:
                return 0
            if code is not None and code >= 128:   # interrupted
                return code
            sys.stderr.write(format_report(records, world, attempt + 1, attempts))
            if attempt + 1 < attempts:
                sys.stderr.write("dtrun: restarting the job (restart %d of %d)\n"
                                 % (attempt + 1, opts.max_restarts))
                continue
            return exit_code_for(records, [("ray", code)])
        return 1
    finally:
        try:
            remove_placement_group(pg)
        except Exception:
            pass
        if started_here:
            ray.shutdown()


def _attempt(ray, opts, actors, attempt):
    world = len(actors)
    infos = ray.get([a.node_info.remote() for a in actors], timeout=opts.ray_timeout)
    places, nnodes = assign_ranks(infos)
    rank0 = next(i for i, p in enumerate(places) if p["rank"] == 0)
    master_addr = infos[rank0]["ip"]
    if opts.master_port_explicit:
        master_port = opts.master_port
    else:
        master_port = ray.get(actors[rank0].free_port.remote(), timeout=60)
    target = opts.training_script
    if not (opts.module or opts.no_python) and os.path.exists(target):
        target = os.path.abspath(target)
    argv = ([] if not opts.no_python else ["--no-python"]) + \
        (["-m"] if opts.module else []) + [target] + list(opts.training_script_args)
    cwd = os.getcwd()
    by_rank = [None] * world
    starts = []
    for i, a in enumerate(actors):
        p = places[i]
        env = dict(opts.extra_env)
        env.update({
            "DTRUN_RANK": p["rank"], "DTRUN_LOCAL_RANK": p["local_rank"],
            "DTRUN_LOCAL_WORLD_SIZE": p["local_world_size"], "DTRUN_GROUP_RANK": p["group_rank"],
            "DTRUN_WORLD_SIZE": world, "DTRUN_NNODES": nnodes,
            "MASTER_ADDR": master_addr, "MASTER_PORT": master_port,
            "DTRUN_RESTART_COUNT": attempt, "TORCHELASTIC_RESTART_COUNT": attempt,
            "DISTTENSOR_RESTART_COUNT": attempt, "DTRUN_MAX_RESTARTS": opts.max_restarts,
            "DTRUN_RUN_ID": opts.run_id, "DTRUN_KILL_GRACE": opts.kill_grace,
            "DTRUN_PREFIX": "0" if opts.no_prefix else "1", "DTRUN_ROLE": opts.role,
            "DTRUN_LOCAL_RANKS_FILTER": opts.local_ranks_filter,
            "DTRUN_CPUS_PER_RANK": max(1, int(opts.cpus_per_rank)),
            "DTRUN_LAUNCHER": "ray", "PYTHONUNBUFFERED": "1", "DTRUN_STATUS_RECORDS": "1",
        })
        if p["node_gpus"]:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(p["node_gpus"])
        env = {k: str(v) for k, v in env.items()}
        by_rank[p["rank"]] = a
        starts.append(a.start.remote(argv, env, cwd, not opts.no_mpiexec))
    ray.get(starts, timeout=opts.ray_timeout)

    records = {}
    codes = {}
    interrupted = []

    def on_int(signum, frame):
        interrupted.append(signum)

    old = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, on_int)
    t_fail = None
    stopping = []
    try:
        while True:
            live = [r for r in range(world) if r not in codes]
            if not live:
                break
            results = ray.get([by_rank[r].poll.remote() for r in live], timeout=120)
            for r, (chunks, recs, code) in zip(live, results):
                for stream, data in chunks:
                    _emit(stream, data)
                for rec in recs:
                    if t_fail is not None and rec.get("time", 0) > t_fail + 0.05:
                        rec.setdefault("collateral", True)
                    records.setdefault(rec.get("rank", r), rec)
                if code is not None:
                    codes[r] = code
                    if code != 0 and r not in records:
                        records[r] = {"rank": r, "host": infos[actors.index(by_rank[r])]["host"],
                                      "exitcode": code if code > 0 else None,
                                      "signal": -code if code < 0 else None,
                                      "time": time.time(), "pid": None,
                                      "local_rank": None, "group_rank": None,
                                      "collateral": t_fail is not None}
            if t_fail is None and (interrupted or
                                   any(not x.get("ok") for x in records.values())):
                t_fail = time.time()
            if t_fail is not None and not stopping and time.time() >= t_fail + 0.3:
                stopping = [by_rank[r].stop.remote(opts.kill_grace)
                            for r in range(world) if r not in codes]
            time.sleep(0.1)
        if stopping:
            ray.get(stopping, timeout=opts.kill_grace + 30)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if t_fail is not None or interrupted:
            try:
                ray.get([a.stop.remote(opts.kill_grace) for a in actors],
                        timeout=opts.kill_grace + 30)
            except Exception:
                pass
    if interrupted:
        sys.stderr.write("dtrun: interrupted; all ranks stopped\n")
        return 128 + int(interrupted[0]), records
    if all(x.get("ok") for x in records.values()) and all(c == 0 for c in codes.values()):
        return 0, records
    return 1, records
