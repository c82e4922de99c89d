"""``avgen prepare``: decode videos, compute mels and visual features, and cache them.

Cache layout (``out_dir``):
    settings.json                 the settings every item was made with (their hash is part of each key)
    items/<key>.safetensors       tensors ``mel`` [n_mels, T_mel], ``features`` [T_vis, D] and ``motion`` [T_vis, 32]
                                  (:mod:`avgen.encoders.motion`, from the frames the encoder got); metadata:
                                  source, id, label, fps, sample_rate, duration
    index.jsonl                   one line per input file that is cached, in input order; rewritten atomically
                                  as items finish, so a killed run leaves a valid index of what it finished
    failures.jsonl                files that could not be processed and why (this run)

``key`` = hash(file content sha256, settings), so a changed file or changed settings is recomputed and everything
else is skipped: a killed run resumes where it stopped. Files with the same content share one cached item (decoded
once) but keep one index line each. Decoding and mels run in worker processes, each handed one file at a time: a
worker that dies (an out-of-memory kill) fails that file only and is replaced, and workers exit when the main
process dies. The visual encoder runs batched in the main process (on GPU when there is one).
"""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..audio import SPECVQGAN_MEL_PRESET, fit_length, get_preset, mel_spectrogram
from ..encoders import VisualEncoder
from ..errors import AvgenError, ConfigError, MediaError
from ..encoders.frames import iter_frame_batches
from ..encoders.motion import MOTION_KINDS, motion_settings, pixel_motion
from ..media import read_audio
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
    motion: str = "pixel-grid"  # the pixel motion kind cached beside the features (avgen.encoders.motion.MOTION_KINDS)

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
        if self.motion not in MOTION_KINDS:
            raise ConfigError(f"motion must be one of {', '.join(MOTION_KINDS)}, got {self.motion!r}")


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
    """Worker: decode frames (resized to the encoder's input side) and audio, compute the mel.

    Frames come from :func:`avgen.encoders.frames.iter_frame_batches`, the reader ``avgen v2s`` uses too, so the
    cached features are the ones inference computes."""
    preset = get_preset(settings.mel_preset)
    frames = np.concatenate(list(iter_frame_batches(path, fps=settings.fps, resize=frame_size, batch_size=64)))
    # frames: [T, h, w, 3] uint8
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
         "mel": get_preset(settings.mel_preset).to_dict(), "visual": encoder_desc,
         "motion": motion_settings(settings.motion)}
    if settings.audio_chain != "direct":  # only then, so caches made before the option keep their keys
        d["audio_chain"] = settings.audio_chain
    return d


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the main process dies, even by SIGKILL (which runs no clean-up there)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():  # elsewhere (and as a fallback): poll the parent id
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _worker_main(conn, parent_pid: int, settings: PrepareSettings, frame_size: int, decode) -> None:
    """A decode worker: paths in, results (or one-line errors) out, one at a time, until told to stop or the
    parent is gone."""
    _die_with_parent(parent_pid)
    torch.set_num_threads(1)  # one core per worker (set here, not in _decode_item: workers=0 runs that in the caller)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops the workers
    while True:
        try:
            path = conn.recv()
        except (EOFError, OSError):
            return
        if path is None:
            return
        try:
            reply = ("ok", decode(path, settings, frame_size))
        except Exception as e:  # sent back as text: exception objects need not pickle
            reply = ("error", isinstance(e, (AvgenError, OSError)), type(e).__name__, str(e))
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


