"""avgen.generate / avgen v2s with a tiny seeded VarietySound checkpoint (the bundled one is tested separately)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from avgen.errors import AvgenError, WeightsNotFoundError
from avgen.generate import VideoToSoundPipeline, video_to_sound
from avgen.media import probe, read_audio, write_audio, write_video
from avgen.models.v2s.varietysound import VarietySound

from .conftest import sample_ids

TINY = dict(feature_dim=1280, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
            background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16, dropout=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    g = VarietySound(**TINY)
    config = {"task": "varietysound", "model": g.config, "feature_dim": 1280, "n_mels": 80,
              "data": {"fps": 21.5, "visual": {"backbone": "efficientnet-lite0"}, "mel": {"name": "specvqgan"},
                       "segment_seconds": 2.0}}
    folder = tmp_path_factory.mktemp("ckpt")
    return VideoToSoundPipeline(g, config, device="cpu").save_pretrained(folder, fp16=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    x = rng.normal(size=22050 * 3).astype(np.float32) * 0.05
    return write_audio(path, x[None], 22050)


def test_save_and_load_pretrained_roundtrip(checkpoint):
    pipe = VideoToSoundPipeline.from_pretrained(checkpoint, device="cpu")
    assert pipe.fps == 21.5 and pipe.segment_seconds == 2.0
    with pytest.raises(WeightsNotFoundError):
        VideoToSoundPipeline.from_pretrained(os.path.dirname(checkpoint) + "/missing")


def test_real_clips_mixed_fps_sizes_channels(shared_samples, checkpoint, reference, tmp_path):
    ids = sample_ids(shared_samples)
    fps_seen = set()
    for clip in ids[:3]:
        video = os.path.join(shared_samples, "video", clip + ".mp4")
        info = probe(video)
        fps_seen.add(round(info.fps, 2))
        result = video_to_sound(video, reference, checkpoint=checkpoint, device="cpu", seed=0,
                            vocoder="griffin-lim")
        assert result.waveform.shape == (1, round(info.video_duration * 22050)) and result.sample_rate == 22050
        out = result.save(tmp_path / f"{clip}.mp4")
        out_info = probe(out)
        assert abs(out_info.video_duration - info.video_duration) < 1e-3 and out_info.has_audio
        wav, _ = read_audio(out)
        assert abs(wav.shape[1] / 22050 - info.video_duration) < 1024 / 22050 + 1e-3
    assert result.save(tmp_path / "x.wav").endswith(".wav")


def test_video_without_audio_and_frames_input(checkpoint, reference, tmp_path):
    frames = np.random.default_rng(1).integers(0, 255, (38, 48, 64, 3), dtype=np.uint8)
    silent = write_video(tmp_path / "silent.mp4", frames, 15)  # 2.53 s, no audio track
    assert not probe(silent).has_audio
    result = video_to_sound(silent, reference, checkpoint=checkpoint, device="cpu", seed=0,
                            vocoder="griffin-lim")
    assert abs(result.duration - 38 / 15) < 1e-3 and result.waveform.shape[1] == round(38 / 15 * 22050)
    result.save(tmp_path / "with_sound.mp4")
    assert probe(tmp_path / "with_sound.mp4").has_audio
    # frames given directly, reference given as a waveform
    wav, sr = read_audio(reference)
    direct = video_to_sound(frames, wav, video_fps=15, reference_sample_rate=sr, checkpoint=checkpoint, device="cpu",
                            seed=0, vocoder="griffin-lim")
    assert direct.waveform.shape == result.waveform.shape
    direct.save(tmp_path / "from_frames.mp4")
    with pytest.raises(AvgenError, match="reference_sample_rate"):
        video_to_sound(frames, wav, video_fps=15, checkpoint=checkpoint, device="cpu", vocoder="griffin-lim")


def test_reference_length_does_not_matter_and_seed_reproduces(checkpoint, tmp_path):
    frames = np.random.default_rng(2).integers(0, 255, (43, 32, 32, 3), dtype=np.uint8)
    rng = np.random.default_rng(3)
    for seconds in (0.5, 2.0, 4.0):  # 0.25x, 1x, 2x the video length
        ref = write_audio(tmp_path / f"r{seconds}.wav", rng.normal(size=(1, int(22050 * seconds))).astype(np.float32)
                          * 0.1, 22050)
        a = video_to_sound(frames, ref, checkpoint=checkpoint, device="cpu", seed=5, vocoder="griffin-lim")
        b = video_to_sound(frames, ref, checkpoint=checkpoint, device="cpu", seed=5, vocoder="griffin-lim")
        assert torch.equal(a.waveform, b.waveform) and a.waveform.shape[1] == 44100


def test_long_video_is_chunked_with_crossfade(checkpoint):
    pipe = VideoToSoundPipeline.from_pretrained(checkpoint, device="cpu")
    feats = torch.randn(300, 1280)  # 14 s at 21.5 fps, 2 s chunks
    ref = torch.rand(80, 100)
    mel_frames = round(300 / 21.5 * 86.1328125)
    mel = pipe.synthesize_mel(feats, ref, mel_frames, chunk_seconds=2.0, overlap_seconds=0.5)
    assert mel.shape == (80, mel_frames) and torch.isfinite(mel).all()
    # inside a chunk the chunked result equals a direct synthesis of that chunk
    g = pipe.generator
    timbre = g.encode_timbre(ref[None])
    first = g.synthesize(feats[None, :43], timbre, g.encode_background(None, 1), round(43 / 21.5 * 86.1328125))[0]
    torch.testing.assert_close(mel[:, :100], first[:, :100], rtol=1e-5, atol=1e-5)


def test_cli_single_and_resumable_batch(checkpoint, reference, tmp_path):
    frames = np.random.default_rng(4).integers(0, 255, (30, 32, 32, 3), dtype=np.uint8)
    videos = [write_video(tmp_path / f"v{i}.mp4", frames, 25) for i in range(2)]
    cli = [sys.executable, "-m", "avgen.cli", "v2s", "--vocoder", "griffin-lim"]
    r = subprocess.run(cli + [videos[0], "--reference", reference, "-o", str(tmp_path / "one.wav"), "--checkpoint",
                              checkpoint], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert abs(read_audio(tmp_path / "one.wav")[0].shape[1] - 30 / 25 * 22050) <= 1
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text("".join(json.dumps({"video": v, "reference": reference}) + "\n" for v in videos))
    out = tmp_path / "batch"
    cmd = cli + ["--manifest", str(manifest), "-o", str(out), "--checkpoint", checkpoint, "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and sorted(os.listdir(out)) == ["v0.mp4", "v1.mp4"], r.stderr[-2000:]
    stamp = os.path.getmtime(out / "v0.mp4")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and os.path.getmtime(out / "v0.mp4") == stamp  # resumed: not regenerated
    r = subprocess.run(cli + ["nope.mp4", "--reference", reference, "-o", str(tmp_path / "x.wav"), "--checkpoint",
                              checkpoint], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_output_level_follows_the_reference_unless_a_gain_is_given(checkpoint, tmp_path):
    from avgen.audio import sounding_rms

    pipe = VideoToSoundPipeline.from_pretrained(checkpoint, device="cpu", vocoder="griffin-lim")
    frames = np.random.default_rng(6).integers(0, 255, (30, 32, 32, 3), dtype=np.uint8)
    rng = np.random.default_rng(7)
    for level in (0.02, 0.1):  # noise bursts with silence between them: the sounding frames set the level
        x = np.zeros(22050 * 2, np.float32)
        for start in (2000, 20000, 35000):
            x[start:start + 4000] = rng.normal(size=4000) * level
        matched = pipe(frames, x, video_fps=25, reference_sample_rate=22050, seed=0)
        assert sounding_rms(matched.waveform, 22050) == pytest.approx(sounding_rms(x, 22050), rel=0.02)
    raw = pipe(frames, x, video_fps=25, reference_sample_rate=22050, seed=0, gain_db=0.0)
    expected = pipe.vocode(raw.mel, raw.waveform.shape[1], generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    torch.testing.assert_close(raw.waveform, expected)
    louder = pipe(frames, x, video_fps=25, reference_sample_rate=22050, seed=0, gain_db=-6.0)
    torch.testing.assert_close(louder.waveform, (expected * 10 ** (-6 / 20)).clamp(-1, 1))
    with pytest.raises(AvgenError, match="gain_db"):
        pipe(frames, x, video_fps=25, reference_sample_rate=22050, gain_db=float("nan"))


def test_sounding_rms_ignores_silence_and_a_vocoder_of_another_preset_is_refused(checkpoint):
    from avgen.audio import sounding_rms

    n = 1102  # one 50 ms analysis frame at 22050 Hz: the tone fills whole frames
    tone = 0.3 * np.sin(np.arange(20 * n) * (2 * np.pi / 29)).astype(np.float32)  # RMS 0.3 / sqrt(2)
    padded = np.concatenate([np.zeros(100 * n, np.float32), tone, np.zeros(60 * n, np.float32)])
    assert sounding_rms(padded, 22050) == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
    assert sounding_rms(np.zeros(22050), 22050) == 0.0
    quiet = padded * 10 ** (-60 / 20)  # the whole signal under the -60 dBFS floor keeps its level
    assert sounding_rms(quiet, 22050) == pytest.approx(0.3 / np.sqrt(2) * 10 ** (-60 / 20), rel=1e-3)
    with pytest.raises(AvgenError, match="hifigan"):
        VideoToSoundPipeline.from_pretrained(checkpoint, device="cpu", vocoder="hifigan-universal")
