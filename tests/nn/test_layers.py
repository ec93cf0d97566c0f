"""Each layer vs PyTorch CPU: same weights (loaded through NumPy), same input, float64; outputs, input
gradients and every parameter gradient must match; buffers (running stats) too."""
import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.nn as nn
from tests.nn.helpers import copy_weights, assert_close, compare_grads

R = np.random.default_rng(0)


def _x(*shape, lo=None):
    a = R.standard_normal(shape)
    if lo is not None:
        a = np.abs(a) + lo
    return a


# (id, constructor taking the library, list of input arrays, train-mode flag)
CASES = [
    ("Linear", lambda L: L.nn.Linear(5, 3), [_x(4, 5)]),
    ("Linear_nobias_3d", lambda L: L.nn.Linear(5, 3, bias=False), [_x(2, 4, 5)]),
    ("Bilinear", lambda L: L.nn.Bilinear(3, 4, 2), [_x(5, 3), _x(5, 4)]),
    ("Identity", lambda L: L.nn.Identity(), [_x(3, 2)]),
    ("Conv1d", lambda L: L.nn.Conv1d(2, 4, 3, stride=2, padding=1), [_x(2, 2, 9)]),
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3, padding=1), [_x(2, 3, 6, 6)]),
    ("Conv2d_groups_dil", lambda L: L.nn.Conv2d(4, 4, 3, stride=(2, 1), dilation=2, groups=2, bias=False),
     [_x(2, 4, 9, 8)]),
    ("Conv2d_same_reflect", lambda L: L.nn.Conv2d(2, 3, 3, padding="same", padding_mode="reflect"),
     [_x(1, 2, 5, 5)]),
    ("Conv2d_circular", lambda L: L.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [_x(1, 2, 5, 5)]),
    ("ConvTranspose1d", lambda L: L.nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1),
     [_x(2, 3, 5)]),
    ("ConvTranspose2d", lambda L: L.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), [_x(2, 3, 4, 4)]),
    ("MaxPool1d", lambda L: L.nn.MaxPool1d(2), [_x(2, 3, 8)]),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(2), [_x(2, 3, 6, 6)]),
    ("MaxPool2d_pad", lambda L: L.nn.MaxPool2d(3, stride=2, padding=1), [_x(2, 3, 7, 7)]),
    ("AvgPool1d", lambda L: L.nn.AvgPool1d(2), [_x(2, 3, 8)]),
    ("AvgPool2d", lambda L: L.nn.AvgPool2d(2, stride=1), [_x(2, 3, 5, 5)]),
    ("AdaptiveAvgPool1d", lambda L: L.nn.AdaptiveAvgPool1d(3), [_x(2, 3, 7)]),
    ("AdaptiveAvgPool2d", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), [_x(2, 3, 6, 7)]),
    ("AdaptiveAvgPool2d_1", lambda L: L.nn.AdaptiveAvgPool2d(1), [_x(2, 3, 5, 5)]),
    ("AdaptiveMaxPool2d", lambda L: L.nn.AdaptiveMaxPool2d(2), [_x(2, 3, 6, 6)]),
    ("BatchNorm1d", lambda L: L.nn.BatchNorm1d(4), [_x(6, 4)]),
    ("BatchNorm1d_3d", lambda L: L.nn.BatchNorm1d(4, momentum=None), [_x(3, 4, 5)]),
    ("BatchNorm2d", lambda L: L.nn.BatchNorm2d(3), [_x(4, 3, 5, 5)]),
    ("BatchNorm2d_noaffine", lambda L: L.nn.BatchNorm2d(3, affine=False), [_x(4, 3, 2, 2)]),
    ("BatchNorm2d_notrack", lambda L: L.nn.BatchNorm2d(3, track_running_stats=False), [_x(4, 3, 2, 2)]),
    ("LayerNorm", lambda L: L.nn.LayerNorm(5), [_x(3, 4, 5)]),
    ("LayerNorm_2d", lambda L: L.nn.LayerNorm([4, 5], elementwise_affine=False), [_x(3, 4, 5)]),
    ("GroupNorm", lambda L: L.nn.GroupNorm(2, 4), [_x(3, 4, 5)]),
    ("RMSNorm", lambda L: L.nn.RMSNorm(5, eps=1e-6), [_x(3, 5)]),
    ("InstanceNorm2d", lambda L: L.nn.InstanceNorm2d(3), [_x(2, 3, 4, 4)]),
    ("InstanceNorm2d_affine_track", lambda L: L.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
     [_x(2, 3, 4, 4)]),
    ("Flatten", lambda L: L.nn.Flatten(), [_x(2, 3, 4)]),
    ("Unflatten", lambda L: L.nn.Unflatten(1, (2, 6)), [_x(2, 12)]),
    ("PixelShuffle", lambda L: L.nn.PixelShuffle(2), [_x(2, 8, 3, 3)]),
    ("Upsample", lambda L: L.nn.Upsample(scale_factor=2, mode="nearest"), [_x(1, 2, 3, 3)]),
    ("ZeroPad2d", lambda L: L.nn.ZeroPad2d((1, 2, 0, 1)), [_x(1, 2, 3, 3)]),
    ("ReflectionPad1d", lambda L: L.nn.ReflectionPad1d(2), [_x(1, 2, 5)]),
    ("Softmax", lambda L: L.nn.Softmax(dim=1), [_x(3, 4)]),
    ("LogSoftmax", lambda L: L.nn.LogSoftmax(dim=-1), [_x(3, 4)]),
    ("Softmin", lambda L: L.nn.Softmin(dim=0), [_x(3, 4)]),
    ("CosineSimilarity", lambda L: L.nn.CosineSimilarity(dim=1), [_x(3, 4), _x(3, 4)]),
    ("PairwiseDistance", lambda L: L.nn.PairwiseDistance(), [_x(3, 4), _x(3, 4)]),
    ("PReLU", lambda L: L.nn.PReLU(3), [_x(2, 3, 4)]),
    ("GLU", lambda L: L.nn.GLU(), [_x(3, 4)]),
]
for _name in ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus", "Softsign",
              "Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid", "Tanhshrink", "Softshrink",
              "Hardshrink"]:
    CASES.append((_name, (lambda n: lambda L: getattr(L.nn, n)())(_name), [_x(3, 5) * 3]))
