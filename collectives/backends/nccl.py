"""The `nccl` backend: CuPy's `cupy.cuda.nccl` for CUDA tensors.

The communicator's unique id goes from rank 0 to the others through the job's store. Every
collective runs on one dedicated stream per group: it first waits (device side) for the caller's
current stream, and records an event when done; `Work.wait()` makes the caller's current stream
wait for that event (the host does not block, like PyTorch), `is_completed()` queries it. With
DISTTENSOR_NCCL_BLOCKING_WAIT=1 (or `wait(timeout=...)`) the host polls the event with a deadline
and a stall ends in the same report as on MPI. all_to_all, gather, scatter and batched p2p run
inside groupStart/groupEnd. CuPy is imported only here, and only when this backend is used.
"""
import os
import pickle
import time
from collections import deque

from ..work import Work
from .. import diagnostics as diag
from ..types import RedOpType


def _load(hooks=None):
    if hooks and hooks[0] is not None:
        return hooks
    import cupy
    from cupy.cuda import nccl
    return nccl, cupy


def nccl_available():
    try:
        nccl, _ = _load()
        return bool(getattr(nccl, "available", True))
    except Exception:
        return False


def gpu_count(hooks=None):
    try:
        _, cp = _load(hooks)
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def require_gpu(hooks=None):
    """Fail at once, with a clear message, when NCCL cannot work here."""
    try:
        nccl, cp = _load(hooks)
    except Exception as e:
        raise RuntimeError("init_process_group(backend='nccl') needs CuPy with NCCL (pip install "
                           f"cupy-cuda12x) and a CUDA GPU; importing cupy.cuda.nccl failed: {e}. "
                           "Use backend='mpi' for CPU tensors.") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("init_process_group(backend='nccl'): CuPy was built without NCCL "
                           "(cupy.cuda.nccl.available is False). Use backend='mpi' for CPU tensors.")
    try:
        n = int(cp.cuda.runtime.getDeviceCount())
        err = ""
    except Exception as e:
        n, err = 0, f" ({type(e).__name__}: {e})"
    if n == 0:
        raise RuntimeError("init_process_group(backend='nccl') needs a CUDA GPU, and none is available"
                           f"{err}. Use backend='mpi' for CPU tensors.")


_DT_NAMES = {"int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
             "float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
             "bfloat16": "NCCL_BFLOAT16", "bool": "NCCL_UINT8", "uint32": "NCCL_UINT32",
             "uint64": "NCCL_UINT64"}
_DT_FALLBACK = {"NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_UINT32": 3, "NCCL_INT64": 4,
                "NCCL_UINT64": 5, "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8,
                "NCCL_BFLOAT16": 9}
_OP_NAMES = {RedOpType.SUM: "NCCL_SUM", RedOpType.PRODUCT: "NCCL_PROD", RedOpType.MAX: "NCCL_MAX",
             RedOpType.MIN: "NCCL_MIN", RedOpType.AVG: "NCCL_AVG"}
_OP_FALLBACK = {"NCCL_SUM": 0, "NCCL_PROD": 1, "NCCL_MAX": 2, "NCCL_MIN": 3, "NCCL_AVG": 4}


class NCCLWork(Work):
    def __init__(self, pg, event, rec, outputs):
        self.pg, self.event, self.rec, self.outputs = pg, event, rec, outputs
        self.t0 = time.monotonic()
        self._done = False
        self.live = None

    def is_completed(self):
        if self._done:
            return True
        if self.event is not None and self.event.done:
            self._mark()
            return True
        return False

    def _mark(self):
        self._done = True
        self.live = None
        if self.rec is not None:
            self.rec.state = "done"
            if self.pg.history.inflight is self.rec:
                self.pg.history.inflight = None

    def wait(self, timeout=None):
        pg = self.pg
        if timeout is not None or pg.blocking:
            limit = pg.timeout if timeout is None else (
                timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout))
            deadline = time.monotonic() + limit
            while not self.is_completed():
                if time.monotonic() > deadline:
                    pg._stall(self, time.monotonic() - self.t0, limit)
                time.sleep(0.0002)
        # device-side: the caller's stream waits for the collective
        pg.cp.cuda.get_current_stream().wait_event(self.event)
        return True

    def synchronize(self):
        self.wait()

    def result(self):
        return self.outputs


