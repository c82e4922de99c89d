"""Synthetic foley: procedurally rendered videos with real recorded sounds at known event times.

Each clip shows one object (circle, square or triangle; random colour and size) on a random gradient background
with camera noise, and one kind of visible event repeated at random times:

* ``impact``: the object falls and bounces; it touches the floor exactly at each event time;
* ``flash``: the object lights up (white, slightly enlarged) at each event time and fades (time constant 0.1 s);
* ``strike``: a stick moves in and touches the object at each event time, then pulls back.

The sound track places one recording (the clip's "timbre") at every event time with a random gain, over a quiet
noise floor. Ground truth (event times, recording) is stored next to every clip, so timing error and timbre
retrieval can be measured exactly. For a test clip the timbre reference is a different rendering: other event
times, gains, a +-1 semitone resampling and another noise floor.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import AvgenError
from ..media import AUDIO_EXTENSIONS, read_audio, resample, write_audio, write_video
from ..utils import atomic_write_text

__all__ = ["FoleySettings", "bundled_sounds", "load_sounds", "sample_events", "render_video", "render_audio",
           "make_clip", "build_benchmark", "EVENT_KINDS"]

EVENT_KINDS = ("impact", "flash", "strike")
ASSETS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "foley")


@dataclass(frozen=True)
class FoleySettings:
    seconds: float = 4.0
    fps: float = 25.0  # rendered video rate (features are computed later at 21.5 fps)
    size: int = 96  # square frames
    sample_rate: int = 22050
    min_events: int = 2
    max_events: int = 5
    min_gap: float = 0.45  # seconds between events
    margin: float = 0.3  # no events this close to either end
    noise_db: tuple[float, float] = (-55.0, -40.0)  # noise floor level (dBFS RMS)
    camera_noise: tuple[float, float] = (0.0, 6.0)  # pixel noise std range (0..255 scale)


def bundled_sounds() -> str:
    """Folder of the CC0 recordings shipped with avgen (see its ``SOURCES.md``)."""
    return ASSETS


def load_sounds(folder: str | None = None, sample_rate: int = 22050, max_seconds: float = 0.4) -> dict[str, np.ndarray]:
    """name -> mono float32 recording at ``sample_rate``, peak-normalised to 1, cut to ``max_seconds`` with a 50 ms
    fade-out, for every audio file in ``folder`` (default: the bundled CC0 recordings)."""

    folder = folder or ASSETS
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(AUDIO_EXTENSIONS))
    if not names:
        raise AvgenError(f"{folder}: no recordings")
    out = {}
    for f in names:
        wav = read_audio(os.path.join(folder, f), sample_rate=sample_rate)[0][0]
        peak = float(np.abs(wav).max())
        if peak <= 0:
            raise AvgenError(f"{folder}/{f}: silent recording")
        wav = wav / peak
        keep = int(max_seconds * sample_rate)
        if len(wav) > keep:
            fade = min(keep, int(0.05 * sample_rate))
            wav = wav[:keep].copy()
            wav[keep - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        out[os.path.splitext(f)[0]] = wav.astype(np.float32)
    return out


def sample_events(rng: np.random.Generator, s: FoleySettings) -> list[float]:
    """Sorted event times with at least ``min_gap`` between them and ``margin`` from both ends."""
    n = int(rng.integers(s.min_events, s.max_events + 1))
    span = s.seconds - 2 * s.margin - (n - 1) * s.min_gap
    if span < 0:
        raise AvgenError(f"{n} events with gap {s.min_gap} s do not fit in {s.seconds} s")
    # n sorted uniform offsets in the free span, then add the mandatory gaps
    base = np.sort(rng.uniform(0, span, n))
    return [round(float(s.margin + b + i * s.min_gap), 4) for i, b in enumerate(base)]


def _shape_mask(kind: str, h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == "square":
        return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    # triangle pointing up: inside three half-planes
    top, base = cy - r, cy + r
    half = (yy - top) / (2 * r) * r
    return (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half)


def render_video(events: list[float], kind: str, rng: np.random.Generator, s: FoleySettings) -> np.ndarray:
    """uint8 frames ``[T, H, W, 3]`` showing ``kind`` events at ``events`` (seconds)."""
    if kind not in EVENT_KINDS:
        raise AvgenError(f"unknown event kind '{kind}' ({', '.join(EVENT_KINDS)})")
    n, size = int(round(s.seconds * s.fps)), s.size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    grad = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    background = (c0 * (1 - grad) + c1 * grad) * np.ones((1, size, 1), np.float32)  # [H, W, 3]
    background += rng.normal(0, 6, (size, size, 1)).astype(np.float32)  # static texture
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    while np.abs(colour - background.mean((0, 1))).sum() < 150:  # keep the object visible
        colour = rng.uniform(0, 255, 3).astype(np.float32)
    shape = str(rng.choice(["circle", "square", "triangle"]))
    r = float(rng.uniform(0.08, 0.14) * size)
    floor = size * 0.85
    cx0 = float(rng.uniform(0.3, 0.7) * size)
    cam = float(rng.uniform(*s.camera_noise))
    ev = np.asarray(events, np.float64)
    frames = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        t = i / s.fps
        img = background.copy()
        cy, cx, rad, col = size * 0.45, cx0, r, colour
        if kind == "impact":
            if t < ev[0]:  # falls from rest, released 0.4 s before the first contact
                u = min(1.0, max(0.0, (t - (ev[0] - 0.4)) / 0.4))
                cy = floor - r - 0.45 * size * (1 - u * u)
            else:
                t_a = ev[ev <= t][-1]
                later = ev[ev > t]
                if len(later):  # a parabolic arc that lands exactly at the next event time
                    u = (t - t_a) / (later[0] - t_a)
                    height = min(0.6 * size, 1.6 * size * (later[0] - t_a) ** 2)
                    cy = floor - r - height * 4 * u * (1 - u)
                else:  # after the last contact it stays down (no silent bounce)
                    cy = floor - r
            img[int(floor):] *= 0.6  # floor
        elif kind == "flash":
            since = t - ev[ev <= t + 1e-9]
            glow = float(np.exp(-since.min() / 0.1)) if len(since) else 0.0
            col = colour * (1 - glow) + 255.0 * glow
            rad = r * (1 + 0.3 * glow)
            cx = cx0 + 0.05 * size * math.sin(2 * math.pi * t / s.seconds)
        else:  # strike: a stick from the left touches the object at each event time
            d = np.abs(ev - t).min()
            gap = min(1.0, d / 0.25)  # 0 at contact, 1 when far
            stick_x = cx - r - gap * 0.35 * size
            y0, y1 = int(cy - 2), int(cy + 3)
            img[y0:y1, :max(0, int(stick_x))] = 40.0
        img[_shape_mask(shape, size, size, cy, cx, rad)] = col
        if cam > 0:
            img = img + rng.normal(0, cam, img.shape).astype(np.float32)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def render_audio(events: list[float], sound: np.ndarray, rng: np.random.Generator, s: FoleySettings,
                 semitones: float = 0.0) -> np.ndarray:
    """float32 ``[N]``: ``sound`` (optionally pitch-shifted by resampling) at every event time with gain 0.5-1.0,
    over a noise floor; peak-limited to 0.95."""
    n = int(round(s.seconds * s.sample_rate))
    if semitones:

        factor = 2 ** (semitones / 12)
        sound = resample(sound[None], int(round(s.sample_rate * factor)), s.sample_rate)[0]
    level = 10 ** (rng.uniform(*s.noise_db) / 20)
    out = (rng.normal(0, 1, n) * level).astype(np.float32)
    for t in events:
        a = int(round(t * s.sample_rate))
        seg = sound[: max(0, n - a)] * rng.uniform(0.5, 1.0)
        out[a:a + len(seg)] += seg
    peak = float(np.abs(out).max())
    return out / peak * 0.95 if peak > 0.95 else out


def make_clip(sound: np.ndarray, kind: str, rng: np.random.Generator, s: FoleySettings):
    """(frames, audio, events) of one random clip."""
    events = sample_events(rng, s)
    return render_video(events, kind, rng, s), render_audio(events, sound, rng, s), events


def build_benchmark(out_dir: str, *, sounds: str | None = None, train: int = 200, valid: int = 24, test: int = 48,
                    seed: int = 0, settings: FoleySettings = FoleySettings(), progress: bool = True) -> dict:
    """Write ``{train,valid,test}/<id>.mp4`` and ``<split>/manifest.jsonl`` (id, sound, kind, events), plus for the
    test split ``test/references/<id>.wav`` (same recording, other rendering) and ``test/events.jsonl``.
    Recordings and event kinds are balanced over each split. Returns a summary."""
    from tqdm.auto import tqdm


    recs = load_sounds(sounds, settings.sample_rate)
    names = sorted(recs)
    rng = np.random.default_rng(seed)
    summary = {"settings": asdict(settings), "sounds": names, "seed": seed, "splits": {}}
    for split, count in (("train", train), ("valid", valid), ("test", test)):
        folder = os.path.join(out_dir, split)
        os.makedirs(folder, exist_ok=True)
        rows = []
        for i in tqdm(range(count), desc=f"foley {split}", disable=not progress, leave=False):
            kind, name = EVENT_KINDS[i % len(EVENT_KINDS)], names[(i // len(EVENT_KINDS)) % len(names)]
            clip_id = f"{split}_{i:04d}_{name}_{kind}"
            frames, audio, events = make_clip(recs[name], kind, rng, settings)
            write_video(os.path.join(folder, clip_id + ".mp4"), frames, settings.fps, audio[None], settings.sample_rate)
            row = {"id": clip_id, "sound": name, "kind": kind, "events": events}
            if split == "test":
                ref_events = sample_events(rng, settings)
                ref = render_audio(ref_events, recs[name], rng, settings, semitones=float(rng.choice([-1.0, 1.0])))
                os.makedirs(os.path.join(folder, "references"), exist_ok=True)
                write_audio(os.path.join(folder, "references", clip_id + ".wav"), ref[None], settings.sample_rate)
                row["reference"] = f"references/{clip_id}.wav"
            rows.append(row)
        atomic_write_text(os.path.join(folder, "manifest.jsonl"), "".join(json.dumps(r) + "\n" for r in rows))
        if split == "test":
            atomic_write_text(os.path.join(folder, "events.jsonl"),
                              "".join(json.dumps({"name": r["id"], "events": r["events"]}) + "\n" for r in rows))
        summary["splits"][split] = count
    atomic_write_text(os.path.join(out_dir, "benchmark.json"), json.dumps(summary, indent=2))
    return summary
