"""Input checks shared by the command line (:mod:`avgen.cli`) and the web app (:mod:`avgen.app`).

Each check raises :class:`~avgen.errors.AvgenError` with one line that starts with the option (or, in the app, the
field) it names, before any model loads or any file is decoded. This module imports nothing heavy at import time, so
both front ends can use it without importing each other.
"""

from __future__ import annotations

import math
import os

from .errors import AvgenError

__all__ = ["check_device", "check_number", "check_seed", "check_writable_folder", "check_output_file",
           "check_checkpoint_folder", "refuse_overwriting_inputs"]


def check_device(value: str | None, option: str = "--device") -> None:
    """A device string torch understands and this machine has (cuda without CUDA is refused here, not mid-run)."""
    if value is None:
        return
    import torch

    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError):
        raise AvgenError(f"{option} {value}: not a device (use cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise AvgenError(f"{option} {value}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise AvgenError(f"{option} {value}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise AvgenError(f"{option} {value}: MPS is not available on this machine (use --device cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise AvgenError(f"{option} {value}: unsupported device type '{dev.type}' (use cpu, cuda, cuda:N or mps)")


def check_number(value, option: str, *, positive: bool = False, at_least: float | None = None) -> None:
    """``value`` (None allowed: the default) must be finite, and positive / >= ``at_least`` when asked."""
    if value is None:
        return
    if not math.isfinite(value):
        raise AvgenError(f"{option} {value}: must be a finite number")
    if positive and value <= 0:
        raise AvgenError(f"{option} {value}: must be greater than 0")
    if at_least is not None and value < at_least:
        raise AvgenError(f"{option} {value}: must be at least {at_least:g}")


def check_seed(value, option: str = "--seed") -> None:
    """Seeds seed ``torch.Generator``, which takes [0, 2**63)."""
    if value is not None and not 0 <= value < 2**63:
        raise AvgenError(f"{option} {value}: must be in [0, 2**63)")


def check_writable_folder(folder: str, option: str = "-o") -> None:
    """The folder (or, when it does not exist yet, its nearest existing parent) must be a writable directory: a
    temporary file is created there and removed, so a bad output fails now and not after hours of work."""
    import tempfile

    probe_dir = os.path.abspath(folder)
    while not os.path.exists(probe_dir):
        probe_dir = os.path.dirname(probe_dir)
    if not os.path.isdir(probe_dir):
        raise AvgenError(f"{option} {folder}: '{probe_dir}' is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".avgen-write-test-", dir=probe_dir)
    except OSError as e:
        raise AvgenError(f"{option} {folder}: cannot write in '{probe_dir}' ({e.strerror or e})") from None
    os.close(fd)
    os.remove(tmp)


def check_output_file(path: str, extensions, option: str = "-o") -> None:
    """An output file: a known extension, not a folder, in a writable folder."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        raise AvgenError(f"{option} {path}: unknown output type '{ext or '(none)'}' "
                         f"(use {', '.join(e.lstrip('.') for e in extensions)})")
    if os.path.isdir(path):
        raise AvgenError(f"{option} {path}: is a folder, give a file name")
    check_writable_folder(os.path.dirname(path) or ".", option)


def check_checkpoint_folder(path: str | None, option: str = "--checkpoint") -> None:
    """A given checkpoint must be a folder (a file is not a pipeline folder; a missing path is said so)."""
    if path is None:
        return
    if not os.path.exists(path):
        raise AvgenError(f"{option} {path}: no such folder")
    if not os.path.isdir(path):
        raise AvgenError(f"{option} {path}: is a file, not a pipeline folder (config.json + component folders)")


def refuse_overwriting_inputs(output: str, *inputs: str) -> None:
    """An output path that names one of the inputs (the same path, or the same file through a link) is refused."""
    for x in inputs:
        same = x and (os.path.abspath(output) == os.path.abspath(x)
                      or (os.path.exists(x) and os.path.exists(output) and os.path.samefile(output, x)))
        if same:
            raise AvgenError(f"{output}: the output would replace an input; choose another -o")