class _DecodePool:
    """``workers`` spawned decode processes, each holding at most one file, so a dead worker's file is known."""

    def __init__(self, workers: int, settings: PrepareSettings, frame_size: int, decode):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        self.args = (settings, frame_size, decode)
        self.size = workers
        self.procs: list = []  # [process, connection, task or None]

    def _start(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, os.getpid(), *self.args), daemon=True)
        proc.start()
        child.close()
        return [proc, parent, None]

    def run(self, tasks, finish) -> None:
        """Decode ``tasks`` ([(path, payload)]); ``finish(payload, result or Exception)`` in the main process."""
        from multiprocessing.connection import wait as wait_any

        queue = list(tasks)
        self.procs = [self._start() for _ in range(min(self.size, len(queue)))]

        def hand_out(w):
            if queue:
                w[2] = queue.pop(0)
                w[1].send(w[2][0])

        for w in self.procs:
            hand_out(w)
        while any(w[2] is not None for w in self.procs):
            busy = [w for w in self.procs if w[2] is not None]
            wait_any([w[1] for w in busy] + [w[0].sentinel for w in busy])
            for w in busy:
                proc, conn, task = w
                if conn.poll():
                    try:
                        reply = conn.recv()
                    except (EOFError, OSError):  # died while sending
                        reply = None
                elif not proc.is_alive():
                    reply = None
                else:
                    continue
                if reply is None:  # the worker died with this file: fail it, replace the worker if work is left
                    proc.join(5)
                    if queue:
                        w[:] = self._start()
                    else:
                        w[2] = None
                    result = AvgenError(f"{task[0]}: the decode worker died while reading this file "
                                        f"({_death(proc.exitcode)})")
                elif reply[0] == "ok":
                    w[2] = None
                    result = reply[1]
                else:
                    w[2] = None
                    _, expected, name, text = reply
                    result = AvgenError(text) if expected else RuntimeError(f"{name}: {text}")
                hand_out(w)  # the next file decodes while this one is encoded
                finish(task[1], result)

    def close(self) -> None:
        for proc, conn, _ in self.procs:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc, conn, _ in self.procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
        self.procs = []


def _death(exitcode) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}" + (", as the out-of-memory killer does" if -exitcode == signal.SIGKILL else "")
    return f"exit status {exitcode}"


