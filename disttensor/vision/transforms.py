"""Image transforms with torchvision's names and semantics.

Images are disttensor Tensors shaped [..., H, W] (channels first) or NumPy arrays shaped HxW / HxWxC
(channels last, the role PIL images play in torchvision; datasets here return those). Random
transforms draw from disttensor's global generator, so `disttensor.manual_seed` (and DataLoader worker
seeding) makes them reproducible.
"""
import math
import numbers

import numpy as np

from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "PILToTensor", "ConvertImageDtype", "Normalize", "Resize", "CenterCrop",
           "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "Pad", "Lambda", "Grayscale",
           "InterpolationMode"]


class InterpolationMode:
    NEAREST = "nearest"
    BILINEAR = "bilinear"


def _tensor_cls():
    return Tensor


def _to_hwc_np(img):
    """PIL images (when Pillow is installed and already imported by the caller) become HxWxC arrays."""
    if img.__class__ is np.ndarray:
        return img
    import sys
    pil = sys.modules.get("PIL.Image")  # never import Pillow here: only a caller that made a PIL image has it
    if pil is not None and isinstance(img, pil.Image):
        return np.asarray(img)
    return img


def _rand():
    from ..random import default_generator
    return float(default_generator._rng.random())


def _randint(lo, hi):
    """An int in [lo, hi)."""
    from ..random import default_generator
    return int(default_generator._rng.integers(lo, hi))


def _size2(size, name="size"):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"Please provide only two dimensions (h, w) for {name}.")


class _Img:
    """Uniform access to a Tensor [..., H, W] or an ndarray HxW[xC]: get (array, H-axis) and rebuild."""

    def __init__(self, img):
        T = _tensor_cls()
        self.is_tensor = isinstance(img, T)
        img = _to_hwc_np(img)
        self.arr = img._data if self.is_tensor else np.asarray(img)
        self.src = img
        if self.is_tensor:
            self.hax = self.arr.ndim - 2
        else:
            if self.arr.ndim not in (2, 3):
                raise TypeError(f"image arrays must be HxW or HxWxC, got shape {self.arr.shape}")
            self.hax = 0

    @property
    def hw(self):
        return self.arr.shape[self.hax], self.arr.shape[self.hax + 1]

    def slice(self, top, left, h, w):
        idx = [slice(None)] * self.arr.ndim
        idx[self.hax] = slice(top, top + h)
        idx[self.hax + 1] = slice(left, left + w)
        return self.wrap(self.arr[tuple(idx)])

    def wrap(self, a):
        if self.is_tensor:
            return _tensor_cls()._wrap(a)
        return a


