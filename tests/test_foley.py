"""Synthetic-foley benchmark: event sampling, visible events at the right frames, sounds at the right times."""

import json
import os

import numpy as np
import pytest

from avgen.data.foley import (EVENT_KINDS, FoleySettings, build_benchmark, load_sounds, render_audio, render_video,
                              sample_events)
from avgen.metrics.audio import audio_onsets

S = FoleySettings()


def test_bundled_recordings_are_documented_and_load():
    from avgen.data.foley import bundled_sounds

    sounds = load_sounds()
    assert len(sounds) >= 8
    listed = open(os.path.join(bundled_sounds(), "SOURCES.md")).read()
    for name, wav in sounds.items():
        assert f"`{name}.flac`" in listed and "CC0" in listed
        assert wav.dtype == np.float32 and np.abs(wav).max() == pytest.approx(1.0) and len(wav) <= 0.4 * 22050 + 1


def test_event_sampling_respects_gaps_and_margins():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ev = sample_events(rng, S)
        assert S.min_events <= len(ev) <= S.max_events
        assert ev[0] >= S.margin - 1e-6 and ev[-1] <= S.seconds - S.margin + 1e-6
        assert np.all(np.diff(ev) >= S.min_gap - 1e-3)


def test_flash_is_brightest_at_the_event_frames():
    rng = np.random.default_rng(1)
    ev = [0.8, 2.0, 3.2]
    frames = render_video(ev, "flash", rng, FoleySettings(camera_noise=(0, 0)))
    brightness = frames.reshape(len(frames), -1).astype(float).max(1) + frames.reshape(len(frames), -1).mean(1)
    peaks = np.sort(np.argsort(np.diff(brightness))[-3:] + 1) / S.fps
    np.testing.assert_allclose(peaks, ev, atol=1 / S.fps + 1e-9)


def test_impact_touches_the_floor_exactly_at_events():
    rng = np.random.default_rng(2)
    ev = [1.0, 2.2]
    s = FoleySettings(camera_noise=(0, 0))
    frames = render_video(ev, "impact", rng, s)
    # lowest object row per frame: the frames at the events are the lowest points before each rebound
    bg = frames[:, :5].mean((1, 2))  # top rows are background only
    diff = np.abs(frames.astype(int) - bg[:, None, None, :].astype(int)).sum(-1) > 60
    rows = np.array([np.nonzero(d[: int(s.size * 0.85)].any(1))[0].max() for d in diff])
    for t in ev:
        i = int(round(t * s.fps))
        assert rows[i] == rows[i - 3:i + 4].max()


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_sound_onsets_at_event_times(kind):
    rng = np.random.default_rng(3)
    sounds = load_sounds()
    ev = [0.7, 1.6, 2.9]
    audio = render_audio(ev, sounds["drum_snare_hard"], rng, S)
    on = audio_onsets(audio, S.sample_rate)
    assert len(on) >= 3 and max(np.abs(on - t).min() for t in ev) < 0.015


def test_build_benchmark_writes_splits_and_distinct_references(tmp_path):
    summary = build_benchmark(str(tmp_path), train=3, valid=0, test=3, seed=0,
                              settings=FoleySettings(seconds=2.0, size=48, max_events=3), progress=False)
    assert summary["splits"] == {"train": 3, "valid": 0, "test": 3}
    rows = [json.loads(x) for x in open(tmp_path / "test" / "manifest.jsonl")]
    assert [r["kind"] for r in rows] == list(EVENT_KINDS)
    from avgen.media import probe, read_audio

    for r in rows:
        video = tmp_path / "test" / f"{r['id']}.mp4"
        info = probe(video)
        assert info.has_audio and abs(info.video_duration - 2.0) < 0.05
        target = read_audio(video, sample_rate=22050)[0][0]
        ref = read_audio(tmp_path / "test" / r["reference"], sample_rate=22050)[0][0]
        n = min(len(target), len(ref))
        assert np.corrcoef(target[:n], ref[:n])[0, 1] < 0.5  # another rendering, not a copy
    events = [json.loads(x) for x in open(tmp_path / "test" / "events.jsonl")]
    assert [e["events"] for e in events] == [r["events"] for r in rows]
