"""Reader for the SpecVQGAN/RegNet feature layout used for VAS and VGGSound.

    <root>/melspec_10s_22050hz/<clip>_mel.npy                 [80, 860] in [0, 1]
    <root>/feature_resnet50_dim2048_21.5fps/<clip>.pkl        [215, 2048] (numpy pickle)
    <root>/feature_rgb_bninception_dim1024_21.5fps/<clip>.pkl (VAS/VGGSound BN-Inception variant)

:func:`public_pipeline_audio` reproduces the audio chain those mels were made from, for comparing new clips with
the stored ones.

VAS keeps one such root per class (``vas/features/<class>/...``): pass several roots, or the parent folder with
``per_class=True``; the class folder name becomes the label. A split file lists clip ids, one per line.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from ..encoders.feature_files import load_feature_file
from ..errors import AvgenError
from ..media import ffmpeg_resample, lossy_roundtrip, read_audio
from ..utils import require_finite

__all__ = ["SpecVQGANFeatureDataset", "public_pipeline_audio"]


class SpecVQGANFeatureDataset(Dataset):
    """Items: ``{"id", "label", "features": float32 [T, D], "mel": float32 [80, T_mel]}``.

    Args:
        roots: one root folder or several (VAS: one per class).
        feature_dir / mel_dir: sub-folder names.
        split: a split file (clip ids, one per line) or an explicit list of ids; None = every clip that has both.
        per_class: treat each sub-folder of each root as a class root.
        feature_frames / mel_frames: cut or edge-pad to these lengths (the public clips are 215 and 860).
    """

    def __init__(
        self,
        roots: str | os.PathLike | list,
        *,
        feature_dir: str = "feature_resnet50_dim2048_21.5fps",
        mel_dir: str = "melspec_10s_22050hz",
        split: str | os.PathLike | list[str] | None = None,
        per_class: bool = False,
        feature_frames: int | None = 215,
        mel_frames: int | None = 860,
    ):
        roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if per_class:
            roots = [os.path.join(r, d) for r in roots for d in sorted(os.listdir(r))
                     if os.path.isdir(os.path.join(r, d, mel_dir))]
        wanted = _read_split(split)
        self.items: list[tuple[str, str | None, str, str]] = []
        for root in map(os.fspath, roots):
            fdir, mdir = os.path.join(root, feature_dir), os.path.join(root, mel_dir)
            if not os.path.isdir(fdir) or not os.path.isdir(mdir):
                raise AvgenError(f"{root}: expected sub-folders '{feature_dir}' and '{mel_dir}'")
            label = os.path.basename(os.path.normpath(root)) if per_class else None
            feats = {os.path.splitext(n)[0]: n for n in os.listdir(fdir)}
            for name in sorted(os.listdir(mdir)):
                if not name.endswith("_mel.npy"):
                    continue
                clip = name[: -len("_mel.npy")]
                if clip in feats and (wanted is None or clip in wanted):
                    self.items.append((clip, label, os.path.join(fdir, feats[clip]), os.path.join(mdir, name)))
        if not self.items:
            raise AvgenError(f"no clips with both features and mels under {', '.join(map(str, roots))}")
        self.feature_frames, self.mel_frames = feature_frames, mel_frames

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        clip, label, fpath, mpath = self.items[index]
        feats = _fit(load_feature_file(fpath).astype(np.float32), self.feature_frames, axis=0)
        mel = _fit(_load_mel(mpath), self.mel_frames, axis=1)
        return {"id": clip, "label": label, "features": torch.from_numpy(feats), "mel": torch.from_numpy(mel)}


def _load_mel(path: str) -> np.ndarray:
    """A stored mel ``[n_mels, T]`` as float32; a broken, non-numeric or non-finite file is an
    :class:`AvgenError` naming it (and the first bad frame), never a NaN in a training batch."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise AvgenError(f"{path}: not a readable .npy mel ({e})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu" or arr.ndim != 2:
        raise AvgenError(f"{path}: expected a numeric mel [n_mels, T], got {getattr(arr, 'dtype', type(arr))} "
                         f"{getattr(arr, 'shape', '')}")
    require_finite(arr, path, unit="mel frame")
    return arr.astype(np.float32)


def _read_split(split) -> set[str] | None:
    if split is None:
        return None
    if isinstance(split, (list, tuple, set)):
        return set(split)
    with open(split) as f:
        return {line.strip() for line in f if line.strip()}


def _fit(arr: np.ndarray, length: int | None, axis: int) -> np.ndarray:
    """Cut, or repeat the last frame, so ``arr.shape[axis] == length``."""
    if length is None:
        return arr
    n = arr.shape[axis]
    if n >= length:
        return np.take(arr, range(length), axis=axis)
    pad = [(0, 0)] * arr.ndim
    pad[axis] = (0, length - n)
    return np.pad(arr, pad, mode="edge")


def public_pipeline_audio(path: str | os.PathLike, *, seconds: float | None = 10.0, sample_rate: int = 22050,
                          bit_rate: int = 98_000, aac_coder: str = "fast") -> tuple[np.ndarray, int]:
    """The audio of a video as the public RegNet/SpecVQGAN preprocessing (``extract_audio_and_video.py``) hands it
    to the mel step, so that mels of new clips compare with the stored ``melspec_10s_22050hz`` files.

    That script never reads the original track directly. It re-encodes the clip (``-c:a aac -b:a 98k``), loops it
    to at least ``seconds`` (``-stream_loop``), cuts it to ``seconds`` with a second AAC 98 kbit/s re-encode,
    extracts 16-bit PCM and converts with ``-ac 1 -ar 22050``. The two lossy encodes are what makes stereo tracks
    (49 kbit/s per channel) differ from a direct decode. FFmpeg 4.x, current when the public features were made,
    encoded AAC with the ``fast`` coder by default (later releases use ``twoloop``), hence ``aac_coder``.
    ``seconds=None`` skips the loop and cut.

    Returns ``(waveform float32 [1, N], sample_rate)``. Not bit-exact (today's FFmpeg encoder is not 4.x's); see
    docs/data.md for the measured agreement.
    """

    wav, sr = read_audio(path, mono=False)  # [C, N] at the native rate
    opts = {"aac_coder": aac_coder}
    wav = lossy_roundtrip(wav, sr, bit_rate=bit_rate, options=opts)  # videos_algin/: first re-encode
    if seconds is not None:
        n = round(seconds * sr)
        if wav.shape[1] < n:  # videos_repeat/: -stream_loop (the clip played whole times over)
            wav = np.tile(wav, (1, -(-n // wav.shape[1])))
        wav = lossy_roundtrip(wav[:, :n], sr, bit_rate=bit_rate, options=opts)  # videos_10s/: cut + re-encode
    return ffmpeg_resample(wav, sr, sample_rate, layout="mono"), sample_rate  # audio_10s_22050hz/: -ac 1 -ar
