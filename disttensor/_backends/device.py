import numpy as np

_cupy = None
_cupy_checked = False


def cuda_module():
    """CuPy, imported on first use (never at `import disttensor`); None when not installed."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy
            _cupy = cupy
        except Exception:
            _cupy = None
    return _cupy


def _set_cuda_module_for_tests(mod, checked=True):
    """Tests only: make `cuda_module()` return `mod` (a fake CuPy, tests/fake_cupy.py). Returns the previous
    state; `_set_cuda_module_for_tests(*previous)` restores it."""
    global _cupy, _cupy_checked
    prev = (_cupy, _cupy_checked)
    _cupy, _cupy_checked = mod, checked
    return prev


class device:
    """torch.device look-alike: `device("cpu")`, `device("cuda:1")`, `device("cuda", 0)`."""
    __slots__ = ("type", "index")

    def __new__(cls, spec=None, index=None):
        if spec.__class__ is device:
            return spec
        self = object.__new__(cls)
        if isinstance(spec, int):
            spec, index = "cuda", spec
        if not isinstance(spec, str):
            raise TypeError(f"device(): expected a string such as 'cpu' or 'cuda:0', got {spec!r}")
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            if index is not None:
                raise RuntimeError(f"device(): index given twice in {spec}:{idx} and index={index}")
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {spec}")
        self.type = spec
        self.index = None if spec == "cpu" else index
        return self

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and \
            (self.index == other.index or self.index is None or other.index is None and self.type == "cpu")

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


CPU = device("cpu")


def device_of_array(a):
    if a.__class__ is np.ndarray or isinstance(a, np.generic):
        return CPU
    return device("cuda", int(a.device.id))


def xp_of(a):
    """The array module for an array: numpy for CPU arrays, cupy for CUDA arrays."""
    if a.__class__ is np.ndarray:
        return np
    cp = cuda_module()
    if cp is not None and isinstance(a, cp.ndarray):
        return cp
    return np


def get_xp(dev):
    dev = device(dev) if not isinstance(dev, device) else dev
    if dev.type == "cpu":
        return np
    cp = cuda_module()
    if cp is None:
        raise RuntimeError("CUDA device requested but CuPy is not installed: pip install 'disttensor[cuda]'")
    if not _cuda_available():
        raise RuntimeError(f"CUDA device {dev} requested but no CUDA GPU is available "
                           "(cupy.cuda.is_available() is False)")
    return cp


def _cuda_available():
    cp = cuda_module()
    if cp is None:
        return False
    try:
        return bool(cp.cuda.is_available())
    except Exception:
        return False


def to_device_array(arr, dev):
    """Move one array to a device (a copy only when the device changes)."""
    dev = device(dev) if not isinstance(dev, device) else dev
    if dev.type == "cpu":
        if arr.__class__ is np.ndarray:
            return arr
        return arr.get()
    cp = get_xp(dev)
    with cp.cuda.Device(dev.index or 0):
        return cp.asarray(arr)
