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
    with pytest.raises(ConfigError, match="has 64 channels"):  # a pixel-flow-local cache for a 32-wide model
        task.attach_dataset(type("FlowCache", (), {"has_motion": True, "motion_dim": 64})())
    batch = {"mel": torch.rand(2, 80, 88), "features": torch.randn(2, 22, 12), "motion": torch.zeros(2, 22, 32)}
    loss, logs = task.generator_loss(batch, task.build_generator(), None)
    assert torch.isfinite(loss) and "g/mel_mse" in logs


def _panned(shifts, size=64, seed=0):
    """A smooth random texture seen through a window that moves by ``shifts`` (cumulative, in pixels, sub-pixel
    allowed): what a camera pan over a still scene gives. uint8 frames [T, size, size, 3]."""
    rng = np.random.default_rng(seed)
    big = rng.uniform(0, 255, (size // 4 + 8, size // 4 + 8))
    big = np.kron(big, np.ones((4, 4)))  # 4-px blocks, then a blur: structure at the search's scale
    k = np.ones(5) / 5
    big = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 0, big)
    big = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 1, big)
    out, y, x = [], 8.0, 8.0
    for dy, dx in [(0.0, 0.0)] + list(shifts):
        y, x = y + dy, x + dx
        iy, ix, fy, fx = int(y), int(x), y - int(y), x - int(x)
        win = lambda a, b: big[iy + a: iy + a + size, ix + b: ix + b + size]  # noqa: E731
        f = (1 - fy) * ((1 - fx) * win(0, 0) + fx * win(0, 1)) + fy * ((1 - fx) * win(1, 0) + fx * win(1, 1))
        out.append(np.repeat(np.clip(f, 0, 255).round().astype(np.uint8)[..., None], 3, -1))
    return np.stack(out)


def test_stabilised_motion_ignores_a_camera_pan_but_not_an_event():
    """``pixel-grid-stabilised`` (the ``avgen prepare --motion`` option and its ablation switch ``pixel-grid``): a
    pan of up to 4 px per frame, whole or sub-pixel, leaves almost no motion where the plain kind sees a lot; an
    object that flashes during the pan still shows in its cell; a repeated frame is no motion in either kind."""
    pan = _panned([(2, 3), (0.5, -1.25), (-3, 0), (0, 0)])
    plain, stable = pixel_motion(pan), pixel_motion(pan, "pixel-grid-stabilised")
    assert plain[1:4, :16].mean() > 1.0  # the pan is a big change, frame to frame
    assert stable[1:4, :16].mean() < 0.1 * plain[1:4, :16].mean()
    assert np.abs(stable[4, :16]).max() == 0 and np.abs(plain[4, :16]).max() == 0  # the repeated last frame
    flash = pan.copy()
    flash[2, 20:28, 20:28] = 255  # in cell (1, 1) of the 4x4 grid: index 5
    cells = pixel_motion(flash, "pixel-grid-stabilised")[2, :16]
    assert cells.argmax() == 5 and cells[5] > 5 * np.delete(cells, 5).max()
    # streaming gives the whole-array figures for this kind too
    stream = PixelMotion("pixel-grid-stabilised")
    parts = np.concatenate([stream.push(flash[a:b]) for a, b in ((0, 2), (2, 3), (3, 5))])
    np.testing.assert_allclose(parts, pixel_motion(flash, "pixel-grid-stabilised"), atol=1e-6)