CASES.append(("GELU_tanh", lambda L: L.nn.GELU(approximate="tanh"), [_x(3, 5)]))
CASES.append(("Threshold", lambda L: L.nn.Threshold(0.1, -2.0), [_x(3, 5)]))
CASES.append(("LeakyReLU_slope", lambda L: L.nn.LeakyReLU(0.3), [_x(3, 5)]))


def _run(ctor, inputs, train=True):
    torch.manual_seed(0)
    ref = ctor(torch).double()
    ours = ctor(dt).double()
    copy_weights(ours, ref)
    ref.train(train)
    ours.train(train)
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    o_in = [dt.tensor(a, requires_grad=True) for a in inputs]
    t_out = ref(*t_in)
    try:
        o_out = ours(*o_in)
    except AttributeError as e:
        if "disttensor.nn.functional" in str(e):
            pytest.skip(f"functional op not available yet: {e}")
        raise
    assert_close(o_out, t_out, 1e-7, 1e-9, "output")
    w = R.standard_normal(tuple(t_out.shape))
    (t_out * torch.tensor(w)).sum().backward()
    (o_out * dt.tensor(w)).sum().backward()
    for a, b in zip(o_in, t_in):
        assert_close(a.grad, b.grad, 1e-6, 1e-9, "input grad")
    compare_grads(ours, ref, 1e-6, 1e-9)
    for (k, a), (_, b) in zip(ours.named_buffers(), ref.named_buffers()):
        assert_close(a, b, 1e-7, 1e-9, f"buffer {k}")
    return ours, ref


@pytest.mark.parametrize("name,ctor,inputs", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch(name, ctor, inputs):
    ours, ref = _run(ctor, inputs, train=True)


@pytest.mark.parametrize("name,ctor,inputs", [c for c in CASES if "Norm" in c[0]],
                         ids=[c[0] for c in CASES if "Norm" in c[0]])
def test_norm_eval_after_train(name, ctor, inputs):
    torch.manual_seed(0)
    ref = ctor(torch).double()
    ours = ctor(dt).double()
    copy_weights(ours, ref)
    for _ in range(3):
        a = R.standard_normal(inputs[0].shape)
        ref(torch.tensor(a))
        ours(dt.tensor(a))
    for (k, a), (_, b) in zip(ours.named_buffers(), ref.named_buffers()):
        assert_close(a, b, 1e-7, 1e-9, f"buffer {k}")
    ref.eval()
    ours.eval()
    a = R.standard_normal(inputs[0].shape)
    assert_close(ours(dt.tensor(a)), ref(torch.tensor(a)), 1e-7, 1e-9, "eval output")


def test_embedding_padding_idx_and_from_pretrained():
    torch.manual_seed(0)
    ref = torch.nn.Embedding(6, 3, padding_idx=1).double()
    ours = nn.Embedding(6, 3, padding_idx=1).double()
    assert float(ours.weight[1].abs().sum()) == 0.0
    copy_weights(ours, ref)
    idx = np.array([[0, 1, 2], [1, 5, 5]])
    t = ref(torch.tensor(idx))
    o = ours(dt.tensor(idx))
    assert_close(o, t)
    w = R.standard_normal(tuple(t.shape))
    (t * torch.tensor(w)).sum().backward()
    (o * dt.tensor(w)).sum().backward()
    compare_grads(ours, ref)
    assert float(ours.weight.grad[1].abs().sum()) == 0.0
    pre = dt.tensor(R.standard_normal((4, 2)))
    e = nn.Embedding.from_pretrained(pre)
    assert not e.weight.requires_grad and e.num_embeddings == 4 and e.embedding_dim == 2
    e2 = nn.Embedding.from_pretrained(pre, freeze=False, padding_idx=-1)
    assert e2.weight.requires_grad and e2.padding_idx == 3


def test_dropout_modes():
    x = dt.ones(2000)
    d = nn.Dropout(0.25)
    y = d(x)
    kept = (y.numpy() != 0).mean()
    assert 0.7 < kept < 0.8 and np.allclose(y.numpy()[y.numpy() != 0], 1 / 0.75)
    d.eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())
    d2 = nn.Dropout2d(0.5)
    y2 = d2(dt.ones(4, 50, 3, 3)).numpy()
    per_channel = y2.reshape(4, 50, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)


