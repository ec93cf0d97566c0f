"""A recording fake of CuPy's NCCL bindings and of the bits of CuPy the nccl backend uses.

FakeArray wraps a NumPy array and looks like a cupy.ndarray (`.data.ptr`, `.flags`, `.device`);
FakeNccl.NcclCommunicator records every call (name, pointers, count, dtype, op, root/peer, stream)
in one shared log together with groupStart/groupEnd and the stream/event calls.
"""
import itertools
import types

import numpy as np

_ids = itertools.count(1)


class _Ptr:
    def __init__(self, ptr):
        self.ptr = ptr


class _Dev:
    id = 0


class FakeArray:
    def __init__(self, a):
        self._a = a

    data = property(lambda self: _Ptr(self._a.__array_interface__["data"][0]))
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    ndim = property(lambda self: self._a.ndim)
    flags = property(lambda self: self._a.flags)
    strides = property(lambda self: self._a.strides)
    device = _Dev()

    def reshape(self, *shape):
        return FakeArray(self._a.reshape(*shape))

    def __getitem__(self, k):
        return FakeArray(self._a[k])

    def __setitem__(self, k, v):
        self._a[k] = v._a if isinstance(v, FakeArray) else v

    def __len__(self):
        return len(self._a)

    def get(self):
        return self._a.copy()


class FakeCupy:
    """Module-like: cuda.runtime, cuda.Stream, cuda.Event, cuda.get_current_stream, array makers."""

    def __init__(self, log, devices=1):
        self.log = log
        cp = self

        class Stream:
            def __init__(self, non_blocking=False, null=False):
                self.ptr = 0 if null else next(_ids) * 4096
                cp.log.append(("Stream", self.ptr, non_blocking))

            def wait_event(self, ev):
                cp.log.append(("wait_event", self.ptr, ev.id))

            def __enter__(self):
                cp._stack.append(self)
                return self

            def __exit__(self, *a):
                cp._stack.pop()

            def synchronize(self):
                pass

        class Event:
            def __init__(self, block=False, disable_timing=False, interprocess=False):
                self.id = next(_ids)
                self.stream = None

            @property
            def done(self):
                return cp.events_done

            def record(self, stream=None):
                self.stream = stream.ptr if stream is not None else 0
                cp.log.append(("record", self.id, self.stream))

            def synchronize(self):
                cp.log.append(("event_synchronize", self.id))

        class Runtime:
            @staticmethod
            def getDeviceCount():
                if devices is None:
                    raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
                return devices

        self.null_stream = None
        self._stack = []
        self.events_done = True
        self.cuda = types.SimpleNamespace(Stream=Stream, Event=Event, runtime=Runtime,
                                          get_current_stream=self._current, is_available=lambda: bool(devices))
        self.null_stream = Stream(null=True)
        self.ndarray = FakeArray

    def _current(self):
        return self._stack[-1] if self._stack else self.null_stream

    def ascontiguousarray(self, a):
        self.log.append(("copy", a.shape))
        return FakeArray(np.ascontiguousarray(a._a))

    def empty(self, shape, dtype):
        return FakeArray(np.empty(shape, dtype=dtype))

    def zeros(self, shape, dtype):
        return FakeArray(np.zeros(shape, dtype=dtype))

    def concatenate(self, arrays):
        return FakeArray(np.concatenate([a._a for a in arrays]))


class FakeNccl:
    """Module-like cupy.cuda.nccl with a recording NcclCommunicator."""
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_BFLOAT16 = 6, 7, 8, 9
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
    available = True

    def __init__(self, log):
        self.log = log
        nccl = self

        class NcclCommunicator:
            def __init__(self, ndev, commId, rank):
                nccl.log.append(("CommInitRank", ndev, tuple(commId), rank))
                self.ndev, self.rank = ndev, rank

            def __getattr__(self, name):
                def call(*args):
                    nccl.log.append((name,) + args)
                return call

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self):
        return tuple(range(128))

    def groupStart(self):
        self.log.append(("groupStart",))

    def groupEnd(self):
        self.log.append(("groupEnd",))


def make(devices=1):
    log = []
    return FakeNccl(log), FakeCupy(log, devices), log


def cuda_tensor(a):
    """A disttensor Tensor whose array is a FakeArray (a 'CUDA' tensor for the nccl backend)."""
    from disttensor.tensor import Tensor
    return Tensor._wrap(FakeArray(np.asarray(a)))
