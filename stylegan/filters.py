"""Low-pass FIR design for StyleGAN3's alias-free layers (Karras et al. 2021, App. C): a Kaiser-windowed sinc
(equal to ``scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)``) and the radially symmetric jinc variant of
config R. Pure NumPy/torch so that building an untrained StyleGAN3 needs no SciPy."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["kaiser_atten", "kaiser_beta", "firwin_lowpass", "jinc_lowpass", "design_lowpass_filter"]


def kaiser_atten(numtaps: int, width: float) -> float:
    """Stop-band attenuation (dB) reachable with ``numtaps`` taps and transition ``width`` (fraction of Nyquist)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(atten: float) -> float:
    """Kaiser's empirical window shape for a given attenuation (dB)."""
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def firwin_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Windowed-sinc low-pass, unit DC gain; ``cutoff`` and ``width`` in the units of ``fs``."""
    nyq = fs / 2
    c = cutoff / nyq
    beta = kaiser_beta(kaiser_atten(numtaps, width / nyq))
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = c * np.sinc(c * m) * np.kaiser(numtaps, beta)
    return h / h.sum()


def jinc_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Radially symmetric 2-D low-pass: ``J1(2 pi f_c r) / (pi r)`` under a separable Kaiser window, unit DC gain."""
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    j1 = torch.special.bessel_j1(torch.from_numpy(2 * cutoff * np.pi * r)).numpy()
    f = j1 / (np.pi * r)
    w = np.kaiser(numtaps, kaiser_beta(kaiser_atten(numtaps, width / (fs / 2))))
    f = f * np.outer(w, w)
    return f / f.sum()


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """float32 filter for ``upfirdn2d``: None for one tap (identity), 1-D separable, or 2-D when ``radial``."""
    if numtaps < 1:
        raise ValueError(f"numtaps={numtaps}: must be >= 1")
    if numtaps == 1:
        return None
    f = jinc_lowpass(numtaps, cutoff, width, fs) if radial else firwin_lowpass(numtaps, cutoff, width, fs)
    return torch.as_tensor(f, dtype=torch.float32)
