"""Every metric command runs offline on the real sample clips with the offline default weights and prints its
profile; bad input gives a one-line error."""

import json
import os
import subprocess
import sys

import pytest

from ..conftest import REPO, sample_ids


def _run(*args, tool=None):
    cmd = [sys.executable, os.path.join(REPO, "tools", tool)] if tool else [sys.executable, "-m", "avgen.cli", "eval"]
    return subprocess.run(cmd + [*args, "--no-progress"], capture_output=True, text=True, timeout=600)


def _report(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def halves(shared_samples, tmp_path_factory):
    """The 12 real clips as two folders of 6 (symlinks)."""
    root = tmp_path_factory.mktemp("halves")
    ids = sample_ids(shared_samples)
    for name, part in (("a", ids[:6]), ("b", ids[6:])):
        os.makedirs(root / name)
        for i in part:
            os.symlink(os.path.join(shared_samples, "video", i + ".mp4"), root / name / (i + ".mp4"))
    return root


def test_compute_fvd_tool_offline(halves, tmp_path):
    rep = _report(_run(str(halves / "a"), str(halves / "b"), "--cache-dir", str(tmp_path), "--report",
                       str(tmp_path / "r.jsonl"), tool="compute_fvd.py"))
    assert rep["fvd"] > 0 and rep["profile"]["comparable_with_published"] is False
    assert rep["profile"]["num_real"] == 6 and rep["profile"]["frames_per_clip"] == 16
    assert json.loads((tmp_path / "r.jsonl").read_text())["fvd"] == rep["fvd"]


def test_compute_is_and_fid_tools_per_frame_offline(halves, shared_samples):
    rep = _report(_run(os.path.join(shared_samples, "video"), "--frames-per-video", "3", "--frame-stride", "20",
                       "--splits", "4", tool="compute_is.py"))
    assert rep["is_mean"] >= 1 and rep["profile"]["num_samples"] == 36 and rep["profile"]["splits"] == 4
    rep = _report(_run(str(halves / "a"), str(halves / "b"), "--frames-per-video", "3", "--frame-stride", "20",
                       "--no-cache", tool="compute_fid.py"))
    assert rep["fid"] > 0 and rep["profile"]["kid_subset_size"] == 18 and "not comparable" in rep["profile"]["note"]


def test_audio_metric_commands_offline(halves):
    rep = _report(_run("mcd", str(halves / "a"), str(halves / "a")))
    assert rep["mcd"] == 0 and rep["mcd_dtw"] == 0 and rep["profile"]["pairs"] == 6
    rep = _report(_run("timbre", str(halves / "a"), str(halves / "a")))
    assert rep["timbre_similarity"] == pytest.approx(1.0) and rep["timbre_retrieval_accuracy"] == 1.0
    rep = _report(_run("sync", str(halves / "b")))
    assert rep["profile"]["num_videos"] == 6 and 0 <= rep["sync_hit_rate"] <= 1


def test_missing_weights_is_one_line_error(halves, tmp_path):
    proc = _run(str(halves / "a"), str(halves / "b"), "--weights", str(tmp_path / "i3d.pt"), tool="compute_fvd.py")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "i3d.pt' does not exist" in proc.stderr and "rgb_imagenet.pt" in proc.stderr
    proc = _run("melception", str(halves / "a"), str(halves / "a"), "--weights", "x.pt", "--norm-stats", "y.txt")
    assert proc.returncode == 2 and "melception-21-05-10T09-28-40.pt" in proc.stderr


def test_clip_and_melception_commands_on_real_clips_with_test_built_weights(halves, tmp_path):
    """No CLIP or Melception weights exist offline; checkpoints in the public layouts built here stand in."""
    import numpy as np
    import torch
    import torchvision

    from .helpers import calibrated

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "avgen-tiny-clip-cli.json").write_text(json.dumps(cfg))
    # open_clip reads extra model configs from the folder named in this test-only hook (see tests/conftest.py)
    env_cfg = str(tmp_path)
    import open_clip

    open_clip.add_model_config(env_cfg)
    torch.manual_seed(0)
    torch.save({"state_dict": open_clip.create_model("avgen-tiny-clip-cli").state_dict()}, tmp_path / "clip.pt")
    code = ("import sys, open_clip; open_clip.add_model_config(sys.argv[1]); from avgen.cli import main; "
            "sys.exit(main(sys.argv[2:]))")
    proc = subprocess.run([sys.executable, "-c", code, env_cfg, "eval", "clip", str(halves / "a"), "--model",
                           "avgen-tiny-clip-cli", "--weights", str(tmp_path / "clip.pt"), "--text", "a dog barking",
                           "--fps", "1", "--no-progress"], capture_output=True, text=True, timeout=600)
    rep = _report(proc)
    assert -1 <= rep["text_video"] <= 1 and rep["profile"]["num_videos"] == 6 and rep["profile"]["weights_sha256"]

    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True, num_classes=309)
    tv.Conv2d_1a_3x3 = torchvision.models.inception.BasicConv2d(1, 32, kernel_size=3, stride=2)
    tv.maxpool1, tv.maxpool2 = torch.nn.Identity(), torch.nn.Identity()
    torch.save({"model": calibrated(tv, torch.rand(2, 1, 80, 848)).state_dict()}, tmp_path / "melception.pt")
    np.savetxt(tmp_path / "stats.txt", np.stack([np.full(80, 0.4), np.full(80, 0.2)], 1), fmt="%0.8f")
    three = tmp_path / "three"
    three.mkdir()
    for name in sorted(os.listdir(halves / "a"))[:3]:
        os.symlink(os.path.realpath(halves / "a" / name), three / name)
    rep = _report(_run("melception", str(three), str(three), "--weights", str(tmp_path / "melception.pt"),
                       "--norm-stats", str(tmp_path / "stats.txt"), "--splits", "3"))
    assert rep["mkl"] == pytest.approx(0.0, abs=1e-4) and abs(rep["fid"]) < 1e-3 and rep["profile"]["pairs"] == 3
