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
    ap.add_argument("--winograd", type=int, default=None, choices=(0, 2, 4),
                    help="Winograd tile for 3x3 stride-1 convolutions: 0 off (im2col), 2 F(2x2,3x3), 4 F(4x4,3x3) "
                         "(default: disttensor's own choice)")
    ap.add_argument("--lib", default="both", choices=("both", "torch", "disttensor"),
                    help="time one library alone in this process (no interleaving: at >1 thread the two libraries' "
                         "idle worker threads disturb each other)")
    ap.add_argument("--accuracy", action="store_true",
                    help="instead: float32 Winograd error against torch float64, as the fraction of the op tests' "
                         "float32 tolerance (atol = rtol = 2e-4) used, on their uniform(-2, 2) data, per in-channels")
    ap.add_argument("--against", default=None, metavar="GIT_REV",
                    help="instead: time the conv kernels (arrays, forward + both gradients) of this checkout against "
                         "those of disttensor/ops/nn_conv.py at GIT_REV and against torch, interleaved in one process")
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
if args.winograd is not None:
    from disttensor.ops import nn_conv as _nn_conv
    _nn_conv._WINOGRAD_TILE = args.winograd


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


def case_pool(N, C, H, W, k, kind="max", stride=None, padding=0):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    s = stride or k
    g = rng.standard_normal((N, C, (H + 2 * padding - k) // s + 1, (W + 2 * padding - k) // s + 1),
                            dtype=np.float32)

    def make(F, frm):
        xt = frm(x.copy()).requires_grad_()
        gt = frm(g.copy())
        fn = getattr(F, kind + "_pool2d")

        def step():
            fn(xt, k, stride, padding).backward(gt)
            xt.grad = None
        return step
    return make(DF, dt.from_numpy), make(TF, torch.from_numpy)


def case_interp(shape, mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape[:2] + (shape[2] * 2, shape[3] * 2), dtype=np.float32)

    def make(F, frm):
        xt = frm(x.copy()).requires_grad_()
        gt = frm(g.copy())

        def step():
            F.interpolate(xt, scale_factor=2, mode=mode).backward(gt)
            xt.grad = None
        return step
    return make(DF, dt.from_numpy), make(TF, torch.from_numpy)


def case_gemm_floor(N, C, O, H, W, k, padding=0):
    """The three GEMMs an im2col convolution cannot avoid (forward, weight grad, input grad), as bare NumPy
    matmuls with the conv's shapes, against PyTorch's whole conv forward+backward: the floor of this design."""
    rng = np.random.default_rng(0)
    L = N * (H + 2 * padding - k + 1) * (W + 2 * padding - k + 1)
    KC = k * k * C
    wm = rng.standard_normal((O, KC), dtype=np.float32)
    cols = rng.standard_normal((KC, L), dtype=np.float32)
    g = rng.standard_normal((O, L), dtype=np.float32)

    def gemms():
        wm @ cols
        cols @ g.T
        wm.T @ g
    _, ft = case_conv(N, C, O, H, W, k, padding=padding)
    return gemms, ft


CASES = [
    ("conv1 MNIST 1->32 28x28 b64 3x3 (no input grad)", lambda: case_conv(64, 1, 32, 28, 28, 3, input_grad=False)),
    ("conv2 MNIST 32->64 26x26 b64 3x3", lambda: case_conv(64, 32, 64, 26, 26, 3)),
    ("ResNet 64->64 32x32 b32 3x3 pad1", lambda: case_conv(32, 64, 64, 32, 32, 3, padding=1)),
    ("ResNet down 64->128 32x32 b32 3x3 s2 pad1", lambda: case_conv(32, 64, 128, 32, 32, 3, stride=2, padding=1)),
    ("  (NumPy GEMM floor of conv2 vs torch conv2)", lambda: case_gemm_floor(64, 32, 64, 26, 26, 3)),
    ("  (NumPy GEMM floor of ResNet vs torch ResNet)", lambda: case_gemm_floor(32, 64, 64, 32, 32, 3, padding=1)),
    ("1x1 64->128 32x32 b32", lambda: case_conv(32, 64, 128, 32, 32, 1)),
    ("max_pool2d 2 MNIST b64 64x24x24", lambda: case_pool(64, 64, 24, 24, 2)),
    ("max_pool2d 3 s2 p1 b32 64x56x56 (ResNet stem)", lambda: case_pool(32, 64, 56, 56, 3, stride=2, padding=1)),
    ("avg_pool2d 2 b32 64x32x32", lambda: case_pool(32, 64, 32, 32, 2, kind="avg")),
    ("interpolate nearest x2 b8 64x64x64", lambda: case_interp((8, 64, 64, 64), "nearest")),
    ("interpolate bilinear x2 b8 64x64x64", lambda: case_interp((8, 64, 64, 64), "bilinear")),
]


def bench_one(f, reps):
    """One library alone: (wall median, wall min) in ms."""
    f(), f(), f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3, min(ts) * 1e3


def main_accuracy():
    from disttensor.ops import _winograd as W
    rng = np.random.default_rng(7)
    print("float32 conv2d forward against torch float64: fraction of atol = rtol = 2e-4 used (worst of 4 cases: batch "
          "2, 32 out channels, 24x24, padding 0/1/2; uniform(-2, 2) inputs, weights, bias)")
    print(f"{'in-channels':>12s} {'torch f32':>10s} {'F(2x2)':>8s} {'F(4x4)':>8s}")
    for C in (16, 32, 48, 64, 96, 128, 256):
        r = {"t": 0.0, 2: 0.0, 4: 0.0}
        for trial in range(4):
            p = trial % 3
            x, w, b = rng.uniform(-2, 2, (2, C, 24, 24)), rng.uniform(-2, 2, (32, C, 3, 3)), rng.uniform(-2, 2, 32)
            ref = TF.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), padding=p).numpy()
            tol = 2e-4 + 2e-4 * np.abs(ref)
            f32 = [a.astype(np.float32) for a in (x, w, b)]
            r["t"] = max(r["t"], (np.abs(TF.conv2d(*(torch.from_numpy(a) for a in f32), padding=p).numpy() - ref)
                                  / tol).max())
            for m in (2, 4):
                y = W.forward(*f32, p, p, (24 + 2 * p - 2,) * 2, m=m)
                r[m] = max(r[m], (np.abs(y - ref) / tol).max())
        print(f"{C:12d} {r['t']:10.2f} {r[2]:8.2f} {r[4]:8.2f}", flush=True)


