import os

import numpy as np
import pytest
import torch

from avgen.audio import PRESETS, get_preset, mel_filterbank, mel_spectrogram, mel_to_linear, mel_to_waveform
from avgen.media import read_audio

from .conftest import sample_ids

# Direct decode, measured with this code: 11 of the 12 clips are under 0.02 (mono ~0.001-0.004, stereo 0.012-0.0175);
# 6zlMP_kQ_-w is 0.0205. The stored mels were not made from the track as it is: the public preprocessing
# (extract_audio_and_video.py) re-encodes it twice with AAC at 98 kbit/s first, which hurts stereo tracks most.
# Through that chain (avgen.data.specvqgan.public_pipeline_audio) every clip is under 0.02; see the test below.
KNOWN_OVER = {"6zlMP_kQ_-w_30000_40000": "direct decode measured 0.0205; see comment above"}


def test_specvqgan_preset_constants():
    p = get_preset("specvqgan")
    assert (p.sample_rate, p.n_fft, p.hop_length, p.win_length, p.n_mels, p.f_min, p.f_max, p.power) == (
        22050, 1024, 256, 1024, 80, 125.0, 7600.0, 1.0)
    mel = mel_spectrogram(np.zeros(220500, np.float32), fixed_length=True)
    assert mel.shape == (80, 860)
    assert mel_spectrogram(np.zeros(22050 * 3, np.float32)).shape == (80, 1 + 22050 * 3 // 256)


def test_filterbank_is_slaney_normalised():
    fb = mel_filterbank()  # [80, 513]
    freqs = np.linspace(0, 11025, 513)
    # Slaney area normalisation makes peaks shrink as the triangles widen with frequency.
    peaks = fb.max(1).values.numpy()
    assert fb.shape == (80, 513) and (peaks > 0).all() and peaks[-1] < peaks[20] / 2
    assert freqs[fb[0].numpy() > 0].min() >= 125 and freqs[fb[-1].numpy() > 0].max() <= 7600


def test_mel_formula_on_a_sine():
    sr = 22050
    x = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(sr) / sr).astype(np.float32)
    mel = mel_spectrogram(x)
    # Independent computation: numpy rFFT of the centre frame with a periodic Hann window.
    t = 43  # centred frames: frame t spans samples [256 t - 512, 256 t + 512)
    frame = x[256 * t - 512: 256 * t + 512] * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024))
    m = mel_filterbank().numpy() @ np.abs(np.fft.rfft(frame))
    expect = np.clip((20 * np.log10(np.maximum(1e-5, m)) - 20 + 100) / 100, 0, 1)
    assert np.allclose(mel[:, t].numpy(), expect, atol=1e-4)


@pytest.mark.parametrize("batch", [1, 3])
def test_mel_batch_and_resample(batch):
    x = torch.randn(batch, 44100) * 0.1
    out = mel_spectrogram(x, sample_rate=44100)
    assert out.shape == ((80, 87) if batch == 1 else (batch, 80, 87))


def test_matches_public_pipeline_mels(shared_samples):
    results = {}
    for clip in sample_ids(shared_samples):
        wav, _ = read_audio(os.path.join(shared_samples, "video", clip + ".mp4"), sample_rate=22050)
        ours = mel_spectrogram(wav, fixed_length=True).numpy()
        ref = np.load(os.path.join(shared_samples, "melspec_10s_22050hz", clip + "_mel.npy"))
        t = min(ours.shape[1], ref.shape[1])
        results[clip] = float(np.abs(ours[:, :t] - ref[:, :t]).mean())
    print({k: round(v, 4) for k, v in results.items()})
    for clip, mad in results.items():
        if clip not in KNOWN_OVER:
            assert mad < 0.02, (clip, mad)


@pytest.mark.xfail(strict=True, reason="6zlMP_kQ_-w: " + KNOWN_OVER["6zlMP_kQ_-w_30000_40000"])
def test_known_clip_over_threshold(shared_samples):
    clip = "6zlMP_kQ_-w_30000_40000"
    wav, _ = read_audio(os.path.join(shared_samples, "video", clip + ".mp4"), sample_rate=22050)
    ours = mel_spectrogram(wav, fixed_length=True).numpy()
    ref = np.load(os.path.join(shared_samples, "melspec_10s_22050hz", clip + "_mel.npy"))
    assert np.abs(ours - ref).mean() < 0.02


def test_public_pipeline_chain_matches_every_stored_mel(shared_samples):
    """The audio through the public preprocessing's re-encodes (two AAC 98 kbit/s, -ac 1 -ar 22050): every one of
    the 12 clips, stereo ones included, is within 0.02 of its stored mel."""
    from avgen.data.specvqgan import public_pipeline_audio

    results = {}
    for clip in sample_ids(shared_samples):
        wav, sr = public_pipeline_audio(os.path.join(shared_samples, "video", clip + ".mp4"))
        assert sr == 22050 and wav.shape == (1, 220500)
        ours = mel_spectrogram(wav, fixed_length=True).numpy()
        ref = np.load(os.path.join(shared_samples, "melspec_10s_22050hz", clip + "_mel.npy"))
        results[clip] = float(np.abs(ours - ref).mean())
    print({k: round(v, 4) for k, v in results.items()})
    assert max(results.values()) < 0.02, results


def test_griffin_lim_reconstructs_the_mel():
    from avgen.cli import EXAMPLE_VIDEO

    wav, _ = read_audio(EXAMPLE_VIDEO, sample_rate=22050)
    mel = mel_spectrogram(wav)
    g = torch.Generator().manual_seed(0)
    rec = mel_to_waveform(mel, n_iter=48, generator=g)
    assert rec.shape == (1, (mel.shape[1] - 1) * 256)
    again = mel_spectrogram(rec)
    err = (again[:, 2:-2] - mel[:, 2:-2]).abs().mean().item()
    assert err < 0.03, err
    # deterministic with an explicit generator
    assert torch.equal(rec, mel_to_waveform(mel, n_iter=48, generator=torch.Generator().manual_seed(0)))
    # linear inversion is non-negative and keeps the mel when re-projected
    lin = mel_to_linear(mel)
    assert (lin >= 0).all() and lin.shape == (513, mel.shape[1])


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown mel preset"):
        get_preset("nope")
    assert "specvqgan" in PRESETS


def test_sounding_rms_by_blocks_equals_the_whole_signal_computation():
    from avgen.audio import sounding_rms
    from avgen.pipelines.reference_stream import SoundingLevel

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 700_001)) * np.linspace(0.0, 0.5, 700_001)).astype(np.float32)  # several blocks
    mono = x.astype(np.float64).mean(0)
    power = (mono[:len(mono) // 1102 * 1102].reshape(-1, 1102) ** 2).mean(1)  # [F], 50 ms frames at 22050 Hz
    db = 10 * np.log10(np.maximum(power, 1e-20))
    want = np.sqrt(power[(db >= db.max() - 30) & (db >= -60)].mean())
    assert sounding_rms(x, 22050) == want  # frame by frame the same arithmetic, so the same bits
    level = SoundingLevel(22050)
    for a in range(0, x.shape[1], 30_000):
        level.push(x[:, a:a + 30_000].mean(0))
    assert level.value() == pytest.approx(want, rel=1e-6)
    assert sounding_rms(x[:, :500], 22050) == pytest.approx(np.sqrt((mono[:500] ** 2).mean()), rel=1e-12)
