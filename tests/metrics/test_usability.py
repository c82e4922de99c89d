"""Issue 19's metric usability: the bundled CLIP scores offline through its model-config JSON, FVD on short videos
names the --frames that fits, and IS/FID on a folder of videos say to pass --frames-per-video."""

import os

import numpy as np
import pytest

from avgen.cli import main
from avgen.errors import AvgenError
from avgen.media import write_video
from avgen.metrics import compute_clip_similarity, compute_fvd, compute_is

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "avgen", "assets", "s2v_default")
CLIP_JSON = os.path.join(ASSETS, "avgen-scenes-clip.json")
CLIP_WEIGHTS = os.path.join(ASSETS, "clip.pt")


def _videos(folder, n, *, frames=8, fps=2, size=64, seed=0):
    """Like the default `avgen s2v` output: 8 frames at 2 fps, 64x64."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (1, size, size, 3))
        video = np.clip(base + rng.integers(-25, 25, (frames, size, size, 3)), 0, 255).astype(np.uint8)
        write_video(os.path.join(folder, f"v{i}.mp4"), video, fps)
    return str(folder)


def test_bundled_clip_scores_through_its_model_config_json(tmp_path, capsys):
    open_clip = pytest.importorskip("open_clip")
    import torch
    import torch.nn.functional as F

    from avgen.media import read_video

    videos = _videos(tmp_path / "v", 2)
    rep = compute_clip_similarity(videos, model_name=CLIP_JSON, weights=CLIP_WEIGHTS, text="a lake", progress=False)
    assert rep["profile"]["network"] == "open_clip avgen-scenes-clip"
    # the same score computed here with open_clip directly (its own preprocessing; frames already 64x64)
    model, _, pre = open_clip.create_model_and_transforms("avgen-scenes-clip", pretrained=CLIP_WEIGHTS)
    model.eval()
    from PIL import Image

    sims = []
    with torch.no_grad():
        t = F.normalize(model.encode_text(open_clip.get_tokenizer("avgen-scenes-clip")(["a lake"])), dim=-1)[0]
        for name in ("v0.mp4", "v1.mp4"):
            frames, _ = read_video(os.path.join(videos, name))
            x = torch.stack([pre(Image.fromarray(f)) for f in frames])
            v = F.normalize(model.encode_image(x), dim=-1).double().mean(0)
            sims.append(float(v @ t.double() / v.norm()))
    assert rep["text_video"] == pytest.approx(float(np.mean(sims)), abs=2e-3)
    # and from the command line, as docs/metrics.md shows it
    assert main(["eval", "clip", videos, "--model", CLIP_JSON, "--weights", CLIP_WEIGHTS, "--text", "a lake",
                 "--no-progress"]) == 0
    assert "clip_similarity: text_video=" in capsys.readouterr().out


def test_clip_model_json_errors_name_the_option(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a clip config"}')
    with pytest.raises(AvgenError, match=r"--model .*bad.json: not an open_clip model config"):
        compute_clip_similarity(str(tmp_path), model_name=str(bad), weights=CLIP_WEIGHTS, text="x", progress=False)
    with pytest.raises(AvgenError, match=r"--model .*missing.json: no such model-config file"):
        compute_clip_similarity(str(tmp_path), model_name=str(tmp_path / "missing.json"), weights=CLIP_WEIGHTS,
                                text="x", progress=False)


def test_fvd_on_short_videos_names_the_frames_that_fit(tmp_path):
    real, fake = _videos(tmp_path / "real", 3, seed=1), _videos(tmp_path / "fake", 3, seed=2)
    with pytest.raises(AvgenError, match=r"v0.mp4: 8 frames, the clip needs 16 .*; --frames 8 or fewer would fit"):
        compute_fvd(real, fake, progress=False)
    with pytest.raises(AvgenError, match=r"needs 15 .*stride 2\); --frames 4 or fewer would fit"):
        compute_fvd(real, fake, num_frames=8, stride=2, progress=False)
    # the hint's value reads the clip (the Frechet distance itself, 2560-d on CPU, is tested in test_compute.py)
    from avgen.metrics.inputs import ClipSpec, read_clip

    assert read_clip(os.path.join(real, "v0.mp4"), ClipSpec(num_frames=8)).shape == (8, 64, 64, 3)


def test_is_and_fid_on_video_folders_say_frames_per_video(tmp_path, capsys):
    videos = _videos(tmp_path / "v", 3)
    hint = r"no images but 3 video\(s\); pass --frames-per-video N .*v0.mp4 has 8 frames"
    with pytest.raises(AvgenError, match=hint):
        compute_is(videos, splits=2, progress=False)
    with pytest.raises(AvgenError, match=hint):
        from avgen.metrics import compute_fid

        compute_fid(videos, videos, progress=False)
    # the tool wrapper and `avgen eval is` say the same, as one line with exit 2
    assert main(["eval", "is", videos, "--splits", "2"]) == 2
    assert "--frames-per-video" in capsys.readouterr().err
    # too few frames for the splits: refused before any network runs, one line
    assert main(["eval", "is", videos, "--frames-per-video", "3"]) == 2
    err = capsys.readouterr().err
    assert "--splits 10: " in err and "gives 9 frame(s) (3 video(s) x --frames-per-video 3)" in err
    with pytest.raises(AvgenError, match="--frames-per-video 8 or fewer would fit"):
        compute_is(videos, splits=2, frames_per_video=9, progress=False)
    rep = compute_is(videos, splits=2, frames_per_video=8, progress=False)
    assert rep["profile"]["num_samples"] == 24 and rep["is_mean"] >= 1.0
