"""The streamed visual feature path (decoder -> per-frame resize -> batches) equals the reference path
(``VisualEncoder.preprocess`` + the backbone on whole batches) that the bundled models were used with."""

import os

import numpy as np
import pytest
import torch

from avgen.encoders import VisualEncoder
from avgen.encoders.frames import FrameResizer
from avgen.media import iter_video, read_video

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "vggsound_samples", "video")
# a 1280x720 and a 480x360 clip: downscaling by 2.8x and 1.4x
CLIPS = ("-1pRmoJIGQc_10000_20000.mp4", "0nib7bMm8BA_15000_25000.mp4")


@pytest.fixture(scope="module")
def encoder():
    return VisualEncoder(device="cpu", precision="fp32")


@pytest.mark.parametrize("hw", [(2160, 3840), (720, 1280), (240, 320), (101, 333), (96, 96), (50, 40), (300, 224)])
def test_frame_resizer_equals_the_reference_preprocessing(encoder, hw):
    g = torch.Generator().manual_seed(hw[0] * 7 + hw[1])
    frame = torch.randint(0, 256, (*hw, 3), dtype=torch.uint8, generator=g)
    ref = encoder.preprocess(frame[None])[0].permute(1, 2, 0)  # [crop, crop, 3]
    pre = encoder.pre
    got = FrameResizer(*hw, resize=pre.resize, crop=pre.crop, mean=pre.mean, std=pre.std)(frame.numpy())
    assert got.shape == ref.shape == (224, 224, 3)
    assert (got - ref).abs().max().item() < 1e-5


def test_frame_resizer_follows_bicubic_too(encoder):
    frame = torch.randint(0, 256, (180, 260, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = frame.permute(2, 0, 1)[None].float() / 255  # what preprocess does, with CLIP's bicubic
    ref = torch.nn.functional.interpolate(x, size=(224, 324), mode="bicubic", align_corners=False, antialias=True)
    ref = ref[0, :, :, 50:274].permute(1, 2, 0)
    got = FrameResizer(180, 260, resize=224, crop=224, mean=(0, 0, 0), std=(1, 1, 1), interpolation="bicubic")(frame)
    assert (got - ref).abs().max().item() < 1e-5


def test_encode_stream_equals_encode_in_any_batching(encoder):
    frames = np.random.default_rng(0).integers(0, 256, (7, 90, 160, 3), dtype=np.uint8)
    ref = encoder.encode(frames)
    for batch in (1, 3, 32):
        got = encoder.encode_stream(iter(frames), batch_size=batch)
        assert got.shape == ref.shape
        assert (got - ref).abs().max().item() < 1e-4
    assert encoder.encode_stream(iter(()), batch_size=4).shape == (0, encoder.feature_dim)


@pytest.mark.skipif(not os.path.isdir(SAMPLES), reason="../shared/data/vggsound_samples is not in this checkout")
@pytest.mark.parametrize("clip", CLIPS)
def test_new_feature_path_equals_the_old_on_real_clips(encoder, clip):
    path = os.path.join(SAMPLES, clip)
    n = 24  # about 1 s at 21.5 fps: a full and a partial batch of 16
    frames, _ = read_video(path, fps=21.5, max_frames=n)
    with torch.no_grad():  # the path avgen v2s used: whole batches of full-size frames, the backbone op by op
        old = encoder.net.features_reference(encoder.preprocess(frames))
    # the default budget resizes a few frames together; a tiny one sends every frame through FrameResizer
    for budget in (64.0, 0.5):
        new = encoder.encode_stream(iter_video(path, fps=21.5, max_frames=n), batch_size=16, resize_budget_mb=budget)
        assert new.shape == old.shape == (n, 1280)
        assert (new - old).abs().max().item() < 1e-4
