"""The :class:`Task` interface: a task plugs a head into the shared engine (:mod:`avgen.train.engine`).

A task builds the generator (and optionally a discriminator) and computes the per-phase losses; it owns no optimizer,
EMA, precision or checkpoint logic (the engine does). The optional hooks below have defaults, so a task overrides only
what it needs; the engine calls every hook unconditionally.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from ...errors import AvgenError, ConfigError
from ...typed_config import from_dict
from ..samples import log_mel_samples

if TYPE_CHECKING:  # annotations only: config.py imports the task registry to validate a loaded config
    from ..config import TrainConfig

__all__ = ["Task"]


class Task:
    """Interface. ``batch`` is what the data loader yields (already on the right device).

    ``feature_dim``, ``n_mels`` and ``mel_preset`` describe the training data (:class:`avgen.train.engine.DatasetInfo`);
    ``mel_preset`` is ``None`` for data without mels (images).
    """

    name = "task"  # the key of the task in avgen.train.tasks.TASKS
    model_config: type | None = None  # dataclass of the ``model:`` section (the model's own config where it has one)
    pipeline_class: str | None = None  # default export: a pipeline folder of this class around the generator
    loss_config: type | None = None  # dataclass of the ``loss:`` section

    def __init__(self, cfg: TrainConfig, *, feature_dim: int, n_mels: int, mel_preset: str | None = None):
        self.cfg = cfg
        self.feature_dim, self.n_mels = feature_dim, n_mels
        self.mel_preset = mel_preset
        self.mcfg = self._model_config(cfg, feature_dim, n_mels) if self.model_config else None
        self.lcfg = from_dict(self.loss_config, cfg.loss, prefix="loss.") if self.loss_config else None
        self.rng = torch.Generator().manual_seed(cfg.seed + 1)  # the task's own randomness (crops, R, windows)

    def _model_config(self, cfg: TrainConfig, feature_dim: int, n_mels: int):
        """The ``model:`` section as the model's config dataclass, with ``feature_dim`` / ``n_mels`` (where the
        dataclass has them) taken from the training data; a different value set in the YAML is an error."""
        m = from_dict(self.model_config, cfg.model, prefix="model.")
        data = {"feature_dim": feature_dim, "n_mels": n_mels}
        fill = {}
        for f in dataclasses.fields(m):
            if f.name in data and data[f.name]:
                if f.name in cfg.model and cfg.model[f.name] != data[f.name]:
                    raise ConfigError(f"model.{f.name}: {cfg.model[f.name]} given, but the data has {data[f.name]}")
                fill[f.name] = data[f.name]
        return dataclasses.replace(m, **fill)

    @classmethod
    def validate(cls, cfg: TrainConfig) -> None:
        """Check the task-specific ``model``/``loss`` sections before any data is touched."""
        if cls.model_config:
            from_dict(cls.model_config, cfg.model, prefix="model.")
        if cls.loss_config:
            from_dict(cls.loss_config, cfg.loss, prefix="loss.")

    # -- required ----------------------------------------------------------------------------------------------------

    def build_generator(self) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self) -> nn.Module | None:
        """``None``: the engine skips the discriminator phase."""
        return None

    def discriminator_loss(self, batch, generator, discriminator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def generator_loss(self, batch, generator, discriminator) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    @torch.no_grad()
    def samples(self, batch, generator) -> dict[str, torch.Tensor]:
        """Mels to log as pictures/audio by the default :meth:`log_media`: name -> ``[n_mels, T]``."""
        return {}

    # -- optional hooks (the engine calls each one; the defaults are the generic behaviour) --------------------------

    def initial_weights(self, spec: str, generator: nn.Module) -> dict[str, torch.Tensor]:
        """The state dict that ``init_from: spec`` starts a fresh run from, checked against ``generator`` (names,
        shapes, finite values). Default: ``spec`` is a model folder (``save_pretrained`` / a run's ``final/``)."""
        import os

        from ...checkpoints import check_state_dict, from_pretrained

        if not os.path.isdir(spec):
            raise ConfigError(f"init_from: {spec}: not a model folder")
        try:
            sd = from_pretrained(spec).state_dict()
            check_state_dict(generator, sd, spec, what=f"the {self.name} generator this config builds")
        except AvgenError as e:  # say which setting pointed at the bad folder
            raise ConfigError(f"init_from: {e}") from None
        return sd

    def no_weight_decay(self, generator: nn.Module) -> set[str]:
        """Names of the generator's parameters that AdamW must not decay (their own group, weight decay 0).
        Default: none (every parameter takes ``optim_g.weight_decay``)."""
        return set()

    def attach_dataset(self, dataset) -> None:
        """Called once with the training dataset, before the models are built, for tasks that measure against the
        training data (e.g. a FID-like score). Default: nothing."""

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Quality scores of ``model`` (the EMA generator when enabled) at step 0 and every ``sample_every`` steps;
        the engine logs them to TensorBoard and appends them to ``run_dir/metrics.jsonl``. Default: ``{}``, and an
        empty result writes nothing (no ``metrics.jsonl``)."""
        return {}

    def log_media(self, writer, batch, model: nn.Module, step: int) -> None:
        """Every ``sample_every`` steps, draw pictures/audio of ``model`` on ``batch`` into the TensorBoard ``writer``.
        Default: each mel of :meth:`samples` as ``mel/<name>`` (with the model in eval mode), plus Griffin-Lim
        ``audio/<name>`` when ``mel_preset`` names a preset with that many mel bands."""
        was_training = model.training
        model.eval()
        try:
            log_mel_samples(writer, self.samples(batch, model), step, self.mel_preset)
        finally:
            model.train(was_training)

    def export(self, folder: str, generator: nn.Module, discriminator: nn.Module | None) -> bool:
        """At the end of training, write the release into ``folder`` (``run_dir/final``) in the task's own format and
        return True. Default: write nothing and return False, and the engine writes its generic export through
        :mod:`avgen.checkpoints`: the generator's model folder (with the task name and the data settings inference
        needs in ``config.json``), or, when :attr:`pipeline_class` is set, a pipeline folder of that class with the
        generator in ``generator/``."""
        return False
