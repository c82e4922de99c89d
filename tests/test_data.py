import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from avgen.cli import EXAMPLE_VIDEO
from avgen.data import PreparedDataset, SpecVQGANFeatureDataset, prepare, read_manifest
from avgen.errors import AvgenError

from .conftest import REPO, sample_ids


def test_manifests(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/x.mp4", "y.MOV", "z.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [i.id for i in read_manifest(tmp_path)] == ["y", "x"]
    (tmp_path / "m.csv").write_text("path,label\na/x.mp4,dog\n/abs/v.mp4,\n")
    items = read_manifest(tmp_path / "m.csv")
    assert items[0].path == str(tmp_path / "a" / "x.mp4") and items[0].label == "dog" and items[1].label is None
    (tmp_path / "m.jsonl").write_text('{"path": "a/x.mp4", "label": "cat", "id": "c1"}\n\n')
    assert read_manifest(tmp_path / "m.jsonl")[0].id == "c1"
    (tmp_path / "bad.csv").write_text("file\nx.mp4\n")
    with pytest.raises(AvgenError, match="'path' column"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(AvgenError, match="bad.jsonl:1"):
        read_manifest(tmp_path / "bad.jsonl")


def test_specvqgan_layout_dataset(shared_samples):
    ds = SpecVQGANFeatureDataset(shared_samples)
    assert len(ds) == len(sample_ids(shared_samples))
    item = ds[0]
    assert item["features"].shape == (215, 2048) and item["mel"].shape == (80, 860)
    split = [ds.items[1][0], ds.items[3][0]]
    assert [i[0] for i in SpecVQGANFeatureDataset(shared_samples, split=split).items] == sorted(split)


def test_prepare_resumes_and_reports_bad_files(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(EXAMPLE_VIDEO, src / "one.mp4")
    (src / "broken.mp4").write_text("not a video")
    out = tmp_path / "cache"
    s1 = prepare(str(src), out, workers=0, progress=False)
    assert (s1.processed, s1.skipped, len(s1.failed)) == (1, 0, 1)
    assert "broken.mp4" in str(s1) and "not a media file" in str(s1)
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    item = load_file(out / index[0]["file"])
    assert item["mel"].shape == (80, 1 + 4 * 22050 // 256) and item["features"].shape == (86, 1280)
    # pixel motion from the very frames the encoder got (decoded at its 256 side), one row per feature frame
    from avgen.encoders.frames import iter_frame_batches
    from avgen.encoders.motion import pixel_motion
    frames = np.concatenate(list(iter_frame_batches(EXAMPLE_VIDEO, fps=21.5, resize=256)))
    np.testing.assert_allclose(item["motion"], pixel_motion(frames), atol=1e-6)
    assert item["motion"][1:, :16].max() > 0.1  # the example's ball moves
    # a second file appears; the finished one is skipped (what a killed run would see on restart)
    shutil.copy(EXAMPLE_VIDEO, src / "two.mp4")
    with open(src / "two.mp4", "ab") as f:
        f.write(b"\0")  # different content -> different key
    s2 = prepare(str(src), out, workers=1, progress=False)
    assert (s2.processed, s2.skipped, len(s2.failed)) == (1, 1, 1)
    ds = PreparedDataset(out, segment_seconds=1.0)
    assert len(ds) == 2 and ds[0]["features"].shape == (22, 1280) and ds[0]["mel"].shape == (80, 86)
    assert ds.has_motion and ds[0]["motion"].shape == (22, 32) and ds.motion_dim == 32
    start = PreparedDataset(out, segment_seconds=1.0, random_crop=False)[0]  # the window from 0: the same frames
    np.testing.assert_array_equal(start["motion"].numpy(), item["motion"][:22])
    long = PreparedDataset(out, segment_seconds=5.0, random_crop=False)[0]  # past the 4 s clip: padded
    assert long["motion"].shape == (108, 32) and not long["motion"][86:].any()  # a held frame does not move
    assert (long["features"][86:] == long["features"][85]).all()  # features hold the last frame
    # changed settings are a different cache key, not a silent reuse
    s3 = prepare(str(src), out, workers=0, progress=False,
                 settings=__import__("avgen.data", fromlist=["PrepareSettings"]).PrepareSettings(fps=10.0))
    assert s3.processed == 2


@pytest.mark.slow
def test_cli_prepare_on_sample_clips(shared_samples, tmp_path):
    # two of the real clips through a CSV manifest, one per pool worker (four took 61 s of the loaded CI run, all
    # twelve about a minute more, for the same checks)
    ids = sample_ids(shared_samples)[::6]
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path\n" + "".join(os.path.join(shared_samples, "video", i + ".mp4") + "\n" for i in ids))
    out = tmp_path / "cache"
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "prepare", str(manifest),
                        "-o", str(out), "--workers", "2", "--clip-seconds", "10"],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "prepare" in r.stderr and "100%" in r.stderr  # progress bar
    n = len(ids)
    assert f"prepared {n}, already cached 0, failed 0 of {n}" in r.stdout
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert len(index) == n
    for rec in index:
        t = load_file(out / rec["file"])
        assert t["mel"].shape == (80, 860) and t["features"].shape == (215, 1280)
        ref = np.load(os.path.join(shared_samples, "melspec_10s_22050hz", rec["id"] + "_mel.npy"))
        assert np.abs(t["mel"] - ref).mean() < 0.021


def test_prepare_public_audio_chain(shared_samples, tmp_path):
    """--audio-chain public: the one clip whose direct decode misses the stored mel (0.0205) comes under 0.02; the
    choice is part of the cache key, so the two chains never share cached items."""
    from avgen.data import PrepareSettings
    from avgen.data.prepare import _settings_dict

    clip = "6zlMP_kQ_-w_30000_40000"
    video = os.path.join(shared_samples, "video", clip + ".mp4")
    ref = np.load(os.path.join(shared_samples, "melspec_10s_22050hz", clip + "_mel.npy"))
    out = tmp_path / "cache"
    settings = PrepareSettings(fps=2.0, clip_seconds=10.0, audio_chain="public")  # few frames: features not tested
    assert prepare(video, out, settings=settings, workers=0, progress=False).processed == 1
    assert json.loads((out / "settings.json").read_text())["audio_chain"] == "public"
    rec = json.loads((out / "index.jsonl").read_text().splitlines()[0])
    mel = load_file(out / rec["file"])["mel"]
    assert mel.shape == (80, 860) and np.abs(mel - ref).mean() < 0.02
    # the default chain keeps the settings (and so the cache keys) it had before the option existed
    assert "audio_chain" not in _settings_dict(PrepareSettings(), {}) and "audio_chain" in _settings_dict(settings, {})
    with pytest.raises(ValueError, match="audio_chain"):
        PrepareSettings(audio_chain="ffmpeg")


def test_folder_manifest_from_a_relative_path(tmp_path, monkeypatch):
    from avgen.data import read_manifest

    (tmp_path / "clips" / "sub").mkdir(parents=True)
    (tmp_path / "clips" / "sub" / "a.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    (item,) = read_manifest("clips")
    assert item.path == str(tmp_path / "clips" / "sub" / "a.mp4") and os.path.exists(item.path)


def _tiny_cache(root, ids, motion="pixel-grid-local"):
    """A prepare cache written by hand: the settings keys the dataset reads, one item per id."""
    from safetensors.torch import save_file
    import torch

    os.makedirs(os.path.join(root, "items"))
    settings = {"version": 1, "fps": 10.0, "clip_seconds": None, "visual": {"feature_dim": 4},
                "mel": {"name": "specvqgan", "sample_rate": 800, "hop_length": 40, "n_mels": 3},
                "motion": {"name": motion}}
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump(settings, f)
    with open(os.path.join(root, "index.jsonl"), "w") as f:
        for n, clip in enumerate(ids):
            save_file({"features": torch.full((10, 4), float(n)), "mel": torch.zeros(3, 20),
                       "motion": torch.zeros(10, 32)}, os.path.join(root, "items", f"{n}.safetensors"))
            f.write(json.dumps({"id": clip, "file": f"items/{n}.safetensors"}) + "\n")


def test_several_caches_train_as_one(tmp_path):
    from avgen.errors import ConfigError
    from avgen.train.config import load_config

    _tiny_cache(tmp_path / "a", ["a0", "a1"])
    _tiny_cache(tmp_path / "b", ["b0"])  # its item file has the same name as a's first: each cache reads its own
    ds = PreparedDataset([tmp_path / "a", tmp_path / "b"], segment_seconds=0.5)
    assert len(ds) == 3 and [ds[i]["id"] for i in range(3)] == ["a0", "a1", "b0"]
    assert [float(ds[i]["features"][0, 0]) for i in range(3)] == [0.0, 1.0, 0.0]
    assert ds[2]["mel"].shape == (3, 10) and ds.motion_dim == 32
    _tiny_cache(tmp_path / "c", ["c0"], motion="pixel-grid")  # other inputs: one model cannot learn both
    with pytest.raises(AvgenError, match=r"c: its motion settings differ from those of .*a"):
        PreparedDataset([tmp_path / "a", tmp_path / "c"])
    cfg = load_config(None, [f"data.path=[{tmp_path / 'a'}, {tmp_path / 'b'}]"])
    assert cfg.data.path == [str(tmp_path / "a"), str(tmp_path / "b")]
    with pytest.raises(ConfigError, match="data.path: must be one folder"):
        load_config(None, ["data.kind=images", "data.path=[x, y]"])
