"""Pixel motion: when the picture changes, straight from the frames, beside the appearance features.

Appearance features (EfficientNet-Lite0, CLIP) say what is in view; a sound event is a change, and those features
carry its timing weakly on footage unlike the training renders (``tools/v2s_timing_probe.py``: a small probe fitted
on the training clips finds 0.41 of the unseen-recording events and 0.34 of the held-out renderer's from the
features, 0.82 and 0.46 from this representation; docs/varietysound.md). Per frame, 32 numbers:

* the mean absolute grey-level difference to the previous frame in each cell of a 4x4 grid, divided by 10
  (``d_t``, 16 values; the first frame of a stream has ``d_0 = 0``);
* its rise ``d_t - d_{t-1}`` (16 values, signed).

Frames are first reduced by block averaging with the integer factor that brings their shorter side nearest to 64
pixels (256 -> 64, 224 -> 74, 720 -> 65), so the figures hardly depend on the resolution a video is decoded at:
``avgen prepare`` and ``avgen v2s`` compute them from the frames their visual encoder gets (the decoder's output
at the encoder's resize side), at the feature rate, so cached and inference motion are the same.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PIXEL_MOTION_DIM", "PIXEL_MOTION_SETTINGS", "PixelMotion", "pixel_motion"]

GRID = 4  # cells per side
SIDE = 64  # target shorter side of the block-averaged frames
SCALE = 10.0  # grey levels per unit
PIXEL_MOTION_DIM = 2 * GRID * GRID
# what a cache records (part of its settings, hence of every item's key): a change here changes the numbers
PIXEL_MOTION_SETTINGS = {"name": "pixel-grid", "grid": GRID, "side": SIDE, "scale": SCALE, "version": 1}


class PixelMotion:
    """Streaming pixel motion: :meth:`push` uint8 frame batches ``[b, H, W, 3]`` of one video in order, get
    float32 ``[b, 32]`` for each; the result is the same however the video is cut into batches."""

    def __init__(self):
        self._grey: np.ndarray | None = None  # last block-averaged grey frame [h, w]
        self._cells: np.ndarray | None = None  # last cell differences d_{t-1} [16]

    def push(self, frames) -> np.ndarray:
        f = np.asarray(frames)
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"pixel motion takes uint8 frames [b, H, W, 3], got {f.dtype} {f.shape}")
        b, h, w, _ = f.shape
        if b == 0:
            return np.zeros((0, PIXEL_MOTION_DIM), np.float32)
        k = max(1, round(min(h, w) / SIDE))  # block-averaging factor
        rows, cols = h // k // GRID * GRID, w // k // GRID * GRID  # reduced size, whole cells
        if rows == 0 or cols == 0:
            raise ValueError(f"pixel motion: frames of {h}x{w} are smaller than its {GRID}x{GRID} grid")
        crop = f[:, : rows * k, : cols * k]
        grey = crop[..., 0].astype(np.float32)  # channel by channel: no float copy of all three
        grey += crop[..., 1]
        grey += crop[..., 2]
        grey = grey.reshape(b, rows, k, cols, k).mean((2, 4)) / 3.0  # [b, rows, cols]
        if self._grey is not None and self._grey.shape != grey.shape[1:]:
            raise ValueError(f"pixel motion: frame size changed from {self._grey.shape} to {grey.shape[1:]} "
                             "within one video")
        first = self._grey[None] if self._grey is not None else grey[:1]  # the frame before this batch's first
        prev = np.concatenate([first, grey[:-1]])
        diff = np.abs(grey - prev)  # [b, rows, cols]
        cells = diff.reshape(b, GRID, rows // GRID, GRID, cols // GRID).mean((2, 4)).reshape(b, GRID * GRID) / SCALE
        last = self._cells if self._cells is not None else cells[:1]
        rise = cells - np.concatenate([last, cells[:-1]])  # [b, 16]
        self._grey, self._cells = grey[-1], cells[-1:]
        return np.concatenate([cells, rise], 1).astype(np.float32)  # [b, 32]


def pixel_motion(frames) -> np.ndarray:
    """Pixel motion ``[T, 32]`` float32 of a whole uint8 frame array ``[T, H, W, 3]`` (see the module docstring)."""
    return PixelMotion().push(frames)