LOSSES = [
    ("CrossEntropyLoss", lambda L: L.nn.CrossEntropyLoss(), _x(4, 5), np.array([0, 3, 4, 1])),
    ("CrossEntropyLoss_ls_ignore", lambda L: L.nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2),
     _x(4, 5), np.array([0, 2, 4, 1])),
    ("CrossEntropyLoss_weight", lambda L: L.nn.CrossEntropyLoss(weight=L.tensor(np.arange(1.0, 6.0)),
                                                                reduction="sum"), _x(4, 5), np.array([0, 3, 4, 1])),
    ("NLLLoss", lambda L: L.nn.NLLLoss(), _x(4, 5), np.array([0, 3, 4, 1])),
    ("MSELoss", lambda L: L.nn.MSELoss(), _x(3, 4), _x(3, 4)),
    ("L1Loss_sum", lambda L: L.nn.L1Loss(reduction="sum"), _x(3, 4), _x(3, 4)),
    ("SmoothL1Loss", lambda L: L.nn.SmoothL1Loss(beta=0.5), _x(3, 4), _x(3, 4)),
    ("HuberLoss", lambda L: L.nn.HuberLoss(delta=0.7), _x(3, 4), _x(3, 4)),
    ("BCELoss", lambda L: L.nn.BCELoss(), 1 / (1 + np.exp(-_x(3, 4))), R.random((3, 4))),
    ("BCEWithLogitsLoss", lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.tensor(np.array([1.0, 2.0, 0.5, 3.0]))),
     _x(3, 4), R.random((3, 4))),
    ("KLDivLoss", lambda L: L.nn.KLDivLoss(reduction="batchmean"), np.log(R.random((3, 4)) + 0.1),
     R.random((3, 4))),
    ("MSELoss_none", lambda L: L.nn.MSELoss(reduction="none"), _x(3, 4), _x(3, 4)),
]


@pytest.mark.parametrize("name,ctor,inp,target", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_matches_torch(name, ctor, inp, target):
    ref = ctor(torch)
    ours = ctor(dt)
    ti = torch.tensor(inp, requires_grad=True)
    oi = dt.tensor(inp, requires_grad=True)
    tl = ref(ti, torch.tensor(target))
    ol = ours(oi, dt.tensor(target))
    assert_close(ol, tl)
    tl.sum().backward()
    ol.sum().backward()
    assert_close(oi.grad, ti.grad)


def test_pair_losses():
    a, b, y = _x(4, 3), _x(4, 3), np.array([1.0, -1.0, 1.0, -1.0])
    for name, kw in (("CosineEmbeddingLoss", {"margin": 0.2}), ("MarginRankingLoss", {"margin": 0.1})):
        if name == "MarginRankingLoss":
            args = (_x(5), _x(5), np.array([1.0, -1.0, 1.0, 1.0, -1.0]))
        else:
            args = (a, b, y)
        t_in = [torch.tensor(v, requires_grad=i < 2) for i, v in enumerate(args)]
        o_in = [dt.tensor(v, requires_grad=i < 2) for i, v in enumerate(args)]
        tl = getattr(torch.nn, name)(**kw)(*t_in)
        ol = getattr(nn, name)(**kw)(*o_in)
        assert_close(ol, tl)
        tl.backward()
        ol.backward()
        for p, q in zip(o_in[:2], t_in[:2]):
            assert_close(p.grad, q.grad)


def test_loss_legacy_reduction_args():
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"
    assert "weight" in dict(nn.CrossEntropyLoss(weight=dt.ones(3)).named_buffers())


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode):
    torch.manual_seed(0)
    ref = torch.nn.EmbeddingBag(7, 3, mode=mode).double()
    ours = nn.EmbeddingBag(7, 3, mode=mode).double()
    copy_weights(ours, ref)
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 6])
    offs = np.array([0, 3, 5])
    t = ref(torch.tensor(idx), torch.tensor(offs))
    o = ours(dt.tensor(idx), dt.tensor(offs))
    assert_close(o, t)
    w = R.standard_normal(tuple(t.shape))
    (t * torch.tensor(w)).sum().backward()
    (o * dt.tensor(w)).sum().backward()
    compare_grads(ours, ref)
    idx2 = np.array([[1, 2], [3, 3], [0, 6]])
    assert_close(ours(dt.tensor(idx2)), ref(torch.tensor(idx2)))


