"""Audio metrics: mel-cepstral distortion (plain and DTW-aligned), onset-based audio-visual sync error, level-invariant
onsets and onset F1, timbre similarity with Resemblyzer (the VarietySound paper's library), and Melception FID / MKL /
IS."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..audio import SPECVQGAN_MEL_PRESET, get_preset, mel_magnitude
from ..errors import AvgenError
from ..media import resample
from ..utils import file_sha256

__all__ = ["MCD_CONST", "linear_mel", "mel_cepstrum", "cepstrum_of_magnitude", "mcd", "dtw_path", "onset_strength",
           "pick_peaks", "audio_onsets", "gate_onsets", "visual_onsets", "sync_error", "normalised_onset_envelope",
           "adaptive_peaks", "LEVEL_INVARIANT_ONSETS", "level_invariant_onsets", "OnsetF1", "onset_f1", "TimbreEmbedder", "cosine_similarity",
           "retrieval_accuracy", "cepstral_envelope"]

# 10 / ln(10) * sqrt(2): converts the Euclidean cepstral distance to dB (Kubichek 1993).
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------------------------
# Mel-cepstral distortion


def linear_mel(wav: np.ndarray, sample_rate: int, preset: str = SPECVQGAN_MEL_PRESET) -> torch.Tensor:
    """The preset's linear mel magnitude in float64: ``[n_mels, T]`` (no dB normalisation)."""

    p = get_preset(preset)
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32)).reshape(-1)
    if sample_rate != p.sample_rate:

        x = torch.as_tensor(resample(x.numpy()[None], sample_rate, p.sample_rate)).reshape(-1)
    return mel_magnitude(x.double(), p)


def mel_cepstrum(wav, sample_rate: int, *, order: int = 24, preset: str = SPECVQGAN_MEL_PRESET) -> np.ndarray:
    """Mel-frequency cepstra ``[T, order]`` without c0: ``c_m = (2/M) sum_k log|X_k| cos(pi m (k + 1/2) / M)``
    over the M mel-band magnitudes (a DCT-II of the log amplitude, scaled like the cepstrum of a log spectrum).
    Magnitudes are floored at 1e-5 (-100 dB)."""
    return cepstrum_of_magnitude(linear_mel(wav, sample_rate, preset), order=order)


def cepstrum_of_magnitude(mel: torch.Tensor, *, order: int = 24) -> np.ndarray:
    """:func:`mel_cepstrum` from an already computed linear mel magnitude ``[M, T]`` (float64)."""
    m = mel.shape[0]
    if not 1 <= order < m:
        raise ValueError(f"order must be in [1, {m - 1}], got {order}")
    log_amp = torch.log(mel.clamp_min(1e-5))
    k = torch.arange(m, dtype=torch.float64)
    q = torch.arange(1, order + 1, dtype=torch.float64)
    basis = torch.cos(math.pi * q[:, None] * (k[None, :] + 0.5) / m) * (2.0 / m)  # [order, M]
    return (basis @ log_amp).T.numpy()  # [T, order]


def dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Classic DTW (steps (1,0), (0,1), (1,1), unit weights) over a cost matrix ``[N, M]``; returns the optimal
    path from (0, 0) to (N-1, M-1). Anti-diagonals are filled vectorised."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for d in range(2, n + m + 1):  # cell (i, j) with i + j = d, 1-based
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        best = np.minimum(np.minimum(acc[i - 1, j], acc[i, j - 1]), acc[i - 1, j - 1])
        acc[i, j] = cost[i - 1, j - 1] + best
    # backtrack, preferring the diagonal on ties
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        steps = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1))
        _, i, j = min(steps, key=lambda s: s[0])
    return path[::-1]


