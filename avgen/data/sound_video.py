"""Videos with sound for the sound-to-video head.

Layouts: the Landscape dataset's ``root/<class>/<clip>.mp4`` (label = class folder name, underscores as spaces) or any
folder of videos with an audio track (label = parent folder name, or None for files directly under ``root``).
An item is a random window of ``num_frames`` frames at ``fps``:
``{"frames": [T, 3, R, R] in [-1, 1], "mels": [T, n_mels, L], "label": str | None, "id": str}`` where ``mels[t]`` is the
``clip128`` mel of the ``audio_window`` seconds centred on frame t (zero audio beyond the clip's ends).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..audio import CLIP_MEL_PRESET, segment_mels
from ..errors import ConfigError
from ..media import VIDEO_EXTENSIONS, read_audio, read_video
from .images import square_crop_resize

__all__ = ["SoundVideoDataset", "list_sound_videos"]



def list_sound_videos(root: str) -> list[tuple[str, str | None]]:
    """(relative path, label) for every video under ``root``, sorted."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.lower().endswith(VIDEO_EXTENSIONS):
                rel = os.path.relpath(os.path.join(d, f), root)
                parent = os.path.dirname(rel)
                out.append((rel, os.path.basename(parent).replace("_", " ") if parent else None))
    return sorted(out)


class SoundVideoDataset(torch.utils.data.Dataset):
    """See the module docstring. ``files`` restricts to a list of relative paths (train/held-out splits);
    decoded clips are kept in memory when ``cache`` (small datasets)."""

    def __init__(self, root: str, *, resolution: int, num_frames: int, fps: float = 8.0, audio_window: float = 1.0,
                 files: list[str] | None = None, generator: torch.Generator | None = None, cache: bool = True,
                 preset: str = CLIP_MEL_PRESET):
        if not os.path.isdir(root):
            raise ConfigError(f"data.path: '{root}' is not a folder of videos")
        entries = list_sound_videos(root)
        if files is not None:
            wanted = set(files)
            entries = [e for e in entries if e[0] in wanted]
        if not entries:
            raise ConfigError(f"data.path: no videos ({', '.join(VIDEO_EXTENSIONS)}) under '{root}'")
        self.root, self.entries = root, entries
        self.resolution, self.num_frames, self.fps = resolution, num_frames, fps
        self.audio_window, self.preset = audio_window, preset
        self.generator = generator or torch.Generator().manual_seed(0)
        self.cache = cache
        self._clips: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def _decode(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        if i in self._clips:
            return self._clips[i]

        path = os.path.join(self.root, self.entries[i][0])
        frames, _ = read_video(path, fps=self.fps, size=self.resolution)
        frames = np.stack([square_crop_resize(f, self.resolution) for f in frames])
        wav, sr = read_audio(path, mono=True)
        clip = (frames, np.asarray(wav).reshape(-1), sr)
        if self.cache:
            self._clips[i] = clip
        return clip

    def labels(self) -> list[str | None]:
        return [label for _, label in self.entries]

    def __getitem__(self, i: int) -> dict:
        frames, wav, sr = self._decode(i)
        t = self.num_frames
        if len(frames) < t:  # short clip: repeat the last frame
            frames = np.concatenate([frames, np.repeat(frames[-1:], t - len(frames), axis=0)])
        start = int(torch.randint(0, len(frames) - t + 1, [], generator=self.generator))
        times = (start + np.arange(t)) / self.fps
        video = torch.from_numpy(frames[start:start + t]).permute(0, 3, 1, 2).float() / 127.5 - 1
        return {"frames": video, "mels": segment_mels(wav, sr, times, self.audio_window, self.preset),
                "label": self.entries[i][1], "id": self.entries[i][0]}
