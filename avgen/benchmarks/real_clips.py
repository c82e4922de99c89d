"""Real-clip timing benchmark (``avgen eval v2s-real``): does the video -> sound pipeline put its sounds where a real
clip's own sounds are?

For every clip of a folder of real videos (e.g. the 12 VGGSound samples in ``../shared``, never trained on) a track
is generated from the clip's video alone (the pipeline never reads the clip's audio) with a timbre reference that is
not the clip's own track: a fixed recording (default ``avgen/assets/example_reference.flac``) or, with
``reference="own-other"``, the next clip's track (rotating). Its onsets (:func:`level_invariant_onsets`, so levels do
not matter) are scored against the onsets of the clip's own recorded track with :func:`onset_f1` (+-``tolerance``).

**Chance is measured in the same run**: the same generated track scored against every *other* clip's track, the mean
over those. A generator that follows the video scores higher against its own clip than against the others; one that
places sounds without looking scores the same (ratio ~1). The level (RMS of the generated track vs the clip's own
track) is reported beside it.

**The ceiling is measured too**: the clips' own onsets scored as if they were the outputs (own F1 1 wherever a track
has onsets; ``ceiling_ratio`` = that over the mean F1 of a clip's own onsets against the other clips' tracks). Where
the clips' tracks are dense (VGGSound: 3-6 onsets per second), even a perfect output scores well against other clips
within +-100 ms, so the ratio has a ceiling well below what a sparse output could reach. ``matched_ceiling_ratio`` thins
each clip's own onsets to as many as its generated track has (evenly by index) and scores them the same way: what
a generator placing that many onsets perfectly would get.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ..errors import AvgenError
from ..media import VIDEO_EXTENSIONS, probe, read_audio, write_audio
from ..metrics.audio import LEVEL_INVARIANT_ONSETS, level_invariant_onsets, onset_f1
from ..metrics.report import make_report
from ..utils import atomic_write_text

__all__ = ["DEFAULT_REFERENCE", "OWN_OTHER", "list_clips", "score_onsets", "thinned", "ceiling", "evaluate_v2s_real",
           "markdown_table"]

DEFAULT_REFERENCE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "example_reference.flac")
OWN_OTHER = "own-other"
SAMPLE_RATE = 22050


def list_clips(clips_dir: str) -> list[str]:
    """The videos of ``clips_dir`` (or of its ``video/`` sub-folder), sorted; one-line errors when there are none."""
    if not os.path.isdir(clips_dir):
        raise AvgenError(f"{clips_dir}: no such folder")
    for folder in (clips_dir, os.path.join(clips_dir, "video")):
        if os.path.isdir(folder):
            found = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                           if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith("."))
            if found:
                return found
    raise AvgenError(f"{clips_dir}: no videos ({', '.join(VIDEO_EXTENSIONS)})")


def score_onsets(generated: list[np.ndarray], truth: list[np.ndarray], durations: list[float], *,
                 tolerance: float = 0.1) -> dict:
    """Onset F1 of every generated onset list against every true one: ``f1[i][j]`` = generated i vs clip j's own
    track (onsets of both limited to the shorter of the two clips). Own = the diagonal; chance_i = the mean over
    j != i. Returns the matrix, the own rows (precision/recall/F1) and the per-clip chance."""
    n = len(generated)
    if n < 2 or len(truth) != n or len(durations) != n:
        raise AvgenError("the real-clip benchmark needs at least 2 clips (chance is scored on the other clips)")
    f1 = np.zeros((n, n))
    own = []
    for i in range(n):
        for j in range(n):
            # compare only the time both clips cover
            end = min(durations[i], durations[j])
            g, t = generated[i][generated[i] <= end], truth[j][truth[j] <= end]
            res = onset_f1(g, t, tolerance)
            f1[i, j] = res.f1
            if i == j:
                own.append(res)
    chance = np.array([np.delete(f1[i], i).mean() for i in range(n)])
    return {"f1_matrix": f1, "own": own, "chance": chance}


def thinned(onsets: np.ndarray, count: int) -> np.ndarray:
    """``count`` of ``onsets`` spread evenly over the list by index (all of them when there are not more)."""
    on = np.asarray(onsets, np.float64)
    if count >= len(on):
        return on
    return on[np.unique(np.linspace(0, len(on) - 1, max(count, 0)).round().astype(int))] if count > 0 else on[:0]


def _ratio(f1: float, chance: float) -> float | None:
    return f1 / chance if chance > 0 else None


def ceiling(truth: list[np.ndarray], durations: list[float], counts: list[int], *, tolerance: float = 0.1) -> dict:
    """What perfect outputs would score: the own onsets as outputs (``ceiling_*``) and, thinned to ``counts`` onsets
    per clip (the generated tracks'), ``matched_ceiling_*``; each as mean own F1, mean chance F1 and their ratio."""
    out = {}
    for name, outputs in (("ceiling", truth), ("matched_ceiling", [thinned(t, k) for t, k in zip(truth, counts)])):
        s = score_onsets(outputs, truth, durations, tolerance=tolerance)
        f1, chance = float(np.mean([r.f1 for r in s["own"]])), float(s["chance"].mean())
        out |= {f"{name}_f1": f1, f"{name}_chance_f1": chance, f"{name}_ratio": _ratio(f1, chance)}
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))) if len(x) else 0.0


