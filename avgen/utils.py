"""Small helpers shared across avgen (hashing, atomic writes, checkpoint-folder configs, seeding)."""

from __future__ import annotations

import hashlib
import json
import os
import random
from functools import lru_cache

import numpy as np

__all__ = ["file_sha256", "stable_hash", "atomic_write_bytes", "atomic_write_text", "read_folder_config",
           "seed_everything"]


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised on path, size and mtime)."""
    p = os.path.abspath(os.fspath(path))
    st = os.stat(p)
    return _sha256_cached(p, st.st_size, st.st_mtime_ns)


def stable_hash(obj, length: int = 16) -> str:
    """Hash of a JSON-serialisable object, independent of dict order."""
    data = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it: readers never see a partial file."""
    p = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    tmp = f"{p}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_folder_config(folder: str, key: str, expected: str, what: str) -> dict:
    """``folder/config.json`` as a dict, after checking that ``config[key] == expected``; ``what``
    names the kind of folder in the error."""
    from .errors import AvgenError

    cfg_path = os.path.join(folder, "config.json")
    if not os.path.isfile(cfg_path):
        raise AvgenError(f"{folder}: no config.json (not a {what})")
    with open(cfg_path) as f:
        cfg = json.load(f)
    if cfg.get(key) != expected:
        raise AvgenError(f"{cfg_path}: {key} is {cfg.get(key)!r}, expected {expected!r}")
    return cfg


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