def test_lazy_linear():
    m = nn.LazyLinear(4)
    assert isinstance(m.weight, nn.UninitializedParameter)
    y = m(dt.randn(2, 7))
    assert type(m) is nn.Linear and m.in_features == 7 and tuple(m.weight.shape) == (4, 7)
    assert tuple(y.shape) == (2, 4) and type(m.weight) is nn.Parameter
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / np.sqrt(7)


def test_global_forward_hooks():
    seen = []
    h = nn.modules.module.register_module_forward_hook(lambda mod, a, o: seen.append(type(mod).__name__))
    try:
        nn.Sequential(nn.Linear(2, 2), nn.ReLU())(dt.ones(1, 2))
    finally:
        h.remove()
    assert seen == ["Linear", "ReLU", "Sequential"]
    nn.Linear(2, 2)(dt.ones(1, 2))
    assert len(seen) == 3


def test_torch_module_paths():
    from disttensor.nn.modules.utils import _pair  # noqa: F401
    from disttensor.nn.modules.batchnorm import _BatchNorm  # noqa: F401
    from disttensor.nn.modules.conv import _ConvNd  # noqa: F401
    from disttensor.nn.modules.loss import _Loss, _WeightedLoss  # noqa: F401
    from disttensor.nn.modules.normalization import LayerNorm  # noqa: F401
    from disttensor.nn.modules.module import Module  # noqa: F401
    assert issubclass(nn.BatchNorm2d, _BatchNorm)


def test_embedding_max_norm_renorms_like_torch():
    torch.manual_seed(0)
    ref = torch.nn.Embedding(5, 3, max_norm=1.0).double()
    ours = nn.Embedding(5, 3, max_norm=1.0).double()
    copy_weights(ours, ref)
    idx = np.array([0, 2, 2, 4])
    assert_close(ours(dt.tensor(idx)), ref(torch.tensor(idx)))
    assert_close(ours.weight, ref.weight)


def test_lazy_conv_and_batchnorm_become_eager():
    m = nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    t = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3, padding=1), torch.nn.LazyBatchNorm2d(), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.LazyLinear(5))
    y = m(dt.randn(2, 3, 6, 6))
    t(torch.randn(2, 3, 6, 6))
    assert tuple(y.shape) == (2, 5) and repr(m) == repr(t) and list(m.state_dict()) == list(t.state_dict())
    assert type(m[0]) is nn.Conv2d and type(m[1]) is nn.BatchNorm2d
    assert np.abs(m[0].weight.detach().numpy()).max() <= 1 / np.sqrt(27)
    assert int(m[1].num_batches_tracked) == 1
    ct = nn.LazyConvTranspose1d(2, 3)
    assert tuple(ct(dt.randn(1, 5, 4)).shape) == (1, 2, 6) and tuple(ct.weight.shape) == (5, 2, 3)


def test_adaptive_log_softmax_matches_torch():
    torch.manual_seed(0)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10], div_value=2.0, head_bias=True).double()
    ours = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10], div_value=2.0, head_bias=True).double()
    assert repr(ours) == repr(ref) and list(ours.state_dict()) == list(ref.state_dict())
    copy_weights(ours, ref)
    x = R.standard_normal((7, 8))
    y = np.array([0, 3, 5, 12, 19, 9, 4])
    tx, ox = torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)
    t, o = ref(tx, torch.tensor(y)), ours(ox, dt.tensor(y))
    assert_close(o.output, t.output)
    assert_close(o.loss, t.loss)
    t.loss.backward()
    o.loss.backward()
    assert_close(ox.grad, tx.grad, 1e-6)
    compare_grads(ours, ref, 1e-6)
    assert_close(ours.log_prob(dt.tensor(x)), ref.log_prob(torch.tensor(x)))
    np.testing.assert_array_equal(ours.predict(dt.tensor(x)).numpy(), ref.predict(torch.tensor(x)).numpy())
