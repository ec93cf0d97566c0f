"""OpInfo: how the registry-driven op test exercises one op.

Each area of ops has a table `tests/ops/opinfo_<area>.py` defining `OPS = [OpInfo(...), ...]`.
`test_ops.py` runs every entry: forward and input gradients against PyTorch (CPU) in float32 and
float64, on contiguous and non-contiguous inputs, plus a float64 finite-difference gradcheck.

    OpInfo("mul", lambda lib, a, b: lib.mul(a, b), samples=[((3, 4), (3, 4)), ((3, 1), (4,))])

`fn(lib, *tensors)` is called once with `lib=disttensor` and once with `lib=torch`, so the same
line states what both libraries must agree on. `samples` lists the input shapes of each call; or
give `make` to build custom input arrays (integer indices, positive domains...).
"""
import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np


@dataclasses.dataclass
class OpInfo:
    name: str                               # the registry name (disttensor.<name>) this entry covers
    fn: Callable                            # fn(lib, *tensors) -> tensor (or tuple; first is checked)
    samples: Sequence = ()                  # shapes per sample: ((3, 4), (4,))
    make: Optional[Callable] = None         # make(rng) -> list of samples, each a list of np arrays
    domain: tuple = (-2.0, 2.0)             # uniform range of random float inputs
    grad: bool = True                       # compare gradients (False for non-differentiable ops)
    grad_args: Optional[Sequence[int]] = None  # which args are differentiated (default: float ones)
    gradcheck: bool = True                  # run finite-difference gradcheck in float64
    atol: float = 1e-5
    rtol: float = 1.3e-6
    atol32: float = 1e-4                    # tolerances for the float32 comparison
    rtol32: float = 1e-4
    dtypes: Sequence[str] = ("float32", "float64")
    broadcast: bool = False                 # a binary elementwise op: also fuzz broadcasting shapes
    noncontig: bool = True                  # also run on non-contiguous (strided) inputs
    covers: Sequence[str] = ()              # further registry names this entry also covers

    def build_samples(self, rng):
        if self.make is not None:
            return self.make(rng)
        lo, hi = self.domain
        return [[rng.uniform(lo, hi, size=s) for s in shapes] for shapes in self.samples]


def noncontiguous(a):
    """The same values in a strided (non-contiguous) array."""
    if a.ndim == 0 or a.size <= 1:
        return a
    big = np.empty(a.shape[:-1] + (a.shape[-1] * 2,), dtype=a.dtype)
    big[..., ::2] = a
    v = big[..., ::2]
    assert not v.flags.c_contiguous
    return v
