"""Process groups and the collective API with torch.distributed's names and signatures.

Ranks given to the API (`src`, `dst`) are global ranks, like PyTorch; `group_src`/`group_dst`
take ranks within the group. Collectives work in place on the tensors' own arrays.
"""
import os
import pickle
import socket
import sys
import time
from datetime import timedelta

import numpy as np

from . import diagnostics as diag
from .types import Backend, GroupMember, ReduceOp, RedOpType, to_op
from .types import group as _group_ns
from .work import Work, CompletedWork
from .store import TCPStore, HashStore, PrefixStore, Store, store_from_env

default_pg_timeout = timedelta(minutes=10)


def _default_timeout_s():
    v = os.environ.get(diag.TIMEOUT_ENV)
    return float(v) if v else default_pg_timeout.total_seconds()


class _Ctx:
    world = None          # the default ProcessGroup
    groups = []           # every ProcessGroup created (gid = index)
    store = None
    backend = None
    debug = "OFF"
    mpi_world = None      # the MPI communicator ranks are ordered in (None for pure nccl)
    monitor_addr = None   # (host, port) of the store for the monitor's own client
    nccl_hooks = None     # test injection: (nccl_module, cupy_module)
    joined = False        # the MPI world was built by Connect/Accept (env:// without mpiexec -n N)


_ctx = _Ctx()


class ProcessGroup:
    """A group of ranks with its backends (`mpi` for CPU tensors, `nccl` for CUDA tensors)."""

    def __init__(self, gid, ranks, rank, backend, timeout_s, name):
        self.gid = gid
        self.ranks = list(ranks)               # global ranks, ordered by group rank
        self._rank = rank                      # this process's rank within the group
        self.backend_name = backend
        self.timeout = timeout_s
        self.group_name = name
        self.history = diag.History(gid)
        diag.state.groups[gid] = self.history
        diag.state.group_ranks[gid] = self.ranks
        self.mpi = None
        self._nccl = None
        self.nccl_enabled = False

    def rank(self):
        return self._rank

    def size(self):
        return len(self.ranks)

    def name(self):
        return self.backend_name

    def __repr__(self):
        return f"ProcessGroup(gid={self.gid}, backend={self.backend_name}, ranks={self.ranks})"

    @property
    def nccl(self):
        if self._nccl is None:
            if not self.nccl_enabled:
                raise RuntimeError(f"process group {self.gid} (backend {self.backend_name!r}) has no "
                                   "CUDA backend: use backend='nccl' or the default backend")
            from .backends.nccl import ProcessGroupNCCL
            hooks = _ctx.nccl_hooks or (None, None)
            self._nccl = ProcessGroupNCCL(_ctx.store, self._rank, self.size(), self.gid, self.history,
                                          self.timeout, f"{self.gid}", self.ranks,
                                          nccl=hooks[0], cupy=hooks[1])
        return self._nccl

    def impl(self, t):
        if t._data.__class__ is np.ndarray:
            if self.mpi is None:
                raise RuntimeError(f"process group {self.gid} uses backend {self.backend_name!r}, which "
                                   f"takes CUDA tensors; got a CPU tensor (use backend='mpi' or the "
                                   f"default backend for CPU tensors)")
            return self.mpi
        return self.nccl

    def cpu_impl(self):
        """The backend used for object collectives and debug checks."""
        return self.mpi if self.mpi is not None else self.nccl


# ---- availability ---------------------------------------------------------------------------
def is_available():
    return True


def is_mpi_available():
    try:
        import mpi4py  # noqa: F401
        return True
    except Exception:
        return False


def is_nccl_available():
    from .backends.nccl import nccl_available
    return nccl_available()


def is_gloo_available():
    return False


def is_ucc_available():
    return False


def is_xccl_available():
    return False


def is_torchelastic_launched():
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def is_initialized():
    return _ctx.world is not None


def is_backend_available(backend):
    b = str(backend).lower()
    return {"mpi": is_mpi_available(), "gloo": is_mpi_available(), "nccl": is_nccl_available()}.get(b, False)


