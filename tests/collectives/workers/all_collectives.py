"""Every collective on every rank, checked against NumPy. Prints 'ALL OK' per rank."""
import sys
import numpy as np
import ml_dtypes
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group("mpi")
R, N = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"
NP = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64, torch.int32: np.int32,
      torch.int8: np.int8, torch.uint8: np.uint8, torch.int16: np.int16, torch.bfloat16: ml_dtypes.bfloat16,
      torch.float16: np.float16, torch.bool: np.bool_, torch.complex64: np.complex64}


def val(rank, shape, dt):
    k = int(np.prod(shape))
    base = (np.arange(k) % 5 + rank + 1).reshape(shape)
    if dt is torch.bool:
        return (base + rank) % 2 == 0
    if dt is torch.complex64:
        return (base + 1j * (rank + 1)).astype(np.complex64)
    return base.astype(NP[dt])


def T(a):
    return torch.from_numpy(np.array(a))


def close(t, ref, what):
    got = t.numpy() if hasattr(t, "numpy") else t
    ref = np.asarray(ref)
    if got.dtype == ml_dtypes.bfloat16 or got.dtype == np.float16:
        got, ref = got.astype(np.float32), ref.astype(np.float32)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0, err_msg=f"rank {R}: {what}")


RED = {dist.ReduceOp.SUM: lambda xs: np.sum(xs, axis=0), dist.ReduceOp.PRODUCT: lambda xs: np.prod(xs, axis=0),
       dist.ReduceOp.MIN: lambda xs: np.min(xs, axis=0), dist.ReduceOp.MAX: lambda xs: np.max(xs, axis=0)}

# all_reduce: every dtype, every op; in place on the tensor's own array
for dt in (torch.float32, torch.float64, torch.int64, torch.int32, torch.int8, torch.uint8, torch.int16,
           torch.bfloat16, torch.float16):
    for op, f in RED.items():
        xs = [val(r, (3, 4), dt) for r in range(N)]
        t = T(xs[R])
        arr = t._data
        dist.all_reduce(t, op=op)
        assert t._data is arr, "all_reduce must work in place"
        ref = f(np.stack([x.astype(np.float64) for x in xs])).astype(NP[dt])
        close(t, ref, f"all_reduce {dt} {op.name}")
xs = [val(r, (6,), torch.float32) for r in range(N)]
t = T(xs[R]); dist.all_reduce(t, op=dist.ReduceOp.AVG); close(t, np.mean(xs, 0), "all_reduce AVG")
t = T(val(R, (5,), torch.bfloat16)); dist.all_reduce(t, op=dist.ReduceOp.AVG)
close(t, np.mean([val(r, (5,), torch.bfloat16).astype(np.float32) for r in range(N)], 0), "AVG bf16")
b = [val(r, (4,), torch.bool) for r in range(N)]
t = T(b[R]); dist.all_reduce(t); close(t, np.any(b, 0), "all_reduce bool SUM (or)")
t = T(b[R]); dist.all_reduce(t, op=dist.ReduceOp.MIN); close(t, np.all(b, 0), "all_reduce bool MIN (and)")
c = [val(r, (3,), torch.complex64) for r in range(N)]
t = T(c[R]); dist.all_reduce(t); close(t, np.sum(c, 0), "all_reduce complex64")
# non-contiguous tensor: staged and written back
base = T(np.zeros((4, 6), np.float32) + R + 1)
view = base[:, ::2]
dist.all_reduce(view)
close(base, np.where(np.arange(6) % 2 == 0, sum(range(1, N + 1)), R + 1) * np.ones((4, 1)), "strided all_reduce")
# version counter bumped (in-place modification is visible to autograd checks)
t = T(np.ones(2, np.float32)); v = t._version; dist.all_reduce(t); assert t._version == v + 1

# broadcast from every root
for src in range(N):
    for dt in (torch.float32, torch.bfloat16, torch.int64, torch.bool):
        t = T(val(R, (2, 3), dt)); dist.broadcast(t, src=src); close(t, val(src, (2, 3), dt), f"broadcast {dt} {src}")

