"""default_collate / default_convert with PyTorch's rules."""
import collections.abc
import re

import numpy as np

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def _tensor_cls():
    from ....tensor import Tensor
    return Tensor


def _stack(batch):
    from ....tensor import Tensor
    from ...._backends.device import xp_of
    arrs = [t._data for t in batch]
    shape = arrs[0].shape
    for i, a in enumerate(arrs):
        if a.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                               f"{list(a.shape)} at entry {i}")
    return Tensor._wrap(xp_of(arrs[0]).stack(arrs, 0))


def default_convert(data):
    Tensor = _tensor_cls()
    from ....ops.creation import as_tensor
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SaUO":
        return as_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "SaUO":
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({k: default_convert(v) for k, v in data.items()})
        except TypeError:
            return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Stack a list of samples into a batch: tensors and arrays stacked along a new dim 0, numbers to tensors,
    mappings/namedtuples/sequences collated field by field."""
    Tensor = _tensor_cls()
    from ....ops.creation import tensor as _tensor
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    etype = type(elem)
    if etype.__module__ == "numpy" and etype.__name__ not in ("str_", "string_", "bytes_"):
        if etype.__name__ in ("ndarray", "memmap"):
            if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
                raise TypeError(default_collate_err_msg_format.format(elem.dtype))
            return Tensor._wrap(np.stack([np.asarray(b) for b in batch], 0))
        if elem.shape == ():  # numpy scalar
            return Tensor._wrap(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, float):
        return _tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return _tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                import copy
                out = copy.copy(elem)
                out.update({k: default_collate([d[k] for d in batch]) for k in elem})
                return out
            return etype({k: default_collate([d[k] for d in batch]) for k in elem})
        except TypeError:
            return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return etype(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        n = len(next(it))
        if not all(len(e) == n for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return etype([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(default_collate_err_msg_format.format(etype))
