"""All-reduce bus bandwidth on 2 ranks: disttensor (mpi backend) vs raw mpi4py vs PyTorch gloo.

Run:  .venv/bin/mpiexec -n 2 .venv/bin/python benchmarks/bench_allreduce.py [--sizes 1,16,64] [--iters N]

All three run in the same mpiexec job, interleaved round by round (so load from other processes
hits them alike); the figure is the median over rounds. Bus bandwidth = 2 (n-1)/n * bytes / time,
NCCL-tests' convention. Also measured: float16/bfloat16 reductions with the user-defined MPI op
(disttensor's choice) against upcasting to float32 buffers.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ml_dtypes  # noqa: E402
from mpi4py import MPI  # noqa: E402

import disttensor as dt  # noqa: E402
import disttensor.distributed as dist  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,16,64")
    ap.add_argument("--iters", type=int, default=0, help="iterations per round (0: by size)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--halves", action="store_true", help="also time fp16/bf16 user op vs upcast")
    a = ap.parse_args()

    comm = MPI.COMM_WORLD
    rank, n = comm.Get_rank(), comm.Get_size()
    dist.init_process_group("mpi")
    tdist = None
    if not a.no_torch:
        import socket
        import torch
        import torch.distributed as tdist
        torch.set_num_threads(1)
        port = None
        if rank == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        port = comm.bcast(port, root=0)
        tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n)

    def timed(fn, iters):
        fn()  # warm-up
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        comm.Barrier()
        return (time.perf_counter() - t0) / iters

    rows = []
    for mib in [int(s) for s in a.sizes.split(",")]:
        count = mib * 2**20 // 4
        iters = a.iters or max(3, min(50, 256 // mib))
        raw = np.ones(count, np.float32)
        ours = dt.ones(count)
        variants = {
            "mpi4py Allreduce (raw)": lambda: comm.Allreduce(MPI.IN_PLACE, raw),
            "disttensor all_reduce": lambda: dist.all_reduce(ours),
        }
        if tdist is not None:
            tt = torch.ones(count)
            variants["torch gloo all_reduce"] = lambda: tdist.all_reduce(tt)
        times = {k: [] for k in variants}
        for _ in range(a.rounds):
            for k, fn in variants.items():
                times[k].append(timed(fn, iters))
        nbytes = count * 4
        for k, ts in times.items():
            t = statistics.median(ts)
            busbw = 2 * (n - 1) / n * nbytes / t / 1e9
            rows.append((mib, k, t * 1e3, busbw))
    if rank == 0:
        print(f"all_reduce float32, {n} ranks, median of {a.rounds} rounds")
        print(f"{'MiB':>4}  {'variant':<26} {'ms':>9} {'busbw GB/s':>11} {'vs raw':>7}")
        raw_bw = {m: bw for m, k, t, bw in rows if k.startswith("mpi4py")}
        for mib, k, t, bw in rows:
            print(f"{mib:>4}  {k:<26} {t:>9.3f} {bw:>11.2f} {bw / raw_bw[mib] * 100:>6.0f}%")

    if a.halves:
        def up(x):
            f = x.astype(np.float32)
            comm.Allreduce(MPI.IN_PLACE, f)
            x[...] = f
        for mib in (1, 16):
            out = []
            for npdt, name in ((np.float16, "float16"), (ml_dtypes.bfloat16, "bfloat16")):
                count = mib * 2**20 // 2
                x = dt.from_numpy(np.zeros(count, npdt))
                y = np.zeros(count, npdt)
                iters = max(3, 64 // mib)
                t_user = statistics.median(timed(lambda: dist.all_reduce(x), iters) for _ in range(3))
                t_up = statistics.median(timed(lambda: up(y), iters) for _ in range(3))
                out.append((name, t_user * 1e3, t_up * 1e3))
            if rank == 0:
                for name, tu, tp in out:
                    print(f"{mib:>4} MiB {name:<9} user-defined MPI op {tu:8.3f} ms   upcast to float32 {tp:8.3f} ms")
    if tdist is not None:
        tdist.destroy_process_group()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
