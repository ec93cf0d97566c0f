"""make_grid and save_image (PNG written with zlib: no Pillow needed), torchvision's semantics."""
import math

import numpy as np

from ._image import write_image_file

__all__ = ["make_grid", "save_image"]


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0,
              **kwargs):
    """Arrange a batch (B x C x H x W, or a list of C x H x W) into one C x H' x W' image grid."""
    from ..tensor import Tensor
    if isinstance(tensor, (list, tuple)):
        arr = np.stack([np.asarray(t.detach().cpu()._data) for t in tensor], 0)
    elif isinstance(tensor, Tensor):
        arr = np.asarray(tensor.detach().cpu()._data)
    else:
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = np.concatenate([arr] * 3, 0)
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = np.concatenate([arr] * 3, 1)
    if normalize:
        arr = arr.astype(np.float32) if arr.dtype.kind != "f" else arr.copy()

        def norm(a, lo, hi):
            np.clip(a, lo, hi, out=a)
            a -= lo
            a /= max(hi - lo, 1e-5)

        if scale_each:
            for t in arr:
                lo, hi = value_range if value_range is not None else (float(t.min()), float(t.max()))
                norm(t, lo, hi)
        else:
            lo, hi = value_range if value_range is not None else (float(arr.min()), float(arr.max()))
            norm(arr, lo, hi)
    if arr.shape[0] == 1:
        return Tensor._wrap(np.ascontiguousarray(arr[0]))
    n = arr.shape[0]
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(float(n) / xmaps))
    height, width = int(arr.shape[2] + padding), int(arr.shape[3] + padding)
    grid = np.full((arr.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value, dtype=arr.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= n:
                break
            grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = arr[k]
            k += 1
    return Tensor._wrap(grid)


def save_image(tensor, fp, format=None, **kwargs):
    """Save a tensor (or batch, gridded with make_grid) with values in [0, 1] as an 8-bit PNG (or PPM/NPY)."""
    grid = make_grid(tensor, **kwargs)._data.astype(np.float32)
    nd = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if nd.shape[2] == 1:
        nd = nd[:, :, 0]
    write_image_file(nd, fp, format)
