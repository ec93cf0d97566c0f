"""nn.utils: gradient clipping, parameter/vector conversion, RNN packing helpers."""
from . import rnn  # noqa: F401
from .clip_grad import clip_grad_norm_, clip_grad_norm, clip_grad_value_, get_total_norm, clip_grads_with_norm_  # noqa: F401,E501
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .weight_norm import weight_norm, remove_weight_norm  # noqa: F401
from . import stateless  # noqa: F401
from .stateless import functional_call  # noqa: F401


def skip_init(module_cls, *args, **kwargs):
    """Build the module (parameters are initialised as usual: there is no uninitialised-memory shortcut here)."""
    return module_cls(*args, **kwargs)
from .spectral_norm import spectral_norm, remove_spectral_norm  # noqa: F401
from . import parametrize  # noqa: F401,E402
from . import parametrizations  # noqa: F401,E402
from . import fusion  # noqa: F401,E402
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights  # noqa: F401,E402,E501
