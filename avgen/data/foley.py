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

With a sound corpus (``corpus=``, a folder with the ``manifest.jsonl`` of :mod:`avgen.data.sound_corpus`) the
benchmark measures transfer: whole categories and then whole recordings are held out with
:func:`~avgen.data.sound_corpus.split_corpus`, train/valid clips use only train-side recordings, and three test splits
are written: ``test`` (seen recordings), ``test_unseen_recording`` and ``test_unseen_category``. There a reference
is another excerpt (event) of the target's recording when it has one, else another rendering of the same excerpt.
Every test row carries ``split`` (``seen`` / ``unseen_recording`` / ``unseen_category``), read by ``avgen eval v2s``.

With ``renderer="scenes"`` (needs ``corpus`` and ``images``, an image-corpus folder of
:mod:`avgen.data.image_corpus`) clips are rendered by :func:`avgen.data.scenes.render_scene` instead of the flat
shapes (docs/renders.md): train/valid/test splits cycle :data:`~avgen.data.scenes.TRAIN_STYLES` on the train side of
:func:`~avgen.data.image_corpus.split_images`, and a fourth test split ``test_held_out_renderer`` (label
``held_out_renderer``) uses :data:`~avgen.data.scenes.HELD_OUT_STYLES` (held-out pictures, event kinds and camera)
with unseen-recording sounds. Sounds keep their excerpt length: a sustained event lasts as long as its sound
(clipped to the clip), a discrete one plays the first 0.4 s as with the shapes renderer. Rows add ``durations``,
``style``, ``renderer``, ``fps`` and ``size``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import AvgenError
from ..media import AUDIO_EXTENSIONS, read_audio, resample, write_audio, write_video
from ..utils import atomic_write_text

__all__ = ["FoleySettings", "bundled_sounds", "load_sounds", "sample_events", "render_video", "render_audio",
           "make_clip", "audible_start", "build_benchmark", "EVENT_KINDS", "RENDERERS"]

EVENT_KINDS = ("impact", "flash", "strike")
RENDERERS = ("shapes", "scenes")
DISCRETE_SECONDS = 0.4  # a discrete event plays this much of its sound (both renderers)
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
    # corpus sounds start where they become audible: their quiet lead-in (up to this many dB below their loudest
    # 5 ms frame) is cut, so the sound is heard at the visible event and not up to 0.3 s later; None keeps the
    # excerpt as cut (renders made before this setting)
    onset_trim_db: float | None = 20.0


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
    return {os.path.splitext(f)[0]: _load_sound(os.path.join(folder, f), sample_rate, max_seconds) for f in names}


def audible_start(wav: np.ndarray, sample_rate: int, below_peak_db: float = 20.0, *, frame_seconds: float = 0.005,
                  pre_roll_seconds: float = 0.005) -> int:
    """The sample where ``wav`` becomes audible: the start of its first ``frame_seconds`` frame whose RMS is within
    ``below_peak_db`` of its loudest frame's, less a ``pre_roll_seconds`` lead (so the attack itself is kept)."""
    wav = np.asarray(wav, np.float64).reshape(-1)
    hop = max(1, int(round(frame_seconds * sample_rate)))
    n = len(wav) // hop
    if n == 0:
        return 0
    rms = np.sqrt((wav[: n * hop].reshape(n, hop) ** 2).mean(1))  # [frames]
    if rms.max() <= 0:
        return 0
    first = int(np.argmax(rms >= rms.max() * 10 ** (-below_peak_db / 20)))
    return max(0, first * hop - int(round(pre_roll_seconds * sample_rate)))


def _load_sound(path: str, sample_rate: int, max_seconds: float, onset_trim_db: float | None = None) -> np.ndarray:
    """One recording as :func:`load_sounds` prepares it (mono, peak 1, cut to ``max_seconds`` with a 50 ms fade),
    first trimmed to where it becomes audible (:func:`audible_start`) when ``onset_trim_db`` is given."""
    wav = read_audio(path, sample_rate=sample_rate)[0][0]
    peak = float(np.abs(wav).max())
    if peak <= 0:
        raise AvgenError(f"{path}: silent recording")
    if onset_trim_db is not None:
        wav = wav[audible_start(wav, sample_rate, onset_trim_db):]
    return _cut((wav / peak).astype(np.float32), int(max_seconds * sample_rate), sample_rate)


