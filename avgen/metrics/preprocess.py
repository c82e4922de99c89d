"""Input preprocessing of the metric networks, each exactly as its reference protocol does it.

Resizing is where published numbers most often disagree, so every function here is named after the protocol it
reproduces and is recorded in the metric profile.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["as_uint8_tensor", "resize_bilinear_tf1", "inception_input", "video_short_side_crop",
           "efficientnet_input"]


def as_uint8_tensor(x, device=None) -> torch.Tensor:
    """numpy/tensor uint8 ``[..., H, W, 3]`` -> uint8 tensor on ``device`` (no copy when possible)."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
    if t.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {t.dtype}")
    return t.to(device) if device is not None else t


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize as TensorFlow 1.x ``resize_bilinear(align_corners=False)`` computes it (no half-pixel
    offset: output pixel i samples input coordinate ``i * in / out``; the upper neighbour is clamped to the edge).
    This is the resize inside the 2015 Inception graph that FID/IS were defined with (torch-fidelity's protocol).
    ``x``: float ``[B, C, H, W]``."""
    h, w = x.shape[-2:]
    oh, ow = size

    def axis(n_in: int, n_out: int):
        pos = torch.arange(n_out, dtype=torch.float32, device=x.device) * torch.tensor(n_in / n_out,
                                                                                      dtype=torch.float32)
        lo = pos.long()
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (pos - lo.float()).to(x.dtype)

    ylo, yhi, fy = axis(h, oh)
    xlo, xhi, fx = axis(w, ow)
    top = x[..., ylo, :]
    bottom = x[..., yhi, :]
    # interpolate along x on both rows, then along y
    t = top[..., xlo] + (top[..., xhi] - top[..., xlo]) * fx
    b = bottom[..., xlo] + (bottom[..., xhi] - bottom[..., xlo]) * fx
    return t + (b - t) * fy.view(-1, 1)


def inception_input(images_u8: torch.Tensor, protocol: str) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> the 299x299 input of the 2015 Inception graph.

    * ``torch-fidelity``: pixel values 0..255, TF1 bilinear resize, then ``(x - 128) / 128``.
    * ``pytorch-fid``: ``x / 255``, ``F.interpolate(bilinear, align_corners=False)``, then ``2x - 1``.
    """
    x = images_u8.permute(0, 3, 1, 2).float()  # [B, 3, H, W]
    if protocol == "torch-fidelity":
        x = resize_bilinear_tf1(x, (299, 299))
        return (x - 128) / 128
    if protocol == "pytorch-fid":
        x = F.interpolate(x / 255.0, size=(299, 299), mode="bilinear", align_corners=False)
        return 2 * x - 1
    raise ValueError(f"unknown Inception protocol {protocol!r} (torch-fidelity, pytorch-fid)")


def video_short_side_crop(clips_u8: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    """uint8 ``[B, T, H, W, 3]`` -> float ``[B, 3, T, R, R]`` in [-1, 1]: scale the shorter side to R with bilinear
    ``F.interpolate`` (align_corners=False, no antialias; the longer side is ``ceil``-ed), center-crop R x R. This is
    the StyleGAN-V / VideoGPT FVD preprocessing."""
    b, t, h, w, _ = clips_u8.shape
    x = clips_u8.reshape(b * t, h, w, 3).permute(0, 3, 1, 2).float() / 255.0
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    top, left = (x.shape[2] - resolution) // 2, (x.shape[3] - resolution) // 2
    x = x[:, :, top:top + resolution, left:left + resolution]
    x = (x - 0.5) * 2
    return x.reshape(b, t, 3, resolution, resolution).permute(0, 2, 1, 3, 4)  # [B, 3, T, R, R]


def efficientnet_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> EfficientNet-Lite0 input: shorter side 256 (bilinear, antialiased), center crop 224,
    ``(x - 127) / 128`` (TF-Lite preprocessing of the packaged weights). Same as ``VisualEncoder``."""
    x = images_u8.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    s = 256 / min(h, w)
    nh, nw = max(224, round(h * s)), max(224, round(w * s))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (nh - 224) // 2, (nw - 224) // 2
    x = x[..., top:top + 224, left:left + 224]
    return (x - 127) / 128
