"""Atomic checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint is one file ``<run>/checkpoints/step_<N>.pt`` written to a temporary name, fsynced and renamed, so a kill
during a save leaves the previous checkpoint intact and never a partial file under a final name.
"""

from __future__ import annotations

import os
import re

import torch

from ..utils import atomic_output

__all__ = ["save_checkpoint", "latest_checkpoint", "load_checkpoint", "prune_checkpoints"]

_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def save_checkpoint(run_dir: str, step: int, state: dict) -> str:
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, f"step_{step:08d}.pt")
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    return path


def _checkpoints(run_dir: str) -> list[tuple[int, str]]:
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
    found = _checkpoints(run_dir)
    return found[-1][1] if found else None


def load_checkpoint(path: str, map_location="cpu") -> dict:
    # weights_only=True: checkpoints hold tensors and plain containers only, never pickled objects.
    return torch.load(path, map_location=map_location, weights_only=True)


def prune_checkpoints(run_dir: str, keep: int) -> None:
    found = _checkpoints(run_dir)
    for _, path in found[: max(0, len(found) - keep)]:
        os.remove(path)
