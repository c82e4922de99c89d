"""Pixel motion (avgen.encoders.motion) and the VarietySound input that takes it: the figures by hand, streaming,
resolution, the model's checks, the pipeline's one pass over the frames, and the training task's refusal of a cache
without it."""

import numpy as np
import pytest
import torch

from avgen.encoders.motion import PIXEL_MOTION_DIM, PixelMotion, pixel_motion
from avgen.models.v2s.varietysound import VarietySound

TINY = dict(feature_dim=12, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
            background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16, dropout=0.0)


def test_figures_by_hand():
    # 8x8 frames (no block averaging): a 2x2 cell is one grid cell; the top-left cell brightens by 100 grey levels
    f = np.zeros((3, 8, 8, 3), np.uint8)
    f[1:, :2, :2] = 100
    m = pixel_motion(f)
    assert m.shape == (3, PIXEL_MOTION_DIM) and m.dtype == np.float32
    expect = np.zeros((3, 32), np.float32)
    expect[1, 0], expect[1, 16] = 10.0, 10.0  # d_1 = 100 / 10 in cell 0, and it rose by as much
    expect[2, 16] = -10.0  # no change at t = 2: d_2 = 0, a fall of 10
    np.testing.assert_allclose(m, expect, atol=1e-6)
    # colour counts as grey (the channel mean): only the red channel changing by 90 is a change of 30
    g = np.zeros((2, 8, 8, 3), np.uint8)
    g[1, :2, :2, 0] = 90
    assert pixel_motion(g)[1, 0] == pytest.approx(3.0)


def test_streaming_equals_whole_and_resolution_barely_matters():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (10, 64, 96, 3), dtype=np.uint8)
    whole = pixel_motion(small)
    stream = PixelMotion()
    parts = np.concatenate([stream.push(small[a:b]) for a, b in ((0, 3), (3, 8), (8, 8), (8, 10))])
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    # the same video decoded 4x larger (each pixel a 4x4 block) gives the same figures: block averaging to ~64 px
    big = small.repeat(4, 1).repeat(4, 2)
    np.testing.assert_allclose(pixel_motion(big), whole, atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        pixel_motion(small.astype(np.float32))
    with pytest.raises(ValueError, match="size changed"):
        stream.push(small[:1, :32])


def test_model_takes_motion_only_when_configured():
    torch.manual_seed(0)
    g = VarietySound(**TINY, pixel_motion_dim=32).eval()
    assert g.temporal.convs[0][0].in_channels == 12 + 32
    feats, ref = torch.randn(2, 22, 12), torch.rand(2, 80, 40)
    motion = torch.zeros(2, 22, 32)
    with pytest.raises(ValueError, match=r"pixel motion \[B, T_v, 32\]"):
        g(feats, ref, 88)
    with pytest.raises(ValueError, match="got \\[2, 21, 32\\]"):
        g(feats, ref, 88, motion=motion[:, :21])
    seen = []
    g.temporal.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    motion = torch.rand(2, 22, 32)
    assert g(feats, ref, 88, motion=motion).shape == (2, 80, 88)
    torch.testing.assert_close(seen[0], torch.cat([feats, motion], -1), rtol=0, atol=0)  # the temporal input
    with pytest.raises(ValueError, match="takes no pixel motion"):
        VarietySound(**TINY)(feats, ref, 88, motion=motion)
    for bad in (-1, True, 2.0):
        with pytest.raises(ValueError, match="pixel_motion_dim"):
            VarietySound(**TINY, pixel_motion_dim=bad)
    # temporal_features: false: the temporal encoder sees the motion alone
    m = VarietySound(**TINY, pixel_motion_dim=32, temporal_features=False).eval()
    seen.clear()
    m.temporal.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    m(feats, ref, 88, motion=motion)
    assert m.temporal.convs[0][0].in_channels == 32 and torch.equal(seen[0], motion)
    with pytest.raises(ValueError, match="no input"):
        VarietySound(**TINY, temporal_features=False)


def test_pipeline_computes_the_cache_motion_in_its_feature_pass(tmp_path):
    from avgen.cli import EXAMPLE_VIDEO
    from avgen.encoders.frames import iter_frame_batches
    from avgen.generate import VideoToSoundPipeline
    from avgen.media import read_video

    torch.manual_seed(0)
    g = VarietySound(**{**TINY, "feature_dim": 1280}, pixel_motion_dim=32)
    config = {"task": "varietysound", "model": g.config, "data": {"fps": 21.5, "segment_seconds": 2.0,
                                                                  "visual": {"backbone": "efficientnet-lite0"}}}
    pipe = VideoToSoundPipeline(g, config, device="cpu", vocoder="griffin-lim")
    assert pipe.takes_motion
    feats, motion, duration = pipe.video_inputs(EXAMPLE_VIDEO)
    frames = np.concatenate(list(iter_frame_batches(EXAMPLE_VIDEO, fps=21.5, resize=256)))
    assert feats.shape == (86, 1280) and duration == pytest.approx(4.0, abs=0.05)
    np.testing.assert_allclose(motion.numpy(), pixel_motion(frames), atol=1e-6)  # what avgen prepare caches
    # a frame array (full size) gives nearly the same motion (6.5% mean difference measured)
    array = read_video(EXAMPLE_VIDEO, fps=21.5)[0]
    _, motion_arr, _ = pipe.video_inputs(array, fps=21.5)
    assert motion_arr.shape == motion.shape and (motion_arr - motion).abs().mean() < 0.1 * motion.abs().mean()
    # chunked synthesis slices motion with the features
    ref = torch.rand(80, 60)
    mel = pipe.synthesize_mel(feats, ref, 345, motion=motion, chunk_seconds=1.5, overlap_seconds=0.5)
    assert mel.shape == (80, 345) and torch.isfinite(mel).all()
    wav = pipe(EXAMPLE_VIDEO, np.random.default_rng(0).normal(size=22050).astype(np.float32) * 0.1,
               reference_sample_rate=22050, seed=0)
    assert wav.waveform.shape == (1, round(duration * 22050))


def test_training_refuses_a_cache_without_motion(tmp_path):
    from avgen.errors import ConfigError
    from avgen.train.config import DataConfig, TrainConfig
    from avgen.train.tasks.varietysound import VarietySoundTask

    cfg = TrainConfig(task="varietysound", model={**TINY, "pixel_motion_dim": 32}, data=DataConfig(path=str(tmp_path)))
    task = VarietySoundTask(cfg, feature_dim=12, n_mels=80)
    with pytest.raises(ConfigError, match="has no pixel motion"):
        task.attach_dataset(type("OldCache", (), {"has_motion": False})())
    task.attach_dataset(type("Cache", (), {"has_motion": True})())
    batch = {"mel": torch.rand(2, 80, 88), "features": torch.randn(2, 22, 12), "motion": torch.zeros(2, 22, 32)}
    loss, logs = task.generator_loss(batch, task.build_generator(), None)
    assert torch.isfinite(loss) and "g/mel_mse" in logs
