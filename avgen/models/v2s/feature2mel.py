"""Baseline video-to-mel regressor and a multi-window mel discriminator.

The regressor maps frame features (e.g. 21.5 fps) to mel frames (86.13 fps for ``specvqgan``) with a Conv1D stack
and transposed-conv upsampling, then linear interpolation to the exact mel length. It is the reference point the
VarietySound head is compared against, and the small model the training engine's tests run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import resolve_config


@dataclass
class FeatureToMelConfig:
    """The baseline's sizes; a ``task: feature2mel`` config's ``model:`` section. ``feature_dim`` and ``n_mels`` are
    filled in from the dataset; ``window_*`` size the optional multi-window discriminator (training only)."""

    feature_dim: int = 2048
    n_mels: int = 80
    hidden: int = 256
    num_layers: int = 4
    kernel_size: int = 5
    upsample: int = 4
    window_lengths: tuple[int, ...] = (32, 64, 128)
    window_hidden: int = 128


class FeatureToMel(nn.Module):
    """``features [B, T_vis, D]`` -> ``mel [B, n_mels, T_mel]`` in [0, 1]."""

    config_class = FeatureToMelConfig

    def __init__(self, config: FeatureToMelConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(FeatureToMelConfig, config, overrides)
        feature_dim, n_mels, hidden, num_layers = c.feature_dim, c.n_mels, c.hidden, c.num_layers
        kernel_size, upsample = c.kernel_size, c.upsample
        self.proj = nn.Conv1d(feature_dim, hidden, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2), nn.GroupNorm(1, hidden),
                          nn.GELU())
            for _ in range(num_layers)
        )
        ups = []
        factor = upsample
        while factor > 1:  # x2 transposed convs, one per octave of the rate ratio
            ups += [nn.ConvTranspose1d(hidden, hidden, 4, stride=2, padding=1), nn.GELU()]
            factor //= 2
        self.upsample = nn.Sequential(*ups)
        self.out = nn.Conv1d(hidden, n_mels, kernel_size, padding=kernel_size // 2)

    def forward(self, features: torch.Tensor, mel_frames: int) -> torch.Tensor:
        h = self.proj(features.transpose(1, 2))  # [B, H, T_vis]
        for block in self.blocks:
            h = h + block(h)  # residual conv blocks
        h = self.upsample(h)  # [B, H, ~T_vis * upsample]
        h = F.interpolate(h, size=mel_frames, mode="linear", align_corners=False)  # exact mel length
        return torch.sigmoid(self.out(h))  # [B, n_mels, T_mel]


class MultiWindowMelDiscriminator(nn.Module):
    """Scores random mel windows of several lengths with one small conv net per length.

    ``forward(mel, generator)`` -> list of per-window logits ``[B, T']``; the same ``generator`` state must be used
    for real and fake batches so both are cut at the same positions.
    """

    def __init__(self, n_mels: int = 80, windows: tuple[int, ...] = (32, 64, 128), hidden: int = 128):
        super().__init__()
        self.windows = tuple(windows)
        self.nets = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(n_mels, hidden, 3, padding=1), nn.LeakyReLU(0.2),
                nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv1d(hidden, 1, 3, padding=1),
            )
            for _ in self.windows
        )

    def forward(self, mel: torch.Tensor, starts: list[int] | None = None) -> list[torch.Tensor]:
        outs = []
        for i, (win, net) in enumerate(zip(self.windows, self.nets)):
            w = min(win, mel.shape[-1])
            s = 0 if starts is None else min(starts[i], mel.shape[-1] - w)
            outs.append(net(mel[..., s:s + w]).squeeze(1))  # [B, w / 4]
        return outs

    def sample_starts(self, length: int, generator: torch.Generator | None = None) -> list[int]:
        """Random window offsets for a mel of ``length`` frames (shared by the real and the fake pass)."""
        return [int(torch.randint(0, max(1, length - min(w, length) + 1), (), generator=generator))
                for w in self.windows]
