"""Saving and loading the audio encoder that maps mels into a CLIP space
(:class:`avgen.models.s2v.sound_inversion.AudioCLIPEncoder`): a model folder of :mod:`avgen.checkpoints` whose
``config.json`` also records the mel preset it reads and the CLIP teacher it was trained against."""

from __future__ import annotations

import os

import torch

from ..audio import CLIP_MEL_PRESET
from ..checkpoints import build_model, load_weights, read_model_folder, save_pretrained
from ..models.s2v.sound_inversion import AudioCLIPEncoder

__all__ = ["save_audio_encoder", "load_audio_encoder"]


def save_audio_encoder(encoder: AudioCLIPEncoder, folder: str, *, preset: str = CLIP_MEL_PRESET,
                       extra: dict | None = None) -> None:
    save_pretrained(encoder, folder, extra={"mel_preset": preset, **(extra or {})})


def load_audio_encoder(folder: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[AudioCLIPEncoder, dict]:
    """(frozen encoder in eval mode, its config.json) -- the current layout or the earlier ``kind:
    audio_clip_encoder`` one."""
    cls, config, weights, cfg = read_model_folder(folder, expected=AudioCLIPEncoder)
    enc = build_model(cls, config, folder)
    enc = load_weights(enc, weights, what="AudioCLIPEncoder")
    return enc.eval().requires_grad_(False).to(device), cfg
