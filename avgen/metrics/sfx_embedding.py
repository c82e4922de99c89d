"""A timbre judge trained on sound effects: the aiSFX embedding (Ma & Lerch, ISMIR 2022), read with avgen's own code.

The weights come from the PyPI package ``aisfx`` (``aisfx/models/checkpoint.pth``), found with
``importlib.util.find_spec`` and read with ``torch.load(weights_only=True)``; the package's code is never imported
(its pinned numpy/librosa/tqdm conflict with avgen's, so it is installed with ``pip install --no-deps aisfx``).

Input analysis (the Essentia front-end the published model was trained with; see docs/sfx_embedding.md):
mono at 44.1 kHz; frames of 2048 samples every 1024, the first centred on sample 0 (zero padding at both ends,
``ceil(N / 1024) + 1`` frames); symmetric Hann window; power spectrum; 96 HTK-mel triangles over 0-22050 Hz,
triangular in mel and each normalised to unit sum; ``log10(1e4 * x + 1)``; divided by 9.457798957824707 (the
training set's maximum). Patches of 100 frames (about 2.3 s) every 50 frames, an incomplete last patch dropped
(a clip shorter than one patch is zero padded to one). The CNN gives 512 values per patch; the clip embedding is
the mean over patches, L2-normalised.
"""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
import zipfile

import numpy as np
import torch

from ..checkpoints import CheckpointError, check_state_dict
from ..errors import AvgenError, WeightsNotFoundError
from ..media import resample
from ..models.backbones.aisfx import AISFXEmbeddingNet
from ..utils import file_sha256, require_finite

__all__ = ["SFXEmbedder", "aisfx_weights_file", "load_aisfx_state_dict", "sfx_mel_filterbank", "sfx_log_mel",
           "sfx_patches", "SAMPLE_RATE", "FRAME_LENGTH", "HOP_LENGTH", "N_MELS", "PATCH_FRAMES", "PATCH_HOP"]

SAMPLE_RATE = 44100
FRAME_LENGTH = 2048
HOP_LENGTH = 1024
N_MELS = 96
F_MIN, F_MAX = 0.0, 22050.0
LOG_SCALE = 1e4  # log10(LOG_SCALE * power + 1)
NORM_MAX = 9.457798957824707  # min-max normalisation of the training data (minimum 0)
PATCH_FRAMES = 100
PATCH_HOP = 50
INSTALL_HINT = ("PyPI: pip install --no-deps aisfx==0.1.2 (aiSFX, the ISMIR 2022 sound-effects embedding; --no-deps "
                "because its pinned numpy/librosa are not needed: avgen reads only its checkpoint)")


# -- weights --------------------------------------------------------------------------------------------------------

def aisfx_weights_file() -> str:
    """Path of the checkpoint shipped in the ``aisfx`` package, found without importing it; WeightsNotFoundError
    when the package (or the file inside it) is missing."""
    spec = importlib.util.find_spec("aisfx")  # a top-level name: locates, never executes, the package
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError("aiSFX sound-effects embedding", None, INSTALL_HINT)
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", "checkpoint.pth")
    if not os.path.isfile(path):
        raise WeightsNotFoundError("aiSFX sound-effects embedding", path, INSTALL_HINT)
    return path


