"""The visual feature path: video files and frame arrays -> the backbone's input.

Video files (``avgen prepare`` and ``avgen v2s`` alike) go through :func:`iter_frame_batches`: FFmpeg's scaler
(swscale, bilinear, the decoder's YUV straight to RGB) brings every frame to the encoder's resize side as it is
decoded (``avgen.media.iter_video`` with ``size=``), at the same nearest-frame fps resampling, and the frames come
out in uint8 batches. No full-resolution RGB frame is ever made, memory follows the batch, and a frame already at
the resize side passes :meth:`VisualEncoder.preprocess`'s resize unchanged (only the centre crop and the
normalisation act), so the features ``avgen v2s`` computes are the prepared cache's, which is what every model
trained through ``avgen prepare`` + ``avgen train`` (the bundled ones included) has seen.

uint8 frame arrays have no decoder to resize them: :meth:`VisualEncoder.encode_stream` resizes them with torch's
antialiased ``F.interpolate`` (:meth:`VisualEncoder.preprocess`), a few frames at a time, or per frame with
:class:`FrameResizer` when one frame alone is over the memory budget (4K). Over the first 24 frames (21.5 fps) of
a 1280x720 VGGSound clip that resize moves EfficientNet-Lite0 features by up to 0.30 from the decoder path's (0.14
on a 480x360 clip; 0.41 over all 215 frames of the 720p one); FFmpeg's scaler applied to the RGB array
(``av.VideoFrame.from_ndarray(...).reformat``) is further off (0.38 / 0.18), because the decoder path scales the
YUV planes before the colour conversion. Arrays decoded at the resize side already
(``avgen.media.read_video(path, fps=..., size=256)``) get the file path's features (within 1e-5, tested).

:class:`FrameResizer` computes exactly what :meth:`VisualEncoder.preprocess` computes (shorter side to ``resize``
with torch's antialiased ``F.interpolate``, centre crop, normalise) but per frame, straight from a uint8
``[H, W, 3]`` array, and only for the pixels the crop keeps: no float copy of the full-resolution frame. The filter
taps are taken from ``F.interpolate`` itself (it is separable, so the weights of one axis are those it gives a
one-pixel-wide image), so the result equals the batched resize up to float rounding (the sums run in another
order; tests/test_feature_path.py).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import warnings
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = ["FrameResizer", "iter_frame_batches"]


def iter_frame_batches(path: str | os.PathLike, *, fps: float, resize: int, batch_size: int = 32,
                       max_frames: int | None = None, prefetch: int = 0) -> Iterator[np.ndarray]:
    """The frames of a video file as the visual encoders take them: uint8 batches ``[b, h, w, 3]`` (``b`` =
    ``batch_size``, the last one shorter) at ``fps`` (output frame ``i`` is the source frame nearest to ``i / fps``,
    as :func:`avgen.media.read_video`), the shorter side scaled to ``resize`` by FFmpeg's scaler while decoding.

    ``avgen prepare`` (its cache) and ``avgen v2s`` (:meth:`VisualEncoder.video_batches`) both read videos here, so
    their features are the same. ``prefetch``: batches decoded ahead in a thread, so decoding and scaling overlap
    the caller's backbone (``avgen v2s``); 0 (default; ``avgen prepare``'s one-core workers) decodes in the
    caller's thread. The frames are the same either way. Memory:
    ``1 + prefetch`` batches plus the decoder's frames, whatever the video's length or resolution. Media errors
    are raised as :func:`avgen.media.iter_video` raises them."""
    from ..media import iter_video

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if prefetch < 0:
        raise ConfigError(f"prefetch must be 0 or more, got {prefetch}")
    frames = iter_video(path, fps=fps, size=int(resize), max_frames=max_frames)  # checks fps and max_frames
    batches = _batched(frames, batch_size)
    return batches if prefetch == 0 else _ahead(batches, prefetch)


def _batched(frames: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Frames ``[h, w, 3]`` -> stacked batches ``[b, h, w, 3]``, each a new array (a prefetching reader still
    holds the previous one)."""
    buf, n = None, 0
    for frame in frames:
        if buf is None:
            buf = np.empty((batch_size, *frame.shape), frame.dtype)
        buf[n] = frame
        n += 1
        if n == batch_size:
            yield buf
            buf, n = None, 0
    if n:
        yield buf[:n]


_DONE = object()


