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
from .config import TrainConfig, from_dict

__all__ = ["Task", "register_task", "get_task", "TASKS", "Feature2MelTask"]

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


class Task:
    """Interface. ``batch`` is what the data loader yields (already on the right device)."""

    name = "task"

    def __init__(self, cfg: TrainConfig, *, feature_dim: int, n_mels: int):
        self.cfg = cfg

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        """Check the task-specific ``model``/``loss`` sections before any data is touched."""

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

    def __init__(self, cfg: TrainConfig, *, feature_dim: int, n_mels: int):
        super().__init__(cfg, feature_dim=feature_dim, n_mels=n_mels)
        self.mcfg = from_dict(Feature2MelModel, cfg.model, prefix="model.")
        self.lcfg = from_dict(Feature2MelLoss, cfg.loss, prefix="loss.")
        self.feature_dim, self.n_mels = feature_dim, n_mels
        self.generator_seed = torch.Generator().manual_seed(cfg.seed + 1)

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        from_dict(Feature2MelModel, cfg.model, prefix="model.")
        from_dict(Feature2MelLoss, cfg.loss, prefix="loss.")

    def build_generator(self) -> nn.Module:
        from ..models.feature2mel import FeatureToMel

        m = self.mcfg
        return FeatureToMel(self.feature_dim, self.n_mels, m.hidden, m.num_layers, m.kernel_size, m.upsample)

    def build_discriminator(self) -> nn.Module | None:
        if self.lcfg.lambda_adv <= 0:
            return None
        from ..models.feature2mel import MultiWindowMelDiscriminator

        return MultiWindowMelDiscriminator(self.n_mels, self.mcfg.disc_windows, self.mcfg.disc_hidden)

    def _unwrap(self, module):
        return getattr(module, "module", module)

    def discriminator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        with torch.no_grad():
            fake = generator(batch["features"], mel.shape[-1])
        starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.generator_seed)
        real_out = discriminator(mel, starts)
        fake_out = discriminator(fake.detach(), starts)
        loss = sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(real_out, fake_out)) / len(real_out)
        return loss, {"d/loss": loss.detach()}

    def generator_loss(self, batch, generator, discriminator):
        mel = batch["mel"]
        fake = generator(batch["features"], mel.shape[-1])
        rec = F.l1_loss(fake, mel)
        loss = self.lcfg.lambda_mel * rec
        logs = {"g/mel_l1": rec.detach()}
        if discriminator is not None:
            starts = self._unwrap(discriminator).sample_starts(mel.shape[-1], self.generator_seed)
            adv = sum(((f - 1) ** 2).mean() for f in discriminator(fake, starts)) / len(self._unwrap(discriminator).windows)
            loss = loss + self.lcfg.lambda_adv * adv
            logs["g/adv"] = adv.detach()
        logs["g/loss"] = loss.detach()
        return loss, logs

    @torch.no_grad()
    def samples(self, batch, generator):
        mel = batch["mel"][:1]
        fake = generator(batch["features"][:1], mel.shape[-1])
        return {"real": mel[0], "generated": fake[0]}
