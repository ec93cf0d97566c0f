"""disttensor.multiprocessing: torch.multiprocessing's API on Python's `multiprocessing`.

Everything of the standard `multiprocessing` module is re-exported (`get_context`, `Process`, `Queue`,
`Pool`, `set_start_method`, `cpu_count`, ...), plus PyTorch's additions:

- `spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn")` runs `fn(i, *args)` in
  `nprocs` new processes (i = 0 .. nprocs-1). When a process raises, the others are terminated and
  `ProcessRaisedException` is raised in the parent, its message carrying the child's traceback; a process
  that exits with a non-zero code (or dies of a signal) gives `ProcessExitedException` (`exit_code`,
  `signal_name`). `join=False` returns a `ProcessContext` whose `join()` does that waiting. Children get
  SIGINT when the parent dies (Linux), so none is left behind. `start_processes` is the same with any start
  method ("spawn", "fork", "forkserver").
- `get_all_sharing_strategies()` / `set_sharing_strategy()` / `get_sharing_strategy()` accept PyTorch's
  names ("file_descriptor", "file_system" on Linux) but choose nothing: disttensor tensors are NumPy (or
  CuPy) arrays and travel between processes by pickling. A tensor put on a Queue, sent through a Pipe or
  passed in `spawn(args=...)` arrives as a COPY: in-place changes in the receiving process are not seen by
  the sender (in PyTorch, CPU tensors would be moved to shared memory and the change would be visible).
  `Tensor.share_memory_()` is a no-op and `Tensor.is_shared()` is False accordingly. Share data between
  processes explicitly (`multiprocessing.shared_memory`, or a file + `numpy.memmap`) when you need it.
"""
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import time
import warnings
from multiprocessing import *  # noqa: F401,F403

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies", "spawn",
           "start_processes", "ProcessContext", "SpawnContext", "ProcessException", "ProcessRaisedException",
           "ProcessExitedException"] + list(multiprocessing.__all__)

ENV_VAR_PARALLEL_START = "TORCH_MP_PARALLEL_START"

if sys.platform in ("darwin", "win32"):
    _all_sharing_strategies = {"file_system"}
    _sharing_strategy = "file_system"
else:
    _all_sharing_strategies = {"file_descriptor", "file_system"}
    _sharing_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy):
    """Record the strategy name (one of `get_all_sharing_strategies()`); it changes nothing: tensors are
    always pickled, i.e. copied (see the module docstring)."""
    global _sharing_strategy
    if new_strategy not in _all_sharing_strategies:
        raise AssertionError(f"invalid sharing strategy {new_strategy!r}, expected one of "
                             f"{_all_sharing_strategies}")
    _sharing_strategy = new_strategy


def get_sharing_strategy():
    return _sharing_strategy


def get_all_sharing_strategies():
    return set(_all_sharing_strategies)


def init_reductions():
    """PyTorch registers shared-memory pickling of tensors here; disttensor tensors pickle as copies."""


# ---- spawn ------------------------------------------------------------------------------------------

class ProcessException(Exception):
    __slots__ = ["error_index", "error_pid"]

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A spawned process raised; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A spawned process exited with a non-zero code or was killed by a signal."""
    __slots__ = ["exit_code", "signal_name"]

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name)


def _die_with_parent():
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wrap(fn, i, args, error_file):
    _die_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # SIGINT: the parent went away or stopped us
    except Exception:
        import traceback
        with open(error_file, "wb") as f:
            pickle.dump(traceback.format_exc(), f)
        sys.exit(1)


class ProcessContext:
    """The processes started by `start_processes`/`spawn`; `join()` waits for them and reports failures."""

    def __init__(self, processes, error_files):
        self.processes = processes
        self.error_files = error_files
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [int(p.pid) for p in self.processes]

    def _join_all(self, timeout):
        end = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(0.0, end - time.monotonic()))

    def join(self, timeout=None, grace_period=None):
        """Wait (up to `timeout` seconds) for processes to end. Returns True when all have ended, False when
        some still run. When one failed, terminates the others (SIGTERM, then SIGKILL after the grace period,
        30 s by default) and raises ProcessRaisedException / ProcessExitedException for the first failure."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        failed = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            proc = self.processes[index]
            proc.join()
            if proc.exitcode != 0:
                failed = index
                break
        if failed is None:
            return not self.sentinels
        if grace_period is not None:
            self._join_all(grace_period)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        self._join_all(30 if grace_period is None else grace_period)
        for p in self.processes:
            if p.is_alive():
                p.kill()
            p.join()
        proc = self.processes[failed]
        error_file = self.error_files[failed]
        if not os.access(error_file, os.R_OK):
            code = proc.exitcode
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"<Unknown signal {-code}>"
                raise ProcessExitedException(f"process {failed:d} terminated with signal {name}",
                                             error_index=failed, error_pid=proc.pid, exit_code=code,
                                             signal_name=name)
            raise ProcessExitedException(f"process {failed:d} terminated with exit code {code:d}",
                                         error_index=failed, error_pid=proc.pid, exit_code=code)
        with open(error_file, "rb") as f:
            trace = pickle.load(f)
        try:
            os.unlink(error_file)
        except OSError:
            pass
        msg = f"\n\n-- Process {failed:d} terminated with the following error:\n" + trace
        raise ProcessRaisedException(msg, failed, proc.pid)


class SpawnContext(ProcessContext):
    def __init__(self, processes, error_files):
        warnings.warn("SpawnContext is renamed to ProcessContext since 1.4 release.", stacklevel=2)
        super().__init__(processes, error_files)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start `nprocs` processes running `fn(i, *args)` with the given start method; see `spawn`."""
    ctx = multiprocessing.get_context(start_method)
    processes, error_files = [], []
    try:
        for i in range(nprocs):
            fd, name = tempfile.mkstemp(prefix="disttensor-errorfile-", suffix=".pickle")
            os.close(fd)
            os.unlink(name)  # the child creates it only when it raises
            p = ctx.Process(target=_wrap, args=(fn, i, args, name), daemon=daemon)
            p.start()
            processes.append(p)
            error_files.append(name)
    except BaseException:
        for p in processes:
            p.kill()
            p.join()
        raise
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    try:
        while not context.join():
            pass
    except KeyboardInterrupt:
        for p in processes:
            if p.is_alive():
                p.kill()
            p.join()
        raise


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Spawn `nprocs` processes that run `fn(i, *args)` (`fn` must be importable: defined at module top
    level). Returns None when `join` is True (after all ended), else a ProcessContext. A failure in any child
    terminates the others and raises ProcessRaisedException (with the child's traceback) or
    ProcessExitedException. `start_method` other than "spawn" is deprecated (FutureWarning) and ignored, as
    in PyTorch: use `start_processes` for another method."""
    if start_method != "spawn":
        warnings.warn(f"This method only supports start_method=spawn (got: {start_method}).\n"
                      "To use a different start_method use:\n\t\t torch.multiprocessing.start_processes(...)",
                      FutureWarning, stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
