"""Rank 1 raises before a collective; rank 0 waits in all_reduce: the job must end at once."""
import sys
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group("mpi")
R = dist.get_rank()
dist.barrier()
if R == 1:
    raise ValueError("boom on rank 1")
dist.all_reduce(torch.ones(4))
dist.all_reduce(torch.ones(4))
print("UNREACHABLE", flush=True)
