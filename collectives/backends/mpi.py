"""The `mpi` backend: mpi4py (MPICH wheel), CPU tensors, every disttensor dtype.

Every collective is started with MPI's nonblocking call (Iallreduce, Ibcast, ...) on the tensor's
own array (no copy when it is C-contiguous) and finished by polling `Test` with a deadline; on
2-rank CPU runs this is as fast as the blocking call (measured, see benchmarks/RESULTS.md), and it
lets a stalled collective end in a report instead of a hang. float16 and bfloat16 reductions use
user-defined MPI ops over the raw 16-bit words (NumPy does the arithmetic in the element type);
this measured faster than upcasting to float32 buffers.
"""
import os
import time

import numpy as np
import ml_dtypes

from ..work import Work
from .. import diagnostics as diag
from ..types import RedOpType

_MPI = None


def _yield(_sleep=time.sleep):
    # time.sleep(0): a syscall that gives the core away when others wait for it and returns at
    # once on an idle machine. Measured, 1 MiB, 2 ranks, load 14: 1.9 ms vs 5.5 ms with
    # os.sched_yield() (and 5.6 ms for MPICH's blocking Allreduce, 3.6 ms for gloo).
    _sleep(0)


def mpi():
    global _MPI
    if _MPI is None:
        import mpi4py
        mpi4py.rc.initialize = True
        mpi4py.rc.finalize = True
        mpi4py.rc.threads = True
        mpi4py.rc.thread_level = "multiple"
        from mpi4py import MPI
        _MPI = MPI
    return _MPI


_BF16 = np.dtype(ml_dtypes.bfloat16)
_F16 = np.dtype(np.float16)
_HALVES = (_BF16, _F16)
_DT = None
_UFUNC = {RedOpType.SUM: np.add, RedOpType.AVG: np.add, RedOpType.PRODUCT: np.multiply,
          RedOpType.MIN: np.minimum, RedOpType.MAX: np.maximum}
_user_ops = {}


def _dtypes():
    global _DT
    if _DT is None:
        MPI = mpi()
        _DT = {np.dtype(np.float32): MPI.FLOAT, np.dtype(np.float64): MPI.DOUBLE,
               np.dtype(np.int8): MPI.INT8_T, np.dtype(np.uint8): MPI.UINT8_T,
               np.dtype(np.int16): MPI.INT16_T, np.dtype(np.int32): MPI.INT32_T,
               np.dtype(np.int64): MPI.INT64_T, np.dtype(np.bool_): MPI.C_BOOL,
               np.dtype(np.complex64): MPI.C_FLOAT_COMPLEX, np.dtype(np.complex128): MPI.C_DOUBLE_COMPLEX,
               _F16: MPI.UINT16_T, _BF16: MPI.UINT16_T,
               np.dtype(np.uint16): MPI.UINT16_T, np.dtype(np.uint32): MPI.UINT32_T,
               np.dtype(np.uint64): MPI.UINT64_T}
    return _DT


def _half_op(npdt, op):
    key = (npdt, op)
    o = _user_ops.get(key)
    if o is None:
        uf = _UFUNC[op]

        def fn(inbuf, inoutbuf, datatype, _uf=uf, _dt=npdt):
            a = np.frombuffer(inbuf, dtype=_dt)
            b = np.frombuffer(inoutbuf, dtype=_dt)
            _uf(b, a, out=b)
        o = mpi().Op.Create(fn, commute=True)
        _user_ops[key] = o
    return o


_op_cache = {}


def mpi_op(npdt, op):
    """The MPI.Op for a ReduceOp and element dtype (cached)."""
    key = (npdt, op)
    o = _op_cache.get(key)
    if o is None:
        o = _op_cache[key] = _mpi_op(npdt, op)
    return o


