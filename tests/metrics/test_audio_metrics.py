"""MCD, DTW, onsets/sync and Resemblyzer timbre similarity."""

import os

import numpy as np
import pytest

from avgen.media import read_audio, write_audio
from avgen.metrics.audio import (MCD_CONST, TimbreEmbedder, audio_onsets, dtw_path, mcd, mel_cepstrum,
                                 retrieval_accuracy, sync_error, visual_onsets)
from avgen.metrics.audio_eval import compute_mcd, compute_sync

from ..conftest import sample_ids

SR = 22050


def _clicks(times, seconds=3.0, sr=SR, seed=0, freq=0.3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=int(seconds * sr)) * 1e-3
    for t in times:
        i = int(t * sr)
        x[i:i + 800] += np.sin(np.arange(800) * freq) * np.exp(-np.arange(800) / 200)
    return x


def test_mcd_formula_zero_and_dtw_alignment():
    x = _clicks([0.3, 1.0, 2.0])
    assert mcd(x, x, SR) == 0.0
    a, b = mel_cepstrum(x, SR), mel_cepstrum(x * 0.5 + _clicks([1.5], seed=1), SR)
    n = min(len(a), len(b))
    y = x * 0.5 + _clicks([1.5], seed=1)
    assert mcd(y, x, SR) == pytest.approx(MCD_CONST * np.linalg.norm(b[:n] - a[:n], axis=1).mean(), rel=1e-9)
    # a delayed copy: plain MCD sees the misalignment, DTW mostly removes it
    delayed = np.concatenate([np.zeros(2205), x])[:len(x)]
    assert mcd(delayed, x, SR, dtw=True) < 0.5 * mcd(delayed, x, SR)


def test_dtw_path_on_a_known_cost():
    cost = np.array([[0, 5, 5], [5, 0, 5], [5, 0, 5], [5, 5, 0]], float)
    assert dtw_path(cost) == [(0, 0), (1, 1), (2, 1), (3, 2)]


def test_audio_onsets_within_one_hop_and_sync_error():
    times = [0.3, 0.9, 1.55, 2.2]
    onsets = audio_onsets(_clicks(times), SR)
    assert len(onsets) == 4 and np.abs(onsets - times).max() < 0.012
    res = sync_error(onsets, times)
    assert res.median_ms < 12 and res.hit_rate == 1.0
    assert sync_error([], times).hit_rate == 0.0
    shifted = sync_error(onsets + 0.2, times, tolerance=0.1)
    assert shifted.median_ms == pytest.approx(200, abs=12) and shifted.hit_rate == 0.0


def test_visual_onsets_find_flashes():
    frames = np.full((40, 16, 16, 3), 30, np.uint8)
    for t in (8, 21, 33):
        frames[t] = 250
    found = visual_onsets(frames, fps=20.0)
    np.testing.assert_allclose(found, [8 / 20, 21 / 20, 33 / 20])


def test_compute_sync_with_known_events(tmp_path):
    fps, times = 20, [0.5, 1.2, 2.0]
    frames = np.full((60, 32, 32, 3), 40, np.uint8)
    for t in times:
        frames[int(t * fps)] = 240
    write_video(tmp_path / "clip.mp4", frames, fps, audio=_clicks(times)[None].astype(np.float32), sample_rate=SR)
    (tmp_path / "events.jsonl").write_text('{"name": "clip", "events": [0.5, 1.2, 2.0]}\n')
    rep = compute_sync(str(tmp_path / "clip.mp4"), events=str(tmp_path / "events.jsonl"), progress=False)
    assert rep["sync_median_ms"] < 30 and rep["sync_hit_rate"] == 1.0
    detected = compute_sync(str(tmp_path / "clip.mp4"), fps=fps, progress=False)
    assert detected["sync_median_ms"] < 60 and detected["profile"]["num_events"] == 3


def test_compute_mcd_pairs_by_stem(tmp_path):
    (tmp_path / "gen").mkdir()
    (tmp_path / "ref").mkdir()
    for i, name in enumerate(("a", "b", "only_gen")):
        write_audio(tmp_path / "gen" / f"{name}.wav", _clicks([0.5], seed=i)[None], SR)
    for i, name in enumerate(("a", "b")):
        write_audio(tmp_path / "ref" / f"{name}.flac", _clicks([0.5], seed=i)[None], SR)
    rep = compute_mcd(str(tmp_path / "gen"), str(tmp_path / "ref"), progress=False)
    assert rep["mcd"] < 0.5 and rep["profile"]["pairs"] == 2 and rep["profile"]["unpaired_generated"] == 1


