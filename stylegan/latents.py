"""Latent helpers: seeds -> z as NVIDIA's scripts draw them, coarse/mid/fine W+ layer groups and the layers of a
choice of groups, style mixing, the mean and scale of W."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["z_from_seeds", "parse_range", "LEVELS", "layer_groups", "levels_to_layers", "style_mix", "w_statistics"]

LEVELS = ("coarse", "mid", "fine")  # the group names of layer_groups


def z_from_seeds(seeds: list[int], z_dim: int) -> torch.Tensor:
    """[len(seeds), z_dim] float32, ``np.random.RandomState(seed).randn(z_dim)`` per seed (the convention of the
    official gen_images.py / style_mixing.py, so seed N gives the same image there and here)."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).to(torch.float32)


def parse_range(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11] (non-negative integers)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    if not out:
        raise ValueError(f"empty range {text!r}")
    return out


def layer_groups(num_ws: int, boundaries: tuple[int, int] = (3, 6)) -> dict[str, list[int]]:
    """Split W+ layer indices into coarse [0, b0), mid [b0, b1) and fine [b1, num_ws).

    The sound-guided video paper uses (3, 6) for 16 ws: coarse 0-2, mid 3-5, fine 6-15.
    """
    b0, b1 = boundaries
    if not 0 < b0 < b1 < num_ws:
        raise ValueError(f"boundaries {boundaries} must satisfy 0 < b0 < b1 < num_ws={num_ws}")
    return {"coarse": list(range(0, b0)), "mid": list(range(b0, b1)), "fine": list(range(b1, num_ws))}


def levels_to_layers(groups: dict[str, list[int]], levels) -> list[int]:
    """('mid', 'fine') (or one name) -> the sorted W+ layer indices of those groups of ``groups``
    (:func:`layer_groups`). ValueError unless ``levels`` is a non-empty subset of :data:`LEVELS`."""
    levels = (levels,) if isinstance(levels, str) else tuple(levels)
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise ValueError(f"levels must be a non-empty subset of {LEVELS}, got {levels}")
    return sorted(i for lv in levels for i in groups[lv])


def style_mix(ws_base: torch.Tensor, ws_source: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """Copy the listed W+ layers from ``ws_source`` into ``ws_base`` (both [B, num_ws, w_dim] or broadcastable)."""
    out = ws_base.clone()
    out[:, layers] = ws_source[:, layers].to(out.dtype)
    return out


@torch.no_grad()
def w_statistics(G, samples: int = 4096, generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """``w_avg`` [1, 1, w_dim] of ``samples`` mapped z and the RMS distance of those w from it (the scale of W used
    by the projector's latent noise and prior and by latent edits)."""
    gen = generator or torch.Generator().manual_seed(0)
    device = next(G.parameters()).device
    z = torch.randn([samples, G.z_dim], generator=gen).to(device)
    w = G.mapping(z, None)[:, :1]  # [N, 1, w_dim]
    w_avg = w.mean(0, keepdim=True)
    return w_avg, float((w - w_avg).square().sum() / max(samples, 1)) ** 0.5
