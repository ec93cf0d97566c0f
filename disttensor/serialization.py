"""disttensor.save / disttensor.load: checkpoints without pickle.

File layout (all integers little-endian):

    magic      8 bytes   b"\\x89DTCKPT\\n"
    version    u32       FORMAT_VERSION
    hdr_len    u64       length of the JSON header
    header     hdr_len   UTF-8 JSON: {"tree": ..., "tensors": [...], "data_len": N}
    padding    to a multiple of 64 bytes
    data       data_len  raw little-endian array bytes, each array aligned to 64 bytes
    digest     32 bytes  SHA-256 of every byte before it

The tree describes nested dicts (keys of any supported scalar type), OrderedDicts, lists, tuples,
numbers, strings, bytes, None, dtypes, devices and tensors/ndarrays (an index into "tensors", so a
tensor that appears twice is stored once and loads as one object). Loading parses JSON and copies
bytes: no code runs from the file. The digest is checked before anything is decoded, so a
truncated, foreign or corrupted file fails with a clear error. Writes to a path are atomic: a
temporary file in the same directory, fsync, then os.replace, so a failed write leaves the old
file untouched.
"""
import base64
import collections
import hashlib
import io
import json
import os
import struct
import tempfile

import numpy as np

MAGIC = b"\x89DTCKPT\n"
FORMAT_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sIQ")
_DIGEST = 32

__all__ = ["save", "load", "MAGIC", "FORMAT_VERSION"]


