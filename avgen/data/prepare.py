"""``avgen prepare``: decode videos, compute mels and visual features, and cache them.

Cache layout (``out_dir``):
    settings.json                 the settings every item was made with (their hash is part of each key)
    items/<key>.safetensors       tensors ``mel`` [n_mels, T_mel] and ``features`` [T_vis, D]; metadata: source,
                                  id, label, fps, sample_rate, duration
    index.jsonl                   one line per cached item (rewritten atomically at the end of every run)
    failures.jsonl                files that could not be processed and why (this run)

``key`` = hash(file content sha256, settings), so a changed file or changed settings is recomputed and everything
else is skipped: a killed run resumes where it stopped. Decoding and mels run in worker processes; the visual
encoder runs batched in the main process (on GPU when there is one).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import torch

from ..audio import SPECVQGAN_MEL_PRESET, fit_length, get_preset, mel_spectrogram
from ..encoders import VisualEncoder
from ..errors import AvgenError, ConfigError, MediaError
from ..media import read_audio, read_video
from ..utils import atomic_output, atomic_write_text, file_sha256, stable_hash
from .manifest import ManifestItem, read_manifest
from .specvqgan import public_pipeline_audio

__all__ = ["PrepareSettings", "PrepareSummary", "prepare", "CACHE_VERSION"]

CACHE_VERSION = 1


@dataclass(frozen=True)
class PrepareSettings:
    fps: float = 21.5  # visual feature rate (the public feature files use 21.5)
    backbone: str = "efficientnet-lite0"
    weights: str | None = None
    clip_model: str | None = None
    clip_pretrained: str | None = None
    mel_preset: str = SPECVQGAN_MEL_PRESET
    clip_seconds: float | None = None  # pad/cut every clip to this length (public pipeline: 10); None = full length
    audio_chain: str = "direct"  # "direct" decode, or "public": the public pipeline's re-encodes (public_pipeline_audio)

    def __post_init__(self):
        # refused here, before any file is decoded (a bad value would otherwise fail per item, or silently not)
        if self.audio_chain not in ("direct", "public"):
            raise ConfigError(f"audio_chain must be 'direct' or 'public', got {self.audio_chain!r}")
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ConfigError(f"fps must be a positive frame rate, got {self.fps!r}")
        if self.clip_seconds is not None and not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise ConfigError(f"clip_seconds must be a positive number of seconds (or None), got {self.clip_seconds!r}")
        try:
            get_preset(self.mel_preset)
        except ValueError as e:
            raise ConfigError(f"mel_preset: {e}") from None


@dataclass
class PrepareSummary:
    total: int = 0
    processed: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        s = (f"prepared {self.processed}, already cached {self.skipped}, failed {len(self.failed)} "
             f"of {self.total} files in {self.seconds:.1f} s")
        for path, reason in self.failed:
            s += f"\n  failed: {reason}" if path in reason else f"\n  failed: {path}: {reason}"
        return s


def _decode_item(path: str, settings: PrepareSettings, frame_size: int) -> dict:
    """Worker: decode frames (resized to the encoder's input side) and audio, compute the mel."""
    torch.set_num_threads(1)

    preset = get_preset(settings.mel_preset)
    frames, fps = read_video(path, fps=settings.fps, size=frame_size)
    if settings.audio_chain == "public":
        wav, sr = public_pipeline_audio(path, seconds=settings.clip_seconds, sample_rate=preset.sample_rate)
    else:
        wav, sr = read_audio(path, sample_rate=preset.sample_rate, mono=True)
    if settings.clip_seconds is not None:
        # Fixed-length clips as the public pipeline stores them: audio zero-padded/cut, last frame repeated.
        n = round(settings.clip_seconds * settings.fps)
        frames = frames[:n] if len(frames) >= n else np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), 0)])
        wav = fit_length(wav, round(settings.clip_seconds * sr))
    mel = mel_spectrogram(wav, preset)
    if settings.clip_seconds == preset.clip_seconds:
        mel = mel[:, : preset.clip_frames]
    return {"frames": frames, "mel": mel.numpy().astype(np.float32), "duration": wav.shape[1] / sr,
            "sample_rate": sr}


def _settings_dict(settings: PrepareSettings, encoder_desc: dict) -> dict:
    d = {"version": CACHE_VERSION, "fps": settings.fps, "clip_seconds": settings.clip_seconds,
         "mel": get_preset(settings.mel_preset).to_dict(), "visual": encoder_desc}
    if settings.audio_chain != "direct":  # only then, so caches made before the option keep their keys
        d["audio_chain"] = settings.audio_chain
    return d


