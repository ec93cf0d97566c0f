"""nn modules, disttensor vs PyTorch CPU side by side in one process (forward + backward per step).

    .venv/bin/python benchmarks/bench_nn_modules.py [--threads N]

Cases: module-call overhead (tiny MLP), 2-layer LSTM and GRU over a sequence (the fused per-sequence
recurrence nodes), nn.TransformerEncoderLayer and nn.MultiheadAttention.
"""
import argparse
import time

import numpy as np


def timed_pair(f, g, warmup=2, iters=10):
    """Median step times of f and g, run alternately so load changes hit both alike."""
    for _ in range(warmup):
        f()
        g()
    ta, tb = [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        g()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return float(np.median(ta)), float(np.median(tb))


def cases(lib):
    nn = lib.nn
    out = {}
    lib.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    xs = lib.randn(4, 16)

    def tiny():
        mlp.zero_grad()
        mlp(xs).sum().backward()
    out["tiny MLP fwd+bwd (module overhead)"] = (tiny, 200)

    lstm = nn.LSTM(128, 256, num_layers=2, batch_first=True)
    xl = lib.randn(32, 64, 128)

    def lstm_step():
        lstm.zero_grad()
        o, (h, c) = lstm(xl)
        (o.sum() + h.sum()).backward()
    out["LSTM 2x256, batch 32, seq 64"] = (lstm_step, 9)

    gru = nn.GRU(128, 256, num_layers=2, batch_first=True)

    def gru_step():
        gru.zero_grad()
        o, h = gru(xl)
        (o.sum() + h.sum()).backward()
    out["GRU 2x256, batch 32, seq 64"] = (gru_step, 9)

    enc = nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    xe = lib.randn(8, 128, 256)
    mask = nn.Transformer.generate_square_subsequent_mask(128)

    def enc_step():
        enc.zero_grad()
        enc(xe, src_mask=mask).sum().backward()
    out["TransformerEncoderLayer d256 h4, batch 8, seq 128"] = (enc_step, 9)

    mha = nn.MultiheadAttention(256, 4, batch_first=True)

    def mha_step():
        mha.zero_grad()
        o, w = mha(xe, xe, xe, need_weights=True)
        o.sum().backward()
    out["MultiheadAttention d256 h4 (need_weights), batch 8, seq 128"] = (mha_step, 9)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    import disttensor as dt
    ours, ref = cases(dt), cases(torch)
    print(f"{'case':58s} {'disttensor':>12s} {'torch':>12s} {'ratio':>7s}")
    for name in ours:
        f, n = ours[name]
        g, _ = ref[name]
        a, b = timed_pair(f, g, iters=n)
        unit, k = ("us", 1e6) if a < 1e-3 else ("ms", 1e3)
        print(f"{name:58s} {a * k:10.1f}{unit} {b * k:10.1f}{unit} {a / b:7.2f}")


if __name__ == "__main__":
    main()
