"""One checkpoint convention for every avgen model and pipeline.

A **model folder** holds ``config.json`` = ``{"class": <registered name>, "config": {<the model's config
dataclass>}, "avgen_version": ...}`` and ``model.safetensors`` (the state dict). A **pipeline folder** holds
``config.json`` = ``{"class": <pipeline name>, "components": {<name>: <sub-folder>}, "avgen_version": ..., <the
pipeline's own settings>}`` with one model folder per component (like diffusers' ``model_index.json``).

:func:`from_pretrained` looks the class up in :data:`MODELS`, a fixed table of avgen's own classes: it never imports
or instantiates a name taken from the file. Weights load strictly; every bad folder (missing, no or broken
``config.json``, a class outside the table, the wrong kind, bad config keys, sizes that cannot build the model,
missing/unexpected tensors, a shape mismatch) gives one :class:`CheckpointError` naming the file.

Folders written before this convention (``config.json`` with ``task``/``kind`` keys and ``generator.safetensors`` /
``audio_encoder.safetensors``) still load: :func:`read_model_folder` recognises them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile

import torch
import torch.nn as nn

from . import __version__
from .errors import AvgenError, ConfigError
from .models.s2v.sound_inversion import AudioCLIPEncoder, SoundToVideo
from .models.v2s.feature2mel import FeatureToMel
from .models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer
from .models.v2s.varietysound import VarietySound
from .models.vocoders.hifigan import HiFiGANGenerator
from .models.vocoders.melgan import MelGANGenerator
from .typed_config import from_dict, to_dict
from .utils import atomic_write_text, save_safetensors

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "MODELS", "CheckpointError", "load_error_reason", "read_config", "save_pretrained",
           "from_pretrained", "read_model_folder", "model_config", "save_pipeline_config", "read_pipeline_config",
           "load_pipeline_component", "load_weights", "check_state_dict", "read_json_object",
           "load_torch_weights_only"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

# Every class a folder may name. A new model is added here by hand; nothing else is ever instantiated.
MODELS: dict[str, type[nn.Module]] = {
    "VarietySound": VarietySound,
    "FeatureToMel": FeatureToMel,
    "HiFiGANGenerator": HiFiGANGenerator,
    "SoundToVideo": SoundToVideo,
    "AudioCLIPEncoder": AudioCLIPEncoder,
    "SpecVQGANCodebook": SpecVQGANCodebook,
    "SpecVQGANTransformer": SpecVQGANTransformer,
    "MelGANGenerator": MelGANGenerator,
}

# Folders from before this convention: (identity key, value) -> (class, weights file name).
_LEGACY = {
    ("task", "varietysound"): ("VarietySound", "generator.safetensors"),
    ("task", "feature2mel"): ("FeatureToMel", "generator.safetensors"),
    ("task", "vocoder"): ("HiFiGANGenerator", "generator.safetensors"),
    ("kind", "audio_clip_encoder"): ("AudioCLIPEncoder", "audio_encoder.safetensors"),
    ("task", "s2v"): ("SoundToVideo", "s2v.safetensors"),
}


class CheckpointError(AvgenError):
    """A checkpoint folder cannot be used; the message names the file and the reason."""


def read_config(folder: str | os.PathLike) -> dict:
    """``folder/config.json`` as a dict: the one reader of checkpoint-folder configs."""
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: not a folder (a checkpoint is a folder with {CONFIG_NAME})")
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        what = "empty folder" if not os.listdir(folder) else f"no {CONFIG_NAME}"
        raise CheckpointError(f"{folder}: {what} (not an avgen checkpoint)")
    return read_json_object(path)


def read_json_object(path: str | os.PathLike) -> dict:
    """A JSON object from a file (a checkpoint's ``config.json``, or a public release's hyper-parameter file); one
    :class:`CheckpointError` naming the file otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _model_class(name, path: str) -> type[nn.Module]:
    if not isinstance(name, str) or name not in MODELS:
        raise CheckpointError(f"{path}: class {name!r} is not one of avgen's models ({', '.join(MODELS)})")
    return MODELS[name]


