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
    """Minimal torch.futures.Future over a work handle."""

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
        fut = _DoneFuture(None)
        fut._value = callback(self)
        return fut


class _DoneFuture(_Future):
    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    def done(self):
        return True


class CompletedWork(Work):
    def __init__(self, result=None):
        self._result = result or []

    def result(self):
        return self._result
