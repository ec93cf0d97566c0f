"""disttensor.backends.mkl: `is_available()` is False, honestly: disttensor never calls Intel MKL (its CPU
math is NumPy, whose PyPI wheels use OpenBLAS, plus its own numba kernels). `verbose` is a no-op context
manager kept so scripts that use it run."""

__all__ = ["is_available", "verbose", "VERBOSE_OFF", "VERBOSE_ON"]

VERBOSE_OFF = 0
VERBOSE_ON = 1


def is_available():
    return False


class verbose:
    """`with torch.backends.mkl.verbose(VERBOSE_ON):` turns on MKL's verbose log in PyTorch; nothing here."""

    def __init__(self, enable):
        self.enable = enable

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False