def _ahead(items: Iterator, depth: int) -> Iterator:
    """``items`` produced in a background thread, at most ``depth`` of them waiting; its exceptions are raised
    here, and closing this generator early stops the thread (which closes ``items``, e.g. the container)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            put((False, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="avgen-frame-decoder", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _axis_taps(n_in: int, n_out: int, start: int, count: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Input indices and weights ``[count, K]`` of output samples ``start .. start + count`` when ``F.interpolate``
    (``mode``, antialiased) resizes an axis of ``n_in`` samples to ``n_out``; unused taps have weight 0.

    The weights are read off ``F.interpolate`` itself: comb images with a one every ``period`` samples (further
    apart than a filter window is wide, so each output sees at most one of them) give, at each output, exactly the
    weight of the one input the window holds."""
    scale = n_in / n_out
    support = (2.0 if mode == "bicubic" else 1.0) * max(scale, 1.0)  # filter half-width in input samples
    period = min(n_in, 2 * math.ceil(support) + 4)
    combs = torch.zeros(period, 1, 1, n_in)
    for t in range(period):
        combs[t, 0, 0, t::period] = 1.0
    resp = F.interpolate(combs, size=(1, n_out), mode=mode, align_corners=False, antialias=True)[:, 0, 0]  # [P, n_out]
    resp = resp[:, start:start + count]  # [P, count]
    centre = scale * (torch.arange(start, start + count, dtype=torch.float64) + 0.5) - 0.5  # [count]
    phase = torch.arange(period, dtype=torch.float64)[:, None]  # [P, 1]
    src = (phase + period * torch.round((centre[None] - phase) / period)).long()  # [P, count]: the tooth in the window
    nz = resp != 0
    k = max(1, int(nz.sum(0).max()))
    key = torch.where(nz, src, torch.iinfo(torch.long).max)  # unused combs sort last
    order = torch.argsort(key, dim=0)[:k]  # [K, count]
    taps = nz.gather(0, order)
    idx = torch.where(taps, src.gather(0, order), src.gather(0, order[:1])).clamp(0, n_in - 1).T.contiguous()
    w = torch.where(taps, resp.gather(0, order), torch.zeros(())).T.contiguous()  # [count, K]
    return idx, w


class FrameResizer:
    """uint8 frames ``[H, W, 3]`` of one size -> the backbone's normalised input as ``[crop, crop, 3]`` float32
    (HWC, so a stack of them viewed ``permute(0, 3, 1, 2)`` is a ``channels_last`` batch).

    ``resize`` (shorter side), ``crop``, ``mean``/``std`` (in [0, 1] pixel units) and ``interpolation`` are those
    of the encoder's preprocessing; the output equals :meth:`VisualEncoder.preprocess` of the same frame."""

    def __init__(self, height: int, width: int, *, resize: int, crop: int, mean, std, interpolation: str = "bilinear"):
        self.height, self.width, self.crop = int(height), int(width), int(crop)
        s = resize / min(height, width)
        nh, nw = max(crop, round(height * s)), max(crop, round(width * s))
        top, left = (nh - crop) // 2, (nw - crop) // 2
        rows, row_w = _axis_taps(height, nh, top, crop, interpolation)  # [crop, Kh]
        cols, col_w = _axis_taps(width, nw, left, crop, interpolation)  # [crop, Kw]
        # only the columns some tap reads are converted and filtered
        self.c0, self.c1 = int(cols.min()), int(cols.max()) + 1
        self.taps = (rows.shape[1], cols.shape[1])
        # the two passes as sparse matrices (a few taps per output sample): [crop, H] and [crop, Wc]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch calls its CSR support beta; mm with a dense matrix is stable
            self._rows = _sparse(rows, row_w, height)
            self._cols = _sparse(cols - self.c0, col_w, self.c1 - self.c0)
        self._mean, self._std = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)

    def __call__(self, frame, out: torch.Tensor | None = None) -> torch.Tensor:
        """One frame (numpy or tensor, uint8 ``[H, W, 3]``) -> ``[crop, crop, 3]`` float32, written into ``out`` when
        given (e.g. one item of a batch buffer)."""
        x = torch.as_tensor(np.asarray(frame) if not torch.is_tensor(frame) else frame)
        if tuple(x.shape) != (self.height, self.width, 3):
            raise ValueError(f"frame is {tuple(x.shape)}, this resizer takes [{self.height}, {self.width}, 3]")
        wc = self.c1 - self.c0
        xf = x[:, self.c0:self.c1].to(torch.float32).reshape(self.height, wc * 3)  # [H, Wc * 3]
        v = (self._rows @ xf).view(self.crop, wc, 3)  # vertical pass: [crop, Wc, 3]
        vt = v.transpose(0, 1).reshape(wc, self.crop * 3)  # [Wc, crop * 3]
        h = (self._cols @ vt).view(self.crop, self.crop, 3).transpose(0, 1)  # horizontal pass: [crop, crop, 3]
        # the reference divides by 255 before resizing and normalises after: the same steps keep rounding close
        if out is None:
            out = torch.empty(self.crop, self.crop, 3)
        return torch.div(h, 255.0, out=out).sub_(self._mean).div_(self._std)


def _sparse(idx: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    """Taps ``[m, K]`` (indices, weights) -> a CSR matrix ``[m, n]``."""
    dense = torch.zeros(idx.shape[0], n)
    dense.scatter_add_(1, idx, w)
    return dense.to_sparse_csr()
