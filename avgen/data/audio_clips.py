"""Waveform segments for vocoder training: random fixed-length excerpts of audio files (or videos' audio tracks)."""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from ..audio import SPECVQGAN_MEL_PRESET, get_preset
from ..errors import AvgenError
from ..media import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, read_audio
from .manifest import read_manifest

__all__ = ["AudioSegmentDataset"]


class AudioSegmentDataset(Dataset):
    """Items ``{"id", "audio": [segment_samples]}``, mono at ``preset.sample_rate``, from a folder (recursive) or a
    CSV/JSONL manifest of audio or video files. Each access decodes the file and cuts a random excerpt
    (``generator``-driven); shorter files are zero-padded at the end."""

    def __init__(self, source: str | os.PathLike, *, segment_seconds: float = 0.372, preset: str = SPECVQGAN_MEL_PRESET,
                 generator: torch.Generator | None = None):

        self.preset = get_preset(preset)
        hop = self.preset.hop_length
        self.segment = max(hop, round(segment_seconds * self.preset.sample_rate) // hop * hop)  # whole mel frames
        self.items = read_manifest(source, extensions=AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)
        if not self.items:
            raise AvgenError(f"{source}: no audio or video files")
        self.generator = generator
        self.n_mels = self.preset.n_mels
        self.settings = {"mel": self.preset.to_dict()}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        wav = read_audio(item.path, sample_rate=self.preset.sample_rate)[0][0]
        if len(wav) > self.segment:
            start = int(torch.randint(0, len(wav) - self.segment + 1, (), generator=self.generator))
            wav = wav[start:start + self.segment]
        else:
            wav = np.pad(wav, (0, self.segment - len(wav)))
        return {"id": item.id, "audio": torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))}
