"""MultiheadAttention and the Transformer modules vs PyTorch (dropout 0, float64)."""
import numpy as np
import pytest
import torch

import disttensor as dt
import disttensor.nn as nn
from tests.nn.helpers import copy_weights, assert_close, compare_grads

R = np.random.default_rng(2)


def _pair(ctor):
    torch.manual_seed(0)
    ref = ctor(torch).double()
    ours = ctor(dt).double()
    copy_weights(ours, ref)
    return ours, ref


def _both(x, grad=True):
    return torch.tensor(x, requires_grad=grad), dt.tensor(x, requires_grad=grad)


def _check(ours, ref, t_args, o_args, t_kw=None, o_kw=None, grads=()):
    t_out = ref(*t_args, **(t_kw or {}))
    o_out = ours(*o_args, **(o_kw or {}))
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    o_out = o_out if isinstance(o_out, tuple) else (o_out,)
    lt, lo = 0, 0
    for a, b in zip(o_out, t_out):
        if b is None:
            assert a is None
            continue
        assert_close(a, b, 1e-7, 1e-9)
        w = R.standard_normal(tuple(b.shape))
        lt = lt + (b * torch.tensor(w)).sum()
        lo = lo + (a * dt.tensor(w)).sum()
    lt.backward()
    lo.backward()
    for tg, og in grads:
        assert_close(og.grad, tg.grad, 1e-6, 1e-9)
    compare_grads(ours, ref, 1e-6, 1e-9)


MHA_CASES = [
    (dict(), dict()),
    (dict(batch_first=True), dict(average_attn_weights=False)),
    (dict(bias=False), dict(need_weights=False)),
    (dict(add_bias_kv=True, add_zero_attn=True), dict()),
    (dict(kdim=3, vdim=5), dict()),
]


@pytest.mark.parametrize("kw,fkw", MHA_CASES, ids=[str(i) for i in range(len(MHA_CASES))])
def test_mha_matches_torch(kw, fkw):
    E, Hd, L, S, N = 8, 2, 4, 5, 3
    ours, ref = _pair(lambda Lb: Lb.nn.MultiheadAttention(E, Hd, **kw))
    bf = kw.get("batch_first", False)
    q = R.standard_normal((N, L, E) if bf else (L, N, E))
    k = R.standard_normal((N, S, kw.get("kdim", E)) if bf else (S, N, kw.get("kdim", E)))
    v = R.standard_normal((N, S, kw.get("vdim", E)) if bf else (S, N, kw.get("vdim", E)))
    (tq, oq), (tk, ok), (tv, ov) = _both(q), _both(k), _both(v)
    _check(ours, ref, (tq, tk, tv), (oq, ok, ov), fkw, fkw, grads=[(tq, oq), (tk, ok), (tv, ov)])


def test_mha_masks_and_self_attention():
    E, Hd, L, N = 6, 3, 5, 2
    ours, ref = _pair(lambda Lb: Lb.nn.MultiheadAttention(E, Hd))
    x = R.standard_normal((L, N, E))
    kpm = np.array([[False, False, False, True, True], [False, False, False, False, False]])
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    for am in (causal, np.where(causal, -np.inf, 0.0), R.standard_normal((N * Hd, L, L))):
        tx, ox = _both(x)
        _check(ours, ref, (tx, tx, tx), (ox, ox, ox),
               dict(key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(am)),
               dict(key_padding_mask=dt.tensor(kpm), attn_mask=dt.tensor(am)), grads=[(tx, ox)])
        ours.zero_grad()
        ref.zero_grad()
    # unbatched
    u = R.standard_normal((L, E))
    tu, ou = _both(u)
    _check(ours, ref, (tu, tu, tu), (ou, ou, ou), grads=[(tu, ou)])


def test_mha_state_dict_names():
    assert list(nn.MultiheadAttention(4, 2).state_dict()) == list(torch.nn.MultiheadAttention(4, 2).state_dict())
    assert list(nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True).state_dict()) == \
        list(torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True).state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first):
    ours, ref = _pair(lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=activation,
                                                             batch_first=batch_first, norm_first=norm_first))
    x = R.standard_normal((3, 5, 8))
    mask = np.where(np.triu(np.ones((5, 5) if batch_first else (3, 3), dtype=bool), 1), -np.inf, 0.0)
    kpm = np.zeros((3, 5) if batch_first else (5, 3), dtype=bool)
    kpm[0, -1] = True
    tx, ox = _both(x)
    _check(ours, ref, (tx,), (ox,), dict(src_mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(kpm)),
           dict(src_mask=dt.tensor(mask), src_key_padding_mask=dt.tensor(kpm)), grads=[(tx, ox)])


def test_encoder_decoder_stacks_and_transformer():
    ours, ref = _pair(lambda L: L.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True))
    tgt, mem = R.standard_normal((2, 4, 8)), R.standard_normal((2, 6, 8))
    (tt, ot), (tm, om) = _both(tgt), _both(mem)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4).double()
    omask = nn.Transformer.generate_square_subsequent_mask(4, dtype=dt.float64)
    assert_close(omask, tmask)
    _check(ours, ref, (tt, tm), (ot, om), dict(tgt_mask=tmask), dict(tgt_mask=omask), grads=[(tt, ot), (tm, om)])

    ours, ref = _pair(lambda L: L.nn.TransformerEncoder(L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2,
                                                        norm=L.nn.LayerNorm(8), enable_nested_tensor=False)
                      if L is torch else L.nn.TransformerEncoder(L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0),
                                                                 2, norm=L.nn.LayerNorm(8)))
    src = R.standard_normal((5, 2, 8))
    ts, os_ = _both(src)
    _check(ours, ref, (ts,), (os_,), grads=[(ts, os_)])

    ours, ref = _pair(lambda L: L.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                                 dim_feedforward=16, dropout=0.0, batch_first=True))
    assert list(ours.state_dict()) == list(ref.state_dict())
    src, tgt = R.standard_normal((2, 5, 8)), R.standard_normal((2, 3, 8))
    (ts, os_), (tt, ot) = _both(src), _both(tgt)
    tm = torch.nn.Transformer.generate_square_subsequent_mask(3).double()
    om = nn.Transformer.generate_square_subsequent_mask(3, dtype=dt.float64)
    _check(ours, ref, (ts, tt), (os_, ot), dict(tgt_mask=tm), dict(tgt_mask=om), grads=[(ts, os_), (tt, ot)])


def test_transformer_init_is_xavier():
    m = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64)
    w = m.encoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6.0 / (32 + 64))
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.9 * bound
    b = m.encoder.layers[0].self_attn.in_proj_bias.detach().numpy()
    assert np.all(b == 0)


def test_multi_head_attention_forward_signature():
    from disttensor.nn.modules.activation import multi_head_attention_forward
    ours, ref = _pair(lambda L: L.nn.MultiheadAttention(8, 2))
    x = R.standard_normal((4, 2, 8))
    tx, ox = _both(x, grad=False)
    a = torch.nn.functional.multi_head_attention_forward(
        tx, tx, tx, 8, 2, ref.in_proj_weight, ref.in_proj_bias, None, None, False, 0.0, ref.out_proj.weight,
        ref.out_proj.bias, training=False)
    b = multi_head_attention_forward(ox, ox, ox, 8, 2, ours.in_proj_weight, ours.in_proj_bias, None, None, False,
                                     0.0, ours.out_proj.weight, ours.out_proj.bias, training=False)
    assert_close(b[0], a[0])
    assert_close(b[1], a[1])