# ---- init -------------------------------------------------------------------------------------
def _parse_init_method(init_method, rank, world_size):
    addr = port = None
    if init_method in (None, "env://"):
        if rank < 0 and "RANK" in os.environ:
            rank = int(os.environ["RANK"])
        if world_size < 0 and "WORLD_SIZE" in os.environ:
            world_size = int(os.environ["WORLD_SIZE"])
        if "MASTER_ADDR" in os.environ:
            addr = os.environ["MASTER_ADDR"]
            port = int(os.environ.get("MASTER_PORT", "29500"))
    elif init_method.startswith("tcp://"):
        from urllib.parse import urlparse, parse_qs
        u = urlparse(init_method)
        addr, port = u.hostname, u.port
        q = parse_qs(u.query)
        if rank < 0 and "rank" in q:
            rank = int(q["rank"][0])
        if world_size < 0 and "world_size" in q:
            world_size = int(q["world_size"][0])
        if rank < 0 or world_size < 0:
            raise ValueError(f"init_process_group(init_method={init_method!r}) needs rank and world_size")
    else:
        raise ValueError(f"init_process_group: unsupported init_method {init_method!r} "
                         "(use 'env://' or 'tcp://host:port')")
    return addr, port, rank, world_size


def _under_mpiexec():
    return any(k in os.environ for k in ("PMI_RANK", "PMI_FD", "PMI_PORT", "PMIX_RANK",
                                         "OMPI_COMM_WORLD_RANK", "HYDI_CONTROL_FD"))