def _mpi_op(npdt, op):
    MPI = mpi()
    if npdt in _HALVES:
        if op not in _UFUNC:
            raise RuntimeError(f"ReduceOp.{op.name} is not supported for {npdt.name} tensors")
        return _half_op(npdt, op)
    if npdt == np.bool_:
        return {RedOpType.SUM: MPI.LOR, RedOpType.AVG: MPI.LOR, RedOpType.MAX: MPI.LOR,
                RedOpType.BOR: MPI.LOR, RedOpType.PRODUCT: MPI.LAND, RedOpType.MIN: MPI.LAND,
                RedOpType.BAND: MPI.LAND, RedOpType.BXOR: MPI.LXOR}[op]
    if npdt.kind == "c" and op in (RedOpType.MIN, RedOpType.MAX):
        raise RuntimeError(f"ReduceOp.{op.name} is not supported for complex tensors")
    if npdt.kind == "f" and op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR):
        raise RuntimeError(f"ReduceOp.{op.name} is not supported for floating-point tensors")
    return {RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
            RedOpType.MIN: MPI.MIN, RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND,
            RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR}[op]


def _raw(a):
    """[buffer, datatype] for a C-contiguous array (mpi4py derives the counts)."""
    dt = a.dtype
    if dt in _HALVES:
        a = a.view(np.uint16)
    try:
        mdt = _dtypes()[dt]
    except KeyError:
        raise RuntimeError(f"the mpi backend does not support dtype {dt}") from None
    return [a, mdt]


def _contig(t):
    """The tensor's own array when C-contiguous, else a contiguous copy (written back later)."""
    a = t._data
    if a.__class__ is not np.ndarray:
        raise RuntimeError(f"the mpi backend takes CPU tensors, got a tensor on {t.device}; "
                           "use backend='nccl' (or the default backend) for CUDA tensors")
    if a.flags.c_contiguous:
        return a, False
    return np.ascontiguousarray(a), True


def _bump(t):
    vc = t._vc
    if vc is not None:
        vc[0] += 1


def _avg_(a, n):
    if a.dtype.kind in "iu":
        np.floor_divide(a, n, out=a)
    elif a.dtype == np.bool_:
        pass
    else:
        np.divide(a, a.dtype.type(n), out=a) if a.dtype not in _HALVES else \
            a.__setitem__(Ellipsis, (a.astype(np.float32) / n).astype(a.dtype))


class MPIWork(Work):
    __slots__ = ("pg", "reqs", "rec", "finish", "outputs", "done", "status", "_src")

    def __init__(self, pg, reqs, rec, finish=None, outputs=None, status=None):
        self.pg, self.reqs, self.rec, self.finish = pg, reqs, rec, finish
        self.outputs = outputs or []
        self.done = False
        self.status = status
        self._src = None

    def _complete(self):
        if not self.done:
            self.done = True
            if self.finish is not None:
                self.finish()
            rec = self.rec
            if rec is not None:
                rec.state = "done"
                h = self.pg.history
                if h.inflight is rec:
                    h.inflight = None

    def is_completed(self):
        if self.done:
            return True
        if all(r.Test() for r in self.reqs):
            self._complete()
            return True
        return False

    def wait(self, timeout=None):
        if not self.done:
            self.pg._wait(self.reqs, self.rec, timeout)
            self._complete()
        return True

    def result(self):
        return self.outputs

    def source_rank(self):
        if self.status is None:
            raise RuntimeError("source_rank() is only defined for a recv work handle")
        self.wait()
        return self.pg.global_rank(self.status.Get_source())