def test_retrieval_accuracy():
    keys = np.eye(4)
    assert retrieval_accuracy(keys + 0.1, keys) == 1.0
    assert retrieval_accuracy(keys[[1, 0, 2, 3]], keys) == 0.5


def test_resemblyzer_timbre_on_real_clips(shared_samples):
    pytest.importorskip("resemblyzer")
    emb = TimbreEmbedder(device="cpu")
    ids = sample_ids(shared_samples)[:3]
    wavs = [read_audio(os.path.join(shared_samples, "video", i + ".mp4"), sample_rate=16000)[0].reshape(-1)
            for i in ids]
    e = np.stack([emb.embed(w, 16000) for w in wavs])
    assert e.shape == (3, 256) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    # a clip cut into 1 s pieces and shuffled keeps its timbre (embedding close to the original's)
    pieces = np.array_split(wavs[0][:16000 * 9], 9)
    shuffled = np.concatenate([pieces[i] for i in np.random.default_rng(0).permutation(9)])
    sim_shuffled = float(emb.embed(shuffled, 16000) @ e[0])
    assert sim_shuffled > 0.9 and sim_shuffled > float(e[1] @ e[0]) and sim_shuffled > float(e[2] @ e[0])
    assert emb.profile()["weights_sha256"]


from avgen.media import write_video  # noqa: E402  (used by the sync test above)


# ----------------------------------------------------------------------------------------------------------------
# onset F1 and the level-invariant onset detector (real-clip benchmark)


def test_onset_f1_exact_values():
    from avgen.metrics.audio import onset_f1

    r = onset_f1([0.5, 1.0, 2.0, 3.05], [0.45, 1.2, 2.1, 3.0, 4.0], tolerance=0.1)
    # 0.5-0.45, 2.0-2.1, 3.05-3.0 match; 1.0 vs 1.2 is out of the window; 4.0 is missed
    assert (r.matched, r.num_pred, r.num_true) == (3, 4, 5)
    assert r.precision == 0.75 and r.recall == 0.6 and r.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # one-to-one: two predictions near one true onset count once
    assert onset_f1([1.0, 1.02], [1.01], tolerance=0.1).as_dict() == {
        "precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "matched": 1, "num_pred": 2, "num_true": 1}
    # nearest-first greedy would pair 0.15-0.19 (0.04 s) and leave 0.24 and 0.1 unmatched; the maximum matching
    # pairs 0.15-0.1 and 0.24-0.19
    assert onset_f1([0.15, 0.24], [0.1, 0.19], tolerance=0.06).matched == 2
    assert onset_f1([], [1.0]).f1 == 0.0 and onset_f1([1.0], []).f1 == 0.0 and onset_f1([], []).f1 == 0.0
    assert onset_f1([1.0], [1.0]).f1 == 1.0


def test_onset_f1_matching_is_maximum_like_hungarian():
    from scipy.optimize import linear_sum_assignment

    from avgen.metrics.audio import onset_f1

    rng = np.random.default_rng(0)
    for _ in range(60):
        p, t = rng.uniform(0, 3, rng.integers(1, 12)), rng.uniform(0, 3, rng.integers(1, 12))
        close = np.abs(p[:, None] - t[None, :]) <= 0.1
        rows, cols = linear_sum_assignment(~close)  # cost 0 for compatible pairs
        assert onset_f1(p, t, 0.1).matched == int(close[rows, cols].sum())


def test_level_invariant_onsets_ignore_gain():
    from avgen.metrics.audio import level_invariant_onsets, normalised_onset_envelope

    times = [0.3, 0.9, 1.55, 2.2]
    x = _clicks(times)
    on = level_invariant_onsets(x, SR)
    assert len(on) == 4 and np.abs(on - times).max() < 0.03
    for gain in (1e-3, 0.05, 20.0):
        np.testing.assert_array_equal(level_invariant_onsets(x * gain, SR), on)
    env, rate = normalised_onset_envelope(x * 1e-3, SR)
    assert env.min() == 0.0 and env.max() == 1.0 and rate == SR / 256
