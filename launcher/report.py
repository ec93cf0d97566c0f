"""The failure report: which rank failed first, where, how, and its traceback."""

from ._common import describe_exit, signal_name


def pick_root_cause(records):
    """The first failure that was not caused by the launcher (or mpiexec) stopping the job."""
    if not records:
        return None
    recs = sorted(records.values(), key=lambda r: (r.get("time") or 0.0))
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
    lines.append("  exit:        %s" % describe_exit(root))
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
    if others or world_size:
        lines.append("Other ranks:")
        for r in others:
            how = describe_exit(r)
            if r.get("terminated") or r.get("collateral"):
                how += " (stopped after the root cause)"
            lines.append("  rank %s (%s): %s" % (r.get("rank"), r.get("host"), how))
        missing = [i for i in range(world_size or 0) if i not in reported]
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
