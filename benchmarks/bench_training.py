"""Training-step time of three models, disttensor vs PyTorch CPU, side by side in one process.

    .venv/bin/python benchmarks/bench_training.py [--threads N] [--only mlp|convnet|gpt] [--separate]

Both libraries run literally the same model code (examples/models.py) with the same thread count.
`--separate` times each library in its own fresh process, alternating (with 2 threads, torch's spinning
OpenMP workers and NumPy's OpenBLAS workers otherwise compete for the cores inside one process, which a
real training script, using only one of the libraries, never sees).
"""
import argparse
import os
import subprocess
import sys
import time

# what `import disttensor` sets when it comes before NumPy (see disttensor/__init__.py); this script
# imports NumPy first, so set it here for the disttensor runs to match a user's script
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))


def _setup(lib, name):
    from models import mlp, mnist_convnet, gpt
    lib.manual_seed(0)
    if name == "mlp":
        model = mlp(lib)
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = lib.randn(256, 784)
        y = lib.randint(0, 10, (256,))
        loss_fn = lambda: lib.nn.functional.cross_entropy(model(x), y)  # noqa: E731
    elif name == "convnet":
        model = mnist_convnet(lib)
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        x = lib.randn(64, 1, 28, 28)
        y = lib.randint(0, 10, (64,))
        loss_fn = lambda: lib.nn.functional.nll_loss(model(x), y)  # noqa: E731
    else:
        model = gpt(lib, vocab_size=256, d_model=256, n_head=4, n_layer=4, block_size=128)
        opt = lib.optim.AdamW(model.parameters(), lr=3e-4)
        x = lib.randint(0, 256, (8, 128))
        y = lib.randint(0, 256, (8, 128))
        loss_fn = lambda: model(x, y)[1]  # noqa: E731

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
    return step


def timed(step, warmup=2, iters=10):
    for _ in range(warmup):
        step()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default=None)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--separate", action="store_true", help="each library in its own processes, 3 rounds")
    p.add_argument("--lib", default=None, help=argparse.SUPPRESS)  # the child of --separate
    args = p.parse_args()
    if args.separate:
        return _separate(args)
    if args.lib:
        import importlib
        lib = importlib.import_module(args.lib)
        if args.lib == "torch":
            lib.set_num_threads(args.threads)
        print(timed(_setup(lib, args.only), iters=args.iters))
        return
    import torch
    import disttensor
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    print(f"threads: {args.threads} (torch.set_num_threads and the BLAS pool of NumPy)")
    for name in ("mlp", "convnet", "gpt"):
        if args.only and name != args.only:
            continue
        t_pt = timed(_setup(torch, name), iters=args.iters)
        t_dt = timed(_setup(disttensor, name), iters=args.iters)
        print(f"{name:8s} step: disttensor {t_dt * 1e3:8.1f} ms   PyTorch {t_pt * 1e3:8.1f} ms   "
              f"ratio {t_dt / t_pt:5.2f}")


def _separate(args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               NUMBA_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    print(f"threads: {args.threads}, each library in its own process; median step, 3 alternating rounds")
    for name in ("mlp", "convnet", "gpt"):
        if args.only and name != args.only:
            continue
        t = {"disttensor": [], "torch": []}
        for _ in range(3):
            for lib in t:
                out = subprocess.run([sys.executable, __file__, "--lib", lib, "--only", name, "--iters",
                                      str(args.iters), "--threads", str(args.threads)],
                                     env=env, capture_output=True, text=True, check=True, timeout=600)
                t[lib].append(float(out.stdout.strip().splitlines()[-1]) * 1e3)
        dt_ms, pt_ms = ["/".join(f"{v:.1f}" for v in t[k]) for k in t]
        ratios = "/".join(f"{a / b:.2f}" for a, b in zip(t["disttensor"], t["torch"]))
        print(f"{name:8s} step: disttensor {dt_ms} ms   PyTorch {pt_ms} ms   ratio {ratios}")


if __name__ == "__main__":
    main()
