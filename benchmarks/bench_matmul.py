"""matmul forward+backward at the sizes of real models, disttensor vs PyTorch CPU, side by side in one process.

    .venv/bin/python benchmarks/bench_matmul.py [--threads N] [--repeat 15]

`--threads N` sets the BLAS/OpenMP thread counts of both libraries (the script re-executes itself so that
NumPy's OpenBLAS sees them). Each case is `(x @ w).sum().backward()` with both operands requiring grad, so
it times the three GEMMs plus the autograd around them; "GEMM" columns time one bare forward product in each
library. Figures: the best of `--repeat` interleaved runs (the robust figure on a shared machine).
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

CASES = [  # (m, k, n): GPT-small projections, MLP layers, a square reference
    (1024, 256, 768),
    (1024, 256, 1024),
    (1024, 1024, 256),
    (256, 784, 1024),
    (512, 512, 512),
    (2048, 2048, 2048),
]


def _best(fa, fb, repeat):
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t0)
    return min(ta) * 1e3, min(tb) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    if args.threads is not None and os.environ.get("_BENCH_MATMUL_CHILD") != "1":
        n = str(args.threads)
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, NUMBA_NUM_THREADS=n,
                   _BENCH_MATMUL_CHILD="1")
        sys.exit(subprocess.call([sys.executable] + sys.argv, env=env))

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import torch
    import disttensor as dt
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}")
    print(f"{'case (float32)':<28}{'dt ms':>9}{'torch ms':>10}{'ratio':>7}{'GEMM dt':>10}{'GEMM torch':>11}")
    rng = np.random.default_rng(0)
    for m, k, n in CASES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)

        def step(lib):
            x = lib.from_numpy(a).requires_grad_()
            w = lib.from_numpy(b).requires_grad_()
            (x @ w).sum().backward()

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        d, t = _best(lambda: step(dt), lambda: step(torch), args.repeat)
        gd, gt = _best(lambda: a @ b, lambda: ta @ tb, args.repeat)
        print(f"{f'{m}x{k} @ {k}x{n} fwd+bwd':<28}{d:>9.2f}{t:>10.2f}{d / t:>7.2f}{gd:>10.2f}{gt:>11.2f}")


if __name__ == "__main__":
    main()