# reduce to each root
for dst in range(N):
    xs = [val(r, (5,), torch.float32) for r in range(N)]
    t = T(xs[R]); dist.reduce(t, dst=dst, op=dist.ReduceOp.MAX)
    if R == dst:
        close(t, np.max(xs, 0), "reduce MAX")
    t = T(val(R, (5,), torch.float16)); dist.reduce(t, dst, op=dist.ReduceOp.SUM)
    if R == dst:
        close(t, np.sum([val(r, (5,), torch.float16).astype(np.float32) for r in range(N)], 0), "reduce fp16")

# all_gather (list), all_gather_into_tensor (flat and stacked, and in place from a slot of the output)
for dt in (torch.float32, torch.int32, torch.bfloat16):
    out = [torch.zeros(3, 2, dtype=dt) for _ in range(N)]
    dist.all_gather(out, T(val(R, (3, 2), dt)))
    for r in range(N):
        close(out[r], val(r, (3, 2), dt), f"all_gather {dt}")
    o = torch.zeros(N * 3, 2, dtype=dt)
    arr = o._data
    dist.all_gather_into_tensor(o, T(val(R, (3, 2), dt)))
    assert o._data is arr
    close(o, np.concatenate([val(r, (3, 2), dt) for r in range(N)]), "all_gather_into_tensor")
o = torch.zeros(N, 4)
o[R] = T(val(R, (4,), torch.float32))
dist.all_gather_into_tensor(o, o[R])
close(o, np.stack([val(r, (4,), torch.float32) for r in range(N)]), "all_gather_into_tensor in place")
# uneven all_gather
out = [torch.zeros(r + 1) for r in range(N)]
dist.all_gather(out, torch.full((R + 1,), float(R)))
for r in range(N):
    close(out[r], np.full(r + 1, float(r)), "uneven all_gather")

# reduce_scatter (list) and reduce_scatter_tensor
xs = [val(r, (N * 4,), torch.float32) for r in range(N)]
full = np.sum(xs, 0)
o = torch.zeros(4); dist.reduce_scatter_tensor(o, T(xs[R])); close(o, full[R * 4:(R + 1) * 4], "reduce_scatter_tensor")
o = torch.zeros(4); dist.reduce_scatter_tensor(o, T(xs[R]), op=dist.ReduceOp.AVG)
close(o, full[R * 4:(R + 1) * 4] / N, "reduce_scatter_tensor AVG")
o = torch.zeros(4); dist.reduce_scatter(o, [T(xs[R][i * 4:(i + 1) * 4]) for i in range(N)])
close(o, full[R * 4:(R + 1) * 4], "reduce_scatter list")
xb = [val(r, (N * 2,), torch.bfloat16) for r in range(N)]
o = torch.zeros(2, dtype=torch.bfloat16); dist.reduce_scatter_tensor(o, T(xb[R]))
close(o, np.sum([x.astype(np.float32) for x in xb], 0)[R * 2:(R + 1) * 2], "reduce_scatter_tensor bf16")

