"""RNN, LSTM, GRU and their cells, with PyTorch's parameter names, gate order and initialisation.

The input projection of a whole sequence is one GEMM (autograd as usual); the recurrence of one
layer and direction is one graph node whose forward loops over time on raw arrays and whose backward
is the matching backpropagation through time, so a sequence costs one node instead of ~15 per step.
Variable lengths (PackedSequence) are handled by a per-step mask: finished rows keep their state.
"""
import math
import numbers
import warnings

import numpy as np

from ...tensor import Tensor
from ...autograd.node import Node
from ...ops._apply import apply
from ..._backends.device import xp_of
from .. import functional as F
from .. import init
from .module import Module
from ._utils import empty_param

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _sigmoid(xp, x):
    # 0.5 * (1 + tanh(x / 2)): no overflow warnings for large |x|
    out = xp.tanh(x * 0.5)
    out += 1
    out *= 0.5
    return out


def _step_order(L, reverse):
    return range(L - 1, -1, -1) if reverse else range(L)


def _fused(xg, mask):
    """The numba kernels when this recurrence can use them (CPU float32/float64, no length mask)."""
    if mask is not None or xg.__class__ is not np.ndarray or xg.dtype not in (np.float32, np.float64):
        return None
    from ._rnn_kernels import kernels
    return kernels()


def _prev_states(xp, h0, hs, order, mask):
    """(L, N, P) array: the state entering each time step t (h0 or the previous step's state)."""
    prev = xp.empty_like(hs)
    h = h0
    for t in order:
        prev[t] = h
        h = xp.where(mask[t], hs[t], h) if mask is not None else hs[t]
    return prev


class _RNNSeq(Node):
    """h_t = act(xg_t + h_{t-1} W_hh^T) over a sequence; output (L, N, H): all hidden states."""
    __slots__ = ("hs", "h0", "w", "reverse", "mask", "relu")

    def forward(self, xg, h0, w_hh, reverse, mask, relu):
        xp = xp_of(xg)
        L, N, H = xg.shape
        out = xp.empty((L, N, H), dtype=xg.dtype)
        h = h0
        wt = xp.ascontiguousarray(w_hh.T)
        for t in _step_order(L, reverse):
            a = xg[t] + h @ wt
            hn = xp.maximum(a, 0) if relu else xp.tanh(a)
            if mask is not None:
                m = mask[t]
                hn = xp.where(m, hn, h)
                out[t] = xp.where(m, hn, 0)
            else:
                out[t] = hn
            h = hn
        self.hs = out
        self.h0 = h0
        self.w = w_hh
        self.reverse = reverse
        self.mask = mask
        self.relu = relu
        return out

    def backward(self, g):
        xp = xp_of(g)
        hs, w, mask = self.hs, self.w, self.mask
        L, N, H = hs.shape
        dxg = xp.empty_like(hs)
        dh = xp.zeros((N, H), dtype=hs.dtype)
        order = list(_step_order(L, self.reverse))
        prev = _prev_states(xp, self.h0, hs, order, mask)
        for t in reversed(order):
            dh_t = dh + g[t]
            ht = hs[t]
            da = dh_t * (ht > 0) if self.relu else dh_t * (1 - ht * ht)
            if mask is not None:
                m = mask[t]
                da *= m
                dh = da @ w + xp.where(m, 0, dh_t)
            else:
                dh = da @ w
            dxg[t] = da
        dw = dxg.reshape(L * N, H).T @ prev.reshape(L * N, H)
        return dxg, dh, dw, None, None, None


