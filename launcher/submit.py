"""``dtrun submit``: send a dtrun job to a Ray cluster's job API.

    dtrun submit --address http://HEAD:8265 [--working-dir DIR] [--no-wait] \\
        --nproc-per-node 4 --nnodes 2 [--gpus-per-rank 1] train.py --epochs 3

The working directory (default: the current one, without .git, .venv and caches) and the
launcher package itself are uploaded with the job (Ray runtime_env ``working_dir`` and
``py_modules``); the job's entrypoint is ``python -m launcher --ray --ray-address auto ...``,
so the job runs on the cluster exactly like ``dtrun --ray`` would.  Without ``--no-wait`` the
job's logs are streamed here and dtrun exits with 0 when the job SUCCEEDED, 1 otherwise.
"""

import argparse
import asyncio
import os
import shlex
import sys
import time

from .cli import add_job_arguments, finish_options, parse_job_args

DEFAULT_EXCLUDES = [".git", ".venv", "venv", "__pycache__", "*.pyc", ".pytest_cache",
                    ".hypothesis", "*.egg-info"]


def build_parser():
    p = argparse.ArgumentParser(prog="dtrun submit", allow_abbrev=False,
                                description="Submit a dtrun job to a Ray cluster (job API).")
    s = p.add_argument_group("submission")
    s.add_argument("--address", default=None,
                   help="the cluster's dashboard address, e.g. http://HEAD:8265 "
                        "(default: RAY_ADDRESS, else http://127.0.0.1:8265)")
    s.add_argument("--working-dir", default=None,
                   help="directory uploaded as the job's working dir (default: current)")
    s.add_argument("--exclude", action="append", default=None,
                   help="pattern left out of the upload (repeatable; default %s)"
                        % " ".join(DEFAULT_EXCLUDES))
    s.add_argument("--pip", action="append", default=[],
                   help="pip requirement installed for the job (repeatable)")
    s.add_argument("--job-id", "--submission-id", dest="submission_id", default=None)
    s.add_argument("--python", default="python",
                   help="Python of the job's entrypoint on the cluster (default: python)")
    s.add_argument("--no-wait", action="store_true",
                   help="print the submission id and return instead of following the logs")
    add_job_arguments(p)
    return p


def job_argv(opts):
    """The ``dtrun --ray`` arguments that reproduce the job on the cluster."""
    a = ["--ray", "--ray-address", "auto",
         "--nproc-per-node", str(opts.nproc_per_node), "--nnodes", str(opts.nnodes),
         "--cpus-per-rank", "%g" % opts.cpus_per_rank,
         "--placement-strategy", opts.placement_strategy,
         "--max-restarts", str(opts.max_restarts),
         "--kill-grace", "%g" % opts.kill_grace, "--rdzv-id", opts.run_id]
    if opts.gpus_per_rank:
        a += ["--gpus-per-rank", "%g" % opts.gpus_per_rank]
    if opts.master_port_explicit:
        a += ["--master-port", str(opts.master_port)]
    if opts.no_prefix:
        a.append("--no-prefix")
    if opts.role != "default":
        a += ["--role", opts.role]
    if opts.local_ranks_filter:
        a += ["--local-ranks-filter", opts.local_ranks_filter]
    if opts.no_mpiexec:
        a.append("--no-mpiexec")
    for item in opts.env:
        a += ["--env", item]
    if opts.module:
        a.append("-m")
    if opts.no_python:
        a.append("--no-python")
    return a


def build_submission(opts):
    """(entrypoint, runtime_env) for JobSubmissionClient.submit_job."""
    wd = os.path.abspath(opts.working_dir or os.getcwd())
    target = opts.training_script
    if not (opts.module or opts.no_python):
        path = os.path.abspath(target)
        if os.path.exists(path):
            rel = os.path.relpath(path, wd)
            if rel.startswith(".."):
                raise SystemExit("dtrun submit: %s is outside the working directory %s "
                                 "(use --working-dir)" % (target, wd))
            target = rel
    python = getattr(opts, "python", None) or "python"
    argv = [python, "-m", "launcher"] + job_argv(opts) + [target] + \
        list(opts.training_script_args)
    entrypoint = " ".join(shlex.quote(x) for x in argv)
    launcher_dir = os.path.dirname(os.path.abspath(__file__))
    runtime_env = {"working_dir": wd, "py_modules": [launcher_dir],
                   "excludes": list(opts.exclude or DEFAULT_EXCLUDES)}
    if opts.pip:
        runtime_env["pip"] = list(opts.pip)
    return entrypoint, runtime_env


def _client(address):
    from ray.job_submission import JobSubmissionClient
    return JobSubmissionClient(address)


async def _follow(client, sid):
    async for chunk in client.tail_job_logs(sid):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def main(argv=None):
    parser = build_parser()
    opts = parse_job_args(parser, list(sys.argv[1:] if argv is None else argv))
    if opts.hostfile:
        parser.error("--hostfile has no meaning for a Ray job")
    opts.ray = True
    finish_options(opts, parser)
    address = opts.address or os.environ.get("RAY_ADDRESS") or "http://127.0.0.1:8265"
    entrypoint, runtime_env = build_submission(opts)
    try:
        client = _client(address)
    except ImportError:
        sys.stderr.write("dtrun submit: needs Ray: pip install 'disttensor[ray]'\n")
        return 2
    except Exception as e:   # connection refused, authentication, version mismatch
        sys.stderr.write("dtrun submit: cannot use the job API at %s: %s: %s\n"
                         % (address, type(e).__name__, e))
        return 2
    kwargs = {"entrypoint": entrypoint, "runtime_env": runtime_env}
    if opts.submission_id:
        kwargs["submission_id"] = opts.submission_id
    sid = client.submit_job(**kwargs)
    sys.stderr.write("dtrun submit: job %s submitted to %s\n  entrypoint: %s\n"
                     % (sid, address, entrypoint))
    if opts.no_wait:
        sys.stdout.write(sid + "\n")
        return 0
    try:
        asyncio.run(_follow(client, sid))
    except KeyboardInterrupt:
        sys.stderr.write("dtrun submit: stopping job %s\n" % sid)
        client.stop_job(sid)
        return 130
    status = client.get_job_status(sid)
    for _ in range(100):           # the log stream can end just before the final status
        if str(getattr(status, "value", status)) in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(0.1)
        status = client.get_job_status(sid)
    status = str(getattr(status, "value", status))
    sys.stderr.write("dtrun submit: job %s %s\n" % (sid, status))
    return 0 if status == "SUCCEEDED" else 1