def mcd(generated, reference, sample_rate: int, *, dtw: bool = False, order: int = 24) -> float:
    """Mel-cepstral distortion in dB: ``MCD_CONST * mean_t ||c_gen(t) - c_ref(t)||`` over cepstra without c0.
    Plain: frames paired by index over the shorter length. ``dtw=True``: frames paired along the DTW path of the
    Euclidean cepstral distances, averaged over the path."""
    a = mel_cepstrum(generated, sample_rate, order=order)
    b = mel_cepstrum(reference, sample_rate, order=order)
    if not dtw:
        n = min(len(a), len(b))
        return float(MCD_CONST * np.linalg.norm(a[:n] - b[:n], axis=1).mean())
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    path = dtw_path(cost)
    return float(MCD_CONST * np.mean([cost[i, j] for i, j in path]))


# ----------------------------------------------------------------------------------------------------------------
# Onsets and audio-visual synchrony


def onset_strength(wav, sample_rate: int, *, n_fft: int = 512, hop: int = 128) -> tuple[np.ndarray, float]:
    """Spectral-flux onset envelope: half-wave rectified frame-to-frame increase of the log magnitude spectrum
    (floored at -100 dB), summed over bins. A short window (512 samples at 22.05 kHz, hop 128 = 5.8 ms) keeps the
    timing error of the peaks small. Returns (envelope ``[T]``, frames per second); frame t is centred at
    ``t / fps`` seconds."""
    x = torch.as_tensor(np.asarray(wav, dtype=np.float64)).reshape(-1)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      center=True, pad_mode="constant", return_complex=True).abs()
    log_spec = torch.log(spec.clamp_min(1e-5))  # [F, T]
    flux = (log_spec[:, 1:] - log_spec[:, :-1]).clamp_min(0).sum(0)
    env = torch.cat([flux.new_zeros(1), flux]).numpy()
    return env, sample_rate / hop


def pick_peaks(env: np.ndarray, rate: float, *, min_gap: float = 0.05, threshold: float = 0.3) -> np.ndarray:
    """Times (s) of local maxima of ``env`` that are the largest within ``min_gap`` seconds either side and exceed
    ``threshold * max(env)`` above the median."""
    env = np.asarray(env, np.float64)
    if env.size == 0 or env.max() <= 0:
        return np.zeros(0)
    w = max(1, int(round(min_gap * rate)))
    floor = np.median(env) + threshold * (env.max() - np.median(env))
    peaks = []
    for t in range(len(env)):
        lo, hi = max(0, t - w), min(len(env), t + w + 1)
        if env[t] >= floor and env[t] == env[lo:hi].max() and (not peaks or t - peaks[-1] > w):
            peaks.append(t)
    return np.asarray(peaks, np.float64) / rate


def audio_onsets(wav, sample_rate: int, *, gate_db: float | None = None, **kw) -> np.ndarray:
    """Onset times (s) of an audio signal (spectral flux + peak picking); with ``gate_db``, only those where the
    track rises that far above its own noise floor (:func:`gate_onsets`)."""
    env, rate = onset_strength(wav, sample_rate)
    onsets = pick_peaks(env, rate, **kw)
    return onsets if gate_db is None else gate_onsets(wav, sample_rate, onsets, gate_db)