class _LSTMSeq(Node):
    """LSTM recurrence over a sequence (gates i, f, g, o as PyTorch), optional projection W_hr.

    Output: one flat array [all h_t (L*N*P), c_n (N*H)], split by views in the caller.
    """
    __slots__ = ("cache", "h0", "c0", "w", "wr", "reverse", "mask", "shape")

    def forward(self, xg, h0, c0, w_hh, w_hr, reverse, mask):
        xp = xp_of(xg)
        L, N, G = xg.shape
        H = G // 4
        P = h0.shape[1]
        dt = xg.dtype
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: pre-scale the i, f, o columns of the input projection and
        # of W_hh by 1/2 once, then one vectorised tanh per step covers all four gates.
        scale = xp.ones((G,), dtype=dt)
        scale[:2 * H] = 0.5
        scale[3 * H:] = 0.5
        xs = xg * scale
        wst = xp.ascontiguousarray((w_hh * scale[:, None]).T)  # a C-order GEMM operand is faster
        hs = xp.empty((L, N, P), dtype=dt)
        ACT = xp.empty((L, N, G), dtype=dt)
        C = xp.empty((L, N, H), dtype=dt)
        TC = xp.empty((L, N, H), dtype=dt)
        HF = xp.empty((L, N, H), dtype=dt) if w_hr is not None else hs
        wrt = w_hr.T if w_hr is not None else None
        h, c = h0, c0
        for t in _step_order(L, reverse):
            a = ACT[t]
            xp.matmul(h, wst, out=a)
            a += xs[t]
            xp.tanh(a, out=a)
            sg = a[:, :2 * H]
            sg *= 0.5
            sg += 0.5
            so = a[:, 3 * H:]
            so *= 0.5
            so += 0.5
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], so
            cn = C[t]
            xp.multiply(f, c, out=cn)
            cn += i * g
            tc = TC[t]
            xp.tanh(cn, out=tc)
            xp.multiply(o, tc, out=HF[t])
            if wrt is not None:
                xp.matmul(HF[t], wrt, out=hs[t])
            if mask is not None:
                m = mask[t]
                h = xp.where(m, hs[t], h)
                c = xp.where(m, cn, c)
                hs[t] *= m
            else:
                h, c = hs[t], cn
        self.cache = (hs, ACT[:, :, :H], ACT[:, :, H:2 * H], ACT[:, :, 2 * H:3 * H], ACT[:, :, 3 * H:], C, TC, HF)
        self.h0, self.c0, self.w, self.wr = h0, c0, w_hh, w_hr
        self.reverse, self.mask = reverse, mask
        self.shape = (L, N, H, P)
        return xp.concatenate([hs.reshape(-1), c.reshape(-1)])

    def backward(self, g):
        xp = xp_of(g)
        L, N, H, P = self.shape
        hs, I, Fg, Gg, O, C, TC, HF = self.cache
        w, wr, mask = self.w, self.wr, self.mask
        gh = g[:L * N * P].reshape(L, N, P)
        dc = g[L * N * P:].reshape(N, H).copy()
        dh = xp.zeros((N, P), dtype=g.dtype)
        dxg = xp.empty((L, N, 4 * H), dtype=g.dtype)
        dHt = xp.empty((L, N, P), dtype=g.dtype) if wr is not None else None
        order = list(_step_order(L, self.reverse))
        hprev = _prev_states(xp, self.h0, hs, order, mask)
        cprev = _prev_states(xp, self.c0, C, order, mask)
        k = _fused(dxg, mask)
        for t in reversed(order):
            dh_t = dh + gh[t]
            if wr is not None:
                dHt[t] = dh_t if mask is None else dh_t * mask[t]
                dhf = dh_t @ wr
            else:
                dhf = dh_t
            if k is not None:
                k.lstm_bwd(np.ascontiguousarray(dhf), dc, I[t], Fg[t], Gg[t], O[t], TC[t], cprev[t], dxg[t])
                dh = dxg[t] @ w
                continue
            i, f, gg, o, tc = I[t], Fg[t], Gg[t], O[t], TC[t]
            do = dhf * tc
            dct = dc + dhf * o * (1 - tc * tc)
            da = xp.concatenate([dct * gg * i * (1 - i), dct * cprev[t] * f * (1 - f), dct * i * (1 - gg * gg),
                                 do * o * (1 - o)], axis=1)
            if mask is not None:
                m = mask[t]
                da *= m
                dh = da @ w + xp.where(m, 0, dh_t)
                dc = xp.where(m, dct * f, dc)
            else:
                dh = da @ w
                dc = dct * f
            dxg[t] = da
        dw = dxg.reshape(L * N, 4 * H).T @ hprev.reshape(L * N, P)
        dwr = dHt.reshape(L * N, P).T @ HF.reshape(L * N, H) if wr is not None else None
        return dxg, dh, dc, dw, dwr, None, None


