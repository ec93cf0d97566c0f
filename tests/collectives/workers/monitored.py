"""monitored_barrier: rank 1 is late; rank 0's barrier fails after its timeout naming rank 1."""
import os
import sys
import time
from datetime import timedelta
import disttensor.distributed as dist

dist.init_process_group("mpi")
R = dist.get_rank()
dist.monitored_barrier(timeout=timedelta(seconds=30))  # everyone on time: passes
if R == 0:
    try:
        dist.monitored_barrier(timeout=timedelta(seconds=2))
        print("rank 0: passed?", flush=True)
    except RuntimeError as e:
        print(f"rank 0: CAUGHT {e}", flush=True)
    sys.stdout.flush()
    os._exit(0)
else:
    time.sleep(6)
    os._exit(0)
