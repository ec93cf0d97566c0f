"""Time of `import disttensor` against `import torch`, each in fresh interpreters (alternating), and the modules
that cost the most in disttensor's import (`python -X importtime`, self time).

    .venv/bin/python benchmarks/bench_import.py --runs 7
"""
import argparse
import statistics
import subprocess
import sys

PROBE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def import_seconds(mod):
    out = subprocess.run([sys.executable, "-c", PROBE.format(mod=mod)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def heaviest(mod, n):
    """The n modules with the largest self time in `import mod`, as (microseconds, name)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {mod}"], capture_output=True,
                         text=True, check=True).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[0].split(":")[1].strip().isdigit():
            rows.append((int(parts[0].split(":")[1]), parts[2].strip()))
    return sorted(rows, reverse=True)[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    times = {"disttensor": [], "torch": []}
    import_seconds("disttensor"), import_seconds("torch")      # warm the file cache
    for _ in range(args.runs):
        for mod in times:
            times[mod].append(import_seconds(mod))
    for mod, ts in times.items():
        print(f"import {mod:10s} median {statistics.median(ts) * 1e3:7.1f} ms  (min {min(ts) * 1e3:.1f}, "
              f"max {max(ts) * 1e3:.1f}, {args.runs} fresh interpreters)")
    print(f"ratio disttensor / torch: {statistics.median(times['disttensor']) / statistics.median(times['torch']):.2f}")
    print("heaviest modules in `import disttensor` (self time):")
    for us, name in heaviest("disttensor", args.top):
        print(f"  {us / 1e3:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