def _timeout_s(timeout):
    if timeout is None:
        return _default_timeout_s()
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return float(timeout)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Start the default group. backend: None (mpi for CPU, nccl for CUDA when a GPU exists),
    'mpi' (alias 'gloo') or 'nccl'. Works under `mpiexec -n N` and for ranks started with
    RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (each rank under its own `mpiexec -n 1` for mpi)."""
    if _ctx.world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    b = "default" if backend is None else str(backend).lower()
    if b == "gloo":
        b = "mpi"
    if ":" in b:  # "cpu:gloo,cuda:nccl"
        parts = dict(p.split(":") for p in b.split(","))
        b = "default" if parts.get("cuda") == "nccl" else "mpi"
    if b not in ("default", "mpi", "nccl"):
        raise ValueError(f"Invalid backend: {backend!r}; disttensor has 'mpi' (CPU tensors) and "
                         "'nccl' (CUDA tensors)")
    timeout_s = _timeout_s(timeout)
    if b == "nccl":
        from .backends.nccl import require_gpu
        require_gpu(_ctx.nccl_hooks)   # fails at once without a GPU
    addr, port, rank, world_size = _parse_init_method(init_method, rank, world_size)

    comm = None
    if b != "nccl" or _under_mpiexec():
        from .backends.mpi import mpi
        MPI = mpi()
        cw = MPI.COMM_WORLD
        if cw.Get_size() > 1:
            if world_size < 0:
                world_size = cw.Get_size()
            if rank < 0:
                rank = cw.Get_rank()
            if world_size != cw.Get_size():
                raise RuntimeError(f"init_process_group: world_size={world_size} but mpiexec started "
                                   f"{cw.Get_size()} processes")
            comm = cw if rank == cw.Get_rank() else cw.Split(0, rank)
    if world_size < 0:
        world_size = 1 if rank <= 0 else -1
    if rank < 0:
        rank = 0 if world_size == 1 else -1
    if rank < 0 or world_size < 1:
        raise ValueError("init_process_group: rank and world_size are unknown: set RANK and WORLD_SIZE "
                         "(env://), pass rank= and world_size=, or start the processes with mpiexec")
    if not 0 <= rank < world_size:
        raise ValueError(f"init_process_group: rank {rank} is not in [0, {world_size})")

    if b != "nccl" and comm is None and world_size > 1:
        _require_mpiexec()  # before the store: a rank 0 that failed later would leave the others waiting on it

    # the store: given, at MASTER_ADDR:MASTER_PORT, or one that rank 0 opens and MPI announces
    if store is None:
        if addr is not None:
            store = TCPStore(addr, port, world_size, is_master=(rank == 0), timeout=timeout_s)
        elif world_size == 1:
            store = HashStore()
        elif comm is not None:
            host = socket.gethostname()
            if rank == 0:
                store = TCPStore(host, 0, world_size, is_master=True, timeout=timeout_s)
                info = (host, store.port)
            else:
                info = None
            info = comm.bcast(info, root=0)
            if rank != 0:
                store = TCPStore(info[0], info[1], world_size, timeout=timeout_s)
        else:
            raise ValueError("init_process_group: no store: set MASTER_ADDR and MASTER_PORT, "
                             "use init_method='tcp://host:port', or start the ranks with mpiexec")
    _ctx.store = store
    if isinstance(store, TCPStore):
        _ctx.monitor_addr = (store.host, store.port)

    if b != "nccl" and comm is None:
        if world_size == 1:
            comm = mpi().COMM_WORLD
        else:
            comm = _join_world(store, rank, world_size, timeout_s)
            _ctx.joined = True
    _ctx.mpi_world = comm

    diag.state.rank = rank
    diag.state.world_size = world_size
    diag.state.groups = {}
    diag.state.group_ranks = {}
    diag.state.abort_reason = None
    _ctx.debug = diag.debug_level()
    _ctx.backend = b
    pg = ProcessGroup(0, range(world_size), rank, "mpi" if b in ("mpi", "default") else "nccl",
                      timeout_s, group_name or "default_pg")
    _ctx.groups = [pg]
    if comm is not None and b != "nccl":
        from .backends.mpi import ProcessGroupMPI
        pg.mpi = ProcessGroupMPI(comm, pg.history, timeout_s, "default_pg", pg.ranks)
    pg.nccl_enabled = b == "nccl" or (b == "default" and _cuda_ok())
    if b == "nccl":
        pg.nccl  # create the communicator now (collective over the world)
    _ctx.world = pg
    GroupMember.WORLD = pg
    _group_ns.WORLD = pg

    if world_size > 1:
        if _ctx.monitor_addr is not None:
            h, p = _ctx.monitor_addr
            diag.start_monitor(lambda: TCPStore(h, p, timeout=timeout_s))
        if comm is not None:
            diag.state.abort_hook = comm.Abort
        diag.install_excepthook()


def _cuda_ok():
    try:
        from .backends.nccl import gpu_count
        return gpu_count(_ctx.nccl_hooks) > 0
    except Exception:
        return False


def _require_mpiexec():
    if not _under_mpiexec():
        raise RuntimeError(
            "init_process_group(backend='mpi'): this process was started without mpiexec, and MPICH "
            "cannot join such singleton processes into one MPI world (MPI_Comm_connect/accept fail). "
            "Start each rank under its own `mpiexec -n 1 python ...` (with RANK, WORLD_SIZE, "
            "MASTER_ADDR, MASTER_PORT set), or start all ranks with one `mpiexec -n N`.")


def _join_world(store, rank, world_size, timeout_s):
    """Join processes that each have their own one-process MPI world into one communicator.

    Rank 0 opens an MPI port and publishes it in the store; ranks connect one after another in
    rank order (each newcomer Connects and Merges, then takes part in the Accepts of the later
    ones); a final Split orders the ranks. Needs every rank started by `mpiexec -n 1` (MPICH
    singletons without a process manager cannot connect: they fail in MPI_Comm_connect).
    """
    from .backends.mpi import mpi
    MPI = mpi()
    _require_mpiexec()
    if rank == 0:
        port = MPI.Open_port()
        store.set("dt/mpi/port", port)
        comm = MPI.COMM_SELF
    else:
        port = store.get("dt/mpi/port", timeout=timeout_s).decode()
        if rank > 1:
            _store_wait(store, [f"dt/mpi/joined/{rank - 1}"], timeout_s,
                        f"rank {rank - 1} did not join the MPI world")
        store.set(f"dt/mpi/joining/{rank}", b"1")
        ic = MPI.COMM_SELF.Connect(port, root=0)
        comm = ic.Merge(high=True)
        ic.Disconnect()
    store.set(f"dt/mpi/joined/{rank}", b"1")
    while comm.Get_size() < world_size:
        nxt = comm.Get_size()
        _store_wait(store, [f"dt/mpi/joining/{nxt}"], timeout_s,
                    f"rank {nxt} did not join the MPI world (is it started under `mpiexec -n 1`?)")
        ic = comm.Accept(port, root=0)
        merged = ic.Merge(high=False)
        ic.Disconnect()
        if comm != MPI.COMM_SELF:
            comm.Free()
        comm = merged
    world = comm.Split(0, rank)
    if comm != MPI.COMM_SELF:
        comm.Free()
    if rank == 0:
        MPI.Close_port(port)
    return world


def _store_wait(store, keys, timeout_s, what):
    try:
        store.wait(keys, timeout=timeout_s)
    except RuntimeError as e:
        raise RuntimeError(f"init_process_group: {what} within {timeout_s:.0f}s ({e})") from None


def destroy_process_group(group=None):
    if _ctx.world is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    if group is not None and group is not _ctx.world:
        if group is not GroupMember.NON_GROUP_MEMBER:
            if group.mpi is not None:
                group.mpi.destroy()
            if group._nccl is not None:
                group._nccl.destroy()
        return
    diag.stop_monitor()
    diag.uninstall_excepthook()
    diag.state.abort_hook = None
    for g in _ctx.groups:
        if g is GroupMember.NON_GROUP_MEMBER or g is None:
            continue
        if g._nccl is not None:
            g._nccl.destroy()
        if g is not _ctx.world and g.mpi is not None:
            g.mpi.destroy()
    world = _ctx.world
    if world.mpi is not None and world.size() > 1:
        try:  # everyone leaves together, so rank 0's store outlives the others' last requests
            world.mpi._wait([world.mpi.comm.Ibarrier()], None, timeout=min(world.timeout, 60))
            if _ctx.joined:  # sever the Connect/Accept links so MPI_Finalize stays local
                world.mpi.comm.Disconnect()
        except Exception:
            pass
    _ctx.joined = False
    if diag.state.store is not None:
        try:
            diag.state.store.close()
        except Exception:
            pass
        diag.state.store = None
    if isinstance(_ctx.store, TCPStore):
        _ctx.store.close()
    _ctx.world = None
    _ctx.groups = []
    _ctx.store = None
    _ctx.mpi_world = None
    GroupMember.WORLD = None
    _group_ns.WORLD = None


# ---- groups ---------------------------------------------------------------------------------
def _world():
    w = _ctx.world
    if w is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return w


def _pg(group):
    if group is None or group is GroupMember.WORLD:
        return _world()
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    return group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A new group of the given global ranks (sorted). Every rank of the world must call it;
    ranks outside the group get GroupMember.NON_GROUP_MEMBER."""
    world = _world()
    ws = world.size()
    ranks = sorted(range(ws) if ranks is None else [int(r) for r in ranks])
    for r in ranks:
        if not 0 <= r < ws:
            raise ValueError(f"new_group: rank {r} is not in the world [0, {ws})")
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: duplicate ranks in {ranks}")
    gid = len(_ctx.groups)
    me = world.rank()
    b = world.backend_name if backend is None else ("mpi" if str(backend).lower() == "gloo"
                                                    else str(backend).lower())
    timeout_s = world.timeout if timeout is None else _timeout_s(timeout)
    comm = None
    if world.mpi is not None:
        from .backends.mpi import mpi
        MPI = mpi()
        # MPI's Split blocks: first meet in a barrier with a deadline, so a rank that never calls
        # new_group ends in a stall report instead of a hang
        rec = _start(world, "new_group", None, f"ranks={ranks}")
        world.mpi._wait([world.mpi.comm.Ibarrier()], rec)
        _done(world, rec)
        comm = world.mpi.comm.Split(0 if me in ranks else MPI.UNDEFINED, me)
    if me not in ranks:
        _ctx.groups.append(GroupMember.NON_GROUP_MEMBER)
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(gid, ranks, ranks.index(me), b, timeout_s, group_desc or f"group{gid}")
    if comm is not None and b != "nccl":
        from .backends.mpi import ProcessGroupMPI
        pg.mpi = ProcessGroupMPI(comm, pg.history, timeout_s, f"group{gid}", pg.ranks)
    pg.nccl_enabled = world.nccl_enabled
    _ctx.groups.append(pg)
    return pg


