"""Task ``varietysound``: VarietySound trained by self-reconstruction with alignment and multi-window LSGAN
discriminators (docs/varietysound.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...audio import get_preset, mel_filterbank
from ...encoders.motion import PIXEL_MOTION_DIM
from ...errors import ConfigError
from ...models.v2s.feature2mel import MultiWindowMelDiscriminator
from ...models.v2s.varietysound import TimeAlignmentDiscriminator, VarietySound, VarietySoundConfig
from .. import losses as L
from .base import Task

__all__ = ["VarietySoundLoss", "VarietySoundDiscriminators", "VarietySoundTask", "augment_reference",
           "mel_band_centres"]


@dataclass
class VarietySoundLoss:
    lambda_mel: float = 1.0e5  # paper: lambda_m
    lambda_adv: float = 1.0  # paper: lambda_a
    alignment_discriminator: bool = True
    window_discriminator: bool = True
    # reference augmentation (not in the paper; for transfer): the timbre encoder's copy of the target mel gets a
    # random gain, spectral tilt and pitch shift, uniform in +-these bounds, per clip; 0 turns each off
    reference_gain_db: float = 0.0
    reference_tilt_db: float = 0.0
    reference_pitch_semitones: float = 0.0
    # true applies each clip's drawn gain, tilt and pitch shift to the target mel too (and so to the real mel the
    # discriminators see): the augmentation then makes new timbres for the decoder to follow instead of a mismatch
    # between reference and target it must learn to ignore; false (the default) augments the reference alone
    augment_target: bool = False
    # background dropout (not in the paper; for transfer): the share of clips whose background input is the mel of
    # silence, as at inference, instead of the target's quiet frames (which carry its timbre for sustained sounds,
    # a second path the decoder can take timbre from in training but never has at inference); 0 = the paper
    background_dropout: float = 0.0

    def __post_init__(self):
        for name in ("reference_gain_db", "reference_tilt_db", "reference_pitch_semitones"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite bound >= 0, got {v!r}")
        v = self.background_dropout
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ValueError(f"background_dropout: expected a share in [0, 1], got {v!r}")


def mel_band_centres(preset: str) -> torch.Tensor:
    """Centre frequency (Hz, the filter's centroid) of every band of a preset's filterbank ``[M]``."""
    fb = mel_filterbank(preset)  # [M, F]
    p = get_preset(preset)
    hz = torch.linspace(0, p.sample_rate / 2, fb.shape[1], dtype=fb.dtype)
    return (fb * hz).sum(1) / fb.sum(1).clamp_min(1e-12)


def augment_reference(mel: torch.Tensor, generator: torch.Generator, *, gain_db: float = 0.0, tilt_db: float = 0.0,
                      pitch_semitones: float = 0.0, dynamic_range_db: float = 100.0,
                      band_centres: torch.Tensor | None = None) -> torch.Tensor:
    """A copy of [0, 1] dB-normalised mels ``[B, M, T]`` with, per clip, a gain ``g``, a tilt (``-t`` dB at the
    lowest band to ``+t`` at the highest, linear in band index) and a pitch shift by ``s`` semitones (band b takes
    the value at frequency ``centre_b / 2^(s/12)``, interpolated over the band centres), each drawn uniformly from
    +-its bound. Values stay in [0, 1]."""
    b, m, _ = mel.shape
    out = mel

    def draw(bound):
        return (torch.rand(b, generator=generator) * 2 - 1) * bound  # [B]

    if pitch_semitones > 0:
        if band_centres is None:
            raise ValueError("a pitch shift needs the bands' centre frequencies")
        centres = band_centres.to(torch.float64)
        factor = 2.0 ** (draw(pitch_semitones).to(torch.float64) / 12)  # [B]
        source = (centres[None] / factor[:, None]).clamp(centres[0], centres[-1])  # [B, M] Hz to read from
        hi = torch.searchsorted(centres, source.contiguous()).clamp(1, m - 1)
        lo = hi - 1
        w = ((source - centres[lo]) / (centres[hi] - centres[lo])).to(mel.dtype)[..., None]  # [B, M, 1]
        idx = lambda i: i[..., None].expand(-1, -1, mel.shape[-1]).to(mel.device)  # noqa: E731
        out = out.gather(1, idx(lo)) * (1 - w.to(mel.device)) + out.gather(1, idx(hi)) * w.to(mel.device)
    shift = torch.zeros(b, m)
    if gain_db > 0:
        shift = shift + draw(gain_db)[:, None]
    if tilt_db > 0:
        shift = shift + draw(tilt_db)[:, None] * torch.linspace(-1, 1, m)[None]
    if gain_db > 0 or tilt_db > 0:
        out = out + (shift / dynamic_range_db).to(mel)[..., None]
    return out.clamp(0.0, 1.0)


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

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._centres = None  # band centre frequencies, computed when a pitch augmentation first needs them

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

    def _reference(self, mel: torch.Tensor) -> torch.Tensor:
        """The timbre encoder's input: the target mel, augmented when the loss section asks for it."""
        c = self.lcfg
        if not (c.reference_gain_db or c.reference_tilt_db or c.reference_pitch_semitones):
            return mel
        preset = self.mel_preset or "specvqgan"
        if self._centres is None:
            self._centres = mel_band_centres(preset)
        return augment_reference(mel, self.rng, gain_db=c.reference_gain_db, tilt_db=c.reference_tilt_db,
                                 pitch_semitones=c.reference_pitch_semitones,
                                 dynamic_range_db=get_preset(preset).dynamic_range_db, band_centres=self._centres)

    def _views(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, reference) mels of a batch: the reference augmented (``_reference``), the target either the clip's
        own mel or, with ``loss.augment_target``, the same augmented mel."""
        mel = batch["mel"]
        reference = self._reference(mel)
        return (reference if self.lcfg.augment_target else mel), reference

    def _background(self, mel: torch.Tensor) -> torch.Tensor:
        """The background encoder's input: the target mel, or silence (zeros) for a ``background_dropout`` share of
        the clips, drawn per clip."""
        p = self.lcfg.background_dropout
        if p <= 0:
            return mel
        keep = torch.rand(mel.shape[0], generator=self.rng) >= p  # [B]
        return mel * keep.to(mel)[:, None, None]

    def attach_dataset(self, dataset) -> None:
        """A model that takes pixel motion needs a cache that has it: refused here, before any model is built."""
        width = self.mcfg.pixel_motion_dim
        if width and not getattr(dataset, "has_motion", False):
            raise ConfigError(f"model.pixel_motion_dim: {width}, but data.path {self.cfg.data.path} has no pixel "
                              "motion (a cache made before it, or public feature files): run avgen prepare on the "
                              "videos into a new folder")
        channels = getattr(dataset, "motion_dim", PIXEL_MOTION_DIM)
        if width and width != channels:
            raise ConfigError(f"model.pixel_motion_dim: {width}, but the pixel motion of data.path "
                              f"{self.cfg.data.path} has {channels} channels")

    def _motion(self, batch) -> torch.Tensor | None:
        """The batch's pixel motion ``[B, T_v, 32 or 64]`` when the model takes it (``model.pixel_motion_dim``)."""
        return batch["motion"] if self.mcfg.pixel_motion_dim else None

    def _generate(self, batch, generator, target: torch.Tensor, reference: torch.Tensor):
        return generator(batch["features"], reference, target.shape[-1], background=self._background(target),
                         generator=self.rng, motion=self._motion(batch))

    def _starts(self, discriminator, length: int):
        d = getattr(discriminator, "module", discriminator)
        return d.window.sample_starts(length, self.rng) if d.window is not None else None

    def discriminator_loss(self, batch, generator, discriminator):
        feats = batch["features"]
        mel, reference = self._views(batch)
        with torch.no_grad():
            fake = self._generate(batch, generator, mel, reference)
        starts = self._starts(discriminator, mel.shape[-1])
        real_out = discriminator(feats, mel, starts)
        fake_out = discriminator(feats, fake.detach(), starts)
        loss = L.lsgan_d_loss(real_out, fake_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        feats = batch["features"]
        mel, reference = self._views(batch)
        fake = self._generate(batch, generator, mel, reference)
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
        mel, feats, motion = batch["mel"], batch["features"], self._motion(batch)
        motion = motion[:1] if motion is not None else None
        out = {"real": mel[0], "reconstructed": generator(feats[:1], mel[:1], mel.shape[-1], background=mel[:1],
                                                          motion=motion)[0]}
        if len(mel) > 1:  # timing from clip 0, timbre from clip 1, no background: the inference setting
            out["timbre_swap"] = generator(feats[:1], mel[1:2], mel.shape[-1], motion=motion)[0]
        return out
