"""Synthetic-foley benchmark: event sampling, visible events at the right frames, sounds at the right times."""

import json
import os

import numpy as np
import pytest

from avgen.data.foley import (EVENT_KINDS, FoleySettings, build_benchmark, load_sounds, render_audio, render_video,
                              sample_events)
from avgen.errors import AvgenError
from avgen.media import read_audio
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


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """A sound corpus in the avgen.data.sound_corpus layout: 3 categories x 3 recordings x 2 excerpts (tones)."""
    import hashlib

    from avgen.data.sound_corpus import write_manifest
    from avgen.media import write_audio

    root = tmp_path_factory.mktemp("corpus")
    (root / "events").mkdir()
    rows = []
    for c, cat in enumerate(("impact", "tonal", "noise")):
        for r in range(3):
            for e in range(2):
                eid = f"{cat}_{r}_{e}"
                t = np.arange(int(0.2 * 22050)) / 22050
                wav = np.sin(2 * np.pi * (200 + 150 * (3 * c + r) + 20 * e) * t) * np.exp(-20 * t)
                write_audio(root / "events" / f"{eid}.flac", wav[None].astype(np.float32), 22050)
                h = hashlib.sha256(eid.encode()).hexdigest()
                rows.append({"id": eid, "path": f"events/{eid}.flac", "recording": f"pkg/{cat}_{r}.wav",
                             "category": cat, "package": "pkg", "package_version": "1", "source_file": f"{cat}_{r}",
                             "licence": "CC0", "source_sha256": h, "sha256": h, "start": float(e), "duration": 0.2,
                             "sample_rate": 22050, "samples": 4410, "levels": [1000.0] * 16})
    write_manifest(root / "manifest.jsonl", rows)
    return root


def test_corpus_benchmark_holds_out_recordings_and_categories(tiny_corpus, tmp_path):
    summary = build_benchmark(str(tmp_path), corpus=str(tiny_corpus), train=3, valid=0, test=3, seed=0,
                              held_out_categories=["noise"], test_fraction=0.34,
                              settings=FoleySettings(seconds=1.2, size=16, max_events=2), progress=False)
    read = lambda split: [json.loads(x) for x in open(tmp_path / split / "manifest.jsonl")]  # noqa: E731
    train, seen = read("train"), read("test")
    unseen_rec, unseen_cat = read("test_unseen_recording"), read("test_unseen_category")
    train_recs = {r["recording"] for r in train}
    # train and the seen test split use train-side recordings; the unseen splits never do
    assert {r["recording"] for r in seen} <= train_recs and {r["split"] for r in seen} == {"seen"}
    assert not train_recs & {r["recording"] for r in unseen_rec + unseen_cat}
    assert {r["category"] for r in unseen_cat} == {"noise"} and "noise" not in {r["category"] for r in train}
    assert {r["category"] for r in unseen_rec} <= {"impact", "tonal"}
    assert {r["split"] for r in unseen_rec} == {"unseen_recording"} and {r["split"] for r in unseen_cat} == {
        "unseen_category"}
    # references: another excerpt of the same recording, written next to the clip
    for r in unseen_rec + unseen_cat:
        assert r["reference_excerpt"] != r["excerpt"] and r["reference_excerpt"].rsplit("_", 1)[0] == r[
            "excerpt"].rsplit("_", 1)[0]
        assert (tmp_path / ("test_" + r["split"]) / r["reference"]).exists()
    assert summary["held_out_categories"] == ["noise"]
    assert summary["distinct_test_references"]["test_unseen_category"] == 3
    assert summary["distinct_test_references"]["test_unseen_recording"] == len({r["recording"] for r in unseen_rec})
    # the v2s benchmark's grouping reads these labels back
    from avgen.benchmarks.v2s import split_groups

    assert split_groups(unseen_rec + seen) == ["unseen_recording"] * 3 + ["seen"] * 3
    assert split_groups([{k: v for k, v in r.items() if k != "split"} for r in unseen_cat], train) == [
        "unseen_category"] * 3


