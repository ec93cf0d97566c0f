"""DistributedSampler: each rank reads its own slice of (optionally shuffled) indices, PyTorch's semantics.

Shuffling reproduces PyTorch's permutation exactly: PyTorch seeds an mt19937 with `seed + epoch` and runs
its Fisher-Yates `randperm`; we run the same algorithm on NumPy's MT19937 with the same 32-bit seeding,
so a job that switches between the two libraries keeps the same data order per rank and epoch.
"""
import math

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _torch_randperm(n, seed):
    """torch.randperm(n, generator=torch.Generator().manual_seed(seed)) for n < 2**32 / 20, on CPU."""
    bg = np.random.MT19937(0)
    bg._legacy_seeding(int(seed) & 0xFFFFFFFF)
    perm = np.arange(n, dtype=np.int64)
    if n > 1:
        raw = bg.random_raw(n - 1)
        for i in range(n - 1):
            z = int(raw[i]) % (n - i) + i
            perm[i], perm[z] = perm[z], perm[i]
    return perm


def _dist_world():
    try:
        from ... import distributed as dist
    except ImportError as e:
        raise RuntimeError(f"Requires distributed package to be available ({e})") from None
    if not dist.is_available():
        raise RuntimeError("Requires distributed package to be available")
    if not dist.is_initialized():
        raise RuntimeError("DistributedSampler: num_replicas/rank were not given and the default process group is "
                           "not initialized; call disttensor.distributed.init_process_group() first or pass "
                           "num_replicas and rank")
    return dist


class DistributedSampler(Sampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = _dist_world().get_world_size()
        if rank is None:
            rank = _dist_world().get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = _torch_randperm(n, self.seed + self.epoch).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        self.epoch = epoch
