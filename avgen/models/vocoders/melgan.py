"""MelGAN generator (Kumar et al., NeurIPS 2019) in the layout of SpecVQGAN's vocoder (descriptinc/melgan-neurips).

Mel ``[B, 80, T]`` -> waveform ``[B, 1, T * 256]``: a 7-tap conv to ``16 * ngf`` channels, then per upsampling
ratio (8, 8, 2, 2) a LeakyReLU(0.2), a transposed conv halving the width and ``n_residual_layers`` dilated
residual stacks (dilations 1, 3, 9), and a 7-tap conv to one channel with tanh. Every conv is weight-normalised
(eq. 2 of Salimans & Kingma 2016: ``w = g v / ||v||``, the norm over all axes but the first) and stores
``weight_g``/``weight_v``/``bias`` under the release's ``model.<i>`` indices, so ``best_netG.pt`` loads one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import resolve_config

__all__ = ["MelGANConfig", "MelGANGenerator", "WNConv1d", "WNConvTranspose1d"]

LRELU = 0.2


def _norm_except_first(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.ndim - 1)))  # [out, 1, 1]


class _WeightNorm(nn.Module):
    """A conv whose kernel is ``weight_g * weight_v / ||weight_v||`` (weight_g ``[dim0, 1, 1]``)."""

    def __init__(self, shape: tuple[int, ...], out_channels: int, fan_in: int):
        super().__init__()
        bound = 1.0 / math.sqrt(fan_in)
        self.weight_v = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.weight_g = nn.Parameter(_norm_except_first(self.weight_v.detach()).clone())
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_v * (self.weight_g / _norm_except_first(self.weight_v))


class WNConv1d(_WeightNorm):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, dilation: int = 1):
        super().__init__((out_channels, in_channels, kernel_size), out_channels, in_channels * kernel_size)
        self.dilation = dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, self.bias, dilation=self.dilation)


class WNConvTranspose1d(_WeightNorm):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int, padding: int,
                 output_padding: int):
        super().__init__((in_channels, out_channels, kernel_size), out_channels, out_channels * kernel_size)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                  output_padding=self.output_padding)


class ResidualStack(nn.Module):
    """``shortcut(x) + block(x)``, block = LeakyReLU, reflection pad d, 3-tap conv dilation d, LeakyReLU, 1x1."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(nn.LeakyReLU(LRELU), nn.ReflectionPad1d(dilation),
                                   WNConv1d(channels, channels, 3, dilation=dilation), nn.LeakyReLU(LRELU),
                                   WNConv1d(channels, channels, 1))
        self.shortcut = WNConv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


@dataclass
class MelGANConfig:
    """The release's generator arguments (``args.yml``: ``n_mel_channels``, ``ngf``, ``n_residual_layers``)."""

    n_mel_channels: int = 80
    ngf: int = 32
    n_residual_layers: int = 3
    ratios: tuple[int, ...] = (8, 8, 2, 2)


class MelGANGenerator(nn.Module):
    """``[B, n_mel_channels, T]`` -> ``[B, 1, T * prod(ratios)]`` in [-1, 1]."""

    config_class = MelGANConfig

    def __init__(self, config: MelGANConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(MelGANConfig, config, overrides)
        self.hop = math.prod(c.ratios)
        width = c.ngf * 2 ** len(c.ratios)
        layers: list[nn.Module] = [nn.ReflectionPad1d(3), WNConv1d(c.n_mel_channels, width, 7)]
        for r in c.ratios:
            # x r in time, half the channels: kernel 2r, padding r/2 + r%2 keeps the length exactly T * r
            layers += [nn.LeakyReLU(LRELU), WNConvTranspose1d(width, width // 2, 2 * r, stride=r,
                                                              padding=r // 2 + r % 2, output_padding=r % 2)]
            width //= 2
            layers += [ResidualStack(width, 3 ** j) for j in range(c.n_residual_layers)]
        layers += [nn.LeakyReLU(LRELU), nn.ReflectionPad1d(3), WNConv1d(width, 1, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model(mel)
