"""Anomaly detection: remember where each node was created; fail on NaN gradients naming it."""
import traceback

from .._backends.device import xp_of


class _State:
    __slots__ = ("enabled", "check_nan")

    def __init__(self):
        self.enabled = False
        self.check_nan = True


STATE = _State()


class detect_anomaly:
    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = (STATE.enabled, STATE.check_nan)
        STATE.enabled, STATE.check_nan = True, self.check_nan

    def __exit__(self, *exc):
        STATE.enabled, STATE.check_nan = self.prev
        return False


class set_detect_anomaly(detect_anomaly):
    def __init__(self, mode, check_nan=True):
        self.check_nan = check_nan
        self.prev = (STATE.enabled, STATE.check_nan)
        STATE.enabled, STATE.check_nan = bool(mode), check_nan

    def __enter__(self):
        pass


def is_anomaly_enabled():
    return STATE.enabled


def record_trace(node):
    node._trace = "".join(traceback.format_stack()[:-3])


def run_checked(node, g):
    try:
        gin = node.backward(g)
    except Exception as e:
        trace = getattr(node, "_trace", None)
        if trace:
            raise RuntimeError(f"Error in {node.name()} during backward: {e}\n"
                               f"Traceback of forward call that caused the error:\n{trace}") from e
        raise
    if STATE.check_nan:
        gl = gin if isinstance(gin, (tuple, list)) else (gin,)
        for i, gi in enumerate(gl):
            if gi is not None and getattr(gi, "dtype", None) is not None and gi.dtype.kind == "f" \
                    and bool(xp_of(gi).isnan(gi).any()):
                trace = getattr(node, "_trace", None) or "(enable detect_anomaly before the forward pass)\n"
                raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.\n"
                                   f"Traceback of forward call that caused the error:\n{trace}")
    return gin
