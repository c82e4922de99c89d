"""Saving and loading the audio encoder that maps mels into a CLIP space (``avgen.models.s2v.sound_inversion.AudioCLIPEncoder``):
a folder with ``config.json`` (constructor arguments, mel preset) and ``audio_encoder.safetensors``."""

from __future__ import annotations

import json
import os

import torch

from ..models.s2v.sound_inversion import AudioCLIPEncoder
from ..utils import atomic_write_text, read_folder_config

__all__ = ["save_audio_encoder", "load_audio_encoder"]


def save_audio_encoder(encoder: AudioCLIPEncoder, folder: str, *, preset: str = "clip128", extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "audio_encoder.safetensors")
    save_file({k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}, path + ".tmp")
    os.replace(path + ".tmp", path)
    cfg = {"kind": "audio_clip_encoder", "init_kwargs": encoder.init_kwargs, "mel_preset": preset, **(extra or {})}
    atomic_write_text(os.path.join(folder, "config.json"), json.dumps(cfg, indent=2))


def load_audio_encoder(folder: str, device: str | torch.device = "cpu") -> tuple[AudioCLIPEncoder, dict]:
    """(frozen encoder in eval mode, its config)."""
    from safetensors.torch import load_file

    cfg = read_folder_config(folder, "kind", "audio_clip_encoder", "saved audio encoder")
    kw = dict(cfg["init_kwargs"])
    kw["blocks"] = tuple(kw.get("blocks", (2, 2, 2, 2)))
    enc = AudioCLIPEncoder(**kw)
    enc.load_state_dict(load_file(os.path.join(folder, "audio_encoder.safetensors")))
    return enc.eval().requires_grad_(False).to(device), cfg