def model_config(cls: type[nn.Module], data: dict, path: str):
    """``cls.config_class`` built from ``data``; unknown keys and wrong types name the file."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: 'config' must be a JSON object")
    try:
        return from_dict(cls.config_class, data, prefix="config.")
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def build_model(cls: type[nn.Module], config, folder: str | os.PathLike) -> nn.Module:
    """``cls(config)``; a config whose sizes cannot build the model (an LSTM input of width 0, a kernel of -3) names
    the file instead of surfacing torch's message from deep inside a layer. Sizes torch accepts (a zero-width conv)
    build, and the strict weight load then names the mismatched tensor."""
    try:
        return cls(config)
    except (ValueError, RuntimeError, TypeError) as e:
        path = os.path.join(os.fspath(folder), CONFIG_NAME)
        raise CheckpointError(f"{path}: 'config' does not build a {cls.__name__}: {e}") from None


def _legacy_config(cls: type[nn.Module], cfg: dict, path: str) -> dict:
    """The constructor arguments stored by the old layouts, as the config dataclass's fields."""
    if cls is AudioCLIPEncoder:
        return dict(cfg.get("init_kwargs") or {})
    if cls is SoundToVideo:
        return {k: cfg[k] for k in ("num_ws", "w_dim", "groups", "encoder_width", "rnn_hidden") if k in cfg}
    data = cfg.get("model") or {}
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: 'model' must be a JSON object")
    data = dict(data)
    if cls is VarietySound:  # {"ablate": {"background": "zeros"}} -> ablate_background: zeros
        ablate = data.pop("ablate", None) or {}
        if not isinstance(ablate, dict):
            raise CheckpointError(f"{path}: 'model.ablate' must map encoders to 'zeros'/'noise'")
        for part, mode in ablate.items():
            data[f"ablate_{part}"] = mode
    if cls is FeatureToMel:
        for k in ("feature_dim", "n_mels"):
            if k in cfg and k not in data:
                data[k] = cfg[k]
        for old, new in (("disc_windows", "window_lengths"), ("disc_hidden", "window_hidden")):  # earlier names
            if old in data:
                data[new] = data.pop(old)
    return data


def read_model_folder(folder: str | os.PathLike,
                      expected: type[nn.Module] | None = None) -> tuple[type, object, str, dict]:
    """(class, config dataclass, weights path, the whole config.json) of a model folder, new or old layout."""
    folder = os.fspath(folder)
    cfg = read_config(folder)
    path = os.path.join(folder, CONFIG_NAME)
    if "class" in cfg:
        cls = _model_class(cfg["class"], path)
        weights = os.path.join(folder, WEIGHTS_NAME)
        data = cfg.get("config", {})
    else:
        for (key, value), (name, file) in _LEGACY.items():
            if cfg.get(key) == value:
                cls, weights = MODELS[name], os.path.join(folder, file)
                data = _legacy_config(MODELS[name], cfg, path)
                break
        else:
            raise CheckpointError(f"{path}: no 'class' entry (not an avgen model folder)")
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{path}: a {cls.__name__} checkpoint, not a {expected.__name__} one")
    return cls, model_config(cls, data, path), weights, cfg


def load_error_reason(error: BaseException) -> str:
    """A short reason for a failed torch/safetensors/pickle load. torch's UnpicklingError text advises re-running
    with ``weights_only=False`` (which runs the file's code): that advice is never passed on."""
    text = str(error)
    if "weights_only" in text or "Weights only load failed" in text or isinstance(error, pickle.UnpicklingError):
        return "not a weights-only file: it holds objects beyond tensors and plain containers, and is not loaded"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:160]


