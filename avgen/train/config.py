"""Typed training configuration: YAML files validated against dataclasses, with ``key=value`` overrides.

Unknown keys, wrong types and bad values are errors that name the key; nothing is silently dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ..errors import ConfigError
from ..typed_config import from_dict, to_dict
from .tasks import get_task

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "load_config", "apply_overrides", "from_dict", "to_dict"]


def _check(ok: bool, key: str, need: str, value) -> None:
    """Refuse a bad value before any work starts (from_dict adds the section prefix, e.g. ``data.``)."""
    if not ok:
        raise ValueError(f"{key}: must be {need}, got {value!r}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass
class DataConfig:
    kind: Literal["prepared", "specvqgan", "audio", "images", "sound_video"] = "prepared"
    # prepare cache folder (or a list of them, trained on as one dataset), SpecVQGAN root, (audio) a folder /
    # manifest of audio or video files, (images) an image folder
    path: str | list[str] = ""
    segment_seconds: float | None = 2.0  # random aligned crop length (prepared caches; audio: excerpt length)
    batch_size: int = 8  # per process
    num_workers: int = 0
    feature_dir: str = "feature_resnet50_dim2048_21.5fps"  # specvqgan layout only
    mel_dir: str = "melspec_10s_22050hz"
    split: str | None = None
    resolution: int = 64  # images / sound_video: centre-crop and resize to this power of two
    xflip: bool = False  # images only: add mirrored copies
    num_frames: int = 8  # sound_video: frames per training window
    fps: float = 8.0  # sound_video: frame rate the videos are sampled at
    audio_window: float = 1.0  # sound_video: seconds of audio per frame (centred on it)

    def __post_init__(self):
        _check(isinstance(self.path, str) or (self.kind == "prepared" and len(self.path) > 0), "path",
               "one folder (a list of folders is for kind: prepared)", self.path)
        _check(self.batch_size >= 1, "batch_size", "at least 1", self.batch_size)
        _check(self.num_workers >= 0, "num_workers", "0 or more", self.num_workers)
        _check(self.segment_seconds is None or (_finite(self.segment_seconds) and self.segment_seconds > 0),
               "segment_seconds", "a positive number of seconds (or null)", self.segment_seconds)
        _check(self.resolution >= 1, "resolution", "at least 1", self.resolution)
        _check(self.num_frames >= 1, "num_frames", "at least 1", self.num_frames)
        _check(_finite(self.fps) and self.fps > 0, "fps", "a positive frame rate", self.fps)
        _check(_finite(self.audio_window) and self.audio_window > 0, "audio_window", "a positive number of seconds",
               self.audio_window)


@dataclass
class OptimConfig:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 0.0

    def __post_init__(self):
        _check(_finite(self.lr) and self.lr >= 0, "lr", "a finite learning rate >= 0", self.lr)
        _check(all(_finite(b) and 0 <= b < 1 for b in self.betas), "betas", "two numbers in [0, 1)", list(self.betas))
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a finite number >= 0",
               self.weight_decay)


@dataclass
class TrainConfig:
    task: str = "feature2mel"
    run_dir: str = "runs/default"
    seed: int = 0
    max_steps: int = 10000
    grad_accum: int = 1
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    grad_clip: float | None = 1.0  # max global grad norm per optimizer; None disables
    ema_decay: float | None = 0.999  # EMA of generator weights; None disables
    ckpt_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    sample_every: int = 500
    data: DataConfig = field(default_factory=DataConfig)
    optim_g: OptimConfig = field(default_factory=OptimConfig)
    optim_d: OptimConfig = field(default_factory=OptimConfig)
    # weights that start a fresh run (ignored when the run resumes): a model folder of the task's generator, or a
    # name the task knows (task: vocoder: hifigan-universal)
    init_from: str | None = None
    model: dict[str, Any] = field(default_factory=dict)  # task-specific, validated by the task
    loss: dict[str, Any] = field(default_factory=dict)  # task-specific, validated by the task

    def __post_init__(self):
        for key in ("max_steps", "grad_accum", "ckpt_every", "keep_checkpoints", "log_every", "sample_every"):
            _check(getattr(self, key) >= 1, key, "at least 1", getattr(self, key))
        _check(self.grad_clip is None or (_finite(self.grad_clip) and self.grad_clip > 0), "grad_clip",
               "a positive norm (or null)", self.grad_clip)
        _check(self.ema_decay is None or (_finite(self.ema_decay) and 0 <= self.ema_decay < 1), "ema_decay",
               "in [0, 1) (or null)", self.ema_decay)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (value parsed as YAML) to a nested dict."""
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override '{item}': cannot parse value ({e})") from None
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            child = node.get(p)
            child = dict(child) if isinstance(child, dict) else {}
            node[p] = child
            node = child
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> TrainConfig:
    data: dict = {}
    if path is not None:
        p = os.fspath(path)
        if not os.path.exists(p):
            raise ConfigError(f"{p}: config file not found")
        with open(p) as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{p}: invalid YAML ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
    data = apply_overrides(data, list(overrides))
    cfg = from_dict(TrainConfig, data)
    get_task(cfg.task).validate(cfg)  # the task checks its own model/loss sections
    return cfg
