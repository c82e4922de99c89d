"""Task ``melgan``: SpecVQGAN's MelGAN vocoder (Kumar et al., NeurIPS 2019) trained on waveform excerpts
(``data.kind: audio``) as the release's ``vocoder/scripts/train.py`` does; ``final/`` is a MelGANGenerator folder
that ``avgen.vocoders.load`` reads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...audio import SPECVQGAN_MEL_PRESET, get_preset, mel_magnitude, mel_spectrogram, normalize_mel
from ...errors import ConfigError
from ...models.vocoders.melgan import MelGANConfig, MelGANGenerator
from ..specvqgan_losses import MelGANAdversary
from .base import Task

__all__ = ["MelGANLoss", "MelGANTask"]


@dataclass
class MelGANLoss:
    """The release's discriminator and loss arguments (``args.yml``: ``num_D`` 3, ``ndf`` 16, ``n_layers_D`` 4,
    ``downsamp_factor`` 4, ``lambda_feat`` 10; hinge loss in its training script)."""

    num_D: int = 3
    ndf: int = 16
    n_layers_D: int = 4
    downsamp_factor: int = 4
    lambda_feat: float = 10.0
    gan_loss: Literal["hinge", "lsgan"] = "hinge"
    lambda_mel: float = 0.0  # not in the release (0): L1 between the normalised mels of x and G(m), as HiFi-GAN adds

    def __post_init__(self):
        for name in ("num_D", "ndf", "n_layers_D", "downsamp_factor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}")
        for name in ("lambda_feat", "lambda_mel"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")


class MelGANTask(Task):
    """MelGAN on waveform excerpts; the input mel is the ``specvqgan`` preset's mel of the excerpt (its last frame
    dropped, so T frames give exactly T * 256 samples, as the release trims). With ``D_k`` the k-th scale:

    ``L_D = sum_k mean relu(1 - D_k(x)) + mean relu(1 + D_k(G(m)))``,
    ``L_G = -sum_k mean D_k(G(m)) + lambda_feat sum_k,l w |D_kl(x) - D_kl(G(m))|_1`` with
    ``w = 4 / (n_layers_D + 1) / num_D`` (``gan_loss: lsgan``: the least-squares terms instead)."""

    name = "melgan"
    model_config, loss_config = MelGANConfig, MelGANLoss

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind != "audio":
            raise ConfigError("data.kind: the melgan task trains on waveforms; set it to 'audio'")

    def build_generator(self) -> nn.Module:
        g = MelGANGenerator(self.mcfg)
        if g.hop != get_preset(SPECVQGAN_MEL_PRESET).hop_length:
            raise ConfigError(f"model.ratios multiply to {g.hop}, not the mel hop 256")
        if self.mcfg.n_mel_channels != self.n_mels:
            raise ConfigError(f"model.n_mel_channels: {self.mcfg.n_mel_channels}, the data's mels have {self.n_mels}")
        return g

    def build_discriminator(self) -> nn.Module | None:
        c = self.lcfg
        return MelGANAdversary(num_D=c.num_D, ndf=c.ndf, n_layers=c.n_layers_D, downsampling_factor=c.downsamp_factor,
                               loss=c.gan_loss)

    def _generate(self, batch, generator):
        audio = batch["audio"]  # [B, N], N a multiple of the hop
        mel = normalize_mel(mel_magnitude(audio))  # [B, 80, N / 256 + 1]
        return audio, generator(mel[..., :-1]), mel

    @staticmethod
    def _adv(discriminator) -> MelGANAdversary:
        return getattr(discriminator, "module", discriminator)

    def discriminator_loss(self, batch, generator, discriminator):
        with torch.no_grad():
            audio, fake, _ = self._generate(batch, generator)
        loss = self._adv(discriminator).d_loss(discriminator(audio[:, None]), discriminator(fake.detach()))
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        adv, c = self._adv(discriminator), self.lcfg
        audio, fake, mel = self._generate(batch, generator)
        real_out, fake_out = discriminator(audio[:, None]), discriminator(fake)
        g = adv.g_loss(fake_out)
        fm = adv.feature_matching(real_out, fake_out)
        loss = g + c.lambda_feat * fm
        with torch.set_grad_enabled(bool(c.lambda_mel)):  # otherwise only logged, as the release's "s_error"
            mel_l1 = F.l1_loss(normalize_mel(mel_magnitude(fake[:, 0])), mel)
        if c.lambda_mel:
            loss = loss + c.lambda_mel * mel_l1
        return loss, {"g/loss": loss.detach(), "g/adv": g.detach(), "g/fm": fm.detach(), "g/mel_l1": mel_l1.detach()}

    @torch.no_grad()
    def samples(self, batch, generator):
        audio, fake, _ = self._generate({"audio": batch["audio"][:1]}, generator)
        return {"real": mel_spectrogram(audio[0]), "vocoded": mel_spectrogram(fake[0, 0])}
