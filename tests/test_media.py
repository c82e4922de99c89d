import math
import os
import subprocess
import sys
import wave

import av
import numpy as np
import pytest

from avgen.errors import (CorruptMediaError, MediaNotFoundError, NoAudioStreamError, NotMediaError,
                          NoVideoStreamError, ZeroDurationError)
from avgen.media import probe, read_audio, read_video, write_audio, write_video

from .conftest import sample_ids


def _indexed_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frame k is uniformly grey with level 8*k (mod 256), so the source index survives H.264."""
    return np.stack([np.full((h, w, 3), (8 * k) % 256, np.uint8) for k in range(n)])


@pytest.mark.parametrize("src_fps", [15.25, 24.0, 25.0, 30000 / 1001, 30.0])
def test_read_video_resamples_by_timestamp(tmp_path, src_fps):
    n = 30  # levels 0..232 stay distinct
    path = write_video(tmp_path / "v.mp4", _indexed_frames(n), src_fps, crf=0)
    duration = n / src_fps
    frames, fps = read_video(path, fps=21.5)
    assert fps == 21.5
    assert abs(len(frames) - math.floor(duration * 21.5)) <= 1
    got = np.round(frames.reshape(len(frames), -1).mean(1) / 8).astype(int)
    expect = np.clip(np.round(np.arange(len(frames)) / 21.5 * src_fps), 0, n - 1).astype(int)
    assert np.abs(got - expect).max() <= 1 and (got == expect).mean() > 0.8
    native, native_fps = read_video(path)
    assert len(native) == n and abs(native_fps - src_fps) < 1e-3


def test_read_video_sample_clips_frame_counts(shared_samples):
    for clip in sample_ids(shared_samples):
        path = os.path.join(shared_samples, "video", clip + ".mp4")
        info = probe(path)
        frames, _ = read_video(path, fps=21.5, size=64)
        assert abs(len(frames) - math.floor(info.duration * 21.5)) <= 1, clip
        assert frames.dtype == np.uint8 and frames.shape[-1] == 3 and min(frames.shape[1:3]) == 64


@pytest.mark.parametrize("fps", [None, 21.5, 60.0])
def test_read_video_max_frames_is_a_prefix(tmp_path, fps):
    path = write_video(tmp_path / "v.mp4", _indexed_frames(20), 25, crf=0)
    full, _ = read_video(path, fps=fps)
    for n in (1, 7, len(full), len(full) + 5):
        part, _ = read_video(path, fps=fps, max_frames=n)
        assert len(part) == min(n, len(full)) and np.array_equal(part, full[:n])


def test_read_video_resize(tmp_path):
    path = write_video(tmp_path / "v.mp4", _indexed_frames(5, 48, 64), 25)
    assert read_video(path, size=24)[0].shape == (5, 24, 32, 3)
    assert read_video(path, size=(10, 20))[0].shape == (5, 10, 20, 3)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".m4a"])
def test_audio_roundtrip(tmp_path, ext):
    sr = 22050
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    path = write_audio(tmp_path / f"a{ext}", x, sr)
    y, sr2 = read_audio(path)
    assert sr2 == sr and y.dtype == np.float32 and y.shape[0] == 1
    assert abs(y.shape[1] - x.shape[1]) <= 2048  # codec framing
    if ext in (".wav", ".flac"):
        assert y.shape == x.shape and np.abs(y - x).max() < 1e-4
    else:  # lossy: compare energy and the dominant frequency
        spec = np.abs(np.fft.rfft(y[0, 4096:4096 + 8192]))
        assert abs(np.argmax(spec) * sr / 8192 - 440) < 5


def test_read_audio_ogg_and_resample(tmp_path):
    path = str(tmp_path / "a.ogg")
    sr = 48000
    x = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(sr) / sr)).astype(np.float32)[None]
    with av.open(path, "w", format="ogg") as c:
        s = c.add_stream("libopus", rate=sr, layout="mono")
        for i in range(0, sr, 960):
            f = av.AudioFrame.from_ndarray(x[:, i:i + 960], format="flt", layout="mono")
            f.sample_rate, f.pts = sr, i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    y, sr2 = read_audio(path, sample_rate=16000)
    assert sr2 == 16000 and abs(y.shape[1] - 16000) < 800
    spec = np.abs(np.fft.rfft(y[0, 2000:2000 + 8000]))
    assert abs(np.argmax(spec) * 16000 / 8000 - 1000) < 5


def test_mono_is_mean_of_channels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    path = write_audio(tmp_path / "s.wav", x, 8000, bits=32)
    stereo, _ = read_audio(path, mono=False)
    mono, _ = read_audio(path)
    assert stereo.shape == (2, 1000) and np.allclose(stereo, x)
    assert np.allclose(mono[0], x.mean(0), atol=1e-7)


def test_read_audio_from_video_track(tmp_path):
    sr = 16000
    audio = np.sin(2 * np.pi * 300 * np.arange(2 * sr) / sr).astype(np.float32) * 0.4
    path = write_video(tmp_path / "av.mp4", _indexed_frames(50), 25, audio=audio, sample_rate=sr)
    y, sr2 = read_audio(path)
    assert sr2 == sr and abs(y.shape[1] - 2 * sr) <= 1024


@pytest.mark.parametrize("fps,sr,n_audio", [(25, 22050, 30000), (21.5, 44100, 100), (30000 / 1001, 16000, 80000)])
def test_write_video_audio_duration_matches(tmp_path, fps, sr, n_audio):
    frames = _indexed_frames(40)
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, (2, n_audio)).astype(np.float32)
    path = write_video(tmp_path / "o.mp4", frames, fps, audio=audio, sample_rate=sr)
    with av.open(path) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
    y, sr2 = read_audio(path, mono=False)
    assert sr2 == sr and y.shape[0] == 2
    video_seconds = 40 / fps
    assert abs(y.shape[1] - video_seconds * sr) <= 1024
    assert len(read_video(path)[0]) == 40


def test_write_video_rejects_odd_size(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "o.mp4", np.zeros((2, 5, 6, 3), np.uint8), 25)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.fixture()
def bad_files(tmp_path):
    files = {}
    files["missing"] = str(tmp_path / "does_not_exist.mp4")
    files["text"] = str(tmp_path / "notes.mp4")
    with open(files["text"], "w") as f:
        f.write("this is not a video\n" * 50)
    good = write_video(tmp_path / "good.mp4", _indexed_frames(100, 96, 128), 25,
                       audio=np.zeros((1, 64000), np.float32), sample_rate=16000)
    data = open(good, "rb").read()
    files["truncated"] = str(tmp_path / "truncated.mp4")
    with open(files["truncated"], "wb") as f:  # faststart: header intact, media data cut
        f.write(data[: len(data) // 2])
    files["header_only"] = str(tmp_path / "header_only.mp4")
    with open(files["header_only"], "wb") as f:
        f.write(data[:600])
    files["audio_only"] = write_audio(tmp_path / "tone.wav", np.zeros((1, 8000), np.float32), 8000)
    files["video_only"] = write_video(tmp_path / "silent.mp4", _indexed_frames(10), 25)
    files["zero_wav"] = str(tmp_path / "zero.wav")
    with wave.open(files["zero_wav"], "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
    files["empty"] = str(tmp_path / "empty.mp4")
    open(files["empty"], "wb").close()
    return files


def test_bad_inputs_raise_media_errors(bad_files):
    f = bad_files
    with pytest.raises(MediaNotFoundError, match="does_not_exist.mp4"):
        read_video(f["missing"])
    with pytest.raises(NotMediaError, match="notes.mp4"):
        read_video(f["text"])
    with pytest.raises(NotMediaError, match="empty"):
        read_audio(f["empty"])
    with pytest.raises(CorruptMediaError, match="truncated.mp4"):
        read_video(f["truncated"])
    with pytest.raises(CorruptMediaError, match="header_only.mp4"):
        read_video(f["header_only"])
    with pytest.raises(NoVideoStreamError, match="tone.wav"):
        read_video(f["audio_only"])
    with pytest.raises(NoAudioStreamError, match="silent.mp4"):
        read_audio(f["video_only"])
    with pytest.raises(ZeroDurationError, match="zero.wav"):
        read_audio(f["zero_wav"])


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "audio_only", "zero_wav"])
def test_cli_reports_bad_input_in_one_line(bad_files, case):
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "info" if case != "audio_only" else "demo",
                        *([bad_files[case]] if case != "audio_only" else ["--video", bad_files[case], "-o",
                                                                         os.path.dirname(bad_files[case])])],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and os.path.basename(bad_files[case]) in lines[0], r.stderr


def test_lossy_roundtrip_keeps_length_alignment_and_stereo():
    from avgen.media import lossy_roundtrip

    sr = 44100
    t = np.arange(2 * sr) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    for opts in ({"aac_coder": "fast"}, None):
        y = lossy_roundtrip(x, sr, bit_rate=98_000, options=opts)
        assert y.shape == x.shape and y.dtype == np.float32
        # aligned (priming samples removed) and close, but lossy
        err = ((x - y) ** 2).sum() / (x ** 2).sum()
        assert 1e-8 < err < 1e-2, err  # a 1024-sample misalignment would give about 2
        assert np.corrcoef(x[0, 1000:-1000], y[0, 1000:-1000])[0, 1] > 0.999
        assert np.corrcoef(x[0], y[1])[0, 1] < 0.1  # channels not swapped or mixed
    mono = lossy_roundtrip(x[:1], sr)
    assert mono.shape == (1, x.shape[1])


def test_ffmpeg_resample_downmixes_by_mean_and_quantises():
    from avgen.media import ffmpeg_resample, resample

    sr = 44100
    t = np.arange(sr) / sr
    # below 8 kHz, where both resamplers' low-pass filters are flat
    x = np.stack([0.2 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 5000 * t),
                  0.3 * np.sin(2 * np.pi * 1200 * t)]).astype(np.float32)
    y = ffmpeg_resample(x, sr, 22050)
    assert y.shape == (1, 22050)
    # FFmpeg's stereo -> mono matrix is the mean; only the resampling filters and 16-bit rounding differ
    ref = resample(x.mean(0, keepdims=True), sr, 22050)
    assert np.abs(y - ref)[:, 100:-100].max() < 5e-3
    assert np.allclose(y * 32768, np.round(y * 32768))
