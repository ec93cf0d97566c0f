"""disttensor.utils: data loading (utils.data) and helpers."""


def __getattr__(name):
    # `torch.utils.data.DataLoader` without importing disttensor.utils.data first, as in PyTorch
    if name in ("data", "checkpoint"):
        import importlib
        mod = importlib.import_module("." + name, __name__)
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'disttensor.utils' has no attribute {name!r}")
