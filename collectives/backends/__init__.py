"""Backends: mpi (mpi4py) and nccl (cupy.cuda.nccl), both imported lazily."""
