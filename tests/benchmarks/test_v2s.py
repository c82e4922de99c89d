"""`avgen eval v2s` on a small synthetic-foley test split with the bundled checkpoint."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from avgen.data.foley import FoleySettings, build_benchmark
from avgen.errors import AvgenError
from avgen.benchmarks.v2s import evaluate_v2s
from avgen.metrics.audio import cepstral_envelope
from avgen.models.v2s.varietysound import VarietySound

from ..conftest import REPO


def test_eval_v2s_reports_every_figure_and_reuses_outputs(tmp_path):
    build_benchmark(str(tmp_path / "bench"), train=0, valid=0, test=4, seed=1,  # 4 clips: 2 recordings, 3 kinds
                    settings=FoleySettings(seconds=2.0, max_events=3), progress=False)
    test_dir, out = tmp_path / "bench" / "test", tmp_path / "gen"
    cmd = [sys.executable, "-m", "avgen.cli", "eval", "v2s", str(test_dir), "-o", str(out), "--device", "cpu",
           "--no-progress", "--report", str(tmp_path / "report.jsonl"), "--vocoder", "griffin-lim"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "report.jsonl").read_text().splitlines()[-1])
    assert rep["metric"] == "v2s_benchmark" and rep["profile"]["num_clips"] == 4
    assert rep["profile"]["vocoder"] == "griffin-lim"  # --vocoder reaches the pipeline
    if importlib.util.find_spec("aisfx") is not None:  # the third timbre judge, per group too
        assert 0.0 <= rep["timbre_retrieval_aisfx"] <= 1.0 and "timbre_retrieval_aisfx" in rep["timbre_by_split"]["seen"]
    assert rep["profile"]["distinct_recordings"] == 2 and rep["retrieval_chance"] == 0.5
    # the bundled benchmark's test rows are renderings of trained-on recordings: one "seen" group, no warning
    assert list(rep["timbre_by_split"]) == ["seen"] and rep["warnings"] == []
    assert rep["timbre_retrieval_cepstral_seen"] == rep["timbre_retrieval_cepstral"]
    for key in ("timbre_retrieval_resemblyzer", "timbre_retrieval_cepstral", "onset_within_one_frame"):
        assert 0.0 <= rep[key] <= 1.0
    # inf when fewer than half the events are matched: 3 of these 4 clips have the 808 bass drum as reference, with
    # which the bundled model makes a near-continuous sound (tests/test_bundled_v2s.py pins that as a known failure;
    # how well it follows events is measured in docs/varietysound.md, not in this test of the report)
    assert rep["onset_error_median_ms"] >= 0 and rep["onset_error_median_ms"] == rep["onset_error_median_ms_seen"]
    assert 0.0 <= rep["onset_recall"] <= 1.0 and rep["extra_onsets_per_clip"] >= 0
    assert rep["onset_recall_seen"] == rep["onset_recall"] and "extra_onsets_per_clip" in rep["timbre_by_split"]["seen"]
    assert np.isfinite(rep["mcd"]) and rep["mcd"] > 0 and -1 <= rep["timbre_similarity_resemblyzer"] <= 1
    assert len(os.listdir(out)) == 4
    # the vocoder's ceiling: the own tracks' timbre figures after mel -> vocoder, printed as a third table
    voc = rep["vocoded_ceiling_by_split"]["seen"]
    assert 0.0 <= voc["timbre_retrieval_cepstral"] <= 1.0 and voc["clips"] == 4
    assert "(the vocoder's ceiling)" in r.stdout
    # resumable: a second run scores the wavs already there (their modification times stay); --timing-only gives
    # the same timing figures for them, and no timbre or MCD figure
    stamps = {f: os.path.getmtime(out / f) for f in os.listdir(out)}
    r = subprocess.run(cmd + ["--ablate", "timbre", "--timing-only"], capture_output=True, text=True, cwd=REPO,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {f: os.path.getmtime(out / f) for f in os.listdir(out)} == stamps
    quick = json.loads((tmp_path / "report.jsonl").read_text().splitlines()[-1])
    for key in ("onset_recall", "onset_error_median_ms", "extra_onsets_per_clip", "onset_recall_seen"):
        assert quick[key] == rep[key]
    assert quick["ceiling_by_split"]["seen"]["onset_recall"] == rep["ceiling_by_split"]["seen"]["onset_recall"]
    assert "mcd" not in quick and "timbre_retrieval_cepstral" not in quick and "vocoded_ceiling_by_split" not in quick
    assert "onset_recall" in quick["timbre_by_split"]["seen"]


def test_inference_ablation_keeps_trained_in_ablations(tmp_path):
    g = VarietySound(feature_dim=4, temporal_channels=4, temporal_lstm=4, sgau_channels=8, timbre_lstm=4,
                     background_lstm=4, decoder_hidden=4, decoder_filters=4, up_channels=4,
                     ablate_background="zeros")
    g.ablate_at_inference("timbre")
    assert g.ablate == {"background": "zeros", "timbre": "zeros"}
    with pytest.raises(AvgenError, match="ablate must be"):  # refused before anything is generated
        evaluate_v2s(str(tmp_path), output_dir=str(tmp_path / "out"), ablate="reference")


def test_cepstral_envelope_ignores_level_and_quiet_frames():
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t) * np.exp(-5 * t)
    quiet = 1e-4 * rng.standard_normal(sr)
    a = cepstral_envelope(np.concatenate([tone, quiet]).astype(np.float32), sr)
    b = cepstral_envelope(np.concatenate([quiet, 0.5 * tone]).astype(np.float32), sr)
    noise = cepstral_envelope((0.3 * rng.standard_normal(2 * sr)).astype(np.float32), sr)
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert a.shape == (24,) and cos(a, b) > 0.9 and cos(a, noise) < 0.5


def test_timbre_figures_are_reported_per_split_group():
    from avgen.benchmarks.v2s import group_table, split_groups, timbre_by_group

    rows = [{"sound": "a", "split": "seen"}, {"sound": "b", "split": "seen"},
            {"recording": "c", "split": "unseen_recording"}, {"recording": "d", "split": "unseen_recording"},
            {"recording": "e", "category": "voice"}, {"recording": "a"}, {"recording": "f", "category": "impact"}]
    train = [{"recording": "a", "category": "impact"}, {"sound": "b", "category": "tonal"}]
    groups = split_groups(rows, train)
    assert groups == ["seen", "seen", "unseen_recording", "unseen_recording", "unseen_category", "seen",
                      "unseen_recording"]
    assert split_groups(rows[4:5]) == ["unlabelled"]  # no split field and no train manifest
    # embeddings: seen outputs find their own reference, unseen ones are swapped (retrieval 0)
    labels = ["a", "b", "c", "d"]
    refs = np.eye(4)
    gen = refs[[0, 1, 3, 2]]
    table, warnings = timbre_by_group(["seen", "seen", "unseen_recording", "unseen_recording"], labels,
                                      {"cepstral": (gen, refs), "resemblyzer": (gen, refs)},
                                      ["r0.wav", "r1.wav", "r2.wav", "r3.wav"])
    assert list(table) == ["seen", "unseen_recording"]
    seen, unseen = table["seen"], table["unseen_recording"]
    assert seen["timbre_retrieval_cepstral"] == 1.0 and unseen["timbre_retrieval_cepstral"] == 0.0
    assert seen["timbre_similarity_resemblyzer"] == pytest.approx(1.0)
    assert unseen["timbre_similarity_resemblyzer"] == pytest.approx(0.0)
    assert unseen["distinct_references"] == 2 and unseen["retrieval_chance"] == 0.5
    # only unseen groups with fewer than 24 distinct references are flagged
    assert len(warnings) == 1 and warnings[0].startswith("unseen_recording: only 2 distinct test references")
    md = group_table({"timbre_by_split": table})
    assert md.splitlines()[0] == "| | seen | unseen_recording |"
    assert "| timbre_retrieval_cepstral | 1.000 | 0.000 |" in md


def test_onset_recall_and_extra_onsets_match_one_to_one_within_50_ms():
    from avgen.benchmarks.v2s import ONSET_TOLERANCE, onset_timing, timing_by_group

    assert ONSET_TOLERANCE == 0.05
    # clip A: 1.02 matches 1.0, 1.04 is a second onset near the same event (extra), 2.2 is 200 ms late (extra)
    # clip B: 0.47 matches 0.5, 0.601 is 51 ms after 0.55 (extra, and 0.55 unmatched)
    # clip C: nothing generated (its event is missed, no extra onset)
    onsets = [[1.02, 1.04, 2.2], [0.47, 0.601], []]
    events = [[1.0, 2.0], [0.5, 0.55], [1.5]]
    t = onset_timing(onsets, events)
    assert t["num_events"] == 5
    assert t["onset_recall"] == pytest.approx(2 / 5)
    assert t["extra_onsets_per_clip"] == pytest.approx((2 + 1 + 0) / 3)
    # nearest-onset distances: 0.02, 0.2, 0.03, 0.051, inf -> median 0.051 s; within one frame (46.5 ms): 2 of 5
    assert t["onset_error_median_ms"] == pytest.approx(51.0)
    assert t["onset_within_one_frame"] == pytest.approx(2 / 5)
    # exactly on the tolerance still matches
    assert onset_timing([[0.55]], [[0.5]])["onset_recall"] == 1.0
    # per group, in the timbre tables' order (known groups first, then the others sorted)
    by = timing_by_group(["held_out_renderer", "seen", "seen"], onsets, events)
    assert list(by) == ["seen", "held_out_renderer"]
    assert by["seen"]["onset_recall"] == pytest.approx(1 / 3) and by["seen"]["extra_onsets_per_clip"] == 0.5
    assert by["held_out_renderer"]["onset_recall"] == pytest.approx(1 / 2)
    assert by["held_out_renderer"]["extra_onsets_per_clip"] == 2.0


def _tiny_specvqgan_folder(root) -> str:
    """A random SpecVQGAN pipeline folder on the foley caches' backbone (EfficientNet-Lite0, 21.5 fps): 80 x 96 mels
    -> 5 x 6 codes, a 1-layer GPT primed with 4 of a window's 24 feature frames."""
    import torch

    from avgen.models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer
    from avgen.pipelines.specvqgan import SpecVQGANPipeline

    torch.manual_seed(0)
    cb = SpecVQGANCodebook(ch=32, ch_mult=(1, 1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(6,), resolution=96,
                           z_channels=16, n_embed=16, embed_dim=8)
    t = SpecVQGANTransformer(vocab_size=16, block_size=33, n_layer=1, n_head=2, n_embd=16, feat_dim=1280,
                             feat_len=24, feat_crop_len=24, feat_sample_size=4, code_shape=(5, 6))
    pipe = SpecVQGANPipeline(cb, t, vocoder="griffin-lim", fps=21.5, backbone="efficientnet-lite0", device="cpu")
    return pipe.save_pretrained(os.path.join(root, "specvqgan_tiny"))


def test_eval_v2s_compares_both_heads_in_one_table(tmp_path):
    from avgen.pipelines.video_to_sound import DEFAULT_V2S_CHECKPOINT

    build_benchmark(str(tmp_path / "bench"), train=0, valid=0, test=2, seed=1,
                    settings=FoleySettings(seconds=1.5, max_events=2), progress=False)
    spec, out, report = _tiny_specvqgan_folder(str(tmp_path)), tmp_path / "both", tmp_path / "report.jsonl"
    cmd = [sys.executable, "-m", "avgen.cli", "eval", "v2s", str(tmp_path / "bench" / "test"), "-o", str(out),
           "--device", "cpu", "--no-progress", "--report", str(report), "--vocoder", "griffin-lim", "--timing-only",
           "--checkpoint", DEFAULT_V2S_CHECKPOINT, "--checkpoint", spec]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    reps = [json.loads(x) for x in report.read_text().splitlines()]
    assert [x["profile"]["head"] for x in reps] == ["varietysound", "specvqgan"]
    assert all(x["seconds_per_10s"] > 0 and x["profile"]["num_clips"] == 2 for x in reps)
    # each head into its own sub-folder; one table with a row per head and group
    assert sorted(len(os.listdir(out / d)) for d in os.listdir(out)) == [2, 2]
    table = [x for x in r.stdout.splitlines() if x.startswith("| ")]
    assert table[0].startswith("| checkpoint (head) | group | onset_recall |") and len(table) == 2 + 2
    assert "(specvqgan) | seen |" in table[-1]
    # --ablate is for VarietySound folders: one line, exit 2, before anything is generated
    r = subprocess.run(cmd[:-4] + ["--checkpoint", spec, "--ablate", "timbre", "-o", str(tmp_path / "x")],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 2 and "--ablate: for VarietySound checkpoints only" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
