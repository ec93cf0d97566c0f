"""Convolution and pooling beyond the OpInfo table: chunked GEMM paths, indices, unpooling, errors,
in-place checks, half precision, gradcheck on tiny sizes. References: PyTorch's CPU build."""
import numpy as np
import pytest

import disttensor as dt
import disttensor.nn.functional as DF
from disttensor.ops import nn_conv, nn_pool

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(1)


def _pair(*arrays, grad=True):
    d = [dt.from_numpy(a.copy()).requires_grad_(grad) for a in arrays]
    t = [torch.from_numpy(a.copy()).requires_grad_(grad) for a in arrays]
    return d, t


def _check(fd, ft, arrays, atol=1e-9, rtol=1e-7):
    d, t = _pair(*arrays)
    yd, yt = fd(*d), ft(*t)
    np.testing.assert_allclose(yd.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=rtol)
    g = np.random.default_rng(5).standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
    yd.backward(dt.from_numpy(g.copy()))
    yt.backward(torch.from_numpy(g.copy()))
    for a, b in zip(d, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol * 10, rtol=max(rtol * 10, 1e-6))


@pytest.mark.parametrize("chunk_bytes", [1 << 12, 5000, 1 << 30])
@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 0)), dict(groups=2, dilation=2)])
def test_conv2d_chunked_paths(monkeypatch, chunk_bytes, kw):
    # several chunks of samples, with a remainder chunk (N=5), must give the same result
    monkeypatch.setattr(nn_conv, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4, 9, 8))
    w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 3))
    b = rng.standard_normal(6)
    _check(lambda x, w, b: DF.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("chunk_bytes", [1 << 12, 1 << 30])
def test_conv_transpose2d_chunked(monkeypatch, chunk_bytes):
    monkeypatch.setattr(nn_conv, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((5, 4, 4, 3)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(3)
    kw = dict(stride=2, padding=1, output_padding=1)
    _check(lambda x, w, b: DF.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
           [x, w, b])


def test_conv2d_float32_batch():
    # the MNIST conv2 layer shape, scaled down; float32 as users run it
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 32, 12, 12)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    _check(lambda x, w, b: DF.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b), [x, w, b], atol=2e-4, rtol=1e-4)


def test_conv_only_weight_needs_grad_and_no_bias():
    rng = np.random.default_rng(3)
    x = dt.from_numpy(rng.standard_normal((2, 3, 5, 5)))
    w = dt.from_numpy(rng.standard_normal((4, 3, 3, 3))).requires_grad_()
    y = DF.conv2d(x, w, padding=1)
    y.sum().backward()
    wt = torch.from_numpy(w.detach().numpy().copy()).requires_grad_()
    TF.conv2d(torch.from_numpy(x.numpy().copy()), wt, padding=1).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), atol=1e-10)


def test_conv_inplace_modification_of_input_is_detected():
    x = dt.randn(1, 2, 5, 5, dtype=dt.float64)
    w = dt.randn(3, 2, 3, 3, dtype=dt.float64, requires_grad=True)
    y = DF.conv2d(x, w)
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_conv_half_precision(dtype):
    rng = np.random.default_rng(4)
    x32 = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w32 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x = dt.from_numpy(x32).to(getattr(dt, dtype)).requires_grad_()
    w = dt.from_numpy(w32).to(getattr(dt, dtype)).requires_grad_()
    y = DF.conv2d(x, w, padding=1)
    assert y.dtype == getattr(dt, dtype)
    ref = TF.conv2d(torch.from_numpy(x.float().detach().numpy()), torch.from_numpy(w.float().detach().numpy()),
                    padding=1).numpy()
    np.testing.assert_allclose(y.float().detach().numpy(), ref, atol=0.1, rtol=0.02)
    y.float().sum().backward()
    assert x.grad.dtype == getattr(dt, dtype) and w.grad.dtype == getattr(dt, dtype)


