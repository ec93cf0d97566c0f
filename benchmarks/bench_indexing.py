"""Indexing, movement and linalg ops: disttensor vs PyTorch (CPU) side by side in one process.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_indexing.py
Prints microseconds per call (median of repeats) for forward, or forward+backward where marked.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import disttensor as dt  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def case(name, make, n=200, reps=7):
    """Both libraries timed in alternation (one block of n calls each per round), median over rounds:
    on a shared, loaded machine the ratio stays meaningful even when absolute times drift."""
    fns = [make(L) for L in (dt, torch)]
    for f in fns:
        f()
    times = [[], []]
    for _ in range(reps):
        for k, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            times[k].append((time.perf_counter() - t0) / n * 1e6)
    res = [float(np.median(t)) for t in times]
    print(f"{name:48s} {res[0]:10.1f} {res[1]:10.1f} {res[0] / res[1]:7.2f}", flush=True)


def fb(L, f, *shapes, ints=None):
    rng = np.random.default_rng(0)
    xs = [L.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]

    def run():
        out = f(L, *xs)
        out.backward(L.ones_like(out))
    return run


def fwd(L, f, *shapes):
    rng = np.random.default_rng(0)
    xs = [L.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    return lambda: f(L, *xs)


def main():
    print(f"{'case':48s} {'disttensor':>10s} {'torch':>10s} {'ratio':>7s}   (us per call)")
    idx = np.random.default_rng(1).integers(0, 10, 64)
    case("x[0] (16x16, fwd)", lambda L: fwd(L, lambda L, x: x[0], (16, 16)), 2000)
    case("x[:, 1:3] (16x16, fwd)", lambda L: fwd(L, lambda L, x: x[:, 1:3], (16, 16)), 2000)
    case("x[0] fwd+bwd (16x16)", lambda L: fb(L, lambda L, x: x[0], (16, 16)), 1000)
    case("x[idx] 64 rows of (1000,64) fwd+bwd", lambda L: fb(
        L, (lambda t: lambda L, x: x[t(L)])(lambda L: L.tensor(np.arange(64) * 7 % 1000)), (1000, 64)), 200)

    def setitem(L):
        buf = L.zeros(16, 16)
        v = L.ones(16)
        def run():
            buf[3] = v
        return run
    case("buf[3] = v (16x16, no grad)", setitem, 2000)
    case("setitem in graph fwd+bwd (16x16)", lambda L: fb(L, lambda L, x, v: _set(x, v), (16, 16), (16,)), 500)
    case("gather (64,10) dim1 fwd+bwd", lambda L: fb(
        L, (lambda t: lambda L, x: x.gather(1, t(L)))(lambda L: L.tensor(idx.reshape(64, 1))), (64, 10)), 1000)
    case("index_select (1000,64) 256 rows fwd+bwd", lambda L: fb(
        L, (lambda t: lambda L, x: x.index_select(0, t(L)))(lambda L: L.tensor(np.arange(256) * 3 % 1000)),
        (1000, 64)), 200)
    case("masked_fill (64,64) fwd+bwd", lambda L: fb(
        L, lambda L, x: x.masked_fill(L.ones(64, 64, dtype=L.bool).triu(1), -1e9), (64, 64)), 500)
    case("cat 3x(16,16) dim1 fwd+bwd", lambda L: fb(L, lambda L, a, b, c: L.cat([a, b, c], 1),
                                                   (16, 16), (16, 16), (16, 16)), 1000)
    case("chunk(4) + stack (16,16) fwd+bwd", lambda L: fb(L, lambda L, x: L.stack(x.chunk(4, 1)), (16, 16)), 500)
    case("unbind(256) + stack (256,16) fwd+bwd", lambda L: fb(L, lambda L, x: L.stack(x.unbind(0)), (256, 16)), 50)
    case("flip (64,64) fwd+bwd", lambda L: fb(L, lambda L, x: x.flip(0), (64, 64)), 1000)
    case("tril (128,128) fwd+bwd", lambda L: fb(L, lambda L, x: x.tril(), (128, 128)), 500)
    case("bmm (32,64,64)x(32,64,64) fwd+bwd", lambda L: fb(L, lambda L, a, b: L.bmm(a, b),
                                                          (32, 64, 64), (32, 64, 64)), 50)
    case("matmul bcast (8,1,64,64)@(4,64,64) fwd+bwd", lambda L: fb(L, lambda L, a, b: a @ b,
                                                                   (8, 1, 64, 64), (4, 64, 64)), 50)
    case("einsum bhqd,bhkd->bhqk (8,4,64,32) fwd+bwd", lambda L: fb(
        L, lambda L, q, k: L.einsum("bhqd,bhkd->bhqk", q, k), (8, 4, 64, 32), (8, 4, 64, 32)), 50)
    case("einsum ij,jk->ik (256,256) fwd+bwd", lambda L: fb(L, lambda L, a, b: L.einsum("ij,jk->ik", a, b),
                                                           (256, 256), (256, 256)), 50)
    case("linalg.inv (64,64) fwd+bwd", lambda L: fb(
        L, lambda L, a: L.linalg.inv(a + 10 * L.eye(64)), (64, 64)), 100)
    case("linalg.vector_norm (256,256) fwd+bwd", lambda L: fb(L, lambda L, a: L.linalg.vector_norm(a),
                                                             (256, 256)), 200)


def _set(x, v):
    y = x * 1.0
    y[3] = v
    return y


if __name__ == "__main__":
    main()