def test_local_motion_ignores_a_lighting_change_and_a_pan_but_not_an_event():
    """``pixel-grid-local``: a pan and a global dimming at once leave almost nothing, where the stabilised kind
    sees the dimming all over; a flashing object still stands out in its cell, and what the grid cell figures
    hold is relative to the median cell (an even change everywhere is 0); streaming equals the whole array."""
    pan = _panned([(1, 2), (-0.5, 1), (2, -1.5)])
    lit = pan.astype(np.float32)
    lit[2:] *= 0.75  # the lights go down from frame 2 on (a lighting change, no event; no clipping)
    lit = np.clip(lit, 0, 255).round().astype(np.uint8)
    stable, local = pixel_motion(lit, "pixel-grid-stabilised"), pixel_motion(lit, "pixel-grid-local")
    assert stable[2, :16].min() > 1.0  # every cell changes when the lights go down
    assert np.abs(local[1:, :16]).max() < 0.1 * stable[2, :16].min()
    flash = lit.copy()
    flash[2, 20:28, 20:28] = 255  # cell (1, 1): index 5
    cells = pixel_motion(flash, "pixel-grid-local")[2, :16]
    assert cells.argmax() == 5 and cells[5] > 5 * np.abs(np.delete(cells, 5)).max()
    assert np.median(cells) == pytest.approx(0.0, abs=1e-6)
    stream = PixelMotion("pixel-grid-local")
    parts = np.concatenate([stream.push(flash[a:b]) for a, b in ((0, 1), (1, 3), (3, 4))])
    np.testing.assert_allclose(parts, pixel_motion(flash, "pixel-grid-local"), atol=1e-6)


def _moving_square(path, size=64, seed=1):
    """A textured 16-px square moving over a still textured background by ``path`` ((dy, dx) per frame, cumulative),
    starting near the picture's centre: uint8 frames [T, size, size, 3]."""
    back = _panned([], size=size, seed=seed)[0, ..., 0].astype(np.float32)
    patch = _panned([], size=16, seed=seed + 1)[0, ..., 0].astype(np.float32) * 0.5 + 100
    out, y, x = [], 24.0, 24.0
    for dy, dx in [(0.0, 0.0)] + list(path):
        y, x = y + dy, x + dx
        f = back.copy()
        f[int(round(y)):int(round(y)) + 16, int(round(x)):int(round(x)) + 16] = patch
        out.append(np.repeat(np.clip(f, 0, 255).round().astype(np.uint8)[..., None], 3, -1))
    return np.stack(out)


def test_flow_motion_gives_each_cells_velocity_and_the_local_figures():
    """``pixel-flow-local``: the local kind's 32 numbers unchanged, then (vx, vy) per cell; a square falling and
    bouncing back up reads as downward then upward velocity where it is and as still elsewhere; streaming equals
    the whole array."""
    from avgen.encoders.motion import motion_dim

    frames = _moving_square([(2, 0), (2, 0), (2, 0), (-2, 0), (-2, 0)])
    flow = pixel_motion(frames, "pixel-flow-local")
    assert flow.shape == (6, 64) and motion_dim("pixel-flow-local") == 64 and motion_dim("pixel-grid-local") == 32
    np.testing.assert_allclose(flow[:, :32], pixel_motion(frames, "pixel-grid-local"), atol=1e-6)
    vel = flow[:, 32:].reshape(6, 16, 2)  # [T, cell, (vx, vy)]
    moving = np.abs(vel[1:, :, 1]).max(0) > 0.3  # the cells the square crosses
    assert 1 <= moving.sum() <= 6 and np.abs(vel[1:, ~moving]).max() < 0.3
    vy = vel[:, moving, 1].mean(1)
    assert (vy[1:4] > 0.3).all() and (vy[4:] < -0.3).all()  # down (y grows), then back up: the bounce
    assert np.abs(vel[:, moving, 0]).max() < 0.5 * np.abs(vy[1:]).min()  # no sideways move
    assert np.abs(vel[0]).max() == 0  # the first frame has no predecessor
    stream = PixelMotion("pixel-flow-local")
    parts = np.concatenate([stream.push(frames[a:b]) for a, b in ((0, 2), (2, 5), (5, 6))])
    np.testing.assert_allclose(parts, flow, atol=1e-6)


def test_motion_settings_name_the_kind_and_unknown_ones_are_refused():
    from avgen.encoders.motion import MOTION_KINDS, PIXEL_MOTION_SETTINGS, motion_settings

    assert motion_settings() == PIXEL_MOTION_SETTINGS  # caches made before the kinds keep their keys
    assert motion_settings("pixel-grid-stabilised")["name"] == "pixel-grid-stabilised"
    for kind in MOTION_KINDS:
        assert PixelMotion.from_settings(motion_settings(kind)).kind == kind
    assert PixelMotion.from_settings(None).kind == "pixel-grid"
    with pytest.raises(ValueError, match="unknown motion kind"):
        PixelMotion("optical-flow")
    with pytest.raises(ValueError, match="not ones this version computes"):
        PixelMotion.from_settings({**motion_settings("pixel-grid-stabilised"), "radius": 8})