class _GRUSeq(Node):
    """GRU recurrence (gates r, z, n as PyTorch): xg = x W_ih^T + b_ih; b_hh enters inside r * (...)."""
    __slots__ = ("cache", "h0", "w", "reverse", "mask", "hasb")

    def forward(self, xg, h0, w_hh, b_hh, reverse, mask):
        xp = xp_of(xg)
        L, N, G = xg.shape
        H = G // 3
        dt = xg.dtype
        # r and z through (1 + tanh(x / 2)) / 2: their columns of x W_ih^T + b_ih, W_hh and b_hh are scaled
        # by 1/2 once; the n columns stay as they are (r multiplies the unscaled W_hn h + b_hn).
        scale = xp.ones((G,), dtype=dt)
        scale[:2 * H] = 0.5
        xs = xg * scale
        wst = xp.ascontiguousarray((w_hh * scale[:, None]).T)  # a C-order GEMM operand is faster
        bs = b_hh * scale if b_hh is not None else None
        hs = xp.empty((L, N, H), dtype=dt)
        A = xp.empty((L, N, G), dtype=dt)
        HN = xp.empty((L, N, H), dtype=dt)
        h = h0
        for t in _step_order(L, reverse):
            a = A[t]
            xp.matmul(h, wst, out=a)
            if bs is not None:
                a += bs
            HN[t] = a[:, 2 * H:]
            rz = a[:, :2 * H]
            rz += xs[t][:, :2 * H]
            xp.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            r, z = a[:, :H], a[:, H:2 * H]
            pre = r * HN[t]
            pre += xs[t][:, 2 * H:]
            n = a[:, 2 * H:]
            xp.tanh(pre, out=n)
            hn = h - n
            hn *= z
            hn += n
            if mask is not None:
                m = mask[t]
                h = xp.where(m, hn, h)
                hs[t] = hn * m
            else:
                hs[t] = hn
                h = hs[t]
        self.cache = (hs, A[:, :, :H], A[:, :, H:2 * H], A[:, :, 2 * H:], HN)
        self.h0, self.w, self.reverse, self.mask = h0, w_hh, reverse, mask
        self.hasb = b_hh is not None
        return hs

    def backward(self, g):
        xp = xp_of(g)
        hs, R, Z, Nn, HN = self.cache
        w, mask = self.w, self.mask
        L, N, H = hs.shape
        dxg = xp.empty((L, N, 3 * H), dtype=g.dtype)
        dhh_all = xp.empty((L, N, 3 * H), dtype=g.dtype)
        dh = xp.zeros((N, H), dtype=g.dtype)
        order = list(_step_order(L, self.reverse))
        prev = _prev_states(xp, self.h0, hs, order, mask)
        k = _fused(dxg, mask)
        direct = xp.empty((N, H), dtype=g.dtype)
        for t in reversed(order):
            dh_t = dh + g[t]
            if k is not None:
                k.gru_bwd(dh_t, R[t], Z[t], Nn[t], HN[t], prev[t], dxg[t], dhh_all[t], direct)
                dh = dhh_all[t] @ w
                dh += direct
                continue
            hp = prev[t]
            r, z, n, hn_ = R[t], Z[t], Nn[t], HN[t]
            dnp = dh_t * (1 - z) * (1 - n * n)
            drp = dnp * hn_ * r * (1 - r)
            dzp = dh_t * (hp - n) * z * (1 - z)
            dx = xp.concatenate([drp, dzp, dnp], axis=1)
            dhh = xp.concatenate([drp, dzp, dnp * r], axis=1)
            drct = dh_t * z
            if mask is not None:
                m = mask[t]
                dx *= m
                dhh *= m
                dh = dhh @ w + xp.where(m, drct, dh_t)
            else:
                dh = dhh @ w + drct
            dxg[t] = dx
            dhh_all[t] = dhh
        flat = dhh_all.reshape(L * N, 3 * H)
        dw = flat.T @ prev.reshape(L * N, H)
        db = flat.sum(0) if self.hasb else None
        return dxg, dh, dw, db, None, None


def _apply_permutation(t, permutation, dim=1):
    return t.index_select(dim, permutation)


