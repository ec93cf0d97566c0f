"""disttensor.cuda: availability and device queries. CuPy is imported only when asked."""
from ._backends.device import cuda_module, _cuda_available


def is_available():
    return _cuda_available()


def device_count():
    if not is_available():
        return 0
    return cuda_module().cuda.runtime.getDeviceCount()


def current_device():
    if not is_available():
        raise RuntimeError("disttensor.cuda.current_device(): no CUDA GPU is available")
    return cuda_module().cuda.runtime.getDevice()


def set_device(device):
    from ._backends.device import device as _device
    d = _device(device) if not isinstance(device, int) else _device("cuda", device)
    if not is_available():
        raise RuntimeError(f"disttensor.cuda.set_device({device}): no CUDA GPU is available")
    cuda_module().cuda.runtime.setDevice(d.index or 0)


def synchronize(device=None):
    if is_available():
        cuda_module().cuda.runtime.deviceSynchronize()


def manual_seed(seed):
    from .random import _cuda_generators
    for idx, g in _cuda_generators.items():
        g.manual_seed(int(seed) + idx)


manual_seed_all = manual_seed


def is_bf16_supported():
    return is_available()


def empty_cache():
    if is_available():
        cuda_module().get_default_memory_pool().free_all_blocks()


def memory_allocated(device=None):
    if not is_available():
        return 0
    return cuda_module().get_default_memory_pool().used_bytes()


def __getattr__(name):
    if name == "amp":      # torch.cuda.amp.autocast / GradScaler (deprecated in torch, still common)
        from .amp import device_namespace
        m = globals()["amp"] = device_namespace("cuda")
        return m
    raise AttributeError(f"module 'disttensor.cuda' has no attribute {name!r}")
