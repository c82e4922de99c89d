"""HiFi-GAN vocoder (Kong et al., NeurIPS 2020) for avgen's mel presets.

Generator: mel ``[B, 80, T]`` -> waveform ``[B, 1, T * hop]`` through transposed-conv upsampling (the product of
the rates equals the preset's hop, 256 for ``specvqgan``) and multi-receptive-field fusion (MRF) residual blocks
(``resblock=1``: two convs per dilation, V1/V2; ``resblock=2``: one conv per dilation, V3).
:func:`public_state_dict_to_avgen` renames the tensors of the public release (jik876/hifi-gan ``Generator``) into
this module's layout and :func:`public_config_to_avgen` reads its hyper-parameters; file I/O is in
``avgen.vocoders``.
Discriminators: multi-period (periods 2, 3, 5, 7, 11; 2-D convs over the waveform folded by the period) and
multi-scale (raw, x2 and x4 average-pooled waveform; grouped 1-D convs). Both return logits and feature maps for
the feature-matching loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm

from ..config import resolve_config

__all__ = ["HiFiGANConfig", "HiFiGANGenerator", "PeriodDiscriminator", "ScaleDiscriminator", "HiFiGANDiscriminators",
           "public_config_to_avgen", "public_state_dict_to_avgen"]

LRELU = 0.1


def _same(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) // 2


class MRFBlock(nn.Module):
    """One residual block of the MRF: for each dilation d, ``x += conv_1(lrelu(conv_d(lrelu(x))))``."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, dilation=d,
                                                          padding=_same(kernel, d))) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, padding=_same(kernel)))
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU)), LRELU))
        return x


