"""vision: dataset readers on files written here, PNG/PPM codecs, transforms vs hand computations and PyTorch."""
import gzip
import io
import os
import pickle
import struct
import zlib

import numpy as np
import pytest
import torch

import disttensor as dt
from disttensor.vision import datasets, transforms as T, utils
from disttensor.vision import _image


def _write_idx(path, arr, code=0x08, gz=False):
    arr = np.asarray(arr)
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    data = head + arr.astype(dtype).tobytes()
    with (gzip.open if gz else open)(path, "wb") as fh:
        fh.write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sfx = ".gz" if gz else ""
    _write_idx(raw / f"t10k-images-idx3-ubyte{sfx}", imgs, gz=gz)
    _write_idx(raw / f"t10k-labels-idx1-ubyte{sfx}", labels, gz=gz)
    ds = datasets.MNIST(tmp_path, train=False, transform=T.ToTensor(), target_transform=lambda y: y * 10)
    assert len(ds) == 5
    x, y = ds[2]
    assert y == 40 and x.shape == (1, 28, 28) and x.dtype == dt.float32
    np.testing.assert_allclose(x.numpy()[0], imgs[2] / 255.0, rtol=1e-6)
    assert ds.data.dtype == dt.uint8 and ds.targets.dtype == dt.int64 and ds.targets.tolist() == labels.tolist()
    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte.*train-labels-idx1-ubyte"):
        datasets.MNIST(tmp_path, train=True)
    with pytest.raises(RuntimeError, match="download"):
        datasets.MNIST(tmp_path, train=False, download=True)
    # FashionMNIST looks in its own folder, or directly in root
    _write_idx(tmp_path / "train-images-idx3-ubyte", imgs[:2])
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:2])
    f = datasets.FashionMNIST(tmp_path, train=True)
    img, lab = f[1]
    assert isinstance(img, np.ndarray) and img.shape == (28, 28) and lab == 1
    assert f.classes[0] == "T-shirt/top"


def test_idx_errors(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(RuntimeError, match="not an IDX"):
        datasets.read_idx(p)
    _write_idx(p, np.zeros((4, 4), np.uint8))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(RuntimeError, match="truncated"):
        datasets.read_idx(p)


def test_cifar10_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [1, 2, 3, 4], b"batch_label": b"testing"}, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh, protocol=2)
    ds = datasets.CIFAR10(tmp_path, train=False)
    assert len(ds) == 4 and ds.classes[3] == "c3"
    img, y = ds[1]
    assert y == 2 and img.shape == (32, 32, 3)
    np.testing.assert_array_equal(img[:, :, 0].reshape(-1), data[1, :1024])
    np.testing.assert_array_equal(img[:, :, 2].reshape(-1), data[1, 2048:])
    with pytest.raises(RuntimeError, match="data_batch_1"):
        datasets.CIFAR10(tmp_path, train=True)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        datasets.CIFAR10(tmp_path, train=False)


def _png_with_filters(img):
    """Encode 8-bit RGB rows with filters 0..4 in turn (a reference encoder written from the PNG spec)."""
    h, w, c = img.shape
    rows = img.reshape(h, w * c).astype(np.int64)
    out = bytearray()
    prior = np.zeros(w * c, np.int64)
    for y in range(h):
        ft = y % 5
        cur = rows[y]
        f = np.zeros_like(cur)
        for x in range(w * c):
            a = cur[x - c] if x >= c else 0
            b = prior[x]
            cc = prior[x - c] if x >= c else 0
            if ft == 0:
                pred = 0
            elif ft == 1:
                pred = a
            elif ft == 2:
                pred = b
            elif ft == 3:
                pred = (a + b) // 2
            else:
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
            f[x] = (cur[x] - pred) % 256
        out.append(ft)
        out += bytes(f.astype(np.uint8))
        prior = cur
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return _image.PNG_SIG + _image._chunk(b"IHDR", ihdr) + _image._chunk(b"IDAT", zlib.compress(bytes(out))) + \
        _image._chunk(b"IEND", b"")


