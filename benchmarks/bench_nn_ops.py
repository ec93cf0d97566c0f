"""Forward+backward of the nn ops that carry training, disttensor vs PyTorch CPU, side by side in one process.

    .venv/bin/python benchmarks/bench_nn_ops.py [--repeat 30] [--threads N] [--mallopt] [-k NAME] [--gpt-step]
    .venv/bin/python benchmarks/bench_nn_ops.py --separate [--rounds 3] [--repeat 30] [--threads N] [-k NAME]

Each case builds the same inputs for both libraries, runs forward + backward (`loss.backward()` on a sum or
on the loss), and reports the best (min) wall time over `--repeat` runs after warm-up (the two libraries' runs
interleaved), and the median; the min
is the robust figure on a shared machine (numba kernels compiled
in the warm-up). The ratio is disttensor / PyTorch (<= 1.2 is the goal). `--separate` times each library
in its own processes instead (alternating), for multi-threaded runs where the two libraries' thread pools
would otherwise compete inside one process.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _time(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def _time2(fa, fb, repeat, warmup=3):
    """Both libraries' runs interleaved (a load change on the shared machine hits both): min, median each."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return min(ta), statistics.median(ta), min(tb), statistics.median(tb)


def cases(L, rng):
    F = L.nn.functional

    def t(a, grad=True):
        x = L.from_numpy(a.copy())
        if grad:
            x.requires_grad_(True)
        return x

    out = []

    def softmax_ce(n, c):
        x = rng.standard_normal((n, c)).astype(np.float32)
        y = rng.integers(0, c, n).astype(np.int64)
        xt, yt = t(x), t(y, False)

        def run():
            xt.grad = None
            F.cross_entropy(xt, yt).backward()
        return run

    def softmax_only(n, c):
        x = rng.standard_normal((n, c)).astype(np.float32)
        xt = t(x)
        g = L.from_numpy(rng.standard_normal((n, c)).astype(np.float32))

        def run():
            xt.grad = None
            F.softmax(xt, -1).backward(g)
        return run

    def layer_norm(n, d):
        x = rng.standard_normal((n, d)).astype(np.float32)
        xt, w, b = t(x), t(np.ones(d, np.float32)), t(np.zeros(d, np.float32))
        g = L.from_numpy(rng.standard_normal((n, d)).astype(np.float32))

        def run():
            xt.grad = w.grad = b.grad = None
            F.layer_norm(xt, (d,), w, b).backward(g)
        return run

    def gelu(n, approximate):
        x = rng.standard_normal(n).astype(np.float32)
        xt = t(x)
        g = L.from_numpy(rng.standard_normal(n).astype(np.float32))

        def run():
            xt.grad = None
            F.gelu(xt, approximate=approximate).backward(g)
        return run

    def embedding(n, d, m):
        w = t(rng.standard_normal((n, d)).astype(np.float32))
        idx = L.from_numpy(rng.integers(0, n, m).astype(np.int64))
        g = L.from_numpy(rng.standard_normal((m, d)).astype(np.float32))

        def run():
            w.grad = None
            F.embedding(idx, w).backward(g)
        return run

    def sdpa(b, h, s, e):
        q, k, v = (t(rng.standard_normal((b, h, s, e)).astype(np.float32)) for _ in range(3))
        g = L.from_numpy(rng.standard_normal((b, h, s, e)).astype(np.float32))

        def run():
            q.grad = k.grad = v.grad = None
            F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
        return run

    def linear(shape, o, bias=True):
        x = t(rng.standard_normal(shape).astype(np.float32))
        w = t((rng.standard_normal((o, shape[-1])) * 0.05).astype(np.float32))
        b = t(np.zeros(o, np.float32)) if bias else None
        g = L.from_numpy(rng.standard_normal(shape[:-1] + (o,)).astype(np.float32))

        def run():
            x.grad = w.grad = None
            if b is not None:
                b.grad = None
            F.linear(x, w, b).backward(g)
        return run

    def matmul(m, k, n):
        a = t(rng.standard_normal((m, k)).astype(np.float32))
        b = t(rng.standard_normal((k, n)).astype(np.float32))

        def run():
            a.grad = b.grad = None
            (a @ b).sum().backward()
        return run

    def gelu_nd(shape):
        x = t(rng.standard_normal(shape).astype(np.float32))
        g = L.from_numpy(rng.standard_normal(shape).astype(np.float32))

        def run():
            x.grad = None
            F.gelu(x).backward(g)
        return run

    # the GPT of bench_training.py (d=256, 4 heads, seq 128, batch 8): its linears, GELU and attention
    out.append(("gpt linear qkv 8x128x256->768", linear((8, 128, 256), 768)))
    out.append(("gpt linear proj 8x128x256->256", linear((8, 128, 256), 256)))
    out.append(("gpt linear fc1 8x128x256->1024", linear((8, 128, 256), 1024)))
    out.append(("gpt linear fc2 8x128x1024->256", linear((8, 128, 1024), 256)))
    out.append(("gpt gelu 8x128x1024", gelu_nd((8, 128, 1024))))
    out.append(("gpt layer_norm 1024x256", layer_norm(8 * 128, 256)))
    out.append(("gpt sdpa causal 8x4x128x64", sdpa(8, 4, 128, 64)))
    out.append(("gpt cross_entropy 1024x256", softmax_ce(8 * 128, 256)))
    out.append(("cross_entropy fwd+bwd 256x1000", softmax_ce(256, 1000)))
    out.append(("cross_entropy fwd+bwd 1024x5000", softmax_ce(8 * 128, 5000)))
    out.append(("softmax fwd+bwd 256x1000", softmax_only(256, 1000)))
    out.append(("softmax fwd+bwd 1024x5000", softmax_only(8 * 128, 5000)))
    out.append(("layer_norm fwd+bwd 1024x256", layer_norm(8 * 128, 256)))
    out.append(("layer_norm fwd+bwd 4096x1024", layer_norm(4096, 1024)))
    out.append(("gelu fwd+bwd 4M", gelu(4 * 1024 * 1024, "none")))
    out.append(("gelu(tanh) fwd+bwd 4M", gelu(4 * 1024 * 1024, "tanh")))
    out.append(("embedding fwd+bwd 5000x256, 1024 idx", embedding(5000, 256, 1024)))
    out.append(("sdpa causal fwd+bwd 8x4x128x64", sdpa(8, 4, 128, 64)))
    for m, k, n in [(1024, 256, 768), (1024, 256, 1024), (1024, 1024, 256), (256, 784, 1024), (512, 512, 512)]:
        out.append((f"matmul fwd+bwd {m}x{k} @ {k}x{n}", matmul(m, k, n)))   # bench_matmul.py's cases
    return out


