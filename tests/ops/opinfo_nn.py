"""OpInfos for the non-convolution nn ops: activations, softmax family, losses, norms, dropout, embedding, pad,
linear/bilinear and attention (disttensor/ops/nn_activation.py, nn_loss.py, nn_norm.py, nn_misc.py)."""
import numpy as np

from tests.ops.opinfo import OpInfo


def F(L):
    return L.nn.functional


S = [((3, 4),), ((2, 3, 5),)]
U = [((3, 4),)]


def _cls(shape_x, shape_t, c, lo=-2, hi=2, ignore=None):
    def make(rng):
        x = rng.uniform(lo, hi, size=shape_x)
        t = rng.integers(0, c, size=shape_t).astype(np.int64)
        if ignore is not None and t.size > 1:
            t.reshape(-1)[0] = ignore
        return [[x, t]]
    return make


def _cls_w(shape_x, shape_t, c, ignore=None):
    def make(rng):
        x = rng.uniform(-2, 2, size=shape_x)
        t = rng.integers(0, c, size=shape_t).astype(np.int64)
        if ignore is not None:
            t.reshape(-1)[1] = ignore
        w = rng.uniform(0.5, 2, size=(c,))
        return [[x, t, w]]
    return make


def _prob(shape):
    def make(rng):
        x = rng.uniform(-2, 2, size=shape)
        t = rng.uniform(0, 1, size=shape)
        t /= t.sum(axis=1, keepdims=True)
        return [[x, t]]
    return make


def _pm1(shape, n_in=2, pos=None):
    """n_in float inputs of `shape` and a +-1 target (of shape[:1] when pos is given)."""
    def make(rng):
        xs = [rng.uniform(-2, 2, size=shape) for _ in range(n_in)]
        t = rng.choice([-1.0, 1.0], size=pos if pos is not None else shape)
        return [xs + [t]]
    return make


def _unit(shape, k=2):
    def make(rng):
        return [[rng.uniform(0.05, 0.95, size=shape) for _ in range(k)]]
    return make


def _away(shape, pts, gap=0.05):
    """Inputs kept `gap` away from the kinks at `pts` (finite differences misbehave there)."""
    def make(rng):
        x = rng.uniform(-4, 4, size=shape)
        for p in pts:
            near = np.abs(x - p) < gap
            x[near] = p + gap * 2 * np.sign(x[near] - p + 1e-9)
        return [[x]]
    return make


def _bn(shape, training):
    def make(rng):
        c = shape[1]
        return [[rng.uniform(-2, 2, size=shape), rng.uniform(0.5, 1.5, size=(c,)), rng.uniform(-1, 1, size=(c,)),
                 rng.uniform(-0.5, 0.5, size=(c,)), rng.uniform(0.5, 2, size=(c,))]]
    return make


def _bn_fn(training):
    def fn(L, x, w, b, rm, rv):
        return F(L).batch_norm(x, rm.detach().clone(), rv.detach().clone(), w, b, training=training, momentum=0.1,
                               eps=1e-5)
    return fn


def _emb(n, d, idx_shape):
    def make(rng):
        return [[rng.integers(0, n, size=idx_shape).astype(np.int64), rng.standard_normal((n, d))]]
    return make


def _sdpa(b, h, l, s, e, mask=None):
    def make(rng):
        q = rng.standard_normal((b, h, l, e))
        k = rng.standard_normal((b, h, s, e))
        v = rng.standard_normal((b, h, s, e))
        out = [q, k, v]
        if mask == "bool":
            m = rng.uniform(size=(l, s)) > 0.3
            m[:, 0] = True
            out.append(m)
        elif mask == "float":
            out.append(rng.standard_normal((b, 1, l, s)))
        return [out]
    return make


