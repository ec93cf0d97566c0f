"""disttensor.optim: PyTorch's optimizers over flat buffers (fused numba kernels on CPU) and lr schedulers."""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW, Adamax, NAdam, RAdam  # noqa: F401
from .adagrad import Adagrad, RMSprop, Adadelta  # noqa: F401
from . import lr_scheduler  # noqa: F401
from .rprop import Rprop  # noqa: F401
from .asgd import ASGD  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from . import swa_utils  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad", "RMSprop", "Adadelta",
           "lr_scheduler", "Rprop", "ASGD", "LBFGS", "swa_utils"]