class ProcessGroupNCCL:
    name = "nccl"

    def __init__(self, store, rank, size, gid, history, timeout_s, pg_name, global_ranks, nccl=None,
                 cupy=None):
        self.nccl, self.cp = _load((nccl, cupy) if nccl is not None else None)
        require_gpu((self.nccl, self.cp))
        self.store = store
        self.rank, self.size, self.gid = rank, size, gid
        self.history = history
        self.timeout = timeout_s
        self.pg_name = pg_name
        self.global_ranks = global_ranks
        key = f"dt/nccl/uid/{gid}"
        if rank == 0:
            uid = self.nccl.get_unique_id()
            store.set(key, pickle.dumps(uid))
        else:
            uid = pickle.loads(store.get(key))
        self.comm = self.nccl.NcclCommunicator(size, uid, rank)
        self.stream = self.cp.cuda.Stream(non_blocking=True)
        self.blocking = os.environ.get("DISTTENSOR_NCCL_BLOCKING_WAIT", "0") not in ("0", "")
        self.pending = deque()
        self._grouped = None
        self._group_copies = []
        self._live = []
        self._obj_seq = 0

    # ---- helpers ----------------------------------------------------------------------
    def _dt(self, a):
        name = _DT_NAMES.get(a.dtype.name)
        if name is None:
            return None
        return getattr(self.nccl, name, _DT_FALLBACK[name])

    def _move(self, a):
        """(pointer, count, nccl dtype) moving raw elements (any dtype: bytes when NCCL lacks it)."""
        dt = self._dt(a)
        if dt is None:
            return a.data.ptr, a.nbytes, getattr(self.nccl, "NCCL_UINT8", 1)
        return a.data.ptr, a.size, dt

    def _red(self, a, op):
        """(count, dtype, op) for a reduction on array a."""
        name = a.dtype.name
        if name == "bool":
            nop = "NCCL_MAX" if op in (RedOpType.SUM, RedOpType.MAX, RedOpType.AVG, RedOpType.BOR) \
                else "NCCL_MIN"
            return a.size, self._dt(a), getattr(self.nccl, nop, _OP_FALLBACK[nop])
        if op not in _OP_NAMES:
            raise RuntimeError(f"ReduceOp.{op.name} is not supported by the nccl backend")
        nop = getattr(self.nccl, _OP_NAMES[op], _OP_FALLBACK[_OP_NAMES[op]])
        if a.dtype.kind == "c":
            if op not in (RedOpType.SUM, RedOpType.AVG):
                raise RuntimeError(f"ReduceOp.{op.name} is not supported for complex tensors")
            half = "NCCL_FLOAT32" if name == "complex64" else "NCCL_FLOAT64"
            return a.size * 2, getattr(self.nccl, half, _DT_FALLBACK[half]), nop
        dt = self._dt(a)
        if dt is None:
            raise RuntimeError(f"the nccl backend cannot reduce {name} tensors")
        return a.size, dt, nop

    def _arr(self, t):
        a = t._data
        if a.__class__.__module__.split(".")[0] == "numpy":
            raise RuntimeError("the nccl backend takes CUDA tensors, got a CPU tensor; use backend='mpi' "
                               "(or the default backend) for CPU tensors")
        return a

    def _contig(self, t):
        a = self._arr(t)
        if a.flags.c_contiguous:
            self._live.append(a)
            return a, False
        c = self.cp.ascontiguousarray(a)  # on the caller's stream, before the sync below
        self._live.append(c)
        return c, True

    def _hold(self, a):
        """Keep an array the device still uses alive until its work is done (CuPy's memory pool
        would hand its memory to the next allocation, on any stream, once it is freed)."""
        self._live.append(a)
        return a

    def _begin(self):
        """The comm stream waits for the caller's stream (device side)."""
        cp = self.cp
        ev = cp.cuda.Event(disable_timing=True)
        ev.record(cp.cuda.get_current_stream())
        self.stream.wait_event(ev)

    def _end(self, rec, outputs, copy_back=()):
        cp = self.cp
        live, self._live = self._live, []
        live.extend(src for _, src in copy_back)
        if self._grouped is not None:  # copies run after groupEnd launched the NCCL kernels
            self._group_copies.extend(copy_back)
            w = NCCLWork(self, None, rec, outputs)
            w.live = live
            self._grouped.append(w)
            return w
        if copy_back:
            with self.stream:
                for dst, src in copy_back:
                    dst[...] = src
        ev = cp.cuda.Event(disable_timing=True)
        ev.record(self.stream)
        w = NCCLWork(self, ev, rec, outputs)
        w.live = live
        self._track(w)
        return w

    def _track(self, w):
        """Keep works until done (tensors stay alive); a too-old unfinished one is a stall."""
        p = self.pending
        p.append(w)
        while p and p[0].is_completed():
            p.popleft()
        if p and time.monotonic() - p[0].t0 > self.timeout:
            self._stall(p[0], time.monotonic() - p[0].t0, self.timeout)

    def _stall(self, w, waited, limit):
        try:
            self.comm.abort()
        except Exception:
            pass
        if w.rec is None:
            raise diag.DistBackendError(f"NCCL operation timed out after {waited:.1f}s")
        report, _ = diag.stall_report(self.pg_name, self.gid, self.global_ranks, w.rec, waited, limit)
        raise diag.DistBackendError(report)

    def group_start(self):
        self._begin()
        self._grouped = []
        self._group_copies = []
        self.nccl.groupStart()

    def group_end(self):
        self.nccl.groupEnd()
        works, self._grouped = self._grouped, None
        copies, self._group_copies = self._group_copies, []
        if copies:
            with self.stream:
                for dst, src in copies:
                    dst[...] = src
        ev = self.cp.cuda.Event(disable_timing=True)
        ev.record(self.stream)
        for w in works:
            w.event = ev
            self._track(w)

    def _in_group(self):
        return self._grouped is not None

    # ---- collectives ------------------------------------------------------------------
    def allreduce(self, t, op, rec):
        a, staged = self._contig(t)
        n, dt, nop = self._red(a, op)
        if not self._in_group():
            self._begin()
        self.comm.allReduce(a.data.ptr, a.data.ptr, n, dt, nop, self.stream.ptr)
        return self._end(rec, [t], [(t._data, a)] if staged else ())

    def allreduce_coalesced(self, tensors, op, rec):
        self.group_start()
        try:
            for x in tensors:
                self.allreduce(x, op, rec)
        finally:
            self.group_end()
        return self.pending[-1] if self.pending else NCCLWork(self, None, rec, tensors)

    def broadcast(self, t, root, rec):
        a, staged = self._contig(t)
        ptr, n, dt = self._move(a)
        self._begin()
        self.comm.bcast(ptr, n, dt, root, self.stream.ptr)
        return self._end(rec, [t], [(t._data, a)] if staged else ())

    def reduce(self, t, root, op, rec):
        a, staged = self._contig(t)
        n, dt, nop = self._red(a, op)
        self._begin()
        self.comm.reduce(a.data.ptr, a.data.ptr, n, dt, nop, root, self.stream.ptr)
        return self._end(rec, [t], [(t._data, a)] if staged and self.rank == root else ())

    def allgather_base(self, out, inp, rec):
        o, ostaged = self._contig(out)
        i, _ = self._contig(inp)
        if o.size != i.size * self.size:
            raise ValueError(f"all_gather_into_tensor: output has {o.size} elements, expected "
                             f"{self.size} x {i.size}")
        ptr, n, dt = self._move(i)
        self._begin()
        self.comm.allGather(ptr, o.data.ptr, n, dt, self.stream.ptr)
        return self._end(rec, [out], [(out._data, o)] if ostaged else ())

    def allgather(self, outs, t, rec):
        i, _ = self._contig(t)
        buf = self.cp.empty((self.size,) + tuple(i.shape), dtype=i.dtype)
        ptr, n, dt = self._move(i)
        self._begin()
        self.comm.allGather(ptr, buf.data.ptr, n, dt, self.stream.ptr)
        return self._end(rec, outs, [(o._data, buf[r].reshape(o._data.shape)) for r, o in enumerate(outs)])

    def allgather_v(self, outs, t, rec):
        i, _ = self._contig(t)
        bufs = [self.cp.empty(o._data.shape, dtype=i.dtype) for o in outs]
        bufs[self.rank] = i.reshape(outs[self.rank]._data.shape)
        self.group_start()
        for r, b in enumerate(bufs):
            ptr, n, dt = self._move(b)
            self.comm.bcast(ptr, n, dt, r, self.stream.ptr)
        w = self._end(rec, outs, [(o._data, b) for o, b in zip(outs, bufs)])
        self.group_end()
        return w

    def reduce_scatter_base(self, out, inp, op, rec):
        o, ostaged = self._contig(out)
        i, _ = self._contig(inp)
        if i.size != o.size * self.size:
            raise ValueError(f"reduce_scatter_tensor: input has {i.size} elements, expected "
                             f"{self.size} x {o.size}")
        n, dt, nop = self._red(o, op)
        self._begin()
        self.comm.reduceScatter(i.data.ptr, o.data.ptr, n, dt, nop, self.stream.ptr)
        return self._end(rec, [out], [(out._data, o)] if ostaged else ())

    def reduce_scatter(self, out, inputs, op, rec):
        if any(x._data.size != out._data.size for x in inputs):
            raise RuntimeError("reduce_scatter: the nccl backend needs equal-sized inputs")
        cp = self.cp
        i = self._hold(cp.concatenate([self._arr(x).reshape(-1) for x in inputs]))
        o, ostaged = self._contig(out)
        n, dt, nop = self._red(o, op)
        self._begin()
        self.comm.reduceScatter(i.data.ptr, o.data.ptr, n, dt, nop, self.stream.ptr)
        return self._end(rec, [out], [(out._data, o)] if ostaged else ())

    def gather(self, t, outs, root, rec):
        i, _ = self._contig(t)
        bufs = None
        self.group_start()
        ptr, n, dt = self._move(i)
        if self.rank == root:
            bufs = [self._hold(self.cp.empty(i.shape, dtype=i.dtype)) for _ in range(self.size)]
            for r, b in enumerate(bufs):
                if r != root:
                    self.comm.recv(b.data.ptr, n, dt, r, self.stream.ptr)
            bufs[root] = i
        else:
            self.comm.send(ptr, n, dt, root, self.stream.ptr)
        w = self._end(rec, outs or [], [(o._data, b.reshape(o._data.shape)) for o, b in zip(outs, bufs)]
                      if bufs else ())
        self.group_end()
        return w

    def scatter(self, t, ins, root, rec):
        o, staged = self._contig(t)
        ptr, n, dt = self._move(o)
        self.group_start()
        if self.rank == root:
            srcs = [self._hold(self.cp.ascontiguousarray(self._arr(x))) for x in ins]
            for r, s in enumerate(srcs):
                if r != root:
                    self.comm.send(s.data.ptr, n, dt, r, self.stream.ptr)
            copies = [(o, srcs[root].reshape(o.shape))]
        else:
            self.comm.recv(ptr, n, dt, root, self.stream.ptr)
            copies = []
        if staged:
            copies.append((t._data, o))
        w = self._end(rec, [t], copies)
        self.group_end()
        return w

    def alltoall_base(self, out, inp, out_splits, in_splits, rec):
        o, ostaged = self._contig(out)
        i, _ = self._contig(inp)
        if not out_splits and not in_splits:
            k = i.size // self.size
            sc = rc = [k] * self.size
        else:
            row_i = i.size // i.shape[0] if i.ndim and i.shape[0] else 1
            row_o = o.size // o.shape[0] if o.ndim and o.shape[0] else 1
            in_splits = in_splits or [i.shape[0] // self.size] * self.size
            out_splits = out_splits or [o.shape[0] // self.size] * self.size
            sc = [int(s) * row_i for s in in_splits]
            rc = [int(s) * row_o for s in out_splits]
        fi, fo = i.reshape(-1), o.reshape(-1)
        self.group_start()
        so = ro = 0
        for r in range(self.size):
            if sc[r]:
                ptr, n, dt = self._move(fi[so:so + sc[r]])
                self.comm.send(ptr, n, dt, r, self.stream.ptr)
            if rc[r]:
                ptr, n, dt = self._move(fo[ro:ro + rc[r]])
                self.comm.recv(ptr, n, dt, r, self.stream.ptr)
            so += sc[r]
            ro += rc[r]
        w = self._end(rec, [out], [(out._data, o)] if ostaged else ())
        self.group_end()
        return w

    def alltoall(self, outs, ins, rec):
        srcs = [self._contig(x)[0] for x in ins]
        dsts = [self._contig(x) for x in outs]
        self.group_start()
        for r in range(self.size):
            ptr, n, dt = self._move(srcs[r])
            self.comm.send(ptr, n, dt, r, self.stream.ptr)
            ptr, n, dt = self._move(dsts[r][0])
            self.comm.recv(ptr, n, dt, r, self.stream.ptr)
        w = self._end(rec, outs, [(x._data, d) for x, (d, st) in zip(outs, dsts) if st])
        self.group_end()
        return w

    def barrier(self, rec):
        buf = self._hold(self.cp.zeros((1,), dtype="float32"))
        self._begin()
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, 1, getattr(self.nccl, "NCCL_FLOAT32", 7),
                            getattr(self.nccl, "NCCL_SUM", 0), self.stream.ptr)
        w = self._end(rec, [])
        # PyTorch's NCCL barrier blocks the host until the device is done
        w.event.synchronize()
        w._mark()
        return w

    def send(self, t, dst, tag, rec):
        a, _ = self._contig(t)
        ptr, n, dt = self._move(a)
        if not self._in_group():
            self._begin()
        self.comm.send(ptr, n, dt, dst, self.stream.ptr)
        return self._end(rec, [t])

    def recv(self, t, src, tag, rec):
        if src is None:
            raise RuntimeError("recv from any source is not supported by the nccl backend")
        a, staged = self._contig(t)
        ptr, n, dt = self._move(a)
        if not self._in_group():
            self._begin()
        self.comm.recv(ptr, n, dt, src, self.stream.ptr)
        return self._end(rec, [t], [(t._data, a)] if staged else ())

    # ---- object collectives through the store -----------------------------------------
    def _obj_key(self):
        self._obj_seq += 1
        return f"dt/nccl/obj/{self.gid}/{self._obj_seq}"

    def _get_all(self, key, ranks):
        return [self.store.get(f"{key}/{r}", timeout=self.timeout) for r in ranks]

    def allgather_bytes(self, data, rec):
        key = self._obj_key()
        self.store.set(f"{key}/{self.rank}", data)
        return self._get_all(key, range(self.size))

    def bcast_bytes(self, data, root, rec):
        key = self._obj_key()
        if self.rank == root:
            self.store.set(f"{key}/{root}", data)
            return data
        return self.store.get(f"{key}/{root}", timeout=self.timeout)

    def gather_bytes(self, data, root, rec):
        key = self._obj_key()
        self.store.set(f"{key}/{self.rank}", data)
        return self._get_all(key, range(self.size)) if self.rank == root else None

    def scatter_bytes(self, parts, root, rec):
        key = self._obj_key()
        if self.rank == root:
            for r, p in enumerate(parts):
                self.store.set(f"{key}/{r}", p)
        return self.store.get(f"{key}/{self.rank}", timeout=self.timeout)

    def abort(self, code=1):
        try:
            self.comm.abort()
        except Exception:
            pass

    def destroy(self):
        try:
            self.comm.destroy()
        except Exception:
            pass
