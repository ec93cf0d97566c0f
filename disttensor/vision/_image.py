"""Image files without Pillow: PNG (read: 1/2/4/8/16-bit, all colour types, non-interlaced; write: 8-bit
gray/RGB/RGBA via zlib), binary PPM/PGM (P5/P6) and NPY. Other formats go through Pillow when it is
installed (`pip install 'disttensor[vision]'`)."""
import os
import struct
import zlib

import numpy as np

PNG_SIG = b"\x89PNG\r\n\x1a\n"


# ---- PNG ---------------------------------------------------------------------------------------------
def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png(arr):
    """uint8 array HxW, HxWx1, HxWx3 or HxWx4 -> PNG bytes (filter 0 rows, zlib level 6)."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise TypeError(f"encode_png: expected uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        ctype, ch = 0, 1
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        ctype, ch = (2 if a.shape[2] == 3 else 6), a.shape[2]
    else:
        raise ValueError(f"encode_png: expected HxW, HxWx3 or HxWx4 pixels, got shape {a.shape}")
    h, w = a.shape[:2]
    rows = np.zeros((h, 1 + w * ch), dtype=np.uint8)
    rows[:, 1:] = np.ascontiguousarray(a).reshape(h, w * ch)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    return PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b"")


def _unfilter(raw, h, stride, bpp):
    out = np.zeros((h, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.int32)
    pos = 0
    for y in range(h):
        ft = raw[pos]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=pos + 1).astype(np.int32)
        pos += 1 + stride
        if ft == 0:
            cur = line
        elif ft == 1:  # Sub: running sum per byte lane
            pad = (-stride) % bpp
            lanes = np.concatenate([line, np.zeros(pad, np.int32)]).reshape(-1, bpp)
            cur = (np.cumsum(lanes, axis=0) & 0xFF).reshape(-1)[:stride]
        elif ft == 2:  # Up
            cur = (line + prior) & 0xFF
        elif ft in (3, 4):  # Average, Paeth: sequential
            cur = line.copy()
            for x in range(stride):
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(prior[x])
                if ft == 3:
                    cur[x] = (cur[x] + ((a + b) >> 1)) & 0xFF
                else:
                    c = int(prior[x - bpp]) if x >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pr = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                    cur[x] = (cur[x] + pr) & 0xFF
        else:
            raise ValueError(f"PNG: bad filter type {ft} in row {y}")
        out[y] = cur
        prior = cur
    return out


def decode_png(data):
    """PNG bytes -> uint8 (or uint16 for 16-bit files) array HxW or HxWxC (C = 2, 3 or 4)."""
    if data[:8] != PNG_SIG:
        raise ValueError("not a PNG file")
    pos = 8
    idat = []
    plte = trns = None
    hdr = None
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n:
            raise ValueError("PNG: truncated chunk")
        pos += 12 + n
        if tag == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"PLTE":
            plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif tag == b"tRNS":
            trns = body
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
    if hdr is None:
        raise ValueError("PNG: missing IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    if interlace:
        raise ValueError("PNG: interlaced images need Pillow (pip install 'disttensor[vision]')")
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    bits = depth * ch
    stride = (w * bits + 7) // 8
    bpp = max(1, bits // 8)
    rows = _unfilter(zlib.decompress(b"".join(idat)), h, stride, bpp)
    if depth == 16:
        img = rows.view(">u2").astype(np.uint16).reshape(h, w, ch)
    elif depth == 8:
        img = rows.reshape(h, w, ch)
    else:
        bitsarr = np.unpackbits(rows, axis=1)[:, :w * depth].reshape(h, w, depth)
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
        img = (bitsarr * weights).sum(axis=2).astype(np.uint8)[:, :, None]
        if ctype == 0:
            img = (img.astype(np.uint16) * 255 // ((1 << depth) - 1)).astype(np.uint8)
    if ctype == 3:
        if plte is None:
            raise ValueError("PNG: palette image without PLTE")
        idx = img[:, :, 0]
        rgb = plte[idx]
        if trns is not None:
            alpha = np.full(len(plte), 255, np.uint8)
            alpha[:len(trns)] = np.frombuffer(trns, np.uint8)
            rgb = np.concatenate([rgb, alpha[idx][:, :, None]], axis=2)
        return rgb
    return img[:, :, 0] if ch == 1 else img


# ---- PPM / PGM -----------------------------------------------------------------------------------
def decode_pnm(data):
    """Binary PGM (P5) / PPM (P6) with maxval < 65536 -> uint8/uint16 array HxW / HxWx3."""
    magic = data[:2]
    if magic not in (b"P5", b"P6"):
        raise ValueError("only binary PGM (P5) and PPM (P6) files are supported")
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while data[pos:pos + 1] not in (b"\n", b""):
                pos += 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(int(data[start:pos]))
    pos += 1
    w, h, maxval = fields
    ch = 3 if magic == b"P6" else 1
    dt = np.uint8 if maxval < 256 else np.dtype(">u2")
    img = np.frombuffer(data, dtype=dt, count=w * h * ch, offset=pos).reshape(h, w, ch)
    img = img.astype(np.uint8 if maxval < 256 else np.uint16)
    return img[:, :, 0] if ch == 1 else img


def encode_pnm(arr):
    a = np.asarray(arr, dtype=np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return b"P5\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + a.tobytes()
    if a.ndim == 3 and a.shape[2] == 3:
        return b"P6\n%d %d\n255\n" % (a.shape[1], a.shape[0]) + np.ascontiguousarray(a).tobytes()
    raise ValueError(f"PPM/PGM: expected HxW or HxWx3 pixels, got {a.shape}")


# ---- dispatch ----------------------------------------------------------------------------------------
def read_image_file(path):
    """Read an image file as a NumPy array (HxW or HxWxC)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return np.load(path, allow_pickle=False)
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:8] == PNG_SIG:
        return decode_png(data)
    if data[:2] in (b"P5", b"P6"):
        return decode_pnm(data)
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(f"cannot read {path}: only PNG, PPM/PGM and NPY are read without Pillow; "
                           "install it with pip install 'disttensor[vision]'") from None
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def write_image_file(arr, fp, format=None):
    """Write uint8 pixels (HxW or HxWxC) as PNG (default), PPM/PGM or NPY to a path or binary file."""
    name = fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", "")
    fmt = (format or os.path.splitext(os.fspath(name))[1].lstrip(".") or "png").lower()
    if fmt == "png":
        data = encode_png(arr)
    elif fmt in ("ppm", "pgm", "pnm"):
        data = encode_pnm(arr)
    elif fmt == "npy":
        import io
        b = io.BytesIO()
        np.save(b, np.asarray(arr), allow_pickle=False)
        data = b.getvalue()
    else:
        raise ValueError(f"unsupported image format {fmt!r}: use png, ppm, pgm or npy")
    if isinstance(fp, (str, os.PathLike)):
        with open(fp, "wb") as fh:
            fh.write(data)
    else:
        fp.write(data)
