"""SpecVQGAN's training losses and the discriminators they own (Iashin & Rahtu, BMVC 2021).

- :class:`LPAPS`: the release's perceptual distance on mels, LPIPS (Zhang et al., CVPR 2018, eq. 1) with the
  VGG16-like classifier "VGGish-ish" (:class:`VGGishish`) in place of VGG; its layout loads the public
  ``vggishish16.pt`` from a local file.
- :class:`CodebookAdversary`: the release's PatchGAN :class:`NLayerDiscriminator` with hinge (or "vanilla")
  loss, its ``disc_start`` and the adaptive weight of VQGAN (Esser et al., CVPR 2021, eq. 7).
- :class:`MelGANAdversary`: MelGAN's multi-scale waveform discriminator (Kumar et al., NeurIPS 2019, Sec. 2.2) with
  the release's hinge loss and feature matching (eq. 4 there).

Every module here is a training-only network; the models themselves (avgen.models) hold no training code.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoints import CheckpointError, load_torch_weights_only
from ..errors import ConfigError

__all__ = ["hinge_d_loss", "hinge_g_loss", "vanilla_d_loss", "VGGishish", "LPAPS", "load_vggishish_weights",
           "NLayerDiscriminator", "CodebookAdversary", "adaptive_weight", "WNConv1dD", "MelGANScaleDiscriminator",
           "MelGANMultiScaleDiscriminator", "MelGANAdversary"]


# ----------------------------------------------------------------------------------------------------------------
# GAN losses on logits


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``(mean relu(1 - D(x)) + mean relu(1 + D(x_hat))) / 2`` (the release's ``hinge_d_loss``)."""
    return 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())


def vanilla_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``(mean softplus(-D(x)) + mean softplus(D(x_hat))) / 2`` (the release's ``vanilla_d_loss``)."""
    return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-mean D(x_hat)``: the generator side of both the hinge and the vanilla codebook losses in the release."""
    return -fake.mean()


# ----------------------------------------------------------------------------------------------------------------
# LPAPS: LPIPS on mels with VGGish-ish features

VGG16_TAPS = (3, 8, 15, 22, 29)  # features.<i> after which relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 are read


class VGGishish(nn.Module):
    """The convolutional part of the release's ``VGGishish`` (``conv_layers`` [64, 64, MP, 128, 128, MP, 256 x 3,
    MP, 512 x 3, MP, 512 x 3], no batch norm) on ``[B, 1, F, T]``; ``features.<i>`` carries the release's indices.
    ``channels`` sets the five block widths (the release's are (64, 128, 256, 512, 512); smaller ones are for
    tests and load no public file). ``forward`` returns the five ReLU outputs LPAPS compares."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512, 512)):
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"VGGish-ish has five blocks, got {len(channels)} widths")
        layers: list[nn.Module] = []
        width = 1
        for block, (c, n) in enumerate(zip(channels, (2, 2, 3, 3, 3))):
            if block:
                layers.append(nn.MaxPool2d(2, 2))
            for _ in range(n):
                layers += [nn.Conv2d(width, c, 3, padding=1), nn.ReLU()]
                width = c
        self.features = nn.Sequential(*layers)
        for m in self.modules():  # the release's reset_parameters
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG16_TAPS:
                outs.append(x)
        return outs


