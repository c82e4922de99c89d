"""LPIPS v0.1 with the VGG16 backbone (Zhang et al., CVPR 2018), for the projector's perceptual loss.

``d(x0, x1) = sum_l mean_hw( w_l . (n(f_l(x0)) - n(f_l(x1)))^2 )``: inputs in [-1, 1] are shifted/scaled per channel,
``f_l`` are the VGG16 activations relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, ``n`` normalises each pixel's feature
vector to unit length, ``w_l`` are the learned 1x1 weights. Nothing is downloaded: pass the torchvision VGG16 file
(``vgg16-397923af.pth``) and the LPIPS linear weights (``weights/v0.1/vgg.pth``, shipped inside the ``lpips`` PyPI
package and found there automatically when it is installed).
"""

from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn as nn

__all__ = ["LPIPS", "default_lin_weights"]

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
_SLICES = (4, 9, 16, 23, 30)  # VGG16 feature indices ending at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_CHANNELS = (64, 128, 256, 512, 512)


def default_lin_weights() -> str | None:
    """``lpips/weights/v0.1/vgg.pth`` of an installed ``lpips`` package (located without importing it)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "weights", "v0.1", "vgg.pth")
    return path if os.path.isfile(path) else None


class LPIPS(nn.Module):
    """Callable as ``lpips(x0, x1) -> [B]`` for images [B, 3, H, W] in [-1, 1]; differentiable in both inputs."""

    def __init__(self, vgg_weights: str | os.PathLike, lin_weights: str | os.PathLike | None = None):
        super().__init__()
        from torchvision.models import vgg16

        lin_weights = lin_weights if lin_weights is not None else default_lin_weights()
        for what, path, where in (("VGG16", vgg_weights, VGG16_URL),
                                  ("LPIPS v0.1 linear", lin_weights, "the lpips PyPI package (lpips/weights/v0.1/vgg.pth)")):
            if path is None or not os.path.isfile(path):
                raise FileNotFoundError(f"{what} weights: {path!r} not found; get them from {where}")
        vgg = vgg16(weights=None)
        sd = torch.load(vgg_weights, map_location="cpu", weights_only=True)
        vgg.load_state_dict(sd)
        self.features = vgg.features[:_SLICES[-1]].eval().requires_grad_(False)
        lin = torch.load(lin_weights, map_location="cpu", weights_only=True)
        self.lins = nn.ParameterList([nn.Parameter(lin[f"lin{i}.model.1.weight"].reshape(1, c, 1, 1), requires_grad=False)
                                      for i, c in enumerate(_CHANNELS)])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out, start = [], 0
        for end in _SLICES:
            x = self.features[start:end](x)
            out.append(x)
            start = end
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for f0, f1, w in zip(self._taps(x0), self._taps(x1), self.lins):
            f0 = f0 / (f0.square().sum(1, keepdim=True).sqrt() + 1e-10)
            f1 = f1 / (f1.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + ((f0 - f1).square() * w).sum(1).mean(dim=[1, 2])
        return total