def load_weights(module: nn.Module, path: str, *, what: str | None = None) -> nn.Module:
    """Load a safetensors state dict strictly into ``module`` (floating tensors cast to the module's dtypes)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: weights file not found")
    try:
        sd = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({load_error_reason(e)})") from None
    check_state_dict(module, sd, path, what=what or type(module).__name__)
    module.load_state_dict(sd, strict=True)
    return module


def check_state_dict(module: nn.Module, sd: dict, path: str, *, what: str) -> None:
    """Refuse a state dict read from ``path`` unless it fits ``module`` (described as ``what``) exactly: the same
    tensor names, the same shapes, finite floating values. One :class:`CheckpointError` naming the file."""
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        def few(keys):
            return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")

        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) ({few(missing)})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s) ({few(unexpected)})")
        raise CheckpointError(f"{path}: does not match {what}: {'; '.join(parts)}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path}: {k} has shape {tuple(v.shape)}, {what} expects {tuple(own[k].shape)}")
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: {k} is not a finite tensor (holds non-finite values)")


def save_pretrained(module: nn.Module, folder: str | os.PathLike, *, dtype: torch.dtype | None = None,
                    extra: dict | None = None) -> str:
    """Write ``module`` (a class in :data:`MODELS`) as a model folder; ``dtype`` (e.g. ``torch.float16``) stores
    floating tensors in that type. ``extra``: more top-level entries for ``config.json`` (never read back as code)."""
    name = next((n for n, c in MODELS.items() if type(module) is c), None)
    if name is None:
        raise CheckpointError(f"save_pretrained: {type(module).__name__} is not one of avgen's models "
                              f"({', '.join(MODELS)})")
    folder = os.fspath(folder)
    sd = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
          for k, v in module.state_dict().items()}
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{folder}: refusing to write non-finite weights ({', '.join(bad[:3])})")
    save_safetensors(sd, os.path.join(folder, WEIGHTS_NAME))
    cfg = {"class": name, "config": to_dict(module.config), "avgen_version": __version__, **(extra or {})}
    atomic_write_text(os.path.join(folder, CONFIG_NAME), json.dumps(cfg, indent=2) + "\n")
    return folder


def from_pretrained(folder: str | os.PathLike, *, expected: type[nn.Module] | None = None,
                    device: torch.device | str | None = None) -> nn.Module:
    """Build the model a folder describes and load its weights strictly; eval mode, gradients off."""
    cls, config, weights, _ = read_model_folder(folder, expected)
    module = build_model(cls, config, folder)
    load_weights(module, weights, what=cls.__name__)
    module = module.eval().requires_grad_(False)
    return module.to(device) if device is not None else module


def save_pipeline_config(folder: str | os.PathLike, pipeline_class: str, components: dict[str, str],
                         settings: dict) -> str:
    """A pipeline folder's ``config.json``: its class, its components' sub-folders and its own settings."""
    cfg = {"class": pipeline_class, "components": dict(components), "avgen_version": __version__}
    clash = set(settings) & set(cfg)
    if clash:
        raise CheckpointError(f"pipeline settings may not use the reserved key(s) {', '.join(sorted(clash))}")
    cfg.update(settings)
    atomic_write_text(os.path.join(os.fspath(folder), CONFIG_NAME), json.dumps(cfg, indent=2) + "\n")
    return os.fspath(folder)


def load_pipeline_component(folder: str | os.PathLike, pipeline_class: str, component: str,
                            expected: type[nn.Module], *, legacy_task: str) -> tuple[nn.Module, dict]:
    """(the ``component`` model, the pipeline's settings) of a pipeline folder, or of a folder of the earlier
    single-folder layout (``config.json`` with ``task: <legacy_task>`` beside the weights)."""
    folder = os.fspath(folder)
    cfg = read_config(folder)
    if cfg.get("class") == pipeline_class:
        cfg = read_pipeline_config(folder, pipeline_class)
        if component not in cfg["components"]:
            raise CheckpointError(f"{os.path.join(folder, CONFIG_NAME)}: no {component!r} component")
        model = from_pretrained(os.path.join(folder, cfg["components"][component]), expected=expected)
    elif "class" not in cfg and cfg.get("task") == legacy_task:
        model = from_pretrained(folder, expected=expected)
    else:
        raise CheckpointError(f"{folder}: a {cfg.get('class') or cfg.get('task')!r} checkpoint, not a "
                              f"{pipeline_class} folder")
    reserved = ("class", "components", "avgen_version")
    return model, {k: v for k, v in cfg.items() if k not in reserved}


def read_pipeline_config(folder: str | os.PathLike, pipeline_class: str) -> dict:
    """A pipeline folder's ``config.json`` after checking its class and that every component folder exists."""
    folder = os.fspath(folder)
    cfg = read_config(folder)
    path = os.path.join(folder, CONFIG_NAME)
    if cfg.get("class") != pipeline_class:
        raise CheckpointError(f"{path}: a {cfg.get('class', 'non-pipeline')!r} folder, not a {pipeline_class}")
    components = cfg.get("components")
    if not isinstance(components, dict):
        raise CheckpointError(f"{path}: 'components' must map names to sub-folders")
    for name, sub in components.items():
        if not isinstance(sub, str) or os.path.isabs(sub) or ".." in sub.replace("\\", "/").split("/"):
            raise CheckpointError(f"{path}: component {name!r} must be a sub-folder name, got {sub!r}")
        if not os.path.isdir(os.path.join(folder, sub)):
            raise CheckpointError(f"{path}: component {name!r}: folder {sub!r} not found")
    return cfg



def _torch_load_reason(error: BaseException) -> str:
    """Why torch's weights-only unpickler gave up, in a few words (the refused global's name when it says one)."""
    if isinstance(error, EOFError):
        return "empty or truncated file"
    text = str(error)
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:
        return f"it references {named.group(1)}, beyond tensors and plain containers; nothing was run"
    if "Unsupported operand" in text:
        return "not pickle data a torch checkpoint could hold (truncated or not a checkpoint)"
    return load_error_reason(error)


def load_torch_weights_only(path: str | os.PathLike, *, allowed: dict[str, type] | None = None,
                            holds: str = "tensors and plain containers",
                            passthrough: tuple[type[BaseException], ...] = ()) -> object:
    """A foreign ``torch.save`` file (a public release's ``.ckpt``/``.pt``) read without running anything from it.

    A zip-format file's globals are listed first without unpickling
    (``torch.serialization.get_unsafe_globals_in_checkpoint``); any beyond torch's weights-only set and the names in
    ``allowed`` refuses it. It is then read with ``torch.load(weights_only=True)`` (memory-mapped, so optimizer
    states a file carries are not read into memory), each name in ``allowed`` bound to its class there; legacy
    (non-zip) files rely on the weights-only unpickler alone. ``holds`` says what such a file may contain (for the
    message); exceptions of the ``passthrough`` types (raised by an ``allowed`` stand-in) reach the caller as they
    are. Every other problem is one :class:`CheckpointError` naming the file."""
    path = os.fspath(path)
    allowed = dict(allowed or {})
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: file not found")
    zipped = zipfile.is_zipfile(path)
    if zipped:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception as e:  # a broken archive
            raise CheckpointError(f"{path}: not a readable PyTorch file ({load_error_reason(e)})") from None
        foreign = sorted(n for n in names if n not in allowed)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise CheckpointError(f"{path}: refused: it references {shown}; avgen reads {holds} only, and never "
                                  "runs a file's code")
    try:
        with torch.serialization.safe_globals([(cls, name) for name, cls in allowed.items()]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except passthrough:
        raise
    except Exception as e:  # refused globals (legacy format), truncated or foreign files
        raise CheckpointError(f"{path}: refused or unreadable as a weights-only PyTorch file "
                              f"({_torch_load_reason(e)})") from None