def load_vggishish_weights(net: VGGishish, path: str | os.PathLike, *, option: str = "loss.perceptual_weights") -> None:
    """Load the public ``vggishish16.pt`` (``{"model": VGGishish state dict, ...}``; a bare state dict also works)
    into ``net``: its ``features.*`` tensors, strictly; the classifier is not part of LPAPS and is skipped. Read
    with ``torch.load(weights_only=True)``: tensors and plain containers only, nothing executed."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{option}: {path}: file not found")
    data = load_torch_weights_only(path)
    sd = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: not a VGGish-ish state dict (expected a dict, or one under 'model')")
    want = net.features.state_dict()
    got = {k[len("features."):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith("features.")}
    missing = sorted(set(want) - set(got))
    if missing:
        raise CheckpointError(f"{path}: no VGGish-ish tensor features.{missing[0]} ({len(missing)} of {len(want)} "
                              "missing)")
    for k, v in want.items():
        if not torch.is_tensor(got[k]) or got[k].shape != v.shape:
            shape = tuple(got[k].shape) if torch.is_tensor(got[k]) else type(got[k]).__name__
            raise CheckpointError(f"{path}: features.{k} is {shape}, the network built from "
                                  f"loss.perceptual_channels has {tuple(v.shape)}")
    net.features.load_state_dict({k: got[k].float() for k in want})


class _NetLin(nn.Module):
    """The release's ``NetLinLayer``: dropout, then a 1x1 conv to one channel without bias (``model.1.weight``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


