"""RNN/LSTM/GRU (and cells, packed sequences) vs PyTorch: weights loaded from PyTorch's state_dict,
outputs, final states, input/state gradients and every parameter gradient in float64."""
import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.nn as nn
from disttensor.nn.utils import rnn as rnn_utils
from tests.nn.helpers import copy_weights, assert_close, compare_grads

R = np.random.default_rng(1)


def _pair(cls, *args, **kw):
    torch.manual_seed(0)
    ref = getattr(torch.nn, cls)(*args, **kw).double()
    ours = getattr(nn, cls)(*args, **kw).double()
    copy_weights(ours, ref)
    return ours, ref


def _flat(out):
    if isinstance(out, tuple):
        res = []
        for o in out:
            res.extend(_flat(o))
        return res
    return [out]


CONFIGS = [
    ("RNN", dict(), False, False),
    ("RNN", dict(nonlinearity="relu", num_layers=2), True, False),
    ("RNN", dict(bidirectional=True, batch_first=True), False, False),
    ("LSTM", dict(), False, False),
    ("LSTM", dict(num_layers=2, bidirectional=True), True, False),
    ("LSTM", dict(batch_first=True, bias=False), True, False),
    ("LSTM", dict(proj_size=2, num_layers=2), True, False),
    ("LSTM", dict(), False, True),
    ("GRU", dict(), False, False),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True), True, False),
    ("GRU", dict(bias=False), True, True),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize("cls,kw,with_h0,unbatched", CONFIGS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONFIGS)])
def test_rnn_matches_torch(cls, kw, with_h0, unbatched, fused, monkeypatch):
    if not fused:
        from disttensor.nn.modules import rnn as rnn_mod
        monkeypatch.setattr(rnn_mod, "_fused", lambda xg, mask: None)
    In, H, L, N = 3, 4, 5, 2
    ours, ref = _pair(cls, In, H, **kw)
    D = 2 if kw.get("bidirectional") else 1
    nl = kw.get("num_layers", 1)
    P = kw.get("proj_size", 0) or H
    if unbatched:
        shape = (L, In)
    else:
        shape = (N, L, In) if kw.get("batch_first") else (L, N, In)
    x = R.standard_normal(shape)
    tx, ox = torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)
    t_args, o_args = [tx], [ox]
    hs = []
    if with_h0:
        hshape = (D * nl, P) if unbatched else (D * nl, N, P)
        cshape = (D * nl, H) if unbatched else (D * nl, N, H)
        h0 = R.standard_normal(hshape)
        th, oh = torch.tensor(h0, requires_grad=True), dt.tensor(h0, requires_grad=True)
        hs = [(th, oh)]
        if cls == "LSTM":
            c0 = R.standard_normal(cshape)
            tc, oc = torch.tensor(c0, requires_grad=True), dt.tensor(c0, requires_grad=True)
            hs.append((tc, oc))
            t_args.append((th, tc))
            o_args.append((oh, oc))
        else:
            t_args.append(th)
            o_args.append(oh)
    t_out = _flat(ref(*t_args))
    o_out = _flat(ours(*o_args))
    assert len(t_out) == len(o_out)
    loss_t, loss_o = 0, 0
    for a, b in zip(o_out, t_out):
        assert_close(a, b, 1e-7, 1e-9, "output")
        w = R.standard_normal(tuple(b.shape))
        loss_t = loss_t + (b * torch.tensor(w)).sum()
        loss_o = loss_o + (a * dt.tensor(w)).sum()
    loss_t.backward()
    loss_o.backward()
    assert_close(ox.grad, tx.grad, 1e-6, 1e-9, "input grad")
    for th, oh in hs:
        assert_close(oh.grad, th.grad, 1e-6, 1e-9, "state grad")
    compare_grads(ours, ref, 1e-6, 1e-9)


def test_rnn_parameter_names_and_init():
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    ref = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert list(m.state_dict()) == list(ref.state_dict())
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    big = nn.GRU(10, 400)
    w = big.weight_hh_l0.detach().numpy()
    bound = 1 / np.sqrt(400)
    assert w.min() >= -bound and w.max() <= bound and abs(w.std() - bound / np.sqrt(3)) < 2e-3 * 5
    assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 5


