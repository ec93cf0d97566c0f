"""disttensor.utils.data: datasets, samplers, DataLoader (worker processes), DistributedSampler."""
from .dataset import (Dataset, IterableDataset, TensorDataset, StackDataset, ConcatDataset, ChainDataset,  # noqa
                      Subset, random_split)
from .sampler import (Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,  # noqa
                      BatchSampler)
from .distributed import DistributedSampler  # noqa: F401
from .dataloader import DataLoader, get_worker_info, default_collate, default_convert  # noqa: F401
from . import _utils  # noqa: F401

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "ConcatDataset", "ChainDataset", "Subset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader", "get_worker_info",
           "default_collate", "default_convert"]