def _cut(wav: np.ndarray, keep: int, sample_rate: int) -> np.ndarray:
    """``wav`` cut to ``keep`` samples with a 50 ms fade-out (unchanged when it is not longer)."""
    if len(wav) > keep:
        fade = min(keep, int(0.05 * sample_rate))
        wav = wav[:keep].copy()
        wav[keep - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return wav.astype(np.float32)


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
                 semitones: float = 0.0, rate_step: int = 1) -> np.ndarray:
    """float32 ``[N]``: ``sound`` (optionally pitch-shifted by resampling) at every event time with gain 0.5-1.0,
    over a noise floor; peak-limited to 0.95. The pitch shift resamples from ``sample_rate * 2^(semitones/12)``
    rounded to a multiple of ``rate_step`` Hz: 1 (exact, slow: the rates share a tiny divisor) or e.g. 50
    (within 0.01 semitone, a short polyphase kernel; the corpus benchmark's choice)."""
    n = int(round(s.seconds * s.sample_rate))
    if semitones:

        factor = 2 ** (semitones / 12)
        sound = resample(sound[None], int(round(s.sample_rate * factor / rate_step)) * rate_step, s.sample_rate)[0]
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


def _write_split(out_dir: str, split: str, plan: list[dict], rng: np.random.Generator, s: FoleySettings, *,
                 references: bool, label: str | None, progress: bool, rate_step: int = 1,
                 assets: dict | None = None, clip_seed: tuple[int, ...] | None = None) -> list[dict]:
    """Render one split. ``plan``: one dict per clip with ``name`` (for the id), ``kind``, ``sound`` (waveform),
    ``ref_sound`` (the reference's waveform, test splits), ``row`` (manifest fields) and optionally ``style`` (a
    :class:`~avgen.data.scenes.SceneStyle`: render with the scene renderer from ``assets[style.image_split]``;
    the kind then comes from the sound's category). Writes the videos, the
    references (``references=True``), ``manifest.jsonl`` and, for test splits, ``events.jsonl``.

    ``clip_seed``: every clip draws from its own generator, ``default_rng([*clip_seed, i])``, instead of the shared
    ``rng``, and its manifest row is kept in ``<split>/.rows/`` as soon as its files are written; a rerun of the same
    plan then skips finished clips (resumable renders) and gives the same files as an uninterrupted run."""
    from tqdm.auto import tqdm

    folder = os.path.join(out_dir, split)
    os.makedirs(folder, exist_ok=True)
    rows_dir = os.path.join(folder, ".rows")
    if clip_seed is not None:
        _claim_rows_folder(rows_dir, split, plan, s, clip_seed)
    rows = []
    for i, p in enumerate(tqdm(plan, desc=f"foley {split}", disable=not progress, leave=False)):
        if clip_seed is not None:
            done = _finished_row(rows_dir, folder, i)
            if done is not None:
                rows.append(done)
                continue
            rng = np.random.default_rng([*clip_seed, i])
        if p.get("style") is None:
            # flat shapes on a gradient (the original renderer)
            frames, audio, events = make_clip(p["sound"], p["kind"], rng, s)
            fps, extra, ref_sound = s.fps, {"kind": p["kind"], "events": events}, p["ref_sound"]
        else:
            # realistic scene: the sound's length decides the events' durations
            frames, audio, fps, extra, keep = _scene_clip(p, rng, s, assets[p["style"].image_split])
            ref_sound = _cut(p["ref_sound"], keep, s.sample_rate)
        clip_id = f"{split}_{i:04d}_{p['name']}_{extra['kind']}"
        write_video(os.path.join(folder, clip_id + ".mp4"), frames, fps, audio[None], s.sample_rate)
        row = {"id": clip_id, **p["row"], **extra}
        if references:
            # another rendering: other times, gains, noise floor and a +-1 semitone resampling
            ref_events = sample_events(rng, s)
            ref = render_audio(ref_events, ref_sound, rng, s, semitones=float(rng.choice([-1.0, 1.0])),
                               rate_step=rate_step)
            os.makedirs(os.path.join(folder, "references"), exist_ok=True)
            write_audio(os.path.join(folder, "references", clip_id + ".wav"), ref[None], s.sample_rate)
            row["reference"] = f"references/{clip_id}.wav"
            row["split"] = label
        if clip_seed is not None:
            # written last: a row on disk means the clip's video and reference are complete
            atomic_write_text(os.path.join(rows_dir, f"{i:05d}.json"), json.dumps(row))
        rows.append(row)
    atomic_write_text(os.path.join(folder, "manifest.jsonl"), "".join(json.dumps(r) + "\n" for r in rows))
    if references:
        atomic_write_text(os.path.join(folder, "events.jsonl"),
                          "".join(json.dumps({"name": r["id"], "events": r["events"]}) + "\n" for r in rows))
    return rows


