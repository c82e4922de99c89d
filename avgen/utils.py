"""Small helpers shared across avgen (hashing, atomic writes, seeding)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from functools import lru_cache

import numpy as np

__all__ = ["file_sha256", "stable_hash", "atomic_output", "atomic_write_bytes", "atomic_write_text", "save_safetensors",
           "require_finite", "seed_everything"]


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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path`` (a unique name with the same extension, so writers that pick a format
    by extension still work); when the block ends without error the file is fsynced, renamed over ``path`` and the
    folder fsynced, so readers never see a partial file and a crash keeps the previous one. On error the temporary
    file is removed. The one atomic-write primitive of avgen; created files follow the umask."""
    p = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(p))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(p)}.", suffix=f".tmp{os.path.splitext(p)[1]}", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        # after the write: mkstemp makes 0600, and some writers (safetensors) replace the file with their own 0600 one
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_safetensors(tensors: dict, path: str | os.PathLike, *, metadata: dict[str, str] | None = None) -> str:
    """``tensors`` (moved to CPU, made contiguous) as a safetensors file, written atomically."""
    from safetensors.torch import save_file

    with atomic_output(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    return os.fspath(path)


def require_finite(array, what: str, *, unit: str = "sample") -> None:
    """Refuse NaN/inf in an input (audio, features, mels): :class:`~avgen.errors.AvgenError` naming ``what`` and
    the first bad index, before any work uses it."""
    import torch

    from .errors import AvgenError

    if torch.is_tensor(array):
        if not array.is_floating_point() or bool(torch.isfinite(array).all()):  # the common case: no copy
            return
        array = array.detach().float().cpu()
    a = array.numpy() if torch.is_tensor(array) else np.asarray(array)
    if a.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), a.shape)
        where = (first[0] if unit == "frame" else first[-1]) if a.ndim else 0
        raise AvgenError(f"{what}: {int(bad.sum())} non-finite value(s) (NaN/inf), the first at {unit} {where}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
