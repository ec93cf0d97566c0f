"""A real English text corpus that ships with every Python: the standard library's docstrings.

The character-level examples train on it, so they need no download.
"""
import importlib
import pydoc

MODULES = ("os", "re", "json", "collections", "itertools", "functools", "pathlib", "argparse", "logging",
           "subprocess", "threading", "socket", "datetime", "random", "string", "textwrap", "unittest", "typing",
           "dataclasses", "contextlib", "inspect", "shutil", "tempfile", "heapq", "bisect", "csv", "zipfile")


def load_corpus(max_chars=400_000):
    parts = []
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        text = pydoc.getdoc(mod)
        if text:
            parts.append(text)
        for attr in sorted(dir(mod)):
            obj = getattr(mod, attr, None)
            doc = getattr(obj, "__doc__", None) if callable(obj) else None
            if isinstance(doc, str) and len(doc) > 80 and not attr.startswith("_"):
                parts.append(pydoc.getdoc(obj))
    text = "\n\n".join(parts)
    return "".join(ch for ch in text if ch.isascii())[:max_chars]


class CharVocab:
    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, s):
        return [self.stoi[c] for c in s if c in self.stoi]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)