class RNNBase(Module):
    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional", "proj_size"]
    __jit_unused_properties__ = ["all_weights"]

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode == "LSTM":
            gate_size = 4 * hidden_size
        elif mode == "GRU":
            gate_size = 3 * hidden_size
        elif mode in ("RNN_TANH", "RNN_RELU"):
            gate_size = hidden_size
        else:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                real_hidden_size = proj_size if proj_size > 0 else hidden_size
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                shapes = [(gate_size, layer_input_size), (gate_size, real_hidden_size)]
                if bias:
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                    shapes += [(gate_size,), (gate_size,)]
                if proj_size > 0:
                    names += ["weight_hr_l{}{}"]
                    shapes += [(proj_size, hidden_size)]
                names = [n.format(layer, suffix) for n in names]
                for n, s in zip(names, shapes):
                    setattr(self, n, empty_param(s, device, dtype))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, wn, None) for wn in self._flat_weights_names]

    def flatten_parameters(self):
        pass

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self):
        return [[getattr(self, w) for w in weights] for weights in self._all_weights]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _layer_params(self, layer, direction):
        sfx = "_reverse" if direction == 1 else ""
        g = lambda n: getattr(self, f"{n}_l{layer}{sfx}", None)  # noqa: E731
        return g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"), g("weight_hr")

    def _run(self, x, hx, lengths):
        """x (L, N, In); hx (layers*dirs, N, P) [, c (layers*dirs, N, H)]; returns out, h_n [, c_n]."""
        from ...ops.movement import cat, stack
        L, N = x.shape[0], x.shape[1]
        D = 2 if self.bidirectional else 1
        mask = None
        if lengths is not None:
            mask = (np.arange(L)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
            xp = xp_of(x._data)
            if xp is not np:
                mask = xp.asarray(mask)
        lstm = self.mode == "LSTM"
        h0_all, c0_all = (hx if lstm else (hx, None))
        hn_list, cn_list = [], []
        inp = x
        P = self.proj_size if self.proj_size > 0 else self.hidden_size
        H = self.hidden_size
        for layer in range(self.num_layers):
            outs = []
            # the input projection of every time step as one 2-D GEMM over (L * N) contiguous rows
            inp2 = inp.reshape(L * N, inp.shape[2])
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_params(layer, d)
                idx = layer * D + d
                h0 = h0_all[idx]
                reverse = d == 1
                xg = F.linear(inp2, w_ih, b_ih).reshape(L, N, w_ih.shape[0])
                if self.mode == "GRU":
                    o = apply(_GRUSeq, xg, h0, w_hh, b_hh, reverse, mask)
                    hn = o[0] if reverse else o[L - 1]
                    if mask is not None:
                        hn = _final_state(o, lengths, reverse)
                    outs.append(o)
                    hn_list.append(hn)
                elif lstm:
                    if b_hh is not None:
                        xg = xg + b_hh
                    c0 = c0_all[idx]
                    flat = apply(_LSTMSeq, xg, h0, c0, w_hh, w_hr, reverse, mask)
                    o = flat[:L * N * P].reshape(L, N, P)
                    cn = flat[L * N * P:].reshape(N, H)
                    hn = _final_state(o, lengths, reverse) if mask is not None else (o[0] if reverse else o[L - 1])
                    outs.append(o)
                    hn_list.append(hn)
                    cn_list.append(cn)
                else:
                    if b_hh is not None:
                        xg = xg + b_hh
                    o = apply(_RNNSeq, xg, h0, w_hh, reverse, mask, self.mode == "RNN_RELU")
                    hn = _final_state(o, lengths, reverse) if mask is not None else (o[0] if reverse else o[L - 1])
                    outs.append(o)
                    hn_list.append(hn)
            out = outs[0] if D == 1 else cat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                out = F.dropout(out, self.dropout, True)
            inp = out
        h_n = stack(hn_list, 0)
        if lstm:
            return inp, (h_n, stack(cn_list, 0))
        return inp, h_n

    def _zeros_state(self, x, n, width):
        D = 2 if self.bidirectional else 1
        return Tensor._wrap(xp_of(x._data).zeros((self.num_layers * D, n, width), dtype=x._data.dtype))

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence, pad_packed_sequence
        lstm = self.mode == "LSTM"
        P = self.proj_size if self.proj_size > 0 else self.hidden_size
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            padded, lens = pad_packed_sequence(input, batch_first=False)
            lengths = lens.tolist()
            # pad_packed_sequence restores the original batch order; hx is given in that order too
            x = padded
            is_batched = True
        else:
            x = input
            is_batched = x.dim() == 3
            if x.dim() not in (2, 3):
                raise ValueError(f"{self.mode.split('_')[0]}: Expected input to be 2D or 3D, got {x.dim()}D "
                                 "instead")
            if not is_batched:
                x = x.unsqueeze(1)
            elif self.batch_first:
                x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")
        N = x.shape[1]
        if hx is None:
            h0 = self._zeros_state(x, N, P)
            hx_ = (h0, self._zeros_state(x, N, self.hidden_size)) if lstm else h0
        else:
            if lstm:
                if not isinstance(hx, tuple) or len(hx) != 2:
                    raise RuntimeError("LSTM: Expected hx to be a tuple (h_0, c_0)")
                h0, c0 = hx
                if not is_batched:
                    if h0.dim() != 2 or c0.dim() != 2:
                        raise RuntimeError(f"For unbatched 2-D input, hx and cx should also be 2-D but got "
                                           f"({h0.dim()}-D, {c0.dim()}-D) tensors")
                    h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
                self._check_hidden(h0, (self.num_layers * (2 if self.bidirectional else 1), N, P),
                                   "Expected hidden[0] size {}, got {}")
                self._check_hidden(c0, (self.num_layers * (2 if self.bidirectional else 1), N, self.hidden_size),
                                   "Expected hidden[1] size {}, got {}")
                hx_ = (h0, c0)
            else:
                h0 = hx
                if not is_batched:
                    if h0.dim() != 2:
                        raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {h0.dim()}-D "
                                           "tensor")
                    h0 = h0.unsqueeze(1)
                self._check_hidden(h0, (self.num_layers * (2 if self.bidirectional else 1), N, P),
                                   "Expected hidden size {}, got {}")
                hx_ = h0
        out, hid = self._run(x, hx_, lengths)
        if packed:
            return _pack_like(out, input), hid
        if not is_batched:
            out = out.squeeze(1)
            hid = (hid[0].squeeze(1), hid[1].squeeze(1)) if lstm else hid.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, hid

    @staticmethod
    def _check_hidden(hx, expected, msg):
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(msg.format(list(expected), list(hx.shape)))


