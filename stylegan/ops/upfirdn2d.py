"""Upsample, pad, FIR-filter and downsample 2D images in one op (the resampling primitive of StyleGAN2/3).

Per channel: (1) insert ``up - 1`` zeros after every pixel, (2) pad with zeros (negative padding crops),
(3) convolve with the FIR filter ``f``, keeping only outputs whose footprint lies inside the padded image,
(4) keep every ``down``-th pixel. This is ``scipy.signal.upfirdn`` in 2D. ``f`` is 2D ``[fh, fw]`` or separable 1D
``[taps]`` (applied along x, then y); ``flip_filter=False`` means true convolution, ``True`` correlation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._plugin import get_plugin, use_cuda

__all__ = ["setup_filter", "upfirdn2d", "filter2d", "upsample2d", "downsample2d", "parse_padding", "filter_size"]


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        v = (v, v)
    if len(v) != 2 or not all(isinstance(i, int) and i >= 1 for i in v):
        raise ValueError(f"{what} must be a positive int or a pair of them, got {v!r}")
    return int(v[0]), int(v[1])


def parse_padding(padding) -> tuple[int, int, int, int]:
    """int | [x, y] | [x0, x1, y0, y1] -> (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        padding = [padding, padding]
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        padding = [padding[0], padding[0], padding[1], padding[1]]
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding!r}")
    return tuple(padding)


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a 2D or separable filter; (1, 1) for None."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"filter must be 1D (separable) or 2D, got shape {tuple(f.shape)}")
    return int(f.shape[-1]), int(f.shape[0])


def setup_filter(f, device=torch.device("cpu"), *, normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1.0, separable: bool | None = None) -> torch.Tensor:
    """Turn taps (list / array / tensor / None) into a float32 filter: 1D separable when ``separable`` (default:
    1D input with at least 8 taps), else 2D via the outer product; normalised to unit DC gain, then ``gain`` applied
    (``gain ** (ndim / 2)`` per dimension, so the 2D filter has total gain ``gain``)."""
    f = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter taps must be a non-empty 1D or 2D array, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("a 2D filter cannot be made separable")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def _checked_filter(x: torch.Tensor, f: torch.Tensor | None, up, padding) -> torch.Tensor:
    """``f`` (a 1x1 identity for None) after checking ``x`` is 4D and the padded, upsampled image holds the filter."""
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects [N, C, H, W], got shape {tuple(x.shape)}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    h, w = x.shape[2:]
    fw, fh = filter_size(f)
    if w * up[0] + padding[0] + padding[1] < fw or h * up[1] + padding[2] + padding[3] < fh:
        raise ValueError(f"upfirdn2d: the padded, upsampled image ({h}x{w}) is smaller than the filter ({fh}x{fw})")
    return f


def _upfirdn2d_direct(x, f, up, down, padding, flip_filter, gain):
    """The definition, step by step (zero insertion, pad, filter, decimate): the yardstick the faster
    :func:`_upfirdn2d_ref` is tested against."""
    f = _checked_filter(x, f, up, padding)
    n, c, h, w = x.shape
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = padding
    fw, fh = filter_size(f)

    # (1) zero insertion: [N, C, H, 1, W, 1] -> pad the singleton axes -> [N, C, H*upy, W*upx]
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape(n, c, h * upy, w * upx)
    # (2) pad (positive part) then crop (negative part)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    # (3) depthwise filtering; conv2d correlates, so flip for a true convolution
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].expand(c, 1, fh, fw), groups=c)
    else:
        x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, fw), groups=c)  # along x
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, fw, 1), groups=c)  # along y
    # (4) decimate
    return x[:, :, ::downy, ::downx]


