"""RNN sequence helpers: PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence,
pack_sequence, unpad_sequence, unpack_sequence (PyTorch's layouts: time-major packed data)."""
from collections import namedtuple

import numpy as np

from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _np(x):
    if isinstance(x, Tensor):
        d = x._data
        return d if d.__class__ is np.ndarray else d.get()   # a CUDA array is copied to the host
    return np.asarray(x)


def _long(a):
    return Tensor._wrap(np.asarray(a, dtype=np.int64))


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Holds the time-major data of a packed batch plus batch_sizes (how many rows at each step)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            if isinstance(batch_sizes, Tensor) and batch_sizes.is_cuda:
                raise ValueError("batch_sizes should always be on CPU. Instances of PackedSequence should never be "
                                 "created manually. They should be instantiated by functions like pack_sequence "
                                 "and pack_padded_sequences in nn.utils.rnn.")
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with(self, data):
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return self._with(data)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, *args, **kwargs):
        return self._with(self.data.cuda(*args, **kwargs))

    def double(self):
        return self._with(self.data.double())

    def float(self):
        return self._with(self.data.float())

    def half(self):
        return self._with(self.data.half())

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    if permutation is None:
        return None
    p = _np(permutation)
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=p.dtype)
    return _long(out)


def _long_on(a, like):
    """An int64 index tensor on the device of tensor `like`."""
    t = _long(a)
    if not like.is_cpu:
        t = t.to(like.device)
    return t


def _select_batch(x, idx, dim):
    """x.index_select(dim, idx), differentiable."""
    if hasattr(x, "index_select"):
        return x.index_select(dim, _long_on(idx, x))
    from ...ops.movement import stack
    return stack([x.select(dim, int(i)) if hasattr(x, "select") else (x[int(i)] if dim == 0 else x[:, int(i)])
                  for i in idx], dim)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    from ...ops.movement import cat
    lens = _np(lengths).astype(np.int64).reshape(-1)
    if enforce_sorted:
        if np.any(lens[:-1] < lens[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
        order = np.arange(lens.size)
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = _long(order)
    if lens.size and lens.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    x = input.transpose(0, 1) if batch_first else input
    if sorted_indices is not None:
        x = _select_batch(x, order, 1)
    slens = lens[order]
    T = int(slens[0]) if slens.size else 0
    if T > x.shape[0]:
        raise RuntimeError(f"Expected the padded input to have at least {T} steps, got {x.shape[0]}")
    batch_sizes = np.array([(slens > t).sum() for t in range(T)], dtype=np.int64)
    data = cat([x[t, :int(b)] for t, b in enumerate(batch_sizes)], 0)
    return PackedSequence(data, _long(batch_sizes), sorted_indices, invert_permutation(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    from ...ops.movement import cat, stack
    data = sequence.data
    bs = _np(sequence.batch_sizes).astype(np.int64)
    T = bs.size
    B = int(bs[0]) if T else 0
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {T}")
    else:
        total_length = T
    xp_data = data._data
    tail = tuple(data.shape[1:])
    steps = []
    off = 0
    for t in range(T):
        b = int(bs[t])
        part = data[off:off + b]
        off += b
        if b < B:
            pad = Tensor._wrap(_full_like_arr(xp_data, (B - b,) + tail, padding_value))
            part = cat([part, pad], 0)
        steps.append(part)
    for _ in range(total_length - T):
        steps.append(Tensor._wrap(_full_like_arr(xp_data, (B,) + tail, padding_value)))
    padded = stack(steps, 0) if steps else Tensor._wrap(_full_like_arr(xp_data, (0, B) + tail, padding_value))
    lengths = np.array([(bs > i).sum() for i in range(B)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        uidx = _np(sequence.unsorted_indices)
        padded = _select_batch(padded, uidx, 1)
        lengths = lengths[uidx]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _long(lengths)


def _full_like_arr(arr, shape, value):
    from ..._backends.device import xp_of
    xp = xp_of(arr)
    out = xp.empty(shape, dtype=arr.dtype)
    out.fill(value)
    return out


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack variable-length tensors (L_i, *) into (max L, B, *) or (B, max L, *), padding with a value."""
    from ...ops.movement import cat, stack
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    max_len = max(s.shape[0] for s in sequences)
    out = []
    for s in sequences:
        n = s.shape[0]
        if n < max_len:
            pad = Tensor._wrap(_full_like_arr(s._data, (max_len - n,) + tuple(s.shape[1:]), padding_value))
            s = cat([s, pad], 0) if padding_side == "right" else cat([pad, s], 0)
        out.append(s)
    return stack(out, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(_np(lengths).reshape(-1))]


def pack_sequence(sequences, enforce_sorted=True):
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
