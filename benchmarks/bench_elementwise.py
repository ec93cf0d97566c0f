"""Elementwise math and reductions, forward+backward: disttensor vs PyTorch CPU in one process.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_elementwise.py [--reps R] [--only S]

Two groups: per-op overhead on 16-element tensors (the Python cost of an eager call + its backward)
and throughput at a model-like size (256 x 1024 float32). Each case times forward + backward of
`fn(x).sum()` in both libraries, interleaved, median of R runs of N calls each.
"""
import argparse
import time

import numpy as np
import torch

import disttensor as dt

torch.set_num_threads(1)

CASES = [
    ("sin", lambda L, x: L.sin(x)),
    ("rsqrt", lambda L, x: L.rsqrt(x.abs() + 1)),
    ("erf", lambda L, x: L.erf(x)),
    ("clamp", lambda L, x: L.clamp(x, -0.5, 0.5)),
    ("maximum", lambda L, x: L.maximum(x, x * 0.5)),
    ("where", lambda L, x: L.where(x > 0, x, x * 0.1)),
    ("sum(dim)", lambda L, x: x.sum(-1)),
    ("max(dim)", lambda L, x: x.max(-1)[0]),
    ("amax", lambda L, x: x.amax(-1)),
    ("var(dim)", lambda L, x: x.var(-1)),
    ("logsumexp", lambda L, x: L.logsumexp(x, -1)),
    ("norm", lambda L, x: x.norm(dim=-1)),
    ("cumsum", lambda L, x: x.cumsum(-1)),
    ("prod(dim)", lambda L, x: x.prod(-1)),
    ("sort", lambda L, x: x.sort(-1)[0]),
    ("topk", lambda L, x: x.topk(4, -1)[0]),
]


def _time(lib, fn, arr, n):
    x = lib.from_numpy(arr.copy()) if lib is dt else torch.from_numpy(arr.copy())
    x.requires_grad_(True)
    t0 = time.perf_counter()
    for _ in range(n):
        fn(lib, x).sum().backward()
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    for label, shape, n in [("small (4x4)", (4, 4), 300), ("large (256x1024)", (256, 1024), 5)]:
        arr = rng.standard_normal(shape).astype(np.float32)
        print(f"\n{label}: forward+backward per call, median of {a.reps}")
        print(f"{'op':<12}{'disttensor':>14}{'torch':>14}{'ratio':>8}")
        for name, fn in CASES:
            if a.only and a.only not in name:
                continue
            _time(dt, fn, arr, 2)
            _time(torch, fn, arr, 2)
            td, tt = [], []
            for _ in range(a.reps):
                td.append(_time(dt, fn, arr, n))
                tt.append(_time(torch, fn, arr, n))
            d, t = float(np.median(td)), float(np.median(tt))
            unit, s = ("us", 1e6) if d < 1e-3 else ("ms", 1e3)
            print(f"{name:<12}{d * s:>11.1f} {unit}{t * s:>11.1f} {unit}{d / t:>8.2f}")


if __name__ == "__main__":
    main()