class _Encoder:
    def __init__(self):
        self.tensors = []   # header entries
        self.arrays = []    # host arrays, same order
        self.memo = {}
        self.offset = 0

    def add_array(self, arr, entry):
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")  # (np.ascontiguousarray would turn 0-d arrays into 1-d)
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not _little()):
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self.offset = (self.offset + _ALIGN - 1) // _ALIGN * _ALIGN
        entry.update(dtype=_dtype_name(arr.dtype), shape=list(arr.shape), offset=self.offset, nbytes=int(arr.nbytes))
        self.offset += arr.nbytes
        self.tensors.append(entry)
        self.arrays.append(arr)
        return len(self.tensors) - 1

    def enc(self, obj):
        from .tensor import Tensor, Size
        from ._dtype import dtype as _dt
        from ._backends.device import device as _device
        if obj is None or obj is True or obj is False or isinstance(obj, str):
            return obj
        if isinstance(obj, Tensor):
            key = id(obj)
            if key not in self.memo:
                d = obj._data
                host = d if d.__class__ is np.ndarray else d.get()
                entry = {"kind": "tensor", "requires_grad": bool(obj.requires_grad), "device": str(obj.device)}
                if type(obj).__name__ == "Parameter":
                    entry["kind"] = "parameter"
                self.memo[key] = (self.add_array(host, entry), obj)
            return {"$t": self.memo[key][0]}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind in "OV" and obj.dtype.name != "bfloat16":
                raise TypeError(f"disttensor.save: cannot store a NumPy array of dtype {obj.dtype}")
            key = id(obj)
            if key not in self.memo:
                self.memo[key] = (self.add_array(obj, {"kind": "ndarray"}), obj)
            return {"$t": self.memo[key][0]}
        if isinstance(obj, np.generic):
            return {"$t": self.add_array(np.asarray(obj), {"kind": "npscalar"})}
        if isinstance(obj, bool):
            return obj
        if isinstance(obj, int):
            return obj if -(2 ** 63) <= obj < 2 ** 63 else {"$int": str(obj)}
        if isinstance(obj, float):
            if obj != obj or obj in (float("inf"), float("-inf")):
                return {"$float": repr(obj)}
            return obj
        if isinstance(obj, complex):
            return {"$complex": [self.enc(obj.real), self.enc(obj.imag)]}
        if isinstance(obj, (bytes, bytearray)):
            return {"$bytes": base64.b64encode(bytes(obj)).decode("ascii")}
        if isinstance(obj, _dt):
            return {"$dtype": obj.name}
        if isinstance(obj, _device):
            return {"$device": str(obj)}
        if isinstance(obj, Size):
            return {"$size": list(obj)}
        if isinstance(obj, collections.OrderedDict):
            return {"$odict": [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
        if isinstance(obj, collections.Counter):
            return {"$counter": [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
        if isinstance(obj, dict):
            return {"$dict": [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            if hasattr(obj, "_fields"):
                raise TypeError(f"disttensor.save: cannot store namedtuple {type(obj).__name__} (no code is "
                                "pickled); convert it to a tuple or dict")
            return {"$tuple": [self.enc(v) for v in obj]}
        if isinstance(obj, list):
            return [self.enc(v) for v in obj]
        if isinstance(obj, (set, frozenset)):
            return {"$set": [self.enc(v) for v in obj], "frozen": isinstance(obj, frozenset)}
        if isinstance(obj, slice):
            return {"$slice": [self.enc(obj.start), self.enc(obj.stop), self.enc(obj.step)]}
        raise TypeError(f"disttensor.save: cannot store an object of type {type(obj).__module__}."
                        f"{type(obj).__qualname__}; the checkpoint format holds tensors, arrays, numbers, strings, "
                        "bytes, None, dtypes, devices and dict/OrderedDict/list/tuple/set containers of them "
                        "(no pickled objects, so loading never runs code). Save its state_dict() instead.")


def _little():
    import sys
    return sys.byteorder == "little"


def _dtype_name(npd):
    if npd.name == "bfloat16":
        return "bfloat16"
    return npd.newbyteorder("<").str if npd.kind not in "b" else "|b1"


def _np_dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    dt = np.dtype(name)
    if dt.kind in "OV":
        raise RuntimeError(f"disttensor.load: refusing array dtype {name!r}")
    return dt


def _encode(obj):
    enc = _Encoder()
    tree = enc.enc(obj)
    header = json.dumps({"tree": tree, "tensors": enc.tensors, "data_len": enc.offset},
                        separators=(",", ":"), allow_nan=False).encode("utf-8")
    return header, enc.arrays, enc.tensors, enc.offset


def _chunks(obj):
    """Yield the file's bytes (minus the digest) in pieces."""
    header, arrays, entries, data_len = _encode(obj)
    yield _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header))
    yield header
    pos = _PREFIX.size + len(header)
    pad = (-pos) % _ALIGN
    if pad:
        yield b"\0" * pad
    written = 0
    for arr, e in zip(arrays, entries):
        if e["offset"] > written:
            yield b"\0" * (e["offset"] - written)
            written = e["offset"]
        if arr.nbytes:
            yield memoryview(arr.reshape(-1).view(np.uint8))
        written += arr.nbytes


def _write(obj, fh):
    h = hashlib.sha256()
    for c in _chunks(obj):
        h.update(c)
        fh.write(c)
    fh.write(h.digest())


def _file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777  # keep an existing checkpoint's permissions
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Save `obj` (nested containers of tensors, numbers, strings...) to a path or a binary file-like object.

    A path is written atomically: temporary file in the same directory, fsync, os.replace.
    """
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
        try:
            os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; give the file what open() would
            with os.fdopen(fd, "wb") as fh:
                _write(obj, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
        return
    if not hasattr(f, "write"):
        raise TypeError(f"disttensor.save: f must be a path or a writable binary file object, got {type(f).__name__}")
    _write(obj, f)


# ---- loading ---------------------------------------------------------------------------------------
def _read_all(f):
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > (1 << 20):  # large files are memory-mapped: arrays are copied out once, no second buffer
                import mmap
                return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), name
            return fh.read(), name
    if isinstance(f, (bytes, bytearray, memoryview)):
        return bytes(f), "<bytes>"
    if not hasattr(f, "read"):
        raise TypeError(f"disttensor.load: f must be a path or a readable binary file object, got {type(f).__name__}")
    return f.read(), getattr(f, "name", "<file object>")


def _check(buf, name):
    n = len(buf)
    if n < len(MAGIC) or buf[:len(MAGIC)] != MAGIC:
        hint = ""
        if buf[:4] == b"PK\x03\x04":
            hint = (" It looks like a zip archive, e.g. a PyTorch checkpoint; those hold pickled objects and are not "
                    "read by disttensor.load (load it with torch and convert the tensors with numpy).")
        elif buf[:1] == b"\x80":
            hint = " It looks like a pickle, which disttensor.load does not execute."
        raise RuntimeError(f"disttensor.load: {name} is not a disttensor checkpoint (bad magic bytes "
                           f"{bytes(buf[:8])!r}, expected {MAGIC!r}).{hint}")
    if n < _PREFIX.size:
        raise RuntimeError(f"disttensor.load: {name} is truncated ({n} bytes; the fixed header alone is "
                           f"{_PREFIX.size})")
    _, version, hlen = _PREFIX.unpack_from(buf, 0)
    if version > FORMAT_VERSION or version < 1:
        raise RuntimeError(f"disttensor.load: {name} has format version {version}; this disttensor reads versions "
                           f"1..{FORMAT_VERSION}")
    hend = _PREFIX.size + hlen
    if n < hend + _DIGEST:
        raise RuntimeError(f"disttensor.load: {name} is truncated ({n} bytes, its header alone needs {hend} plus "
                           f"a {_DIGEST}-byte checksum)")
    try:
        header = json.loads(bytes(buf[_PREFIX.size:hend]).decode("utf-8"))
        data_len = int(header["data_len"])
    except Exception:
        header = None
        data_len = None
    data_start = hend + (-hend) % _ALIGN
    if data_len is not None:
        expected = data_start + data_len + _DIGEST
        if n < expected:
            raise RuntimeError(f"disttensor.load: {name} is truncated: {n} bytes, expected {expected} (an "
                               "interrupted write or copy?)")
        if n > expected:
            raise RuntimeError(f"disttensor.load: {name} has {n - expected} unexpected trailing bytes "
                               "(corrupted or concatenated file)")
    digest = hashlib.sha256(memoryview(buf)[:n - _DIGEST]).digest()
    if digest != bytes(buf[n - _DIGEST:]):
        raise RuntimeError(f"disttensor.load: {name} is corrupted: SHA-256 checksum mismatch")
    if header is None:
        raise RuntimeError(f"disttensor.load: {name} has an unreadable header")
    return header, data_start


class _Decoder:
    def __init__(self, buf, header, data_start, map_location):
        self.buf = buf
        self.entries = header["tensors"]
        self.data_start = data_start
        self.map_location = map_location
        self.cache = {}

    def tensor(self, i):
        if i in self.cache:
            return self.cache[i]
        e = self.entries[i]
        dt = _np_dtype(e["dtype"])
        shape = tuple(int(s) for s in e["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        off = int(e["offset"])
        if count < 0 or count * dt.itemsize != int(e["nbytes"]) or off < 0 or \
                self.data_start + off + count * dt.itemsize > len(self.buf) - _DIGEST:
            raise RuntimeError(f"disttensor.load: malformed entry for array {i} (shape {shape}, dtype {dt}, "
                               f"offset {off}, nbytes {e.get('nbytes')})")
        arr = np.frombuffer(self.buf, dtype=dt, count=count, offset=self.data_start + off)
        arr = arr.reshape(shape).copy()
        if arr.dtype.byteorder == "<" and not _little():
            arr = arr.astype(arr.dtype.newbyteorder("="))
        kind = e.get("kind")
        if kind == "ndarray":
            out = arr
        elif kind == "npscalar":
            out = arr[()]
        else:
            out = self._make_tensor(arr, e)
        self.cache[i] = out
        return out

    def _make_tensor(self, arr, e):
        from .tensor import Tensor, _new_tensor
        from ._backends.device import device as _device, to_device_array
        loc = e.get("device", "cpu")
        t = _new_tensor(arr)
        target = _map(self.map_location, loc, t)
        if isinstance(target, Tensor):
            t = target
        else:
            dev = _device(target)
            if dev.type != "cpu":
                from ._backends.device import _cuda_available
                if not _cuda_available():
                    raise RuntimeError(f"Attempting to deserialize object on a CUDA device ({dev}) but CUDA is not "
                                       "available. If you are running on a CPU-only machine, please use "
                                       "disttensor.load with map_location='cpu' to map your storages to the CPU.")
                t._data = to_device_array(arr, dev)
        if e.get("kind") == "parameter":
            try:
                from .nn import Parameter
                return Parameter(t, requires_grad=bool(e.get("requires_grad", True)))
            except Exception:
                pass
        if e.get("requires_grad"):
            t.requires_grad = True
        return t

    def dec(self, x):
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, list):
            return [self.dec(v) for v in x]
        if not isinstance(x, dict) or len(x) == 0:
            raise RuntimeError(f"disttensor.load: malformed tree node {x!r}")
        if "$t" in x:
            return self.tensor(int(x["$t"]))
        if "$dict" in x:
            return {self._key(k): self.dec(v) for k, v in x["$dict"]}
        if "$odict" in x:
            return collections.OrderedDict((self._key(k), self.dec(v)) for k, v in x["$odict"])
        if "$counter" in x:
            return collections.Counter({self._key(k): self.dec(v) for k, v in x["$counter"]})
        if "$tuple" in x:
            return tuple(self.dec(v) for v in x["$tuple"])
        if "$int" in x:
            return int(x["$int"])
        if "$float" in x:
            return float(x["$float"])
        if "$complex" in x:
            re_, im = x["$complex"]
            return complex(self.dec(re_), self.dec(im))
        if "$bytes" in x:
            return base64.b64decode(x["$bytes"])
        if "$dtype" in x:
            from . import _dtype
            return _dtype._by_name(x["$dtype"])
        if "$device" in x:
            from ._backends.device import device
            return device(x["$device"])
        if "$size" in x:
            from .tensor import Size
            return Size(int(s) for s in x["$size"])
        if "$set" in x:
            vals = [self._key(v) for v in x["$set"]]
            return frozenset(vals) if x.get("frozen") else set(vals)
        if "$slice" in x:
            return slice(*(self.dec(v) for v in x["$slice"]))
        raise RuntimeError(f"disttensor.load: unknown tree node {sorted(x)!r}")

    def _key(self, k):
        v = self.dec(k)
        return tuple(v) if isinstance(v, list) else v


def _map(map_location, loc, t):
    """The target device string for a tensor saved on `loc` (or a tensor a callable returned)."""
    from ._backends.device import device as _device
    if map_location is None:
        return loc
    if callable(map_location) and not isinstance(map_location, (str, _device)):
        r = map_location(t, loc)
        return loc if r is None else r
    if isinstance(map_location, dict):
        return map_location.get(loc, loc)
    return str(_device(map_location) if not isinstance(map_location, _device) else map_location)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Load an object written by `disttensor.save` from a path, file-like object or bytes.

    map_location: None (devices as saved), a device or string ('cpu', 'cuda:0'), a dict mapping saved
    locations to new ones, or a callable (tensor, location) -> tensor or None.
    `weights_only` is accepted for compatibility: this format never runs code, whatever its value.
    """
    buf, name = _read_all(f)
    try:
        header, data_start = _check(buf, name)
        return _Decoder(buf, header, data_start, map_location).dec(header["tree"])
    finally:
        if hasattr(buf, "close"):
            try:
                buf.close()
            except BufferError:  # a view still alive somewhere (e.g. in a traceback): closed when collected
                pass
