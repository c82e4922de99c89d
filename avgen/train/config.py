"""Typed training configuration: YAML files validated against dataclasses, with ``key=value`` overrides.

Unknown keys, wrong types and bad values are errors that name the key; nothing is silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ..errors import ConfigError
from ..typed_config import from_dict, to_dict
from .tasks import get_task

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "load_config", "apply_overrides", "from_dict", "to_dict"]


@dataclass
class DataConfig:
    kind: Literal["prepared", "specvqgan", "audio", "images", "sound_video"] = "prepared"
    path: str = ""  # prepare cache folder, SpecVQGAN root, (audio) a folder / manifest of audio or video files, (images) an image folder
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


@dataclass
class OptimConfig:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 0.0


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
    model: dict[str, Any] = field(default_factory=dict)  # task-specific, validated by the task
    loss: dict[str, Any] = field(default_factory=dict)  # task-specific, validated by the task


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