def gate_onsets(wav, sample_rate: int, onsets, gate_db: float = 6.0, *, look: float = 0.05,
                floor_percentile: float = 20.0, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """The ``onsets`` (s) after which the track rises at least ``gate_db`` above its noise floor within ``look``
    seconds. Frame level: mean STFT power (Hann ``n_fft``, ``hop``) in dB; floor: its ``floor_percentile``-th
    percentile over the track. Spectral flux of a log spectrum also peaks on the random ups and downs of a steady
    hiss; those peaks are not sounds."""
    on = np.asarray(onsets, np.float64).reshape(-1)
    x = torch.as_tensor(np.asarray(wav, dtype=np.float64)).reshape(-1)
    if on.size == 0 or x.numel() == 0:
        return on[:0]
    power = torch.stft(x, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                       center=True, pad_mode="constant", return_complex=True).abs().pow(2).mean(0)  # [T]
    level = (10 * torch.log10(power + 1e-20)).numpy()
    floor = float(np.percentile(level, floor_percentile))
    rate = sample_rate / hop
    def peak_after(t: float) -> float:  # the loudest frame level within `look` seconds of t
        return level[min(len(level) - 1, int(t * rate)): int((t + look) * rate) + 1].max(initial=-np.inf)

    keep = [t for t in on if peak_after(t) >= floor + gate_db]
    return np.asarray(keep, np.float64)


def visual_onsets(frames, fps: float, **kw) -> np.ndarray:
    """Times (s) of abrupt visual changes: peaks of the increase in mean absolute frame difference (flashes, hits
    that change the picture, cuts). Frame t's change is dated at ``t / fps``. For known event times pass them to
    :func:`sync_error` directly."""
    f = np.asarray(frames, np.float32).mean(-1)  # grey [T, H, W]
    if len(f) < 3:
        return np.zeros(0)
    diff = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2))  # change arriving at frame t+1
    rise = np.concatenate([[0.0, diff[0]], np.clip(diff[1:] - diff[:-1], 0, None)])
    return pick_peaks(rise, fps, **kw)


@dataclass
class SyncResult:
    median_ms: float
    mean_ms: float
    hit_rate: float  # events with an onset within the tolerance
    num_events: int
    num_onsets: int

    def as_dict(self) -> dict:
        return dict(vars(self))


def sync_error(onsets, events, *, tolerance: float = 0.1) -> SyncResult:
    """For every event time, the distance to the nearest onset: median and mean (ms) and the share within
    ``tolerance`` seconds. No onsets at all counts every event as a miss (distance = inf, median inf)."""
    onsets, events = np.sort(np.asarray(onsets, np.float64)), np.asarray(events, np.float64)
    if events.size == 0:
        raise AvgenError("sync error needs at least one event time")
    if onsets.size == 0:
        return SyncResult(math.inf, math.inf, 0.0, int(events.size), 0)
    d = np.abs(events[:, None] - onsets[None, :]).min(axis=1)
    return SyncResult(float(np.median(d) * 1000), float(d.mean() * 1000), float((d <= tolerance).mean()),
                      int(events.size), int(onsets.size))


# ----------------------------------------------------------------------------------------------------------------
# Level-invariant onsets and onset F1 (real recordings at any level)


def normalised_onset_envelope(wav, sample_rate: int, *, n_fft: int = 1024, hop: int = 256, n_mels: int = 64,
                              top_db: float = 80.0) -> tuple[np.ndarray, float]:
    """Onset envelope that does not depend on the signal's level: mel power spectrogram (``n_mels`` bands, Hann
    ``n_fft`` window, ``hop``) in dB relative to the clip's loudest bin and floored ``top_db`` below it, then the
    half-wave rectified frame-to-frame increase averaged over bands, rescaled to [0, 1] (min -> 0, max -> 1).
    Multiplying the signal by any gain > 0 leaves it unchanged. Returns (envelope ``[T]``, frames per second);
    frame t is centred at ``t / fps`` seconds."""
    import torchaudio

    x = torch.as_tensor(np.asarray(wav, dtype=np.float64)).reshape(-1)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      center=True, pad_mode="constant", return_complex=True).abs() ** 2  # [F, T]
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate,
                                               norm="slaney", mel_scale="slaney").double()  # [F, M]
    power = fb.T @ spec  # [M, T]
    # dB relative to the clip's peak (the floor is relative too, so a gain cancels exactly)
    peak = power.max().clamp_min(1e-300)
    db = 10 * torch.log10(torch.maximum(power, peak * 10 ** (-top_db / 10)) / peak)
    flux = (db[:, 1:] - db[:, :-1]).clamp_min(0).mean(0)
    env = torch.cat([flux.new_zeros(1), flux]).numpy()
    span = env.max() - env.min()
    return ((env - env.min()) / span if span > 0 else np.zeros_like(env)), sample_rate / hop