def test_conv_errors():
    x = dt.randn(1, 3, 8, 8)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 3, 8, 8\] to have 4 channels, but got 3 channels"):
        DF.conv2d(x, dt.randn(2, 4, 3, 3))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to conv2d"):
        DF.conv2d(dt.randn(3, 8), dt.randn(2, 3, 3, 3))
    with pytest.raises(RuntimeError, match="divisible by 2"):
        DF.conv2d(dt.randn(1, 4, 8, 8), dt.randn(3, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="bias"):
        DF.conv2d(x, dt.randn(2, 3, 3, 3), dt.randn(3))
    with pytest.raises(RuntimeError, match="should be the same"):
        DF.conv2d(x, dt.randn(2, 3, 3, 3, dtype=dt.float64))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        DF.conv2d(x, dt.randn(2, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        DF.conv2d(x, dt.randn(2, 3, 9, 9))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        DF.conv_transpose2d(x, dt.randn(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="expected input"):
        DF.conv_transpose2d(x, dt.randn(4, 2, 3, 3))
    with pytest.raises(RuntimeError, match="conv1d"):
        DF.conv1d(dt.randn(1, 3, 8), dt.randn(2, 4, 3))


def test_pool_errors():
    x = dt.randn(1, 2, 6, 6)
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        DF.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        DF.avg_pool2d(dt.randn(1, 2, 2, 2), 3)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        DF.max_pool2d(dt.randn(6, 6), 2)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        DF.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(RuntimeError, match="fold"):
        DF.fold(dt.randn(1, 8, 7), (4, 5), 2)


@pytest.fixture(params=["numpy", "numba"])
def pool_path(request, monkeypatch):
    """Run a max-pool test on the NumPy window loop and on the numba kernel (any size)."""
    if request.param == "numba":
        pytest.importorskip("numba")
        monkeypatch.setattr(nn_pool, "_use_numba_pool", lambda x, nd: nd == 2 and x.__class__ is np.ndarray
                            and x.dtype in (np.float32, np.float64))
    else:
        monkeypatch.setattr(nn_pool, "_use_numba_pool", lambda x, nd: False)
    return request.param


@pytest.mark.parametrize("args", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=1, dilation=(2, 1), padding=(1, 1)), dict(kernel_size=2, ceil_mode=True)])
def test_max_pool2d_indices_match_torch(args, pool_path):
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 9))
    yd, id_ = DF.max_pool2d(dt.from_numpy(x), return_indices=True, **args)
    yt, it = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
    np.testing.assert_array_equal(yd.numpy(), yt.numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())
    assert id_.dtype == dt.int64
    _check(lambda a: DF.max_pool2d(a, **args), lambda a: TF.max_pool2d(a, **args), [x.astype(np.float32)],
           atol=1e-6)


def test_overlapping_max_pool_ties_nan_like_torch(pool_path):
    x = np.round(np.random.default_rng(16).standard_normal((2, 2, 7, 8)))  # many ties
    x[0, 0, 3, 3] = np.nan
    x[1, 1, 0, 0] = -np.inf
    d, t = _pair(x)
    yd, id_ = DF.max_pool2d(d[0], 3, 2, 1, return_indices=True)
    yt, it = TF.max_pool2d(t[0], 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(yd.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())
    yd.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(d[0].grad.numpy(), t[0].grad.numpy())


def test_max_pool_ties_and_nan_like_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 2:, 2:] = 1.0  # a tie inside one window: the first maximum gets the gradient
    d, t = _pair(x)
    yd, id_ = DF.max_pool2d(d[0], 2, return_indices=True)
    yt, it = TF.max_pool2d(t[0], 2, return_indices=True)
    np.testing.assert_array_equal(yd.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())
    yd.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(d[0].grad.numpy(), t[0].grad.numpy())


