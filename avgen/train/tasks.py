"""Tasks plug a head into the shared engine: they build models and compute the per-phase losses.

A task owns no optimizer, EMA, precision or checkpoint logic; the engine does. Register new heads with
:func:`register_task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.v2s.varietysound import ABLATIONS, ENCODERS
from .config import TrainConfig, from_dict

__all__ = ["Task", "register_task", "get_task", "TASKS", "Feature2MelTask", "VarietySoundTask", "VocoderTask"]

TASKS: dict[str, type] = {}


def register_task(name: str) -> Callable[[type], type]:
    def deco(cls):
        TASKS[name] = cls
        cls.name = name
        return cls

    return deco


def get_task(name: str) -> type:
    if name not in TASKS:
        raise ConfigError(f"task: unknown task '{name}' (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]


def lsgan_d_loss(real: list[torch.Tensor], fake: list[torch.Tensor], *, average: bool = True) -> torch.Tensor:
    """Least-squares GAN discriminator loss over several outputs: ``sum_k mean (D_k(real) - 1)^2 + mean D_k(fake)^2``,
    divided by the number of outputs when ``average``."""
    loss = sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(real, fake))
    return loss / len(real) if average else loss


def lsgan_g_loss(fake: list[torch.Tensor], *, average: bool = True) -> torch.Tensor:
    """Least-squares GAN generator loss: ``sum_k mean (D_k(fake) - 1)^2`` (divided by the count when ``average``)."""
    loss = sum(((f - 1) ** 2).mean() for f in fake)
    return loss / len(fake) if average else loss


class Task:
    """Interface. ``batch`` is what the data loader yields (already on the right device)."""

    name = "task"
    model_config: type | None = None  # dataclass of the ``model:`` section
    loss_config: type | None = None  # dataclass of the ``loss:`` section

    def __init__(self, cfg: TrainConfig, *, feature_dim: int, n_mels: int):
        self.cfg = cfg
        self.feature_dim, self.n_mels = feature_dim, n_mels
        self.mcfg = from_dict(self.model_config, cfg.model, prefix="model.") if self.model_config else None
        self.lcfg = from_dict(self.loss_config, cfg.loss, prefix="loss.") if self.loss_config else None
        self.rng = torch.Generator().manual_seed(cfg.seed + 1)  # the task's own randomness (crops, R, windows)

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        """Check the task-specific ``model``/``loss`` sections before any data is touched."""
        if cls.model_config:
            from_dict(cls.model_config, cfg.model, prefix="model.")
        if cls.loss_config:
            from_dict(cls.loss_config, cfg.loss, prefix="loss.")

    def build_generator(self) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self) -> nn.Module | None:
        return None

    def discriminator_loss(self, batch, generator, discriminator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def generator_loss(self, batch, generator, discriminator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    @torch.no_grad()
    def samples(self, batch, generator) -> dict[str, torch.Tensor]:
        """Mels to log as pictures/audio: name -> ``[n_mels, T]``."""
        return {}


@dataclass
class Feature2MelModel:
    hidden: int = 256
    num_layers: int = 4
    kernel_size: int = 5
    upsample: int = 4
    disc_windows: tuple[int, int, int] = (32, 64, 128)
    disc_hidden: int = 128


@dataclass
class Feature2MelLoss:
    lambda_mel: float = 1.0  # L1 mel reconstruction weight
    lambda_adv: float = 0.0  # least-squares GAN weight; 0 disables the discriminator phase


@register_task("feature2mel")
class Feature2MelTask(Task):
    """Baseline visual-features -> mel regression with an optional multi-window LSGAN discriminator.

    Losses: ``L_G = lambda_mel * |mel - mel_hat|_1 + lambda_adv * mean_w (D_w(mel_hat) - 1)^2``;
    ``L_D = mean_w [(D_w(mel) - 1)^2 + D_w(mel_hat)^2]``.
    """

    model_config, loss_config = Feature2MelModel, Feature2MelLoss

    def build_generator(self) -> nn.Module:
        from ..models.v2s.feature2mel import FeatureToMel

        m = self.mcfg
        return FeatureToMel(self.feature_dim, self.n_mels, m.hidden, m.num_layers, m.kernel_size, m.upsample)

    def build_discriminator(self) -> nn.Module | None:
        if self.lcfg.lambda_adv <= 0:
            return None
        from ..models.v2s.feature2mel import MultiWindowMelDiscriminator

        return MultiWindowMelDiscriminator(self.n_mels, self.mcfg.disc_windows, self.mcfg.disc_hidden)

    def _unwrap(self, module):
        return getattr(module, "module", module)

    def discriminator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        with torch.no_grad():
            fake = generator(batch["features"], mel.shape[-1])
        starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.rng)
        real_out = discriminator(mel, starts)
        fake_out = discriminator(fake.detach(), starts)
        loss = lsgan_d_loss(real_out, fake_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        fake = generator(batch["features"], mel.shape[-1])
        rec = F.l1_loss(fake, mel)
        loss = self.lcfg.lambda_mel * rec
        logs = {"g/mel_l1": rec.detach()}
        if discriminator is not None:
            starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.rng)
            adv = lsgan_g_loss(discriminator(fake, starts))
            loss = loss + self.lcfg.lambda_adv * adv
            logs["g/adv"] = adv.detach()
        logs["g/loss"] = loss.detach()
        return loss, logs

    @torch.no_grad()
    def samples(self, batch, generator):
        mel = batch["mel"][:1]
        fake = generator(batch["features"][:1], mel.shape[-1])
        return {"real": mel[0], "generated": fake[0]}


# ----------------------------------------------------------------------------------------------------------------
# VarietySound


@dataclass
class VarietySoundModel:
    """Generator and discriminator sizes; defaults are the paper's table (configs/varietysound/vas.yaml)."""

    temporal_channels: int = 512
    temporal_layers: int = 8
    temporal_kernel: int = 5
    temporal_lstm: int = 256
    bottleneck: int = 8
    sgau_units: int = 5
    sgau_channels: int = 512
    timbre_lstm: int = 256
    background_lstm: int = 128
    decoder_hidden: int = 512
    decoder_blocks: int = 4
    decoder_heads: int = 2
    decoder_kernel: int = 9
    decoder_filters: int = 512
    up_channels: int = 1024
    dropout: float = 0.1
    resample_segment: tuple[int, int] = (8, 32)
    resample_rate: tuple[float, float] = (0.5, 1.5)
    # ablations: replace an encoder's output by "zeros" or "noise"
    ablate_temporal: str | None = None
    ablate_timbre: str | None = None
    ablate_background: str | None = None
    # discriminators
    align_up_channels: int = 1024
    align_channels: int = 512
    window_lengths: tuple[int, int, int] = (32, 64, 128)
    window_hidden: int = 128


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


