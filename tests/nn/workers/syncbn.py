"""Run under `mpiexec -n 2`: SyncBatchNorm on each rank's half of a batch must equal BatchNorm on the
whole batch in one process (outputs, input gradients, summed parameter gradients, running stats)."""
import sys

import numpy as np

import disttensor as dt
import disttensor.distributed as dist
import disttensor.nn as nn


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * world, 3, 5, 5)) * 2 + 1
    gy = rng.standard_normal(x.shape)
    lo, hi = rank * 4, (rank + 1) * 4
    dt.manual_seed(0)
    ref = nn.BatchNorm2d(3).double()
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3))).double()
    sd = ref.state_dict()
    sd["weight"] = dt.tensor(rng.standard_normal(3))
    ref.load_state_dict(sd)
    sync[0].load_state_dict(sd)
    for step in range(2):
        xr = dt.tensor(x, requires_grad=True)
        yr = ref(xr)
        (yr * dt.tensor(gy)).sum().backward()
        xs = dt.tensor(x[lo:hi], requires_grad=True)
        ys = sync(xs)
        (ys * dt.tensor(gy[lo:hi])).sum().backward()
        np.testing.assert_allclose(ys.detach().numpy(), yr.detach().numpy()[lo:hi], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xs.grad.numpy(), xr.grad.numpy()[lo:hi], rtol=1e-9, atol=1e-12)
        for p, q in zip(ref.parameters(), sync.parameters()):
            g = q.grad.detach().clone()
            dist.all_reduce(g)
            np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-12)
        for a, b in zip(ref.buffers(), sync.buffers()):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-12)
        ref.zero_grad()
        sync.zero_grad()
    sync.eval()
    ref.eval()
    np.testing.assert_allclose(sync(dt.tensor(x[lo:hi])).detach().numpy(), ref(dt.tensor(x)).detach().numpy()[lo:hi],
                               rtol=1e-10)
    dist.barrier()
    print(f"rank {rank} ALL OK", flush=True)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