class LPAPS(nn.Module):
    """``d(x, x_hat) = sum_l mean_hw w_l . (n(f_l(x)) - n(f_l(x_hat)))^2`` (LPIPS eq. 1), f_l the five VGGish-ish
    blocks, n the unit norm over channels (eps 1e-10), w_l the ``lin<l>`` 1x1 convs; inputs ``[B, 1, F, T]`` in
    [-1, 1], first standardised per mel band (``(x - shift) / scale``, from the release's VGGSound statistics
    file when given, else identity). Returns ``[B, 1, 1, 1]``. Frozen and always in eval mode (dropout off).

    The ``lin`` weights are never learned here. ``lin="release"`` keeps Conv2d's default initialisation, as the
    release does, whose loader finds no ``lin`` tensors in the public file (see docs/specvqgan.md, "Training"):
    they have both signs, so d can go negative. ``lin="mean"`` sets every weight to 1 / C_l, which makes d a
    non-negative average of the squared feature differences."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512, 512), *, weights: str | None = None,
                 stats: str | None = None, n_mels: int = 80, lin: str = "release"):
        super().__init__()
        self.net = VGGishish(tuple(channels))
        for i, c in enumerate(channels):
            setattr(self, f"lin{i}", _NetLin(c))
            if lin == "mean":
                nn.init.constant_(getattr(self, f"lin{i}").model[1].weight, 1.0 / c)
            elif lin != "release":
                raise ValueError(f"lin: 'release' or 'mean', got {lin!r}")
        shift, scale = torch.zeros(n_mels), torch.ones(n_mels)
        if stats:
            if not os.path.isfile(stats):
                raise ConfigError(f"loss.perceptual_stats: {stats}: file not found")
            try:
                table = np.loadtxt(stats, dtype=np.float32)
            except ValueError as e:
                raise ConfigError(f"loss.perceptual_stats: {stats}: not a table of mean/std rows ({e})") from None
            if table.shape != (n_mels, 2):
                raise ConfigError(f"loss.perceptual_stats: {stats}: {table.shape} values, expected {n_mels} rows "
                                  "of 'mean std'")
            # the statistics are of [0, 1] mels; the codebook sees 2 x - 1
            shift, scale = 2 * torch.from_numpy(table[:, 0]) - 1, 2 * torch.from_numpy(table[:, 1])
        self.register_buffer("shift", shift[None, None, :, None], persistent=False)
        self.register_buffer("scale", scale[None, None, :, None], persistent=False)
        if weights:
            load_vggishish_weights(self.net, weights)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPAPS":
        return super().train(False)  # a fixed metric: dropout never on

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.net((x - self.shift) / self.scale)
        fy = self.net((y - self.shift) / self.scale)
        total = 0.0
        for i, (a, b) in enumerate(zip(fx, fy)):
            a = a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{i}").model((a - b) ** 2).mean((2, 3), keepdim=True)
        return total


# ----------------------------------------------------------------------------------------------------------------
# The codebook's patch discriminator


class NLayerDiscriminator(nn.Module):
    """The release's (pix2pix) PatchGAN in its ``main.<i>`` layout: a 4x4 stride-2 conv + LeakyReLU(0.2), then
    ``n_layers - 1`` stride-2 and one stride-1 conv with BatchNorm (widths ``ndf * min(2^n, 8)``), and a 4x4 conv
    to one logit per patch."""

    def __init__(self, input_nc: int = 1, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                    nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.main = nn.Sequential(*seq)
        for m in self.modules():  # the release's weights_init: N(0, 0.02) convs, N(1, 0.02) norm scales
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def adaptive_weight(nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, *, lo: float, hi: float,
                    scale: float) -> torch.Tensor:
    """``lambda = clamp(|grad_L nll| / (|grad_L g| + 1e-4), lo, hi) * scale`` with L the decoder's last weight
    (VQGAN eq. 7), detached. With ``lo == hi`` (the release's configs: 1, 1) it is ``lo * scale``, and the two extra
    gradients are not computed."""
    if lo == hi:
        return torch.tensor(lo * scale, device=nll.device)
    (gn,) = torch.autograd.grad(nll, last_layer, retain_graph=True)
    (gg,) = torch.autograd.grad(g_loss, last_layer, retain_graph=True)
    return (gn.norm() / (gg.norm() + 1e-4)).clamp(lo, hi).detach() * scale


class CodebookAdversary(nn.Module):
    """The codebook's adversarial loss and its discriminator (one optimizer: ``discriminator``'s parameters).

    ``updates`` counts discriminator micro-batches and is saved with the discriminator's state, so ``disc_start``
    (in optimizer steps: ``updates // grad_accum``) survives a resume. Both losses are multiplied by the
    ``disc_factor`` of :meth:`factor` (0 before ``disc_start``), as the release's ``adopt_weight``."""

    def __init__(self, *, input_nc: int, ndf: int, n_layers: int, loss: str, disc_start: int, disc_factor: float):
        super().__init__()
        self.discriminator = NLayerDiscriminator(input_nc, ndf, n_layers)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.d_loss = hinge_d_loss if loss == "hinge" else vanilla_d_loss
        self.disc_start, self.disc_factor = disc_start, disc_factor

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits of each input, with batch statistics of each on its own (the release's separate D(x), D(x_hat)),
        in one call: a second call through DDP would overwrite the BatchNorm buffers its backward still needs."""
        return tuple(self.discriminator(x) for x in xs)

    def factor(self, step: int) -> float:
        return 0.0 if step < self.disc_start else self.disc_factor


# ----------------------------------------------------------------------------------------------------------------
# MelGAN's multi-scale discriminator


class WNConv1dD(nn.Module):
    """A weight-normalised Conv1d (``w = g v / ||v||``, Salimans & Kingma eq. 2) with stride, padding and groups,
    storing ``weight_g`` ``[out, 1, 1]``, ``weight_v``, ``bias`` as ``torch.nn.utils.weight_norm`` does."""

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, padding: int = 0, groups: int = 1):
        super().__init__()
        fan_in = cin // groups * kernel
        # Conv1d's default init; the release's weights_init writes N(0, 0.02) into the derived .weight, which
        # weight norm recomputes from g and v at the next forward, so its convs keep this initialisation too
        bound = 1.0 / math.sqrt(fan_in)
        self.weight_v = nn.Parameter(torch.empty(cout, cin // groups, kernel).uniform_(-bound, bound))
        self.weight_g = nn.Parameter(self.weight_v.detach().flatten(1).norm(dim=1)[:, None, None].clone())
        self.bias = nn.Parameter(torch.empty(cout).uniform_(-bound, bound))
        self.stride, self.padding, self.groups = stride, padding, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_v * (self.weight_g / self.weight_v.flatten(1).norm(dim=1)[:, None, None])
        return F.conv1d(x, w, self.bias, stride=self.stride, padding=self.padding, groups=self.groups)


class MelGANScaleDiscriminator(nn.Module):
    """One scale, the release's ``NLayerDiscriminator`` (``model.layer_<n>``): a 15-tap conv to ``ndf``, then
    ``n_layers`` grouped strided convs (kernel ``10 s + 1``, stride s = ``downsampling_factor``, groups
    ``in / 4``, widths ``x s`` up to 1024), a 5-tap conv and a 3-tap conv to one channel; LeakyReLU(0.2) between.
    Returns every layer's output (the last is the logits)."""

    def __init__(self, ndf: int, n_layers: int, downsampling_factor: int):
        super().__init__()
        s = downsampling_factor
        model = nn.ModuleDict()
        model["layer_0"] = nn.Sequential(nn.ReflectionPad1d(7), WNConv1dD(1, ndf, 15), nn.LeakyReLU(0.2, True))
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * s, 1024)
            model[f"layer_{n}"] = nn.Sequential(
                WNConv1dD(prev, nf, s * 10 + 1, stride=s, padding=s * 5, groups=max(1, prev // 4)),
                nn.LeakyReLU(0.2, True))
        out = min(nf * 2, 1024)
        # the release builds this conv with nf_prev inputs, which is the width it receives (nf) exactly when the
        # widths have reached 1024, as at its sizes (ndf 16, 4 layers, factor 4); nf keeps smaller sizes working
        model[f"layer_{n_layers + 1}"] = nn.Sequential(WNConv1dD(nf, out, 5, padding=2), nn.LeakyReLU(0.2, True))
        model[f"layer_{n_layers + 2}"] = WNConv1dD(out, 1, 3, padding=1)
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for layer in self.model.values():
            x = layer(x)
            outs.append(x)
        return outs


class MelGANMultiScaleDiscriminator(nn.Module):
    """``num_D`` scale discriminators (``model.disc_<i>``) on the waveform, then on it average-pooled by 2
    (kernel 4, stride 2, padding 1, padding not counted), and so on."""

    def __init__(self, num_D: int, ndf: int, n_layers: int, downsampling_factor: int):
        super().__init__()
        self.model = nn.ModuleDict({f"disc_{i}": MelGANScaleDiscriminator(ndf, n_layers, downsampling_factor)
                                    for i in range(num_D)})
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for disc in self.model.values():
            results.append(disc(x))
            x = self.downsample(x)
        return results


class MelGANAdversary(nn.Module):
    """MelGAN's adversarial loss with its discriminator: hinge (the release's ``vocoder/scripts/train.py``) or least
    squares, summed over scales, plus feature matching ``sum_i sum_j w |D_ij(x) - D_ij(x_hat)|_1`` over every layer
    but the logits, with ``w = 4 / (n_layers + 1) / num_D`` as the release weighs it."""

    def __init__(self, *, num_D: int, ndf: int, n_layers: int, downsampling_factor: int, loss: str):
        super().__init__()
        self.discriminator = MelGANMultiScaleDiscriminator(num_D, ndf, n_layers, downsampling_factor)
        self.loss, self.fm_weight = loss, 4.0 / (n_layers + 1) / num_D

    def forward(self, wave: torch.Tensor) -> list[list[torch.Tensor]]:
        return self.discriminator(wave)

    def d_loss(self, real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
        if self.loss == "hinge":  # sum_k mean relu(1 - D_k(x)) + mean relu(1 + D_k(x_hat))
            return sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake))
        return sum(((r[-1] - 1) ** 2).mean() + (f[-1] ** 2).mean() for r, f in zip(real, fake))

    def g_loss(self, fake: list[list[torch.Tensor]]) -> torch.Tensor:
        if self.loss == "hinge":  # -sum_k mean D_k(x_hat)
            return sum(-f[-1].mean() for f in fake)
        return sum(((f[-1] - 1) ** 2).mean() for f in fake)

    def feature_matching(self, real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
        return self.fm_weight * sum(F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake)
                                    for r, f in zip(rs[:-1], fs[:-1]))