def test_max_pool1d_and_adaptive_indices():
    x = np.random.default_rng(7).standard_normal((2, 3, 11))
    for fd, ft in [(lambda a: DF.max_pool1d(a, 3, 2, 1, return_indices=True),
                    lambda a: TF.max_pool1d(a, 3, 2, 1, return_indices=True)),
                   (lambda a: DF.adaptive_max_pool1d(a, 4, return_indices=True),
                    lambda a: TF.adaptive_max_pool1d(a, 4, return_indices=True))]:
        (yd, id_), (yt, it) = fd(dt.from_numpy(x)), ft(torch.from_numpy(x))
        np.testing.assert_array_equal(yd.numpy(), yt.numpy())
        np.testing.assert_array_equal(id_.numpy(), it.numpy())
    x2 = np.random.default_rng(8).standard_normal((2, 3, 7, 10))
    (yd, id_), (yt, it) = DF.adaptive_max_pool2d(dt.from_numpy(x2), (3, 4), True), \
        TF.adaptive_max_pool2d(torch.from_numpy(x2), (3, 4), True)
    np.testing.assert_array_equal(id_.numpy(), it.numpy())


@pytest.mark.parametrize("output_size", [None, (7, 9)])
def test_max_unpool2d(output_size):
    x = np.random.default_rng(9).standard_normal((2, 3) + (output_size or (6, 8)))
    yt, it = TF.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    yd, id_ = DF.max_pool2d(dt.from_numpy(x), 2, return_indices=True)
    a = dt.from_numpy(yd.numpy().copy()).requires_grad_()
    b = yt.detach().clone().requires_grad_()
    ud = DF.max_unpool2d(a, id_, 2, output_size=output_size)
    ut = TF.max_unpool2d(b, it, 2, output_size=output_size)
    np.testing.assert_array_equal(ud.detach().numpy(), ut.detach().numpy())
    g = np.random.default_rng(10).standard_normal(tuple(ut.shape))
    ud.backward(dt.from_numpy(g))
    ut.backward(torch.from_numpy(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
    if output_size is None:
        with pytest.raises(RuntimeError, match="invalid max index"):
            DF.max_unpool2d(a, id_ * 100, 2)


def test_unfold_fold_roundtrip_matches_torch():
    x = np.random.default_rng(11).standard_normal((2, 3, 6, 7))
    kw = dict(kernel_size=(3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
    _check(lambda a: DF.fold(DF.unfold(a, **kw), (6, 7), **kw), lambda a: TF.fold(TF.unfold(a, **kw), (6, 7), **kw),
           [x])
    _check(lambda a: DF.unfold(a, 2), lambda a: TF.unfold(a, 2), [x[0]])  # unbatched


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(scale_factor=3, mode="bilinear", align_corners=True),
                                dict(size=(13, 6), mode="bilinear"), dict(scale_factor=0.6, mode="nearest"),
                                dict(size=(3, 5), mode="area")])
def test_interpolate_more(kw):
    x = np.random.default_rng(12).standard_normal((2, 3, 8, 10))
    _check(lambda a: DF.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), [x])


def test_upsample_aliases():
    x = np.random.default_rng(13).standard_normal((1, 2, 4, 5))
    np.testing.assert_allclose(DF.upsample_bilinear(dt.from_numpy(x), scale_factor=2).numpy(),
                               TF.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear",
                                              align_corners=True).numpy(), atol=1e-12)
    np.testing.assert_allclose(DF.upsample(dt.from_numpy(x), size=(7, 7)).numpy(),
                               TF.interpolate(torch.from_numpy(x), size=(7, 7)).numpy())


