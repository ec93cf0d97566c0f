"""No silent hangs: collective history, stall reports, desync checks and the job-wide abort.

Every collective of a group gets a sequence number and a record (group, seq, op, shape, dtype,
state). A rank whose collective does not finish within the group's timeout asks the other ranks
(through the store, via their monitor threads, so a rank busy outside any collective answers too)
for their records, writes a report naming the ranks that did not arrive at that collective and the
last collectives of each rank, and raises. An uncaught exception on any rank sets the store's abort
flag and aborts MPI, so the other ranks stop within seconds instead of waiting for their timeout.
"""
import os
import pickle
import sys
import threading
import time
import traceback
from collections import deque

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
DEBUG_ENV = "DISTTENSOR_DEBUG"          # OFF | INFO | DETAIL (also honours TORCH_DISTRIBUTED_DEBUG)
TIMEOUT_ENV = "DISTTENSOR_TIMEOUT"       # seconds; overrides the default 10 minutes
HISTORY_LEN = 16
MONITOR_PERIOD = 0.5


def debug_level():
    v = os.environ.get(DEBUG_ENV) or os.environ.get("TORCH_DISTRIBUTED_DEBUG") or "OFF"
    return v.upper()


class DistError(RuntimeError):
    """torch.distributed.DistError look-alike (a RuntimeError)."""


class DistBackendError(DistError):
    pass


class DistStoreError(DistError):
    pass


class CollectiveMismatchError(DistError):
    pass


def _dtname(d):
    return getattr(d, "name", d)


class Record:
    """One collective as seen by this rank."""
    __slots__ = ("gid", "seq", "op", "shape", "dtype", "extra", "t0", "state")

    def __init__(self, gid, seq, op, shape, dtype, extra):
        self.gid, self.seq, self.op, self.shape, self.dtype, self.extra = gid, seq, op, shape, dtype, extra
        self.t0 = time.time()
        self.state = "started"

    def describe(self):
        s = f"#{self.seq} {self.op}"
        if self.shape is not None:
            s += f"(shape={tuple(self.shape)}, dtype={_dtname(self.dtype)}"
            s += f", {self.extra})" if self.extra else ")"
        elif self.extra:
            s += f"({self.extra})"
        return s

    def as_tuple(self):
        return (self.gid, self.seq, self.op, None if self.shape is None else tuple(self.shape),
                _dtname(self.dtype), self.extra, self.state)


class History:
    """Per-group sequence counter and ring buffer of records."""
    __slots__ = ("gid", "seq", "records", "inflight")

    def __init__(self, gid):
        self.gid = gid
        self.seq = 0
        self.records = deque(maxlen=HISTORY_LEN)
        self.inflight = None

    def start(self, op, shape, dtype, extra=""):
        self.seq += 1
        r = Record(self.gid, self.seq, op, shape, dtype, extra)
        self.records.append(r)
        return r


# ---- the per-process state the monitor thread and the excepthook share ----------------------
class _State:
    store = None          # a store client of its own (the monitor's), None before init
    rank = 0
    world_size = 1
    groups = {}           # gid -> History
    group_ranks = {}      # gid -> list of global ranks
    abort_reason = None   # set by the monitor when another rank aborted the job
    monitor = None
    abort_hook = None     # callable that aborts the transport (MPI Abort)
    stop = False
    answered = set()


state = _State()


def snapshot():
    """This rank's view: for each group, last started seq, in-flight record, last records."""
    out = {}
    for gid, h in list(state.groups.items()):
        for _ in range(10):  # the main thread may append meanwhile: retry the copy
            try:
                recs = [r.as_tuple() for r in list(h.records)]
                break
            except RuntimeError:
                recs = []
        cur = h.inflight
        inflight = cur.as_tuple() if cur is not None else None
        out[gid] = {"seq": h.seq, "inflight": inflight, "records": recs}
    return {"rank": state.rank, "pid": os.getpid(), "host": os.uname().nodename, "groups": out,
            "main_thread": _main_thread_where()}


def _main_thread_where():
    try:
        frame = sys._current_frames().get(threading.main_thread().ident)
        if frame is None:
            return "?"
        st = traceback.extract_stack(frame)
        # innermost frame outside this package
        for fs in reversed(st):
            if not fs.filename.startswith(_PKG_DIR):
                return f"{fs.filename}:{fs.lineno} in {fs.name}"
        return f"{st[-1].filename}:{st[-1].lineno}"
    except Exception:
        return "?"


def _fmt_rec(t):
    gid, seq, op, shape, dtype, extra, st = t
    s = f"#{seq} {op}"
    if shape is not None:
        s += f"(shape={shape}, dtype={dtype}" + (f", {extra})" if extra else ")")
    return s + ("" if st == "done" else f" [{st}]")


