"""Vision datasets read from local files in their standard formats (no downloads are possible here).

MNIST / FashionMNIST (IDX files, raw or .gz), CIFAR10 / CIFAR100 (the python pickle batches, read with a
restricted unpickler that only rebuilds NumPy arrays), ImageFolder / DatasetFolder (PNG, PPM/PGM, NPY
natively; other formats through Pillow when installed), FakeData, and DigitsDataset: scikit-learn's
bundled 8x8 handwritten digits (1797 images, no download), optionally upsampled and padded to 28x28.
Images are returned as NumPy uint8 arrays HxW / HxWxC (what PIL images are in torchvision), so
`transforms.ToTensor()` gives CxHxW floats in [0, 1].
"""
import gzip
import os
import pickle
import struct

import numpy as np

from ..utils.data import Dataset
from ._image import read_image_file

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "FakeData", "ImageFolder",
           "DatasetFolder", "DigitsDataset", "read_idx"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """Read an IDX file (the MNIST format), plain or gzip-compressed, as a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise RuntimeError(f"{path}: not an IDX file (bad magic {data[:4]!r})")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise RuntimeError(f"{path}: unknown IDX data type 0x{code:02x}")
    dims = struct.unpack_from(">" + "I" * ndim, data, 4)
    dt = np.dtype(_IDX_TYPES[code])
    count = int(np.prod(dims)) if dims else 1
    off = 4 + 4 * ndim
    if len(data) < off + count * dt.itemsize:
        raise RuntimeError(f"{path}: truncated IDX file ({len(data)} bytes, expected {off + count * dt.itemsize})")
    arr = np.frombuffer(data, dtype=dt, count=count, offset=off).reshape(dims)
    return arr.astype(dt.newbyteorder("=")) if dt.itemsize > 1 else arr.copy()


def _T():
    from ..tensor import Tensor
    return Tensor


class VisionDataset(Dataset):
    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms

    def _apply(self, img, target):
        if self.transforms is not None:
            return self.transforms(img, target)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        lines += [ln for ln in self.extra_repr().splitlines() if ln]
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return "Dataset " + self.__class__.__name__ + "\n" + "\n".join(" " * self._repr_indent + ln for ln in lines)


def _no_download(name, where):
    raise RuntimeError(f"{name}: download=True is not supported (this machine cannot download); put the files in "
                       f"{where} yourself")


class MNIST(VisionDataset):
    """MNIST from IDX files under root/<ClassName>/raw, root/<ClassName>, root/raw or root (plain or .gz)."""

    resources = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            _no_download(type(self).__name__, self.raw_folder)
        prefix = "train" if train else "t10k"
        img_path = self._find(f"{prefix}-images-idx3-ubyte")
        lbl_path = self._find(f"{prefix}-labels-idx1-ubyte")
        missing = [n for n, p in ((f"{prefix}-images-idx3-ubyte[.gz]", img_path),
                                  (f"{prefix}-labels-idx1-ubyte[.gz]", lbl_path)) if p is None]
        if missing:
            raise RuntimeError(f"Dataset not found: {type(self).__name__} files {', '.join(missing)} are missing; "
                               f"searched {', '.join(self._dirs())}. Downloads are not possible here: copy the IDX "
                               "files there.")
        images = read_idx(img_path)
        labels = read_idx(lbl_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise RuntimeError(f"{type(self).__name__}: images {images.shape} and labels {labels.shape} do not match")
        T = _T()
        self.data = T._wrap(np.ascontiguousarray(images.astype(np.uint8)))
        self.targets = T._wrap(labels.astype(np.int64))

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def _dirs(self):
        name = type(self).__name__
        return [os.path.join(self.root, name, "raw"), os.path.join(self.root, name), os.path.join(self.root, "raw"),
                self.root]

    def _find(self, base):
        for d in self._dirs():
            for fn in (base, base + ".gz", base.replace("-idx", ".idx")):
                p = os.path.join(d, fn)
                if os.path.isfile(p):
                    return p
        return None

    def __getitem__(self, index):
        img = self.data._data[index]
        target = int(self.targets._data[index])
        return self._apply(img, target)

    def __len__(self):
        return len(self.data._data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class KMNIST(MNIST):
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds only NumPy arrays and plain containers: a CIFAR batch needs nothing else."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            import importlib
            if module.startswith("numpy.core") and hasattr(np, "_core"):
                module = "numpy._core" + module[len("numpy.core"):]
            return getattr(importlib.import_module(module), name)
        raise pickle.UnpicklingError(f"CIFAR batch: refusing to load global {module}.{name}")


def _load_batch(path):
    with open(path, "rb") as fh:
        return _ArrayUnpickler(fh, encoding="bytes").load()


def _get(d, key):
    return d[key] if key in d else d[key.decode("latin1")]


class CIFAR10(VisionDataset):
    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": b"label_names"}
    label_key = b"labels"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = os.path.join(self.root, self.base_folder)
        if download:
            _no_download(type(self).__name__, folder)
        names = self.train_list if train else self.test_list
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise RuntimeError(f"Dataset not found: {type(self).__name__} files {', '.join(missing)} are missing in "
                               f"{folder}. Downloads are not possible here: extract the python version of the "
                               "data set there.")
        data, targets = [], []
        for n in names:
            entry = _load_batch(os.path.join(folder, n))
            data.append(np.asarray(_get(entry, b"data"), dtype=np.uint8))
            targets.extend(int(t) for t in _get(entry, self.label_key))
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # HWC
        self.targets = targets
        meta = os.path.join(folder, self.meta["filename"])
        if os.path.isfile(meta):
            m = _load_batch(meta)
            self.classes = [c.decode("utf-8") if isinstance(c, bytes) else c for c in _get(m, self.meta["key"])]
        else:
            self.classes = [str(i) for i in range(max(targets) + 1)] if targets else []
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        return self._apply(self.data[index], self.targets[index])

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class CIFAR100(CIFAR10):
    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": b"fine_label_names"}
    label_key = b"fine_labels"


class FakeData(VisionDataset):
    """Random images (uint8 HxWxC, from image_size=(C, H, W)) and labels, the same for the same index."""

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None, target_transform=None,
                 random_offset=0):
        super().__init__(None, transform=transform, target_transform=target_transform)
        self.size, self.num_classes, self.image_size, self.random_offset = size, num_classes, image_size, random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        rng = np.random.default_rng(index + self.random_offset)
        c, h, w = self.image_size
        img = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        if c == 1:
            img = img[:, :, 0]
        target = int(rng.integers(0, self.num_classes))
        return self._apply(img, target)

    def __len__(self):
        return self.size


IMG_EXTENSIONS = (".png", ".ppm", ".pgm", ".npy", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename, extensions):
    return filename.lower().endswith(tuple(extensions) if not isinstance(extensions, str) else extensions)


def default_loader(path):
    """Image as uint8 RGB HxWx3 (gray images replicated, alpha dropped), like PIL's .convert('RGB');
    .npy files are returned as stored."""
    arr = read_image_file(path)
    if path.lower().endswith(".npy"):
        return arr
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 2:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


class DatasetFolder(VisionDataset):
    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None, is_valid_file=None,
                 allow_empty=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, class_to_idx, extensions, is_valid_file, allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.targets = [s[1] for s in self.samples]
        self.imgs = self.samples

    @staticmethod
    def find_classes(directory):
        classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
        if not classes:
            raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
        return classes, {c: i for i, c in enumerate(classes)}

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
        if is_valid_file is None:
            def is_valid_file(p):
                return has_file_allowed_extension(p, extensions)
        instances = []
        found = set()
        for cls in sorted(class_to_idx):
            idx = class_to_idx[cls]
            d = os.path.join(directory, cls)
            if not os.path.isdir(d):
                continue
            for root, _, fnames in sorted(os.walk(d, followlinks=True)):
                for fn in sorted(fnames):
                    p = os.path.join(root, fn)
                    if is_valid_file(p):
                        instances.append((p, idx))
                        found.add(cls)
        empty = set(class_to_idx) - found
        if empty and not allow_empty:
            msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
            if extensions is not None:
                exts = extensions if isinstance(extensions, str) else ", ".join(extensions)
                msg += f"Supported extensions are: {exts}"
            raise FileNotFoundError(msg)
        return instances

    def __getitem__(self, index):
        path, target = self.samples[index]
        return self._apply(self.loader(path), target)

    def __len__(self):
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """root/class_x/xxx.png ... -> (uint8 HxWx3 image, class index); PNG/PPM/PGM/NPY read natively."""

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader, is_valid_file=None,
                 allow_empty=False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None, transform=transform,
                         target_transform=target_transform, is_valid_file=is_valid_file, allow_empty=allow_empty)


class DigitsDataset(VisionDataset):
    """scikit-learn's bundled handwritten digits (1797 8x8 images, 10 classes): a real data set, no download.

    image_size=8 gives the original 8x8 images (uint8, 0..255); image_size=28 upsamples each digit to 20x20
    (antialiased bilinear) and pads it to 28x28, centred like MNIST. A fixed split (seed 0) holds out 360
    images for test (train=False) and keeps 1437 for training.
    """

    classes = [str(i) for i in range(10)]
    n_test = 360

    def __init__(self, root=None, train=True, transform=None, target_transform=None, image_size=28):
        super().__init__(root, transform=transform, target_transform=target_transform)
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise RuntimeError("DigitsDataset needs scikit-learn: pip install 'disttensor[examples]'") from None
        d = load_digits()
        images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
        labels = d.target.astype(np.int64)
        perm = np.random.default_rng(0).permutation(len(images))
        sel = perm[self.n_test:] if train else perm[:self.n_test]
        images, labels = images[sel], labels[sel]
        if image_size != 8:
            from .transforms import resize
            inner = image_size * 20 // 28
            padb = (image_size - inner) // 2
            up = resize(images.reshape(-1, 8, 8).transpose(1, 2, 0), [inner, inner])  # HxWxN as channels
            up = up.transpose(2, 0, 1)
            out = np.zeros((len(images), image_size, image_size), np.uint8)
            out[:, padb:padb + inner, padb:padb + inner] = up
            images = out
        self.train = train
        self.image_size = image_size
        T = _T()
        self.data = T._wrap(np.ascontiguousarray(images))
        self.targets = T._wrap(labels)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def __getitem__(self, index):
        return self._apply(self.data._data[index], int(self.targets._data[index]))

    def __len__(self):
        return len(self.data._data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}\nImage size: {self.image_size}"
