"""2D convolution with FIR up/downsampling, padding applied once at the start (StyleGAN2 ``conv2d_resample``).

Mathematically: zero-insert by ``up``, pad, convolve with ``w`` and with the FIR ``f`` (gain ``up**2``), keep every
``down``-th pixel. Cheaper equivalent orders are picked per case (transposed convolution for upsampling, strided
convolution for downsampling, 1x1 kernels applied at the lower rate); all give the same result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .upfirdn2d import filter_size, parse_padding, upfirdn2d

__all__ = ["conv2d_resample"]


def _conv(x, w, *, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    # F.conv2d correlates; a true convolution (flip_weight=False) needs the kernel flipped.
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, *, up: int = 1, down: int = 1,
                    padding=0, groups: int = 1, flip_weight: bool = True, flip_filter: bool = False,
                    impl: str | None = None) -> torch.Tensor:
    """``x`` [N, C_in, H, W], ``w`` [C_out, C_in // groups, kh, kw], ``f`` from ``setup_filter`` (or None).

    ``padding`` is relative to the upsampled image; ``flip_weight=True`` is correlation (``F.conv2d``), ``False``
    true convolution (what the StyleGAN2 upsampling layers use).
    """
    if x.ndim != 4 or w.ndim != 4 or w.dtype != x.dtype:
        raise ValueError(f"conv2d_resample: x {tuple(x.shape)}/{x.dtype} and w {tuple(w.shape)}/{w.dtype} must be 4D, same dtype")
    if not (isinstance(up, int) and up >= 1 and isinstance(down, int) and down >= 1):
        raise ValueError(f"conv2d_resample: up/down must be positive ints, got {up!r}, {down!r}")
    out_c, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)

    # Extra padding so the FIR filter keeps the image at exactly up/down times the input size.
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]

    # 1x1 kernels commute with resampling: run them at the lower rate.
    if kh == 1 and kw == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kh == 1 and kw == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter, impl=impl)

    # Downsampling only: low-pass, then a strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: a transposed convolution does zero insertion + convolution in one call, then the low-pass.
    if up > 1:
        if groups == 1:
            wt = w.transpose(0, 1)  # [C_in, C_out, kh, kw]
        else:
            wt = w.reshape(groups, out_c // groups, in_per_group, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * in_per_group, out_c // groups, kh, kw)
        # The transposed convolution already extends the image by k-1 on the left and k-up on the right.
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        crop_x, crop_y = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)  # symmetric crop done by the conv itself
        # conv_transpose2d is a true convolution, so correlation semantics need the flip it would otherwise skip.
        x = _conv(x, wt, stride=up, padding=[crop_y, crop_x], groups=groups, transpose=True,
                  flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + crop_x, px1 + crop_x, py0 + crop_y, py1 + crop_y], gain=up ** 2,
                      flip_filter=flip_filter, impl=impl)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
        return x

    # No resampling: plain convolution when its symmetric padding suffices.
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, None, padding=pad, impl=impl)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)
