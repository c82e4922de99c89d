"""The ``hifigan`` mel preset against an independent numpy computation of the HiFi-GAN release's analysis."""

import numpy as np
import pytest
import torch

from avgen.audio import PRESETS, get_preset, mel_filterbank, mel_magnitude, mel_spectrogram, normalize_mel


def _slaney_hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step)


def _slaney_mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp(log_step * (m - 15.0)))


def _slaney_filterbank(sr, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel(htk=False, norm='slaney') written out: triangles on the Slaney scale, area-normalised."""
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = _slaney_mel_to_hz(np.linspace(_slaney_hz_to_mel(fmin), _slaney_hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def _release_log_mel(y):
    """The release's analysis in numpy: reflect pad 384, frames of 1024 every 256 (no centering), periodic Hann,
    sqrt(|X|^2 + 1e-9), Slaney mel 0-8000 Hz, ln(max(1e-5, .))."""
    n_fft, hop = 1024, 256
    pad = (n_fft - hop) // 2
    yp = np.pad(y.astype(np.float64), (pad, pad), mode="reflect")
    n_frames = 1 + (len(yp) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([yp[t * hop:t * hop + n_fft] * window for t in range(n_frames)], axis=1)  # [n_fft, T]
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    mel = _slaney_filterbank(22050, n_fft, 80, 0.0, 8000.0) @ mag
    return np.log(np.maximum(mel, 1e-5))


def test_hifigan_preset_constants():
    p = get_preset("hifigan")
    assert (p.sample_rate, p.n_fft, p.hop_length, p.win_length, p.n_mels) == (22050, 1024, 256, 1024, 80)
    assert (p.f_min, p.f_max, p.power, p.center, p.pad, p.log) == (0.0, 8000.0, 1.0, False, 384, "ln")
    assert "hifigan" in PRESETS and "specvqgan" in PRESETS


@pytest.mark.parametrize("n", [22050, 5000, 256 * 40 + 17])
def test_hifigan_preset_matches_an_independent_numpy_analysis(n):
    rng = np.random.default_rng(n)
    t = np.arange(n) / 22050
    y = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3100 * t) * (t < t[-1] / 2)
         + 0.05 * rng.standard_normal(n)).astype(np.float32)
    y[n // 3: n // 3 + 2000] = 0.0  # silence: the floors matter
    ref = _release_log_mel(y)
    ours = normalize_mel(mel_magnitude(torch.from_numpy(y).double(), "hifigan"), "hifigan").numpy()  # float64 path
    assert ours.shape == ref.shape == (80, n // 256)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    ours32 = mel_spectrogram(torch.from_numpy(y), "hifigan").double().numpy()  # float32: rounding of 513-term sums
    np.testing.assert_allclose(ours32, ref, atol=5e-5, rtol=0)


def test_filterbank_formula_agrees_with_librosa_when_installed():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)  # the release's call
    np.testing.assert_allclose(_slaney_filterbank(22050, 1024, 80, 0.0, 8000.0), ref, atol=1e-8, rtol=0)
    np.testing.assert_allclose(mel_filterbank("hifigan").numpy(), ref, atol=1e-8, rtol=0)


def test_earlier_presets_keep_their_settings_dicts():
    """Cache settings hash preset.to_dict(): the fields added for ``hifigan`` are left out at their defaults."""
    d = get_preset("specvqgan").to_dict()
    assert not {"log", "pad", "magnitude_eps", "fbank_float64"} & set(d) and d["f_min"] == 125.0 and d["center"] is True
    assert get_preset("hifigan").to_dict()["log"] == "ln"
    with pytest.raises(ValueError, match="log"):
        type(get_preset("specvqgan"))(name="x", sample_rate=1, n_fft=4, hop_length=1, win_length=4, n_mels=2,
                                      f_min=0.0, f_max=1.0, log="log10")