@pytest.fixture(scope="module")
def tiny_scene_inputs(tmp_path_factory):
    """An image corpus (3 backgrounds, 3 sprites) and a sound corpus (6 recordings: 2 impact, 2 sustained, 2 noise),
    written in their manifest layouts."""
    import hashlib

    from PIL import Image

    from avgen.data import image_corpus as ic
    from avgen.data.sound_corpus import write_manifest
    from avgen.media import write_audio

    images, sounds = tmp_path_factory.mktemp("images"), tmp_path_factory.mktemp("sounds")
    rng = np.random.default_rng(0)
    # pictures: noisy gradients and striped discs with alpha
    pictures = []
    for i in range(3):
        yy, xx = np.mgrid[0:60, 0:80]
        base = np.stack([xx * 2.0, yy * 3.0, (xx + yy) * 1.5], -1) + 40 * i
        pictures.append(("background", f"bg{i}", Image.fromarray(
            np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8), "RGB"), "jpg"))
        yy, xx = np.mgrid[0:24, 0:24]
        rgba = np.zeros((24, 24, 4), np.uint8)
        rgba[..., :3] = (np.array([200, 60 * i, 40]) * (((xx // 4 + i) % 2)[..., None] * 0.5 + 0.5)).astype(np.uint8)
        rgba[..., 3] = np.where(np.hypot(yy - 11.5, xx - 11.5) < 11, 255, 0)
        pictures.append(("sprite", f"sp{i}", Image.fromarray(rgba, "RGBA"), "png"))
    rows = []
    for kind, name, im, ext in pictures:
        im.save(images / f"{name}.{ext}")
        with Image.open(images / f"{name}.{ext}") as back:
            sha = ic.pixel_sha256(back)
        rows.append({"id": name, "path": f"{name}.{ext}", "kind": kind, "group": name, "package": "test-data",
                     "package_version": "1", "source_file": f"{name}.{ext}", "licence": "CC0-1.0", "sha256": sha,
                     "width": im.width, "height": im.height})
    ic.write_manifest(images / "manifest.jsonl", rows)
    # recordings: short decaying tones (impact), 0.8 s noise bands (sustained, noise)
    (sounds / "events").mkdir()
    rows = []
    for c, (cat, seconds) in enumerate((("impact", 0.2), ("sustained", 0.8), ("noise", 0.8))):
        for r in range(2):
            eid = f"{cat}_{r}"
            t = np.arange(int(seconds * 22050)) / 22050
            wav = (np.sin(2 * np.pi * (300 + 200 * c + 50 * r) * t) * np.exp(-20 * t) if cat == "impact"
                   else rng.normal(0, 0.3, len(t)) * np.minimum(1, 10 * (seconds - t)))
            write_audio(sounds / "events" / f"{eid}.flac", wav[None].astype(np.float32), 22050)
            h = hashlib.sha256(eid.encode()).hexdigest()
            rows.append({"id": eid, "path": f"events/{eid}.flac", "recording": f"pkg/{eid}.wav", "category": cat,
                         "package": "pkg", "package_version": "1", "source_file": eid, "licence": "CC0",
                         "source_sha256": h, "sha256": h, "start": 0.0, "duration": seconds, "sample_rate": 22050,
                         "samples": int(seconds * 22050), "levels": [1000.0] * 16})
    write_manifest(sounds / "manifest.jsonl", rows)
    return images, sounds


def test_scenes_benchmark_holds_out_recordings_and_the_renderer(tiny_scene_inputs, tmp_path):
    from avgen.data.scenes import HELD_OUT_STYLES, SUSTAINED_KINDS, TRAIN_STYLES

    images, sounds = tiny_scene_inputs
    summary = build_benchmark(str(tmp_path), corpus=str(sounds), images=str(images), renderer="scenes", train=2,
                              valid=1, test=2, seed=0, held_out_categories=["noise"], test_fraction=0.5,
                              settings=FoleySettings(seconds=1.6, max_events=2), progress=False)
    splits = ("train", "valid", "test", "test_unseen_recording", "test_unseen_category", "test_held_out_renderer")
    assert list(summary["splits"]) == list(splits) and summary["renderer"] == "scenes"
    read = {s: [json.loads(x) for x in open(tmp_path / s / "manifest.jsonl")] for s in splits}
    # disjoint by recording: no unseen or held-out-renderer clip uses a recording that train/valid use
    trained = {r["recording"] for s in ("train", "valid") for r in read[s]}
    assert {r["recording"] for r in read["test"]} <= trained
    for s in ("test_unseen_recording", "test_unseen_category", "test_held_out_renderer"):
        assert read[s] and not trained & {r["recording"] for r in read[s]}
    assert {r["split"] for r in read["test_held_out_renderer"]} == {"held_out_renderer"}
    assert {r["recording"] for r in read["test_held_out_renderer"]} <= {r["recording"] for r in read[
        "test_unseen_recording"]}
    # styles: training styles everywhere but the held-out split, which uses held-out styles only
    train_names, held_names = {s.name for s in TRAIN_STYLES}, {s.name for s in HELD_OUT_STYLES}
    for s in splits:
        assert {r["style"] for r in read[s]} <= (held_names if s == "test_held_out_renderer" else train_names)
        assert all(r["renderer"] == "scenes" for r in read[s])
    held_kinds = {k for st in HELD_OUT_STYLES for k in st.kinds}
    assert {r["kind"] for r in read["test_held_out_renderer"]} <= held_kinds
    # every row: events with durations; sustained ones last as long as their (0.8 s) sound, discrete ones 0.2 s
    rows = [r for s in splits for r in read[s]]
    assert any(r["kind"] in SUSTAINED_KINDS for r in rows) and any(r["kind"] not in SUSTAINED_KINDS for r in rows)
    for r in rows:
        assert len(r["durations"]) == len(r["events"]) >= 1 and r["sustained"] == (r["kind"] in SUSTAINED_KINDS)
        expect = 0.8 if r["sustained"] else (0.2 if r["category"] == "impact" else 0.4)
        assert r["durations"] == pytest.approx([expect] * len(r["events"]), abs=1e-3), r
        assert r["fps"] > 0 and len(r["size"]) == 2
    events = [json.loads(x) for x in open(tmp_path / "test_held_out_renderer" / "events.jsonl")]
    assert [e["events"] for e in events] == [r["events"] for r in read["test_held_out_renderer"]]


def test_scenes_renderer_option_errors(tiny_scene_inputs, tmp_path, capsys):
    import importlib.util

    from avgen.errors import AvgenError

    images, sounds = tiny_scene_inputs
    with pytest.raises(AvgenError, match="needs both"):
        build_benchmark(str(tmp_path), corpus=str(sounds), renderer="scenes", progress=False)
    with pytest.raises(AvgenError, match="only used by the scenes renderer"):
        build_benchmark(str(tmp_path), corpus=str(sounds), images=str(images), progress=False)
    spec = importlib.util.spec_from_file_location("make_foley", os.path.join(os.path.dirname(__file__), "..",
                                                                             "tools", "make_foley.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for argv in (["--renderer", "scenes", "--corpus", str(sounds)],
                 ["--renderer", "scenes", "--corpus", str(sounds), "--images", str(tmp_path / "missing")]):
        assert tool.main(["-o", str(tmp_path / "out")] + argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("make_foley.py: error:")


def test_corpus_render_resumes_where_it_stopped(tiny_corpus, tmp_path):
    """A corpus render killed part-way (here: clips whose rows were never written) is finished by a rerun, and the
    result equals an uninterrupted render; a rerun with another plan into the same folder is refused."""
    kw = dict(corpus=str(tiny_corpus), train=3, valid=0, test=2, seed=0, held_out_categories=["noise"],
              test_fraction=0.34, settings=FoleySettings(seconds=1.2, size=16, max_events=2), progress=False)
    whole, part = tmp_path / "whole", tmp_path / "part"
    build_benchmark(str(whole), **kw)
    build_benchmark(str(part), **kw)
    # "kill": train clip 1 lost its video, clip 2 its row (the row is written last), the test clip its reference
    rows = sorted((part / "train" / ".rows").glob("0*.json"))
    assert len(rows) == 3
    os.remove(part / "train" / (json.loads(rows[1].read_text())["id"] + ".mp4"))
    rows[2].unlink()
    test_row = json.loads(next((part / "test_unseen_recording" / ".rows").glob("0*.json")).read_text())
    os.remove(part / "test_unseen_recording" / test_row["reference"])
    for split in ("train", "test_unseen_recording"):
        os.remove(part / split / "manifest.jsonl")
    build_benchmark(str(part), **kw)
    for split in ("train", "test", "test_unseen_recording", "test_unseen_category"):
        assert (part / split / "manifest.jsonl").read_text() == (whole / split / "manifest.jsonl").read_text()
        for r in map(json.loads, (whole / split / "manifest.jsonl").read_text().splitlines()):
            a, _ = read_audio(str(whole / split / (r["id"] + ".mp4")))
            b, _ = read_audio(str(part / split / (r["id"] + ".mp4")))
            np.testing.assert_array_equal(a, b)
            if "reference" in r:
                assert (whole / split / r["reference"]).read_bytes() == (part / split / r["reference"]).read_bytes()
    with pytest.raises(AvgenError, match="partial render of another plan"):
        build_benchmark(str(part), **{**kw, "seed": 1})


def test_train_licences_filter_the_train_side_only(tiny_corpus, tmp_path):
    """--train-licences keeps the train side to the named licences; the held-out sides are drawn from the whole
    corpus as before, and a name no recording has is one error, as is a filter that leaves nothing."""
    import shutil

    from avgen.data.sound_corpus import read_manifest, write_manifest

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    rows = read_manifest(corpus / "manifest.jsonl")
    for r in rows:  # recording 0 of every category under a copyleft licence; the held-out category under MIT
        r["licence"] = "MIT" if r["category"] == "noise" else "GPL-2" if r["recording"].endswith("_0.wav") else "CC0"
    write_manifest(corpus / "manifest.jsonl", rows)
    kw = dict(corpus=str(corpus), train=3, valid=0, test=2, seed=0, held_out_categories=["noise"],
              test_fraction=0.34, settings=FoleySettings(seconds=1.2, size=16, max_events=2), progress=False)
    plain = build_benchmark(str(tmp_path / "plain"), **kw)
    kept = build_benchmark(str(tmp_path / "kept"), train_licences=["CC0"], **kw)
    licence = {r["recording"]: r["licence"] for r in rows}
    train = [json.loads(x) for x in open(tmp_path / "kept" / "train" / "manifest.jsonl")]
    assert {licence[r["recording"]] for r in train} == {"CC0"} and kept["train_licences"] == ["CC0"]
    assert plain["train_licences"] is None
    assert kept["recordings"]["unseen_recording"] == plain["recordings"]["unseen_recording"]
    assert kept["recordings"]["unseen_category"] == plain["recordings"]["unseen_category"]
    assert kept["recordings"]["train"] < plain["recordings"]["train"]
    with pytest.raises(AvgenError, match="no recording is under CC-BY"):
        build_benchmark(str(tmp_path / "typo"), train_licences=["CC0", "CC-BY"], **kw)
    with pytest.raises(AvgenError, match="no train-side recording"):
        build_benchmark(str(tmp_path / "none"), train_licences=["MIT"], **kw)
