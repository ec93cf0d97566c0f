"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode.

The flag lives on one small object read on every op, so checking it costs one attribute load.
"""
import functools


class _GradState:
    __slots__ = ("enabled", "inference")

    def __init__(self):
        self.enabled = True
        self.inference = False


STATE = _GradState()


def is_grad_enabled():
    return STATE.enabled


def is_inference_mode_enabled():
    return STATE.inference


class _Mode:
    """Base for context managers that also work as decorators."""

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    _args = ()


class no_grad(_Mode):
    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False


class enable_grad(_Mode):
    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = True

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False


class set_grad_enabled(_Mode):
    def __init__(self, mode=True):
        self._args = (mode,)
        self.prev = STATE.enabled
        STATE.enabled = bool(mode)  # takes effect as a function call too, like PyTorch

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False


class inference_mode(_Mode):
    def __init__(self, mode=True):
        self._args = (mode,)
        self.mode = bool(mode)

    def __call__(self, fn=None):
        if fn is None or not callable(fn):
            return self
        return super().__call__(fn)

    def __enter__(self):
        self.prev = (STATE.enabled, STATE.inference)
        if self.mode:
            STATE.enabled, STATE.inference = False, True

    def __exit__(self, *exc):
        STATE.enabled, STATE.inference = self.prev
        return False