def bench(fd, ft, reps):
    """Interleaved runs; returns (wall median, CPU-time min) per library, in ms. With one thread the
    CPU time of this thread counts only the time the op really ran, so it is the steadier figure on a
    shared machine; with more threads only the wall-clock figure is meaningful."""
    fd(), ft(), fd(), ft()
    wd, wt, cd, ct = [], [], [], []
    for _ in range(reps):
        c0, t0 = time.thread_time(), time.perf_counter()
        fd()
        c1, t1 = time.thread_time(), time.perf_counter()
        ft()
        c2, t2 = time.thread_time(), time.perf_counter()
        wd.append(t1 - t0)
        wt.append(t2 - t1)
        cd.append(c1 - c0)
        ct.append(c2 - c1)
    return (float(np.median(wd)) * 1e3, float(np.median(wt)) * 1e3, min(cd) * 1e3, min(ct) * 1e3)


def _conv_module_at(rev):
    """disttensor/ops/nn_conv.py as of git revision `rev`, imported as a sibling module (nothing is written)."""
    import subprocess
    import types
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    src = subprocess.run(["git", "show", f"{rev}:disttensor/ops/nn_conv.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("disttensor.ops._nn_conv_at_rev")
    mod.__package__ = "disttensor.ops"
    exec(compile(src, f"{rev}:nn_conv.py", "exec"), mod.__dict__)
    return mod


def main_against(rev):
    from disttensor.ops import nn_conv as new
    old = _conv_module_at(rev)

    def kernels(M, x, w, b, st, pads, xpad, g):
        M.conv_forward(x, w, b, st, pads, (1, 1), 1, xpad)
        if hasattr(M, "conv_backward"):
            M.conv_backward(g, x, w, st, pads, (1, 1), 1, xpad)
        else:
            M.conv_grad_input(g, w, x.shape, st, pads, (1, 1), 1)
            M.conv_grad_weight(g, x, w.shape, st, pads, (1, 1), 1, xpad)
    print(f"threads={threads}; conv2d forward + input and weight gradients (kernels on arrays, no autograd), ms: "
          f"minimum CPU time of the calling thread over {args.reps} interleaved rounds (wall-clock with >1 thread)")
    print(f"{'case':42s} {rev[:10]:>10s} {'now':>8s} {'torch':>8s} {'before/torch':>12s} {'now/torch':>9s}")
    clock = time.thread_time if threads == 1 else time.perf_counter
    for name, (N, C, O, H, p, s) in [("conv2 MNIST 32->64 26x26 b64", (64, 32, 64, 26, 0, 1)),
                                     ("ResNet 64->64 32x32 b32 pad1", (32, 64, 64, 32, 1, 1)),
                                     ("ResNet down 64->128 s2 pad1", (32, 64, 128, 32, 1, 2))]:
        if args.only and args.only not in name:
            continue
        rng = np.random.default_rng(0)
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        w = rng.standard_normal((O, C, 3, 3), dtype=np.float32) * 0.1
        b = rng.standard_normal(O, dtype=np.float32)
        Ho = (H + 2 * p - 3) // s + 1
        g = rng.standard_normal((N, O, Ho, Ho), dtype=np.float32)
        pads, st = ((p, p), (p, p)), (s, s)
        xpad = new._pad(x, pads)
        xt, wt, bt = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
        gt = torch.from_numpy(g.copy())

        def tstep():
            TF.conv2d(xt, wt, bt, stride=s, padding=p).backward(gt)
            xt.grad = wt.grad = bt.grad = None
        fs = [lambda: kernels(old, x, w, b, st, pads, xpad, g), lambda: kernels(new, x, w, b, st, pads, xpad, g), tstep]
        for f in fs:
            f()
        best = [1e9] * 3
        for _ in range(args.reps):
            for i, f in enumerate(fs):
                c = clock()
                f()
                best[i] = min(best[i], clock() - c)
        a, b_, c = (v * 1e3 for v in best)
        print(f"{name:42s} {a:10.2f} {b_:8.2f} {c:8.2f} {a / c:11.2f}x {b_ / c:8.2f}x", flush=True)


def main():
    from disttensor.ops import nn_conv as _nn_conv
    print(f"threads={threads} (torch.set_num_threads, OMP/OPENBLAS/NUMBA_NUM_THREADS), torch {torch.__version__}, "
          f"numpy {np.__version__}, reps={args.reps}, Winograd tile {({0: 'off', -1: 'auto'}).get(_nn_conv._WINOGRAD_TILE, _nn_conv._WINOGRAD_TILE)}; "
          f"forward+backward in ms: wall-clock median, and (threads=1) the minimum CPU time of the calling thread")
    print(f"{'case':48s} {'disttensor':>10s} {'torch':>8s} {'ratio':>6s} | {'cpu dt':>7s} {'cpu torch':>9s} "
          f"{'ratio':>6s}")
    for name, mk in CASES:
        if args.only and args.only not in name:
            continue
        fd, ft = mk()
        if args.lib != "both":
            med, mn = bench_one(fd if args.lib == "disttensor" else ft, args.reps)
            print(f"{name:48s} {args.lib}: median {med:.2f} ms, min {mn:.2f} ms (alone)", flush=True)
            continue
        a, b, c, d = bench(fd, ft, args.reps)
        cpu = f"{c:7.2f} {d:9.2f} {c / d:5.2f}x" if threads == 1 else f"{'-':>7s} {'-':>9s} {'-':>6s}"
        print(f"{name:48s} {a:10.2f} {b:8.2f} {a / b:5.2f}x | {cpu}", flush=True)


if __name__ == "__main__":
    if args.accuracy:
        main_accuracy()
    elif args.against:
        main_against(args.against)
    else:
        main()
