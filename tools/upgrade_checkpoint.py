"""Rewrite a checkpoint folder of the earlier layouts into avgen's one convention (see avgen/checkpoints.py), in place.

    python tools/upgrade_checkpoint.py FOLDER [FOLDER ...]

Earlier layouts: a VarietySound run's ``final/`` (``config.json`` with ``task: varietysound`` +
``generator.safetensors``), a vocoder's (``task: vocoder``), a sound-to-video model's (``task: s2v`` +
``s2v.safetensors``) and an audio encoder's (``kind: audio_clip_encoder`` + ``audio_encoder.safetensors``). The
weight files are moved, not rewritten, so their bytes (and every output) stay identical; folders already in the
current layout are left alone. Both layouts load, so upgrading is optional; it makes a folder self-describing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from avgen import __version__
from avgen.checkpoints import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, read_config, read_model_folder
from avgen.typed_config import to_dict
from avgen.utils import atomic_write_text

# config.json entries of the earlier layouts that are folded into the model's config
_MODEL_KEYS = {"VarietySound": ("task", "model", "feature_dim", "n_mels"),
               "HiFiGANGenerator": ("task", "model", "feature_dim", "n_mels"),
               "FeatureToMel": ("task", "model", "feature_dim", "n_mels"),
               "SoundToVideo": ("task", "num_ws", "w_dim", "groups", "encoder_width", "rnn_hidden"),
               "AudioCLIPEncoder": ("kind", "init_kwargs")}


def _write_json(path: str, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _model_folder(src: str, dst: str, cls, config, weights: str, extra: dict) -> None:
    """``dst``: config.json + model.safetensors (moved from ``weights``)."""
    os.makedirs(dst, exist_ok=True)
    os.replace(weights, os.path.join(dst, WEIGHTS_NAME))
    _write_json(os.path.join(dst, CONFIG_NAME), {"class": cls.__name__, "config": to_dict(config),
                                                 "avgen_version": __version__, **extra})


def upgrade(folder: str) -> str:
    """Upgrade one folder; returns what was done."""
    cfg = read_config(folder)
    if "class" in cfg:
        return "already current"
    cls, config, weights, _ = read_model_folder(folder)
    rest = {k: v for k, v in cfg.items() if k not in _MODEL_KEYS[cls.__name__]}
    if cls.__name__ == "VarietySound":  # a pipeline: settings at the top, the generator in its own folder
        _model_folder(folder, os.path.join(folder, "generator"), cls, config, weights, {})
        _write_json(os.path.join(folder, CONFIG_NAME), {"class": "VideoToSoundPipeline",
                                                         "components": {"generator": "generator"},
                                                         "avgen_version": __version__, "task": "varietysound",
                                                         **rest})
        return "VideoToSoundPipeline (generator/)"
    if cls.__name__ == "SoundToVideo":
        _model_folder(folder, os.path.join(folder, "s2v"), cls, config, weights, {})
        _write_json(os.path.join(folder, CONFIG_NAME), {"class": "SoundToVideoPipeline",
                                                         "components": {"model": "s2v"},
                                                         "avgen_version": __version__, "task": "s2v", **rest})
        enc = rest.get("audio_encoder")
        if enc and not os.path.isabs(enc) and os.path.isdir(os.path.join(folder, enc)):
            upgrade(os.path.join(folder, enc))
        return "SoundToVideoPipeline (s2v/)"
    _model_folder(folder, folder, cls, config, weights, rest)
    return cls.__name__


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/upgrade_checkpoint.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="checkpoint folders in an earlier layout (rewritten in place)")
    args = ap.parse_args(argv)
    failed = 0
    for folder in args.folders:
        try:
            print(f"{folder}: {upgrade(folder)}")
        except CheckpointError as e:
            print(f"upgrade_checkpoint: error: {e}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