def test_the_pipeline_computes_the_motion_kind_it_was_trained_on():
    from avgen.checkpoints import CheckpointError
    from avgen.encoders.motion import MOTION_KINDS, motion_settings
    from avgen.generate import VideoToSoundPipeline

    g = VarietySound(**{**TINY, "feature_dim": 1280}, pixel_motion_dim=32)
    data = {"fps": 21.5, "visual": {"backbone": "efficientnet-lite0"}}
    kinds = {}
    wide = VarietySound(**{**TINY, "feature_dim": 1280}, pixel_motion_dim=64)
    for motion in (None, *(motion_settings(kind) for kind in MOTION_KINDS)):
        d = data if motion is None else {**data, "motion": motion}
        model = wide if motion is not None and motion["name"] == "pixel-flow-local" else g
        kinds[None if motion is None else motion["name"]] = VideoToSoundPipeline(
            model, {"data": d}, device="cpu", vocoder="griffin-lim").motion_kind
    assert kinds == {None: "pixel-grid", **{kind: kind for kind in MOTION_KINDS}}
    with pytest.raises(CheckpointError, match="data.motion"):
        VideoToSoundPipeline(g, {"data": {**data, "motion": {"name": "flow"}}}, device="cpu", vocoder="griffin-lim")
    with pytest.raises(CheckpointError, match="pixel_motion_dim is 32, but data.motion"):  # velocities need 64
        VideoToSoundPipeline(g, {"data": {**data, "motion": motion_settings("pixel-flow-local")}}, device="cpu",
                             vocoder="griffin-lim")
    frames = _panned([(1, 1)] * 6, size=64)
    pipe = VideoToSoundPipeline(g, {"data": {**data, "motion": motion_settings("pixel-grid-stabilised")}},
                                device="cpu", vocoder="griffin-lim")
    _, motion, _ = pipe.video_inputs(frames, fps=21.5)
    np.testing.assert_allclose(motion.numpy(), pixel_motion(frames, "pixel-grid-stabilised"), atol=1e-6)


def test_prepare_refuses_an_unknown_motion_kind():
    from avgen.cli import build_parser
    from avgen.data import PrepareSettings
    from avgen.encoders.motion import MOTION_KINDS
    from avgen.errors import ConfigError

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["prepare"]
    assert tuple(next(a for a in sub._actions if a.dest == "motion").choices) == MOTION_KINDS  # the CLI's copy

    assert PrepareSettings(motion="pixel-grid-stabilised").motion == "pixel-grid-stabilised"
    with pytest.raises(ConfigError, match="motion must be one of"):
        PrepareSettings(motion="flow")


def test_the_exported_pipeline_records_the_cache_motion_kind(tmp_path):
    """``final/`` keeps the prepare cache's motion settings, so ``avgen v2s`` with it computes the same kind."""
    from avgen.encoders.motion import motion_settings
    from avgen.generate import VideoToSoundPipeline
    from avgen.train.config import DataConfig, TrainConfig
    from avgen.train.engine import DatasetInfo, _export_final
    from avgen.train.tasks.varietysound import VarietySoundTask

    cfg = TrainConfig(task="varietysound", model={**TINY, "feature_dim": 1280, "pixel_motion_dim": 32},
                      data=DataConfig(path=str(tmp_path)))
    task = VarietySoundTask(cfg, feature_dim=1280, n_mels=80)
    settings = {"fps": 21.5, "visual": {"backbone": "efficientnet-lite0", "feature_dim": 1280},
                "mel": {"name": "specvqgan"}, "motion": motion_settings("pixel-grid-stabilised")}
    _export_final(str(tmp_path / "run"), cfg, task, task.build_generator(), DatasetInfo(None, 1280, 80, "specvqgan",
                                                                                          settings))
    pipe = VideoToSoundPipeline.from_pretrained(tmp_path / "run" / "final", device="cpu", vocoder="griffin-lim")
    assert pipe.motion_kind == "pixel-grid-stabilised"