class MRFBlock2(nn.Module):
    """The lighter residual block (HiFi-GAN V3): for each dilation d, ``x += conv_d(lrelu(x))``."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, dilation=d,
                                                         padding=_same(kernel, d))) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU))
        return x


@dataclass
class HiFiGANConfig:
    """Generator and discriminator sizes; defaults are HiFi-GAN V1 (512 channels, rates 8-8-2-2, MRF kernels 3/7/11
    with dilations 1/3/5). A ``task: vocoder`` config's ``model:`` section; the discriminator fields are used in
    training only."""

    n_mels: int = 80
    channels: int = 512
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernels: tuple[int, ...] = (16, 16, 4, 4)
    resblock_kernels: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    resblock: int = 1  # 1: MRFBlock (convs1/convs2, V1 and V2); 2: MRFBlock2 (convs, V3)
    # discriminators (training only)
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    scales: int = 3
    scale_width: int = 1024
    period_widths: tuple[int, ...] = (32, 128, 512, 1024, 1024)


class HiFiGANGenerator(nn.Module):
    """Mel ``[B, n_mels, T]`` -> waveform ``[B, 1, T * hop]``, built from :class:`HiFiGANConfig` (or keyword
    overrides of its defaults)."""

    config_class = HiFiGANConfig

    def __init__(self, config: HiFiGANConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(HiFiGANConfig, config, overrides)
        n_mels, channels, upsample_rates, upsample_kernels = c.n_mels, c.channels, c.upsample_rates, c.upsample_kernels
        resblock_kernels, resblock_dilations = c.resblock_kernels, c.resblock_dilations
        if len(upsample_rates) != len(upsample_kernels):
            raise ValueError("upsample_rates and upsample_kernels differ in length")
        if len(resblock_kernels) != len(resblock_dilations):
            raise ValueError("resblock_kernels and resblock_dilations differ in length")
        if c.resblock not in (1, 2):
            raise ValueError(f"resblock must be 1 or 2, got {c.resblock!r}")
        block = MRFBlock if c.resblock == 1 else MRFBlock2
        self.hop = math.prod(upsample_rates)
        self.conv_pre = weight_norm(nn.Conv1d(n_mels, channels, 7, padding=3))
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        ch = channels
        for rate, kernel in zip(upsample_rates, upsample_kernels):
            self.ups.append(weight_norm(nn.ConvTranspose1d(ch, ch // 2, kernel, stride=rate,
                                                           padding=(kernel - rate) // 2)))
            ch //= 2
            self.blocks.append(nn.ModuleList(block(ch, k, tuple(d))
                                             for k, d in zip(resblock_kernels, resblock_dilations)))
        self.conv_post = weight_norm(nn.Conv1d(ch, 1, 7, padding=3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)  # [B, C, T]
        for up, mrf in zip(self.ups, self.blocks):
            x = up(F.leaky_relu(x, LRELU))  # [B, C/2, T * rate]
            x = sum(block(x) for block in mrf) / len(mrf)  # multi-receptive-field fusion
        return torch.tanh(self.conv_post(F.leaky_relu(x)))  # [B, 1, T * hop]


# -- the public release's layout (jik876/hifi-gan) ----------------------------------------------------------------

_PUBLIC_CONFIG_KEYS = ("resblock", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel",
                       "resblock_kernel_sizes", "resblock_dilation_sizes")


def public_config_to_avgen(cfg: dict) -> HiFiGANConfig:
    """The generator fields of a release ``config.json`` (already parsed) as a :class:`HiFiGANConfig`. The release's
    generator always takes 80 mel bins (``num_mels``, when present, must say 80). Raises ValueError naming the
    key."""
    if not isinstance(cfg, dict):
        raise ValueError(f"expected a JSON object, got {type(cfg).__name__}")
    missing = [k for k in _PUBLIC_CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    resblock = str(cfg["resblock"])
    if resblock not in ("1", "2"):
        raise ValueError(f"resblock must be '1' or '2', got {cfg['resblock']!r}")
    if cfg.get("num_mels", 80) != 80:
        raise ValueError(f"num_mels is {cfg['num_mels']!r}; the release's generator takes 80")

    def ints(key: str, nested: bool = False) -> tuple:
        value = cfg[key]
        try:
            if nested:
                out = tuple(tuple(int(v) for v in row) for row in value)
            else:
                out = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            what = "lists of integers" if nested else "integers"
            raise ValueError(f"{key} must be a list of {what}, got {value!r}") from None
        if not out:
            raise ValueError(f"{key} is empty")
        return out

    channels = cfg["upsample_initial_channel"]
    if not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
        raise ValueError(f"upsample_initial_channel must be a positive integer, got {channels!r}")
    rates, kernels = ints("upsample_rates"), ints("upsample_kernel_sizes")
    rk, rd = ints("resblock_kernel_sizes"), ints("resblock_dilation_sizes", nested=True)
    if len(rates) != len(kernels):
        raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
    if len(rk) != len(rd):
        raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
    if channels % (2 ** len(rates)):
        raise ValueError(f"upsample_initial_channel {channels} is not divisible by 2^{len(rates)}")
    return HiFiGANConfig(n_mels=80, channels=channels, upsample_rates=rates, upsample_kernels=kernels,
                         resblock_kernels=rk, resblock_dilations=rd, resblock=int(resblock))


_WEIGHT_NORM_NAMES = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def public_state_dict_to_avgen(state_dict: dict, config: HiFiGANConfig) -> dict:
    """Rename a release generator's tensors into :class:`HiFiGANGenerator`'s layout (no copy of the data).

    ``*.weight_g`` / ``*.weight_v`` (the old ``torch.nn.utils.weight_norm``) become the parametrization's
    ``*.parametrizations.weight.original0`` / ``original1``; a plain ``*.weight`` (a release with weight norm
    removed) is split into its norm over all but the first axis and itself, which gives the same weight.
    ``resblocks.{i * K + j}`` (K = number of resblock kernels) becomes ``blocks.{i}.{j}``. Keys outside the layout
    are kept as they are, so a strict load reports them as unexpected.
    """
    k = len(config.resblock_kernels)
    n_blocks = k * len(config.upsample_rates)
    out = {}
    for key, value in state_dict.items():
        head, _, leaf = key.rpartition(".")
        parts = head.split(".")
        if parts[0] == "resblocks" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < n_blocks:
            n = int(parts[1])
            parts = ["blocks", str(n // k), str(n % k)] + parts[2:]
        head = ".".join(parts)
        if leaf in _WEIGHT_NORM_NAMES and torch.is_tensor(value):
            out[f"{head}.{_WEIGHT_NORM_NAMES[leaf]}"] = value
        elif leaf == "weight" and torch.is_tensor(value) and value.ndim >= 2 and head != "":
            norm = value.flatten(1).norm(dim=1).reshape(-1, *([1] * (value.ndim - 1)))
            out[f"{head}.{_WEIGHT_NORM_NAMES['weight_g']}"] = norm
            out[f"{head}.{_WEIGHT_NORM_NAMES['weight_v']}"] = value
        else:
            out[f"{head}.{leaf}" if head else leaf] = value
    return out


def _stack(x: torch.Tensor, convs: nn.ModuleList, post: nn.Module) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run conv -> leaky ReLU layers and the output conv, keeping every activation for feature matching."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats


class PeriodDiscriminator(nn.Module):
    """Folds the waveform into [T / p, p] and applies 2-D convs (kernel (5, 1), stride (3, 1)) along time."""

    def __init__(self, period: int, widths: tuple[int, ...] = (32, 128, 512, 1024, 1024)):
        super().__init__()
        self.period = period
        convs, cin = [], 1
        for i, w in enumerate(widths):
            stride = (3, 1) if i < len(widths) - 1 else (1, 1)
            convs.append(weight_norm(nn.Conv2d(cin, w, (5, 1), stride, padding=(2, 0))))
            cin = w
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(cin, 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t = wav.shape
        if t % self.period:
            wav = F.pad(wav, (0, self.period - t % self.period), mode="reflect")
        return _stack(wav.view(b, c, -1, self.period), self.convs, self.post)  # [B, 1, T / p, p]


class ScaleDiscriminator(nn.Module):
    """MelGAN-style grouped 1-D convs over one waveform scale."""

    def __init__(self, width: int = 1024):
        super().__init__()
        spec = [(1, 128, 15, 1, 1), (128, 128, 41, 2, 4), (128, 256, 41, 2, 16), (256, 512, 41, 4, 16),
                (512, width, 41, 4, 16), (width, width, 41, 1, 16), (width, width, 5, 1, 1)]
        self.convs = nn.ModuleList(weight_norm(nn.Conv1d(i, o, k, s, groups=g, padding=k // 2))
                                   for i, o, k, s, g in spec)
        self.post = weight_norm(nn.Conv1d(width, 1, 3, padding=1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _stack(wav, self.convs, self.post)


class HiFiGANDiscriminators(nn.Module):
    """Multi-period + multi-scale discriminators. ``forward(wav)`` -> (list of logits, list of feature-map lists)."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), scales: int = 3, scale_width: int = 1024,
                 period_widths: tuple[int, ...] = (32, 128, 512, 1024, 1024)):
        super().__init__()
        self.periods = nn.ModuleList(PeriodDiscriminator(p, period_widths) for p in periods)
        self.scales = nn.ModuleList(ScaleDiscriminator(scale_width) for _ in range(scales))

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        logits, feats = [], []
        for d in self.periods:
            lg, ft = d(wav)
            logits.append(lg)
            feats.append(ft)
        x = wav
        for i, d in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool1d(x, 4, 2, padding=2)
            lg, ft = d(x)
            logits.append(lg)
            feats.append(ft)
        return logits, feats