@register_task("varietysound")
class VarietySoundTask(Task):
    """VarietySound training by self-reconstruction: the target mel is also the timbre reference (through random
    resampling R) and the background input (through energy masking); timing comes only from the video features.

    Losses (least-squares GAN, every discriminator output averaged):
    ``L_G = lambda_mel * MSE(mel_hat, mel) + lambda_adv * mean_k (D_k(mel_hat) - 1)^2``,
    ``L_D = mean_k [(D_k(mel) - 1)^2 + D_k(mel_hat)^2]``, where k runs over the alignment discriminator (given the
    real video features) and the multi-window discriminator's windows.
    """

    model_config, loss_config = VarietySoundModel, VarietySoundLoss

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        super().validate(cfg)
        m = from_dict(VarietySoundModel, cfg.model, prefix="model.")
        for name in ENCODERS:
            v = getattr(m, f"ablate_{name}")
            if v not in ABLATIONS:
                raise ConfigError(f"model.ablate_{name}: expected null, 'zeros' or 'noise', got {v!r}")

    def generator_kwargs(self) -> dict:
        m = self.mcfg
        ablate = {k: getattr(m, f"ablate_{k}") for k in ENCODERS if getattr(m, f"ablate_{k}") is not None}
        return dict(feature_dim=self.feature_dim, n_mels=self.n_mels, temporal_channels=m.temporal_channels,
                    temporal_layers=m.temporal_layers, temporal_kernel=m.temporal_kernel,
                    temporal_lstm=m.temporal_lstm, bottleneck=m.bottleneck, sgau_units=m.sgau_units,
                    sgau_channels=m.sgau_channels, timbre_lstm=m.timbre_lstm, background_lstm=m.background_lstm,
                    decoder_hidden=m.decoder_hidden, decoder_blocks=m.decoder_blocks,
                    decoder_heads=m.decoder_heads, decoder_kernel=m.decoder_kernel,
                    decoder_filters=m.decoder_filters, up_channels=m.up_channels, dropout=m.dropout,
                    resample_segment=tuple(m.resample_segment), resample_rate=tuple(m.resample_rate),
                    ablate=ablate)

    def build_generator(self) -> nn.Module:
        from ..models.v2s.varietysound import VarietySound

        return VarietySound(**self.generator_kwargs())

    def build_discriminator(self) -> nn.Module | None:
        from ..models.v2s.feature2mel import MultiWindowMelDiscriminator
        from ..models.v2s.varietysound import TimeAlignmentDiscriminator

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
        loss = lsgan_d_loss(real_out, fake_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        mel, feats = batch["mel"], batch["features"]
        fake = self._generate(batch, generator)
        rec = F.mse_loss(fake, mel)
        loss = self.lcfg.lambda_mel * rec
        logs = {"g/mel_mse": rec.detach(), "g/mel_l1": F.l1_loss(fake, mel).detach()}
        if discriminator is not None:
            outs = discriminator(feats, fake, self._starts(discriminator, mel.shape[-1]))
            adv = lsgan_g_loss(outs)
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


# ----------------------------------------------------------------------------------------------------------------
# Vocoder


@dataclass
class VocoderModel:
    """HiFi-GAN sizes; defaults are V1 (configs/vocoder/hifigan_specvqgan.yaml)."""

    channels: int = 512
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernels: tuple[int, ...] = (16, 16, 4, 4)
    resblock_kernels: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    scales: int = 3
    scale_width: int = 1024
    period_widths: tuple[int, ...] = (32, 128, 512, 1024, 1024)


@dataclass
class VocoderLoss:
    lambda_mel: float = 45.0  # HiFi-GAN: L1 between log-mel spectrograms
    lambda_fm: float = 2.0  # HiFi-GAN: feature matching
    lambda_adv: float = 1.0


@register_task("vocoder")
class VocoderTask(Task):
    """HiFi-GAN training on waveform excerpts (``data.kind: audio``); the input mel is computed from the excerpt
    with the preset, so the vocoder inverts exactly what the heads generate.

    ``L_D = sum_k mean (D_k(y) - 1)^2 + mean D_k(G(m))^2``;
    ``L_G = lambda_adv sum_k mean (D_k(G(m)) - 1)^2 + lambda_fm sum_k,l mean |F_kl(y) - F_kl(G(m))|
    + lambda_mel mean |ln mel(y) - ln mel(G(m))|`` (natural-log mel magnitudes floored at 1e-5; HiFi-GAN eq. 6)."""

    model_config, loss_config = VocoderModel, VocoderLoss

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        super().validate(cfg)
        if cfg.data.kind != "audio":
            raise ConfigError("data.kind: the vocoder task trains on waveforms; set it to 'audio'")

    def build_generator(self) -> nn.Module:
        from ..models.vocoders.hifigan import HiFiGANGenerator

        m = self.mcfg
        g = HiFiGANGenerator(n_mels=self.n_mels, channels=m.channels, upsample_rates=tuple(m.upsample_rates),
                             upsample_kernels=tuple(m.upsample_kernels), resblock_kernels=tuple(m.resblock_kernels),
                             resblock_dilations=tuple(tuple(d) for d in m.resblock_dilations))
        from ..audio import get_preset

        if g.hop != get_preset("specvqgan").hop_length:
            raise ConfigError(f"model.upsample_rates multiply to {g.hop}, not the mel hop 256")
        return g

    def build_discriminator(self) -> nn.Module | None:
        from ..models.vocoders.hifigan import HiFiGANDiscriminators

        m = self.mcfg
        return HiFiGANDiscriminators(tuple(m.periods), m.scales, m.scale_width, tuple(m.period_widths))

    @staticmethod
    def _mels(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised [0, 1] input mel, natural-log magnitude mel for the loss), both ``[B, 80, T]``, from one
        STFT."""
        from ..audio import mel_magnitude, normalize_mel

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
        loss = lsgan_d_loss(real_logits, fake_logits, average=False)  # HiFi-GAN sums over discriminators
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        audio, fake, log_mel = self._generate(batch, generator)
        _, fake_log_mel = self._mels(fake)
        mel_l1 = F.l1_loss(fake_log_mel, log_mel)
        real_logits, real_feats = discriminator(audio[:, None])
        fake_logits, fake_feats = discriminator(fake[:, None])
        adv = lsgan_g_loss(fake_logits, average=False)
        fm = sum(F.l1_loss(f, r.detach()) for fs, rs in zip(fake_feats, real_feats) for f, r in zip(fs, rs))
        loss = self.lcfg.lambda_adv * adv + self.lcfg.lambda_fm * fm + self.lcfg.lambda_mel * mel_l1
        return loss, {"g/loss": loss.detach(), "g/mel_l1": mel_l1.detach(), "g/adv": adv.detach(),
                      "g/fm": fm.detach()}

    @torch.no_grad()
    def samples(self, batch, generator):
        from ..audio import mel_spectrogram

        audio, fake, _ = self._generate({"audio": batch["audio"][:1]}, generator)
        return {"real": mel_spectrogram(audio[0]), "vocoded": mel_spectrogram(fake[0])}
# Heads in their own modules register themselves on import.
from . import s2v_audio_task, s2v_task, stylegan_task  # noqa: E402

_SELF_REGISTERED = (stylegan_task, s2v_task, s2v_audio_task)
