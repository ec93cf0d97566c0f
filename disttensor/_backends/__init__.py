"""Devices: a name, the array module (`xp`) that computes on it, and its random generator.

CPU arrays are numpy.ndarray; CUDA arrays are cupy.ndarray. Ops never branch on the device:
they take `xp` from their inputs (see `xp_of`), so one op definition serves both.
"""
import numpy as np

from .device import device, xp_of, device_of_array, get_xp, cuda_module  # noqa: F401
