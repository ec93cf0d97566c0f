"""disttensor.nn.functional: the neural-network ops (defined in disttensor/ops/nn_*.py) under PyTorch's names."""
from ..ops.elementwise import sigmoid, tanh  # noqa: F401
# activations, losses, normalization, dropout/embedding/pad/attention (disttensor/ops/nn_activation.py,
# nn_loss.py, nn_norm.py, nn_misc.py)
from ..ops.nn_activation import (relu, relu_, relu6, leaky_relu, leaky_relu_, elu, elu_, selu, selu_,  # noqa: F401
                                 celu, celu_, gelu, silu, mish, softplus, softsign, hardtanh, hardtanh_,
                                 hardsigmoid, hardswish, logsigmoid, tanhshrink, softshrink, hardshrink,
                                 threshold, threshold_, prelu, glu, softmax, log_softmax, softmin, normalize,
                                 cosine_similarity, pairwise_distance, rrelu, rrelu_, gumbel_softmax)
from ..ops.nn_loss import (cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss,  # noqa: F401
                           binary_cross_entropy, binary_cross_entropy_with_logits, kl_div, margin_ranking_loss,
                           cosine_embedding_loss, soft_margin_loss, triplet_margin_loss, hinge_embedding_loss,
                           poisson_nll_loss, gaussian_nll_loss, multilabel_soft_margin_loss,
                           multi_margin_loss, multilabel_margin_loss, ctc_loss)
from ..ops.nn_norm import (batch_norm, layer_norm, group_norm, instance_norm, rms_norm,  # noqa: F401
                           local_response_norm)
from ..ops.nn_misc import (dropout, dropout1d, dropout2d, dropout3d, alpha_dropout,  # noqa: F401
                           feature_alpha_dropout, embedding, embedding_bag, one_hot, pad, linear, bilinear,
                           scaled_dot_product_attention)
# end of activations/losses/norms/misc block
# convolution and pooling (disttensor/ops/nn_conv.py, nn_pool.py)
from ..ops.nn_conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,  # noqa: F401,E402
                           conv_transpose3d, unfold, fold)
from ..ops.nn_pool import (max_pool1d, max_pool2d, max_pool3d, max_pool1d_with_indices,  # noqa: F401,E402
                           max_pool2d_with_indices, avg_pool1d, avg_pool2d, avg_pool3d, adaptive_avg_pool1d,
                           adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool2d,
                           adaptive_max_pool3d,
                           max_unpool1d, max_unpool2d, pixel_shuffle, pixel_unshuffle, interpolate, upsample,
                           upsample_nearest, upsample_bilinear, lp_pool1d, lp_pool2d, lp_pool3d)
# end of convolution and pooling block