def adaptive_peaks(env: np.ndarray, rate: float, *, pre_max: float = 0.03, post_max: float = 0.03,
                   pre_avg: float = 0.1, post_avg: float = 0.1, delta: float = 0.07, wait: float = 0.05) -> np.ndarray:
    """Times (s) of frames that are the maximum of ``[t - pre_max, t + post_max]``, exceed the mean of
    ``[t - pre_avg, t + post_avg]`` by ``delta`` (envelope in [0, 1]) and come ``wait`` s after the previous pick
    (the peak-picking rule of Boeck et al. 2012, as in librosa's ``peak_pick``)."""
    env = np.asarray(env, np.float64)
    n = len(env)
    frames = lambda sec: max(0, int(round(sec * rate)))  # noqa: E731
    a, b, c, d, w = frames(pre_max), frames(post_max), frames(pre_avg), frames(post_avg), frames(wait)
    # running mean over the averaging window via a cumulative sum
    csum = np.concatenate([[0.0], np.cumsum(env)])
    peaks, last = [], -np.inf
    for t in range(n):
        lo, hi = max(0, t - a), min(n, t + b + 1)
        if env[t] < env[lo:hi].max() or env[t] <= 0:
            continue
        alo, ahi = max(0, t - c), min(n, t + d + 1)
        if env[t] >= (csum[ahi] - csum[alo]) / (ahi - alo) + delta and t - last > w:
            peaks.append(t)
            last = t
    return np.asarray(peaks, np.float64) / rate


LEVEL_INVARIANT_ONSETS = {"envelope": "mel power dB re clip peak, 80 dB floor, 64 bands, n_fft 1024, hop 256, "
                                       "positive flux mean over bands, rescaled to [0, 1]",
                          "peaks": {"pre_max": 0.03, "post_max": 0.03, "pre_avg": 0.1, "post_avg": 0.1,
                                    "delta": 0.1, "wait": 0.1}}


def level_invariant_onsets(wav, sample_rate: int, **peak_kw) -> np.ndarray:
    """Onset times (s): :func:`normalised_onset_envelope` (64 mel bands, 1024/256 STFT, 80 dB range) +
    :func:`adaptive_peaks` with ``LEVEL_INVARIANT_ONSETS["peaks"]`` (local max +-30 ms, 0.1 above the +-100 ms mean,
    at least 100 ms apart: one onset per +-100 ms matching window). The same onsets at any gain."""
    env, rate = normalised_onset_envelope(wav, sample_rate)
    return adaptive_peaks(env, rate, **{**LEVEL_INVARIANT_ONSETS["peaks"], **peak_kw})


@dataclass
class OnsetF1:
    precision: float
    recall: float
    f1: float
    matched: int
    num_pred: int
    num_true: int

    def as_dict(self) -> dict:
        return dict(vars(self))


def onset_f1(pred, true, tolerance: float = 0.1) -> OnsetF1:
    """Onset detection precision / recall / F1: each true onset can be matched to at most one predicted onset
    within ``tolerance`` seconds and vice versa (one-to-one). The matching is a maximum one: on a line with a
    symmetric window, sweeping both sorted lists and pairing the earliest compatible onsets is optimal (same count
    as Hungarian / mir_eval's bipartite matching). Empty ``pred`` or ``true`` gives 0 for all three figures."""
    p, t = np.sort(np.asarray(pred, np.float64).reshape(-1)), np.sort(np.asarray(true, np.float64).reshape(-1))
    i = j = matched = 0
    while i < len(p) and j < len(t):
        if abs(p[i] - t[j]) <= tolerance + 1e-12:  # compatible: pair them
            matched, i, j = matched + 1, i + 1, j + 1
        elif p[i] < t[j]:  # p[i] is too early for t[j] and every later true onset
            i += 1
        else:  # t[j] is too early for p[i] and every later prediction
            j += 1
    if len(p) == 0 or len(t) == 0:
        return OnsetF1(0.0, 0.0, 0.0, 0, len(p), len(t))
    prec, rec = matched / len(p), matched / len(t)
    f1 = 2 * prec * rec / (prec + rec) if matched else 0.0
    return OnsetF1(float(prec), float(rec), float(f1), matched, len(p), len(t))


