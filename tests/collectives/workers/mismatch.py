"""DISTTENSOR_DEBUG=DETAIL: mismatched collectives raise on both ranks, naming both sides."""
import sys
import disttensor as torch
import disttensor.distributed as dist

dist.init_process_group("mpi")
R = dist.get_rank()
dist.all_reduce(torch.ones(3))  # agreeing collective passes the check
case = sys.argv[1]
try:
    if case == "shape":
        dist.all_reduce(torch.ones(4 + R))
    elif case == "dtype":
        dist.all_reduce(torch.ones(4, dtype=torch.float32 if R == 0 else torch.float64))
    elif case == "op":
        if R == 0:
            dist.all_reduce(torch.ones(4))
        else:
            dist.broadcast(torch.ones(4), src=0)
except dist.CollectiveMismatchError as e:
    print(f"rank {R}: MISMATCH {e}", flush=True)
    dist.destroy_process_group()
    sys.exit(0)
print(f"rank {R}: no error", flush=True)
sys.exit(3)
