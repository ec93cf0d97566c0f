"""The failure report: which rank failed first, where, how, and its traceback."""

import json
import os

from ._common import describe_exit, signal_name


def record_from_error_file(path, rank, **fields):
    """A status record for a rank whose bootstrap was killed before it could report (e.g. by
    mpiexec after an MPI_Abort), from the error file its script left; None when there is none."""
    try:
        with open(path) as f:
            err = json.load(f)
    except (OSError, ValueError):
        return None
    rec = {"rank": rank, "host": err.get("host"), "pid": err.get("pid"), "exitcode": None,
           "signal": None, "time": err.get("time", 0.0),
           "error": err.get("error") or err.get("message", {}).get("message", ""),
           "traceback": err.get("traceback") or
           err.get("message", {}).get("extraInfo", {}).get("py_callstack", ""),
           "how": "uncaught exception; the process was then ended by its starter "
                  "(mpiexec after an MPI_Abort, or the job being stopped)",
           "from_error_file": True}
    rec.update(fields)
    return rec


def read_error_files(run_dir, records, world_size, nproc_per_node):
    """Fill in ``records`` for ranks that left an error file under run_dir but no record."""
    if not run_dir or not os.path.isdir(run_dir):
        return records
    for r in range(world_size):
        if r in records:
            continue
        rec = record_from_error_file(os.path.join(run_dir, "rank_%d" % r, "error.json"), r,
                                     local_rank=r % nproc_per_node,
                                     group_rank=r // nproc_per_node)
        if rec is not None:
            records[r] = rec
    return records


def pick_root_cause(records):
    """The first failure that was not caused by the launcher (or mpiexec) stopping the job."""
    recs = sorted((r for r in records.values() if not r.get("ok")),
                  key=lambda r: (r.get("time") or 0.0))
    if not recs:
        return None
    for r in recs:
        if not r.get("terminated") and not r.get("collateral"):
            return r
    return recs[0]


def _indent(text, pad="    "):
    return "\n".join(pad + line for line in text.rstrip("\n").split("\n"))


def format_report(records, world_size, attempt, attempts, exit_codes=None, note=None):
    """Human-readable failure report (a string ending in a newline)."""
    bar = "=" * 72
    lines = [bar, "dtrun: job FAILED (attempt %d of %d)" % (attempt, attempts)]
    root = pick_root_cause(records)
    if root is None:
        lines.append("No rank reported a failure of its own.")
        if exit_codes:
            for what, code in exit_codes:
                if code:
                    how = ("killed by signal %s" % signal_name(-code)) if code < 0 \
                        else ("exit code %d" % code)
                    lines.append("  %s: %s" % (what, how))
        if note:
            lines.append(note)
        lines.append(bar)
        return "\n".join(lines) + "\n"
    lines.append("Root cause (first rank to fail):")
    lines.append("  rank:        %s (local_rank %s, node_rank %s)"
                 % (root.get("rank"), root.get("local_rank"), root.get("group_rank")))
    lines.append("  host:        %s" % root.get("host"))
    lines.append("  pid:         %s" % root.get("pid"))
    how = root.get("how") or describe_exit(root)
    if root.get("error") and root.get("signal"):
        how = "uncaught exception; the process was then %s" % how
    lines.append("  exit:        %s" % how)
    if root.get("error"):
        lines.append("  error:       %s" % root["error"].strip().split("\n")[-1])
    if root.get("traceback"):
        lines.append("  traceback:")
        lines.append(_indent(root["traceback"]))
    elif root.get("stderr_tail"):
        lines.append("  last lines of its stderr:")
        lines.append(_indent(root["stderr_tail"]))
    else:
        lines.append("  (no traceback: the process printed nothing to stderr)")
    others = [r for k, r in sorted(records.items()) if r is not root]
    reported = {r.get("rank") for r in records.values()}
    missing = [i for i in range(world_size or 0) if i not in reported]
    if others or missing:
        lines.append("Other ranks:")
        for r in others:
            how = r.get("how") or describe_exit(r)
            if r.get("ok"):
                lines.append("  rank %s (%s): finished (exit code 0)"
                             % (r.get("rank"), r.get("host")))
                continue
            if r.get("terminated"):
                how += " (stopped after the root cause)"
            elif r.get("collateral") or (r.get("time") or 0) > (root.get("time") or 0):
                how += " (after the root cause)"
            lines.append("  rank %s (%s): %s" % (r.get("rank"), r.get("host"), how))
        if missing:
            lines.append("  rank%s %s: stopped by the launcher"
                         % ("s" if len(missing) > 1 else "", _ranges(missing)))
    if note:
        lines.append(note)
    lines.append(bar)
    return "\n".join(lines) + "\n"


def _ranges(nums):
    out, start, prev = [], None, None
    for n in sorted(nums):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ",".join(out)
