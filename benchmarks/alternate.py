"""Ratio disttensor / PyTorch of bench_conv.py cases, each library alone in its own process (no cross-library
thread interference), the two alternating round after round; the per-round ratio cancels most of this shared
machine's slow drift (its speed moves by 30% over minutes).

    .venv/bin/python benchmarks/alternate.py --threads 2 --rounds 5 --only "ResNet"
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(lib, args):
    env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT=os.environ.get("OPENBLAS_THREAD_TIMEOUT", "16"))
    out = subprocess.run([sys.executable, os.path.join(HERE, "bench_conv.py"), "--threads", str(args.threads),
                          "--reps", str(args.reps), "--only", args.only, "--lib", lib],
                         capture_output=True, text=True, env=env, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"(.*?)\s+\w+: median ([\d.]+) ms", line)
        if m:
            res[m.group(1).strip()] = float(m.group(2))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--only", default="3x3")
    args = ap.parse_args()
    rows = {}
    for _ in range(args.rounds):
        d, t = run("disttensor", args), run("torch", args)
        for k in d:
            rows.setdefault(k, []).append((d[k], t[k]))
    print(f"threads={args.threads}, {args.rounds} rounds, median of {args.reps} reps per process; ms")
    print(f"{'case':50s} {'disttensor':>16s} {'torch':>16s}  ratio median (range)")
    for k, v in rows.items():
        r = sorted(a / b for a, b in v)
        ds, ts = [a for a, _ in v], [b for _, b in v]
        print(f"{k:50s} {min(ds):7.2f}-{max(ds):<7.2f} {min(ts):7.2f}-{max(ts):<7.2f}  {statistics.median(r):.2f} "
              f"({r[0]:.2f}-{r[-1]:.2f})")


if __name__ == "__main__":
    main()
