"""Streaming readers for metric inputs: folders of images, videos (files or frame folders) and audio.

Memory is bounded by one batch plus one decoded video, never by the dataset size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import AvgenError
from ..media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, read_video

__all__ = ["stem", "IMAGE_EXTS", "VIDEO_EXTS", "AUDIO_EXTS", "list_images", "list_videos", "list_audio", "file_fingerprint",
           "ClipSpec", "read_frames", "read_clip", "image_batches", "clip_batches"]

IMAGE_EXTS = IMAGE_EXTENSIONS
VIDEO_EXTS = VIDEO_EXTENSIONS + (".gif",)  # an animated GIF counts as a video for the metrics
AUDIO_EXTS = AUDIO_EXTENSIONS


def stem(path: str) -> str:
    """A file's (or frame folder's) name without extension: the key that pairs generated and reference items."""
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def _walk(root: str, exts) -> list[str]:
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if f.lower().endswith(exts)]
    return sorted(out)


def _need_dir(path) -> str:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AvgenError(f"{p}: no such file or folder")
    return p


def list_images(path) -> list[str]:
    """Image files under ``path`` (recursive, sorted), or ``[path]`` for one image."""
    p = _need_dir(path)
    files = [p] if os.path.isfile(p) else _walk(p, IMAGE_EXTS)
    if not files:
        videos = _walk(p, VIDEO_EXTS)
        if videos:  # a folder of generated videos: the user wants their frames
            raise AvgenError(f"{p}: no images but {len(videos)} video(s); pass --frames-per-video N "
                             f"(frames_per_video=N in Python) to score their frames ({_frame_hint(videos[0])})")
        raise AvgenError(f"{p}: no images ({', '.join(IMAGE_EXTS)})")
    if os.path.isfile(p) and p.lower().endswith(VIDEO_EXTS):
        raise AvgenError(f"{p}: is a video; pass --frames-per-video N (frames_per_video=N in Python) to score its "
                         f"frames ({_frame_hint(p)})")
    return files


def _frame_hint(video: str) -> str:
    """How many frames a video holds, from its header (no decoding), for the hints that name a frame count."""
    from ..media import probe

    try:
        n = probe(video).num_frames
    except Exception:  # a hint must not hide the real error; an unreadable file fails later with its own message
        return f"see {os.path.basename(video)}'s length"
    return f"{os.path.basename(video)} has {n} frames" if n else f"see {os.path.basename(video)}'s length"


def list_videos(path) -> list[str]:
    """Videos under ``path``: video files, plus every folder that directly holds image frames (one video each,
    frames in name order). Sorted; ``[path]`` for one file."""
    p = _need_dir(path)
    if os.path.isfile(p):
        return [p]
    out = []
    for d, _, files in os.walk(p):
        out += [os.path.join(d, f) for f in files if f.lower().endswith(VIDEO_EXTS)]
        if d != p and any(f.lower().endswith(IMAGE_EXTS) for f in files):
            out.append(d)
    if not out:
        raise AvgenError(f"{p}: no videos ({', '.join(VIDEO_EXTS)}) or frame folders")
    return sorted(out)


def list_audio(path, *, include_video: bool = False) -> list[str]:
    """Audio files under ``path`` (and video files when ``include_video``: their audio track is used)."""
    p = _need_dir(path)
    exts = AUDIO_EXTS + (VIDEO_EXTS if include_video else ())
    files = [p] if os.path.isfile(p) else _walk(p, exts)
    if not files:
        raise AvgenError(f"{p}: no audio files ({', '.join(exts)})")
    return files


def file_fingerprint(paths: list[str], root: str | None = None) -> list:
    """(relative path, size, mtime_ns) of every file (frame folders: of each frame); keys the statistics cache."""
    out = []
    for f in paths:
        members = _walk(f, IMAGE_EXTS) if os.path.isdir(f) else [f]
        for m in members:
            st = os.stat(m)
            out.append([os.path.relpath(m, root) if root else m, st.st_size, st.st_mtime_ns])
    return out


def _read_image(path: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise AvgenError(f"{path}: not a readable image ({e})") from None


@dataclass(frozen=True)
class ClipSpec:
    """Which frames of a video form its clip: ``num_frames`` frames, every ``stride``-th decoded frame from frame
    ``start``, after resampling to ``fps`` (None: the file's own frame rate)."""

    num_frames: int = 16
    stride: int = 1
    start: int = 0
    fps: float | None = None

    def __post_init__(self):
        if self.num_frames < 1 or self.stride < 1 or self.start < 0:
            raise AvgenError(f"invalid clip spec {self}")


def read_frames(path: str, fps: float | None, max_frames: int | None = None) -> np.ndarray:
    """The frames of a video file (resampled to ``fps`` when given) or of a frame folder: uint8 [T, H, W, 3]; only
    the first ``max_frames`` are decoded when given."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTS))[:max_frames]
        frames = [_read_image(os.path.join(path, n)) for n in names]
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise AvgenError(f"{path}: frames differ in size {sorted(shapes)}")
        return np.stack(frames)

    return read_video(path, fps=fps, max_frames=max_frames)[0]


def read_clip(path: str, spec: ClipSpec, *, frames_option: str = "--frames") -> np.ndarray:
    """uint8 ``[num_frames, H, W, 3]``; a video too short for the clip raises an error naming it and the largest
    ``frames_option`` (the CLI option that sets ``num_frames``) that would fit it."""
    need = spec.start + (spec.num_frames - 1) * spec.stride + 1
    frames = read_frames(path, spec.fps, max_frames=need)
    if len(frames) < need:
        fits = (len(frames) - 1 - spec.start) // spec.stride + 1 if len(frames) > spec.start else 0
        hint = (f"{frames_option} {fits} or fewer would fit it" if fits >= 1 else
                f"no {frames_option} fits it from start frame {spec.start}")
        raise AvgenError(f"{path}: {len(frames)} frames, the clip needs {need} "
                         f"(start {spec.start}, {spec.num_frames} frames, stride {spec.stride}); {hint}")
    return frames[spec.start:need:spec.stride]


def _batched(items: Iterator[tuple[str, np.ndarray]], batch_size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Group consecutive equally-shaped arrays into batches of at most ``batch_size``."""
    names, arrays = [], []
    for name, a in items:
        if arrays and (a.shape != arrays[0].shape or len(arrays) == batch_size):
            yield names, np.stack(arrays)
            names, arrays = [], []
        names.append(name)
        arrays.append(a)
    if arrays:
        yield names, np.stack(arrays)


def image_batches(path, *, batch_size: int = 32, frames_per_video: int | None = None, frame_stride: int = 1,
                  fps: float | None = None) -> tuple[int, Iterator[tuple[list[str], np.ndarray]]]:
    """(count, batches of uint8 ``[B, H, W, 3]``) over a folder of images, or over the frames of a folder of videos
    when ``frames_per_video`` is given (per-frame scores on generated videos)."""
    if frames_per_video is None:
        files = list_images(path)
        return len(files), _batched(((f, _read_image(f)) for f in files), batch_size)
    videos = list_videos(path)
    spec = ClipSpec(num_frames=frames_per_video, stride=frame_stride, fps=fps)

    def frames():
        for v in videos:
            for i, fr in enumerate(read_clip(v, spec, frames_option="--frames-per-video")):
                yield f"{v}#{i}", fr

    return len(videos) * frames_per_video, _batched(frames(), batch_size)


def clip_batches(paths: list[str], spec: ClipSpec, *, batch_size: int = 8) -> Iterator[tuple[list[str], np.ndarray]]:
    """Batches of uint8 clips ``[B, T, H, W, 3]``, one clip per video."""
    return _batched(((p, read_clip(p, spec)) for p in paths), batch_size)