def test_png_and_pnm_codecs():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_image.decode_png(_png_with_filters(img)), img)
    for a in (img, img[:, :, 0], np.concatenate([img, img[:, :, :1]], 2)):
        np.testing.assert_array_equal(_image.decode_png(_image.encode_png(a)), a)
    np.testing.assert_array_equal(_image.decode_pnm(_image.encode_pnm(img)), img)
    np.testing.assert_array_equal(_image.decode_pnm(b"P5\n# comment\n3 1\n255\n\x01\x02\x03"), [[1, 2, 3]])


def test_image_folder(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
    g = rng.integers(0, 256, size=(6, 4), dtype=np.uint8)
    n = rng.standard_normal((3, 6, 4)).astype(np.float32)
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog" / "sub").mkdir(parents=True)
    (tmp_path / "cat" / "a.png").write_bytes(_image.encode_png(a))
    (tmp_path / "cat" / "b.pgm").write_bytes(_image.encode_pnm(g))
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    np.save(tmp_path / "dog" / "sub" / "c.npy", n)
    ds = datasets.ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [os.path.basename(p) for p, _ in ds.samples] == ["a.png", "b.pgm", "c.npy"] and ds.targets == [0, 0, 1]
    x, y = ds[0]
    np.testing.assert_array_equal(x, a)
    x, y = ds[1]
    np.testing.assert_array_equal(x, np.repeat(g[:, :, None], 3, 2))
    x, y = ds[2]
    np.testing.assert_array_equal(x, n)
    assert y == 1
    ds = datasets.ImageFolder(tmp_path, transform=T.ToTensor())
    assert ds[0][0].shape == (3, 6, 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        datasets.ImageFolder(tmp_path)


def test_fake_data_and_digits():
    f = datasets.FakeData(size=5, image_size=(3, 8, 6), num_classes=4)
    a, ya = f[3]
    b, yb = f[3]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8, 6, 3) and ya == yb and 0 <= ya < 4 and len(f) == 5
    with pytest.raises(IndexError):
        f[5]
    from sklearn.datasets import load_digits
    d = load_digits()
    tr8 = datasets.DigitsDataset(train=True, image_size=8)
    te8 = datasets.DigitsDataset(train=False, image_size=8)
    assert len(tr8) == 1437 and len(te8) == 360
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(te8.targets.numpy(), d.target[perm[:360]])
    np.testing.assert_array_equal(tr8.data.numpy()[5], np.rint(d.images[perm[365]] * 255 / 16).astype(np.uint8))
    assert sorted(set(tr8.targets.tolist())) == list(range(10))
    tr = datasets.DigitsDataset(train=True, transform=T.ToTensor())
    x, y = tr[5]
    assert x.shape == (1, 28, 28) and y == int(d.target[perm[365]])
    assert float(x[0, :4].abs().sum()) == 0 and float(x[0, :, 24:].abs().sum()) == 0  # MNIST-like border
    assert float(x.max()) > 0.5


def test_to_tensor_normalize():
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    t = T.ToTensor()(img)
    assert t.shape == (3, 2, 4) and t.dtype == dt.float32
    np.testing.assert_allclose(t.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    f = np.ones((2, 2), np.float64) * 3
    assert T.ToTensor()(f).tolist() == [[[3.0, 3.0], [3.0, 3.0]]]  # floats are not scaled
    n = T.Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))(t)
    exp = (img.transpose(2, 0, 1) / 255.0 - np.array([0.1, 0.2, 0.3])[:, None, None]) / \
        np.array([0.5, 0.25, 2.0])[:, None, None]
    np.testing.assert_allclose(n.numpy(), exp, rtol=1e-5)
    with pytest.raises(TypeError):
        T.Normalize((0,), (1,))(dt.zeros(1, 2, 2, dtype=dt.int64))
    c = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)])
    np.testing.assert_allclose(c(img).numpy(), 2 * img.transpose(2, 0, 1) / 255.0, rtol=1e-6)


