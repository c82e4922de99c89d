"""Video -> sound with the baseline ``FeatureToMel`` regressor (what ``task: feature2mel`` training exports to
``<run>/final``): the visual features the training cache was made with, the regressed mel, a vocoder. No reference
recording and no timbre control: the baseline maps the frames to one mel, as it was trained to.

    pipe = FeatureToMelPipeline.from_pretrained("runs/feature2mel/final")
    pipe("clip.mp4").save("clip_f2m.mp4")          # or `avgen feature2mel clip.mp4 --checkpoint runs/feature2mel/final`
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

from ..audio import SPECVQGAN_MEL_PRESET, fit_length, get_preset
from ..checkpoints import CheckpointError, from_pretrained, read_config
from ..encoders import VisualEncoder
from ..errors import AvgenError
from ..media import iter_video, probe
from ..models.v2s.feature2mel import FeatureToMel
from ..utils import file_sha256
from .steps import checked_vocoder
from .video_to_sound import V2SResult

__all__ = ["FeatureToMelPipeline"]


def _bar(total: int, desc: str, unit: str, enabled: bool):
    """A tqdm bar on stderr (with ETA) for one stage; disabled ones print nothing."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"feature2mel: {desc}", unit=unit, disable=not enabled, file=sys.stderr)


class FeatureToMelPipeline:
    """A trained :class:`~avgen.models.v2s.feature2mel.FeatureToMel` with the visual encoder, frame rate and mel
    preset of its training cache, and a vocoder. Load with :meth:`from_pretrained`."""

    def __init__(self, model: FeatureToMel, settings: dict, *, folder: str, device=None, vocoder=None,
                 visual_weights: str | None = None):
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.folder = folder
        data = settings.get("data") or {}
        self.fps = float(data.get("fps", 21.5))
        self.mel_preset = (data.get("mel") or {}).get("name", SPECVQGAN_MEL_PRESET)
        visual = data.get("visual") or {}
        self.backbone = visual.get("backbone", "efficientnet-lite0")
        want = visual.get("weights_sha256")
        if self.backbone != "efficientnet-lite0" and visual_weights is None:
            raise AvgenError(f"{folder}: trained on '{self.backbone}' features; pass the same backbone weights "
                             f"(visual_weights= / --visual-weights)")
        if visual_weights is not None and want and file_sha256(visual_weights) != want:
            raise AvgenError(f"--visual-weights {visual_weights}: not the weights the training cache used "
                             f"(sha256 {want[:12]}...)")
        self.visual_weights = visual_weights
        self._encoder = None
        self.vocoder = checked_vocoder(vocoder, self.mel_preset, device=self.device, made_by="model")

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, *, device=None, vocoder=None,
                        visual_weights: str | None = None) -> "FeatureToMelPipeline":
        """The ``final/`` model folder of a ``task: feature2mel`` run (``config.json`` with ``class: FeatureToMel``
        and the data settings, ``model.safetensors``). ``vocoder``: as :func:`avgen.vocoders.load` (default
        ``specvqgan-bridge``). ``visual_weights``: the backbone's weight file when the cache was not made with the
        packaged EfficientNet-Lite0 (checked against the sha256 the cache recorded)."""
        folder = os.fspath(folder)
        cfg = read_config(folder)
        if cfg.get("class") != "FeatureToMel" and cfg.get("task") != "feature2mel":
            raise CheckpointError(f"{os.path.join(folder, 'config.json')}: a {cfg.get('class') or cfg.get('task')} "
                                  "folder, not a feature2mel export (class FeatureToMel)")
        if not isinstance(cfg.get("data", {}), dict):
            raise CheckpointError(f"{os.path.join(folder, 'config.json')}: 'data' must be an object")
        model = from_pretrained(folder, expected=FeatureToMel)
        return cls(model, cfg, folder=folder, device=device, vocoder=vocoder, visual_weights=visual_weights)

    @property
    def encoder(self) -> VisualEncoder:
        if self._encoder is None:
            self._encoder = VisualEncoder(self.backbone, weights=self.visual_weights, device=self.device,
                                          precision="fp32")
        return self._encoder

    @torch.no_grad()
    def __call__(self, video: str | os.PathLike, *, seed: int | None = None, gain_db: float | None = None,
                 batch_size: int = 32, progress: bool = False) -> V2SResult:
        """A sound track as long as ``video``. The whole clip is regressed in one pass. Level: the vocoder's output,
        lowered only if its peak would pass 0.99 (there is no reference to match), or ``gain_db`` applied to it;
        clipped to [-1, 1]. ``seed``: the vocoder's randomness (Griffin-Lim's phase). ``progress``: one bar per
        stage (features, synthesis, vocoder) on stderr."""
        if gain_db is not None and not math.isfinite(gain_db):
            raise AvgenError(f"gain_db must be a finite number of dB, got {gain_db}")
        path = os.fspath(video)
        info = probe(path)
        if not info.has_video:
            raise AvgenError(f"{path}: no video stream")
        duration = float(info.video_duration)
        p = get_preset(self.mel_preset)
        if self.encoder.feature_dim != self.model.config.feature_dim:  # before any bar: one line, no work done
            raise AvgenError(f"{self.folder}: the model takes {self.model.config.feature_dim}-d features, the "
                             f"'{self.backbone}' encoder gives {self.encoder.feature_dim}-d")
        expected = max(1, math.floor(duration * self.fps + 1e-6))
        feats, batch = [], []
        with _bar(expected, "features", "frame", progress) as bar:
            for frame in iter_video(path, fps=self.fps):
                batch.append(frame)
                if len(batch) == batch_size:
                    feats.append(self.encoder.encode(np.stack(batch)))
                    bar.update(min(len(batch), bar.total - bar.n))
                    batch = []
            if batch:
                feats.append(self.encoder.encode(np.stack(batch)))
            bar.update(bar.total - bar.n)
        if not feats:
            raise AvgenError(f"{path}: no frames decoded")
        features = torch.cat(feats)  # [T_v, D]
        num_samples = max(p.n_fft, round(duration * p.sample_rate))
        mel_frames = num_samples // p.hop_length + 1
        with _bar(1, "synthesis", "clip", progress) as bar:
            mel = self.model(features[None].to(self.device), mel_frames)[0].cpu()
            bar.update(1)
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        with _bar(1, "vocoder", "clip", progress) as bar:
            wav = fit_length(self.vocoder(mel[None], generator=gen), num_samples).reshape(1, -1).cpu()
            bar.update(1)
        peak = float(wav.abs().max())
        gain = 10.0 ** (gain_db / 20.0) if gain_db is not None else (min(1.0, 0.99 / peak) if peak > 0 else 1.0)
        wav = (wav * gain).clamp(-1, 1)
        return V2SResult(waveform=wav, sample_rate=p.sample_rate, mel=mel, duration=duration, video_path=path)
