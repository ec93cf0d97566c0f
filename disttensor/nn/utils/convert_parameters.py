"""parameters_to_vector / vector_to_parameters (PyTorch's semantics)."""
from ...tensor import Tensor


def _typename(o):
    return o.type() if isinstance(o, Tensor) else type(o).__module__ + "." + type(o).__qualname__


def _check_param_device(param, old_param_device):
    if old_param_device is None:
        return param.get_device() if param.is_cuda else -1
    warn = False
    if param.is_cuda:
        warn = param.get_device() != old_param_device
    else:
        warn = old_param_device != -1
    if warn:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return old_param_device


def parameters_to_vector(parameters):
    """One flat vector of all parameters (differentiable: a cat of flattened views)."""
    from ...ops.movement import cat
    param_device = None
    vec = []
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        vec.append(param.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its slice of `vec` (they share memory afterwards, like PyTorch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    param_device = None
    pointer = 0
    data = vec._data
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        n = param.numel()
        param._data = data[pointer:pointer + n].reshape(param._data.shape)
        param._vc[0] += 1
        pointer += n
