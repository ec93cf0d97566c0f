"""``dtrun``: command line.

    dtrun [options] script.py [args...]          run a job (local, hostfile or --ray)
    dtrun [options] -m module [args...]
    dtrun submit --address http://HEAD:8265 [options] script.py [args...]
    dtrun slurm --nodes N --ntasks-per-node M [...] script.py [args...] > job.sbatch
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import uuid

from ._common import free_port, usable_cores


def _gpu_count():
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return len([d for d in cvd.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            return 0
    return 0


def _nproc(value):
    if value == "cpu":
        return usable_cores()
    if value == "gpu":
        n = _gpu_count()
        if n == 0:
            raise SystemExit("dtrun: --nproc-per-node gpu, but no GPU is visible")
        return n
    if value == "auto":
        return _gpu_count() or usable_cores()
    try:
        n = int(value)
    except ValueError:
        raise SystemExit("dtrun: --nproc-per-node must be a number, 'auto', 'cpu' or 'gpu', "
                         "not %r" % value)
    if n < 1:
        raise SystemExit("dtrun: --nproc-per-node must be at least 1")
    return n


def _nnodes(value):
    if value is None:
        return None
    lo, _, hi = str(value).partition(":")
    try:
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise SystemExit("dtrun: --nnodes must be N or N:N, not %r" % value)
    if lo_i != hi_i:
        raise SystemExit("dtrun: elastic --nnodes MIN:MAX is not supported; give a fixed "
                         "number of nodes (N or N:N)")
    if lo_i < 1:
        raise SystemExit("dtrun: --nnodes must be at least 1")
    return lo_i


def add_job_arguments(p):
    """The flags that describe a job (shared by run and submit)."""
    g = p.add_argument_group("job (torchrun's flags)")
    g.add_argument("--nproc-per-node", "--nproc_per_node", default="1",
                   help="ranks per node: a number, 'cpu', 'gpu' or 'auto' (default 1)")
    g.add_argument("--nnodes", default=None,
                   help="number of nodes, N or N:N (default: 1, or the hosts of --hostfile)")
    g.add_argument("--node-rank", "--node_rank", type=int, default=0,
                   help="this node's index when one dtrun runs on each node (default 0)")
    g.add_argument("--master-addr", "--master_addr", default=None,
                   help="address of rank 0's node (default 127.0.0.1, or the first host)")
    g.add_argument("--master-port", "--master_port", type=int, default=None,
                   help="a free port on the master node (default: a free port for "
                        "single-node jobs, 29500 otherwise)")
    g.add_argument("--max-restarts", "--max_restarts", type=int, default=0,
                   help="restart the whole job up to K times after a failure")
    g.add_argument("--rdzv-backend", "--rdzv_backend", default="static",
                   choices=["static", "c10d", "mpi"],
                   help="accepted for torchrun compatibility; every backend means a "
                        "fixed-size job rendezvousing at --rdzv-endpoint")
    g.add_argument("--rdzv-endpoint", "--rdzv_endpoint", default=None,
                   help="HOST[:PORT] of the rendezvous: same as --master-addr/--master-port")
    g.add_argument("--rdzv-id", "--rdzv_id", "--run-id", dest="rdzv_id", default=None,
                   help="job id (TORCHELASTIC_RUN_ID)")
    g.add_argument("--standalone", action="store_true",
                   help="single node on localhost with a free port (torchrun's --standalone)")
    g.add_argument("-m", "--module", action="store_true",
                   help="run the target as a module (python -m)")
    g.add_argument("--no-python", "--no_python", action="store_true",
                   help="run the target as an executable, not a Python script")
    g.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment variable for every rank (repeatable)")
    g.add_argument("--role", default="default", help="ROLE_NAME of the ranks (default 'default')")
    g.add_argument("--local-ranks-filter", "--local_ranks_filter", default="",
                   help="show only these local ranks' output, e.g. 0 or 0,3 (all by default)")
    g.add_argument("--monitor-interval", "--monitor_interval", type=float, default=0.05,
                   help="seconds between the launcher's checks of its ranks (default 0.05)")
    g.add_argument("--no-prefix", action="store_true",
                   help="do not prefix each output line with [rank N]")
    g.add_argument("--kill-grace", type=float, default=3.0,
                   help="seconds between SIGTERM and SIGKILL when stopping ranks (default 3)")
    g.add_argument("--log-dir", default=None,
                   help="keep each rank's error file under this directory")

    m = p.add_argument_group("mpiexec (local and hostfile modes)")
    m.add_argument("--hostfile", default=None,
                   help="MPICH hostfile: one job over its hosts, started from here")
    m.add_argument("--mpiexec", default=None, help="mpiexec to use (default: the mpich "
                   "wheel's next to this Python, else the one on PATH)")
    m.add_argument("--mpiexec-args", default="",
                   help="extra mpiexec arguments, one string (e.g. \"-launcher ssh\")")
    m.add_argument("--launch-with", default=None, metavar="CMD",
                   help="start all ranks with this command instead of mpiexec, e.g. "
                        "\"srun --kill-on-bad-exit=1 --mpi=pmi2\" (ranks read their place "
                        "from PMI_RANK/SLURM_PROCID/OMPI_COMM_WORLD_RANK)")
    m.add_argument("--no-mpiexec", action="store_true",
                   help="start the ranks as plain processes (no shared MPI world)")

    r = p.add_argument_group("Ray (--ray)")
    r.add_argument("--ray", action="store_true", help="run the ranks as Ray actors")
    r.add_argument("--ray-address", default=None,
                   help="cluster to join (ray.init(address=...)); default: RAY_ADDRESS, "
                        "else a local cluster started for the job")
    r.add_argument("--cpus-per-rank", type=float, default=1,
                   help="CPUs reserved for each rank (default 1)")
    r.add_argument("--gpus-per-rank", type=float, default=0,
                   help="GPUs reserved for each rank (default 0)")
    r.add_argument("--placement-strategy", default="PACK",
                   choices=["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"],
                   help="placement group strategy (default PACK)")
    r.add_argument("--ray-timeout", type=float, default=120.0,
                   help="seconds to wait for the placement group (default 120)")

    p.add_argument("training_script", help="script (or module with -m) to run on every rank")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)


def split_argv(parser, argv):
    """(launcher's own argv, [script, its args...]): everything from the first token that is
    not a launcher option (or after ``--``) belongs to the script, whatever it looks like."""
    actions = parser._option_string_actions
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            return argv[:i], argv[i + 1:]
        if not tok.startswith("-") or tok == "-":
            return argv[:i], argv[i:]
        name = tok.split("=", 1)[0]
        act = actions.get(name)
        i += 1
        if act is not None and "=" not in tok and act.nargs != 0:
            i += 1                    # the option's value
    return argv, []


def parse_job_args(parser, argv):
    own, rest = split_argv(parser, argv)
    opts = parser.parse_args(own + rest[:1])
    opts.training_script_args = list(rest[1:])
    return opts


def build_parser():
    p = argparse.ArgumentParser(
        prog="dtrun", allow_abbrev=False,
        description="Launch a disttensor job: torchrun's flags and environment, ranks started "
                    "by mpiexec (local or --hostfile) or on a Ray cluster (--ray). "
                    "Subcommands: 'dtrun submit ...' (Ray job API), 'dtrun slurm ...' "
                    "(write an sbatch script).")
    add_job_arguments(p)
    return p


def finish_options(opts, parser):
    """Validate and fill in derived options (in place); returns opts."""
    opts.nproc_per_node = _nproc(str(opts.nproc_per_node))
    nnodes = _nnodes(opts.nnodes)
    opts.extra_env = {}
    for item in opts.env:
        k, sep, v = item.partition("=")
        if not k:
            parser.error("--env wants KEY=VALUE, got %r" % item)
        opts.extra_env[k] = v if sep else os.environ.get(k, "")
    opts.mpiexec_args = shlex.split(opts.mpiexec_args or "")
    opts.launch_with = shlex.split(opts.launch_with) if opts.launch_with else None
    if opts.rdzv_endpoint:
        host, _, port = opts.rdzv_endpoint.rpartition(":")
        if not host:
            host, port = port, ""
        if opts.master_addr is None:
            opts.master_addr = host
        if port and opts.master_port is None:
            opts.master_port = int(port)
    opts.master_port_explicit = opts.master_port is not None
    opts.hosts = None
    if opts.hostfile:
        if opts.ray:
            parser.error("--hostfile and --ray do not go together")
        from .local import parse_hostfile
        opts.hosts = parse_hostfile(opts.hostfile)
        if opts.node_rank:
            parser.error("--node-rank has no meaning with --hostfile (one dtrun starts "
                         "every node)")
        if nnodes is None:
            nnodes = len(opts.hosts)
        if nnodes > len(opts.hosts):
            parser.error("--nnodes %d but the hostfile lists %d hosts"
                         % (nnodes, len(opts.hosts)))
        if opts.master_addr is None:
            opts.master_addr = opts.hosts[0]
    if opts.standalone:
        nnodes = 1
        opts.master_addr = "127.0.0.1"
        opts.master_port = opts.master_port or free_port()
    opts.nnodes = nnodes or 1
    if not 0 <= opts.node_rank < opts.nnodes:
        parser.error("--node-rank %d is outside 0..%d" % (opts.node_rank, opts.nnodes - 1))
    if opts.master_addr is None:
        opts.master_addr = "127.0.0.1"
    if opts.master_port is None:
        single = (opts.nnodes == 1 and not opts.hostfile and not opts.ray
                  and not opts.launch_with)
        opts.master_port = free_port() if single else 29500
    opts.run_id = opts.rdzv_id or uuid.uuid4().hex[:12]
    try:
        opts.local_ranks_filter = ",".join(
            str(int(x)) for x in str(opts.local_ranks_filter).split(",") if x.strip())
    except ValueError:
        parser.error("--local-ranks-filter wants local ranks like 0 or 0,2")
    if opts.max_restarts < 0:
        parser.error("--max-restarts must be >= 0")
    if opts.module and opts.no_python:
        parser.error("-m and --no-python do not go together")
    return opts


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "submit":
        from .submit import main as submit_main
        return submit_main(argv[1:])
    if argv and argv[0] == "slurm":
        from .slurm import main as slurm_main
        return slurm_main(argv[1:])
    parser = build_parser()
    opts = parse_job_args(parser, argv)
    finish_options(opts, parser)
    if not (opts.module or opts.no_python or opts.hostfile or opts.ray or opts.nnodes > 1) \
            and not os.path.isfile(opts.training_script):
        sys.stderr.write("dtrun: no such script: %s\n" % opts.training_script)
        return 2
    if opts.ray:
        from .ray_launcher import run_ray_job
        return run_ray_job(opts)
    from .local import run_job
    return run_job(opts)


if __name__ == "__main__":
    sys.exit(main())