def new_subgroups(group_size=None, group=None, timeout=None, backend=None, pg_options=None):
    ws = get_world_size()
    group_size = group_size or 1
    if ws % group_size:
        raise ValueError(f"new_subgroups: world size {ws} is not divisible by group_size {group_size}")
    cur, groups = None, []
    for start in range(0, ws, group_size):
        g = new_group(list(range(start, start + group_size)), timeout=timeout, backend=backend)
        groups.append(g)
        if start <= get_rank() < start + group_size:
            cur = g
    return cur, groups


def get_rank(group=None):
    if _ctx.world is None:
        return -1 if group is not None else _raise_uninit()
    pg = _pg(group)
    return -1 if pg is None else pg.rank()


def _raise_uninit():
    raise ValueError("Default process group has not been initialized, please make sure to call "
                     "init_process_group.")


def get_world_size(group=None):
    if _ctx.world is None:
        _raise_uninit()
    pg = _pg(group)
    return -1 if pg is None else pg.size()


def get_backend(group=None):
    pg = _pg(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return Backend(pg.backend_name)


def get_global_rank(group, group_rank):
    pg = _pg(group)
    return pg.ranks[group_rank]


def get_group_rank(group, global_rank):
    pg = _pg(group)
    try:
        return pg.ranks.index(global_rank)
    except ValueError:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}") from None