OPS = [
    # ---- activations ----
    OpInfo("relu", lambda L, a: F(L).relu(a), S),
    OpInfo("relu6", lambda L, a: F(L).relu6(a), [((3, 4),)], make=_away((3, 4), [0, 6]), domain=(-8, 8)),
    OpInfo("leaky_relu", lambda L, a: F(L).leaky_relu(a, 0.2), S),
    OpInfo("leaky_relu", lambda L, a: F(L).leaky_relu(a), U),
    OpInfo("elu", lambda L, a: F(L).elu(a, alpha=0.7), S),
    OpInfo("selu", lambda L, a: L.selu(a), S),
    OpInfo("selu", lambda L, a: F(L).selu(a), U),
    OpInfo("celu", lambda L, a: L.celu(a, 0.5), S),
    OpInfo("gelu", lambda L, a: F(L).gelu(a), S, domain=(-4, 4)),
    OpInfo("gelu", lambda L, a: F(L).gelu(a, approximate="tanh"), S, domain=(-4, 4)),
    OpInfo("silu", lambda L, a: F(L).silu(a), S, domain=(-5, 5)),
    OpInfo("mish", lambda L, a: F(L).mish(a), S, domain=(-5, 5)),
    OpInfo("softplus", lambda L, a: F(L).softplus(a), S, domain=(-5, 5)),
    OpInfo("softplus", lambda L, a: F(L).softplus(a, beta=2.0, threshold=3.0), U, make=_away((3, 4), [1.5])),
    OpInfo("rrelu", lambda L, a: L.rrelu(a, 0.1, 0.3), S),
    OpInfo("rrelu", lambda L, a: F(L).rrelu(a, training=False), U),
    OpInfo("softsign", lambda L, a: F(L).softsign(a), S),
    OpInfo("hardtanh", lambda L, a: F(L).hardtanh(a), U, make=_away((3, 4), [-1, 1])),
    OpInfo("hardtanh", lambda L, a: F(L).hardtanh(a, -0.5, 2.0), U, make=_away((3, 4), [-0.5, 2])),
    OpInfo("hardsigmoid", lambda L, a: F(L).hardsigmoid(a), U, make=_away((3, 4), [-3, 3])),
    OpInfo("hardswish", lambda L, a: F(L).hardswish(a), U, make=_away((3, 4), [-3, 3])),
    OpInfo("logsigmoid", lambda L, a: F(L).logsigmoid(a), S, domain=(-30, 30)),
    OpInfo("tanhshrink", lambda L, a: F(L).tanhshrink(a), S),
    OpInfo("softshrink", lambda L, a: F(L).softshrink(a, 0.3), U, make=_away((3, 4), [-0.3, 0.3])),
    OpInfo("hardshrink", lambda L, a: L.hardshrink(a, 0.3), U, make=_away((3, 4), [-0.3, 0.3])),
    OpInfo("hardshrink", lambda L, a: a.hardshrink(), U, make=_away((3, 4), [-0.5, 0.5])),
    OpInfo("threshold", lambda L, a: L.threshold(a, 0.1, -2.0), U, make=_away((3, 4), [0.1])),
    OpInfo("threshold", lambda L, a: F(L).threshold(a, 0.5, 7.0), U, make=_away((3, 4), [0.5])),
    OpInfo("prelu", lambda L, a, w: L.prelu(a, w), [((2, 3, 4), (3,)), ((2, 3), (1,))]),
    OpInfo("prelu", lambda L, a, w: a.prelu(w), [((2, 3, 4, 2), (3,))]),
    OpInfo("glu", lambda L, a: F(L).glu(a), [((3, 4),)]),
    OpInfo("glu", lambda L, a: F(L).glu(a, dim=0), [((4, 3, 2),)]),
    OpInfo("softmax", lambda L, a: L.softmax(a, -1), S),
    OpInfo("softmax", lambda L, a: a.softmax(0), [((3, 4),), ((2, 3, 5),)]),
    OpInfo("softmax", lambda L, a: F(L).softmax(a, dim=1, dtype=L.float64), [((2, 3, 5),)]),
    OpInfo("log_softmax", lambda L, a: L.log_softmax(a, -1), S),
    OpInfo("log_softmax", lambda L, a: a.log_softmax(1), [((2, 3, 5),)]),
    OpInfo("softmin", lambda L, a: F(L).softmin(a, dim=1), S),
    OpInfo("normalize", lambda L, a: F(L).normalize(a), [((3, 4),), ((2, 3, 5),)]),
    OpInfo("normalize", lambda L, a: F(L).normalize(a, p=1.0, dim=-1), [((3, 4),)]),
    OpInfo("normalize", lambda L, a: F(L).normalize(a, p=3.0, dim=0), [((3, 4),)]),
    OpInfo("cosine_similarity", lambda L, a, b: L.cosine_similarity(a, b), [((3, 4), (3, 4)), ((2, 5, 3), (5, 1))]),
    OpInfo("cosine_similarity", lambda L, a, b: F(L).cosine_similarity(a, b, dim=-1), [((3, 4), (3, 4))]),
    OpInfo("pairwise_distance", lambda L, a, b: L.pairwise_distance(a, b), [((3, 4), (3, 4)), ((4,), (4,))]),
    OpInfo("pairwise_distance", lambda L, a, b: F(L).pairwise_distance(a, b, p=1.0, keepdim=True),
           [((3, 4), (3, 4))]),
    OpInfo("pairwise_distance", lambda L, a, b: F(L).pairwise_distance(a, b, p=3.0), [((3, 4), (1, 4))]),
    # ---- losses ----
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t), make=_cls((5, 4), (5,), 4)),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t, reduction="none"),
           make=_cls((2, 4, 3, 2), (2, 3, 2), 4)),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t, reduction="sum", label_smoothing=0.2),
           make=_cls((3, 5, 2), (3, 2), 5)),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t, ignore_index=2, label_smoothing=0.1),
           make=_cls((6, 4), (6,), 4, ignore=2)),
    OpInfo("cross_entropy", lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, ignore_index=-1,
                                                                   label_smoothing=0.3),
           make=_cls_w((6, 4), (6,), 4, ignore=-1), grad_args=(0,)),
    OpInfo("cross_entropy", lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, reduction="none"),
           make=_cls_w((6, 4), (6,), 4), grad_args=(0,)),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t), make=_cls((4,), (), 4)),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t), make=_prob((4, 5))),
    OpInfo("cross_entropy", lambda L, x, t: F(L).cross_entropy(x, t, reduction="none", label_smoothing=0.25),
           make=_prob((2, 3, 4))),
    OpInfo("cross_entropy", lambda L, x, t, w: F(L).cross_entropy(x, t, weight=w, reduction="sum"),
           make=lambda rng: [_prob((4, 3))(rng)[0] + [rng.uniform(0.5, 2, size=3)]], grad_args=(0, 1)),
    OpInfo("nll_loss", lambda L, x, t: F(L).nll_loss(x, t), make=_cls((5, 4), (5,), 4)),
    OpInfo("nll_loss", lambda L, x, t: F(L).nll_loss(x, t, reduction="none", ignore_index=1),
           make=_cls((2, 4, 3), (2, 3), 4, ignore=1)),
    OpInfo("nll_loss", lambda L, x, t, w: F(L).nll_loss(x, t, weight=w, ignore_index=0),
           make=_cls_w((6, 4), (6,), 4, ignore=0), grad_args=(0,)),
    OpInfo("nll_loss", lambda L, x, t: F(L).nll_loss(x, t, reduction="sum"), make=_cls((4,), (), 4)),
    OpInfo("mse_loss", lambda L, a, b: F(L).mse_loss(a, b), S and [((3, 4), (3, 4))]),
    OpInfo("mse_loss", lambda L, a, b: F(L).mse_loss(a, b, reduction="none"), [((2, 3, 5), (2, 3, 5))]),
    OpInfo("mse_loss", lambda L, a, b: F(L).mse_loss(a, b, reduction="sum"), [((3, 4), (3, 4))]),
    OpInfo("l1_loss", lambda L, a, b: F(L).l1_loss(a, b), [((3, 4), (3, 4))]),
    OpInfo("l1_loss", lambda L, a, b: F(L).l1_loss(a, b, reduction="none"), [((3, 4), (3, 4))]),
    OpInfo("smooth_l1_loss", lambda L, a, b: F(L).smooth_l1_loss(a, b), [((3, 4), (3, 4))]),
    OpInfo("smooth_l1_loss", lambda L, a, b: F(L).smooth_l1_loss(a, b, reduction="sum", beta=0.5), [((3, 4), (3, 4))]),
    OpInfo("smooth_l1_loss", lambda L, a, b: F(L).smooth_l1_loss(a, b, beta=0.0), [((3, 4), (3, 4))]),
    OpInfo("huber_loss", lambda L, a, b: F(L).huber_loss(a, b), [((3, 4), (3, 4))]),
    OpInfo("huber_loss", lambda L, a, b: F(L).huber_loss(a, b, reduction="none", delta=0.7), [((3, 4), (3, 4))]),
    OpInfo("binary_cross_entropy", lambda L, a, b: F(L).binary_cross_entropy(a, b), make=_unit((3, 4))),
    OpInfo("binary_cross_entropy", lambda L, a, b, w: F(L).binary_cross_entropy(a, b, weight=w, reduction="sum"),
           make=lambda rng: [_unit((3, 4))(rng)[0] + [rng.uniform(0.5, 2, size=(4,))]], grad_args=(0, 1)),
    OpInfo("binary_cross_entropy_with_logits", lambda L, a, b: F(L).binary_cross_entropy_with_logits(a, b),
           make=lambda rng: [[rng.uniform(-5, 5, (3, 4)), rng.uniform(0, 1, (3, 4))]]),
    OpInfo("binary_cross_entropy_with_logits",
           lambda L, a, b, w, pw: L.binary_cross_entropy_with_logits(a, b, w, pw, 2),
           make=lambda rng: [[rng.uniform(-5, 5, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.5, 2, (4,)),
                              rng.uniform(0.5, 3, (4,))]], grad_args=(0, 1)),
    OpInfo("binary_cross_entropy_with_logits",
           lambda L, a, b, pw: F(L).binary_cross_entropy_with_logits(a, b, reduction="none", pos_weight=pw),
           make=lambda rng: [[rng.uniform(-5, 5, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.5, 3, (4,))]],
           grad_args=(0, 1)),
    OpInfo("kl_div", lambda L, a, b: F(L).kl_div(a, b, reduction="batchmean"),
           make=lambda rng: [[rng.uniform(-3, -0.1, (3, 4)), rng.uniform(0.05, 1, (3, 4))]]),
    OpInfo("kl_div", lambda L, a, b: L.kl_div(a, b, 0, log_target=True),
           make=lambda rng: [[rng.uniform(-3, -0.1, (3, 4)), rng.uniform(-3, -0.1, (3, 4))]]),
    OpInfo("kl_div", lambda L, a, b: F(L).kl_div(a, b, reduction="sum"),
           make=lambda rng: [[rng.uniform(-3, -0.1, (3, 4)), rng.uniform(0.05, 1, (3, 4))]]),
    OpInfo("margin_ranking_loss", lambda L, a, b, t: F(L).margin_ranking_loss(a, b, t, margin=0.1),
           make=_pm1((6,)), grad_args=(0, 1)),
    OpInfo("margin_ranking_loss", lambda L, a, b, t: L.margin_ranking_loss(a, b, t, 0.0, 0),
           make=_pm1((6,)), grad_args=(0, 1)),
    OpInfo("cosine_embedding_loss", lambda L, a, b, t: F(L).cosine_embedding_loss(a, b, t, margin=0.1),
           make=_pm1((5, 4), pos=(5,)), grad_args=(0, 1)),
    OpInfo("cosine_embedding_loss", lambda L, a, b, t: L.cosine_embedding_loss(a, b, t, 0.0, 2),
           make=_pm1((5, 4), pos=(5,)), grad_args=(0, 1)),
    OpInfo("soft_margin_loss", lambda L, a, t: F(L).soft_margin_loss(a, t), make=_pm1((3, 4), n_in=1),
           grad_args=(0,)),
    OpInfo("triplet_margin_loss", lambda L, a, p, n: F(L).triplet_margin_loss(a, p, n), [((4, 5), (4, 5), (4, 5))]),
    OpInfo("triplet_margin_loss", lambda L, a, p, n: L.triplet_margin_loss(a, p, n, 0.5, 1, 1e-6, True, 0),
           [((4, 5), (4, 5), (4, 5))]),
    OpInfo("hinge_embedding_loss", lambda L, a, t: F(L).hinge_embedding_loss(a, t, margin=0.5),
           make=_pm1((3, 4), n_in=1), grad_args=(0,), gradcheck=False),
    OpInfo("hinge_embedding_loss", lambda L, a, t: L.hinge_embedding_loss(a, t, 1.0, 2),
           make=_pm1((3, 4), n_in=1), grad_args=(0,), gradcheck=False),
    OpInfo("poisson_nll_loss", lambda L, a, t: F(L).poisson_nll_loss(a, t), [((3, 4), (3, 4))]),
    OpInfo("poisson_nll_loss", lambda L, a, t: L.poisson_nll_loss(a, t, False, True, 1e-8, 2),
           make=lambda rng: [[rng.uniform(0.2, 3, (3, 4)), rng.uniform(0, 4, (3, 4))]]),
    OpInfo("gaussian_nll_loss", lambda L, a, t, v: F(L).gaussian_nll_loss(a, t, v),
           make=lambda rng: [[rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4)), rng.uniform(0.2, 2, (3, 4))]]),
    OpInfo("gaussian_nll_loss", lambda L, a, t, v: F(L).gaussian_nll_loss(a, t, v, full=True, reduction="none"),
           make=lambda rng: [[rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4)), rng.uniform(0.2, 2, (3,))]]),
    OpInfo("multilabel_soft_margin_loss", lambda L, a, t: F(L).multilabel_soft_margin_loss(a, t),
           make=lambda rng: [[rng.uniform(-3, 3, (3, 4)), rng.integers(0, 2, (3, 4)).astype(np.float64)]],
           grad_args=(0,)),
    OpInfo("multilabel_soft_margin_loss", lambda L, a, t, w: F(L).multilabel_soft_margin_loss(a, t, w, reduction="none"),
           make=lambda rng: [[rng.uniform(-3, 3, (3, 4)), rng.integers(0, 2, (3, 4)).astype(np.float64),
                              rng.uniform(0.5, 2, (4,))]], grad_args=(0,)),
    # ---- normalization ----
    OpInfo("layer_norm", lambda L, x, w, b: F(L).layer_norm(x, (5,), w, b), [((3, 5), (5,), (5,)),
                                                                              ((2, 3, 5), (5,), (5,))]),
    OpInfo("layer_norm", lambda L, x, w, b: L.layer_norm(x, [3, 4], w, b, 1e-3), [((2, 3, 4), (3, 4), (3, 4))]),
    OpInfo("layer_norm", lambda L, x: F(L).layer_norm(x, (4,)), [((3, 4),)]),
    OpInfo("rms_norm", lambda L, x, w: L.rms_norm(x, (5,), w), [((3, 5), (5,))]),
    OpInfo("rms_norm", lambda L, x: F(L).rms_norm(x, [3, 4], eps=1e-4), [((2, 3, 4),)]),
    OpInfo("batch_norm", _bn_fn(True), make=_bn((4, 3), True), grad_args=(0, 1, 2)),
    OpInfo("batch_norm", _bn_fn(True), make=_bn((2, 3, 4, 2), True), grad_args=(0, 1, 2)),
    OpInfo("batch_norm", _bn_fn(False), make=_bn((2, 3, 4), False), grad_args=(0, 1, 2)),
    OpInfo("batch_norm", lambda L, x, w, b, rm, rv: L.batch_norm(x, w, b, rm.detach().clone(), rv.detach().clone(),
                                                                 True, 0.1, 1e-5, False),
           make=_bn((3, 2, 3), True), grad_args=(0, 1, 2)),
    OpInfo("batch_norm", lambda L, x: F(L).batch_norm(x, None, None, training=True), [((5, 3),)]),
    OpInfo("group_norm", lambda L, x, w, b: F(L).group_norm(x, 2, w, b), [((2, 4, 3), (4,), (4,)),
                                                                          ((2, 6, 2, 2), (6,), (6,))]),
    OpInfo("group_norm", lambda L, x: L.group_norm(x, 1), [((2, 3, 4),)]),
    OpInfo("instance_norm", lambda L, x, w, b: F(L).instance_norm(x, weight=w, bias=b), [((2, 3, 4), (3,), (3,))]),
    OpInfo("instance_norm", lambda L, x, rm, rv: L.instance_norm(x, None, None, rm.detach().clone(),
                                                                 rv.detach().clone(), True, 0.1, 1e-5, False),
           make=lambda rng: [[rng.uniform(-2, 2, (2, 3, 2, 2)), rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3)]],
           grad_args=(0,)),
    OpInfo("local_response_norm", lambda L, x: F(L).local_response_norm(x, 3, alpha=0.5, beta=0.75, k=1.0),
           [((2, 5, 3),)]),
    OpInfo("local_response_norm", lambda L, x: F(L).local_response_norm(x, 2), [((2, 4, 2, 2),)]),
    # ---- dropout (deterministic cases; statistics are in test_nn_functional_extra.py) ----
    OpInfo("dropout", lambda L, a: L.dropout(a, 0.4, False) * 2, U),
    OpInfo("dropout", lambda L, a: F(L).dropout(a, p=1.0), U),
    OpInfo("dropout", lambda L, a: F(L).dropout(a, 0.5, training=False) + 1, U),
    OpInfo("feature_dropout", lambda L, a: L.feature_dropout(a, 0.3, False) * 3, [((2, 3, 4),)]),
    OpInfo("alpha_dropout", lambda L, a: L.alpha_dropout(a, 0.3, False) * 3, U),
    # ---- embedding / one_hot / pad ----
    OpInfo("embedding", lambda L, i, w: F(L).embedding(i, w), make=_emb(7, 3, (2, 5)), gradcheck=True),
    OpInfo("embedding", lambda L, i, w: F(L).embedding(i, w, padding_idx=2), make=_emb(5, 3, (4, 6)), gradcheck=False),
    OpInfo("embedding", lambda L, i, w: L.embedding(w, i, 1, True), make=_emb(5, 3, (12,)), gradcheck=False),
    OpInfo("one_hot", lambda L, i: F(L).one_hot(i, 5), make=lambda rng: [[rng.integers(0, 5, (3, 4))]], grad=False),
    OpInfo("pad", lambda L, a: F(L).pad(a, (1, 2)), S),
    OpInfo("pad", lambda L, a: F(L).pad(a, (1, -1, 2, 0), value=3.5), [((2, 3, 4),)]),
    OpInfo("pad", lambda L, a: F(L).pad(a, (2, 1, 1, 1), mode="reflect"), [((1, 2, 3, 4),)]),
    OpInfo("pad", lambda L, a: F(L).pad(a, (2, 1), mode="reflect"), [((2, 3, 4),)]),
    OpInfo("pad", lambda L, a: F(L).pad(a, (2, 3, 0, 1), mode="replicate"), [((1, 2, 3, 4),)]),
    OpInfo("pad", lambda L, a: F(L).pad(a, (1, 1, 2, 0, 1, 1), mode="replicate"), [((1, 2, 3, 4, 2),)]),
    OpInfo("pad", lambda L, a: F(L).pad(a, (2, 1, 1, 2), mode="circular"), [((1, 2, 3, 4),)]),
    OpInfo("constant_pad_nd", lambda L, a: L.constant_pad_nd(a, (1, 1, 0, 2), 1.5), [((3, 4),)]),
    # ---- linear / bilinear / attention ----
    OpInfo("linear", lambda L, x, w, b: F(L).linear(x, w, b), [((3, 4), (5, 4), (5,)), ((2, 3, 4), (5, 4), (5,)),
                                                                ((4,), (5, 4), (5,))]),
    OpInfo("linear", lambda L, x, w: F(L).linear(x, w), [((3, 4), (5, 4))]),
    OpInfo("bilinear", lambda L, a, b, w, bias: L.bilinear(a, b, w, bias), [((3, 4), (3, 2), (5, 4, 2), (5,)),
                                                                           ((2, 3, 4), (2, 3, 2), (5, 4, 2), (5,))]),
    OpInfo("bilinear", lambda L, a, b, w: F(L).bilinear(a, b, w), [((3, 4), (3, 2), (5, 4, 2))]),
    OpInfo("scaled_dot_product_attention", lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v),
           make=_sdpa(2, 2, 3, 4, 5)),
    OpInfo("scaled_dot_product_attention",
           lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
           make=_sdpa(1, 2, 4, 4, 3)),
    OpInfo("scaled_dot_product_attention",
           lambda L, q, k, v, m: F(L).scaled_dot_product_attention(q, k, v, attn_mask=m), make=_sdpa(2, 1, 3, 4, 2,
                                                                                                      "bool")),
    OpInfo("scaled_dot_product_attention",
           lambda L, q, k, v, m: F(L).scaled_dot_product_attention(q, k, v, attn_mask=m), make=_sdpa(2, 2, 3, 4, 2,
                                                                                                      "float")),
]
