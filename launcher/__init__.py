"""dtrun: the disttensor launcher.

Starts the ranks of a job with torchrun's environment contract (RANK, LOCAL_RANK, WORLD_SIZE,
LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT, ...)
through ``mpiexec`` (locally or on the hosts of a hostfile) or on a Ray cluster, stops every rank
when one fails, reports the failing rank with its traceback, and restarts the job on request.

Only the standard library is imported here (Ray is imported lazily by ``--ray`` and ``submit``);
the launcher never imports disttensor, collectives or parallel.  See ``launcher/README.md``.
"""

__all__ = ["main"]


def main(argv=None):
    from .cli import main as _main
    return _main(argv)