@pytest.mark.parametrize("fn", [
    lambda x, w: DF.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
    lambda x, w: DF.conv_transpose2d(x, w[:, :1], stride=2, padding=1, output_padding=1, groups=2),
])
def test_conv_gradcheck_tiny(fn):
    rng = np.random.default_rng(14)
    x = dt.from_numpy(rng.standard_normal((1, 4, 4, 5))).requires_grad_()
    w = dt.from_numpy(rng.standard_normal((4, 2, 2, 3))).requires_grad_()
    assert dt.autograd.gradcheck(fn, (x, w), eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("fn", [
    lambda x: DF.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    lambda x: DF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda x: DF.adaptive_max_pool2d(x, (2, 3)),
    lambda x: DF.interpolate(x, scale_factor=1.5, mode="bilinear"),
])
def test_pool_gradcheck_tiny(fn):
    n = 2 * 5 * 6
    x = dt.from_numpy(np.random.default_rng(15).permutation(n).reshape(1, 2, 5, 6) / n).requires_grad_()
    assert dt.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("case", [
    ((2, 6, 7, 8), (4, 6, 3, 3), dict(padding=1)),
    ((2, 6, 7, 8), (4, 6, 2, 3), dict(padding="same", dilation=(2, 1))),
    ((2, 6, 7, 8), (4, 3, 3, 2), dict(padding=(2, 0), dilation=(1, 2), groups=2)),
    ((2, 6, 9), (6, 6, 3), dict(padding=3)),          # padding > dilation*(k-1): the col2im path
])
def test_conv_input_grad_direct_and_col2im(monkeypatch, direct, case):
    """Stride-1 input gradients with out channels <= in channels run as a convolution of the gradient with
    the flipped kernel; both that path and col2im must match torch."""
    monkeypatch.setattr(nn_conv, "_DIRECT_INPUT_GRAD", direct)
    xs, ws, kw = case
    rng = np.random.default_rng(17)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    fd = DF.conv1d if len(xs) == 3 else DF.conv2d
    ft = TF.conv1d if len(xs) == 3 else TF.conv2d
    _check(lambda x, w, b: fd(x, w, b, **kw), lambda x, w, b: ft(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("direct", [True, False])
def test_conv_transpose_stride1_paths(monkeypatch, direct):
    monkeypatch.setattr(nn_conv, "_DIRECT_INPUT_GRAD", direct)
    rng = np.random.default_rng(18)
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 4, 3, 3)), rng.standard_normal(4)
    _check(lambda x, w, b: DF.conv_transpose2d(x, w, b, padding=1),
           lambda x, w, b: TF.conv_transpose2d(x, w, b, padding=1), [x, w, b])


def test_torch_namespace_adaptive_max_pool1d_returns_indices():
    x = np.random.default_rng(19).standard_normal((2, 3, 10))
    yd, id_ = dt.adaptive_max_pool1d(dt.from_numpy(x), 4)
    yt, it = torch.adaptive_max_pool1d(torch.from_numpy(x), 4)
    np.testing.assert_array_equal(yd.numpy(), yt.numpy())
    np.testing.assert_array_equal(id_.numpy(), it.numpy())
    assert not isinstance(DF.adaptive_max_pool1d(dt.from_numpy(x), 4), tuple)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 0)), dict(groups=2, dilation=2),
                                dict(padding=1, out=3), dict(padding=1, transpose=True)])
