"""Op modules register themselves on import; this binds Python operators to the same functions."""
from . import elementwise, reduce, movement, linalg, creation  # noqa: F401
from . import nn_conv, nn_pool  # noqa: F401
from . import indexing  # noqa: F401
from . import nn_activation, nn_loss, nn_norm, nn_misc  # noqa: F401
from . import extra_math  # noqa: F401
from ._registry import FUNCTIONS, METHODS  # noqa: F401
from ..tensor import Tensor

_e = elementwise


def _rev(fn):
    def r(self, other):
        return fn(other, self)
    return r


def _bind_dunders():
    T = Tensor
    T.__add__ = _e.add
    T.__radd__ = _e.add
    T.__iadd__ = T.add_
    T.__sub__ = _e.sub
    T.__rsub__ = _rev(_e.sub)
    T.__isub__ = T.sub_
    T.__mul__ = _e.mul
    T.__rmul__ = _e.mul
    T.__imul__ = T.mul_
    T.__truediv__ = _e.div
    T.__rtruediv__ = _rev(_e.div)
    T.__itruediv__ = T.div_
    T.__floordiv__ = _e.floor_divide
    T.__rfloordiv__ = _rev(_e.floor_divide)
    T.__mod__ = _e.remainder
    T.__rmod__ = _rev(_e.remainder)
    T.__pow__ = _e.pow
    T.__rpow__ = _rev(_e.pow)
    T.__ipow__ = T.pow_
    T.__neg__ = _e.neg
    T.__pos__ = lambda self: self
    T.__abs__ = _e.abs
    T.__matmul__ = linalg.matmul
    T.__rmatmul__ = _rev(linalg.matmul)
    T.__eq__ = _e.eq
    T.__ne__ = _e.ne
    T.__lt__ = _e.lt
    T.__le__ = _e.le
    T.__gt__ = _e.gt
    T.__ge__ = _e.ge


_bind_dunders()
