"""The process that runs the user's script (started by ``launcher.bootstrap``).

``python -m launcher._runner script.py args`` or ``python -m launcher._runner -m module args``.
Runs the target as ``__main__`` (like ``python script.py``).  An uncaught exception is written
to the error file named by TORCHELASTIC_ERROR_FILE (torchrun's format, plus flat fields), printed
to stderr through ``sys.excepthook``, and the process then ends at once with ``os._exit`` so that
MPI's finalize (which waits for the other ranks) cannot hang a failed rank.
"""

import json
import os
import runpy
import socket
import sys
import time
import traceback

_SKIP_FILES = {os.path.abspath(__file__), os.path.abspath(runpy.__file__), "<frozen runpy>"}


def _skipped(filename):
    return filename in _SKIP_FILES or os.path.abspath(filename) in _SKIP_FILES


def _user_traceback(exc):
    tb = exc.__traceback__
    while tb is not None and _skipped(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def write_error_file(exc, path=None):
    """Record an uncaught exception for the launcher (torchrun's error_file layout)."""
    path = path or os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    text = "".join(traceback.format_exception(type(exc), exc, _user_traceback(exc)))
    msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    data = {
        "message": {
            "message": msg,
            "extraInfo": {"py_callstack": text, "timestamp": str(int(time.time()))},
        },
        "rank": int(os.environ.get("RANK", "0")),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "exc_type": type(exc).__name__,
        "error": msg,
        "traceback": text,
        "time": time.time(),
    }
    try:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _record_hook(orig):
    def hook(etype, value, tb):
        if value is not None and not getattr(value, "_dtrun_recorded", False):
            write_error_file(value)
        orig(etype, value, tb)
    hook._dtrun = True
    return hook


def _flush():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        sys.stderr.write("usage: python -m launcher._runner [-m module | script.py] [args...]\n")
        return 2
    if not getattr(sys.excepthook, "_dtrun", False):
        sys.excepthook = _record_hook(sys.excepthook)
    try:
        if argv[0] == "-m":
            if len(argv) < 2:
                sys.stderr.write("launcher._runner: -m needs a module name\n")
                return 2
            sys.argv = [argv[1]] + argv[2:]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            script = argv[0]
            sys.argv = argv
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
        if code is None or code == 0:
            raise
        if not isinstance(code, int):
            sys.stderr.write("%s\n" % (code,))
            code = 1
        _flush()
        os._exit(code)
    except BaseException as e:
        write_error_file(e)
        try:
            e._dtrun_recorded = True
        except Exception:
            pass
        try:
            e.__traceback__ = _user_traceback(e)
            sys.excepthook(type(e), e, e.__traceback__)
        except Exception:
            traceback.print_exception(type(e), e, e.__traceback__)
        _flush()
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
