"""disttensor.nn.functional: the neural-network ops (defined in disttensor/ops/nn_*.py) under PyTorch's names."""
from ..ops.elementwise import sigmoid, tanh  # noqa: F401
# activations, losses, normalization, dropout/embedding/pad/attention (disttensor/ops/nn_activation.py,
# nn_loss.py, nn_norm.py, nn_misc.py)
from ..ops.nn_activation import (relu, relu_, relu6, leaky_relu, leaky_relu_, elu, elu_, selu, selu_,  # noqa: F401
                                 celu, celu_, gelu, silu, mish, softplus, softsign, hardtanh, hardtanh_,
                                 hardsigmoid, hardswish, logsigmoid, tanhshrink, softshrink, hardshrink,
                                 threshold, threshold_, prelu, glu, softmax, log_softmax, softmin, normalize,
                                 cosine_similarity, pairwise_distance)
from ..ops.nn_loss import (cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss,  # noqa: F401
                           binary_cross_entropy, binary_cross_entropy_with_logits, kl_div, margin_ranking_loss,
                           cosine_embedding_loss, soft_margin_loss, triplet_margin_loss, hinge_embedding_loss)
from ..ops.nn_norm import (batch_norm, layer_norm, group_norm, instance_norm, rms_norm,  # noqa: F401
                           local_response_norm)
from ..ops.nn_misc import (dropout, dropout1d, dropout2d, dropout3d, alpha_dropout,  # noqa: F401
                           feature_alpha_dropout, embedding, one_hot, pad, linear, bilinear,
                           scaled_dot_product_attention)
# end of activations/losses/norms/misc block