def _pad_array(arr, hax, left, top, right, bottom, fill, mode):
    xp = _xp(arr)
    widths = [(0, 0)] * arr.ndim
    widths[hax] = (top, bottom)
    widths[hax + 1] = (left, right)
    if mode == "constant":
        return xp.pad(arr, widths, mode="constant", constant_values=fill)
    if mode not in ("edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    return xp.pad(arr, widths, mode=mode)


def _xp(a):
    from .._backends.device import xp_of
    return xp_of(a)


def _parse_padding(padding):
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (padding[0],) * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


def pad(img, padding, fill=0, padding_mode="constant"):
    im = _Img(img)
    left, top, right, bottom = _parse_padding(padding)
    return im.wrap(_pad_array(im.arr, im.hax, left, top, right, bottom, fill, padding_mode))


def crop(img, top, left, height, width):
    im = _Img(img)
    h, w = im.hw
    if top < 0 or left < 0 or top + height > h or left + width > w:
        pl, pt = max(-left, 0), max(-top, 0)
        pr, pb = max(left + width - w, 0), max(top + height - h, 0)
        arr = _pad_array(im.arr, im.hax, pl, pt, pr, pb, 0, "constant")
        im = _Img(im.wrap(arr))
        top, left = top + pt, left + pl
    return im.slice(top, left, height, width)


def center_crop(img, output_size):
    th, tw = _size2(output_size)
    im = _Img(img)
    h, w = im.hw
    if tw > w or th > h:
        pl, pt = (tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0
        pr, pb = (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0
        img = im.wrap(_pad_array(im.arr, im.hax, pl, pt, pr, pb, 0, "constant"))
        im = _Img(img)
        h, w = im.hw
        if h == th and w == tw:
            return img
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return im.slice(top, left, th, tw)


def hflip(img):
    im = _Img(img)
    idx = [slice(None)] * im.arr.ndim
    idx[im.hax + 1] = slice(None, None, -1)
    return im.wrap(_xp(im.arr).ascontiguousarray(im.arr[tuple(idx)]))


def vflip(img):
    im = _Img(img)
    idx = [slice(None)] * im.arr.ndim
    idx[im.hax] = slice(None, None, -1)
    return im.wrap(_xp(im.arr).ascontiguousarray(im.arr[tuple(idx)]))


def _aa_weights(in_size, out_size, mode):
    """(out, in) interpolation matrix: PIL's / torchvision's antialiased filter (triangle for bilinear)."""
    scale = in_size / out_size
    W = np.zeros((out_size, in_size), dtype=np.float64)
    if mode == "nearest":
        src = np.minimum(np.floor(np.arange(out_size) * scale).astype(np.int64), in_size - 1)
        W[np.arange(out_size), src] = 1.0
        return W
    ss = max(scale, 1.0)
    support = 1.0 * ss
    for i in range(out_size):
        center = (i + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        x = np.arange(xmin, xmax)
        w = np.maximum(0.0, 1.0 - np.abs((x - center + 0.5) / ss))
        s = w.sum()
        if s > 0:
            W[i, xmin:xmax] = w / s
    return W


def _resize_hw(h, w, size, max_size=None):
    if isinstance(size, numbers.Number) or (isinstance(size, (list, tuple)) and len(size) == 1):
        s = int(size if isinstance(size, numbers.Number) else size[0])
        short, long = (h, w) if h <= w else (w, h)
        new_short, new_long = s, int(s * long / short)
        if max_size is not None:
            if max_size <= s:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size for the "
                                 f"smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_short, new_long) if h <= w else (new_long, new_short)
    return _size2(size)


def resize(img, size, interpolation="bilinear", max_size=None, antialias=True):
    """Resize with PIL's/torchvision's antialiased bilinear filter (or nearest)."""
    mode = getattr(interpolation, "value", interpolation)
    mode = str(mode).lower().split(".")[-1]
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"resize: interpolation {interpolation!r} is not supported (bilinear, nearest)")
    im = _Img(img)
    h, w = im.hw
    oh, ow = _resize_hw(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return img
    arr = im.arr
    xp = _xp(arr)
    Wh = xp.asarray(_aa_weights(h, oh, mode))
    Ww = xp.asarray(_aa_weights(w, ow, mode))
    a = arr.astype(np.float64) if arr.dtype.kind != "f" or arr.dtype.itemsize < 4 else arr
    a = xp.moveaxis(a, (im.hax, im.hax + 1), (-2, -1))
    out = xp.matmul(xp.matmul(Wh.astype(a.dtype), a), Ww.T.astype(a.dtype))
    out = xp.moveaxis(out, (-2, -1), (im.hax, im.hax + 1))
    if arr.dtype.kind in "ui":
        info = np.iinfo(arr.dtype)
        out = xp.clip(xp.rint(out), info.min, info.max)
    return im.wrap(xp.ascontiguousarray(out.astype(arr.dtype)))


def to_tensor(pic):
    """HxW[xC] array (or PIL image) -> float Tensor CxHxW; uint8 scaled to [0, 1] like torchvision."""
    from .. import _dtype
    T = _tensor_cls()
    if isinstance(pic, T):
        raise TypeError("pic should be PIL Image or ndarray. Got <class 'disttensor.Tensor'>")
    pic = _to_hwc_np(pic)
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    chw = np.ascontiguousarray(pic.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        return T._wrap(chw.astype(_dtype.get_default_dtype().np) / np.float32(255))
    if chw.dtype == np.bool_:
        return T._wrap(chw.astype(_dtype.get_default_dtype().np))
    return T._wrap(chw)


def normalize(tensor, mean, std, inplace=False):
    T = _tensor_cls()
    if not isinstance(tensor, T):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                         f"{tuple(tensor.shape)}")
    a = tensor._data
    xp = _xp(a)
    m = xp.asarray(mean, dtype=a.dtype).reshape(-1, 1, 1)
    s = xp.asarray(std, dtype=a.dtype).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    if inplace:
        a -= m
        a /= s
        return tensor
    return T._wrap((a - m) / s)


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class ToTensor:
    def __call__(self, pic):
        return to_tensor(pic)

    def __repr__(self):
        return "ToTensor()"


class PILToTensor:
    def __call__(self, pic):
        pic = np.asarray(_to_hwc_np(pic))
        if pic.ndim == 2:
            pic = pic[:, :, None]
        return _tensor_cls()._wrap(np.ascontiguousarray(pic.transpose(2, 0, 1)))


class ConvertImageDtype:
    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, image):
        from .._dtype import to_dtype
        dt = to_dtype(self.dtype)
        a = image._data
        if a.dtype.kind == "u" and dt.is_floating_point:
            return _tensor_cls()._wrap(a.astype(dt.np) / np.iinfo(a.dtype).max)
        return image.to(dt)


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor):
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class Resize:
    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        self.size, self.interpolation, self.max_size, self.antialias = size, interpolation, max_size, antialias

    def __call__(self, img):
        return resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation={self.interpolation}, max_size={self.max_size})"


class CenterCrop:
    def __init__(self, size):
        self.size = _size2(size)

    def __call__(self, img):
        return center_crop(img, self.size)

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class Pad:
    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return pad(img, self.padding, self.fill, self.padding_mode)


class RandomCrop:
    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _size2(size)
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode

    @staticmethod
    def get_params(img, output_size):
        h, w = _Img(img).hw
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        return _randint(0, h - th + 1), _randint(0, w - tw + 1), th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _Img(img).hw
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            img = pad(img, [tw - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = pad(img, [0, th - h], self.fill, self.padding_mode)
        i, j, hh, ww = self.get_params(img, self.size)
        return crop(img, i, j, hh, ww)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        return hflip(img) if _rand() < self.p else img

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        return vflip(img) if _rand() < self.p else img


class Grayscale:
    """RGB -> luma (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B), num_output_channels 1 or 3."""

    def __init__(self, num_output_channels=1):
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        im = _Img(img)
        a = im.arr
        if im.is_tensor:
            r, g, b = a[..., 0, :, :], a[..., 1, :, :], a[..., 2, :, :]
            cax = -3
        else:
            r, g, b = a[..., 0], a[..., 1], a[..., 2]
            cax = -1
        lum = 0.299 * r.astype(np.float64) + 0.587 * g + 0.114 * b
        if a.dtype.kind in "ui":
            lum = np.rint(lum)
        lum = lum.astype(a.dtype)
        out = np.stack([lum] * self.num_output_channels, axis=cax)
        return im.wrap(out)


class Lambda:
    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return "Lambda()"


class functional:  # noqa: N801 - torchvision.transforms.functional look-alike namespace
    to_tensor = staticmethod(to_tensor)
    normalize = staticmethod(normalize)
    resize = staticmethod(resize)
    center_crop = staticmethod(center_crop)
    crop = staticmethod(crop)
    pad = staticmethod(pad)
    hflip = staticmethod(hflip)
    vflip = staticmethod(vflip)
