"""Folder-level audio metrics: MCD, timbre similarity, audio-visual sync and Melception FID/MKL/IS.

Paired metrics match generated and reference files by file stem (``dog.wav`` <-> ``dog.mp4``); video files count as
audio (their first audio track).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..audio import mel_spectrogram
from ..errors import AvgenError
from ..media import read_audio, read_video
from ..utils import require_finite
from . import inputs as io
from .audio import (TimbreEmbedder, audio_onsets, cosine_similarity, mcd, retrieval_accuracy, sync_error,
                    visual_onsets)
from .networks import MelceptionExtractor
from .report import make_report
from .stats import FeatureStats, frechet_distance, inception_score, paired_kl

__all__ = ["pair_files", "compute_mcd", "compute_timbre", "compute_sync", "compute_melception"]


def pair_files(generated, reference) -> tuple[list[tuple[str, str, str]], dict]:
    """(stem, generated file, reference file) for every stem present in both folders, and counts of the rest."""
    gen = {io.stem(p): p for p in io.list_audio(generated, include_video=True)}
    ref = {io.stem(p): p for p in io.list_audio(reference, include_video=True)}
    common = sorted(set(gen) & set(ref))
    if not common:
        raise AvgenError(f"no file stems in common between {generated} and {reference}: paired metrics match "
                         "generated and reference files by name")
    return [(s, gen[s], ref[s]) for s in common], {"pairs": len(common), "unpaired_generated": len(gen) - len(common),
                                                   "unpaired_reference": len(ref) - len(common)}


def _load(path: str, sample_rate: int) -> np.ndarray:
    wav = read_audio(path, sample_rate=sample_rate)[0].reshape(-1)
    if not np.isfinite(wav).all():
        # named at the file's own rate: resampling smears one NaN over its neighbours (and moves the first one)
        require_finite(read_audio(path)[0], path)
    require_finite(wav, path)  # a NaN would come out as mcd=NaN or be blamed on silence trimming
    return wav


def _bar(items, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, disable=not progress, leave=False)


def compute_mcd(generated, reference, *, order: int = 24, sample_rate: int = 22050, progress: bool = True) -> dict:
    """Mean mel-cepstral distortion (dB) over pairs, plain (frames paired by index) and DTW-aligned."""
    pairs, counts = pair_files(generated, reference)
    plain, aligned = [], []
    for _, g, r in _bar(pairs, "mcd", progress):
        a, b = _load(g, sample_rate), _load(r, sample_rate)
        plain.append(mcd(a, b, sample_rate, order=order))
        aligned.append(mcd(a, b, sample_rate, order=order, dtw=True))
    profile = {"cepstrum": f"DCT-II of log mel magnitude (specvqgan filterbank: 80 bands 125-7600 Hz, n_fft 1024, "
                           f"hop 256), coefficients 1..{order} (c0 excluded)",
               "formula": "10/ln10 * sqrt(2) * mean_t ||c_gen - c_ref||", "sample_rate": sample_rate,
               "dtw": "steps (1,0),(0,1),(1,1), Euclidean cost, mean over the path", **counts}
    return make_report("mcd", {"mcd": float(np.mean(plain)), "mcd_dtw": float(np.mean(aligned))}, profile,
                       generated=os.fspath(generated), reference=os.fspath(reference))


def compute_timbre(generated, reference, *, trim_silence: bool = True, device=None, progress: bool = True) -> dict:
    """Resemblyzer timbre cosine similarity of each generated clip with its reference (the VarietySound measure),
    and retrieval accuracy: how often a generated clip's closest reference is its own."""
    pairs, counts = pair_files(generated, reference)
    emb = TimbreEmbedder(device=device, trim_silence=trim_silence)
    g_emb, r_emb = [], []
    for _, g, r in _bar(pairs, "timbre", progress):
        g_emb.append(emb.embed(_load(g, 16000), 16000))
        r_emb.append(emb.embed(_load(r, 16000), 16000))
    sims = cosine_similarity(np.stack(g_emb), np.stack(r_emb))
    values = {"timbre_similarity": float(sims.mean()), "timbre_similarity_std": float(sims.std()),
              "timbre_retrieval_accuracy": retrieval_accuracy(np.stack(g_emb), np.stack(r_emb)),
              "retrieval_chance": 1.0 / len(pairs)}
    return make_report("timbre", values, {**emb.profile(), **counts}, generated=os.fspath(generated),
                       reference=os.fspath(reference))


