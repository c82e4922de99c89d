"""Build-on-first-use C++/CUDA extensions with a pure-PyTorch fallback.

``AVGEN_CUDA_OPS`` selects the implementation: ``auto`` (default: CUDA tensors use the compiled op when it builds,
everything else the reference path), ``cuda`` (a failed build is an error) or ``ref`` (never compile).
Extensions are compiled by :func:`torch.utils.cpp_extension.load` with ninja into a folder named after a hash of
their sources, so an edited kernel is rebuilt and an unchanged one is loaded from the cache.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import torch

__all__ = ["ops_mode", "get_plugin", "use_cuda"]

_SRC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
_plugins: dict[str, object] = {}
_failed: dict[str, str] = {}


def ops_mode() -> str:
    mode = os.environ.get("AVGEN_CUDA_OPS", "auto").strip().lower()
    if mode not in ("auto", "cuda", "ref"):
        raise ValueError(f"AVGEN_CUDA_OPS={mode!r}: use 'auto', 'cuda' or 'ref'")
    return mode


def _cache_root() -> str:
    root = os.environ.get("AVGEN_EXTENSIONS_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "avgen", "torch_extensions")
    return root


def get_plugin(name: str, sources: list[str], headers: tuple[str, ...] = ()):
    """Compile (once per source hash) and import extension ``name``; ``None`` after one warning if it cannot be built
    (``AVGEN_CUDA_OPS=cuda`` turns that into an error)."""
    if name in _plugins:
        return _plugins[name]
    if name in _failed:
        return None
    paths = [os.path.join(_SRC_DIR, s) for s in [*sources, *headers]]
    digest = hashlib.sha256()
    for p in sorted(paths):
        with open(p, "rb") as f:
            digest.update(os.path.basename(p).encode() + b"\0" + f.read())
    digest.update(torch.__version__.encode() + str(torch.version.cuda).encode())
    build_dir = os.path.join(_cache_root(), f"{name}_{digest.hexdigest()[:16]}")
    try:
        from torch.utils.cpp_extension import load, verify_ninja_availability

        verify_ninja_availability()
        os.makedirs(build_dir, exist_ok=True)
        module = load(name=name, sources=[os.path.join(_SRC_DIR, s) for s in sources], build_directory=build_dir,
                      extra_cflags=["-O3"], extra_cuda_cflags=["-O3", "--use_fast_math"], verbose=False)
    except Exception as e:  # no toolchain, no CUDA, compiler error: one warning, then the reference path
        if ops_mode() == "cuda":
            raise RuntimeError(f"building the CUDA op '{name}' failed (AVGEN_CUDA_OPS=cuda): {e}") from e
        _failed[name] = str(e)
        warnings.warn(f"avgen: could not build the CUDA op '{name}' ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                      "using the PyTorch reference implementation", RuntimeWarning, stacklevel=3)
        return None
    _plugins[name] = module
    return module


def use_cuda(x: torch.Tensor, impl: str | None) -> bool:
    """Whether this call should run the compiled op: ``impl`` ('ref'|'cuda'|None=env) and the tensor's device."""
    mode = ops_mode() if impl is None else impl
    if mode not in ("auto", "cuda", "ref"):
        raise ValueError(f"impl={impl!r}: use 'ref' or 'cuda'")
    if mode == "ref" or x.device.type != "cuda":
        return False
    return True