def prepare(
    inputs: str | os.PathLike | list[ManifestItem],
    out_dir: str | os.PathLike,
    *,
    settings: PrepareSettings = PrepareSettings(),
    workers: int = 2,
    device: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    encoder=None,
) -> PrepareSummary:
    """Cache mels and visual features for every video of a folder/manifest. See the module docstring."""
    from safetensors.numpy import save_file
    from tqdm.auto import tqdm


    t_start = time.time()
    out_dir = os.fspath(out_dir)
    # arguments first: nothing is read, created or loaded with a bad one
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise AvgenError(f"{out_dir}: is a file, not a cache folder")
    items = read_manifest(inputs) if not isinstance(inputs, list) else inputs
    os.makedirs(os.path.join(out_dir, "items"), exist_ok=True)
    if encoder is None:
        encoder = VisualEncoder(settings.backbone, weights=settings.weights, model_name=settings.clip_model,
                                pretrained=settings.clip_pretrained, device=device)
    sdict = _settings_dict(settings, encoder.describe())
    settings_key = stable_hash(sdict)
    atomic_write_text(os.path.join(out_dir, "settings.json"), json.dumps(sdict, indent=2, default=str))

    summary = PrepareSummary(total=len(items))
    todo: list[tuple[ManifestItem, str]] = []
    index: dict[str, dict] = {}
    for item in items:
        try:
            if not os.path.isfile(item.path):
                raise AvgenError(f"{item.path}: file not found")
            key = stable_hash({"sha256": file_sha256(item.path), "settings": settings_key})
        except (OSError, AvgenError) as e:
            summary.failed.append((item.path, str(e)))
            continue
        record = {"id": item.id, "label": item.label, "source": item.path, "file": f"items/{key}.safetensors"}
        if os.path.exists(os.path.join(out_dir, record["file"])):
            summary.skipped += 1
            index[key] = record
        else:
            todo.append((item, key))

    bar = tqdm(total=len(items), initial=summary.skipped + len(summary.failed), desc="prepare", unit="file",
               disable=not progress, file=sys.stderr)

    def finish(item: ManifestItem, key: str, result: dict | Exception) -> None:
        if isinstance(result, (MediaError, AvgenError, OSError)):
            summary.failed.append((item.path, str(result)))
        elif isinstance(result, Exception):
            summary.failed.append((item.path, f"{type(result).__name__}: {result}"))
        else:
            feats = encoder.encode(result["frames"], batch_size=batch_size).numpy().astype(np.float32)
            meta = {"id": item.id, "label": item.label or "", "source": item.path, "fps": str(settings.fps),
                    "sample_rate": str(result["sample_rate"]), "duration": f"{result['duration']:.6f}",
                    "settings": settings_key}
            path = os.path.join(out_dir, "items", f"{key}.safetensors")
            with atomic_output(path) as tmp:  # a killed run never leaves a half-written item
                save_file({"mel": result["mel"], "features": feats}, tmp, metadata=meta)
            index[key] = {"id": item.id, "label": item.label, "source": item.path, "file": f"items/{key}.safetensors",
                          "duration": result["duration"], "feature_frames": int(feats.shape[0]),
                          "mel_frames": int(result["mel"].shape[1])}
            summary.processed += 1
        bar.update(1)

    frame_size = encoder.pre.resize
    try:
        if workers <= 0:
            for item, key in todo:
                try:
                    result = _decode_item(item.path, settings, frame_size)
                except Exception as e:  # reported per file; the batch goes on
                    result = e
                finish(item, key, result)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
                pending = {}
                queue = list(todo)
                # Keep at most 2 decoded clips per worker in flight so memory stays bounded by the batch.
                while queue or pending:
                    while queue and len(pending) < 2 * workers:
                        item, key = queue.pop(0)
                        pending[pool.submit(_decode_item, item.path, settings, frame_size)] = (item, key)
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        item, key = pending.pop(fut)
                        try:
                            result = fut.result()
                        except Exception as e:
                            result = e
                        finish(item, key, result)
    finally:
        bar.close()
        lines = [json.dumps(v) for v in index.values()]
        atomic_write_text(os.path.join(out_dir, "index.jsonl"), "\n".join(lines) + ("\n" if lines else ""))
        atomic_write_text(os.path.join(out_dir, "failures.jsonl"),
                          "".join(json.dumps({"source": p, "reason": r}) + "\n" for p, r in summary.failed))
    summary.seconds = time.time() - t_start
    return summary


def settings_from_cache(out_dir: str | os.PathLike) -> dict:
    with open(os.path.join(os.fspath(out_dir), "settings.json")) as f:
        return json.load(f)


__all__ += ["settings_from_cache"]