def gpt_step(repeat):
    """The GPT training step of bench_training.py (same model code, AdamW), both libraries' steps interleaved."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
    from bench_training import _setup
    import torch
    import disttensor
    sd, st = _setup(disttensor, "gpt"), _setup(torch, "gpt")
    td, tdm, tt, ttm = _time2(sd, st, repeat, warmup=2)
    print(f"{'gpt training step (interleaved)':40s} {td * 1e3:14.1f} {tt * 1e3:10.1f} {td / tt:7.2f}   "
          f"({tdm * 1e3:.1f} / {ttm * 1e3:.1f}, median ratio {tdm / ttm:.2f})", flush=True)


def _solo(lib, args):
    """Time every selected case of one library in this process: {name: [times]} as JSON on stdout."""
    import json
    if lib == "torch":
        import torch as L
        if args.threads:
            L.set_num_threads(args.threads)
    else:
        import disttensor as L
        if args.threads:
            import numba
            numba.set_num_threads(args.threads)
    res = {}
    for name, f in cases(L, np.random.default_rng(0)):
        if args.k and args.k not in name:
            continue
        for _ in range(3):
            f()
        ts = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        res[name] = ts
    print(json.dumps(res))


def _separate(args):
    """Each library in its own processes (`--rounds` alternating runs of each): with several threads, the
    two libraries' thread pools in one process spin against each other (torch's OpenMP workers spin after
    every parallel region and take the core our row helpers need, and the reverse), which makes the
    interleaved 2-thread figures mostly a measure of that contention."""
    import json
    import subprocess
    base = [sys.executable, os.path.abspath(__file__), "--repeat", str(args.repeat), "--threads", str(args.threads),
            "-k", args.k]
    env = dict(os.environ)
    if args.threads:     # NumPy's OpenBLAS reads its thread count when it loads: set it for the children
        env.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")})
    runs = {"torch": {}, "disttensor": {}}
    for _ in range(args.rounds):
        for lib in ("disttensor", "torch"):
            out = subprocess.run(base + ["--solo", lib], capture_output=True, text=True, check=True, env=env).stdout
            for name, ts in json.loads(out.strip().splitlines()[-1]).items():
                runs[lib].setdefault(name, []).extend(ts)
    print(f"separate processes, {args.rounds} rounds x {args.repeat} runs, threads={args.threads or 'default'}")
    print(f"{'case':40s} {'disttensor ms':>14s} {'torch ms':>10s} {'ratio':>7s}   (median: dt / torch ms)")
    for name, td in runs["disttensor"].items():
        tt = runs["torch"][name]
        a, b = min(td), min(tt)
        am, bm = statistics.median(td), statistics.median(tt)
        print(f"{name:40s} {a * 1e3:14.3f} {b * 1e3:10.3f} {a / b:7.2f}   ({am * 1e3:.3f} / {bm * 1e3:.3f})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="torch/numba threads (0: library defaults)")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("--gpt-step", action="store_true", help="also time bench_training.py's GPT step, interleaved")
    ap.add_argument("--mallopt", action="store_true",
                    help="keep freed heap memory (glibc mallopt: no mmap/trim below 1 GiB) for both libraries; "
                         "importing disttensor now does this already (DISTTENSOR_KEEP_HEAP=0 turns it off)")
    ap.add_argument("--separate", action="store_true",
                    help="time each library in its own processes instead of interleaved in one (see _separate)")
    ap.add_argument("--rounds", type=int, default=3, help="with --separate: alternating process runs per library")
    ap.add_argument("--solo", choices=["torch", "disttensor"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.solo:
        _solo(args.solo, args)
        return
    if args.separate:
        _separate(args)
        return
    if args.mallopt:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 64 << 20)  # M_TOP_PAD
    import torch
    import disttensor
    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            import numba
            numba.set_num_threads(args.threads)
        except ImportError:
            pass
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}  "
          f"mallopt={args.mallopt}")
    d_cases = cases(disttensor, np.random.default_rng(0))
    t_cases = cases(torch, np.random.default_rng(0))
    print(f"{'case':40s} {'disttensor ms':>14s} {'torch ms':>10s} {'ratio':>7s}   (median: dt / torch ms)")
    for (name, fd), (_, ft) in zip(d_cases, t_cases):
        if args.k and args.k not in name:
            continue
        td, tdm, tt, ttm = _time2(fd, ft, args.repeat)
        print(f"{name:40s} {td * 1e3:14.3f} {tt * 1e3:10.3f} {td / tt:7.2f}   ({tdm * 1e3:.3f} / {ttm * 1e3:.3f})",
              flush=True)
    if args.gpt_step:
        gpt_step(max(5, args.repeat // 3))


if __name__ == "__main__":
    main()