class ProcessGroupMPI:
    """One MPI communicator; group-local ranks everywhere."""
    name = "mpi"

    def __init__(self, comm, history, timeout_s, pg_name, global_ranks):
        self.comm = comm
        self.history = history
        self.timeout = timeout_s
        self.pg_name = pg_name
        self.global_ranks = global_ranks
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def global_rank(self, r):
        return self.global_ranks[r]

    # ---- waiting with a deadline -------------------------------------------------------
    def _wait(self, reqs, rec, timeout=None):
        MPI = mpi()
        if len(reqs) == 1:
            test = reqs[0].Test
        else:
            def test(_t=MPI.Request.Testall, _r=reqs):
                return _t(_r)
        if test():
            return
        limit = self.timeout if timeout is None else (
            timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout))
        t0 = time.monotonic()
        deadline = t0 + limit
        relax = t0 + 0.5
        n = 0
        yield_ = _yield  # lets the peer ranks run when cores are oversubscribed (measured)
        while not test():
            n += 1
            if n > 256:  # spin first (~100 us): small messages finish within it
                yield_()
            if n & 127 == 0:
                now = time.monotonic()
                if now > relax:
                    diag.check_abort()
                    if now > deadline:
                        self._stall(rec, now - t0, limit)
                    time.sleep(0.0005)

    def _stall(self, rec, waited, limit):
        if rec is None:
            raise diag.DistBackendError(f"rank {diag.state.rank}: operation on process group "
                                        f"{self.pg_name} timed out after {waited:.1f}s")
        report, late = diag.stall_report(self.pg_name, self.history.gid, self.global_ranks, rec,
                                         waited, limit)
        raise diag.DistBackendError(report)

    def _work(self, reqs, rec, finish=None, outputs=None, status=None):
        return MPIWork(self, reqs, rec, finish, outputs, status)

    # ---- collectives: each returns a Work ----------------------------------------------
    def allreduce(self, t, op, rec):
        MPI = mpi()
        a, staged = _contig(t)
        req = self.comm.Iallreduce(MPI.IN_PLACE, _raw(a), mpi_op(a.dtype, op))
        n = self.size

        def finish():
            if op == RedOpType.AVG:
                _avg_(a, n)
            if staged:
                t._data[...] = a
            _bump(t)
        return self._work([req], rec, finish, [t])

    def allreduce_coalesced(self, tensors, op, rec):
        MPI = mpi()
        flat = np.concatenate([x._data.reshape(-1) for x in tensors])
        req = self.comm.Iallreduce(MPI.IN_PLACE, _raw(flat), mpi_op(flat.dtype, op))
        n = self.size

        def finish():
            if op == RedOpType.AVG:
                _avg_(flat, n)
            o = 0
            for x in tensors:
                k = x._data.size
                x._data[...] = flat[o:o + k].reshape(x._data.shape)
                o += k
                _bump(x)
        return self._work([req], rec, finish, tensors)

    def broadcast(self, t, root, rec):
        a, staged = _contig(t)
        req = self.comm.Ibcast(_raw(a), root=root)

        def finish():
            if staged:
                t._data[...] = a
            _bump(t)
        return self._work([req], rec, finish, [t])

    def reduce(self, t, root, op, rec):
        MPI = mpi()
        a, staged = _contig(t)
        mop = mpi_op(a.dtype, op)
        if self.rank == root:
            req = self.comm.Ireduce(MPI.IN_PLACE, _raw(a), op=mop, root=root)
        else:
            req = self.comm.Ireduce(_raw(a), None, op=mop, root=root)
        n = self.size
        is_root = self.rank == root

        def finish():
            if is_root:
                if op == RedOpType.AVG:
                    _avg_(a, n)
                if staged:
                    t._data[...] = a
                _bump(t)
        return self._work([req], rec, finish, [t])

    def allgather_base(self, out, inp, rec):
        """all_gather_into_tensor: `out` holds size * inp.numel() elements, rank-major."""
        MPI = mpi()
        o, ostaged = _contig(out)
        i, _ = _contig(inp)
        if o.size != i.size * self.size:
            raise ValueError(f"all_gather_into_tensor: output has {o.size} elements, expected "
                             f"{self.size} x {i.size} (input shape {tuple(inp.shape)})")
        if o.dtype != i.dtype:
            raise TypeError(f"all_gather_into_tensor: output dtype {o.dtype} != input dtype {i.dtype}")
        flat = o.reshape(-1)
        k = i.size
        mine = flat[self.rank * k:(self.rank + 1) * k]
        if k and mine.__array_interface__["data"][0] == i.__array_interface__["data"][0]:
            req = self.comm.Iallgather(MPI.IN_PLACE, _raw(flat))
        else:
            req = self.comm.Iallgather(_raw(i), _raw(flat))

        def finish():
            if ostaged:
                out._data[...] = o
            _bump(out)
        return self._work([req], rec, finish, [out])

    def allgather(self, outs, t, rec):
        i, _ = _contig(t)
        buf = np.empty((self.size,) + i.shape, dtype=i.dtype)
        req = self.comm.Iallgather(_raw(i), _raw(buf))

        def finish():
            for r, o in enumerate(outs):
                o._data[...] = buf[r].reshape(o._data.shape)
                _bump(o)
        return self._work([req], rec, finish, [outs])

    def allgather_v(self, outs, t, rec):
        """all_gather with per-rank shapes given by `outs` (uneven sizes)."""
        i, _ = _contig(t)
        counts = [o._data.size for o in outs]
        displs = list(np.cumsum([0] + counts[:-1]))
        buf = np.empty(sum(counts), dtype=i.dtype)
        mdt = _raw(buf)[1]
        req = self.comm.Iallgatherv(_raw(i), [buf.view(np.uint16) if buf.dtype in _HALVES else buf,
                                              counts, displs, mdt])

        def finish():
            for r, o in enumerate(outs):
                o._data[...] = buf[displs[r]:displs[r] + counts[r]].reshape(o._data.shape)
                _bump(o)
        return self._work([req], rec, finish, [outs])

    def reduce_scatter_base(self, out, inp, op, rec):
        o, ostaged = _contig(out)
        i, _ = _contig(inp)
        if i.size != o.size * self.size:
            raise ValueError(f"reduce_scatter_tensor: input has {i.size} elements, expected "
                             f"{self.size} x {o.size} (output shape {tuple(out.shape)})")
        req = self.comm.Ireduce_scatter_block(_raw(i), _raw(o), mpi_op(o.dtype, op))
        n = self.size

        def finish():
            if op == RedOpType.AVG:
                _avg_(o, n)
            if ostaged:
                out._data[...] = o
            _bump(out)
        return self._work([req], rec, finish, [out])

    def reduce_scatter(self, out, inputs, op, rec):
        i = np.concatenate([x._data.reshape(-1) for x in inputs])
        o, ostaged = _contig(out)
        if any(x._data.size != o.size for x in inputs):
            return self._reduce_scatter_v(out, inputs, op, rec)
        req = self.comm.Ireduce_scatter_block(_raw(i), _raw(o), mpi_op(o.dtype, op))
        n = self.size

        def finish():
            if op == RedOpType.AVG:
                _avg_(o, n)
            if ostaged:
                out._data[...] = o
            _bump(out)
        return self._work([req], rec, finish, [out])

    def _reduce_scatter_v(self, out, inputs, op, rec):
        i = np.concatenate([x._data.reshape(-1) for x in inputs])
        counts = [x._data.size for x in inputs]
        o = np.empty(counts[self.rank], dtype=i.dtype)
        req = self.comm.Ireduce_scatter(_raw(i), _raw(o), counts, mpi_op(o.dtype, op))
        n = self.size

        def finish():
            if op == RedOpType.AVG:
                _avg_(o, n)
            out._data[...] = o.reshape(out._data.shape)
            _bump(out)
        return self._work([req], rec, finish, [out])

    def gather(self, t, outs, root, rec):
        i, _ = _contig(t)
        if self.rank == root:
            buf = np.empty((self.size,) + i.shape, dtype=i.dtype)
            req = self.comm.Igather(_raw(i), _raw(buf), root=root)

            def finish():
                for r, o in enumerate(outs):
                    o._data[...] = buf[r].reshape(o._data.shape)
                    _bump(o)
        else:
            req = self.comm.Igather(_raw(i), None, root=root)
            finish = None
        return self._work([req], rec, finish, [outs] if outs else [])

    def scatter(self, t, ins, root, rec):
        o, staged = _contig(t)
        if self.rank == root:
            buf = np.ascontiguousarray(np.stack([x._data.reshape(o.shape) for x in ins]))
            req = self.comm.Iscatter(_raw(buf), _raw(o), root=root)
        else:
            buf = None
            req = self.comm.Iscatter(None, _raw(o), root=root)

        def finish(_keep=buf):
            if staged:
                t._data[...] = o
            _bump(t)
        return self._work([req], rec, finish, [t])

    def alltoall_base(self, out, inp, out_splits, in_splits, rec):
        o, ostaged = _contig(out)
        i, _ = _contig(inp)
        if not out_splits and not in_splits:
            if i.size != o.size or i.size % self.size:
                raise ValueError(f"all_to_all_single: input ({i.size} elements) and output "
                                 f"({o.size}) must be equal and divisible by the world size {self.size}")
            req = self.comm.Ialltoall(_raw(i), _raw(o))
        else:
            row_o = int(np.prod(o.shape[1:])) if o.ndim else 1
            row_i = int(np.prod(i.shape[1:])) if i.ndim else 1
            if not in_splits:
                in_splits = [i.shape[0] // self.size] * self.size
            if not out_splits:
                out_splits = [o.shape[0] // self.size] * self.size
            sc = [int(s) * row_i for s in in_splits]
            rc = [int(s) * row_o for s in out_splits]
            sd = list(np.cumsum([0] + sc[:-1]))
            rd = list(np.cumsum([0] + rc[:-1]))
            si, ro = _raw(i), _raw(o)
            req = self.comm.Ialltoallv([si[0], sc, sd, si[1]], [ro[0], rc, rd, ro[1]])

        def finish():
            if ostaged:
                out._data[...] = o
            _bump(out)
        return self._work([req], rec, finish, [out])

    def alltoall(self, outs, ins, rec):
        i = np.concatenate([x._data.reshape(-1) for x in ins]) if ins else np.empty(0)
        sc = [x._data.size for x in ins]
        rc = [x._data.size for x in outs]
        sd = list(np.cumsum([0] + sc[:-1]))
        rd = list(np.cumsum([0] + rc[:-1]))
        o = np.empty(sum(rc), dtype=i.dtype)
        si, ro = _raw(i), _raw(o)
        req = self.comm.Ialltoallv([si[0], sc, sd, si[1]], [ro[0], rc, rd, ro[1]])

        def finish():
            for r, x in enumerate(outs):
                x._data[...] = o[rd[r]:rd[r] + rc[r]].reshape(x._data.shape)
                _bump(x)
        return self._work([req], rec, finish, outs)

    def barrier(self, rec):
        return self._work([self.comm.Ibarrier()], rec)

    def send(self, t, dst, tag, rec):
        a, _ = _contig(t)
        return self._work([self.comm.Isend(_raw(a), dest=dst, tag=tag)], rec, None, [t])

    def recv(self, t, src, tag, rec):
        MPI = mpi()
        a, staged = _contig(t)
        status = MPI.Status()
        req = self.comm.Irecv(_raw(a), source=MPI.ANY_SOURCE if src is None else src,
                              tag=MPI.ANY_TAG if tag is None or tag < 0 else tag)

        def finish():
            if staged:
                t._data[...] = a
            _bump(t)
        w = self._work([req], rec, finish, [t], status)
        # Irecv's status is filled by Test/Wait: keep our own Status object in the poll loop
        w.reqs = [_StatusReq(req, status)]
        return w

    # ---- bytes for object collectives (pickles) ---------------------------------------
    def allgather_bytes(self, data, rec):
        sizes = np.zeros(self.size, np.int64)
        mine = np.array([len(data)], np.int64)
        self._wait([self.comm.Iallgather(_raw(mine), _raw(sizes))], rec)
        buf = np.empty(int(sizes.sum()), np.uint8)
        displs = list(np.cumsum([0] + list(sizes[:-1])))
        src = np.frombuffer(data, np.uint8)
        MPI = mpi()
        self._wait([self.comm.Iallgatherv([src, len(data), MPI.BYTE],
                                          [buf, list(sizes), displs, MPI.BYTE])], rec)
        return [buf[d:d + s].tobytes() for d, s in zip(displs, sizes)]

    def bcast_bytes(self, data, root, rec):
        MPI = mpi()
        n = np.array([len(data) if self.rank == root else 0], np.int64)
        self._wait([self.comm.Ibcast(_raw(n), root=root)], rec)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else np.empty(int(n[0]), np.uint8)
        self._wait([self.comm.Ibcast([buf, int(n[0]), MPI.BYTE], root=root)], rec)
        return buf.tobytes()

    def gather_bytes(self, data, root, rec):
        MPI = mpi()
        mine = np.array([len(data)], np.int64)
        sizes = np.zeros(self.size, np.int64)
        self._wait([self.comm.Igather(_raw(mine), _raw(sizes) if self.rank == root else None,
                                      root=root)], rec)
        src = np.frombuffer(data, np.uint8)
        if self.rank != root:
            self._wait([self.comm.Igatherv([src, len(data), MPI.BYTE], None, root=root)], rec)
            return None
        displs = list(np.cumsum([0] + list(sizes[:-1])))
        buf = np.empty(int(sizes.sum()), np.uint8)
        self._wait([self.comm.Igatherv([src, len(data), MPI.BYTE], [buf, list(sizes), displs, MPI.BYTE],
                                       root=root)], rec)
        return [buf[d:d + s].tobytes() for d, s in zip(displs, sizes)]

    def scatter_bytes(self, parts, root, rec):
        MPI = mpi()
        sizes = np.array([len(p) for p in parts] if self.rank == root else [0] * self.size, np.int64)
        self._wait([self.comm.Ibcast(_raw(sizes), root=root)], rec)
        displs = list(np.cumsum([0] + list(sizes[:-1])))
        mine = np.empty(int(sizes[self.rank]), np.uint8)
        if self.rank == root:
            send = np.frombuffer(b"".join(parts), np.uint8)
            req = self.comm.Iscatterv([send, list(sizes), displs, MPI.BYTE], [mine, mine.size, MPI.BYTE],
                                      root=root)
        else:
            req = self.comm.Iscatterv(None, [mine, mine.size, MPI.BYTE], root=root)
        self._wait([req], rec)
        return mine.tobytes()

    def allgather_small(self, data, width, rec):
        """Fixed-width byte strings (debug fingerprints): one Iallgather."""
        MPI = mpi()
        mine = np.zeros(width, np.uint8)
        mine[:len(data)] = np.frombuffer(data, np.uint8)
        buf = np.empty((self.size, width), np.uint8)
        self._wait([self.comm.Iallgather([mine, width, MPI.BYTE], [buf, width, MPI.BYTE])], rec)
        return [bytes(row) for row in buf]

    def abort(self, code=1):
        self.comm.Abort(code)

    def destroy(self):
        try:
            MPI = mpi()
            if self.comm not in (MPI.COMM_WORLD, MPI.COMM_SELF) and self.comm != MPI.COMM_NULL:
                self.comm.Free()
        except Exception:
            pass


class _StatusReq:
    """A request whose Test/Wait fill a Status we keep (for recv's source rank)."""
    __slots__ = ("req", "status")

    def __init__(self, req, status):
        self.req, self.status = req, status

    def Test(self):
        return self.req.Test(self.status)