def get_process_group_ranks(group):
    return list(_pg(group).ranks)


def get_node_local_rank(fallback_rank=None):
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if "MPI_LOCALRANKID" in os.environ:
        return int(os.environ["MPI_LOCALRANKID"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment")


def _root(pg, rank, group_rank, name):
    if group_rank is not None:
        if rank is not None and pg.ranks[group_rank] != rank:
            raise ValueError(f"{name}: give only one of the global rank and the group rank")
        return group_rank
    if rank is None:
        raise ValueError(f"{name}: a root rank is required")
    try:
        return pg.ranks.index(rank)
    except ValueError:
        raise ValueError(f"{name}: global rank {rank} is not part of group {pg.ranks}") from None


# ---- the collectives ----------------------------------------------------------------------------
def _start(pg, op, t, extra="", check=True, shape_must_match=True):
    """Record a collective (and in DETAIL mode check that every rank agrees on it)."""
    h = pg.history
    if t is not None:
        a = t._data
        rec = h.start(op, a.shape, a.dtype, extra)  # the dtype object: its name is formatted lazily
    else:
        rec = h.start(op, None, None, extra)
    h.inflight = rec
    diag.check_abort()
    if _ctx.debug == "DETAIL" and check and pg.size() > 1:
        _check_agreement(pg, rec, shape_must_match)
    return rec


def _check_agreement(pg, rec, shape_must_match):
    mine = (rec.op, rec.shape if shape_must_match else None, diag._dtname(rec.dtype), rec.extra)
    data = pickle.dumps(mine)
    impl = pg.cpu_impl()
    if hasattr(impl, "allgather_small") and len(data) <= 480:
        rows = impl.allgather_small(data, 512, None)
        theirs = [pickle.loads(r) for r in rows]
    else:
        theirs = [pickle.loads(b) for b in impl.allgather_bytes(data, None)]
    for r, t in enumerate(theirs):
        if t != mine:
            def fmt(x):
                s = f"{x[0]}"
                parts = []
                if x[1] is not None:
                    parts.append(f"shape={tuple(x[1])}")
                if x[2] is not None:
                    parts.append(f"dtype={x[2]}")
                if x[3]:
                    parts.append(str(x[3]))
                return s + "(" + ", ".join(parts) + ")"
            me = pg.rank()
            raise diag.CollectiveMismatchError(
                f"Detected mismatch between collectives on ranks. Rank {pg.ranks[me]} is running "
                f"collective #{rec.seq}: {fmt(mine)}, but Rank {pg.ranks[r]} is running collective: "
                f"{fmt(t)} (process group {pg.gid}, ranks {pg.ranks}; {diag.DEBUG_ENV}=DETAIL)")


def _finish(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def _check_tensor(t, name):
    if not hasattr(t, "_data"):
        raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")


def _warn_non_member(name):
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return _warn_non_member("all_reduce")
    op = to_op(op)
    rec = _start(pg, "all_reduce", tensor, f"op={op.name}")
    return _finish(pg.impl(tensor).allreduce(tensor, op, rec), async_op)


def all_reduce_coalesced(tensors, op=ReduceOp.SUM, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    op = to_op(op)
    rec = _start(pg, "all_reduce_coalesced", tensors[0], f"op={op.name}", shape_must_match=False)
    return _finish(pg.impl(tensors[0]).allreduce_coalesced(list(tensors), op, rec), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    pg = _pg(group)
    if pg is None:
        return None
    root = _root(pg, src, group_src, "broadcast")
    rec = _start(pg, "broadcast", tensor, f"src={pg.ranks[root]}")
    return _finish(pg.impl(tensor).broadcast(tensor, root, rec), async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    pg = _pg(group)
    if pg is None:
        return None
    root = _root(pg, dst, group_dst, "reduce")
    op = to_op(op)
    rec = _start(pg, "reduce", tensor, f"dst={pg.ranks[root]}, op={op.name}")
    return _finish(pg.impl(tensor).reduce(tensor, root, op, rec), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    if len(tensor_list) != pg.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, expected the group "
                         f"size {pg.size()}")
    rec = _start(pg, "all_gather", tensor)
    impl = pg.impl(tensor)
    sizes = {o._data.size for o in tensor_list}
    if len(sizes) == 1 and sizes.pop() == tensor._data.size:
        w = impl.allgather(tensor_list, tensor, rec)
    else:
        w = impl.allgather_v(tensor_list, tensor, rec)
    return _finish(w, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    rec = _start(pg, "all_gather_into_tensor", input_tensor)
    return _finish(pg.impl(input_tensor).allgather_base(output_tensor, input_tensor, rec), async_op)


_all_gather_base = all_gather_into_tensor


def all_gather_coalesced(output_tensor_lists, input_tensor_list, group=None, async_op=False):
    works = [all_gather(o, i, group, async_op=True) for o, i in zip(output_tensor_lists, input_tensor_list)]
    return _finish(_MultiWork(works), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    if len(input_list) != pg.size():
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, expected the group "
                         f"size {pg.size()}")
    op = to_op(op)
    rec = _start(pg, "reduce_scatter", output, f"op={op.name}")
    return _finish(pg.impl(output).reduce_scatter(output, list(input_list), op, rec), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    op = to_op(op)
    rec = _start(pg, "reduce_scatter_tensor", input, f"op={op.name}")
    return _finish(pg.impl(output).reduce_scatter_base(output, input, op, rec), async_op)


_reduce_scatter_base = reduce_scatter_tensor


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    pg = _pg(group)
    if pg is None:
        return None
    if dst is None and group_dst is None:
        dst = 0
    root = _root(pg, dst, group_dst, "gather")
    if pg.rank() == root:
        if gather_list is None or len(gather_list) != pg.size():
            raise ValueError(f"gather: on the destination rank, gather_list must hold {pg.size()} tensors")
    elif gather_list:
        raise ValueError("gather: gather_list must be None or empty on non-destination ranks")
    rec = _start(pg, "gather", tensor, f"dst={pg.ranks[root]}")
    return _finish(pg.impl(tensor).gather(tensor, gather_list, root, rec), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    pg = _pg(group)
    if pg is None:
        return None
    if src is None and group_src is None:
        src = 0
    root = _root(pg, src, group_src, "scatter")
    if pg.rank() == root:
        if scatter_list is None or len(scatter_list) != pg.size():
            raise ValueError(f"scatter: on the source rank, scatter_list must hold {pg.size()} tensors")
    elif scatter_list:
        raise ValueError("scatter: scatter_list must be None or empty on non-source ranks")
    rec = _start(pg, "scatter", tensor, f"src={pg.ranks[root]}")
    return _finish(pg.impl(tensor).scatter(tensor, scatter_list, root, rec), async_op)


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    n = pg.size()
    if len(output_tensor_list) != n or len(input_tensor_list) != n:
        raise ValueError(f"all_to_all: both lists must hold the group size {n} tensors")
    rec = _start(pg, "all_to_all", input_tensor_list[0], shape_must_match=False)
    return _finish(pg.impl(input_tensor_list[0]).alltoall(list(output_tensor_list),
                                                          list(input_tensor_list), rec), async_op)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    pg = _pg(group)
    if pg is None:
        return None
    rec = _start(pg, "all_to_all_single", input,
                 shape_must_match=not (output_split_sizes or input_split_sizes))
    return _finish(pg.impl(input).alltoall_base(output, input, output_split_sizes, input_split_sizes, rec),
                   async_op)


def barrier(group=None, async_op=False, device_ids=None):
    pg = _pg(group)
    if pg is None:
        return None
    rec = _start(pg, "barrier", None)
    return _finish(pg.cpu_impl().barrier(rec), async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier that fails (naming the ranks that did not arrive) after `timeout`."""
    pg = _pg(group)
    if pg is None:
        return None
    rec = _start(pg, "monitored_barrier", None)
    impl = pg.cpu_impl()
    w = impl.barrier(rec)
    t = pg.timeout if timeout is None else _timeout_s(timeout)
    try:
        w.wait(timeout=t)
    except diag.DistBackendError as e:
        raise diag.DistBackendError(f"monitored_barrier: {e}") from None


# ---- point to point -------------------------------------------------------------------------------
def _peer(pg, rank, group_rank, name):
    return _root(pg, rank, group_rank, name)


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    pg = _pg(group)
    if pg is None:
        return None
    peer = _peer(pg, dst, group_dst, "isend")
    rec = _start(pg, "send", tensor, f"dst={pg.ranks[peer]}", check=False)
    pg.history.seq -= 1  # point-to-point is not part of the collective sequence
    rec.seq = f"p2p->{pg.ranks[peer]}"
    return pg.impl(tensor).send(tensor, peer, tag, rec)


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    pg = _pg(group)
    if pg is None:
        return None
    peer = None if src is None and group_src is None else _peer(pg, src, group_src, "irecv")
    rec = _start(pg, "recv", tensor, f"src={'any' if peer is None else pg.ranks[peer]}", check=False)
    pg.history.seq -= 1
    rec.seq = f"p2p<-{'any' if peer is None else pg.ranks[peer]}"
    return pg.impl(tensor).recv(tensor, peer, tag, rec)


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    w = isend(tensor, dst, group, tag, group_dst)
    if w is not None:
        w.wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Returns the sender's global rank (useful with src=None)."""
    w = irecv(tensor, src, group, tag, group_src)
    if w is None:
        return -1
    w.wait()
    return w.source_rank() if src is None and group_src is None else (
        src if src is not None else _pg(group).ranks[group_src])


class P2POp:
    """torch.distributed.P2POp(op, tensor, peer, group=None, tag=0)."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv, send, recv):
            raise ValueError("P2POp: op must be isend or irecv")
        self.op = isend if op in (isend, send) else irecv
        self.tensor, self.peer, self.group, self.tag, self.group_peer = tensor, peer, group, tag, group_peer


def batch_isend_irecv(p2p_op_list):
    """Start every send/recv together (NCCL: inside one groupStart/groupEnd); returns works."""
    if not p2p_op_list:
        return []
    pg = _pg(p2p_op_list[0].group)
    t0 = p2p_op_list[0].tensor
    impl = pg.impl(t0)
    if hasattr(impl, "group_start"):
        impl.group_start()
        try:
            works = [_p2p(p) for p in p2p_op_list]
        finally:
            impl.group_end()
        return works
    return [_p2p(p) for p in p2p_op_list]


def _p2p(p):
    if p.op is isend:
        return isend(p.tensor, p.peer, p.group, p.tag, group_dst=p.group_peer)
    return irecv(p.tensor, p.peer, p.group, p.tag, group_src=p.group_peer)


class _MultiWork(Work):
    def __init__(self, works):
        self.works = [w for w in works if w is not None]

    def wait(self, timeout=None):
        for w in self.works:
            w.wait(timeout)
        return True

    def is_completed(self):
        return all(w.is_completed() for w in self.works)

    def result(self):
        out = []
        for w in self.works:
            out.extend(w.result())
        return out


# ---- object collectives (pickles) -------------------------------------------------------------------
def _dumps(obj):
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def all_gather_object(object_list, obj, group=None):
    pg = _pg(group)
    if pg is None:
        return None
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list must have the group size {pg.size()}")
    rec = _start(pg, "all_gather_object", None, check=False)
    parts = pg.cpu_impl().allgather_bytes(_dumps(obj), rec)
    _done(pg, rec)
    for i, p in enumerate(parts):
        object_list[i] = pickle.loads(p)


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    pg = _pg(group)
    if pg is None:
        return None
    if dst is None and group_dst is None:
        dst = 0
    root = _root(pg, dst, group_dst, "gather_object")
    if pg.rank() == root and (object_gather_list is None or len(object_gather_list) != pg.size()):
        raise ValueError(f"gather_object: object_gather_list must have the group size {pg.size()} on "
                         "the destination rank")
    rec = _start(pg, "gather_object", None, f"dst={pg.ranks[root]}", check=False)
    parts = pg.cpu_impl().gather_bytes(_dumps(obj), root, rec)
    _done(pg, rec)
    if pg.rank() == root:
        for i, p in enumerate(parts):
            object_gather_list[i] = pickle.loads(p)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    pg = _pg(group)
    if pg is None:
        return None
    if src is None and group_src is None:
        src = 0
    root = _root(pg, src, group_src, "broadcast_object_list")
    rec = _start(pg, "broadcast_object_list", None, f"src={pg.ranks[root]}", check=False)
    data = pg.cpu_impl().bcast_bytes(_dumps(list(object_list)) if pg.rank() == root else b"", root, rec)
    _done(pg, rec)
    if pg.rank() != root:
        objs = pickle.loads(data)
        if len(objs) != len(object_list):
            raise ValueError(f"broadcast_object_list: the source sent {len(objs)} objects, this rank's "
                             f"list has {len(object_list)}")
        object_list[:] = objs


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None):
    pg = _pg(group)
    if pg is None:
        return None
    if src is None and group_src is None:
        src = 0
    root = _root(pg, src, group_src, "scatter_object_list")
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("scatter_object_list: scatter_object_output_list must be a list of length >= 1")
    parts = None
    if pg.rank() == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != pg.size():
            raise ValueError(f"scatter_object_list: the source needs {pg.size()} input objects")
        parts = [_dumps(o) for o in scatter_object_input_list]
    rec = _start(pg, "scatter_object_list", None, f"src={pg.ranks[root]}", check=False)
    data = pg.cpu_impl().scatter_bytes(parts, root, rec)
    _done(pg, rec)
    scatter_object_output_list[0] = pickle.loads(data)


def _done(pg, rec):
    rec.state = "done"
    if pg.history.inflight is rec:
        pg.history.inflight = None


# ---- misc -------------------------------------------------------------------------------------------
def get_debug_level():
    return _ctx.debug if _ctx.world is not None else diag.debug_level()


def set_debug_level(level):
    _ctx.debug = str(level).upper()


def set_debug_level_from_env():
    _ctx.debug = diag.debug_level()


def _set_nccl_hooks(nccl_module, cupy_module):
    """Tests: use a fake NCCL module and a fake CuPy (recording communicator)."""
    _ctx.nccl_hooks = None if nccl_module is None else (nccl_module, cupy_module)