# uneven reduce_scatter (list of different sizes): rank r receives the sum of everybody's input r
ins = [torch.full((r + 1,), float(R + 1)) for r in range(N)]
o = torch.zeros(R + 1); dist.reduce_scatter(o, ins); close(o, np.full(R + 1, N * (N + 1) / 2), "uneven reduce_scatter")
# integer AVG floors, like integer division
t = T(np.array([R * 3 + 1], np.int64)); dist.all_reduce(t, op=dist.ReduceOp.AVG)
close(t, [sum(r * 3 + 1 for r in range(N)) // N], "int AVG")
# futures: then() runs when waited on
t = torch.ones(4)
fut = dist.all_reduce(t, async_op=True).get_future().then(lambda f: f.value()[0].sum().item())
assert fut.wait() == 4 * N

# gather / scatter
for root in range(N):
    gl = [torch.zeros(3) for _ in range(N)] if R == root else None
    dist.gather(T(val(R, (3,), torch.float32)), gl, dst=root)
    if R == root:
        for r in range(N):
            close(gl[r], val(r, (3,), torch.float32), "gather")
    sl = [T(val(r + 10, (2,), torch.float32)) for r in range(N)] if R == root else None
    t = torch.zeros(2); dist.scatter(t, sl, src=root); close(t, val(R + 10, (2,), torch.float32), "scatter")

# all_to_all_single (even and with splits), all_to_all (lists of different sizes)
inp = T(np.arange(N * 2, dtype=np.float32) + 100 * R)
out = torch.zeros(N * 2)
dist.all_to_all_single(out, inp)
close(out, np.concatenate([np.arange(R * 2, R * 2 + 2) + 100 * r for r in range(N)]), "all_to_all_single")
# rank r sends (s + 1) rows to rank s
in_splits = [s + 1 for s in range(N)]
out_splits = [R + 1] * N
inp = T(np.concatenate([np.full((s + 1, 2), 10 * R + s, np.float32) for s in range(N)]))
out = torch.zeros(sum(out_splits), 2)
dist.all_to_all_single(out, inp, out_splits, in_splits)
close(out, np.concatenate([np.full((R + 1, 2), 10 * r + R, np.float32) for r in range(N)]), "all_to_all_single splits")
ins = [torch.full((s + 1,), float(10 * R + s)) for s in range(N)]
outs = [torch.zeros(R + 1) for _ in range(N)]
dist.all_to_all(outs, ins)
for r in range(N):
    close(outs[r], np.full(R + 1, float(10 * r + R)), "all_to_all")

# point to point: ring
nxt, prv = (R + 1) % N, (R - 1) % N
t = torch.full((3,), float(R)); buf = torch.zeros(3)
reqs = [dist.isend(t, nxt), dist.irecv(buf, prv)]
for w in reqs:
    w.wait()
close(buf, np.full(3, float(prv)), "isend/irecv ring")
if R == 0:
    dist.send(torch.full((2,), 7.0), dst=N - 1, tag=3)
if R == N - 1:
    b = torch.zeros(2); src = dist.recv(b, tag=3); close(b, [7, 7], "recv any source"); assert src == 0, src
ops = [dist.P2POp(dist.isend, torch.full((2,), float(R)), nxt), dist.P2POp(dist.irecv, buf2 := torch.zeros(2), prv)]
for w in dist.batch_isend_irecv(ops):
    w.wait()
close(buf2, np.full(2, float(prv)), "batch_isend_irecv")

# async handles on every collective kind
t = torch.ones(1000); w = dist.all_reduce(t, async_op=True)
w.wait(); assert w.is_completed(); close(t, np.full(1000, N), "async all_reduce")
o = torch.zeros(N, 2); w = dist.all_gather_into_tensor(o, torch.full((2,), float(R)), async_op=True); w.wait()
close(o, np.repeat(np.arange(N, dtype=np.float32)[:, None], 2, 1), "async all_gather_into_tensor")
w = dist.broadcast(t, 0, async_op=True); w.wait()
w = dist.barrier(async_op=True); w.wait()
dist.barrier()
dist.monitored_barrier()

# object collectives
objs = [None] * N
dist.all_gather_object(objs, {"rank": R, "data": list(range(R))})
assert objs == [{"rank": r, "data": list(range(r))} for r in range(N)], objs
lst = [R, "x" * R, None] if R == 1 else [0, 0, 0]
dist.broadcast_object_list(lst, src=1)
assert lst == [1, "x", None], lst
g = [None] * N if R == 0 else None
dist.gather_object(("g", R), g, dst=0)
if R == 0:
    assert g == [("g", r) for r in range(N)], g
out = [None]
dist.scatter_object_list(out, [{"to": r} for r in range(N)] if R == 0 else None, src=0)
assert out[0] == {"to": R}, out

# ranks and groups
assert dist.get_process_group_ranks(dist.GroupMember.WORLD) == list(range(N))
print(f"rank {R}: ALL OK", flush=True)
dist.destroy_process_group()
assert not dist.is_initialized()
