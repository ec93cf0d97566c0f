"""disttensor.nn.parallel: a lazy facade over the `parallel` package (PyTorch's import path for DDP).

`from disttensor.nn.parallel import DistributedDataParallel` imports `parallel` on first use only, so
`import disttensor` never pulls in mpi4py or cupy.
"""
_FROM_PARALLEL = ("DistributedDataParallel",)


def __getattr__(name):
    if name in _FROM_PARALLEL:
        try:
            import parallel as _parallel
        except ImportError as e:
            raise ImportError(f"disttensor.nn.parallel.{name} needs the `parallel` package (installed with "
                              f"disttensor), which could not be imported: {e}") from e
        try:
            obj = getattr(_parallel, name)
        except AttributeError:
            raise ImportError(f"cannot import name '{name}' from 'disttensor.nn.parallel': the `parallel` package "
                              f"does not provide {name} yet") from None
        globals()[name] = obj
        return obj
    if name == "DataParallel":
        from ._data_parallel import DataParallel
        return DataParallel
    raise AttributeError(f"module 'disttensor.nn.parallel' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_FROM_PARALLEL) + ["DataParallel"])
