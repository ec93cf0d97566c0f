"""Convolution and pooling forward+backward: disttensor vs PyTorch CPU, side by side in one process.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_conv.py [--threads N] [--reps R]

The thread count is applied to both libraries (torch.set_num_threads and the environment variables
above for OpenBLAS, which must be set before NumPy is imported: the script re-executes itself with
them when --threads is given). Times are the median of R runs after a warm-up, interleaving the two
libraries so that load from other processes hits both alike.
"""
import argparse
import os
import sys
import time


def _parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--only", default=None, help="substring of case names to run")
    return ap.parse_args()


args = _parse()
if args.threads is not None and os.environ.get("_BENCH_CONV_CHILD") != "1":
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), NUMBA_NUM_THREADS=str(args.threads),
               _BENCH_CONV_CHILD="1")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import disttensor as dt  # noqa: E402
import disttensor.nn.functional as DF  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
torch.set_num_threads(threads)


def case_conv(N, C, O, H, W, k, stride=1, padding=0, input_grad=True):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = (rng.standard_normal((O, C, k, k), dtype=np.float32) * 0.1)
    b = rng.standard_normal((O,), dtype=np.float32)

    def make(lib, F, frm):
        xt = frm(x.copy()).requires_grad_(input_grad)
        wt = frm(w.copy()).requires_grad_()
        bt = frm(b.copy()).requires_grad_()

        def step():
            y = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
            y.backward(gone[lib])
            wt.grad = None
            bt.grad = None
            xt.grad = None
        return step
    Ho = (H + 2 * padding - k) // stride + 1
    Wo = (W + 2 * padding - k) // stride + 1
    g = rng.standard_normal((N, O, Ho, Wo), dtype=np.float32)
    gone = {"dt": dt.from_numpy(g.copy()), "torch": torch.from_numpy(g.copy())}
    return make("dt", DF, dt.from_numpy), make("torch", TF, torch.from_numpy)


def case_pool(N, C, H, W, k, kind="max"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    g = rng.standard_normal((N, C, H // k, W // k), dtype=np.float32)

    def make(F, frm):
        xt = frm(x.copy()).requires_grad_()
        gt = frm(g.copy())
        fn = getattr(F, kind + "_pool2d")

        def step():
            fn(xt, k).backward(gt)
            xt.grad = None
        return step
    return make(DF, dt.from_numpy), make(TF, torch.from_numpy)


CASES = [
    ("conv1 MNIST 1->32 28x28 b64 3x3 (no input grad)", lambda: case_conv(64, 1, 32, 28, 28, 3, input_grad=False)),
    ("conv2 MNIST 32->64 26x26 b64 3x3", lambda: case_conv(64, 32, 64, 26, 26, 3)),
    ("ResNet 64->64 32x32 b32 3x3 pad1", lambda: case_conv(32, 64, 64, 32, 32, 3, padding=1)),
    ("ResNet down 64->128 32x32 b32 3x3 s2 pad1", lambda: case_conv(32, 64, 128, 32, 32, 3, stride=2, padding=1)),
    ("1x1 64->128 32x32 b32", lambda: case_conv(32, 64, 128, 32, 32, 1)),
    ("max_pool2d 2 MNIST b64 64x24x24", lambda: case_pool(64, 64, 24, 24, 2)),
    ("avg_pool2d 2 b32 64x32x32", lambda: case_pool(32, 64, 32, 32, 2, kind="avg")),
]


def bench(fd, ft, reps):
    fd(), ft(), fd(), ft()
    td, tt = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fd()
        t1 = time.perf_counter()
        ft()
        t2 = time.perf_counter()
        td.append(t1 - t0)
        tt.append(t2 - t1)
    return float(np.median(td)) * 1e3, float(np.median(tt)) * 1e3


def main():
    print(f"threads={threads} (torch.set_num_threads, OMP/OPENBLAS_NUM_THREADS), torch {torch.__version__}, "
          f"numpy {np.__version__}, reps={args.reps}, median ms of forward+backward")
    print(f"{'case':48s} {'disttensor':>11s} {'torch':>9s} {'ratio':>7s}")
    for name, mk in CASES:
        if args.only and args.only not in name:
            continue
        fd, ft = mk()
        a, b = bench(fd, ft, args.reps)
        print(f"{name:48s} {a:9.2f}ms {b:7.2f}ms {a / b:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
