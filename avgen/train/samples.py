"""Mel spectrograms as TensorBoard pictures and Griffin-Lim audio (the default media of :meth:`Task.log_media`)."""

from __future__ import annotations

import numpy as np
import torch

from ..audio import PRESETS, mel_to_waveform

__all__ = ["mel_picture", "log_mel_samples"]


def mel_picture(mel: torch.Tensor) -> np.ndarray:
    """[M, T] in [0, 1] -> HWC uint8 picture, low frequencies at the bottom, a perceptual dark-to-bright map."""
    anchors = np.array([[0, 0, 4], [80, 18, 123], [183, 55, 121], [252, 137, 97], [252, 253, 191]], np.float32)
    x = mel.detach().float().clamp(0, 1).cpu().numpy()[::-1]
    pos = x * (len(anchors) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(anchors) - 2)
    frac = (pos - lo)[..., None]
    return (anchors[lo] * (1 - frac) + anchors[lo + 1] * frac).astype(np.uint8)


def log_mel_samples(writer, mels: dict[str, torch.Tensor], step: int, mel_preset: str | None) -> None:
    """Each ``name -> [n_mels, T]`` mel as ``mel/<name>``; also as ``audio/<name>`` (32 Griffin-Lim iterations) when
    ``mel_preset`` names a preset with that many mel bands."""
    for name, mel in mels.items():
        writer.add_image(f"mel/{name}", mel_picture(mel), step, dataformats="HWC")
        if mel_preset in PRESETS and mel.shape[0] == PRESETS[mel_preset].n_mels:
            wav = mel_to_waveform(mel.float().cpu(), mel_preset, n_iter=32, generator=torch.Generator().manual_seed(0))
            writer.add_audio(f"audio/{name}", wav, step, sample_rate=PRESETS[mel_preset].sample_rate)