def _read_events(path: str) -> dict[str, list[float]]:
    """JSON lines ``{"name": <video stem>, "events": [seconds, ...]}``."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                    out[str(rec["name"])] = [float(t) for t in rec["events"]]
                except (ValueError, KeyError, TypeError) as e:
                    raise AvgenError(f"{path}:{i}: expected {{\"name\": ..., \"events\": [...]}} ({e})") from None
    return out


def compute_sync(videos, *, audio=None, events: str | None = None, tolerance: float = 0.1, fps: float = 21.5,
                 progress: bool = True) -> dict:
    """Onset-based audio-visual synchrony: for every visual event, the distance to the nearest audio onset.

    Args:
        videos: folder of videos (or one video).
        audio: folder of audio files paired by stem (generated tracks); default: each video's own audio track.
        events: JSON-lines file of known event times per video stem; default: detected visual onsets.
        tolerance: seconds within which an event counts as hit.
        fps: frame rate at which visual onsets are detected.
    """

    paths = io.list_videos(videos)
    audio_for = {io.stem(p): p for p in io.list_audio(audio, include_video=True)} if audio else {}
    known = _read_events(events) if events else None
    dists, n_onsets, n_events, skipped = [], 0, 0, []
    for p in _bar(paths, "sync", progress):
        stem = io.stem(p)
        if known is not None:
            if stem not in known:
                raise AvgenError(f"{events}: no events for video '{stem}'")
            ev = np.asarray(known[stem])
        else:
            ev = visual_onsets(read_video(p, fps=fps)[0], fps)
        if ev.size == 0:
            skipped.append(stem)
            continue
        src = audio_for.get(stem, p) if audio else p
        if audio and stem not in audio_for:
            raise AvgenError(f"{audio}: no audio for video '{stem}'")
        wav, sr = read_audio(src, sample_rate=22050)
        on = audio_onsets(wav.reshape(-1), sr)
        res = sync_error(on, ev, tolerance=tolerance)
        n_onsets += res.num_onsets
        n_events += res.num_events
        dists += list(np.abs(ev[:, None] - on[None, :]).min(1)) if on.size else [np.inf] * ev.size
    if not dists:
        raise AvgenError("no visual events found in any video; pass known event times with --events")
    d = np.asarray(dists)
    values = {"sync_median_ms": float(np.median(d) * 1000), "sync_mean_ms": float(d[np.isfinite(d)].mean() * 1000)
              if np.isfinite(d).any() else float("inf"), "sync_hit_rate": float((d <= tolerance).mean())}
    profile = {"audio_onsets": "spectral flux of log |STFT| (n_fft 512, hop 128 at 22050 Hz), peak picking "
                               "(50 ms neighbourhood, 30% of range above median)",
               "visual_events": "given" if events else f"peaks of the rise in mean |frame difference| at {fps} fps",
               "tolerance_s": tolerance, "num_videos": len(paths), "videos_without_events": skipped,
               "num_events": n_events, "num_onsets": n_onsets}
    return make_report("sync", values, profile, videos=os.fspath(videos), audio=audio, events=events)


def compute_melception(generated, reference, *, weights, norm_stats, splits: int = 10, device=None,
                       batch_size: int = 16, progress: bool = True) -> dict:
    """SpecVQGAN's audio metrics on Melception features: FID (2048-d pool), MKL (paired KL of class posteriors,
    KL(reference || generated)) and IS of the generated set (logits_unbiased, ``splits`` splits)."""

    ex = MelceptionExtractor(weights, norm_stats=norm_stats, device=device)
    pairs, counts = pair_files(generated, reference)
    feats = {"gen": {"pool": [], "logits": [], "logits_unbiased": []}, "ref": {"pool": [], "logits": []}}
    for i in _bar(range(0, len(pairs), batch_size), "melception", progress):
        chunk = pairs[i:i + batch_size]
        for side, col in (("gen", 1), ("ref", 2)):
            mels = [ex.crop(mel_spectrogram(_load(c[col], 22050))) for c in chunk]
            out = ex(np.stack([m.numpy() for m in mels]))
            for k in feats[side]:
                feats[side][k].append(out[k].double().numpy())
    cat = {s: {k: np.concatenate(v) for k, v in d.items()} for s, d in feats.items()}
    sg, sr = FeatureStats(), FeatureStats()
    sg.update(cat["gen"]["pool"])
    sr.update(cat["ref"]["pool"])
    if len(pairs) < 2:
        raise AvgenError("Melception FID needs at least 2 pairs of clips")
    values = {"fid": frechet_distance(sr.mean(), sr.cov(), sg.mean(), sg.cov()),
              "mkl": paired_kl(cat["gen"]["logits"], cat["ref"]["logits"])}
    if len(pairs) >= splits:
        values["is_mean"], values["is_std"] = inception_score(cat["gen"]["logits_unbiased"], splits=splits)
    profile = {**ex.profile(), "splits": splits, "mel": "avgen specvqgan preset on the decoded audio (22050 Hz mono)",
               **counts}
    return make_report("melception", values, profile, generated=os.fspath(generated), reference=os.fspath(reference))
