"""Pieces shared by the launcher, the per-rank bootstrap and the Ray actors (stdlib only)."""

import json
import os
import shutil
import signal
import socket
import sys

# Thread pools split over the ranks of one node.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# Status records travel from each rank's bootstrap to the launcher inside the rank's stderr
# stream (so they cross nodes through mpiexec's own stdio forwarding, and Ray actors' pipes):
# RS + tag + JSON + US + newline.  Records are kept below PIPE_BUF so that one write() carries
# one whole record and other ranks' output cannot be interleaved into it.
_START = b"\x1edtrun-status "
_END = b"\x1f\n"
MAX_RECORD = 3800


def encode_record(rec):
    """One status record as bytes, shortened to fit MAX_RECORD (long texts lose their head)."""
    rec = dict(rec)
    for key in ("traceback", "stderr_tail", "error"):
        while True:
            data = _START + json.dumps(rec, separators=(",", ":")).encode() + _END
            if len(data) <= MAX_RECORD or not rec.get(key):
                break
            text = rec[key]
            cut = max(len(text) // 2, len(text) - (len(data) - MAX_RECORD) - 64)
            rec[key] = "...(cut)..." + text[cut:] if cut < len(text) else ""
            if len(text) < 80:
                rec[key] = ""
    return _START + json.dumps(rec, separators=(",", ":")).encode() + _END


class Demux:
    """Splits a byte stream into pass-through output and status records.

    feed(data) returns the bytes to forward; records go to the ``on_record`` callback.
    """

    def __init__(self, on_record):
        self.on_record = on_record
        self.buf = b""

    def feed(self, data):
        buf = self.buf + data
        out = []
        while buf:
            i = buf.find(_START)
            if i < 0:
                # hold back a tail that could be the beginning of a record
                k = buf.rfind(_START[:1])
                if k >= 0 and _START.startswith(buf[k:]):
                    out.append(buf[:k])
                    buf = buf[k:]
                else:
                    out.append(buf)
                    buf = b""
                break
            out.append(buf[:i])
            buf = buf[i:]
            j = buf.find(_END)
            if j < 0:
                if len(buf) > 1 << 16:      # not a record after all
                    out.append(buf)
                    buf = b""
                break
            payload = buf[len(_START):j]
            buf = buf[j + len(_END):]
            try:
                self.on_record(json.loads(payload.decode("utf-8", "replace")))
            except ValueError:
                pass
        self.buf = buf
        return b"".join(out)

    def flush(self):
        rest, self.buf = self.buf, b""
        return rest


def signal_name(signum):
    try:
        return signal.Signals(signum).name
    except (ValueError, TypeError):
        return "signal %s" % signum


def describe_exit(rec):
    """'exit code 1' or 'killed by signal SIGKILL (9)'."""
    sig = rec.get("signal")
    if sig:
        return "killed by signal %s (%d)" % (signal_name(sig), sig)
    return "exit code %s" % rec.get("exitcode")


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_env(cores, procs, environ):
    """THREAD_VARS for one rank: cores // procs (at least 1); explicit settings win."""
    n = max(1, int(cores) // max(1, int(procs)))
    env = {k: str(n) for k in THREAD_VARS if not environ.get(k)}
    if not environ.get("OPENBLAS_THREAD_TIMEOUT"):
        env["OPENBLAS_THREAD_TIMEOUT"] = "16"  # why: disttensor/__init__.py (ranks may import NumPy first)
    return env


def find_mpiexec():
    """mpiexec next to this Python (the mpich wheel's), else on PATH, else None."""
    here = os.path.dirname(os.path.abspath(sys.executable))
    for name in ("mpiexec", "mpiexec.hydra", "mpirun"):
        cand = os.path.join(here, name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    for name in ("mpiexec", "mpirun"):
        cand = shutil.which(name)
        if cand:
            return cand
    return None


def free_port(host=""):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return s.getsockname()[1]


def hostname():
    return socket.gethostname()


_prctl = None
try:  # looked up once in the parent: preexec_fn must not load libraries after fork()
    import ctypes
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except Exception:  # not Linux
    _prctl = None


def set_pdeathsig(sig=signal.SIGKILL):
    """Linux: deliver ``sig`` to the calling process when its parent dies (use in preexec_fn)."""
    if _prctl is None:
        return
    PR_SET_PDEATHSIG = 1
    _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() == 1:          # the parent is already gone
        os.kill(os.getpid(), sig)
