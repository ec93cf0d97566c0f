"""Optimizer step time over ~3.2M float32 parameters (8 tensors, an MLP's shapes): disttensor vs PyTorch CPU.

Run: .venv/bin/python benchmarks/bench_optim.py [--repeat 50] [--threads N] [--many]

Every step includes what a training step pays: disttensor gathers the gradients into its flat buffer,
runs one fused numba kernel per bucket (or the NumPy multi-pass fallback, DISTTENSOR_NO_NUMBA=1), and
bumps version counters; PyTorch runs its default CPU implementation (single-tensor for-loop), and also
foreach=True and fused=True where available.
"""
import argparse
import os
import time

import numpy as np

SHAPES = [(1024, 1024), (1024,), (1024, 1024), (1024,), (1024, 1024), (1024,), (64, 1024), (64,)]
# a transformer-like parameter list: many tensors, many small ones (5.64M params in 76 tensors)
SHAPES_MANY = [(256, 256)] * 30 + [(256,)] * 30 + [(768, 256)] * 8 + [(1024, 256)] * 8


def median_time(fn, repeat):
    """(best, median) milliseconds; the best is the figure to compare on a shared machine."""
    fn()
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts)) * 1e3, float(np.median(ts)) * 1e3


def make(lib, rng_arrays, grads):
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in rng_arrays]
    for p, g in zip(ps, grads):
        p.grad = lib.tensor(g.copy())
    return ps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="threads for both libraries (0: their defaults)")
    ap.add_argument("--many", action="store_true", help="76 tensors (5.6M params) instead of 8 (3.2M)")
    args = ap.parse_args()
    import disttensor
    import torch
    if args.threads:
        import numba
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shapes = SHAPES_MANY if args.many else SHAPES
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in shapes]
    n = sum(a.size for a in init)
    print(f"{n / 1e6:.2f}M float32 params in {len(shapes)} tensors; torch threads {torch.get_num_threads()}, "
          f"cores {os.cpu_count()}")
    cases = [("SGD momentum=0.9", "SGD", dict(lr=0.01, momentum=0.9)),
             ("AdamW", "AdamW", dict(lr=1e-3, weight_decay=0.01))]
    rows = []
    for label, name, kw in cases:
        res = {}
        for backend in ("numba", "numpy"):
            if backend == "numpy":
                os.environ["DISTTENSOR_NO_NUMBA"] = "1"
            else:
                os.environ.pop("DISTTENSOR_NO_NUMBA", None)
            ps = make(disttensor, init, grads)
            opt = getattr(disttensor.optim, name)(ps, **kw)
            res[f"disttensor ({backend})"] = median_time(opt.step, args.repeat)
        os.environ.pop("DISTTENSOR_NO_NUMBA", None)
        for variant, extra in (("default", {}), ("foreach", dict(foreach=True)), ("fused", dict(fused=True))):
            try:
                ps = make(torch, init, grads)
                opt = getattr(torch.optim, name)(ps, **kw, **extra)
                with torch.no_grad():
                    res[f"PyTorch ({variant})"] = median_time(opt.step, args.repeat)
            except (RuntimeError, ValueError, TypeError) as e:
                res[f"PyTorch ({variant})"] = None
                print(f"  PyTorch {variant} {name}: not available ({str(e).splitlines()[0][:80]})")
        rows.append((label, res))
    for label, res in rows:
        best_pt = min(v[0] for k, v in res.items() if k.startswith("PyTorch") and v is not None)
        default_pt = res["PyTorch (default)"][0]
        print(f"\n{label}:                      best     median")
        for k, v in res.items():
            if v is None:
                continue
            extra = (f"  ratio {v[0] / default_pt:.2f} vs PyTorch default, {v[0] / best_pt:.2f} vs fastest PyTorch"
                     if k.startswith("disttensor") else "")
            print(f"  {k:24s} {v[0]:7.2f} ms {v[1]:7.2f} ms{extra}")


if __name__ == "__main__":
    main()
