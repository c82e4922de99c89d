"""The visual feature path. Video files: ``avgen v2s`` reads them as ``avgen prepare`` does (FFmpeg's scaler to the
encoder's resize side while decoding, ``iter_frame_batches``), so its features equal the prepared cache's. Arrays:
the streamed per-frame resize (``encode_stream``, ``FrameResizer``) equals the batched reference resize
(``VisualEncoder.preprocess``)."""

import json
import os

import av
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from avgen.data.prepare import PrepareSettings, prepare
from avgen.encoders import VisualEncoder
from avgen.encoders.frames import FrameResizer, iter_frame_batches
from avgen.errors import MediaError
from avgen.media import read_video, write_video

from .conftest import SHARED
from .robustness.test_memory_bound import _tiny_pipeline

# real clips of three shapes: 1280x720 (down 2.8x), 576x720 portrait (down 2.25x), 320x240 (up 1.07x)
CLIPS = ("-1pRmoJIGQc_10000_20000.mp4", "53UdZyM9MyE_252000_262000.mp4", "1aDnyPubxdY_118000_128000.mp4")
EXCERPT = 0.6  # seconds of each clip kept (packets copied, not re-encoded): 12-13 frames at 21.5 fps
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
    for batch, rows in ((1, None), (3, 7), (32, 2), (3, 20)):  # rows: a capacity hint, exact, short or long
        got = encoder.encode_stream(iter(frames), batch_size=batch, rows=rows)
        assert got.shape == ref.shape
        assert (got - ref).abs().max().item() < 1e-4
    assert encoder.encode_stream(iter(()), batch_size=4).shape == (0, encoder.feature_dim)
    batches = [frames[:3], frames[3:6], frames[6:]]
    want = torch.cat([encoder.encode(b, batch_size=len(b)) for b in batches])
    for rows in (None, 4, 7, 9):
        assert torch.equal(encoder.encode_batches(iter(batches), rows=rows), want)


def _excerpt(src: str, dst: str, seconds: float) -> None:
    """The first ``seconds`` of ``src``'s video and audio packets, remuxed unchanged (decoding order, so every kept
    frame's references are kept): the same decoded pixels as the clip's start, at a fraction of the work."""
    with av.open(src) as i, av.open(dst, "w") as o:
        ins = [i.streams.video[0], i.streams.audio[0]]
        outs = {s.index: o.add_stream_from_template(s) for s in ins}
        for pk in i.demux(*ins):
            if pk.dts is None or pk.dts * pk.time_base >= seconds:
                continue
            pk.stream = outs[pk.stream.index]
            o.mux(pk)


def _real_clips_present() -> bool:
    return all(os.path.isfile(os.path.join(SHARED, "video", name)) for name in CLIPS)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A synthetic 15 fps 200x150 clip (upsampled to 21.5 fps: repeated frames) and, when ../shared is there,
    excerpts of three real sample clips, all with sound, as ``avgen prepare`` needs."""
    folder = tmp_path_factory.mktemp("clips")
    if _real_clips_present():
        for name in CLIPS:
            _excerpt(os.path.join(SHARED, "video", name), str(folder / name), EXCERPT)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (9, 150, 200, 3), dtype=np.uint8)
    write_video(str(folder / "synthetic.mp4"), frames, 15, 0.1 * rng.standard_normal((1, 13230)).astype(np.float32),
                22050)
    return folder


def test_v2s_features_equal_the_prepared_cache(encoder, clip_folder, tmp_path):
    """What avgen v2s computes for a video file is what avgen prepare cached for it (the features every model
    trained through prepare + train saw), within 1e-5."""
    pipe = _tiny_pipeline()
    pipe._encoder = encoder  # the same network; only the code paths differ
    names = sorted(os.listdir(clip_folder))
    summary = prepare(str(clip_folder), tmp_path / "cache", settings=PrepareSettings(), workers=0, encoder=encoder,
                      progress=False)
    assert summary.processed == len(names) and not summary.failed, str(summary)
    cached = {os.path.basename(r["source"]): load_file(str(tmp_path / "cache" / r["file"]))["features"]
              for r in map(json.loads, open(tmp_path / "cache" / "index.jsonl"))}
    assert sorted(cached) == names
    for name, want in cached.items():
        got, _ = pipe.video_features(str(clip_folder / name), batch_size=8)  # batches unlike prepare's 64
        assert got.shape == want.shape and want.shape[0] >= 12, name
        assert np.abs(got.numpy() - want).max() < 1e-5, name
    # an array decoded at the resize side takes the array path (encode_stream) to the same features
    frames, _ = read_video(str(clip_folder / "synthetic.mp4"), fps=21.5, size=256)
    got, _ = pipe.video_features(frames, fps=21.5)
    assert np.abs(got.numpy() - cached["synthetic.mp4"]).max() < 1e-5
    if not _real_clips_present():
        pytest.skip(f"only the synthetic clip checked: the real sample clips are not at {SHARED}")


def test_decoded_batches_are_read_video_at_the_resize_side(clip_folder):
    """iter_frame_batches gives read_video(size=)'s frames (FFmpeg's scaler, short side 256), batched, with or
    without the prefetch thread; an early stop ends the thread; a bad file raises the media error."""
    path = str(clip_folder / "synthetic.mp4")
    want, _ = read_video(path, fps=21.5, size=256)
    assert want.shape == (12, 256, 341, 3)
    for prefetch in (0, 1, 3):
        got = list(iter_frame_batches(path, fps=21.5, resize=256, batch_size=5, prefetch=prefetch))
        assert [len(b) for b in got[:-1]] == [5] * (len(got) - 1) and 1 <= len(got[-1]) <= 5
        assert np.array_equal(np.concatenate(got), want)
    it = iter_frame_batches(path, fps=21.5, resize=256, batch_size=2)
    assert next(it).shape == (2, 256, 341, 3)
    it.close()  # joins the decoder thread
    bad = clip_folder / "bad.mp4"
    bad.write_bytes(open(path, "rb").read()[:3000])
    with pytest.raises(MediaError):
        list(iter_frame_batches(str(bad), fps=21.5, resize=256))
    bad.unlink()


def test_frames_at_the_resize_side_skip_an_exact_identity_resize(encoder):
    """preprocess crops frames already at the resize side without resizing: equal, bit for bit, to running them
    through F.interpolate (the identity at the same size), as the caches made before were."""
    frames = torch.randint(0, 256, (3, 256, 341, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    x = frames.permute(0, 3, 1, 2).float().div(255.0)
    x = torch.nn.functional.interpolate(x, size=(256, 341), mode="bilinear", align_corners=False, antialias=True)
    x = x[..., 16:240, 58:282]
    mean, std = torch.tensor(encoder.pre.mean).view(1, 3, 1, 1), torch.tensor(encoder.pre.std).view(1, 3, 1, 1)
    assert torch.equal(encoder.preprocess(frames), (x - mean) / std)