# ----------------------------------------------------------------------------------------------------------------
# Timbre similarity (Resemblyzer)


def _import_resemblyzer():
    try:
        import resemblyzer
        from resemblyzer import VoiceEncoder, audio
    except ImportError:
        raise ImportError("timbre similarity needs Resemblyzer (it ships its weights): pip install resemblyzer") \
            from None
    return resemblyzer, VoiceEncoder, audio


class TimbreEmbedder:
    """Resemblyzer's voice encoder (3-layer LSTM over 40-band mels at 16 kHz, 256-d L2-normalised embedding), used
    by VarietySound as its timbre measure. ``trim_silence=True`` runs the library's own ``preprocess_wav`` (volume
    normalisation to -30 dBFS and VAD trimming of long silences); sound effects that the speech VAD would remove
    entirely can use ``trim_silence=False`` (volume normalisation only)."""

    def __init__(self, *, device=None, trim_silence: bool = True):
        resemblyzer, VoiceEncoder, audio = _import_resemblyzer()
        self._audio = audio
        self.trim_silence = trim_silence
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.encoder = VoiceEncoder(device=dev, verbose=False)
        self.weights = os.path.join(os.path.dirname(resemblyzer.__file__), "pretrained.pt")
        self.sample_rate = 16000

    def embed(self, wav, sample_rate: int) -> np.ndarray:
        """256-d embedding of one mono waveform."""

        x = np.asarray(wav, np.float32).reshape(-1)
        if sample_rate != self.sample_rate:
            x = resample(x[None], sample_rate, self.sample_rate).reshape(-1).astype(np.float32)
        if self.trim_silence:
            x = self._audio.preprocess_wav(x)
        else:
            x = self._audio.normalize_volume(x, -30, increase_only=True)
        if len(x) < self.sample_rate // 10:
            raise AvgenError(f"only {len(x)} samples left after Resemblyzer preprocessing (silence trimming removed "
                             "the sound); use trim_silence=False / --no-trim-silence for non-speech audio")
        return np.asarray(self.encoder.embed_utterance(x), np.float64)

    def profile(self) -> dict:
        from importlib import metadata


        return {"network": "resemblyzer voice encoder", "version": metadata.version("resemblyzer"),
                "weights_sha256": file_sha256(self.weights), "sample_rate": self.sample_rate,
                "preprocess": "preprocess_wav (normalize -30 dBFS, VAD trim)" if self.trim_silence
                else "normalize_volume -30 dBFS (no trimming)",
                "embedding": "embed_utterance (1.6 s partials, rate 1.3, min coverage 0.75, mean, L2-normalised)"}


def cosine_similarity(a, b) -> np.ndarray:
    """Row-wise cosine similarity of two ``[N, D]`` arrays."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def retrieval_accuracy(queries, keys, labels=None) -> float:
    """Share of queries whose most similar key (cosine) is its own (row i pairs with key i). With ``labels`` (one
    per row), a hit is a most similar key with the query's label (e.g. the same source recording)."""
    q, k = np.asarray(queries, np.float64), np.asarray(keys, np.float64)
    q = q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-12)
    k = k / (np.linalg.norm(k, axis=1, keepdims=True) + 1e-12)
    best = np.argmax(q @ k.T, axis=1)
    if labels is None:
        return float((best == np.arange(len(q))).mean())
    lab = np.asarray(labels)
    return float((lab[best] == lab).mean())


def cepstral_envelope(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean mel-cepstrum (c1..c24) over the frames louder than the clip's median frame: a timbre summary that
    ignores timing and silence."""
    mel = linear_mel(wav, sample_rate)  # one STFT for both the cepstra and the frame energies
    c = cepstrum_of_magnitude(mel)
    energy = torch.log(mel.clamp_min(1e-5)).mean(0).numpy()
    active = energy > np.median(energy)
    return c[active].mean(0) if active.any() else c.mean(0)
