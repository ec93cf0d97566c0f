"""disttensor.distributed: torch.distributed's names over the `collectives` package.

`import disttensor.distributed as dist` is cheap: `collectives` (and through it mpi4py or CuPy)
loads on the first attribute used.
"""
import importlib as _importlib

_mod = None


def _collectives():
    global _mod
    if _mod is None:
        _mod = _importlib.import_module("collectives")
    return _mod


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        value = getattr(_collectives(), name)
    except AttributeError:
        raise AttributeError(f"module 'disttensor.distributed' has no attribute {name!r}") from None
    if name not in ("GroupMember", "group"):  # these hold the mutable WORLD attribute: always delegate
        globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | {n for n in dir(_collectives()) if not n.startswith("__")})
