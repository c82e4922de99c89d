"""Task ``varietysound``: VarietySound trained by self-reconstruction with alignment and multi-window LSGAN
discriminators (docs/varietysound.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models.v2s.feature2mel import MultiWindowMelDiscriminator
from ...models.v2s.varietysound import TimeAlignmentDiscriminator, VarietySound, VarietySoundConfig
from .. import losses as L
from .base import Task

__all__ = ["VarietySoundLoss", "VarietySoundDiscriminators", "VarietySoundTask"]


@dataclass
class VarietySoundLoss:
    lambda_mel: float = 1.0e5  # paper: lambda_m
    lambda_adv: float = 1.0  # paper: lambda_a
    alignment_discriminator: bool = True
    window_discriminator: bool = True


class VarietySoundDiscriminators(nn.Module):
    """Both discriminators in one module (one optimizer): ``alignment`` (features + mel) and ``window`` (mel)."""

    def __init__(self, alignment: nn.Module | None, window: nn.Module | None):
        super().__init__()
        self.alignment = alignment
        self.window = window

    def forward(self, features: torch.Tensor, mel: torch.Tensor, starts: list[int] | None) -> list[torch.Tensor]:
        outs = []
        if self.alignment is not None:
            outs.append(self.alignment(features, mel))
        if self.window is not None:
            outs += self.window(mel, starts)
        return outs


class VarietySoundTask(Task):
    """VarietySound training by self-reconstruction: the target mel is also the timbre reference (through random
    resampling R) and the background input (through energy masking); timing comes only from the video features.

    Losses (least-squares GAN, every discriminator output averaged):
    ``L_G = lambda_mel * MSE(mel_hat, mel) + lambda_adv * mean_k (D_k(mel_hat) - 1)^2``,
    ``L_D = mean_k [(D_k(mel) - 1)^2 + D_k(mel_hat)^2]``, where k runs over the alignment discriminator (given the
    real video features) and the multi-window discriminator's windows.
    """

    name = "varietysound"
    model_config, loss_config = VarietySoundConfig, VarietySoundLoss
    pipeline_class = "VideoToSoundPipeline"

    def build_generator(self) -> nn.Module:
        return VarietySound(self.mcfg)

    def build_discriminator(self) -> nn.Module | None:
        if self.lcfg.lambda_adv <= 0 or not (self.lcfg.alignment_discriminator or self.lcfg.window_discriminator):
            return None
        m = self.mcfg
        align = (TimeAlignmentDiscriminator(self.feature_dim, self.n_mels, m.align_up_channels, m.align_channels)
                 if self.lcfg.alignment_discriminator else None)
        window = (MultiWindowMelDiscriminator(self.n_mels, m.window_lengths, m.window_hidden)
                  if self.lcfg.window_discriminator else None)
        return VarietySoundDiscriminators(align, window)

    def _generate(self, batch, generator):
        mel = batch["mel"]
        return generator(batch["features"], mel, mel.shape[-1], background=mel, generator=self.rng)

    def _starts(self, discriminator, length: int):
        d = getattr(discriminator, "module", discriminator)
        return d.window.sample_starts(length, self.rng) if d.window is not None else None

    def discriminator_loss(self, batch, generator, discriminator):
        mel, feats = batch["mel"], batch["features"]
        with torch.no_grad():
            fake = self._generate(batch, generator)
        starts = self._starts(discriminator, mel.shape[-1])
        real_out = discriminator(feats, mel, starts)
        fake_out = discriminator(feats, fake.detach(), starts)
        loss = L.lsgan_d_loss(real_out, fake_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        mel, feats = batch["mel"], batch["features"]
        fake = self._generate(batch, generator)
        rec = F.mse_loss(fake, mel)
        loss = self.lcfg.lambda_mel * rec
        logs = {"g/mel_mse": rec.detach(), "g/mel_l1": F.l1_loss(fake, mel).detach()}
        if discriminator is not None:
            outs = discriminator(feats, fake, self._starts(discriminator, mel.shape[-1]))
            adv = L.lsgan_g_loss(outs)
            loss = loss + self.lcfg.lambda_adv * adv
            logs["g/adv"] = adv.detach()
        logs["g/loss"] = loss.detach()
        return loss, logs

    @torch.no_grad()
    def samples(self, batch, generator):
        mel, feats = batch["mel"], batch["features"]
        out = {"real": mel[0], "reconstructed": generator(feats[:1], mel[:1], mel.shape[-1], background=mel[:1])[0]}
        if len(mel) > 1:  # timing from clip 0, timbre from clip 1, no background: the inference setting
            out["timbre_swap"] = generator(feats[:1], mel[1:2], mel.shape[-1])[0]
        return out
