"""The built-in video-to-sound benchmark (``avgen eval v2s``) on a synthetic-foley test split (``tools/make_foley.py``): every test clip is
generated from its silent video and its timbre reference, then scored against the known ground truth.

* onset timing error: for every true event, the distance to the nearest onset of the generated sound; median (ms)
  over all events, and the share within one video frame (1/21.5 s);
* timbre retrieval accuracy: is the output's timbre embedding closest (cosine) to a reference made from its own
  recording, among all test references (chance = 1 / number of recordings)? With two embeddings: Resemblyzer (the paper's library) and a mel-cepstral envelope (the mean
  24-coefficient mel-cepstrum over the sounding frames);
* timbre cosine similarity with the own reference (Resemblyzer, as in the paper);
* MCD (plain and DTW) against the ground-truth track.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import AvgenError
from ..media import read_audio, write_audio
from ..metrics.audio import (TimbreEmbedder, audio_onsets, cepstral_envelope, cosine_similarity, mcd,
                             retrieval_accuracy)
from ..metrics.report import make_report
from ..models.v2s.varietysound import ENCODERS
from ..pipelines.video_to_sound import VideoToSoundPipeline

__all__ = ["evaluate_v2s"]


def evaluate_v2s(test_dir: str, *, checkpoint: str | None = None, output_dir: str, ablate: str | None = None,
                 device=None, seed: int = 0, limit: int | None = None, progress: bool = True) -> dict:
    """Generate every clip of ``test_dir/manifest.jsonl`` into ``output_dir`` (existing outputs are reused:
    resumable) and score them. ``ablate="timbre"|"temporal"|"background"`` zeroes that encoder's output at
    inference (the checkpoint is unchanged)."""
    from tqdm.auto import tqdm

    if ablate is not None and ablate not in ENCODERS:
        raise AvgenError(f"ablate must be timbre, temporal or background, got '{ablate}'")
    manifest = os.path.join(test_dir, "manifest.jsonl")
    if not os.path.exists(manifest):
        raise AvgenError(f"{test_dir}: no manifest.jsonl (build the benchmark with tools/make_foley.py)")
    with open(manifest) as f:
        rows = [json.loads(x) for x in f if x.strip()][:limit]
    if any("reference" not in r for r in rows):
        raise AvgenError(f"{manifest}: rows without a 'reference' (not a test split)")
    pipe = VideoToSoundPipeline.from_pretrained(checkpoint, device=device)
    if ablate is not None:
        pipe.generator.ablate_at_inference(ablate, "zeros")
    os.makedirs(output_dir, exist_ok=True)
    sr = 22050
    gen, truth, refs = [], [], []
    for r in tqdm(rows, desc="v2s benchmark", disable=not progress, leave=False):
        video = os.path.join(test_dir, r["id"] + ".mp4")
        ref = os.path.join(test_dir, r["reference"])
        out = os.path.join(output_dir, r["id"] + ".wav")
        if not os.path.exists(out):
            write_audio(out, pipe(video, ref, seed=seed).waveform.numpy(), sr)
        gen.append(read_audio(out, sample_rate=sr)[0][0])
        truth.append(read_audio(video, sample_rate=sr)[0][0])
        refs.append(read_audio(ref, sample_rate=sr)[0][0])
    # timing
    dists = []
    for g, r in zip(gen, rows):
        on = audio_onsets(g, sr)
        ev = np.asarray(r["events"])
        dists += list(np.abs(ev[:, None] - on[None, :]).min(1)) if on.size else [np.inf] * len(ev)
    d = np.asarray(dists)
    frame = 1 / 21.5
    # timbre
    emb = TimbreEmbedder(device=device, trim_silence=False)
    g_res = np.stack([emb.embed(w, sr) for w in gen])
    r_res = np.stack([emb.embed(w, sr) for w in refs])
    g_cep = np.stack([cepstral_envelope(w, sr) for w in gen])
    r_cep = np.stack([cepstral_envelope(w, sr) for w in refs])
    labels = [r["sound"] for r in rows]
    n_refs = len(set(labels))
    values = {
        "onset_error_median_ms": float(np.median(d) * 1000),
        "onset_within_one_frame": float((d <= frame).mean()),
        "timbre_retrieval_resemblyzer": retrieval_accuracy(g_res, r_res, labels),
        "timbre_retrieval_cepstral": retrieval_accuracy(g_cep, r_cep, labels),
        "retrieval_chance": 1.0 / n_refs,
        "timbre_similarity_resemblyzer": float(cosine_similarity(g_res, r_res).mean()),
        "mcd": float(np.mean([mcd(g, t, sr) for g, t in zip(gen, truth)])),
        "mcd_dtw": float(np.mean([mcd(g, t, sr, dtw=True) for g, t in zip(gen, truth)])),
    }
    profile = {"checkpoint": checkpoint or "bundled default", "ablate": ablate, "num_clips": len(rows),
               "num_events": int(d.size), "distinct_recordings": n_refs, "seed": seed,
               "onsets": "spectral flux peaks (see docs/metrics.md)", "timbre": emb.profile(),
               "cepstral_envelope": "mean c1..c24 over frames above the median frame energy"}
    return make_report("v2s_benchmark", values, profile, test_dir=test_dir, output_dir=output_dir)
