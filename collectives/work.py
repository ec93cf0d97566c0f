"""Work handles returned by `async_op=True` (torch.distributed.Work look-alike)."""


class Work:
    """Base work handle: `wait(timeout=None)`, `is_completed()`, `is_success()`, `result()`."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True

    def is_success(self):
        return True

    def exception(self):
        return None

    def result(self):
        return []

    def synchronize(self):
        self.wait()

    def source_rank(self):
        raise RuntimeError("source_rank() is only defined for a recv work handle")

    def get_future(self):
        return _Future(self)


class _Future:
    """Minimal torch.futures.Future over a work handle: wait()/value() give the output tensors."""

    def __init__(self, work):
        self._work = work

    def wait(self):
        self._work.wait()
        return self._work.result()

    def value(self):
        return self.wait()

    def done(self):
        return self._work.is_completed()

    def then(self, callback):
        """A future whose value is callback(self), run when it is waited on (keeps overlap)."""
        return _ChainedFuture(self, callback)


class _ChainedFuture(_Future):
    def __init__(self, parent, callback):
        self._parent, self._callback = parent, callback
        self._has_value = False
        self._value = None

    def wait(self):
        if not self._has_value:
            self._parent.wait()
            self._value = self._callback(self._parent)
            self._has_value = True
        return self._value

    def done(self):
        return self._has_value or self._parent.done()

    def set_result(self, value):
        self._value, self._has_value = value, True


class CompletedWork(Work):
    def __init__(self, result=None):
        self._result = result or []

    def result(self):
        return self._result
