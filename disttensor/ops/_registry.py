"""One place that turns op functions into disttensor.<name> functions and Tensor methods.

    @register("exp", method=True)                 # disttensor.exp and Tensor.exp
    def exp(input): ...

    @register("add", method=True, inplace=True)   # also Tensor.add_ (see `inplace_of`)

Dunders are bound in `ops/__init__.py` from the same functions.
"""
from ..tensor import Tensor

FUNCTIONS = {}   # name -> callable exported as disttensor.<name>
METHODS = {}     # name -> callable bound as Tensor.<name>


def register(*names, method=True, function=True, inplace=False):
    def deco(fn):
        for n in names:
            if function:
                FUNCTIONS[n] = fn
            if method:
                METHODS[n] = fn
                setattr(Tensor, n, fn)
            if inplace:
                from .inplace import inplace_of
                ip = inplace_of(fn, n + "_")
                METHODS[n + "_"] = ip
                setattr(Tensor, n + "_", ip)
        return fn
    return deco


def method(*names):
    """Register as a Tensor method only."""
    return register(*names, method=True, function=False)
