"""A small key-value store over TCP, like torch.distributed.TCPStore.

The master process (`is_master=True`) serves the store from a daemon thread; every process
(the master included) talks to it through a client socket. Used for rendezvous (the MPI port
name, the NCCL unique id), for the stall diagnostics (per-rank collective histories) and for the
job-wide abort flag. Values are bytes; `set` also takes str. The wire format is a 4-byte length
followed by a pickled tuple: the peers are the processes of one job, trusted like PyTorch's store.
"""
import os
import pickle
import socket
import struct
import threading
import time
from datetime import timedelta

_LEN = struct.Struct("!I")
DEFAULT_TIMEOUT = timedelta(seconds=300)


def _secs(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _send(sock, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("store connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock):
    (n,) = _LEN.unpack(_recv_exact(sock, 4))
    return pickle.loads(_recv_exact(sock, n))


class _Server:
    def __init__(self, host, port):
        self.data = {}
        self.cond = threading.Condition()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        t = threading.Thread(target=self._serve, name="disttensor-store-server", daemon=True)
        t.start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._handle, args=(conn,), daemon=True,
                             name="disttensor-store-conn").start()

    def _handle(self, conn):
        try:
            while True:
                req = _recv(conn)
                _send(conn, self._do(*req))
        except (ConnectionError, OSError, EOFError):
            pass
        finally:
            conn.close()

    def _do(self, op, *args):
        d, cond = self.data, self.cond
        with cond:
            if op == "set":
                d[args[0]] = args[1]
                cond.notify_all()
                return None
            if op == "get":  # (key, timeout): wait for the key
                key, timeout = args
                if not cond.wait_for(lambda: key in d, timeout):
                    return ("timeout", key)
                return ("ok", d[key])
            if op == "wait":
                keys, timeout = args
                if not cond.wait_for(lambda: all(k in d for k in keys), timeout):
                    return ("timeout", [k for k in keys if k not in d])
                return ("ok", None)
            if op == "add":
                key, amount = args
                v = int(d.get(key, b"0")) + amount
                d[key] = str(v).encode()
                cond.notify_all()
                return v
            if op == "check":
                return all(k in d for k in args[0])
            if op == "delete":
                return d.pop(args[0], None) is not None
            if op == "num_keys":
                return len(d)
            if op == "compare_set":
                key, expected, desired = args
                cur = d.get(key)
                if (cur is None and expected in (b"", None)) or cur == expected:
                    d[key] = desired
                    cond.notify_all()
                    return desired
                return cur if cur is not None else expected
            if op == "multi_get":
                return [d.get(k) for k in args[0]]
        raise ValueError(f"unknown store op {op}")

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class Store:
    """Base class (torch.distributed.Store)."""


class TCPStore(Store):
    """torch.distributed.TCPStore: `TCPStore(host, port, world_size=None, is_master=False, timeout=...)`.

    `port=0` on the master picks a free port (read it back from `.port`).
    """

    def __init__(self, host_name, port, world_size=None, is_master=False, timeout=DEFAULT_TIMEOUT,
                 wait_for_workers=True, multi_tenant=False, **kwargs):
        self.host = host_name
        self.world_size = world_size
        self.timeout = _secs(timeout)
        self._server = None
        self._lock = threading.Lock()
        if is_master:
            bind = "" if host_name not in ("localhost", "127.0.0.1") else "127.0.0.1"
            self._server = _Server(bind, int(port))
            port = self._server.port
        self.port = int(port)
        self._sock = self._connect()
        if is_master and wait_for_workers and world_size:
            pass  # workers announce themselves lazily; rendezvous waits on keys instead

    def _connect(self):
        deadline = time.monotonic() + (self.timeout or 300)
        err = None
        while time.monotonic() < deadline:
            try:
                s = socket.create_connection((self.host, self.port), timeout=5)
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return s
            except OSError as e:
                err = e
                time.sleep(0.05)
        raise RuntimeError(f"TCPStore: could not connect to {self.host}:{self.port} within "
                           f"{self.timeout}s: {err}")

    def _call(self, *req):
        with self._lock:
            _send(self._sock, req)
            return _recv(self._sock)

    @staticmethod
    def _b(value):
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, int):
            return str(value).encode()
        raise TypeError(f"TCPStore values are bytes or str, got {type(value).__name__}")

    def set(self, key, value):
        self._call("set", key, self._b(value))

    def get(self, key, timeout=None):
        t = self.timeout if timeout is None else _secs(timeout)
        status, val = self._call("get", key, t)
        if status == "timeout":
            raise RuntimeError(f"TCPStore.get: key {key!r} was not set within {t}s "
                               f"(store {self.host}:{self.port})")
        return val

    def wait(self, keys, timeout=None):
        if isinstance(keys, str):
            keys = [keys]
        t = self.timeout if timeout is None else _secs(timeout)
        status, missing = self._call("wait", list(keys), t)
        if status == "timeout":
            raise RuntimeError(f"TCPStore.wait: keys {missing} were not set within {t}s")

    def add(self, key, amount):
        return self._call("add", key, int(amount))

    def check(self, keys):
        return self._call("check", list(keys))

    def delete_key(self, key):
        return self._call("delete", key)

    def num_keys(self):
        return self._call("num_keys")

    def compare_set(self, key, expected_value, desired_value):
        return self._call("compare_set", key, self._b(expected_value), self._b(desired_value))

    def multi_get(self, keys):
        return self._call("multi_get", list(keys))

    def set_timeout(self, timeout):
        self.timeout = _secs(timeout)

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass
        if self._server is not None:
            self._server.close()


class PrefixStore(Store):
    """torch.distributed.PrefixStore: every key gets `prefix/`."""

    def __init__(self, prefix, store):
        self.prefix = prefix
        self.underlying_store = store

    def _k(self, key):
        return f"{self.prefix}/{key}"

    def set(self, key, value):
        self.underlying_store.set(self._k(key), value)

    def get(self, key, timeout=None):
        return self.underlying_store.get(self._k(key), timeout)

    def wait(self, keys, timeout=None):
        if isinstance(keys, str):
            keys = [keys]
        self.underlying_store.wait([self._k(k) for k in keys], timeout)

    def add(self, key, amount):
        return self.underlying_store.add(self._k(key), amount)

    def check(self, keys):
        return self.underlying_store.check([self._k(k) for k in keys])

    def delete_key(self, key):
        return self.underlying_store.delete_key(self._k(key))

    def compare_set(self, key, expected_value, desired_value):
        return self.underlying_store.compare_set(self._k(key), expected_value, desired_value)

    def multi_get(self, keys):
        return self.underlying_store.multi_get([self._k(k) for k in keys])

    @property
    def timeout(self):
        return self.underlying_store.timeout


class HashStore(Store):
    """torch.distributed.HashStore: an in-process store (one process, tests)."""

    def __init__(self):
        self._srv = _Server.__new__(_Server)
        self._srv.data = {}
        self._srv.cond = threading.Condition()
        self.timeout = 300.0

    def set(self, key, value):
        self._srv._do("set", key, TCPStore._b(value))

    def get(self, key, timeout=None):
        status, val = self._srv._do("get", key, self.timeout if timeout is None else _secs(timeout))
        if status == "timeout":
            raise RuntimeError(f"HashStore.get: key {key!r} was not set in time")
        return val

    def wait(self, keys, timeout=None):
        if isinstance(keys, str):
            keys = [keys]
        status, missing = self._srv._do("wait", list(keys),
                                        self.timeout if timeout is None else _secs(timeout))
        if status == "timeout":
            raise RuntimeError(f"HashStore.wait: keys {missing} were not set in time")

    def add(self, key, amount):
        return self._srv._do("add", key, int(amount))

    def check(self, keys):
        return self._srv._do("check", list(keys))

    def delete_key(self, key):
        return self._srv._do("delete", key)

    def multi_get(self, keys):
        return self._srv._do("multi_get", list(keys))

    def compare_set(self, key, expected_value, desired_value):
        return self._srv._do("compare_set", key, TCPStore._b(expected_value), TCPStore._b(desired_value))


def store_from_env(rank, world_size, timeout=DEFAULT_TIMEOUT, addr=None, port=None):
    """The job's store at MASTER_ADDR:MASTER_PORT (rank 0 serves it)."""
    addr = addr or os.environ.get("MASTER_ADDR", "127.0.0.1")
    port = int(port if port is not None else os.environ.get("MASTER_PORT", "29500"))
    return TCPStore(addr, port, world_size, is_master=(rank == 0), timeout=timeout)
