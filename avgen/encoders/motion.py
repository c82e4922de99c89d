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

Two kinds (``avgen prepare --motion``; a cache's ``settings.json`` and a trained pipeline's ``config.json`` record
which, and inference computes the one its model was trained on):

* ``pixel-grid``: the difference to the previous frame as it is;
* ``pixel-grid-stabilised``: the previous frame is first moved by the global translation that best explains the
  current one (a whole-pixel search within ±4 px of the reduced frame, mean absolute difference over the interior,
  then a sub-pixel parabola fit per axis, bilinear resampling), and a border of 4 px is left out, so a camera pan or
  shake is not taken for an event. On the seed-0 foley benchmark (the ``tools/v2s_timing_probe.py`` probe fitted
  on 600 training clips, mean of 3 probe seeds) it raised the held-out renderer's onset recall from 0.47 to 0.56,
  cut its median error from 55 to 41 ms and its unmatched onsets from 2.1 to 1.1 per clip, and unseen recordings
  went from 0.87 to 0.90 (docs/varietysound.md, "Stabilised pixel motion"). It costs about 2 ms more per frame on
  one loaded CPU core (0.45 s for a 10 s clip at 21.5 fps).
* ``pixel-grid-local``: the stabilised kind with three more steps against what moves the whole picture without a
  sound: both frames are blurred (3x3 binomial), the previous frame is scaled to the current one's mean grey level (a
  lighting change) before the search and again after the move, and each cell's difference is taken relative to the
  median cell's (``d_t`` minus its median over the 16 cells, so it can be negative; the rise is of these values).
* ``pixel-flow-local``: the local kind's 32 numbers and, per cell, the velocity of what moves in it (32 more: ``vx,
  vy`` in pixels of the reduced frame per frame, y growing downward, x then y for each cell). Each velocity is one
  Lucas-Kanade step over the cell (Lucas & Kanade 1981): the least-squares ``v`` of ``I_x v_x + I_y v_y + I_t = 0``
  on the blurred, stabilised, level-matched pair, with :data:`FLOW_DAMPING` added to the normal matrix's diagonal
  so a flat cell reads as still. A frame difference is about as large just before and after a contact; the velocity
  reverses there (a bounce) or stops (a drop), so the contact is in the input whatever kind of event makes it. On
  the seed-0 foley benchmark's probe (``tools/v2s_timing_probe.py``, 3 seeds) it found 0.71-0.75 of the held-out
  renderer's events against 0.63-0.67 for the local kind, with 25 ms median error against 32
  (docs/varietysound.md, "Velocity").