def _phase_plan(n_in: int, up: int, p0: int, p1: int, taps: int):
    """Polyphase schedule of one axis (zero insertion, padding ``p0``/``p1``, correlation with ``taps`` taps).

    Output ``k`` of the full-rate correlation only meets the inserted samples at taps ``j = phi, phi + up, ...`` with
    ``phi = (p0 - k) mod up``: ``out[k0 + q up] = sum_m x[q + b0 + m] g[phi + m up]`` with ``k0 = (p0 - phi) mod up``
    and ``b0 = (k0 + phi - p0) / up``. So each residue ``k0`` is an ordinary correlation of ``x`` at the input rate
    with every ``up``-th tap, and the residues interleave. Returns (full-rate length, window start ``B`` in input
    samples, common phase length ``M``, outputs per residue ``Q``, per residue ``(phi, shift)`` with ``shift = b0 -
    B`` its zero taps in front)."""
    length = n_in * up + p0 + p1 - taps + 1
    phases = []
    for k0 in range(up):
        phi = (p0 - k0) % up
        phases.append((phi, (k0 + phi - p0) // up))
    start = min(b for _, b in phases)
    span = max(b - start + len(range(phi, taps, up)) for phi, b in phases)
    q = -(-length // up)
    return length, start, max(span, 1), q, [(phi, b - start) for phi, b in phases]


def _phase_weights(g: torch.Tensor, plans, c: int) -> torch.Tensor:
    """Depthwise weights ``[C * up_y * up_x, 1, M_y, M_x]`` for the residues of both axes (``g``: the 2D correlation
    kernel ``[fh, fw]``), ordered channel-major, then residue y, residue x."""
    (_, _, my, _, ys), (_, _, mx, _, xs) = plans
    uy, ux = len(ys), len(xs)
    w = g.new_zeros(uy, ux, my, mx)
    for ry, (phy, sy) in enumerate(ys):
        sub_y = g[phy::uy]  # [taps_y, fw]
        for rx, (phx, sx) in enumerate(xs):
            sub = sub_y[:, phx::ux]
            w[ry, rx, sy:sy + sub.shape[0], sx:sx + sub.shape[1]] = sub
    return w.reshape(1, uy * ux, my, mx).expand(c, -1, -1, -1).reshape(c * uy * ux, 1, my, mx)


def _window(x: torch.Tensor, axis: int, start: int, length: int) -> torch.Tensor:
    """``x`` along ``axis`` (-1 or -2) from ``start`` for ``length`` samples, zeros outside the input."""
    n = x.shape[axis]
    left, right = -start, start + length - n
    return F.pad(x, [left, right, 0, 0] if axis == -1 else [0, 0, left, right])


def _window_pad(x: torch.Tensor, plans) -> tuple[torch.Tensor, list[int]]:
    """The zero-padded window of both axes as (tensor, conv2d padding): the symmetric part of the padding is left
    to the convolution (no padded copy of ``x``), the rest is padded or cropped here."""
    pads = []
    for axis, (_, start, m, q, _) in ((-2, plans[0]), (-1, plans[1])):
        left, right = -start, start + q + m - 1 - x.shape[axis]
        sym = max(min(left, right), 0)
        pads.append(sym)
        if left != sym or right != sym:
            x = _window(x, axis, start + sym, q + m - 1 - 2 * sym)
    return x, pads


def _resample_pass(x, g2, plans, strides):
    """One polyphase pass: window, depthwise correlation of every residue, interleave, crop, decimate."""
    n, c = x.shape[:2]
    (ly, by, my, qy, ys), (lx, bx, mx, qx, xs) = plans
    uy, ux = len(ys), len(xs)
    x, conv_pad = _window_pad(x, plans)  # [N, C, Qy + My - 1, Qx + Mx - 1] once the convolution has padded
    if uy == 1 and ux == 1:  # no upsampling: decimate inside the convolution
        return F.conv2d(x, _phase_weights(g2, plans, c), stride=strides, padding=conv_pad, groups=c)
    y = F.conv2d(x, _phase_weights(g2, plans, c), padding=conv_pad, groups=c)  # [N, C * uy * ux, Qy, Qx]
    y = y.reshape(n, c, uy, ux, qy, qx).permute(0, 1, 4, 2, 5, 3).reshape(n, c, qy * uy, qx * ux)
    return y[:, :, :ly:strides[0], :lx:strides[1]]


def _transposed_pass(x, g2, ups, pads):
    """Zero insertion by ``ups`` (y, x), padding ``pads`` ((y0, y1), (x0, x1)) and correlation with ``g2``
    [fh, fw] as one depthwise ``conv_transpose2d`` (it writes the interleaved phases itself, no copy), or None when
    the padding is not of the form it supports. ``conv_transpose2d`` scatters ``x[i] w[k - i up]``, i.e. the full
    result with ``w`` the flipped correlation kernel; output ``m`` of the padded correlation is its sample
    ``m + taps - 1 - pad0``, so the start is cut by the transposed convolution's padding and the end set by its
    output padding."""
    crop, extra = [], []
    for n_in, up, (p0, p1), taps in zip(x.shape[2:], ups, pads, g2.shape):
        start = taps - 1 - p0
        length = n_in * up + p0 + p1 - taps + 1
        op = length - ((n_in - 1) * up + taps - 2 * start)
        if start < 0 or not 0 <= op < up or length < 1:
            return None
        crop.append(start)
        extra.append(op)
    c = x.shape[1]
    w = g2.flip([0, 1])[None, None].expand(c, 1, -1, -1).contiguous()  # [C, 1, fh, fw]
    return F.conv_transpose2d(x, w, stride=tuple(ups), padding=tuple(crop), output_padding=tuple(extra), groups=c)


def _upfirdn2d_ref(x, f, up, down, padding, flip_filter, gain):
    """:func:`_upfirdn2d_direct` without the zeros: polyphase (each output phase is an ordinary depthwise
    correlation with every ``up``-th tap, at the input rate) and decimation by the convolution's stride, so no
    zero-stuffed image is built and no discarded output is computed. Separable filters run one axis at a time."""
    f = _checked_filter(x, f, up, padding)
    n, c, h, w = x.shape
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = padding
    fw, fh = filter_size(f)
    g = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:  # a true convolution is a correlation with the flipped filter
        g = g.flip(list(range(g.ndim)))
    # Upsampling without decimation: a depthwise transposed convolution when the padding fits it (measured 1.7x
    # faster than the polyphase convolution + interleave on CPU, 3x with channels-last input), else polyphase.
    if g.ndim == 2:
        y = None
        if (upx > 1 or upy > 1) and downx == downy == 1:
            y = _transposed_pass(x, g, (upy, upx), ((py0, py1), (px0, px1)))
        if y is not None:
            return y
        plans = (_phase_plan(h, upy, py0, py1, fh), _phase_plan(w, upx, px0, px1, fw))
        return _resample_pass(x, g, plans, (downy, downx))
    # separable: along x (the y axis passes through unchanged), then along y
    y = _transposed_pass(x, g[None, :], (1, upx), ((0, 0), (px0, px1))) if upx > 1 and downx == 1 else None
    if y is None:
        keep_y = (h, 0, 1, h, [(0, 0)])
        y = _resample_pass(x, g[None, :], (keep_y, _phase_plan(w, upx, px0, px1, fw)), (1, downx))
    x = y
    y = _transposed_pass(x, g[:, None], (upy, 1), ((py0, py1), (0, 0))) if upy > 1 and downy == 1 else None
    if y is not None:
        return y
    keep_x = (x.shape[3], 0, 1, x.shape[3], [(0, 0)])
    return _resample_pass(x, g[:, None], (_phase_plan(h, upy, py0, py1, fh), keep_x), (downy, 1))


class _Upfirdn2dCuda(torch.autograd.Function):
    """Forward by the CUDA kernel; the gradient is another upfirdn2d (roles of up/down swapped, filter flipped), so
    gradients of every order run through this same Function."""

    @staticmethod
    def forward(ctx, x, f, up, down, padding, flip_filter, gain):
        plugin = get_plugin("avgen_upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"])
        (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, padding
        if f.ndim == 2:
            y = plugin.upfirdn2d(x.contiguous(), f.contiguous(), upx, upy, downx, downy, px0, px1, py0, py1,
                                 flip_filter, float(gain))
        else:  # separable: x pass then y pass, the gain applied once
            y = plugin.upfirdn2d(x.contiguous(), f[None, :].contiguous(), upx, 1, downx, 1, px0, px1, 0, 0,
                                 flip_filter, 1.0)
            y = plugin.upfirdn2d(y, f[:, None].contiguous(), 1, upy, 1, downy, 0, 0, py0, py1, flip_filter,
                                 float(gain))
        ctx.save_for_backward(f)
        ctx.cfg = (tuple(x.shape), up, down, padding, flip_filter, gain)
        return y

    @staticmethod
    def backward(ctx, dy):
        (f,) = ctx.saved_tensors
        x_shape, up, down, padding, flip_filter, gain = ctx.cfg
        return _upfirdn2d_grad(dy, f, x_shape, up, down, padding, flip_filter, gain, cuda=True), None, None, None, None, None, None


def _upfirdn2d_grad(dy, f, x_shape, up, down, padding, flip_filter, gain, *, cuda: bool):
    """Adjoint of upfirdn2d: the same op with up/down swapped, the filter flipped and the padding mirrored."""
    _, _, ih, iw = x_shape
    _, _, oh, ow = dy.shape
    fw, fh = filter_size(f)
    (upx, upy), (downx, downy), (px0, _, py0, _) = up, down, padding
    p = (fw - px0 - 1, iw * upx - ow * downx + px0 - upx + 1, fh - py0 - 1, ih * upy - oh * downy + py0 - upy + 1)
    if cuda:
        return _Upfirdn2dCuda.apply(dy, f, down, up, p, not flip_filter, gain)
    return _upfirdn2d_ref(dy, f, down, up, p, not flip_filter, gain)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, *, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1.0, impl: str | None = None) -> torch.Tensor:
    """Pad, upsample, FIR-filter and downsample ``x`` [N, C, H, W] (see the module docstring).

    ``padding`` is in upsampled pixels: int, [x, y] or [x0, x1, y0, y1]. Output size per axis:
    ``(in * up + pad0 + pad1 - taps + down) // down``. ``impl``: 'ref' | 'cuda' | None (``AVGEN_CUDA_OPS``).
    """
    up2, down2, pad4 = _pair(up, "up"), _pair(down, "down"), parse_padding(padding)
    if f is not None and (f.dtype != torch.float32 or f.requires_grad):
        raise ValueError("upfirdn2d: the filter must be a float32 constant (no gradient); build it with setup_filter()")
    if use_cuda(x, impl) and x.dtype in (torch.float16, torch.float32, torch.float64):
        if get_plugin("avgen_upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"]) is not None:
            ff = torch.ones([1, 1], dtype=torch.float32, device=x.device) if f is None else f
            if ff.ndim == 1 and ff.shape[0] == 1:
                ff = ff.square()[None]  # separable 1-tap -> 2D 1x1
            return _Upfirdn2dCuda.apply(x, ff, up2, down2, pad4, flip_filter, gain)
    return _upfirdn2d_ref(x, f, up2, down2, pad4, flip_filter, gain)


def filter2d(x, f, *, padding=0, flip_filter=False, gain=1.0, impl=None):
    """Filter keeping the image size (``padding`` adds to that, relative to the output)."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, *, up=2, padding=0, flip_filter=False, gain=1.0, impl=None):
    """Upsample by ``up`` with the FIR filter; output exactly ``up`` times the input (plus ``padding``)."""
    upx, upy = _pair(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, *, down=2, padding=0, flip_filter=False, gain=1.0, impl=None):
    """Downsample by ``down`` with the FIR filter; output exactly 1/``down`` of the input (plus ``padding``)."""
    downx, downy = _pair(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)

