"""Read and write per-clip feature files in the public layouts without executing pickled code.

The SpecVQGAN/RegNet releases store frame features as pickled numpy arrays (``feature_*/<clip>.pkl``, ``[T, D]``).
A plain ``pickle.load`` would run whatever the file asks for; :func:`load_feature_file` uses an unpickler that only
rebuilds numpy arrays and refuses every other global.
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np

from ..errors import AvgenError
from ..utils import atomic_output, require_finite

__all__ = ["UnsafePickleError", "load_feature_file", "save_feature_file", "FEATURE_EXTENSIONS"]

FEATURE_EXTENSIONS = (".pkl", ".npy", ".npz", ".safetensors")

# The only globals a pickled numpy array needs (numpy 1.x and 2.x module paths).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class UnsafePickleError(AvgenError):
    """A pickle asked for something other than numpy arrays."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._path}: refused to unpickle '{module}.{name}'; feature pickles may only hold numpy arrays"
        )


def _load_pickle(path: str):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), path).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated or not a pickle at all
        raise AvgenError(f"{path}: not a readable feature pickle ({type(e).__name__}: {e})") from None


def load_feature_file(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Load a ``[T, D]`` feature array from .pkl (numpy-only pickle), .npy, .npz or .safetensors.

    For .npz/.safetensors with several arrays, ``key`` picks one (default: the only array, or 'features').
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AvgenError(f"{p}: feature file not found")
    ext = os.path.splitext(p)[1].lower()
    if ext == ".pkl":
        obj = _load_pickle(p)
        if isinstance(obj, dict):
            obj = _pick(obj, key, p)
        arr = np.asarray(obj)
    elif ext == ".npy":
        arr = np.load(p, allow_pickle=False)
    elif ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            arr = _pick({k: z[k] for k in z.files}, key, p)
    elif ext == ".safetensors":
        from safetensors.numpy import load_file

        arr = _pick(load_file(p), key, p)
    else:
        raise AvgenError(f"{p}: unknown feature file type '{ext}' (known: {', '.join(FEATURE_EXTENSIONS)})")
    if not isinstance(arr, np.ndarray) or arr.dtype == object:
        raise AvgenError(f"{p}: expected a numeric array, got {type(arr).__name__}")
    require_finite(arr, p, unit="frame")
    return arr


def _pick(mapping: dict, key: str | None, path: str):
    if key is not None:
        if key not in mapping:
            raise AvgenError(f"{path}: no array named '{key}' (has: {', '.join(map(str, mapping))})")
        return mapping[key]
    if len(mapping) == 1:
        return next(iter(mapping.values()))
    if "features" in mapping:
        return mapping["features"]
    raise AvgenError(f"{path}: holds several arrays ({', '.join(map(str, mapping))}); pass key=")


def save_feature_file(path: str | os.PathLike, array: np.ndarray) -> str:
    """Write a feature array atomically; .pkl writes the public layout (a pickled numpy array), .npy plain numpy."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in (".pkl", ".npy"):
        raise AvgenError(f"{p}: can only write .pkl or .npy feature files")
    with atomic_output(p) as tmp, open(tmp, "wb") as f:
        if ext == ".pkl":
            pickle.dump(np.asarray(array), f, protocol=4)
        else:
            np.save(f, np.asarray(array), allow_pickle=False)
    return p
