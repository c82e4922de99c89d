"""Filtered leaky ReLU of StyleGAN3 (alias-free nonlinearity, Karras et al. 2021, Sec. 3.2 and App. D):
bias -> upsample by ``up`` with FIR ``fu`` -> leaky ReLU * gain, clamp -> FIR ``fd`` and downsample by ``down``.

Running the nonlinearity at a temporarily higher sampling rate keeps the harmonics it creates below the output
Nyquist frequency. The CUDA path chains the compiled upfirdn2d and bias_act kernels (not a single fused kernel), so
its gradients are those of the two ops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._plugin import use_cuda
from .bias_act import bias_act
from .fast_cpu import cpu_inference
from .upfirdn2d import filter_size, parse_padding, upfirdn2d

__all__ = ["filtered_lrelu"]


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, *, up: int = 1, down: int = 1, padding=0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                   flip_filter: bool = False, impl: str | None = None) -> torch.Tensor:
    """``downsample(clamp(lrelu(upsample(x + b)) * gain))`` for ``x`` [N, C, H, W].

    ``padding`` ([x0, x1, y0, y1] or int) is applied to the upsampled image before ``fu``. Output width:
    ``(W * up + x0 + x1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down`` (same for height).
    """
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"filtered_lrelu: up and down must be positive ints, got {up!r}, {down!r}")
    if gain <= 0 or slope < 0 or (clamp is not None and clamp < 0):
        raise ValueError("filtered_lrelu: gain must be > 0, slope >= 0 and clamp None or >= 0")
    px0, px1, py0, py1 = parse_padding(padding)
    fu_w, fu_h = filter_size(fu)
    fd_w, fd_h = filter_size(fd)
    n, c, h, w = x.shape
    out_w = (w * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (h * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down

    x = bias_act(x, b, impl=impl)  # bias at the input rate
    # lrelu(z) * gain = lrelu(z * gain) for gain > 0: the reference path folds the gain into the upsampling filter,
    # which saves a pass over the largest tensor (the CUDA path keeps the two ops as they are)
    fold = 1.0 if use_cuda(x, impl) else gain
    x = upfirdn2d(x, fu, up=up, padding=[px0, px1, py0, py1], gain=up ** 2 * fold, flip_filter=flip_filter,
                  impl=impl)
    if fold == gain and cpu_inference(x):  # x is upfirdn2d's new tensor: lrelu and clamp in place (no copies)
        if slope != 1:
            F.leaky_relu_(x, slope)
        if clamp is not None:
            x.clamp_(-clamp, clamp)
    else:
        x = bias_act(x, act="lrelu", alpha=slope, gain=gain / fold, clamp=clamp, impl=impl)  # at the high rate
    x = upfirdn2d(x, fd, down=down, flip_filter=flip_filter, impl=impl)
    if tuple(x.shape[2:]) != (out_h, out_w):
        raise RuntimeError(f"filtered_lrelu: produced {tuple(x.shape[2:])}, expected {(out_h, out_w)}")
    return x
