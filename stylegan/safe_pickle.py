"""Read NVIDIA StyleGAN ``.pkl`` files as data, never as code.

The original files are ordinary pickles whose networks are ``torch_utils.persistence`` objects: each carries the
full Python source of its module and the original loader ``exec``s that source. Here the unpickler resolves only a
fixed allow-list of globals (tensor/storage rebuilders, ``OrderedDict``, NumPy array/scalar rebuilders, dnnlib's
``EasyDict``) and turns every persistent object into an inert :class:`PersistentRecord` (class name + stored state);
the module source is kept as text and never executed. Any other global is refused with :class:`UnsafePickleError`
before anything is called.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["UnsafePickleError", "PersistentRecord", "EasyDict", "safe_load_pickle"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references something outside the allow-list (or is malformed); nothing from it was executed."""


class EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


@dataclass
class PersistentRecord:
    """One ``torch_utils.persistence`` object as stored: its class name, ``__dict__`` state, and a SHA-256 of the
    module source it carried (the source itself is kept as text, never run)."""

    class_name: str
    state: dict
    module_src: str = field(repr=False, default="")
    version: int | None = None

    @property
    def module_sha256(self) -> str:
        return hashlib.sha256(self.module_src.encode("utf-8")).hexdigest()

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}))

    def submodules(self) -> dict[str, "PersistentRecord | None"]:
        return dict(self.state.get("_modules", {}))

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Flattened ``state_dict``-style view: parameters and persistent buffers of this object and its children."""
        out: dict[str, torch.Tensor] = {}
        skip = set(self.state.get("_non_persistent_buffers_set", ()))
        for name, t in self.state.get("_parameters", {}).items():
            if t is not None:
                out[prefix + name] = t
        for name, t in self.state.get("_buffers", {}).items():
            if t is not None and name not in skip:
                out[prefix + name] = t
        for name, child in self.submodules().items():
            if child is None:
                continue
            if not isinstance(child, PersistentRecord):
                raise UnsafePickleError(f"submodule '{prefix + name}' is a {type(child).__name__}, not a stored network")
            out.update(child.tensors(prefix + name + "."))
        return out


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise UnsafePickleError("malformed torch_utils.persistence record (expected type='class' and a class_name)")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise UnsafePickleError(f"persistent object '{meta['class_name']}' has no dict state")
    src = meta.get("module_src", "")
    return PersistentRecord(class_name=meta["class_name"], state=state, module_src=src if isinstance(src, str) else "",
                            version=meta.get("version"))


def _load_storage_from_bytes(data: bytes):
    # Storages pickled with plain ``pickle`` hold a small legacy torch.save stream; read it with torch's own
    # weights-only unpickler, always onto the CPU.
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("storage payload is not bytes")
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as e:
        raise UnsafePickleError(f"cannot read a tensor storage: {e}") from e


def _rebuild_from_type_v2(func, new_type, args, state):
    if func is not torch._utils._rebuild_tensor_v2 or new_type not in (torch.Tensor, torch.nn.Parameter):
        raise UnsafePickleError("tensor subclass rebuild with an unexpected function or type")
    return torch._tensor._rebuild_from_type_v2(func, new_type, args, state)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:
        from numpy._core import multiarray as ma
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray as ma
    out: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = ma._reconstruct
        out[(mod, "scalar")] = ma.scalar
    out[("numpy", "ndarray")] = np.ndarray
    out[("numpy", "dtype")] = np.dtype
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_"):
        out[("numpy", name)] = getattr(np, name)
    # NumPy >= 1.25 pickles dtypes through their DType classes.
    for cls_name in ("Float16DType", "Float32DType", "Float64DType", "Int32DType", "Int64DType", "UInt8DType",
                     "BoolDType"):
        cls = getattr(np.dtypes, cls_name, None) if hasattr(np, "dtypes") else None
        if cls is not None:
            out[("numpy.dtypes", cls_name)] = cls
    return out


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "dict"): dict,
        ("builtins", "list"): list,
        ("builtins", "tuple"): tuple,
        ("_codecs", "encode"): lambda s, enc="utf-8": s.encode(enc),  # protocol-2 bytes
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
        ("torch", "device"): torch.device,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("dnnlib", "EasyDict"): EasyDict,
    }
    for name in ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"):
        allowed[("torch", name)] = getattr(torch, name)
    allowed.update(_numpy_globals())
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, allowed):
        super().__init__(f)
        self._allowed = allowed

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key not in self._allowed:
            raise UnsafePickleError(f"refusing to load '{module}.{name}': only StyleGAN network data (tensors, "
                                    "dicts, NumPy arrays, torch_utils.persistence records) may appear in this file")
        return self._allowed[key]

    def persistent_load(self, pid):
        raise UnsafePickleError(f"unexpected persistent id {pid!r} (this is not a StyleGAN pickle)")


def safe_load_pickle(f) -> Any:
    """Unpickle ``f`` (path or binary file) with the allow-list; networks come back as :class:`PersistentRecord`."""
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        with open(f, "rb") as fh:
            return safe_load_pickle(fh)
    try:
        return _RestrictedUnpickler(f, _allowed_globals()).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UnsafePickleError(f"not a readable StyleGAN pickle: {type(e).__name__}: {e}") from e