def _numpy_scalar_globals() -> list:
    """The numpy globals the checkpoint's pickle names (its dataset table holds numpy int64 scalars): the scalar
    constructor under its pickled name and the dtype classes; none of them runs code."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    allowed = [(multiarray.scalar, "numpy.core.multiarray.scalar"),
               (multiarray.scalar, "numpy._core.multiarray.scalar"), np.dtype]
    allowed += list({type(np.dtype(t)) for t in (np.int32, np.int64, np.float32, np.float64)})
    return allowed


def load_aisfx_state_dict(path: str | os.PathLike) -> dict:
    """The ``embedding_net`` tensors of an aiSFX checkpoint (a torch zip holding ``(state_dict, datasets)``), names
    without that prefix, checked against :class:`AISFXEmbeddingNet`. Read with ``weights_only=True`` (nothing in
    the file is executed); any unreadable, foreign or mismatched file is one CheckpointError naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsNotFoundError("aiSFX sound-effects embedding", path, INSTALL_HINT)
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            zipfile.BadZipFile, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a loadable aiSFX checkpoint (read with weights_only=True): "
                              f"{first[:300]}") from None
    # the release stores (state_dict, {dataset: (index, classes)}); a bare state dict is accepted too
    sd = obj[0] if isinstance(obj, tuple) and obj and isinstance(obj[0], dict) else obj
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: not an aiSFX checkpoint (expected a state dict of tensors, "
                              f"got {type(sd).__name__})")
    prefix = "embedding_net."
    emb = {k[len(prefix):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(prefix)}
    if not emb:  # a state dict of the embedding network alone
        emb = dict(sd)
    check_state_dict(AISFXEmbeddingNet(), emb, path, what="the aiSFX embedding network")
    return emb


# -- feature front-end ----------------------------------------------------------------------------------------------

def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def sfx_mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = FRAME_LENGTH, n_mels: int = N_MELS,
                       f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` float64: triangles between HTK-mel-spaced edges, linear in mel (not Hz) on each
    side, zero outside ``[left, right)``, every row scaled to sum 1 (Essentia MelBands: htkMel, warping, unit_sum)."""
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / 2.0) / (n_fft // 2)  # [K] bin frequencies
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))  # [M + 2]
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [M, 1] each
    m, m_lo, m_mid, m_hi = _hz_to_mel(bins)[None], _hz_to_mel(lo), _hz_to_mel(mid), _hz_to_mel(hi)
    rise = np.where((bins >= lo) & (bins < mid), (m - m_lo) / (m_mid - m_lo), 0.0)  # [M, K]
    fall = np.where((bins >= mid) & (bins < hi), (m_hi - m) / (m_hi - m_mid), 0.0)  # [M, K]
    fb = rise + fall
    s = fb.sum(1, keepdims=True)
    return np.where(s > 0, fb / np.where(s > 0, s, 1.0), 0.0)


_FB_CACHE: dict = {}


def sfx_log_mel(wav, *, normalise: bool = True) -> torch.Tensor:
    """Mono waveform ``[N]`` at 44.1 kHz (numpy or tensor) -> ``[T, 96]`` float32 log-mel frames,
    ``T = ceil(N / 1024) + 1``; ``normalise`` divides by the training maximum (the network's input scale)."""
    x = torch.as_tensor(np.asarray(wav, np.float64) if not torch.is_tensor(wav) else wav, dtype=torch.float64)
    x = x.reshape(-1)
    n = x.numel()
    if n == 0:
        raise AvgenError("aiSFX log-mel: empty waveform")
    n_frames = math.ceil(n / HOP_LENGTH) + 1
    # centred frames: half a frame of zeros in front, zeros after the end up to the last frame
    right = (n_frames - 1) * HOP_LENGTH + FRAME_LENGTH // 2 - n
    x = torch.nn.functional.pad(x, (FRAME_LENGTH // 2, right))
    frames = x.unfold(0, FRAME_LENGTH, HOP_LENGTH)  # [T, L]
    window = torch.hann_window(FRAME_LENGTH, periodic=False, dtype=torch.float64)  # symmetric Hann
    power = torch.fft.rfft(frames * window, dim=1).abs() ** 2  # [T, K]
    if "fb" not in _FB_CACHE:
        _FB_CACHE["fb"] = torch.from_numpy(sfx_mel_filterbank())
    mel = power @ _FB_CACHE["fb"].T  # [T, M]
    out = torch.log10(LOG_SCALE * mel + 1.0)
    return (out / NORM_MAX if normalise else out).float()


def sfx_patches(log_mel: torch.Tensor) -> torch.Tensor:
    """``[T, F]`` -> ``[P, 100, F]``: patches every 50 frames, an incomplete last one dropped, at least one
    (zero padded when the clip is shorter than a patch)."""
    t = log_mel.shape[0]
    n = max(1, (t - PATCH_FRAMES) // PATCH_HOP + 1)
    need = (n - 1) * PATCH_HOP + PATCH_FRAMES
    x = torch.nn.functional.pad(log_mel, (0, 0, 0, max(0, need - t)))  # [T', F]
    return x.unfold(0, PATCH_FRAMES, PATCH_HOP)[:n].transpose(1, 2).contiguous()  # [P, 100, F]


# -- the embedder ---------------------------------------------------------------------------------------------------

class SFXEmbedder:
    """aiSFX sound-effects embedding (512-d, L2-normalised) of a clip: the mean of its patch embeddings.

    ``peak_normalise=True`` (default) scales each clip to a peak of 1 first, so the judge ignores level (the
    log compression is not scale invariant); ``False`` feeds the samples as they are, which is what the package's
    Essentia pipeline does with a file. Same interface as :class:`avgen.metrics.audio.TimbreEmbedder`."""

    def __init__(self, *, device=None, peak_normalise: bool = True, weights: str | os.PathLike | None = None,
                 batch_size: int = 32):
        self.weights = os.fspath(weights) if weights is not None else aisfx_weights_file()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = AISFXEmbeddingNet()
        self.net.load_state_dict(load_aisfx_state_dict(self.weights))
        self.net.eval().to(self.device)
        self.peak_normalise = peak_normalise
        self.batch_size = batch_size
        self.sample_rate = SAMPLE_RATE

    def _mono(self, wav, sample_rate: int) -> np.ndarray:
        x = np.asarray(wav.detach().cpu().numpy() if torch.is_tensor(wav) else wav, np.float64)
        if x.ndim not in (1, 2) or x.size == 0:
            raise AvgenError(f"aiSFX embedding: expected a waveform [N] or [C, N], got shape {tuple(x.shape)}")
        require_finite(x, "aiSFX embedding input")
        x = x.reshape(1, -1) if x.ndim == 1 else x
        x = x.mean(0, keepdims=True)  # [1, N] down-mix, as the package's loader does
        if int(sample_rate) != self.sample_rate:
            x = resample(x.astype(np.float32), int(sample_rate), self.sample_rate).astype(np.float64)
        x = x[0]
        if self.peak_normalise:
            peak = np.abs(x).max()
            x = x / peak if peak > 0 else x
        return x

    @torch.no_grad()
    def embed_patches(self, wav, sample_rate: int) -> np.ndarray:
        """``[P, 512]`` patch embeddings (not normalised), as the package returns them."""
        patches = sfx_patches(sfx_log_mel(self._mono(wav, sample_rate)))  # [P, 100, 96]
        out = [self.net(patches[i:i + self.batch_size].to(self.device)).cpu()
               for i in range(0, len(patches), self.batch_size)]
        return torch.cat(out).double().numpy()

    def embed(self, wav, sample_rate: int) -> np.ndarray:
        """512-d L2-normalised embedding of one waveform ``[N]`` or ``[C, N]`` (channels are averaged)."""
        e = self.embed_patches(wav, sample_rate).mean(0)
        return e / max(float(np.linalg.norm(e)), 1e-12)

    def profile(self) -> dict:
        from importlib import metadata

        try:
            version = metadata.version("aisfx")
        except metadata.PackageNotFoundError:
            version = None
        return {"network": "aiSFX X-Sequential-CE embedding CNN (ISMIR 2022)", "version": version,
                "weights_sha256": file_sha256(self.weights), "sample_rate": self.sample_rate,
                "preprocess": "peak-normalised to 1" if self.peak_normalise else "samples as given",
                "features": "2048/1024 centred symmetric-Hann power STFT, 96 HTK mel (unit-sum, 0-22050 Hz), "
                            "log10(1e4 x + 1) / 9.4578",
                "embedding": "patches of 100 frames every 50 (partial dropped), 512-d each, mean, L2-normalised"}
