"""Small synthetic runs for the gallery tests: made in a second, no model involved, with figures that differ from
row to row so sorting has something to reorder."""

from __future__ import annotations

import json
import os

import numpy as np

SR = 22050
# per clip: the click times of its input video's own track, and how loud system A's output is (not in row order)
CLIPS = {"c0_mid": ([0.2, 0.6], 0.2), "c1_loud": ([0.3], 0.6), "c2_quiet": ([0.1, 0.5, 0.8], 0.05)}


def _clicks(times, gain, *, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * SR), np.float32)
    for t in times:
        i = int(t * SR)
        burst = rng.standard_normal(1200).astype(np.float32) * np.exp(-np.arange(1200) / 200, dtype=np.float32)
        x[i:i + 1200] += gain * burst[: len(x) - i]
    return np.clip(x, -1, 1)[None]


def make_runs(root: str) -> dict:
    """Writes under ``root``: ``inputs/`` (videos with their own track, references), ``manifest.jsonl`` (a v2s
    batch manifest; ``rows``: its rows as the batch reads them), ``sys_a/`` (wav outputs) and ``sys_b/`` (muxed mp4
    outputs, as ``avgen v2s --manifest`` writes), and a fake ``avgen eval v2s`` run: ``bench/test/`` (manifest with
    events), ``bench/out/`` (wavs) and ``bench/report.jsonl``. Returns the paths."""
    from avgen.media import write_audio, write_video

    inputs = os.path.join(root, "inputs")
    for d in ("inputs", "sys_a", "sys_b", "bench/test/references", "bench/out"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    rows, bench_rows = [], []
    for k, (cid, (times, gain)) in enumerate(CLIPS.items()):
        frames = np.zeros((10, 32, 32, 3), np.uint8)
        frames[:, :, :, k % 3] = np.linspace(0, 255, 10, dtype=np.uint8)[:, None, None]
        video = os.path.join(inputs, f"{cid}.mp4")
        write_video(video, frames, 10, _clicks(times, 0.5, seed=k), SR)
        ref = os.path.join(inputs, f"ref_{k}.wav")
        write_audio(ref, _clicks([0.1, 0.4], 0.3, seed=10 + k), SR)
        rows.append({"id": cid, "video": os.path.relpath(video, root), "reference": os.path.relpath(ref, root)})
        write_audio(os.path.join(root, "sys_a", f"{cid}.wav"), _clicks(times, gain, seed=20 + k), SR)
        write_video(os.path.join(root, "sys_b", f"{cid}.mp4"), frames, 10, _clicks(times[:1], 0.3, seed=30 + k), SR)
        # the benchmark layout: <id>.mp4 with the true track, references/<name>, events in the manifest
        write_video(os.path.join(root, "bench/test", f"{cid}.mp4"), frames, 10, _clicks(times, 0.5, seed=k), SR)
        write_audio(os.path.join(root, "bench/test/references", f"r{k}.wav"), _clicks([0.2], 0.3, seed=40 + k), SR)
        bench_rows.append({"id": cid, "reference": f"references/r{k}.wav", "events": times, "split": "seen"})
        write_audio(os.path.join(root, "bench/out", f"{cid}.wav"), _clicks(times, gain, seed=50 + k), SR)
    manifest = os.path.join(root, "manifest.jsonl")
    with open(manifest, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(root, "bench/test/manifest.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in bench_rows)
    report = {"metric": "v2s_benchmark", "onset_recall": 0.5, "mcd": 7.25,
              "inputs": {"test_dir": os.path.join(root, "bench/test"), "output_dir": os.path.join(root, "bench/out")},
              "profile": {"checkpoint": "bundled default", "ablate": None, "vocoder": "griffin-lim", "seed": 0}}
    with open(os.path.join(root, "bench/report.jsonl"), "w") as f:
        f.write(json.dumps(report) + "\n")
    from avgen.cli import _read_pairs

    return {"root": root, "manifest": manifest, "rows": _read_pairs(manifest), "sys_a": os.path.join(root, "sys_a"),
            "sys_b": os.path.join(root, "sys_b"), "bench_out": os.path.join(root, "bench/out"),
            "bench_report": os.path.join(root, "bench/report.jsonl")}


_SHARED: dict = {}


def shared_gallery(tmp_path_factory) -> dict:
    """One gallery per test session, built from :func:`make_runs` with the three systems (A: wavs, B: muxed mp4s,
    bench: the eval v2s folder), shared by tests/test_gallery.py and the browser tests. Tests must not write into it.
    Returns ``make_runs``' paths plus ``gallery`` (the folder) and ``index``."""
    if not _SHARED:
        from avgen.gallery import build_gallery

        runs = make_runs(str(tmp_path_factory.mktemp("gallery_runs")))
        out = str(tmp_path_factory.mktemp("gallery"))
        index = build_gallery([runs["sys_a"], runs["sys_b"], runs["bench_out"]], out, manifest=runs["rows"],
                              labels=["A", "B", "bench"])
        _SHARED.update(runs, gallery=out, index=index)
    return _SHARED
