"""Per-op eager overhead: 100 small adds plus their backward on 16-element tensors, vs PyTorch.

Run: .venv/bin/python benchmarks/bench_overhead.py
"""
import time

import numpy as np


def chain(lib, n_ops=100):
    x = lib.randn(16, requires_grad=True)
    y = lib.randn(16)
    h = x
    for _ in range(n_ops):
        h = h + y
    h.sum().backward()


def best_of(fn, repeat=200):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    import disttensor
    import torch
    torch.set_num_threads(1)
    for lib in (disttensor, torch):
        chain(lib)
    t_dt = best_of(lambda: chain(disttensor))
    t_pt = best_of(lambda: chain(torch))
    print(f"100 adds + backward, 16 elements: disttensor {t_dt * 1e6:.0f} us, PyTorch {t_pt * 1e6:.0f} us, "
          f"ratio {t_dt / t_pt:.2f}")


if __name__ == "__main__":
    main()
