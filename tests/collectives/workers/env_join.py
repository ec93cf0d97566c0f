"""Ranks started one by one with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT only (env://)."""
import os
import numpy as np
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group(backend="mpi", init_method="env://")
R, N = dist.get_rank(), dist.get_world_size()
assert R == int(os.environ["RANK"]) and N == int(os.environ["WORLD_SIZE"]), (R, N)
t = torch.full((1000,), float(R + 1)); dist.all_reduce(t)
np.testing.assert_allclose(t.numpy(), N * (N + 1) / 2)
t = torch.full((4,), float(R)); dist.broadcast(t, src=N - 1)
np.testing.assert_allclose(t.numpy(), N - 1)
objs = [None] * N; dist.all_gather_object(objs, os.getpid())
assert len(set(objs)) == N
g = dist.new_group([0, N - 1])
if R in (0, N - 1):
    t = torch.ones(2); dist.all_reduce(t, group=g); np.testing.assert_allclose(t.numpy(), 2)
# the TCP store is PyTorch's TCPStore look-alike
st = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
assert st.add("test/counter", 1) >= 1
dist.barrier()
assert int(st.get("test/counter")) == N
print(f"rank {R}: ALL OK", flush=True)
dist.destroy_process_group()
