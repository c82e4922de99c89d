"""Onsets the benchmark counts (issue 15): the noise gate, extra onsets outside the events' sounds, the ceiling."""

import numpy as np
import pytest

from avgen.benchmarks.v2s import ONSET_GATE_DB, group_table, onset_timing
from avgen.errors import AvgenError
from avgen.metrics.audio import audio_onsets, gate_onsets

SR = 22050


def hiss_with_hits(hits, seconds=3.0, hiss_db=-50.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 10 ** (hiss_db / 20), int(seconds * SR))
    t = np.arange(int(0.2 * SR)) / SR
    for h in hits:
        a = int(h * SR)
        x[a:a + len(t)] += 0.5 * np.sin(2 * np.pi * 700 * t) * np.exp(-25 * t)
    return x.astype(np.float32)


def test_gate_keeps_the_hits_and_drops_peaks_in_the_hiss():
    hits = [0.5, 1.4, 2.3]
    x = hiss_with_hits(hits)
    raw = audio_onsets(x, SR, threshold=0.05)  # a low threshold: the hiss's own flux peaks get through
    kept = gate_onsets(x, SR, raw, ONSET_GATE_DB)
    near = lambda on: [min(abs(on - h)) <= 0.02 for h in hits]  # noqa: E731
    sounding = lambda on: np.array([any(h - 0.02 <= t <= h + 0.25 for h in hits) for t in on])  # noqa: E731
    assert all(near(raw)) and all(near(kept))
    assert (~sounding(raw)).sum() >= 5  # the hiss's own flux peaks get through the low threshold...
    assert sounding(kept).all()  # ...and the gate drops every one of them (onsets inside a hit's decay stay)
    # the default threshold's onset at the very start (zero padding, then hiss) is one of them too
    default = audio_onsets(x, SR)
    assert default.min() < 0.02 and gate_onsets(x, SR, default, ONSET_GATE_DB).min() > 0.4
    assert gate_onsets(x, SR, [], 6.0).size == 0 and gate_onsets(x, SR, raw, 200.0).size == 0


def test_extra_onsets_are_the_unmatched_ones_outside_every_events_sound():
    events, durations = [[0.5, 2.0]], [[0.6, 0.3]]
    onsets = [[0.51, 0.8, 1.05, 1.5, 2.01, 2.2, 3.0]]  # 0.8, 1.05 inside event 1's sound; 2.2 inside event 2's
    t = onset_timing(onsets, events, durations=durations)
    assert t["onset_recall"] == 1.0 and t["unmatched_onsets_per_clip"] == 5
    assert t["extra_onsets_per_clip"] == 2  # 1.5 and 3.0: sounds where the video shows nothing
    # without durations every unmatched onset is extra (the shapes renderer's rows)
    assert onset_timing(onsets, events)["extra_onsets_per_clip"] == 5
    assert onset_timing(onsets, events, durations=[None])["extra_onsets_per_clip"] == 5
    with pytest.raises(AvgenError, match="durations"):
        onset_timing(onsets, events, durations=[[0.6]])


def test_group_table_shows_the_ceiling_table():
    rep = {"timbre_by_split": {"seen": {"onset_recall": 0.2}}, "ceiling_by_split": {"seen": {"onset_recall": 0.98}}}
    assert "0.200" in group_table(rep) and "0.980" in group_table(rep, "ceiling_by_split")