def _claim_rows_folder(rows_dir: str, split: str, plan: list[dict], s: FoleySettings, clip_seed) -> None:
    """Create ``rows_dir`` for this plan, or check that the partial render found there is of the same plan (seed,
    settings, clip names and kinds): finished rows of another plan must not be mixed into this one."""
    plan_id = {"split": split, "clip_seed": list(clip_seed), "settings": asdict(s),
               "clips": [[p["name"], p["kind"], p["row"].get("excerpt"), getattr(p.get("style"), "name", None)]
                         for p in plan]}
    plan_id = json.loads(json.dumps(plan_id))  # tuples as the lists they are read back as
    path = os.path.join(rows_dir, "plan.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            try:
                found = json.load(f)
            except json.JSONDecodeError:
                found = None
        if found != plan_id:
            raise AvgenError(f"{os.path.dirname(rows_dir)}: holds a partial render of another plan (other seed, "
                             f"settings or counts); remove the folder or write to another output folder")
        return
    os.makedirs(rows_dir, exist_ok=True)
    atomic_write_text(path, json.dumps(plan_id))


def _finished_row(rows_dir: str, folder: str, i: int) -> dict | None:
    """The stored row of clip ``i`` when it and the files it names exist (a finished clip), else None."""
    path = os.path.join(rows_dir, f"{i:05d}.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            row = json.load(f)
        except json.JSONDecodeError:
            return None
    files = [row["id"] + ".mp4"] + ([row["reference"]] if "reference" in row else [])
    return row if all(os.path.isfile(os.path.join(folder, f)) for f in files) else None


def _scene_clip(p: dict, rng: np.random.Generator, s: FoleySettings, assets):
    """(frames, audio, fps, row fields, kept sound samples) of one scene-rendered clip (docs/renders.md)."""
    from .scenes import SUSTAINED_KINDS, kinds_for, plan_events, render_scene, sample_format

    style, sound = p["style"], p["sound"]
    fps, size = sample_format(rng, style)
    events = plan_events(rng, len(sound) / s.sample_rate, s.seconds, kinds_for(p["row"]["category"], style),
                         min_events=s.min_events, max_events=s.max_events, min_gap=s.min_gap, margin=s.margin)
    # a sustained sound lasts as long as its visible event; a discrete one is cut as with the shapes renderer
    sustained = events[0][2] in SUSTAINED_KINDS
    keep = int(events[0][1] * s.sample_rate) if sustained else int(DISCRETE_SECONDS * s.sample_rate)
    frames = render_scene(events, rng=rng, style=style, assets=assets, seconds=s.seconds, fps=fps, size=size)
    audio = render_audio([e[0] for e in events], _cut(sound, keep, s.sample_rate), rng, s)
    extra = {"kind": events[0][2], "events": [e[0] for e in events],
             "durations": [e[1] if sustained else round(min(keep / s.sample_rate, e[1]), 4) for e in events],
             "sustained": sustained, "style": style.name, "renderer": "scenes", "fps": fps, "size": list(size)}
    return frames, audio, fps, extra, keep


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]


def _corpus_plan(rows: list[dict], count: int, rng: np.random.Generator, load) -> list[dict]:
    """``count`` clips over the recordings of ``rows`` (corpus manifest rows, one per excerpt): recordings in a
    seeded order, cycled so that the first clips cover as many distinct recordings as possible; event kinds
    cycled. The reference is the recording's next excerpt (the same one when it has only one)."""
    by_rec: dict[str, list[dict]] = {}
    for r in rows:
        by_rec.setdefault(r["recording"], []).append(r)
    order = sorted(by_rec)
    rng.shuffle(order)
    plan = []
    for i in range(count):
        rec = order[i % len(order)]
        excerpts = by_rec[rec]
        k = (i // len(order)) % len(excerpts)
        ex, ref = excerpts[k], excerpts[(k + 1) % len(excerpts)]
        plan.append({"name": _safe(rec), "kind": EVENT_KINDS[i % len(EVENT_KINDS)], "sound": load(ex),
                     "ref_sound": load(ref),
                     "row": {"sound": rec, "recording": rec, "category": ex["category"], "package": ex["package"],
                             "excerpt": ex["id"], "reference_excerpt": ref["id"]}})
    return plan


def _corpus_splits(corpus: str, *, test_fraction: float, held_out_categories, seed: int) -> dict[str, list[dict]]:
    """Corpus rows held out by category, then (of the rest) by recording: ``train`` / ``unseen_recording`` /
    ``unseen_category``."""
    from .sound_corpus import read_manifest, split_corpus

    rows = read_manifest(os.path.join(corpus, "manifest.jsonl"))
    by_cat = split_corpus(rows, by="category", test_fraction=test_fraction, held_out_categories=held_out_categories,
                          seed=seed)
    by_rec = split_corpus(by_cat["train"], by="recording", test_fraction=test_fraction, seed=seed)
    parts = {"train": by_rec["train"], "unseen_recording": by_rec["test"], "unseen_category": by_cat["test"]}
    for name, part in parts.items():
        if not part:
            raise AvgenError(f"{corpus}: the {name} side of the split is empty ({len(rows)} excerpts, "
                             f"{len({r['category'] for r in rows})} categories)")
    return parts


def build_benchmark(out_dir: str, *, sounds: str | None = None, corpus: str | None = None, train: int = 200,
                    valid: int = 24, test: int = 48, seed: int = 0, settings: FoleySettings = FoleySettings(),
                    test_fraction: float = 0.2, held_out_categories=None, progress: bool = True,
                    images: str | None = None, renderer: str = "shapes", train_licences=None) -> dict:
    """Write ``{train,valid,test}/<id>.mp4`` and ``<split>/manifest.jsonl`` (id, sound, recording, kind, events),
    plus for the test split ``test/references/<id>.wav`` (same recording, other rendering), the row's ``split``
    label and ``test/events.jsonl``. Recordings and event kinds are balanced over each split.

    ``corpus``: a sound-corpus folder instead of ``sounds``; categories (``held_out_categories`` or a seeded
    ``test_fraction`` share) and then recordings (``test_fraction`` per category) are held out, train/valid/test
    use the train-side recordings only, and ``test_unseen_recording`` / ``test_unseen_category`` (``test`` clips
    each) use only held-out ones. Returns a summary.

    ``renderer="scenes"`` (with ``corpus`` and ``images``, an image-corpus folder): realistic scene renders, the
    picture split of :func:`~avgen.data.image_corpus.split_images` (``seed``) and a fifth split
    ``test_held_out_renderer`` (held-out styles, unseen-recording sounds); see the module docstring.

    ``train_licences`` (``corpus`` only): the train side keeps only recordings under these manifest licences (e.g.
    ``CC0``, ``MIT``), for weights whose training data carry no copyleft terms. The split is drawn from the whole
    corpus first, so the held-out recordings and categories are the same as without the filter."""
    if corpus is not None and sounds is not None:
        raise AvgenError("give either sounds (a folder of recordings) or corpus (a sound-corpus folder), not both")
    if renderer not in RENDERERS:
        raise AvgenError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}")
    if renderer == "scenes" and (corpus is None or images is None):
        raise AvgenError("the scenes renderer needs both a sound corpus (corpus/--corpus) and an image corpus "
                         "(images/--images)")
    if train_licences is not None and corpus is None:
        raise AvgenError("train_licences filters a sound corpus's train side (corpus/--corpus)")
    if renderer == "shapes" and images is not None:
        raise AvgenError("images (an image corpus) is only used by the scenes renderer (renderer='scenes')")
    for what, folder in (("sound corpus", corpus), ("image corpus", images)):
        if folder is not None and not os.path.isfile(os.path.join(folder, "manifest.jsonl")):
            raise AvgenError(f"{folder}: not a {what} folder (no manifest.jsonl)")
    rng = np.random.default_rng(seed)
    if corpus is None:
        recs = load_sounds(sounds, settings.sample_rate)
        names = sorted(recs)
        summary = {"settings": asdict(settings), "sounds": names, "seed": seed, "splits": {}}
        for split, count in (("train", train), ("valid", valid), ("test", test)):
            plan = []
            for i in range(count):
                kind, name = EVENT_KINDS[i % len(EVENT_KINDS)], names[(i // len(EVENT_KINDS)) % len(names)]
                plan.append({"name": name, "kind": kind, "sound": recs[name], "ref_sound": recs[name],
                             "row": {"sound": name, "recording": name}})
            _write_split(out_dir, split, plan, rng, settings, references=split == "test", label="seen",
                         progress=progress)
            summary["splits"][split] = count
    else:
        parts = _corpus_splits(corpus, test_fraction=test_fraction, held_out_categories=held_out_categories, seed=seed)
        if train_licences is not None:  # filtered after the split: the test sides stay those of the whole corpus
            allowed = set(train_licences)
            known = {r["licence"] for part in parts.values() for r in part}
            if allowed - known:  # a misspelt name would silently drop recordings
                raise AvgenError(f"{corpus}: no recording is under {', '.join(sorted(allowed - known))} "
                                 f"(the manifest has {', '.join(sorted(known))})")
            parts["train"] = [r for r in parts["train"] if r["licence"] in allowed]
            if not parts["train"]:
                raise AvgenError(f"{corpus}: no train-side recording is under {', '.join(sorted(allowed))}")
        cache: dict[str, np.ndarray] = {}
        scenes = renderer == "scenes"
        # scenes keep the whole excerpt (up to the clip's length); shapes the first 0.4 s
        max_seconds = settings.seconds if scenes else DISCRETE_SECONDS

        def load(row: dict) -> np.ndarray:
            if row["id"] not in cache:
                cache[row["id"]] = _load_sound(os.path.join(corpus, row["path"]), settings.sample_rate,
                                               min(max_seconds, float(row["duration"])) if scenes else max_seconds,
                                               settings.onset_trim_db)
            return cache[row["id"]]

        summary = {"settings": asdict(settings), "corpus": os.path.abspath(corpus), "seed": seed,
                   "test_fraction": test_fraction,
                   "held_out_categories": sorted({r["category"] for r in parts["unseen_category"]}),
                   "train_licences": None if train_licences is None else sorted(set(train_licences)),
                   "recordings": {k: len({r["recording"] for r in v}) for k, v in parts.items()}, "splits": {},
                   "distinct_test_references": {}}
        jobs = (("train", train, "train", None), ("valid", valid, "train", None), ("test", test, "train", "seen"),
                ("test_unseen_recording", test, "unseen_recording", "unseen_recording"),
                ("test_unseen_category", test, "unseen_category", "unseen_category"))
        assets = None
        if scenes:
            from .image_corpus import load_assets
            from .image_corpus import read_manifest as read_images
            from .image_corpus import split_images
            from .scenes import HELD_OUT_STYLES, TRAIN_STYLES

            # pictures split by group with the benchmark's seed; held-out styles draw from the test side
            sides = split_images(read_images(os.path.join(images, "manifest.jsonl")), test_fraction=0.2, seed=seed)
            assets = {side: load_assets(images, part) for side, part in sides.items()}
            jobs += (("test_held_out_renderer", test, "unseen_recording", "held_out_renderer"),)
            summary |= {"renderer": "scenes", "images": os.path.abspath(images),
                        "pictures": {side: len(part) for side, part in sides.items()}}
        trained: set[str] = set()
        for split, count, side, label in jobs:
            pool = parts[side]
            if split in ("valid", "test") and trained:
                # "seen" means rendered into train: with fewer train clips than train-side recordings, the rest
                # of that side was never seen and must not be scored as seen
                pool = [r for r in pool if r["recording"] in trained]
            plan = _corpus_plan(pool, count, rng, load)
            if split == "train":
                trained = {p["row"]["recording"] for p in plan}
            if scenes:
                # train/valid/test and the unseen-sound splits cycle the training styles; the last split the held-out
                styles = HELD_OUT_STYLES if label == "held_out_renderer" else TRAIN_STYLES
                for i, p in enumerate(plan):
                    p["style"] = styles[i % len(styles)]
            # each clip has its own generator (seed, split, index): long renders resume where they stopped
            rows = _write_split(out_dir, split, plan, rng, settings, references=label is not None, label=label,
                                progress=progress, rate_step=50, assets=assets,
                                clip_seed=(seed, [j[0] for j in jobs].index(split)))
            summary["splits"][split] = count
            if label is not None:
                summary["distinct_test_references"][split] = len({r["recording"] for r in rows})
    atomic_write_text(os.path.join(out_dir, "benchmark.json"), json.dumps(summary, indent=2))
    return summary
