"""Fused per-time-step LSTM and GRU backward gate math for CPU float arrays (numba, compiled on first use).

One kernel call replaces ~20 NumPy calls per step of backpropagation through time. (The forward steps
stay on NumPy: their cost is tanh, which NumPy vectorises and a scalar numba loop does not.) The NumPy
code in rnn.py is the reference and the path for CUDA arrays, masked (packed) sequences, or no numba.
"""
from ...ops.nn_activation import numba_kernels, FASTMATH


def _build(numba):
    njit = numba.njit

    @njit(cache=True, fastmath=FASTMATH)
    def lstm_bwd(dhf, dc, I, Fg, G, O, TC, c_prev, da):
        # dc is updated in place to the gradient w.r.t. the previous cell state
        N, H = dc.shape
        for n in range(N):
            for j in range(H):
                i = I[n, j]
                f = Fg[n, j]
                g = G[n, j]
                o = O[n, j]
                tc = TC[n, j]
                d = dhf[n, j]
                dct = dc[n, j] + d * o * (1.0 - tc * tc)
                da[n, j] = dct * g * i * (1.0 - i)
                da[n, H + j] = dct * c_prev[n, j] * f * (1.0 - f)
                da[n, 2 * H + j] = dct * i * (1.0 - g * g)
                da[n, 3 * H + j] = d * tc * o * (1.0 - o)
                dc[n, j] = dct * f

    @njit(cache=True, fastmath=FASTMATH)
    def gru_bwd(dh, R, Z, Nn, HN, h_prev, dx, dhh, direct):
        N, H = dh.shape
        for n in range(N):
            for j in range(H):
                r = R[n, j]
                z = Z[n, j]
                nn_ = Nn[n, j]
                d = dh[n, j]
                dnp = d * (1.0 - z) * (1.0 - nn_ * nn_)
                drp = dnp * HN[n, j] * r * (1.0 - r)
                dzp = d * (h_prev[n, j] - nn_) * z * (1.0 - z)
                dx[n, j] = drp
                dx[n, H + j] = dzp
                dx[n, 2 * H + j] = dnp
                dhh[n, j] = drp
                dhh[n, H + j] = dzp
                dhh[n, 2 * H + j] = dnp * r
                direct[n, j] = d * z

    class K:
        pass
    k = K()
    k.lstm_bwd, k.gru_bwd = lstm_bwd, gru_bwd
    return k


def kernels():
    return numba_kernels("rnn", _build)
