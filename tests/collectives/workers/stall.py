"""Rank 1 skips the second all_reduce: rank 0 must fail within the timeout naming rank 1."""
import time
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group("mpi")
R = dist.get_rank()
t = torch.ones(8)
dist.all_reduce(t)
dist.broadcast(t, 0)
if R != 1:
    dist.all_reduce(torch.ones(16, 4))   # rank 1 never arrives
else:
    time.sleep(60)                       # busy elsewhere, not in a collective
print("UNREACHABLE", flush=True)
