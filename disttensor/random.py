"""Random number generators: one Generator per device; manual_seed seeds them all."""
import numpy as np

from ._backends.device import device as _device


class Generator:
    """torch.Generator look-alike over NumPy's PCG64 (CPU) or CuPy's generator (CUDA)."""

    def __init__(self, device="cpu"):
        self.device = _device(device)
        self._seed = 67280421310721
        self._rng = None
        self.manual_seed(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        if self.device.type == "cpu":
            self._rng = np.random.Generator(np.random.PCG64(self._seed))
        else:
            from ._backends.device import get_xp
            cp = get_xp(self.device)
            self._rng = cp.random.Generator(cp.random.XORWOW(self._seed))
        return self

    def seed(self):
        import secrets
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from .tensor import Tensor
        if self.device.type != "cpu":
            raise NotImplementedError("get_state on CUDA generators")
        import pickle
        raw = pickle.dumps(self._rng.bit_generator.state)
        return Tensor._wrap(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, state):
        import pickle
        self._rng.bit_generator.state = pickle.loads(bytes(state._data.tobytes()))
        return self

    @property
    def np(self):
        return self._rng


def permutation(rng, n):
    """A random permutation of range(n) drawn from `rng`: a NumPy Generator, or CuPy's, which has no
    `permutation` (the order of uniform draws is a uniform permutation)."""
    if rng.__class__ is np.random.Generator:
        return rng.permutation(n)
    return rng.random(n).argsort()


default_generator = Generator("cpu")
_cuda_generators = {}


def generator_for(dev, generator=None):
    if generator is not None:
        return generator._rng
    dev = _device(dev) if dev is not None else None
    if dev is None or dev.type == "cpu":
        return default_generator._rng
    idx = dev.index or 0
    g = _cuda_generators.get(idx)
    if g is None:
        g = _cuda_generators[idx] = Generator(f"cuda:{idx}").manual_seed(default_generator.initial_seed() + idx)
    return g._rng


def manual_seed(seed):
    seed = int(seed)
    default_generator.manual_seed(seed)
    for idx, g in _cuda_generators.items():
        g.manual_seed(seed + idx)
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)
