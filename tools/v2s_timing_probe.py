#!/usr/bin/env python
"""How much event timing a video representation carries, measured on clips it was not fitted on.

    python tools/v2s_timing_probe.py BENCH [--test test_held_out_renderer test_unseen_recording] [--steps 1500]

BENCH is a foley benchmark folder (tools/make_foley.py) whose ``train`` split and test splits have been prepared
into ``BENCH/cache_<split>`` (``avgen prepare BENCH/<split> -o BENCH/cache_<split>``). For each input
representation a small supervised probe (three 1-D convolutions, kernel 5, 64 channels, about 0.4 M weights with the
appearance features) is fitted on the training clips to mark the feature frames of the true events (a Gaussian of
0.6 frames around each event time, weighted binary cross-entropy), and then scored on the test splits with the
benchmark's timing figures (peaks of its output, ``avgen.benchmarks.v2s.onset_timing``; ±50 ms matching) and on 48
training clips (the fit). Representations, all at the feature rate (21.5 fps):

* ``features``: the cached visual features (EfficientNet-Lite0, 1280-d), as the temporal encoder gets them;
* ``features+motion_energy``: the same plus :func:`avgen.models.v2s.varietysound.motion_energy`
  (``model.motion_energy``);
* ``pixel_diff``: mean absolute grey-level frame difference over a 4x4 grid and its rise (32-d): the cache's
  ``motion`` (:mod:`avgen.encoders.motion`, the input of ``model.pixel_motion_dim``) when it has one; for a cache
  made before it, computed here from 64-px frames decoded with the reader ``avgen prepare`` uses; with
  ``--motion KIND``, that kind (``pixel-grid``, ``pixel-grid-stabilised``, ``pixel-grid-local`` or ``pixel-flow-local``,
  64-d) computed here
  from the frames ``avgen prepare`` gives the encoder, whatever the caches hold;
* ``all``: the three concatenated.

This is a diagnostic, not the model: it tells whether the timing the generator must learn is in its input in a form
that holds on clips (and renderers) it never saw. Prints the command and the figures per representation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn as nn

from avgen.encoders.motion import MOTION_KINDS

FPS = 21.5
MODES = ("features", "features+motion_energy", "pixel_diff", "all")


class UsageError(Exception):
    """A missing input: one line, exit status 2."""


def pixel_diff(path: str, frames: int, kind: str | None = None) -> torch.Tensor:
    """``[frames, 32]`` (64 for ``pixel-flow-local``): :func:`avgen.encoders.motion.pixel_motion` of the video, cut or
    zero-padded to ``frames``.
    Without ``kind`` (a cache made before pixel motion): ``pixel-grid`` from frames decoded at a 64-px shorter side;
    with it: that kind from the frames ``avgen prepare`` gives the encoder (256-px shorter side)."""
    from avgen.encoders.frames import iter_frame_batches
    from avgen.encoders.motion import motion_dim, pixel_motion

    side = 64 if kind is None else 256
    g = pixel_motion(np.concatenate(list(iter_frame_batches(path, fps=FPS, resize=side, batch_size=64))),
                     kind or "pixel-grid")
    out = np.zeros((frames, motion_dim(kind or "pixel-grid")), np.float32)
    n = min(frames, len(g))
    out[:n] = g[:n]
    return torch.from_numpy(out)


def load_split(bench: str, split: str, check_only: bool = False,
               motion: str | None = None) -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
    """(features, pixel differences, manifest row) of every prepared clip of a split (``check_only``: only check
    that its index and manifest exist). ``motion``: compute that kind from the videos instead of the cache's."""
    from safetensors.numpy import load_file

    cache, folder = os.path.join(bench, f"cache_{split}"), os.path.join(bench, split)
    for path in (os.path.join(cache, "index.jsonl"), os.path.join(folder, "manifest.jsonl")):
        if not os.path.isfile(path):
            raise UsageError(f"{path} not found (render and prepare the '{split}' split)")
    if check_only:
        return []
    with open(os.path.join(folder, "manifest.jsonl")) as f:
        rows = {r["id"]: r for r in map(json.loads, filter(str.strip, f))}
    out = []
    with open(os.path.join(cache, "index.jsonl")) as f:
        for item in map(json.loads, filter(str.strip, f)):
            tensors = load_file(os.path.join(cache, item["file"]))
            feats = torch.from_numpy(tensors["features"])
            pix = (torch.from_numpy(tensors["motion"]) if "motion" in tensors and motion is None  # the model's input
                   else pixel_diff(os.path.join(folder, item["id"] + ".mp4"), feats.shape[0], motion))
            out.append((feats, pix, rows[item["id"]]))
    return out