def _db(a: float, b: float) -> float | None:
    return round(20 * math.log10(a / b), 2) if a > 0 and b > 0 else None


def markdown_table(report: dict) -> str:
    """Per-clip rows and the summary of a :func:`evaluate_v2s_real` report as a markdown table."""
    lines = ["| clip | reference | onsets gen / own | precision | recall | F1 | chance F1 | RMS gen / own |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["clips"]:
        lines.append(f"| {r['id']} | {r['reference']} | {r['onsets_generated']} / {r['onsets_own']} | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['chance_f1']:.3f} | "
                     f"{r['rms_generated']:.4f} / {r['rms_own']:.4f} |")
    fmt = lambda r: "n/a" if r is None else f"{r:.2f}"  # noqa: E731
    lines += ["", f"mean onset F1 {report['onset_f1']:.3f}, chance (same outputs vs the other clips' tracks) "
                  f"{report['chance_f1']:.3f}, ratio {fmt(report['f1_ratio'])}; ceiling (the own onsets as outputs) "
                  f"ratio {fmt(report['ceiling_ratio'])}, with as many onsets as the outputs "
                  f"{fmt(report['matched_ceiling_ratio'])} (F1 {report['matched_ceiling_f1']:.3f}); "
                  f"RMS generated {report['rms_generated']:.4f} vs own {report['rms_own']:.4f}; "
                  f"vocoder {report['profile']['vocoder']}, "
                  f"tolerance +-{report['profile']['tolerance_s'] * 1000:.0f} ms"]
    return "\n".join(lines) + "\n"


def evaluate_v2s_real(clips_dir: str, *, output_dir: str, checkpoint: str | None = None,
                      reference: str | None = None, seed: int = 0, tolerance: float = 0.1, device=None,
                      limit: int | None = None, progress: bool = True, pipeline=None) -> dict:
    """Generate a track for every video of ``clips_dir`` into ``output_dir/<stem>.wav`` (reused when present, so
    runs resume) and score its onsets against the clip's own track and, for chance, against the other clips'
    tracks. ``reference``: an audio/video file used for every clip (default :data:`DEFAULT_REFERENCE`) or
    ``"own-other"`` (clip i gets clip i+1's track). Writes ``results.json`` and ``results.md`` into
    ``output_dir`` and returns the report. ``pipeline``: an already loaded pipeline (tests)."""
    from tqdm.auto import tqdm

    if tolerance <= 0:
        raise AvgenError(f"tolerance must be > 0 seconds, got {tolerance}")
    clips = list_clips(clips_dir)[:limit]
    if len(clips) < 2:
        raise AvgenError(f"{clips_dir}: {len(clips)} video(s); the benchmark needs at least 2 (chance is scored on "
                         "the other clips)")
    # every clip needs its own recorded track: that is the ground truth
    infos = [probe(c) for c in clips]
    for c, info in zip(clips, infos):
        if not info.has_audio:
            raise AvgenError(f"{c}: no audio track (the clip's own recording is the ground truth)")
    rotate = reference == OWN_OTHER
    ref_file = None if rotate else os.path.abspath(reference or DEFAULT_REFERENCE)
    if ref_file is not None and not os.path.isfile(ref_file):
        raise AvgenError(f"{ref_file}: reference not found (an audio file, a video with sound, or '{OWN_OTHER}')")
    if ref_file is not None and any(os.path.samefile(ref_file, c) for c in clips):
        raise AvgenError(f"{ref_file}: the reference is one of the clips (its own track would leak the answer)")
    refs = [clips[(i + 1) % len(clips)] if rotate else ref_file for i in range(len(clips))]

    if pipeline is None:  # either head, read from the folder's config.json
        from .v2s import V2SHead

        head = V2SHead(checkpoint, device=device, vocoder=None, ablate=None)
        generate, vocoder = head.generate, head.vocoder_name
    else:
        generate = lambda clip, ref, seed: pipeline(clip, ref, seed=seed).waveform[0].numpy()  # noqa: E731
        vocoder = getattr(pipeline, "vocoder_name", None) or "griffin-lim"
    # outputs are reused only when they were made with the same settings
    os.makedirs(output_dir, exist_ok=True)
    settings = {"checkpoint": os.path.abspath(checkpoint) if checkpoint else "bundled default",
                "reference": OWN_OTHER if rotate else ref_file, "seed": seed, "vocoder": vocoder}
    settings_file = os.path.join(output_dir, "settings.json")
    if os.path.exists(settings_file):
        with open(settings_file, encoding="utf-8") as f:
            before = json.load(f)
        if before != settings:
            raise AvgenError(f"{output_dir}: holds outputs made with other settings ({before}); use another -o")
    else:
        atomic_write_text(settings_file, json.dumps(settings, indent=2))

    gen_on, true_on, durations, rows = [], [], [], []
    for clip, ref, info in zip(tqdm(clips, desc="v2s real clips", disable=not progress, leave=False), refs, infos):
        stem = os.path.splitext(os.path.basename(clip))[0]
        out = os.path.join(output_dir, stem + ".wav")
        # generate from the video only (the pipeline reads frames, never the clip's audio)
        if not os.path.exists(out):
            write_audio(out, generate(clip, ref, seed)[None], SAMPLE_RATE)
        gen = read_audio(out, sample_rate=SAMPLE_RATE)[0].mean(0)
        own = read_audio(clip, sample_rate=SAMPLE_RATE)[0].mean(0)
        gen_on.append(level_invariant_onsets(gen, SAMPLE_RATE))
        true_on.append(level_invariant_onsets(own, SAMPLE_RATE))
        durations.append(min(len(gen), len(own)) / SAMPLE_RATE)
        rows.append({"id": stem, "reference": os.path.splitext(os.path.basename(ref))[0],
                     "rms_generated": _rms(gen), "rms_own": _rms(own)})
    # own-track F1 and chance (the same outputs against every other clip's track)
    s = score_onsets(gen_on, true_on, durations, tolerance=tolerance)
    for r, res, ch, g, t in zip(rows, s["own"], s["chance"], gen_on, true_on):
        r.update(onsets_generated=res.num_pred, onsets_own=res.num_true, precision=res.precision,
                 recall=res.recall, f1=res.f1, chance_f1=float(ch), level_db=_db(r["rms_generated"], r["rms_own"]))
    mean_f1, chance = float(np.mean([r["f1"] for r in rows])), float(s["chance"].mean())
    rms_g, rms_o = float(np.mean([r["rms_generated"] for r in rows])), float(np.mean([r["rms_own"] for r in rows]))
    values = {"onset_f1": mean_f1, "chance_f1": chance, "f1_ratio": _ratio(mean_f1, chance),
              **ceiling(true_on, durations, [len(g) for g in gen_on], tolerance=tolerance),
              "onset_precision": float(np.mean([r["precision"] for r in rows])),
              "onset_recall": float(np.mean([r["recall"] for r in rows])),
              "rms_generated": rms_g, "rms_own": rms_o, "level_db": _db(rms_g, rms_o), "clips": rows,
              "f1_matrix": np.round(s["f1_matrix"], 4).tolist()}
    profile = {"checkpoint": settings["checkpoint"], "vocoder": vocoder, "reference": settings["reference"],
               "num_clips": len(clips), "seed": seed, "tolerance_s": tolerance, "sample_rate": SAMPLE_RATE,
               "onsets": LEVEL_INVARIANT_ONSETS,
               "matching": "one-to-one maximum matching within the tolerance (sorted sweep)",
               "chance": "mean F1 of each generated track against the other clips' own tracks",
               "ceiling": "the own onsets as outputs; matched: thinned evenly by index to each output's count",
               "rms": "whole-track RMS of mono 22.05 kHz audio; level_db = 20 log10(generated / own)"}
    report = make_report("v2s_real_clips", values, profile, clips_dir=clips_dir, output_dir=output_dir)
    atomic_write_text(os.path.join(output_dir, "results.json"), json.dumps(report, indent=2, default=str))
    atomic_write_text(os.path.join(output_dir, "results.md"), markdown_table(report))
    return report
