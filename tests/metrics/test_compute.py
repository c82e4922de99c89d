"""Folder-level metrics end to end: FVD against an independent computation, caching, FID/IS plumbing, CLIP."""

import json
import math
import os

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from avgen.errors import AvgenError
from avgen.media import read_video, write_video
from avgen.metrics import compute_clip_similarity, compute_fid, compute_fvd, compute_is
from avgen.models import I3D

from .helpers import i3d_weights


def _write_videos(folder, n, seed, size=(48, 64), frames=18, fps=12):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (1, *size, 3))
        drift = rng.integers(-20, 20, (frames, 1, 1, 3)).cumsum(0)
        video = np.clip(base + drift + rng.integers(0, 30, (frames, *size, 3)), 0, 255).astype(np.uint8)
        write_video(os.path.join(folder, f"v{i:02d}.mp4"), video, fps)
    return folder


def _independent_fvd(real, fake, weights):
    """Decode, preprocess (shorter side 224 bilinear, center crop, [-1, 1]) and pool the same I3D, written out here
    independently of avgen.metrics; statistics with np.cov and scipy's sqrtm."""
    net = I3D()
    net.load_state_dict(torch.load(weights, weights_only=True))
    net.eval()

    def feats(folder):
        out = []
        for name in sorted(os.listdir(folder)):
            frames, _ = read_video(os.path.join(folder, name))
            x = torch.from_numpy(frames[:16]).permute(0, 3, 1, 2).float() / 255  # [T, 3, H, W]
            h, w = x.shape[-2:]
            s = 224 / min(h, w)
            x = F.interpolate(x, size=(224, math.ceil(w * s)) if h < w else (math.ceil(h * s), 224),
                              mode="bilinear", align_corners=False)
            top, left = (x.shape[2] - 224) // 2, (x.shape[3] - 224) // 2
            x = (x[:, :, top:top + 224, left:left + 224] - 0.5) * 2
            with torch.no_grad():
                out.append(net(x.permute(1, 0, 2, 3)[None]).double().numpy()[0])
        return np.stack(out)

    a, b = feats(real), feats(fake)
    m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(covmean))


def test_fvd_end_to_end_equals_independent_computation(tmp_path):
    weights = i3d_weights(tmp_path)
    real = _write_videos(tmp_path / "real", 4, seed=0)
    fake = _write_videos(tmp_path / "fake", 4, seed=1)
    rep = compute_fvd(str(real), str(fake), weights=weights, batch_size=3, progress=False,
                      cache_dir=str(tmp_path / "cache"))
    expected = _independent_fvd(real, fake, weights)
    # features are fp32 in both; scipy's sqrtm on rank-3 400x400 covariances is the less accurate side
    assert rep["fvd"] == pytest.approx(expected, rel=1e-4)
    prof = rep["profile"]
    assert prof["frames_per_clip"] == 16 and prof["num_real"] == 4 and prof["layer"] == "logits (400)"
    assert prof["weights_sha256"] and prof["real_stats_cached"] is False and "torch" in prof["versions"]
    # second run reads the real statistics from the cache and gives the same number
    again = compute_fvd(str(real), str(fake), weights=weights, batch_size=3, progress=False,
                        cache_dir=str(tmp_path / "cache"))
    assert again["profile"]["real_stats_cached"] is True and again["fvd"] == pytest.approx(rep["fvd"], rel=1e-12)
    assert len(os.listdir(tmp_path / "cache")) == 1


def test_fvd_cache_key_changes_with_profile_and_data(tmp_path):
    real = _write_videos(tmp_path / "real", 3, seed=2, frames=12)
    fake = _write_videos(tmp_path / "fake", 3, seed=3, frames=12)
    cache = str(tmp_path / "cache")
    compute_fvd(str(real), str(fake), num_frames=8, progress=False, cache_dir=cache)
    compute_fvd(str(real), str(fake), num_frames=10, progress=False, cache_dir=cache)  # other profile
    _write_videos(tmp_path / "real", 1, seed=9, frames=12)  # v00 rewritten: other data
    r = compute_fvd(str(real), str(fake), num_frames=8, progress=False, cache_dir=cache)
    assert len(os.listdir(cache)) == 3 and r["profile"]["real_stats_cached"] is False


def test_fvd_too_short_video_is_named(tmp_path):
    real = _write_videos(tmp_path / "real", 2, seed=4, frames=10)
    with pytest.raises(AvgenError, match="v00.mp4: 10 frames, the clip needs 16"):
        compute_fvd(str(real), str(real), progress=False)


def test_fid_is_on_frame_folders_and_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(5)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")
    rep = compute_fid(str(tmp_path / "a"), str(tmp_path / "b"), progress=False, cache_dir=None)
    assert rep["fid"] > 0 and rep["profile"]["kid_subset_size"] == 12
    same = compute_fid(str(tmp_path / "a"), str(tmp_path / "a"), progress=False, kid=False)
    assert abs(same["fid"]) < 1e-6 * rep["fid"]
    with pytest.raises(ValueError, match="subset size"):
        compute_fid(str(tmp_path / "a"), str(tmp_path / "b"), progress=False, kid_subset_size=50)
    is_rep = compute_is(str(tmp_path / "a"), splits=3, progress=False)
    assert 1.0 <= is_rep["is_mean"] and is_rep["profile"]["num_samples"] == 12
    assert is_rep["profile"]["comparable_with_published"] is False


def test_clip_similarity_text_and_audio(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "avgen-tiny-clip.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(tmp_path / "cfg"))
    torch.manual_seed(0)
    model = open_clip.create_model("avgen-tiny-clip").eval()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    videos = _write_videos(tmp_path / "videos", 2, seed=6, frames=4)
    emb_dir = tmp_path / "audio_emb"
    emb_dir.mkdir()
    # an audio embedding equal to the video's own embedding must score 1
    from avgen.encoders import VisualEncoder

    enc = VisualEncoder("clip", model_name="avgen-tiny-clip", weights=str(ckpt), device="cpu")
    for name in ("v00", "v01"):
        frames, _ = read_video(videos / f"{name}.mp4")
        np.save(emb_dir / f"{name}.npy", enc.encode(frames).double().mean(0).numpy())
    rep = compute_clip_similarity(str(videos), model_name="avgen-tiny-clip", weights=str(ckpt), text="a dog barking",
                                  audio_embeddings=str(emb_dir), progress=False)
    assert rep["audio_video"] == pytest.approx(1.0, abs=1e-6)
    frames, _ = read_video(videos / "v00.mp4")
    v = enc.encode(frames).double().mean(0)
    with torch.no_grad():
        t = F.normalize(model.encode_text(open_clip.get_tokenizer("avgen-tiny-clip")(["a dog barking"])), dim=-1)
    assert -1 <= rep["text_video"] <= 1 and rep["profile"]["num_videos"] == 2
    first = float(F.cosine_similarity(v[None], t.double()))
    frames, _ = read_video(videos / "v01.mp4")
    second = float(F.cosine_similarity(enc.encode(frames).double().mean(0)[None], t.double()))
    assert rep["text_video"] == pytest.approx((first + second) / 2, abs=1e-5)
