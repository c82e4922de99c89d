"""Training dataset over an ``avgen prepare`` cache, with time-aligned random crops of mel and features."""

from __future__ import annotations

import json
import os

import torch
from torch.utils.data import Dataset

from ..encoders.motion import motion_dim
from ..errors import AvgenError
from ..utils import require_finite

__all__ = ["PreparedDataset", "SHARED_SETTINGS"]


# the settings every cache of one dataset must share: the inputs a model trained on them expects
SHARED_SETTINGS = ("fps", "clip_seconds", "mel", "visual", "motion")


class PreparedDataset(Dataset):
    """Items: ``{"id", "label", "features": [T_vis, D], "mel": [n_mels, T_mel]}`` from a prepare cache, plus
    ``"motion": [T_vis, 32]`` (``[T_vis, 64]`` for ``pixel-flow-local``; :mod:`avgen.encoders.motion`) when the
    cache has it (:attr:`has_motion`, :attr:`motion_dim`; caches
    made before pixel motion do not).

    Args:
        cache_dir: the ``avgen prepare`` output folder, or a list of them (one dataset of all their items, in order;
            they must agree on frame rate, mel, visual features and pixel motion: :data:`SHARED_SETTINGS`).
        segment_seconds: crop a random (``generator``-driven) window of this length, the same span of time in
            both streams; clips shorter than the window are edge-padded. None returns whole clips.
        random_crop: False takes the window from the start (deterministic evaluation).
    """

    def __init__(self, cache_dir: str | os.PathLike | list, *, segment_seconds: float | None = None,
                 random_crop: bool = True, generator: torch.Generator | None = None):
        dirs = list(cache_dir) if isinstance(cache_dir, (list, tuple)) else [cache_dir]
        if not dirs:
            raise AvgenError("no prepare cache given (an empty list of folders)")
        self.roots = [os.fspath(d) for d in dirs]
        self.root = self.roots[0]
        self.records = []  # each record's "root" names its cache
        for root in self.roots:
            index = os.path.join(root, "index.jsonl")
            if not os.path.exists(index):
                raise AvgenError(f"{root}: not an avgen prepare cache (no index.jsonl); run `avgen prepare` first")
            with open(index) as f:
                records = [json.loads(line) | {"root": root} for line in f if line.strip()]
            if not records:
                raise AvgenError(f"{root}: the cache holds no items")
            with open(os.path.join(root, "settings.json")) as f:
                settings = json.load(f)
            if root == self.root:
                self.settings = settings
            for key in SHARED_SETTINGS:  # a model cannot train on two kinds of input at once
                if settings.get(key) != self.settings.get(key):
                    raise AvgenError(f"{root}: its {key} settings differ from those of {self.root}; caches trained "
                                     "on together must be made with the same avgen prepare options")
            self.records += records
        self.fps = float(self.settings["fps"])
        mel = self.settings["mel"]
        self.mel_fps = mel["sample_rate"] / mel["hop_length"]
        self.feature_dim = int(self.settings["visual"]["feature_dim"])
        self.n_mels = int(mel["n_mels"])
        self.has_motion = "motion" in self.settings  # every item of such a cache holds a motion tensor
        # its width: 32, or 64 for a kind with velocities (avgen.encoders.motion.motion_dim)
        self.motion_dim = motion_dim(self.settings["motion"].get("name", "pixel-grid")) if self.has_motion else 0
        self.segment_seconds = segment_seconds
        self.random_crop = random_crop
        self.generator = generator

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        from safetensors.torch import load_file

        rec = self.records[index]
        path = os.path.join(rec["root"], rec["file"])
        try:
            tensors = load_file(path)
        except Exception as e:  # SafetensorError, OSError: a damaged item is named, not a traceback mid-epoch
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise AvgenError(f"{path}: not a readable cache item ({reason}); delete it and rerun `avgen prepare` "
                             "to make it again") from None
        wanted = ("features", "mel", "motion") if self.has_motion else ("features", "mel")
        missing = [k for k in wanted if k not in tensors]
        if missing:
            raise AvgenError(f"{path}: cache item without {', '.join(missing)}")
        for name in wanted:  # a NaN here would make every later loss and exported weight NaN
            require_finite(tensors[name], f"{path} ({name})", unit="mel frame" if name == "mel" else "frame")
        feats, mel = tensors["features"].float(), tensors["mel"].float()
        motion = tensors["motion"].float() if self.has_motion else None
        if self.segment_seconds is not None:
            n_vis = round(self.segment_seconds * self.fps)
            n_mel = round(self.segment_seconds * self.mel_fps)
            span = max(0.0, feats.shape[0] / self.fps - self.segment_seconds)
            start = 0.0
            if self.random_crop and span > 0:
                start = float(torch.rand((), generator=self.generator)) * span
            feats = _window(feats, round(start * self.fps), n_vis, axis=0)
            mel = _window(mel, round(start * self.mel_fps), n_mel, axis=1)
            if motion is not None:  # the features' window: the same frames
                motion = _window(motion, round(start * self.fps), n_vis, axis=0, fill=0.0)  # padded = still
        item = {"id": rec["id"], "label": rec.get("label"), "features": feats, "mel": mel}
        if motion is not None:
            item["motion"] = motion
        return item


def _window(x: torch.Tensor, start: int, length: int, axis: int, fill: float | None = None) -> torch.Tensor:
    """``length`` steps of ``x`` from ``start`` along ``axis``; a short clip is padded with its last step (the
    last frame held), or with ``fill`` (pixel motion: a held frame does not move)."""
    x = x.narrow(axis, min(start, max(0, x.shape[axis] - 1)), min(length, x.shape[axis] - min(start, x.shape[axis] - 1)))
    if x.shape[axis] < length:  # edge-pad short clips
        last = x.narrow(axis, x.shape[axis] - 1, 1)
        if fill is not None:
            last = torch.full_like(last, fill)
        reps = [1] * x.ndim
        reps[axis] = length - x.shape[axis]
        x = torch.cat([x, last.repeat(*reps)], dim=axis)
    return x