def inputs(item, mode: str) -> torch.Tensor:
    from avgen.models.v2s.varietysound import motion_energy

    feats, pix, _ = item
    parts = {"features": [feats], "features+motion_energy": [feats, motion_energy(feats[None])[0]],
             "pixel_diff": [pix], "all": [feats, motion_energy(feats[None])[0], pix]}[mode]
    return torch.cat(parts, -1)  # [T, D]


def event_target(frames: int, events) -> torch.Tensor:
    j = torch.arange(frames, dtype=torch.float32)[:, None]
    return torch.exp(-0.5 * ((j - torch.tensor(events, dtype=torch.float32)[None] * FPS) / 0.6) ** 2).amax(1)


def fit_and_score(train, tests: dict, mode: str, steps: int, seed: int) -> dict:
    from avgen.benchmarks.v2s import onset_timing
    from avgen.metrics.audio import pick_peaks

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xs = [inputs(it, mode) for it in train]
    t = min(x.shape[0] for x in xs)
    x = torch.stack([v[:t] for v in xs])  # [N, T, D]
    y = torch.stack([event_target(t, it[2]["events"]) for it in train])  # [N, T]
    mu, sd = x.mean((0, 1)), x.std((0, 1)) + 1e-3
    probe = nn.Sequential(nn.Conv1d(x.shape[-1], 64, 5, padding=2), nn.ReLU(), nn.Conv1d(64, 64, 5, padding=2),
                          nn.ReLU(), nn.Conv1d(64, 1, 5, padding=2))
    opt = torch.optim.Adam(probe.parameters(), 1e-3)
    for _ in range(steps):
        i = torch.randint(len(x), (32,), generator=g)
        logits = probe(((x[i] - mu) / sd).transpose(1, 2))[:, 0]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y[i], pos_weight=torch.tensor(5.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {}
    with torch.no_grad():
        for name, data in tests.items():
            onsets = []
            for it in data:
                p = torch.sigmoid(probe(((inputs(it, mode) - mu) / sd).T[None]))[0, 0].numpy()
                onsets.append(pick_peaks(p, FPS, min_gap=0.2, threshold=0.3) if p.max() > 0.5 else np.zeros(0))
            r = onset_timing(onsets, [it[2]["events"] for it in data])
            out[name] = {"median_ms": round(r["onset_error_median_ms"], 1), "recall": round(r["onset_recall"], 3),
                         "unmatched_per_clip": round(r["unmatched_onsets_per_clip"], 2)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench", help="foley benchmark folder with cache_train and cache_<test split> (avgen prepare)")
    p.add_argument("--test", nargs="+", default=["test_held_out_renderer", "test_unseen_recording"],
                   help="test splits to score (default: test_held_out_renderer test_unseen_recording)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="representations to probe")
    p.add_argument("--steps", type=int, default=1500, help="probe training steps, batch 32 (default 1500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probes and their batches (default 0)")
    p.add_argument("--motion", choices=MOTION_KINDS, default=None,
                   help="compute pixel_diff of this kind (avgen prepare --motion) from the videos, decoded as avgen "
                        "prepare decodes them, instead of taking the caches' motion")
    a = p.parse_args(argv)
    if a.steps < 1:
        p.error(f"--steps must be at least 1, got {a.steps}")
    t0 = time.time()
    try:
        for split in ["train", *a.test]:  # every input checked before any is decoded
            load_split(a.bench, split, check_only=True)
        train = load_split(a.bench, "train", motion=a.motion)
        tests = {s: load_split(a.bench, s, motion=a.motion) for s in a.test}
    except UsageError as e:
        print(f"v2s_timing_probe.py: error: {e}", file=sys.stderr)
        return 2
    tests["train (first 48: the fit)"] = train[:48]
    print("command:", " ".join(["python", "tools/v2s_timing_probe.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {len(train)} training clips; "
          + ", ".join(f"{k} {len(v)}" for k, v in tests.items()) + f"; loaded in {time.time() - t0:.0f} s", flush=True)
    for mode in a.modes:
        print(mode, json.dumps(fit_and_score(train, tests, mode, a.steps, a.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
