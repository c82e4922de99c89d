"""Atomic checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is one file ``<run>/checkpoints/step_<N>.pt`` written to a temporary name, fsynced and renamed, so a kill
during a save leaves the previous checkpoint intact and never a partial file under a final name.
"""

from __future__ import annotations

import os
import re

import torch

from ..errors import AvgenError
from ..utils import atomic_output

__all__ = ["save_checkpoint", "list_checkpoints", "latest_checkpoint", "load_checkpoint", "load_latest_checkpoint",
           "prune_checkpoints", "remove_stale_temporaries"]

_PATTERN = re.compile(r"^step_(\d+)\.pt$")
# temporaries of an interrupted save: atomic_output's (.step_N.pt.XXXX.tmp.pt) and the earlier step_N.pt.tmpPID
_STALE = re.compile(r"^(\.step_\d+\.pt\..+\.tmp\.pt|step_\d+\.pt\.tmp\d+)$")
_REQUIRED = ("step", "generator", "opt_g")


def save_checkpoint(run_dir: str, step: int, state: dict) -> str:
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, f"step_{step:08d}.pt")
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    return path


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """``[(step, path), ...]`` of the run's ``checkpoints/step_N.pt`` files, by step."""
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(ckpt_dir):
        return []
    found = []
    for name in os.listdir(ckpt_dir):
        m = _PATTERN.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(ckpt_dir, name)))
    return sorted(found)


def latest_checkpoint(run_dir: str) -> str | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """A training checkpoint. ``weights_only=True``: checkpoints hold tensors and plain containers only, never
    pickled objects; a file that is damaged or holds anything else raises :class:`AvgenError` (never advice to load
    it unsafely)."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, empty file, a pickle with objects: all mean "not a usable checkpoint"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        reason = "holds objects beyond tensors and plain containers" if "weights_only" in str(e) else first[:120]
        raise AvgenError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {reason})") from None
    if not isinstance(state, dict) or any(k not in state for k in _REQUIRED):
        raise AvgenError(f"{path}: not a training checkpoint (needs {', '.join(_REQUIRED)})")
    return state


def load_latest_checkpoint(run_dir: str, *, warn=None) -> tuple[str, dict] | None:
    """(path, state) of the newest checkpoint that loads. A damaged newer one (truncated, empty) is skipped with a
    one-line warning through ``warn`` naming the file; no checkpoint at all gives None, only damaged ones an error."""
    found = list_checkpoints(run_dir)
    damaged = []
    for _, path in reversed(found):
        try:
            return path, load_checkpoint(path)
        except AvgenError as e:
            damaged.append(path)
            if warn is not None:
                warn(f"warning: {e}; trying an older checkpoint")
    if damaged:
        raise AvgenError(f"{run_dir}: no checkpoint loads ({len(damaged)} damaged: {', '.join(damaged)})")
    return None


def remove_stale_temporaries(run_dir: str) -> list[str]:
    """Delete the temporary files interrupted saves left in ``run_dir/checkpoints`` (call before training starts,
    from one process); returns what was removed."""
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(ckpt_dir):
        return []
    removed = []
    for name in os.listdir(ckpt_dir):
        if _STALE.match(name):
            os.remove(os.path.join(ckpt_dir, name))
            removed.append(name)
    return removed


def prune_checkpoints(run_dir: str, keep: int) -> None:
    found = list_checkpoints(run_dir)
    for _, path in found[: max(0, len(found) - keep)]:
        os.remove(path)