"""

from __future__ import annotations

import numpy as np

__all__ = ["MOTION_KINDS", "PIXEL_MOTION_DIM", "PIXEL_MOTION_SETTINGS", "PixelMotion", "motion_dim", "motion_settings",
           "pixel_motion"]

GRID = 4  # cells per side
SIDE = 64  # target shorter side of the block-averaged frames
SCALE = 10.0  # grey levels per unit
RADIUS = 4  # stabilised kind: the largest global move per frame it follows, in pixels of the reduced frame
FLOW_DAMPING = 50.0  # pixel-flow-local: added to the 2x2 normal matrix (sums of squared grey-level gradients per cell)
PIXEL_MOTION_DIM = 2 * GRID * GRID  # the grid kinds' width; pixel-flow-local has twice as many (motion_dim)
# what a cache records (part of its settings, hence of every item's key): a change here changes the numbers
PIXEL_MOTION_SETTINGS = {"name": "pixel-grid", "grid": GRID, "side": SIDE, "scale": SCALE, "version": 1}
MOTION_KINDS = ("pixel-grid", "pixel-grid-stabilised", "pixel-grid-local", "pixel-flow-local")
_LOCAL_KINDS = ("pixel-grid-local", "pixel-flow-local")  # blurred, level-matched, relative to the median cell


def motion_dim(kind: str = "pixel-grid") -> int:
    """Numbers per frame of a motion kind: 32, or 64 for ``pixel-flow-local`` (its velocities)."""
    motion_settings(kind)  # refuses an unknown kind
    return 2 * PIXEL_MOTION_DIM if kind == "pixel-flow-local" else PIXEL_MOTION_DIM


def motion_settings(kind: str = "pixel-grid") -> dict:
    """The settings a cache and a pipeline record for a motion kind (:data:`MOTION_KINDS`)."""
    if kind == "pixel-grid":
        return dict(PIXEL_MOTION_SETTINGS)
    if kind == "pixel-grid-stabilised":
        return {**PIXEL_MOTION_SETTINGS, "name": kind, "radius": RADIUS, "refine": "parabola"}
    if kind in _LOCAL_KINDS:
        local = {**PIXEL_MOTION_SETTINGS, "name": kind, "radius": RADIUS, "refine": "parabola", "blur": "binomial3",
                 "gain": "mean", "relative": "median-cell"}
        return local if kind == "pixel-grid-local" else {**local, "flow": "lucas-kanade-cell",
                                                          "damping": FLOW_DAMPING}
    raise ValueError(f"unknown motion kind {kind!r} (known: {', '.join(MOTION_KINDS)})")


def _global_shift(prev: np.ndarray, cur: np.ndarray, r: int) -> tuple[float, float]:
    """(dy, dx) with ``cur[y, x] ~ prev[y + dy, x + dx]``: the whole-pixel offset in [-r, r]^2 of least mean
    absolute difference over the interior (a border of r left out), refined per axis by a parabola through the
    minimum and its two neighbours (clipped to +-0.5); a tie with no move is no move."""
    h, w = cur.shape
    inner = cur[r:h - r, r:w - r]
    windows = np.lib.stride_tricks.sliding_window_view(prev, inner.shape)  # [2r+1, 2r+1, h-2r, w-2r]
    cost = np.abs(windows - inner).mean((2, 3))  # cost[dy + r, dx + r]
    if cost[r, r] <= 1e-9:  # the same picture (a repeated frame): no move, not a sub-pixel guess
        return 0.0, 0.0
    if cost[r, r] <= cost.min() + 1e-6:  # ties (a flat picture) go to no move
        iy, ix = r, r
    else:
        iy, ix = np.unravel_index(int(np.argmin(cost)), cost.shape)

    def vertex(before: float, at: float, after: float) -> float:
        curvature = before - 2 * at + after
        return 0.0 if curvature <= 1e-9 else float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))

    dy = iy - r + (vertex(cost[iy - 1, ix], cost[iy, ix], cost[iy + 1, ix]) if 0 < iy < 2 * r else 0.0)
    dx = ix - r + (vertex(cost[iy, ix - 1], cost[iy, ix], cost[iy, ix + 1]) if 0 < ix < 2 * r else 0.0)
    return float(dy), float(dx)


def _blurred(img: np.ndarray) -> np.ndarray:
    """3x3 binomial blur ([1, 2, 1] / 4 per axis), edges clamped: sensor noise and compression blocks average out
    before frames are compared."""
    p = np.pad(img, 1, mode="edge")
    rows = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]  # [h, w + 2]
    return (0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]).astype(np.float32)


def _level_matched(img: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``img`` scaled to ``target``'s mean grey level; a frame darker than one grey level on average is left as it
    is (no gain from black)."""
    level = float(img.mean())
    return img if level <= 1.0 else img * np.float32(float(target.mean()) / level)