@pytest.mark.parametrize("chunk_bytes", [1 << 12, 1500])
@pytest.mark.parametrize("numba_im2col", [True, False])
def test_conv_tiles_split_over_threads(monkeypatch, kw, chunk_bytes, numba_im2col):
    """With more than one BLAS thread the tiles of a call run in groups of whole samples on worker threads
    (each with its own im2col scratch, partial weight gradients summed): force that split with a fake
    3-thread BLAS and compare every gradient with torch, for sample tiles and row-band tiles, with the numba
    im2col kernels and with NumPy's copies."""
    if numba_im2col:
        pytest.importorskip("numba")
    calls = []
    fake = (lambda: 3, calls.append)
    monkeypatch.setattr(nn_conv, "_NUMBA_IM2COL", numba_im2col)
    monkeypatch.setattr(nn_conv, "_blas_threads_api", lambda: fake)
    monkeypatch.setattr(nn_conv, "_openblas_api", lambda: fake)
    monkeypatch.setattr(nn_conv, "_CHUNK_BYTES", chunk_bytes)
    kw = dict(kw)
    transpose = kw.pop("transpose", False)
    O = kw.pop("out", 6)                     # 3 < in channels: the input gradient runs as a convolution
    rng = np.random.default_rng(21)
    if transpose:
        x, w, b = rng.standard_normal((5, 4, 6, 5)), rng.standard_normal((4, 6, 3, 3)), rng.standard_normal(6)
        fd, ft = DF.conv_transpose2d, TF.conv_transpose2d
    else:
        x, w = rng.standard_normal((5, 4, 9, 8)), rng.standard_normal((O, 4 // kw.get("groups", 1), 3, 3))
        b = rng.standard_normal(O)
        fd, ft = DF.conv2d, TF.conv2d
    _check(lambda x, w, b: fd(x, w, b, **kw), lambda x, w, b: ft(x, w, b, **kw), [x, w, b])
    assert calls and calls[-1] == 3          # BLAS set to 1 thread during the split and restored after
    assert 1 in calls


@pytest.mark.parametrize("numba_im2col", [True, False])
@pytest.mark.parametrize("kw", [dict(stride=3, padding=(2, 0), dilation=(1, 2)), dict(stride=(1, 2), padding=3),
                                dict(stride=2, padding=(0, 4), dilation=3), dict(padding="same", dilation=(2, 1)),
                                dict(stride=(3, 1), groups=3), dict(stride=2, padding=1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [11, 12])
def test_conv2d_im2col_geometries(monkeypatch, numba_im2col, kw, dtype, width):
    """The numba im2col/col2im kernels (read the unpadded input: windows reaching into the padding on either
    side, strides that skip input columns, dilation, groups; float32 stride-2 rows of even width take the
    64-bit-word copy) and NumPy's copies of a padded input, against torch: values and both gradients, on a
    non-contiguous input."""
    if numba_im2col:
        pytest.importorskip("numba")
    monkeypatch.setattr(nn_conv, "_NUMBA_IM2COL", numba_im2col)
    G = kw.get("groups", 1)
    rng = np.random.default_rng(31)
    x = rng.standard_normal((3, 6, width, 10)).astype(dtype)   # transposed (non-contiguous) in the call
    w, b = rng.standard_normal((6, 6 // G, 3, 4)).astype(dtype), rng.standard_normal(6).astype(dtype)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == np.float32 else {}
    _check(lambda x, w, b: DF.conv2d(x.transpose(2, 3), w, b, **kw),
           lambda x, w, b: TF.conv2d(x.transpose(2, 3), w, b, **kw), [x, w, b], **tol)


@pytest.mark.parametrize("kh, sh, ph", [(3, 2, 1), (1, 1, 0), (5, 1, 2)])
@pytest.mark.parametrize("width", [2, 8, 16, 9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunk_bytes", [1 << 30, 700])
def test_conv2d_stride2_width3_rows_like_torch(monkeypatch, kh, sh, ph, width, dtype, chunk_bytes):
    """The im2col kernels' fused path for kernel width 3 / stride 2 / padding 1 on even-width rows (the three
    kernel columns of a row copied, and added back, in one pass; ResNet's downsampling convolutions), under
    several kernel heights, row strides and paddings (rows in the padding), whole-sample and row-band tiles on
    3 threads, groups; odd widths take the general path. Values and all gradients against torch."""
    pytest.importorskip("numba")
    fake = (lambda: 3, lambda n: None)
    monkeypatch.setattr(nn_conv, "_openblas_api", lambda: fake)
    monkeypatch.setattr(nn_conv, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(41)
    x = rng.standard_normal((3, 4, 7, width)).astype(dtype)
    w, b = rng.standard_normal((6, 2, kh, 3)).astype(dtype), rng.standard_normal(6).astype(dtype)
    kw = dict(stride=(sh, 2), padding=(ph, 1), groups=2)
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == np.float32 else {}
    _check(lambda x, w, b: DF.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b], **tol)


@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (2, 3, 7, 9)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2x2_ties_nan_inf_like_torch(pool_path, shape, ceil_mode):
    """The 2x2/stride-2 kernel (numba) and the NumPy tiles: first maximum on ties, last NaN, infinities, the
    uncovered last row/column (odd sizes) and ceil_mode windows."""
    x = np.round(np.random.default_rng(22).standard_normal(shape))  # many ties
    x[0, 0, 2, 2] = np.nan
    x[0, 1, 1, 1] = x[0, 1, 0, 0] = np.nan
    x[1, 2, 0, 1] = np.inf
    x[1, 1, 0, 0] = -np.inf
    for dtype in (np.float32, np.float64):
        d, t = _pair(x.astype(dtype))
        yd, id_ = DF.max_pool2d(d[0], 2, ceil_mode=ceil_mode, return_indices=True)
        yt, it = TF.max_pool2d(t[0], 2, ceil_mode=ceil_mode, return_indices=True)
        np.testing.assert_array_equal(yd.detach().numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(id_.numpy(), it.numpy())
        g = np.random.default_rng(23).standard_normal(tuple(yt.shape)).astype(dtype)
        g[0, 0, 0, 0] = np.inf
        yd.backward(dt.from_numpy(g.copy()))
        yt.backward(torch.from_numpy(g.copy()))
        np.testing.assert_array_equal(d[0].grad.numpy(), t[0].grad.numpy())


# ---- Winograd F(m x m, 3 x 3) (ops/_winograd.py) ---------------------------------------------------------------
from disttensor.ops import _winograd as wino  # noqa: E402


@pytest.fixture(params=[2, 4], ids=["F2", "F4"])
def winograd(request, monkeypatch):
    """Route every 3x3/stride-1 conv2d through Winograd F(m, 3) (thresholds off); yields the call log."""
    monkeypatch.setattr(nn_conv, "_WINOGRAD_TILE", request.param)
    monkeypatch.setattr(nn_conv, "_WINO_MIN_CHANNELS", 1)
    monkeypatch.setattr(nn_conv, "_WINO_MIN_WORK", 1)
    calls = []
    fwd, bwd = wino.forward, wino.backward

    def f(*a, **k):
        calls.append(("forward", k.get("m")))
        return fwd(*a, **k)

    def b(*a, **k):
        calls.append(("backward", k.get("m")))
        return bwd(*a, **k)
    monkeypatch.setattr(wino, "forward", f)
    monkeypatch.setattr(wino, "backward", b)
    return request.param, calls


WINO_CASES = [
    ((2, 3, 7, 5), (4, 3, 3, 3), dict()),                   # odd output 5x3: partial tiles in both directions
    ((1, 1, 6, 9), (1, 1, 3, 3), dict(padding=1)),          # batch 1, one channel
    ((3, 5, 9, 4), (2, 5, 3, 3), dict(padding=2)),
    ((2, 4, 13, 11), (3, 4, 3, 3), dict(padding=1)),        # several tile rows
    ((1, 2, 3, 3), (2, 2, 3, 3), dict()),                   # a 1x1 output
    ((2, 3, 8, 7), (5, 3, 3, 3), dict(padding=(1, 0))),
    ((2, 3, 6, 10), (4, 3, 3, 3), dict(padding="same")),
]


@pytest.mark.parametrize("xs,ws,kw", WINO_CASES)
def test_winograd_conv2d_float64_matches_torch(winograd, xs, ws, kw):
    m, calls = winograd
    rng = np.random.default_rng(31)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    _check(lambda x, w, b: DF.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b],
           atol=1e-10, rtol=1e-9)
    assert ("forward", m) in calls and ("backward", m) in calls


@pytest.mark.parametrize("xs,ws,kw", WINO_CASES[:4])
def test_winograd_conv2d_float32_matches_torch(winograd, xs, ws, kw):
    """float32 against torch's float64 result: the error stays at a few ulps of the outputs' scale."""
    m, calls = winograd
    rng = np.random.default_rng(32)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    g = rng.standard_normal(TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape)
    d = [dt.from_numpy(a.astype(np.float32)).requires_grad_() for a in (x, w, b)]
    t = [torch.from_numpy(a).requires_grad_() for a in (x, w, b)]
    yd, yt = DF.conv2d(*d, **kw), TF.conv2d(*t, **kw)
    yd.backward(dt.from_numpy(g.astype(np.float32)))
    yt.backward(torch.from_numpy(g))
    for a, r in [(yd.detach().numpy(), yt.detach().numpy())] + [(p.grad.numpy(), q.grad.numpy()) for p, q in zip(d, t)]:
        np.testing.assert_allclose(a, r, atol=2e-5 * max(1.0, np.abs(r).max()), rtol=0)
    assert ("forward", m) in calls and ("backward", m) in calls


@pytest.mark.parametrize("block_bytes", [1, 3000, 1 << 30])
def test_winograd_blocks(winograd, monkeypatch, block_bytes):
    """Blocks of one tile row (bands of one sample: their input-gradient windows overlap), a few samples, and
    the whole batch give the same results."""
    monkeypatch.setattr(wino, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(wino, "BLOCK_BYTES_BWD", block_bytes)
    rng = np.random.default_rng(33)
    x, w, b = rng.standard_normal((3, 4, 11, 10)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    _check(lambda x, w, b: DF.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
           [x, w, b], atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("block_bytes", [3000, 100_000])     # bands of one sample; two samples a block
def test_winograd_blocks_split_over_threads(winograd, monkeypatch, block_bytes):
    """With more than one BLAS thread the blocks run in groups of whole samples on worker threads (own buffers,
    partial weight gradients summed), BLAS at one thread meanwhile."""
    calls = []
    monkeypatch.setattr(nn_conv, "_openblas_api", lambda: (lambda: 2, calls.append))
    monkeypatch.setattr(wino, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(wino, "BLOCK_BYTES_BWD", block_bytes)
    rng = np.random.default_rng(34)
    x, w, b = rng.standard_normal((5, 4, 9, 8)), rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    _check(lambda x, w, b: DF.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
           [x, w, b], atol=1e-10, rtol=1e-9)
    assert calls and calls[-1] == 2 and 1 in calls


def test_winograd_array_module_path(winograd, monkeypatch):
    """The array-module path (what CuPy arrays, or NumPy without numba, would run) through the public API."""
    monkeypatch.setattr(wino, "available", lambda a: False)
    monkeypatch.setattr(nn_conv, "_WINOGRAD_ANY_DEVICE", True)
    rng = np.random.default_rng(35)
    x, w, b = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    _check(lambda x, w, b: DF.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
           [x, w, b], atol=1e-10, rtol=1e-9)


def test_winograd_one_gradient_only(winograd):
    """A first layer (no input gradient) and a frozen weight (no weight gradient)."""
    m, calls = winograd
    rng = np.random.default_rng(36)
    x, w = rng.standard_normal((2, 3, 8, 9)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((2, 4, 8, 9))
    for x_grad, w_grad in ((False, True), (True, False)):
        xd, wd = dt.from_numpy(x.copy()).requires_grad_(x_grad), dt.from_numpy(w.copy()).requires_grad_(w_grad)
        xt, wt = torch.from_numpy(x.copy()).requires_grad_(x_grad), torch.from_numpy(w.copy()).requires_grad_(w_grad)
        DF.conv2d(xd, wd, padding=1).backward(dt.from_numpy(g.copy()))
        TF.conv2d(xt, wt, padding=1).backward(torch.from_numpy(g.copy()))
        for a, r in ((xd, xt), (wd, wt)):
            if r.grad is None:
                assert a.grad is None
            else:
                np.testing.assert_allclose(a.grad.numpy(), r.grad.numpy(), atol=1e-10, rtol=1e-9)
    assert ("backward", m) in calls


def test_winograd_gradcheck(winograd):
    x = dt.from_numpy(np.random.default_rng(37).standard_normal((1, 2, 5, 4))).requires_grad_()
    w = dt.from_numpy(np.random.default_rng(38).standard_normal((2, 2, 3, 3))).requires_grad_()
    assert dt.autograd.gradcheck(lambda x, w: DF.conv2d(x, w, padding=1), (x, w), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_winograd_default_dispatch_at_model_size():
    """With the default thresholds the MNIST conv2 shape (scaled down in batch) goes through Winograd F(4x4),
    small images and more than 48 in-channels through F(2x2), thin channel counts and strided convolutions not at
    all; float32 results stay within 5e-6 of the outputs' scale of torch's float64 ones."""
    rng = np.random.default_rng(39)
    x = rng.standard_normal((4, 32, 26, 26)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) * 0.06).astype(np.float32)
    small = np.ascontiguousarray(np.concatenate([x] * 4)[:, :, :18, :18])      # 16 x 32 x 18 x 18
    nopad = ((0, 0), (0, 0))
    assert nn_conv._winograd(x, w, (1, 1), nopad, (1, 1), 1)[1] == 4
    assert nn_conv._winograd(small, w, (1, 1), nopad, (1, 1), 1)[1] == 2
    wide = np.zeros((4, 64, 26, 26), np.float32)           # F(4x4)'s float32 error grows with in-channels
    assert nn_conv._winograd(wide, np.zeros((64, 64, 3, 3), np.float32), (1, 1), nopad, (1, 1), 1)[1] == 2
    assert nn_conv._winograd(x[:, :8], w[:, :8], (1, 1), nopad, (1, 1), 1) is None
    assert nn_conv._winograd(x, w, (2, 2), nopad, (1, 1), 1) is None
    for xs in (x, small):
        y = DF.conv2d(dt.from_numpy(xs), dt.from_numpy(w)).numpy()
        r = TF.conv2d(torch.from_numpy(xs.astype(np.float64)), torch.from_numpy(w.astype(np.float64))).numpy()
        assert np.abs(y - r).max() <= 5e-6 * np.abs(r).max()


def test_winograd_generated_kernels_match_generator():
    """The kernels in _build are the generator's output (python -m disttensor.ops._winograd rewrites them)."""
    with open(wino.__file__) as f:
        assert wino._generated_block() in f.read()


@pytest.mark.parametrize("m,points", [(2, (0, 1, -1)), (3, (0, 1, -1, 2)), (4, wino.POINTS[4]), (4, (0, 1, -1, 2, -2))])
def test_toom_cook_matrices_compute_the_correlation_exactly(m, points):
    from fractions import Fraction as Fr
    AT, G, BT = wino.toom_cook(m, 3, points)
    rng = np.random.default_rng(40)
    d = [Fr(int(v)) for v in rng.integers(-9, 9, m + 2)]
    g = [Fr(int(v)) for v in rng.integers(-9, 9, 3)]
    u = [sum(r[j] * g[j] for j in range(3)) for r in G]
    v = [sum(r[j] * d[j] for j in range(m + 2)) for r in BT]
    y = [sum(r[j] * u[j] * v[j] for j in range(m + 2)) for r in AT]
    assert y == [sum(d[i + k] * g[k] for k in range(3)) for i in range(m)]
    assert all(v.denominator == 1 for row in AT + BT for v in row)      # integer transforms for the kernels