def test_rnn_dropout_between_layers_train_vs_eval():
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = dt.randn(5, 2, 3)
    m.eval()
    a = m(x)[0].detach().numpy()
    b = m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    c = m(x)[0].detach().numpy()
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cells_match_torch(cls, unbatched):
    ours, ref = _pair(cls, 3, 4)
    x = R.standard_normal((3,) if unbatched else (2, 3))
    hshape = (4,) if unbatched else (2, 4)
    tx, ox = torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)
    h = R.standard_normal(hshape)
    th, oh = torch.tensor(h, requires_grad=True), dt.tensor(h, requires_grad=True)
    if cls == "LSTMCell":
        c = R.standard_normal(hshape)
        tc, oc = torch.tensor(c, requires_grad=True), dt.tensor(c, requires_grad=True)
        t_out, o_out = ref(tx, (th, tc)), ours(ox, (oh, oc))
    else:
        t_out, o_out = (ref(tx, th),), (ours(ox, oh),)
    lt, lo = 0, 0
    for a, b in zip(o_out, t_out):
        assert_close(a, b)
        w = R.standard_normal(tuple(b.shape))
        lt = lt + (b * torch.tensor(w)).sum()
        lo = lo + (a * dt.tensor(w)).sum()
    lt.backward()
    lo.backward()
    assert_close(ox.grad, tx.grad, 1e-6)
    assert_close(oh.grad, th.grad, 1e-6)
    compare_grads(ours, ref, 1e-6)
    # default zero state
    assert_close(_flat(ours(ox))[0], _flat(ref(tx))[0])


@pytest.mark.parametrize("cls,kw", [("LSTM", dict(bidirectional=True)), ("GRU", dict(num_layers=2)),
                                    ("RNN", dict(batch_first=True)),
                                    ("LSTM", dict(proj_size=2, num_layers=2, bidirectional=True))])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_matches_torch(cls, kw, enforce_sorted):
    ours, ref = _pair(cls, 3, 4, **kw)
    lengths = [5, 3, 2] if enforce_sorted else [2, 5, 3]
    bf = kw.get("batch_first", False)
    x = R.standard_normal((3, 5, 3) if bf else (5, 3, 3))
    tx, ox = torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    op = rnn_utils.pack_padded_sequence(ox, lengths, batch_first=bf, enforce_sorted=enforce_sorted)
    assert_close(op.data, tp.data)
    np.testing.assert_array_equal(op.batch_sizes.numpy(), tp.batch_sizes.numpy())
    t_out, t_h = ref(tp)
    o_out, o_h = ours(op)
    assert_close(o_out.data, t_out.data)
    np.testing.assert_array_equal(o_out.batch_sizes.numpy(), t_out.batch_sizes.numpy())
    assert (o_out.sorted_indices is None) == (t_out.sorted_indices is None)
    tpad, tl = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=bf)
    opad, ol = rnn_utils.pad_packed_sequence(o_out, batch_first=bf)
    np.testing.assert_array_equal(ol.numpy(), tl.numpy())
    assert_close(opad, tpad)
    t_h, o_h = _flat(t_h), _flat(o_h)
    for a, b in zip(o_h, t_h):
        assert_close(a, b)
    w = R.standard_normal(tuple(tpad.shape))
    lt = (tpad * torch.tensor(w)).sum() + sum(h.sum() for h in t_h)
    lo = (opad * dt.tensor(w)).sum() + sum(h.sum() for h in o_h)
    lt.backward()
    lo.backward()
    assert_close(ox.grad, tx.grad, 1e-6)
    compare_grads(ours, ref, 1e-6)


def test_pad_sequence_and_pack_sequence():
    seqs = [R.standard_normal((n, 2)) for n in (4, 2, 3)]
    for bf in (False, True):
        for side in ("right", "left"):
            a = rnn_utils.pad_sequence([dt.tensor(s) for s in seqs], batch_first=bf, padding_value=-1.0,
                                       padding_side=side)
            b = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=bf, padding_value=-1.0,
                                                padding_side=side)
            assert_close(a, b)
    ps = rnn_utils.pack_sequence([dt.tensor(s) for s in seqs], enforce_sorted=False)
    tps = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    assert_close(ps.data, tps.data)
    np.testing.assert_array_equal(ps.sorted_indices.numpy(), tps.sorted_indices.numpy())
    back = rnn_utils.unpack_sequence(ps)
    for a, s in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(dt.zeros(4, 2, 1), [2, 4])


def test_long_sequence_backward():
    m = nn.GRU(2, 3)
    x = dt.randn(2000, 1, 2, requires_grad=True)
    out, h = m(x)
    out.sum().backward()
    assert x.grad.shape == x.shape and np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_rnn_float32_matches_torch(cls):
    torch.manual_seed(0)
    ref = getattr(torch.nn, cls)(6, 16, num_layers=2, bidirectional=True, batch_first=True)
    ours = getattr(nn, cls)(6, 16, num_layers=2, bidirectional=True, batch_first=True)
    copy_weights(ours, ref)
    x = R.standard_normal((3, 9, 6)).astype(np.float32)
    tx, ox = torch.tensor(x, requires_grad=True), dt.tensor(x, requires_grad=True)
    to, oo = ref(tx)[0], ours(ox)[0]
    assert oo.dtype == dt.float32
    assert_close(oo, to, 1e-5, 1e-6)
    w = R.standard_normal(tuple(to.shape)).astype(np.float32)
    (to * torch.tensor(w)).sum().backward()
    (oo * dt.tensor(w)).sum().backward()
    assert_close(ox.grad, tx.grad, 1e-4, 1e-5)
    compare_grads(ours, ref, 1e-4, 1e-5)
