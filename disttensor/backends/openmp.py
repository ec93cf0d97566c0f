"""disttensor.backends.openmp: `is_available()` is False, honestly: disttensor's parallel CPU kernels run on
numba's `workqueue` threading layer (chosen at `import disttensor`, see disttensor/__init__.py), not on
OpenMP; NumPy's BLAS threads are OpenBLAS's own. Thread counts follow OMP_NUM_THREADS / NUMBA_NUM_THREADS."""

__all__ = ["is_available"]


def is_available():
    return False