def _pack_like(out, template):
    """Pack the time-major padded output (L, N, H) (original batch order) with the input's layout."""
    from ...ops.movement import cat
    from ..utils.rnn import PackedSequence
    bs = template.batch_sizes.tolist()
    order = template.sorted_indices.tolist() if template.sorted_indices is not None else list(range(out.shape[1]))
    parts = []
    for t, b in enumerate(bs):
        rows = order[:int(b)]
        if rows == list(range(rows[0], rows[0] + len(rows))):
            parts.append(out[t, rows[0]:rows[0] + len(rows)])
        else:
            idx = Tensor._wrap(np.asarray(rows, dtype=np.int64))
            parts.append(out[t].index_select(0, idx if out.is_cpu else idx.to(out.device)))
    return PackedSequence(cat(parts, 0), template.batch_sizes, template.sorted_indices, template.unsorted_indices)


def _final_state(o, lengths, reverse):
    """The last valid hidden state of each row of o (L, N, H) given its length."""
    if reverse:
        return o[0]
    from ...ops.movement import stack
    return stack([o[int(n) - 1, i] for i, n in enumerate(lengths)], 0)


class RNN(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = empty_param((num_chunks * hidden_size, input_size), device, dtype)
        self.weight_hh = empty_param((num_chunks * hidden_size, hidden_size), device, dtype)
        if bias:
            self.bias_ih = empty_param((num_chunks * hidden_size,), device, dtype)
            self.bias_hh = empty_param((num_chunks * hidden_size,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += f", bias={self.bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prep(self, input, name):
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        is_batched = input.dim() == 2
        x = input if is_batched else input.unsqueeze(0)
        return x, is_batched

    def _zeros(self, x):
        return Tensor._wrap(xp_of(x._data).zeros((x.shape[0], self.hidden_size), dtype=x._data.dtype))


class RNNCell(RNNCellBase):
    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, batched = self._prep(input, "RNNCell")
        if hx is None:
            hx = self._zeros(x)
        elif not batched:
            hx = hx.unsqueeze(0)
        xg = F.linear(x, self.weight_ih, self.bias_ih)
        if self.bias_hh is not None:
            xg = xg + self.bias_hh
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h = apply(_RNNSeq, xg.unsqueeze(0), hx, self.weight_hh, False, None, self.nonlinearity == "relu")[0]
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, batched = self._prep(input, "LSTMCell")
        if hx is None:
            z = self._zeros(x)
            hx = (z, z)
        elif not batched:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        h0, c0 = hx
        xg = F.linear(x, self.weight_ih, self.bias_ih)
        if self.bias_hh is not None:
            xg = xg + self.bias_hh
        n, H = x.shape[0], self.hidden_size
        flat = apply(_LSTMSeq, xg.unsqueeze(0), h0, c0, self.weight_hh, None, False, None)
        h = flat[:n * H].reshape(n, H)
        c = flat[n * H:].reshape(n, H)
        if not batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, batched = self._prep(input, "GRUCell")
        if hx is None:
            hx = self._zeros(x)
        elif not batched:
            hx = hx.unsqueeze(0)
        xg = F.linear(x, self.weight_ih, self.bias_ih)
        h = apply(_GRUSeq, xg.unsqueeze(0), hx, self.weight_hh, self.bias_hh, False, None)[0]
        return h if batched else h.squeeze(0)
