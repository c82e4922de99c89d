"""Mel spectrograms in the public presets and the Griffin-Lim baseline vocoder.

Preset ``specvqgan`` reproduces the SpecVQGAN/RegNet feature pipeline (22050 Hz mono, |STFT| with n_fft 1024,
hop 256, Hann 1024, centered; Slaney mel filterbank, 80 bins, 125-7600 Hz; then
``clip((20*log10(max(1e-5, m)) - 20 + 100) / 100, 0, 1)``), so a 10 s clip gives 860 frames after the pipeline's
trim. The mapping is invertible up to the clipping, which is what :func:`mel_to_linear` and :func:`griffin_lim` use.

Preset ``hifigan`` is the analysis of the HiFi-GAN release (jik876/hifi-gan ``meldataset.mel_spectrogram``), the
input of its public generators: the same STFT sizes, input reflect-padded by (n_fft - hop) / 2 = 384 on both sides
and not centered (frame t is centred on sample t * hop + hop / 2), ``sqrt(re^2 + im^2 + 1e-9)``, Slaney mel 0-8000
Hz, then ``ln(max(1e-5, m))`` with no normalisation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MelPreset",
    "PRESETS",
    "SPECVQGAN_MEL_PRESET",
    "CLIP_MEL_PRESET",
    "HIFIGAN_MEL_PRESET",
    "get_preset",
    "mel_spectrogram",
    "mel_magnitude",
    "normalize_mel",
    "mel_filterbank",
    "db_normalized_to_amplitude",
    "mel_to_linear",
    "griffin_lim",
    "mel_to_waveform",
    "fit_length",
    "resample",
    "sounding_rms",
    "sounding_level_of",
    "segment_mels",
]


@dataclass(frozen=True)
class MelPreset:
    """Every constant that defines a mel representation; two mels are comparable only under one preset."""

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    f_min: float
    f_max: float
    power: float = 1.0  # 1 = magnitude, 2 = power
    mel_norm: str | None = "slaney"  # filter area normalisation (librosa's default)
    mel_scale: str = "slaney"  # Slaney's piecewise linear/log scale (librosa's default, htk=False)
    center: bool = True
    pad_mode: str = "reflect"
    min_amplitude: float = 1e-5  # floor before the log
    ref_db: float = 20.0  # subtracted after 20*log10
    dynamic_range_db: float = 100.0  # +range then /range maps [-range, 0] dB to [0, 1]
    clip_seconds: float = 10.0  # the public pipeline pads/cuts audio to this
    clip_frames: int = 860  # ...and keeps this many frames
    # Fields added later; left out of to_dict() at their defaults, so existing caches' settings hashes are unchanged.
    log: str = "db_normalized"  # "db_normalized": the dB scale above mapped to [0, 1]; "ln": ln(max(floor, m))
    pad: int = 0  # samples of pad_mode padding on both sides before the STFT (HiFi-GAN: (n_fft - hop) / 2)
    magnitude_eps: float = 0.0  # > 0: |STFT| = sqrt(re^2 + im^2 + eps) (HiFi-GAN: 1e-9); 0: plain abs
    # True: the Slaney filterbank is built in float64 and rounded once, like librosa.filters.mel (the HiFi-GAN
    # release's); False: torchaudio's float32 construction (up to 1e-5 relative off), kept for the earlier presets
    fbank_float64: bool = False

    def __post_init__(self):
        if self.log not in _LOG_SCALES:
            raise ValueError(f"MelPreset.log must be one of {', '.join(_LOG_SCALES)}, got {self.log!r}")
        if self.fbank_float64 and self.mel_scale != "slaney":
            raise ValueError("MelPreset.fbank_float64 is implemented for mel_scale='slaney' only")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict:
        d = asdict(self)
        for name, default in _LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d


_LOG_SCALES = ("db_normalized", "ln")
_LATER_FIELDS = {"log": "db_normalized", "pad": 0, "magnitude_eps": 0.0, "fbank_float64": False}


# Preset names, defined once: the public SpecVQGAN/RegNet analysis, and avgen's sound -> video analysis.
SPECVQGAN_MEL_PRESET = "specvqgan"
CLIP_MEL_PRESET = "clip128"
HIFIGAN_MEL_PRESET = "hifigan"

PRESETS: dict[str, MelPreset] = {
    "specvqgan": MelPreset(
        name="specvqgan", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80,
        f_min=125.0, f_max=7600.0,
    ),
    # avgen's choice for the sound-to-video audio encoders: 128 bins over the full band (the image-manipulation
    # predecessor fed a 128-bin mel to a ResNet); not a published preset.
    "clip128": MelPreset(
        name="clip128", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=128,
        f_min=0.0, f_max=11025.0,
    ),
    # The HiFi-GAN release's analysis (config_v1/v2/v3.json, meldataset.py): the input of its public generators.
    "hifigan": MelPreset(
        name="hifigan", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80,
        f_min=0.0, f_max=8000.0, center=False, pad=(1024 - 256) // 2, magnitude_eps=1e-9, log="ln",
        fbank_float64=True,
    ),
}


def get_preset(preset: str | MelPreset) -> MelPreset:
    if isinstance(preset, MelPreset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown mel preset '{preset}' (known: {', '.join(sorted(PRESETS))})") from None


def _slaney_filterbank_float64(p: MelPreset) -> torch.Tensor:
    """Slaney-scale triangles (librosa's ``htk=False``) in float64, area-normalised when ``mel_norm='slaney'``:
    ``[n_freqs, n_mels]``."""
    log_step = math.log(6.4) / 27.0  # Slaney: linear below 1 kHz (3 / 200 mel per Hz), log above

    def hz_to_mel(f: float) -> float:
        return 3.0 * f / 200.0 if f < 1000.0 else 15.0 + math.log(f / 1000.0) / log_step

    freqs = torch.linspace(0.0, p.sample_rate / 2.0, p.n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(p.f_min), hz_to_mel(p.f_max), p.n_mels + 2, dtype=torch.float64)
    f_pts = torch.where(mels < 15.0, 200.0 * mels / 3.0, 1000.0 * torch.exp(log_step * (mels - 15.0)))
    width = f_pts[1:] - f_pts[:-1]  # [n_mels + 1]
    slopes = f_pts[None, :] - freqs[:, None]  # [n_freqs, n_mels + 2]
    fb = torch.minimum(-slopes[:, :-2] / width[:-1], slopes[:, 2:] / width[1:]).clamp_min(0.0)
    if p.mel_norm == "slaney":
        fb = fb * (2.0 / (f_pts[2:] - f_pts[:-2]))[None, :]
    return fb


@lru_cache(maxsize=8)
def _filterbank(preset: MelPreset) -> torch.Tensor:
    import torchaudio.functional as AF

    if preset.fbank_float64:
        return _slaney_filterbank_float64(preset).T.float().contiguous()  # [n_mels, n_freqs]

    fb = AF.melscale_fbanks(
        n_freqs=preset.n_fft // 2 + 1, f_min=preset.f_min, f_max=preset.f_max, n_mels=preset.n_mels,
        sample_rate=preset.sample_rate, norm=preset.mel_norm, mel_scale=preset.mel_scale,
    )
    return fb.T.contiguous()  # [n_mels, n_freqs]


def mel_filterbank(preset: str | MelPreset = "specvqgan") -> torch.Tensor:
    """The preset's mel filterbank ``[n_mels, n_fft // 2 + 1]`` (float32, CPU)."""
    return _filterbank(get_preset(preset)).clone()


def _as_tensor(waveform) -> torch.Tensor:
    if isinstance(waveform, np.ndarray):
        waveform = torch.from_numpy(np.ascontiguousarray(waveform))
    if not torch.is_tensor(waveform):
        raise TypeError(f"waveform must be a numpy array or torch tensor, got {type(waveform).__name__}")
    return waveform.float()


def fit_length(waveform, num_samples: int):
    """Zero-pad or cut the last axis to ``num_samples`` (the public pipeline's fixed-length clips)."""
    n = waveform.shape[-1]
    if n >= num_samples:
        return waveform[..., :num_samples]
    pad = [(0, 0)] * (waveform.ndim - 1) + [(0, num_samples - n)]
    if torch.is_tensor(waveform):
        return F.pad(waveform, (0, num_samples - n))
    return np.pad(waveform, pad)


def resample(waveform, from_rate: int, to_rate: int):
    """Windowed-sinc resampling of the last axis (``torchaudio.functional.resample`` at the reduced ratio); numpy in,
    numpy out (float32), tensor in, tensor out."""
    import torchaudio.functional as AF

    g = math.gcd(int(from_rate), int(to_rate))
    if torch.is_tensor(waveform):
        return AF.resample(waveform, int(from_rate) // g, int(to_rate) // g)
    x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    return AF.resample(x, int(from_rate) // g, int(to_rate) // g).numpy()


def sounding_rms(waveform, sample_rate: int, *, frame_seconds: float = 0.05, within_db: float = 30.0,
                 floor_db: float = -60.0) -> float:
    """RMS over a signal's sounding frames: non-overlapping ``frame_seconds`` frames whose RMS is within
    ``within_db`` of the loudest frame and above ``floor_db`` dBFS (for a signal entirely below the floor, the
    frames within ``within_db`` of its loudest; 0 for digital silence). The level of a sound effect regardless of how
    much silence surrounds it, so a generated track can be matched to its reference."""
    x = np.asarray(waveform.detach().cpu() if torch.is_tensor(waveform) else waveform)
    x = x.reshape(-1, x.shape[-1])  # [C, N]
    n = max(1, round(frame_seconds * sample_rate))
    if x.shape[-1] < n:  # shorter than one frame: the whole signal is one frame
        power = (x.astype(np.float64).mean(0) ** 2).mean(keepdims=True)
    else:
        # frame powers in float64, a block of whole frames at a time (a float64 copy of a long track would be
        # twice its size again)
        block, usable = n * max(1, 2 ** 18 // n), x.shape[-1] // n * n
        power = np.concatenate([
            (x[:, a:min(a + block, usable)].astype(np.float64).mean(0).reshape(-1, n) ** 2).mean(1)
            for a in range(0, usable, block)])  # [F]
    return sounding_level_of(power, within_db=within_db, floor_db=floor_db)


def sounding_level_of(power: np.ndarray, *, within_db: float = 30.0, floor_db: float = -60.0) -> float:
    """:func:`sounding_rms` from its frame powers ``[F]`` (mean squares): the RMS over the frames within
    ``within_db`` of the loudest and above ``floor_db`` dBFS (all near-peak frames when none is above it)."""
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    if power.max() <= 0:
        return 0.0
    near_peak = db >= db.max() - within_db
    keep = near_peak & (db >= floor_db) if (db >= floor_db).any() else near_peak  # a quiet signal keeps its level
    return float(np.sqrt(power[keep].mean()))


def mel_magnitude(x: torch.Tensor, preset: str | MelPreset = "specvqgan") -> torch.Tensor:
    """|STFT|^power through the preset's filterbank, before any log: waveforms ``[..., N]`` (any float dtype and
    device, already at the preset's rate) -> linear mel ``[..., n_mels, T]``."""
    p = get_preset(preset)
    window = torch.hann_window(p.win_length, periodic=True, device=x.device, dtype=x.dtype)
    flat = x.reshape(-1, x.shape[-1])  # [B, N]
    if p.pad:
        flat = F.pad(flat[:, None], (p.pad, p.pad), mode=p.pad_mode)[:, 0]  # [B, N + 2 pad]
    spec = torch.stft(flat, n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length,
                      window=window, center=p.center, pad_mode=p.pad_mode, return_complex=True)  # [B, F, T]
    if p.magnitude_eps:
        spec = torch.sqrt(spec.real.square() + spec.imag.square() + p.magnitude_eps)
    else:
        spec = spec.abs()
    if p.power != 1.0:
        spec = spec.pow(p.power)
    mel = torch.matmul(_filterbank(p).to(x.device, x.dtype), spec)  # [B, M, T]
    return mel.reshape(*x.shape[:-1], *mel.shape[-2:])


def normalize_mel(mel: torch.Tensor, preset: str | MelPreset = "specvqgan") -> torch.Tensor:
    """Linear mel -> the preset's scale: ``20 log10(max(floor, m)) - ref`` dB, then [-range, 0] dB -> [0, 1]; or, for
    ``log="ln"`` presets (``hifigan``), ``ln(max(floor, m))``."""
    p = get_preset(preset)
    if p.log == "ln":
        return torch.log(mel.clamp_min(p.min_amplitude))
    db = 20.0 * torch.log10(mel.clamp_min(p.min_amplitude)) - p.ref_db
    return ((db + p.dynamic_range_db) / p.dynamic_range_db).clamp(0.0, 1.0)


def mel_spectrogram(
    waveform,
    preset: str | MelPreset = "specvqgan",
    *,
    sample_rate: int | None = None,
    fixed_length: bool = False,
) -> torch.Tensor:
    """Log-mel spectrogram on the preset's scale: normalised to [0, 1] (``specvqgan``, ``clip128``) or the natural log
    (``hifigan``).

    Args:
        waveform: mono audio ``[N]``, ``[1, N]`` or a batch ``[B, N]`` (numpy or torch, any device).
        preset: a preset name or :class:`MelPreset`.
        sample_rate: the waveform's rate; resampled to the preset's rate when different. None means it already is.
        fixed_length: pad/cut to ``preset.clip_seconds`` and keep ``preset.clip_frames`` frames, as the public
            pipeline stores clips (10 s -> 860 frames).

    Returns:
        ``[n_mels, T]`` for ``[N]``/``[1, N]`` input, else ``[B, n_mels, T]``; T = 1 + N // hop when centered,
        ``1 + (N + 2 pad - n_fft) // hop`` otherwise (N // hop for ``hifigan``).
    """
    p = get_preset(preset)
    x = _as_tensor(waveform)
    single = x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1)
    x = x.reshape(-1, x.shape[-1])  # [B, N]
    if sample_rate is not None and sample_rate != p.sample_rate:
        x = resample(x, int(sample_rate), p.sample_rate)
    if fixed_length:
        x = fit_length(x, round(p.clip_seconds * p.sample_rate))
    out = normalize_mel(mel_magnitude(x, p), p)
    if fixed_length:
        out = out[..., : p.clip_frames]
    return out[0] if single else out


def db_normalized_to_amplitude(mel, preset: str | MelPreset = "specvqgan") -> torch.Tensor:
    """Invert the log/normalisation step: [0, 1] values (or natural-log values, ``log="ln"``) back to mel
    amplitudes."""
    p = get_preset(preset)
    m = _as_tensor(mel)
    if p.log == "ln":
        return torch.exp(m)
    db = m * p.dynamic_range_db - p.dynamic_range_db + p.ref_db
    return torch.pow(10.0, db / 20.0)


def mel_to_linear(mel, preset: str | MelPreset = "specvqgan") -> torch.Tensor:
    """Normalised mel ``[..., M, T]`` -> non-negative linear magnitude ``[..., F, T]`` (least squares, clamped)."""
    p = get_preset(preset)
    amp = db_normalized_to_amplitude(mel, p)
    fb = _filterbank(p).to(amp.device, amp.dtype)  # [M, F]
    lin = torch.matmul(torch.linalg.pinv(fb), amp)  # [..., F, T]
    lin = lin.clamp_min(0.0)
    return lin.pow(1.0 / p.power) if p.power != 1.0 else lin


def griffin_lim(
    magnitude: torch.Tensor,
    preset: str | MelPreset = "specvqgan",
    *,
    n_iter: int = 64,
    momentum: float = 0.99,
    length: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraud et al. 2013) from a linear magnitude ``[..., F, T]`` to a waveform ``[..., N]``.

    The initial phase is drawn from ``generator`` so results are reproducible.
    """
    p = get_preset(preset)
    mag = magnitude.float()
    shape = mag.shape
    mag = mag.reshape(-1, *shape[-2:])
    window = torch.hann_window(p.win_length, periodic=True, device=mag.device)
    stft = dict(n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length, window=window, center=p.center)
    if length is None:
        length = (shape[-1] - 1) * p.hop_length
    phase = torch.rand(mag.shape, generator=generator, device="cpu").to(mag.device) * (2 * math.pi)
    angles = torch.polar(torch.ones_like(mag), phase)
    prev = torch.zeros_like(angles)
    for _ in range(n_iter):
        wav = torch.istft(mag * angles, length=length, **stft)
        rebuilt = torch.stft(wav, pad_mode=p.pad_mode, return_complex=True, **stft)
        # Momentum step: extrapolate away from the previous projection.
        angles = rebuilt - (momentum / (1 + momentum)) * prev
        angles = angles / angles.abs().clamp_min(1e-16)
        prev = rebuilt
    wav = torch.istft(mag * angles, length=length, **stft)
    return wav.reshape(*shape[:-2], wav.shape[-1])


def mel_to_waveform(
    mel,
    preset: str | MelPreset = "specvqgan",
    *,
    n_iter: int = 64,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Baseline vocoder: normalised mel ``[M, T]`` -> waveform ``[1, (T - 1) * hop]`` at the preset's rate."""
    lin = mel_to_linear(mel, preset)
    wav = griffin_lim(lin, preset, n_iter=n_iter, generator=generator)
    if wav.ndim == 1:
        wav = wav[None]
    return wav.clamp(-1.0, 1.0)


def segment_mels(waveform: np.ndarray, sample_rate: int, frame_times: np.ndarray, window: float,
                 preset: str = CLIP_MEL_PRESET) -> torch.Tensor:
    """One mel per frame: the ``window`` seconds of audio centred on each time in ``frame_times`` -> [T, n_mels, L].
    Audio before the start or past the end (frames beyond the sound) is silence."""
    p = get_preset(preset)
    wav = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1)
    if sample_rate != p.sample_rate:
        import torchaudio.functional as AF

        wav = AF.resample(wav, int(sample_rate), p.sample_rate)
    n = int(round(window * p.sample_rate))
    pad = n  # zeros on both sides so windows at the clip's ends stay full length
    last = int(round(max(frame_times, default=0.0) * p.sample_rate)) + n  # and up to the last frame's window
    padded = torch.nn.functional.pad(wav, (pad, pad + max(0, last - len(wav))))
    starts = [int(round(t * p.sample_rate)) - n // 2 + pad for t in frame_times]
    chunks = torch.stack([padded[s:s + n] for s in starts])  # [T, n]
    return mel_spectrogram(chunks, p)  # [T, n_mels, L]
