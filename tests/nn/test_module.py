"""nn.Module behaviour vs PyTorch: registration, traversal, state dicts, repr, hooks, modes, conversions."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.nn as nn
from tests.nn.helpers import copy_weights


def _composite(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.nn.Conv2d(1, 4, 3, padding=1)
            self.bn = lib.nn.BatchNorm2d(4)
            self.fc = lib.nn.Linear(4 * 4 * 4, 8)
            self.lstm = lib.nn.LSTM(8, 6, num_layers=2, bidirectional=True)
            self.tf = lib.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                         dim_feedforward=16)
            self.emb = lib.nn.Embedding(5, 8, padding_idx=0)
            self.head = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Dropout(0.1), lib.nn.Linear(8, 3, bias=False))
            self.blocks = lib.nn.ModuleList([lib.nn.LayerNorm(8), lib.nn.GroupNorm(2, 8)])
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.head(self.fc(self.bn(self.conv(x)).flatten(1)))
    return Net()


def test_state_dict_keys_match_torch():
    ours, ref = _composite(dt), _composite(torch)
    assert list(ours.state_dict().keys()) == list(ref.state_dict().keys())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]
    for (k, a), (_, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert tuple(a.shape) == tuple(b.shape), k
    assert isinstance(ours.state_dict(), OrderedDict)


def test_repr_matches_torch():
    ours, ref = _composite(dt), _composite(torch)
    assert repr(ours) == repr(ref)
    for ctor in [lambda L: L.nn.MaxPool2d(2), lambda L: L.nn.AvgPool1d(3, 2), lambda L: L.nn.Conv1d(2, 4, 3, 2, 1,
                 groups=2, bias=False, padding_mode="reflect"), lambda L: L.nn.ConvTranspose2d(4, 2, 3, 2, 1, 1),
                 lambda L: L.nn.AdaptiveAvgPool2d((1, 1)), lambda L: L.nn.GELU("tanh"),
                 lambda L: L.nn.LeakyReLU(0.2, True), lambda L: L.nn.Softmax(dim=1), lambda L: L.nn.ELU(),
                 lambda L: L.nn.Hardtanh(), lambda L: L.nn.ReLU6(), lambda L: L.nn.Softplus(),
                 lambda L: L.nn.PReLU(3), lambda L: L.nn.Unflatten(1, (2, 2)), lambda L: L.nn.Upsample(scale_factor=2),
                 lambda L: L.nn.PixelShuffle(2), lambda L: L.nn.GRU(3, 4, batch_first=True, bidirectional=True),
                 lambda L: L.nn.RNN(3, 4, nonlinearity="relu", bias=False), lambda L: L.nn.LSTMCell(3, 4),
                 lambda L: L.nn.RNNCell(3, 4, nonlinearity="relu"), lambda L: L.nn.RMSNorm(4),
                 lambda L: L.nn.InstanceNorm2d(3), lambda L: L.nn.Embedding(4, 2, max_norm=1.0),
                 lambda L: L.nn.CrossEntropyLoss(), lambda L: L.nn.Bilinear(2, 3, 4), lambda L: L.nn.Identity(),
                 lambda L: L.nn.MultiheadAttention(4, 2), lambda L: L.nn.ZeroPad2d(1),
                 lambda L: L.nn.ConstantPad1d(2, 1.5), lambda L: L.nn.ReflectionPad2d((1, 0, 1, 0)),
                 lambda L: L.nn.Dropout2d(0.3), lambda L: L.nn.Threshold(0.1, 2.0), lambda L: L.nn.Softshrink(),
                 lambda L: L.nn.ParameterList([L.nn.Parameter(L.zeros(2, 3)), L.zeros(4)]),
                 lambda L: L.nn.ParameterDict({"b": L.nn.Parameter(L.zeros(3)), "a": L.zeros(1)}),
                 lambda L: L.nn.ModuleList([L.nn.Linear(2, 2) for _ in range(3)] + [L.nn.ReLU()]),
                 lambda L: L.nn.ModuleDict({"x": L.nn.Tanh(), "y": L.nn.Sigmoid()}),
                 lambda L: L.nn.TransformerEncoder(L.nn.TransformerEncoderLayer(4, 2, 8), 2)]:
        a, b = repr(ctor(dt)), repr(ctor(torch))
        assert a == b.replace("torch.", "disttensor."), (a, b)


def test_parameter_basics():
    p = nn.Parameter(dt.ones(2, 2))
    assert p.requires_grad and isinstance(p, dt.Tensor) and p.is_leaf
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2, 2))).replace("torch.", "disttensor.")
    q = nn.Parameter(dt.ones(2), requires_grad=False)
    assert not q.requires_grad
    with pytest.raises(RuntimeError):
        nn.Parameter(dt.ones(2, dtype=dt.int64))
    c = copy.deepcopy(p)
    assert isinstance(c, nn.Parameter) and c is not p and np.array_equal(c.detach().numpy(), p.detach().numpy())
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.requires_grad
    y = p * 2
    assert type(y) is dt.Tensor
    b = nn.Buffer(dt.zeros(3), persistent=False)
    assert isinstance(b, nn.Buffer) and not isinstance(dt.zeros(2), nn.Buffer)
    m = nn.Module()
    m.b = b
    assert "b" in m._buffers and "b" not in m.state_dict()


def test_tied_weights_dedup():
    for lib in (dt, torch):
        emb = lib.nn.Embedding(10, 4)
        out = lib.nn.Linear(4, 10, bias=False)
        out.weight = emb.weight
        m = lib.nn.Sequential(emb, out)
        assert len(list(m.parameters())) == 1
        assert [n for n, _ in m.named_parameters()] == ["0.weight"]
        assert len(list(m.named_parameters(remove_duplicate=False))) == 2
        assert list(m.state_dict().keys()) == ["0.weight", "1.weight"]
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.modules())) == 2 and len(list(seq.named_modules(remove_duplicate=False))) == 3
    assert len(list(seq.parameters())) == 2


def test_named_parameters_prefix_recurse():
    for lib in (dt, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.Sequential(lib.nn.Linear(3, 1)))
        names = [n for n, _ in m.named_parameters(prefix="model")]
        assert names == ["model.0.weight", "model.0.bias", "model.1.0.weight", "model.1.0.bias"]
        assert list(m.named_parameters(recurse=False)) == []
        assert [n for n, _ in m[1].named_parameters(recurse=False)] == []


def test_setattr_registration_and_errors():
    m = nn.Module()
    m.w = nn.Parameter(dt.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.register_buffer("buf", dt.ones(1))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf"]
    m.buf = dt.zeros(1)  # re-assigning a buffer keeps it a buffer
    assert "buf" in m._buffers
    with pytest.raises(TypeError, match="cannot assign 'disttensor.FloatTensor' as parameter 'w'"):
        m.w = dt.zeros(2)
    m.w = None
    assert m._parameters["w"] is None and m.w is None
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = 3
    with pytest.raises(KeyError, match="attribute 'x' already exists"):
        m.x = 1
        m.register_parameter("x", nn.Parameter(dt.zeros(1)))
    with pytest.raises(KeyError):
        m.register_buffer("a.b", None)
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("q", nn.Parameter(dt.ones(1)) * 2 if False else _nonleaf_param())
    del m.sub
    assert "sub" not in m._modules
    for lib in (dt, torch):
        class Early(lib.nn.Module):
            def __init__(self):
                self.w = lib.nn.Parameter(lib.zeros(1))
        with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__\\(\\) call"):
            Early()
    assert "weight" in dir(nn.Linear(1, 1)) and "in_features" in dir(nn.Linear(1, 1))


def _nonleaf_param():
    p = nn.Parameter(dt.ones(1))
    q = p * 2
    q.__class__ = nn.Parameter
    return q


def test_get_submodule_parameter_buffer():
    for lib in (dt, torch):
        m = lib.nn.Sequential(OrderedDict(enc=lib.nn.Sequential(OrderedDict(bn=lib.nn.BatchNorm1d(3)))))
        assert m.get_submodule("enc.bn") is m.enc.bn
        assert m.get_parameter("enc.bn.weight") is m.enc.bn.weight
        assert m.get_buffer("enc.bn.running_mean") is m.enc.bn.running_mean
        with pytest.raises(AttributeError, match="has no attribute `zz`"):
            m.get_submodule("enc.zz")
        with pytest.raises(AttributeError, match="is not an nn.Parameter"):
            m.get_parameter("enc.bn.running_mean")


def test_load_state_dict_roundtrip_and_strict_errors():
    torch.manual_seed(0)
    ref = _composite(torch)
    ours = _composite(dt)
    copy_weights(ours, ref)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ref.state_dict()[k].numpy())
    r = ours.load_state_dict(ours.state_dict())
    assert repr(r) == "<All keys matched successfully>" and r.missing_keys == [] and r.unexpected_keys == []

    def both(sd_fn, strict=True):
        msgs = []
        for lib, model in ((dt, _composite(dt)), (torch, _composite(torch))):
            sd = sd_fn(lib, model.state_dict())
            try:
                res = model.load_state_dict(sd, strict=strict)
                msgs.append(("ok", res.missing_keys, res.unexpected_keys))
            except RuntimeError as e:
                msgs.append(("err", str(e).replace("torch.", "disttensor.")))
        return msgs

    def drop_add(lib, sd):
        sd = OrderedDict(sd)
        del sd["fc.weight"]
        del sd["bn.running_var"]
        sd["extra.weight"] = lib.zeros(1)
        sd["fc.nope"] = lib.zeros(1)
        return sd
    a, b = both(drop_add)
    assert a == b and a[0] == "err" and 'Missing key(s) in state_dict: "bn.running_var", "fc.weight". ' in a[1]
    a, b = both(drop_add, strict=False)
    assert a == b and a[0] == "ok" and a[1] == ["bn.running_var", "fc.weight"]

    def wrong_shape(lib, sd):
        sd = OrderedDict(sd)
        sd["fc.weight"] = lib.zeros(3, 4)
        return sd
    a, b = both(wrong_shape)
    assert a == b
    assert "size mismatch for fc.weight: copying a param with shape disttensor.Size([3, 4]) from checkpoint, the " \
           "shape in current model is disttensor.Size([8, 64])." in a[1]
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        ours.load_state_dict([1, 2])


def test_load_state_dict_keeps_identity_and_assign():
    m = nn.Linear(2, 2)
    w = m.weight
    m.load_state_dict({"weight": dt.ones(2, 2), "bias": dt.zeros(2)})
    assert m.weight is w and float(w.sum()) == 4.0
    new_w = dt.full((2, 2), 3.0)
    m.load_state_dict({"weight": new_w, "bias": dt.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad and float(m.weight.sum()) == 12.0
    sd = m.state_dict(keep_vars=True)
    assert sd["weight"] is m.weight
    assert not m.state_dict()["weight"].requires_grad
    sd2 = m.state_dict(prefix="model.")
    assert list(sd2) == ["model.weight", "model.bias"]


def test_train_eval_propagation():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m[1].train(False)
    assert m.training and not m[1][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")


def test_to_dtype_keeps_parameter_identity():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m(dt.randn(4, 2)).sum().backward()
    m.double()
    assert m[0].weight is w and w.dtype == dt.float64 and w.grad.dtype == dt.float64
    assert m[1].running_mean.dtype == dt.float64 and m[1].num_batches_tracked.dtype == dt.int64
    m.to(dt.float32)
    assert w.dtype == dt.float32
    m.to("cpu", dtype=dt.float64)
    assert w.dtype == dt.float64
    m.float()
    with pytest.raises(TypeError, match="floating point"):
        m.to(dt.int32)
    assert m.half() is m and w.dtype == dt.float16
    m.to(dt.zeros(1, dtype=dt.float32))
    assert w.dtype == dt.float32


def test_zero_grad_apply_requires_grad():
    m = nn.Linear(3, 2)
    m(dt.randn(2, 3)).sum().backward()
    assert m.weight.grad is not None
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and float(g.abs().sum()) == 0.0
    m.zero_grad()
    assert m.weight.grad is None
    seen = []
    nn.Sequential(nn.Linear(1, 1), nn.ReLU()).apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Sequential"]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_hooks_order_and_effects():
    calls = []
    m = nn.Linear(2, 2)
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre1"))
    m.register_forward_pre_hook(lambda mod, args: (calls.append("pre0"), None)[1], prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: calls.append("prekw"), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, out: calls.append("post1"))
    m.register_forward_hook(lambda mod, args, out: out * 0 + 7)
    m.register_forward_hook(lambda mod, args, kwargs, out: calls.append(("postkw", out.sum().item())),
                            with_kwargs=True)
    y = m(dt.ones(1, 2))
    assert calls == ["pre0", "pre1", "prekw", "post1", ("postkw", 14.0)]
    assert float(y.sum()) == 14.0
    h1.remove()
    calls.clear()
    m(dt.ones(1, 2))
    assert calls[:2] == ["pre0", "prekw"]
    # a pre-hook may replace the input (a bare value is wrapped into a tuple)
    m2 = nn.Identity()
    m2.register_forward_pre_hook(lambda mod, args: args[0] * 2)
    assert float(m2(dt.ones(1)).item()) == 2.0
    # module-level hooks on children run in module order
    order = []
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    for name, sub in seq.named_children():
        sub.register_forward_hook(lambda mod, a, o, name=name: order.append(name))
    seq(dt.ones(1, 2))
    assert order == ["0", "1", "2"]
    # always_call hooks run when forward raises
    bad = nn.Linear(2, 2)
    hit = []
    bad.register_forward_hook(lambda mod, a, o: hit.append(1), always_call=True)
    with pytest.raises(Exception):
        bad(dt.ones(1, 5))
    assert hit == [1]


def test_full_backward_hook_matches_torch():
    got = {}
    for lib in (torch, dt):
        lib.manual_seed(0)
        m = lib.nn.Linear(3, 2).double()
        if lib is dt:
            copy_weights(m, ref)
        else:
            ref = m
        rec = []
        m.register_full_backward_pre_hook(lambda mod, gout: rec.append(("pre", [g.detach().numpy().copy()
                                                                              for g in gout])))
        m.register_full_backward_hook(lambda mod, gin, gout: rec.append(
            ("full", [None if g is None else g.detach().numpy().copy() for g in gin],
             [g.detach().numpy().copy() for g in gout])))
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        (m(x) * lib.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))).sum().backward()
        got[lib.__name__] = (rec, x.grad.numpy())
    a, b = got["disttensor"], got["torch"]
    assert [r[0] for r in a[0]] == [r[0] for r in b[0]] == ["pre", "full"]
    np.testing.assert_allclose(a[0][1][1][0], b[0][1][1][0])
    np.testing.assert_allclose(a[0][1][2][0], b[0][1][2][0])
    np.testing.assert_allclose(a[1], b[1])


def test_sequential_and_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear) and isinstance(s[1:], nn.Sequential) and len(s[1:]) == 2
    assert list(s[1:]._modules) == ["1", "2"]
    with pytest.raises(IndexError):
        s[5]
    s.append(nn.Sigmoid())
    assert len(s) == 4 and list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and isinstance(s[1], nn.Linear)
    s2 = nn.Sequential(OrderedDict([("a", nn.Linear(1, 1)), ("b", nn.Tanh())]))
    assert s2.a is s2[0] and list(s2._modules) == ["a", "b"]
    y = s(dt.ones(4, 2))
    assert tuple(y.shape) == (4, 1)
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml.insert(0, nn.Identity())
    assert [type(x).__name__ for x in ml] == ["Identity", "Linear", "ReLU", "Tanh"]
    assert len(ml[1:3]) == 2
    md = nn.ModuleDict({"a": nn.ReLU()})
    md["b"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    pl = nn.ParameterList([dt.zeros(2), nn.Parameter(dt.ones(1))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(list(pl.parameters())) == 2
    pd = nn.ParameterDict({"x": dt.zeros(3)})
    pd["y"] = nn.Parameter(dt.ones(2))
    assert [n for n, _ in pd.named_parameters()] == ["x", "y"]
    t_pd = torch.nn.ParameterDict({"b": torch.zeros(1), "a": torch.zeros(1)})
    o_pd = nn.ParameterDict({"b": dt.zeros(1), "a": dt.zeros(1)})
    assert list(t_pd.keys()) == list(o_pd.keys())


def test_pickle_and_deepcopy_module():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight
    np.testing.assert_array_equal(c[0].weight.detach().numpy(), m[0].weight.detach().numpy())
    r = pickle.loads(pickle.dumps(m))
    assert isinstance(r[0].weight, nn.Parameter)
    assert list(r.state_dict()) == list(m.state_dict())


def test_nn_parallel_facade():
    import disttensor.nn.parallel as par
    try:
        ddp = par.DistributedDataParallel
    except ImportError as e:
        assert "DistributedDataParallel" in str(e)
    else:
        assert ddp is not None


def test_extra_state_and_state_dict_hooks():
    for lib in (dt, torch):
        class WithExtra(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(1, 1)
                self.counter = 3

            def get_extra_state(self):
                return {"counter": self.counter}

            def set_extra_state(self, state):
                self.counter = state["counter"]

        m = WithExtra()
        sd = m.state_dict()
        assert list(sd) == ["_extra_state", "lin.weight", "lin.bias"] and sd["_extra_state"] == {"counter": 3}
        m2 = WithExtra()
        m2.counter = 0
        m2.load_state_dict(sd)
        assert m2.counter == 3
        seen = []
        m2.register_load_state_dict_post_hook(lambda mod, keys: seen.append(list(keys.missing_keys)))
        sd2 = dict(sd)
        del sd2["lin.bias"]
        m2.load_state_dict(sd2, strict=False)
        assert seen == [["lin.bias"]]
    post = []
    m = nn.Linear(1, 1)
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: post.append(prefix))
    m.state_dict(prefix="x.")
    assert post == ["x."]
