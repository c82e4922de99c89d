"""Baseline task ``feature2mel``: visual features -> mel regression with an optional multi-window LSGAN
discriminator (docs/training.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models.v2s.feature2mel import FeatureToMel, FeatureToMelConfig, MultiWindowMelDiscriminator
from .. import losses as L
from .base import Task

__all__ = ["Feature2MelLoss", "Feature2MelTask"]


@dataclass
class Feature2MelLoss:
    lambda_mel: float = 1.0  # L1 mel reconstruction weight
    lambda_adv: float = 0.0  # least-squares GAN weight; 0 disables the discriminator phase


class Feature2MelTask(Task):
    """Baseline visual-features -> mel regression with an optional multi-window LSGAN discriminator.

    Losses: ``L_G = lambda_mel * |mel - mel_hat|_1 + lambda_adv * mean_w (D_w(mel_hat) - 1)^2``;
    ``L_D = mean_w [(D_w(mel) - 1)^2 + D_w(mel_hat)^2]``.
    """

    name = "feature2mel"
    model_config, loss_config = FeatureToMelConfig, Feature2MelLoss

    def build_generator(self) -> nn.Module:
        return FeatureToMel(self.mcfg)

    def build_discriminator(self) -> nn.Module | None:
        if self.lcfg.lambda_adv <= 0:
            return None
        return MultiWindowMelDiscriminator(self.n_mels, self.mcfg.window_lengths, self.mcfg.window_hidden)

    def _unwrap(self, module):
        return getattr(module, "module", module)

    def discriminator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        with torch.no_grad():
            fake = generator(batch["features"], mel.shape[-1])
        starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.rng)
        real_out = discriminator(mel, starts)
        fake_out = discriminator(fake.detach(), starts)
        loss = L.lsgan_d_loss(real_out, fake_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        fake = generator(batch["features"], mel.shape[-1])
        rec = F.l1_loss(fake, mel)
        loss = self.lcfg.lambda_mel * rec
        logs = {"g/mel_l1": rec.detach()}
        if discriminator is not None:
            starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.rng)
            adv = L.lsgan_g_loss(discriminator(fake, starts))
            loss = loss + self.lcfg.lambda_adv * adv
            logs["g/adv"] = adv.detach()
        logs["g/loss"] = loss.detach()
        return loss, logs

    @torch.no_grad()
    def samples(self, batch, generator):
        mel = batch["mel"][:1]
        fake = generator(batch["features"][:1], mel.shape[-1])
        return {"real": mel[0], "generated": fake[0]}