def test_crops_and_flips():
    img = np.arange(5 * 6, dtype=np.uint8).reshape(5, 6)
    np.testing.assert_array_equal(T.CenterCrop(3)(img), img[1:4, 2:5])  # top round(1.0)=1, left round(1.5)=2
    np.testing.assert_array_equal(T.CenterCrop((2, 4))(img), img[2:4, 1:5])  # round(1.5)=2, round(1)=1
    t = dt.tensor(np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6))
    np.testing.assert_array_equal(T.CenterCrop((3, 2))(t).numpy(), t.numpy()[:, 1:4, 2:4])
    big = T.CenterCrop(7)(img)
    assert big.shape == (7, 7) and big[0].sum() == 0 and big[1:6, 0:6].tolist() == img.tolist()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(t).numpy(), t.numpy()[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(t).numpy(), t.numpy())
    dt.manual_seed(0)
    seen = set()
    rc = T.RandomCrop(5, padding=2)
    padded = np.pad(t.numpy(), ((0, 0), (2, 2), (2, 2)))
    for _ in range(30):
        out = rc(t).numpy()
        assert out.shape == (2, 5, 5)
        hits = [(i, j) for i in range(padded.shape[1] - 4) for j in range(padded.shape[2] - 4)
                if np.array_equal(padded[:, i:i + 5, j:j + 5], out)]
        assert hits
        seen.add(hits[0])
    assert len(seen) > 5
    dt.manual_seed(0)
    a = [rc(t).numpy() for _ in range(3)]
    dt.manual_seed(0)
    b = [rc(t).numpy() for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    out = T.RandomCrop(8, pad_if_needed=True, padding_mode="edge")(img)
    assert out.shape == (8, 8)
    np.testing.assert_array_equal(T.Pad((1, 2), padding_mode="reflect")(img), np.pad(img, ((2, 2), (1, 1)), "reflect"))


@pytest.mark.parametrize("size", [(3, 4), (12, 9), (7, 20), 4])
def test_resize_matches_torch_antialias(size):
    rng = np.random.default_rng(0)
    x = rng.random((2, 9, 11)).astype(np.float64)
    out = T.Resize(size)(dt.tensor(x))
    oh, ow = (size, int(size * 11 / 9)) if isinstance(size, int) else size
    ref = torch.nn.functional.interpolate(torch.tensor(x)[None], size=(oh, ow), mode="bilinear",
                                          align_corners=False, antialias=True)[0]
    assert tuple(out.shape) == (2, oh, ow)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)
    u8 = (x[0] * 255).astype(np.uint8)
    r = T.Resize(size)(u8)
    assert r.dtype == np.uint8 and r.shape == (oh, ow)
    ref8 = torch.nn.functional.interpolate(torch.tensor(u8.astype(np.float64))[None, None], size=(oh, ow),
                                           mode="bilinear", align_corners=False, antialias=True)[0, 0]
    assert np.abs(r.astype(np.int64) - np.clip(np.rint(ref8.numpy()), 0, 255)).max() <= 1


def test_make_grid_and_save_image(tmp_path):
    rng = np.random.default_rng(3)
    b = rng.random((5, 1, 3, 4)).astype(np.float32)
    g = utils.make_grid(dt.tensor(b), nrow=2, padding=1, pad_value=0.5)
    assert tuple(g.shape) == (3, 3 * 4 + 1, 2 * 5 + 1)
    gn = g.numpy()
    np.testing.assert_array_equal(gn[0, 1:4, 1:5], b[0, 0])
    np.testing.assert_array_equal(gn[1, 1:4, 6:10], b[1, 0])
    np.testing.assert_array_equal(gn[2, 9:12, 1:5], b[4, 0])
    assert gn[0, 0, 0] == 0.5 and gn[0, 9, 7] == 0.5  # padding and the empty last cell
    gnorm = utils.make_grid(dt.tensor(b * 4 - 1), normalize=True, padding=0, nrow=5)
    assert abs(float(gnorm.min())) < 1e-6 and abs(float(gnorm.max()) - 1) < 1e-6
    p = tmp_path / "grid.png"
    utils.save_image(dt.tensor(b), p, nrow=3)
    back = _image.decode_png(p.read_bytes())
    exp = utils.make_grid(dt.tensor(b), nrow=3).numpy()
    exp = np.clip(exp * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(back, exp)
    buf = io.BytesIO()
    utils.save_image(dt.tensor(b[0]), buf, format="png")
    one = _image.decode_png(buf.getvalue())
    g1 = np.clip(b[0, 0] * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(one, np.stack([g1] * 3, 2))  # 1-channel images become RGB, like torchvision