def _cached_record(path: str) -> dict | None:
    """Duration and frame counts of a finished item, from its header; None when it is unreadable (recomputed)."""
    from safetensors import safe_open

    try:
        with safe_open(path, "np") as f:
            meta = f.metadata() or {}
            return {"duration": round(float(meta["duration"]), 6),
                    "feature_frames": int(f.get_slice("features").get_shape()[0]),
                    "mel_frames": int(f.get_slice("mel").get_shape()[1])}
    except Exception:  # a damaged item (safetensors raises its own error types): made again
        return None


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
    _decode=_decode_item,
) -> PrepareSummary:
    """Cache mels and visual features for every video of a folder/manifest. See the module docstring.

    ``_decode`` (tests only): the worker function, ``(path, settings, frame_size) -> dict``."""
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
    if not isinstance(inputs, list) and len(items) == 1 and os.path.abspath(items[0].path) == os.path.abspath(inputs):
        _check_single_file(items[0].path)  # one named file: a bad one is the run's error, not a summary line
    if not isinstance(inputs, list) and not items:  # a wrong folder, not an empty corpus to cache
        what = "no video files (searched recursively)" if os.path.isdir(inputs) else "the manifest lists no files"
        raise AvgenError(f"{os.fspath(inputs)}: {what}")
    os.makedirs(os.path.join(out_dir, "items"), exist_ok=True)
    for stale in glob.glob(os.path.join(out_dir, "items", ".*.tmp.safetensors")):  # a killed run's half-written item
        os.remove(stale)
    if encoder is None:
        encoder = VisualEncoder(settings.backbone, weights=settings.weights, model_name=settings.clip_model,
                                pretrained=settings.clip_pretrained, device=device)
    sdict = _settings_dict(settings, encoder.describe())
    settings_key = stable_hash(sdict)
    atomic_write_text(os.path.join(out_dir, "settings.json"), json.dumps(sdict, indent=2, default=str))

    summary = PrepareSummary(total=len(items))
    records: list[dict | None] = [None] * len(items)  # index lines, in input order
    todo: dict[str, list[int]] = {}  # key -> positions of the inputs with that content (decoded once)
    for pos, item in enumerate(items):
        try:
            if not os.path.isfile(item.path):
                raise AvgenError(f"{item.path}: file not found")
            key = stable_hash({"sha256": file_sha256(item.path), "settings": settings_key})
        except (OSError, AvgenError) as e:
            summary.failed.append((item.path, str(e)))
            continue
        cached = _cached_record(os.path.join(out_dir, "items", f"{key}.safetensors")) if key not in todo else None
        if cached is not None:
            summary.skipped += 1
            records[pos] = _record(item, key, cached)
        else:
            todo.setdefault(key, []).append(pos)

    last_write = [0.0, 0.0]  # when the index was last written, and how long that took

    def write_index(force: bool = False) -> None:
        # after every finished item, unless the index is so large (a write over 50 ms) that rewriting it each
        # time would cost more than 5% of the run
        now = time.monotonic()
        if not force and last_write[1] > 0.05 and now - last_write[0] < 20 * last_write[1]:
            return
        lines = [json.dumps(r) for r in records if r is not None]
        atomic_write_text(os.path.join(out_dir, "index.jsonl"), "\n".join(lines) + ("\n" if lines else ""))
        atomic_write_text(os.path.join(out_dir, "failures.jsonl"),
                          "".join(json.dumps({"source": p, "reason": r}) + "\n" for p, r in summary.failed))
        last_write[:] = [time.monotonic(), time.monotonic() - now]

    write_index(force=True)  # what earlier runs finished is listed from the start
    bar = tqdm(total=len(items), initial=summary.skipped + len(summary.failed), desc="prepare", unit="file",
               disable=not progress, file=sys.stderr)

    def finish(key: str, result: dict | Exception) -> None:
        positions = todo[key]
        if isinstance(result, Exception):
            for pos in positions:
                reason = (str(result) if isinstance(result, (MediaError, AvgenError, OSError))
                          else f"{type(result).__name__}: {result}")
                summary.failed.append((items[pos].path, reason))
        else:
            first = items[positions[0]]
            feats = encoder.encode(result["frames"], batch_size=batch_size).numpy().astype(np.float32)
            motion = pixel_motion(result["frames"], settings.motion)  # [T_vis, 32 or 64], the frames the encoder got
            meta = {"id": first.id, "label": first.label or "", "source": first.path, "fps": str(settings.fps),
                    "sample_rate": str(result["sample_rate"]), "duration": f"{result['duration']:.6f}",
                    "settings": settings_key}
            path = os.path.join(out_dir, "items", f"{key}.safetensors")
            with atomic_output(path) as tmp:  # a killed run never leaves a half-written item
                save_file({"mel": result["mel"], "features": feats, "motion": motion}, tmp, metadata=meta)
            info = {"duration": round(float(result["duration"]), 6), "feature_frames": int(feats.shape[0]),
                    "mel_frames": int(result["mel"].shape[1])}
            for pos in positions:
                records[pos] = _record(items[pos], key, info)
            summary.processed += len(positions)
        bar.update(len(positions))
        write_index()

    frame_size = encoder.pre.resize
    pool = None
    try:
        if workers <= 0:
            for key, positions in todo.items():
                try:
                    result = _decode(items[positions[0]].path, settings, frame_size)
                except Exception as e:  # reported per file; the batch goes on
                    result = e
                finish(key, result)
        else:
            pool = _DecodePool(workers, settings, frame_size, _decode)
            pool.run([(items[positions[0]].path, key) for key, positions in todo.items()], finish)
    finally:
        if pool is not None:
            pool.close()
        bar.close()
        write_index(force=True)
    summary.seconds = time.time() - t_start
    return summary


def _check_single_file(path: str) -> None:
    """Headers only: the file exists and holds the video and the audio stream every item needs."""
    from ..errors import NoAudioStreamError, NoVideoStreamError
    from ..media import probe

    info = probe(path)
    if not info.has_video:
        raise NoVideoStreamError(path)
    if not info.has_audio:
        raise NoAudioStreamError(path)


def _record(item: ManifestItem, key: str, info: dict) -> dict:
    return {"id": item.id, "label": item.label, "source": item.path, "file": f"items/{key}.safetensors", **info}


def settings_from_cache(out_dir: str | os.PathLike) -> dict:
    with open(os.path.join(os.fspath(out_dir), "settings.json")) as f:
        return json.load(f)


__all__ += ["settings_from_cache"]