def _shifted(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``out[y, x] = img[y + dy, x + dx]``, bilinear, edges clamped."""
    h, w = img.shape
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - iy, dx - ix
    ys, xs = np.clip(np.arange(h) + iy, 0, h - 1), np.clip(np.arange(w) + ix, 0, w - 1)
    ys1, xs1 = np.minimum(ys + 1, h - 1), np.minimum(xs + 1, w - 1)
    top = (1 - fx) * img[ys][:, xs] + fx * img[ys][:, xs1]
    bottom = (1 - fx) * img[ys1][:, xs] + fx * img[ys1][:, xs1]
    return ((1 - fy) * top + fy * bottom).astype(np.float32)


def _cell_velocity(cur: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """``[16, 2]`` (vx, vy) per grid cell from a stabilised pair of the same size: one damped Lucas-Kanade step per
    cell, ``(A + damping I) v = -b`` with ``A = sum [Ix Ix, Ix Iy; Ix Iy, Iy Iy]`` and ``b = sum [Ix It, Iy It]``,
    gradients of the pair's mean, ``It = cur - moved``."""
    iy, ix = np.gradient(0.5 * (cur + moved))
    it = cur - moved
    h, w = cur.shape
    ch, cw = h // GRID, w // GRID

    def cells(a: np.ndarray) -> np.ndarray:  # sums over each cell [16]
        return a[:ch * GRID, :cw * GRID].reshape(GRID, ch, GRID, cw).sum((1, 3)).reshape(-1)

    sxx, syy, sxy = cells(ix * ix) + FLOW_DAMPING, cells(iy * iy) + FLOW_DAMPING, cells(ix * iy)
    bx, by = -cells(ix * it), -cells(iy * it)
    det = sxx * syy - sxy * sxy  # > 0: the damping makes the matrix positive definite
    return np.stack([(syy * bx - sxy * by) / det, (sxx * by - sxy * bx) / det], 1).astype(np.float32)


class PixelMotion:
    """Streaming pixel motion: :meth:`push` uint8 frame batches ``[b, H, W, 3]`` of one video in order, get
    float32 ``[b, 32]`` for each; the result is the same however the video is cut into batches.

    Args:
        kind: ``"pixel-grid"``, ``"pixel-grid-stabilised"``, ``"pixel-grid-local"`` or ``"pixel-flow-local"``
            (:data:`MOTION_KINDS`, the module docstring); :attr:`dim` numbers per frame.
    """

    def __init__(self, kind: str = "pixel-grid"):
        self.dim = motion_dim(kind)  # refuses an unknown kind
        self.kind = kind
        self._grey: np.ndarray | None = None  # last block-averaged grey frame [h, w]
        self._cells: np.ndarray | None = None  # last cell differences d_{t-1} [16]

    @classmethod
    def from_settings(cls, settings: dict | None) -> "PixelMotion":
        """The motion a cache's or pipeline's recorded settings describe (None: ``pixel-grid``, what caches and
        pipelines made before the kinds computed); settings this code does not compute exactly are refused."""
        kind = "pixel-grid" if settings is None else settings.get("name")
        if kind not in MOTION_KINDS or (settings is not None and dict(settings) != motion_settings(kind)):
            raise ValueError(f"motion settings {settings!r} are not ones this version computes "
                             f"({' or '.join(repr(motion_settings(k)) for k in MOTION_KINDS)})")
        return cls(kind)

    def _differences(self, grey: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``|grey - prev|`` per frame ``[b, rows, cols]``; stabilised: each previous frame moved onto its
        successor first, and the border the move can uncover set to 0. Second: ``pixel-flow-local``'s cell
        velocities ``[b, 16, 2]`` (else None)."""
        if self.kind == "pixel-grid":
            return np.abs(grey - prev), None
        flow = self.kind == "pixel-flow-local"
        b, h, w = grey.shape
        velocity = np.zeros((b, GRID * GRID, 2), np.float32) if flow else None
        local = self.kind in _LOCAL_KINDS
        r = min(RADIUS, (min(h, w) - GRID) // 2)  # tiny frames: a smaller search, none below the grid's size
        if r <= 0:
            return np.abs(grey - prev), velocity
        out = np.zeros_like(grey)
        for i in range(b):  # one search per frame pair (81 offsets of a ~64-px frame)
            cur, before = (_blurred(grey[i]), _blurred(prev[i])) if local else (grey[i], prev[i])
            if local:  # a global lighting change is not an event: levels matched before the search and after the move
                before = _level_matched(before, cur)
            dy, dx = _global_shift(before, cur, r)
            moved = (_shifted(before, dy, dx) if (dy or dx) else before)[r:h - r, r:w - r]
            cur = cur[r:h - r, r:w - r]
            if local:
                moved = _level_matched(moved, cur)
            out[i, r:h - r, r:w - r] = np.abs(cur - moved)
            if flow:
                velocity[i] = _cell_velocity(cur, moved)
        return out, velocity

    def push(self, frames) -> np.ndarray:
        f = np.asarray(frames)
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"pixel motion takes uint8 frames [b, H, W, 3], got {f.dtype} {f.shape}")
        b, h, w, _ = f.shape
        if b == 0:
            return np.zeros((0, self.dim), np.float32)
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
        diff, velocity = self._differences(grey, prev)  # [b, rows, cols], [b, 16, 2] or None
        cells = diff.reshape(b, GRID, rows // GRID, GRID, cols // GRID).mean((2, 4)).reshape(b, GRID * GRID) / SCALE
        if self.kind in _LOCAL_KINDS:  # each cell against the typical one: what changes all over is not local
            cells = cells - np.median(cells, axis=1, keepdims=True)
        last = self._cells if self._cells is not None else cells[:1]
        rise = cells - np.concatenate([last, cells[:-1]])  # [b, 16]
        self._grey, self._cells = grey[-1], cells[-1:]
        parts = [cells, rise] if velocity is None else [cells, rise, velocity.reshape(b, -1)]
        return np.concatenate(parts, 1).astype(np.float32)  # [b, 32] ([b, 64] with velocities)


def pixel_motion(frames, kind: str = "pixel-grid") -> np.ndarray:
    """Pixel motion ``[T, 32]`` (``[T, 64]`` for ``pixel-flow-local``) float32 of a whole uint8 frame array
    ``[T, H, W, 3]`` (see the module docstring)."""
    return PixelMotion(kind).push(frames)
