"""OpInfos for convolution, pooling, unfold/fold, pixel shuffle and interpolation (disttensor/ops/nn_conv.py,
nn_pool.py). Each entry runs against torch.nn.functional in float32 and float64, on contiguous and strided
inputs, with gradients of every float input (input, weight, bias) and a float64 gradcheck on the small ones."""
import numpy as np

from tests.ops.opinfo import OpInfo


def F(L):
    return L.nn.functional


def _pos_distinct(shape):
    """Inputs for max pooling: distinct values (no ties), so finite differences are well defined."""
    def make(rng):
        n = int(np.prod(shape))
        return [[rng.permutation(n).reshape(shape).astype(np.float64) / n * 4 - 2]]
    return make


C32 = dict(atol32=2e-4, rtol32=2e-4)

OPS = [
    # ---- convolutions (registered as torch.<name>) ----
    OpInfo("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b), [((2, 3, 6, 5), (4, 3, 3, 3), (4,))], **C32),
    OpInfo("conv2d", lambda L, x, w, b: L.conv2d(x, w, b, stride=2, padding=1), [((2, 3, 7, 6), (4, 3, 3, 2), (4,))],
           **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, dilation=(2, 1), padding=(2, 0)),
           [((1, 2, 7, 5), (3, 2, 3, 2))], **C32),
    OpInfo("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b, groups=2, stride=(1, 2)),
           [((2, 4, 5, 6), (6, 2, 2, 3), (6,))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, groups=3, padding=1), [((1, 3, 4, 4), (3, 1, 3, 3))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, padding="same", dilation=(1, 2)),
           [((1, 2, 5, 6), (3, 2, 2, 3))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, padding="valid"), [((1, 2, 5, 6), (3, 2, 2, 3))], **C32),
    OpInfo("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b), [((2, 4, 3, 5), (3, 4, 1, 1), (3,))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, stride=2), [((2, 4, 5, 5), (3, 4, 1, 1))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, padding=1), [((3, 5, 4), (2, 3, 3, 3))], **C32),  # unbatched
    # big enough for the Winograd path (nn_conv._winograd): F(4x4, 3x3), the second with an odd output width
    OpInfo("conv2d", lambda L, x, w, b: F(L).conv2d(x, w, b, padding=1), [((2, 32, 34, 33), (32, 32, 3, 3), (32,))],
           **C32),
    OpInfo("conv2d", lambda L, x, w: L.conv2d(x, w), [((1, 36, 50, 49), (33, 36, 3, 3))], **C32),
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, padding=1), [((8, 32, 16, 17), (32, 32, 3, 3))], **C32),  # F(2x2)
    OpInfo("conv2d", lambda L, x, w: F(L).conv2d(x, w, padding=1), [((2, 64, 34, 34), (32, 64, 3, 3))], **C32),  # F(2x2)
    OpInfo("conv1d", lambda L, x, w, b: L.conv1d(x, w, b, stride=2, padding=2, dilation=2),
           [((2, 3, 11), (4, 3, 3), (4,))], **C32),
    OpInfo("conv1d", lambda L, x, w: F(L).conv1d(x, w, groups=2, padding="same"), [((2, 4, 7), (4, 2, 4))], **C32),
    OpInfo("conv3d", lambda L, x, w, b: L.conv3d(x, w, b, padding=1, stride=(1, 2, 1)),
           [((1, 2, 3, 4, 3), (3, 2, 2, 3, 2), (3,))], **C32),
    OpInfo("conv_transpose2d", lambda L, x, w, b: L.conv_transpose2d(x, w, b), [((2, 3, 3, 4), (3, 2, 3, 3), (2,))],
           **C32),
    OpInfo("conv_transpose2d", lambda L, x, w, b: F(L).conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                         output_padding=1),
           [((2, 3, 3, 4), (3, 2, 3, 3), (2,))], **C32),
    OpInfo("conv_transpose2d", lambda L, x, w: F(L).conv_transpose2d(x, w, stride=(2, 3), output_padding=(1, 2),
                                                                      groups=2, dilation=(2, 1)),
           [((1, 4, 3, 2), (4, 1, 2, 3))], **C32),
    OpInfo("conv_transpose2d", lambda L, x, w: F(L).conv_transpose2d(x, w), [((2, 3, 3, 4), (3, 5, 1, 1))], **C32),
    OpInfo("conv_transpose1d", lambda L, x, w, b: L.conv_transpose1d(x, w, b, stride=3, padding=1,
                                                                      output_padding=2),
           [((2, 3, 5), (3, 2, 3), (2,))], **C32),
    OpInfo("conv_transpose3d", lambda L, x, w: L.conv_transpose3d(x, w, stride=2, padding=1, output_padding=1),
           [((1, 2, 2, 3, 2), (2, 2, 3, 2, 3))], **C32),
    # ---- unfold / fold (functional only) ----
    OpInfo("nn.functional.unfold", lambda L, x: F(L).unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
           [((2, 3, 5, 6),)]),
    OpInfo("nn.functional.fold", lambda L, x: F(L).fold(x, (4, 5), (2, 2), padding=1, stride=(1, 2)),
           [((2, 8, 15),)]),
    # ---- max pooling ----
    OpInfo("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2), [], make=_pos_distinct((2, 3, 6, 8))),
    OpInfo("max_pool2d", lambda L, x: L.max_pool2d(x, 3, 2, 1), [], make=_pos_distinct((2, 3, 7, 6))),
    OpInfo("max_pool2d", lambda L, x: F(L).max_pool2d(x, (2, 3), (2, 1), (1, 1), dilation=(2, 1), ceil_mode=True),
           [], make=_pos_distinct((1, 2, 7, 6))),
    OpInfo("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2, ceil_mode=True, return_indices=True), [],
           make=_pos_distinct((2, 2, 5, 7))),
    OpInfo("max_pool2d", lambda L, x: F(L).max_pool2d(x, 2), [], make=_pos_distinct((3, 5, 4))),  # unbatched
    OpInfo("max_pool1d", lambda L, x: L.max_pool1d(x, 3, 2, 1, ceil_mode=True), [], make=_pos_distinct((2, 3, 10))),
    OpInfo("max_pool1d", lambda L, x: F(L).max_pool1d(x, 2), [], make=_pos_distinct((2, 3, 9))),
    OpInfo("max_pool3d", lambda L, x: L.max_pool3d(x, 2), [], make=_pos_distinct((1, 2, 4, 4, 5))),
    OpInfo("max_pool3d", lambda L, x: L.max_pool3d(x, (2, 3, 2), stride=1, padding=1), [],
           make=_pos_distinct((1, 1, 3, 4, 3))),
    OpInfo("adaptive_max_pool1d", lambda L, x: L.adaptive_max_pool1d(x, 4), [], make=_pos_distinct((2, 3, 10))),
    OpInfo("nn.functional.adaptive_max_pool2d", lambda L, x: F(L).adaptive_max_pool2d(x, (3, 4)), [],
           make=_pos_distinct((2, 2, 7, 9))),
    # ---- average pooling ----
    OpInfo("avg_pool1d", lambda L, x: L.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
           [((2, 3, 10),)]),
    OpInfo("avg_pool1d", lambda L, x: F(L).avg_pool1d(x, 2), [((2, 3, 9),)]),
    OpInfo("nn.functional.avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 2), [((2, 3, 6, 8),)]),
    OpInfo("nn.functional.avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1), [((2, 3, 7, 6),)]),
    OpInfo("nn.functional.avg_pool2d", lambda L, x: F(L).avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                                     count_include_pad=False), [((2, 2, 6, 7),)]),
    OpInfo("nn.functional.avg_pool2d", lambda L, x: F(L).avg_pool2d(x, (2, 3), (2, 1), (1, 1), divisor_override=4),
           [((1, 2, 5, 6),)]),
    OpInfo("nn.functional.avg_pool3d", lambda L, x: F(L).avg_pool3d(x, 2, ceil_mode=True), [((1, 2, 3, 4, 5),)]),
    OpInfo("adaptive_avg_pool1d", lambda L, x: L.adaptive_avg_pool1d(x, 4), [((2, 3, 10),)]),
    OpInfo("nn.functional.adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, (3, 4)), [((2, 3, 7, 9),)]),
    OpInfo("nn.functional.adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, 1), [((2, 3, 5, 4),)]),
    OpInfo("nn.functional.adaptive_avg_pool2d", lambda L, x: F(L).adaptive_avg_pool2d(x, (None, 2)),
           [((2, 3, 5, 4),)]),
    # ---- pixel shuffle, interpolate ----
    OpInfo("pixel_shuffle", lambda L, x: L.pixel_shuffle(x, 2), [((2, 8, 3, 2),)]),
    OpInfo("pixel_unshuffle", lambda L, x: F(L).pixel_unshuffle(x, 2), [((2, 2, 4, 6),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, scale_factor=2), [((2, 3, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, size=(5, 7)), [((2, 3, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, size=(5, 7), mode="nearest-exact"),
           [((1, 2, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, size=(7, 3), mode="bilinear",
                                                                       align_corners=True), [((2, 2, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, scale_factor=1.5, mode="bilinear",
                                                                       align_corners=False), [((2, 2, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, scale_factor=0.5, mode="bilinear"),
           [((1, 2, 6, 5),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, size=5, mode="linear"), [((2, 3, 4),)]),
    OpInfo("nn.functional.interpolate", lambda L, x: F(L).interpolate(x, size=(2, 3), mode="area"),
           [((2, 3, 5, 7),)]),
]