def stall_report(pg_name, gid, group_ranks, rec, waited, timeout):
    """Collect every rank's snapshot through the store and build the report text."""
    store = state.store
    snaps = {state.rank: snapshot()}
    if store is not None:
        try:
            req = store.add("dt/stall_req", 1)
            deadline = time.monotonic() + min(8.0, max(2.0, 4 * MONITOR_PERIOD))
            want = [r for r in group_ranks if r != state.rank]
            while time.monotonic() < deadline and want:
                vals = store.multi_get([f"dt/hist/{req}/{r}" for r in want])
                for r, v in zip(list(want), vals):
                    if v is not None:
                        snaps[r] = pickle.loads(v)
                        want.remove(r)
                if want:
                    time.sleep(0.05)
        except Exception as e:  # the store itself may be gone
            snaps.setdefault("store_error", str(e))
    missing, late, lines = [], [], []
    for r in group_ranks:
        s = snaps.get(r)
        if s is None:
            missing.append(r)
            lines.append(f"  rank {r}: no answer (process dead, or stuck outside Python)")
            continue
        g = s["groups"].get(gid)
        seq = g["seq"] if g else 0
        if isinstance(rec.seq, int) and seq < rec.seq:
            late.append(r)
        where = g["inflight"] if g else None
        now = f"waiting in {_fmt_rec(where)}" if where else f"not in a collective (at {s['main_thread']})"
        last = ", ".join(_fmt_rec(t) for t in (g["records"][-5:] if g else [])) or "none"
        lines.append(f"  rank {r} (host {s['host']}, pid {s['pid']}): reached #{seq} on this group; "
                     f"{now}; last collectives: {last}")
    head = (f"Timeout: collective {rec.describe()} on process group {pg_name} (group ranks "
            f"{group_ranks}) did not complete on rank {state.rank} within {timeout:.1f}s "
            f"(waited {waited:.1f}s).")
    if late or missing:
        who = sorted(set(late) | set(missing))
        head += f" Ranks that did not arrive: {who}."
    else:
        head += (" Every rank reached this collective: they disagree on what it is "
                 "(mismatched collectives) or the transport is stuck.")
    return head + "\n" + "\n".join(lines), sorted(set(late) | set(missing))


def _monitor_loop(store):
    last_req = 0
    while not state.stop:
        try:
            abort, req = store.multi_get(["dt/abort", "dt/stall_req"])
        except Exception:
            return  # store gone: the job is ending
        if abort is not None and state.abort_reason is None:
            state.abort_reason = abort.decode(errors="replace")
            threading.Thread(target=_exit_later, daemon=True).start()
        if req is not None:
            req = int(req)
            while last_req < req:
                last_req += 1
                try:
                    snap = snapshot()
                except Exception as e:  # never let the monitor die on a diagnostic
                    snap = {"rank": state.rank, "pid": os.getpid(), "host": os.uname().nodename,
                            "groups": {}, "main_thread": f"? ({e})"}
                try:
                    store.set(f"dt/hist/{last_req}/{state.rank}", pickle.dumps(snap))
                except Exception:
                    return
        time.sleep(MONITOR_PERIOD)


def _exit_later(grace=5.0):
    """Another rank aborted: give the main thread a moment to raise, then leave."""
    time.sleep(grace)
    if state.stop:
        return
    sys.stderr.write(f"[disttensor rank {state.rank}] exiting: {state.abort_reason}\n")
    sys.stderr.flush()
    os._exit(1)


def start_monitor(store_factory):
    if state.monitor is not None:
        return
    try:
        store = store_factory()
    except Exception:
        return
    state.store = store
    state.stop = False
    t = threading.Thread(target=_monitor_loop, args=(store,), name="disttensor-monitor", daemon=True)
    state.monitor = t
    t.start()


def stop_monitor():
    state.stop = True
    state.monitor = None


def check_abort():
    if state.abort_reason is not None:
        raise DistBackendError(f"rank {state.rank}: the job was aborted by another rank: "
                               f"{state.abort_reason}")


def publish_abort(reason):
    st = state.store
    if st is not None:
        try:
            st.compare_set("dt/abort", b"", reason.encode())
        except Exception:
            pass


_prev_hook = None


def _excepthook(etype, value, tb):
    try:
        _prev_hook(etype, value, tb)
        sys.stderr.flush()
    except Exception:
        pass
    if state.stop:
        return
    reason = f"rank {state.rank} raised {etype.__name__}: {value}"
    if state.abort_reason is None:
        publish_abort(reason.splitlines()[0][:2000])
        if state.store is not None and state.world_size > 1:
            time.sleep(2 * MONITOR_PERIOD + 0.2)  # let the other ranks report why they stop
    hook = state.abort_hook
    if hook is not None and state.world_size > 1:
        try:
            hook(1)
        except Exception:
            pass


def install_excepthook():
    global _prev_hook
    if sys.excepthook is not _excepthook:
        _prev_hook = sys.excepthook
        sys.excepthook = _excepthook


def uninstall_excepthook():
    if sys.excepthook is _excepthook and _prev_hook is not None:
        sys.excepthook = _prev_hook
