"""Typed training configuration: YAML files validated against dataclasses, with ``key=value`` overrides.

Unknown keys, wrong types and bad values are errors that name the key; nothing is silently dropped.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ..errors import ConfigError

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


def _coerce(value, tp, key: str):
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: any length
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp}")


def from_dict(cls, data: dict, *, prefix: str = ""):
    """Build dataclass ``cls`` from a mapping; unknown keys are errors."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + k for k in unknown)} "
                          f"(valid under '{prefix or '<top>'}': {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj) -> dict:
    out = dataclasses.asdict(obj)

    def fix(v):
        if isinstance(v, tuple):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return fix(out)


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
    from .tasks import get_task  # the task checks its own model/loss sections

    get_task(cfg.task).validate(cfg)
    return cfg
