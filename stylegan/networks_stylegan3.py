"""StyleGAN3 generator (Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021), configs T and R,
written for avgen.

Names, shapes and constructor arguments equal NVIDIA's release so its pickles load one to one. Every layer is a
modulated convolution followed by the filtered leaky ReLU: upsample to a temporary rate, apply the nonlinearity,
low-pass and downsample (Sec. 3.2); cut-offs, stop-bands and sampling rates follow the geometric schedule of
App. F. The discriminator of StyleGAN3 is the StyleGAN2 one (``networks_stylegan2.Discriminator``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .filters import design_lowpass_filter
from .networks_stylegan2 import FullyConnectedLayer as _FullyConnectedLayer2
from .networks_stylegan2 import Generator as _Generator2
from .networks_stylegan2 import _check_shape
from .ops import filtered_lrelu
from .ops.fast_cpu import cached, cpu_inference

__all__ = ["modulated_conv2d", "FullyConnectedLayer", "MappingNetwork", "SynthesisInput", "SynthesisLayer",
           "SynthesisNetwork", "Generator"]


def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, *, demodulate: bool = True, padding=0,
                     input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """x [N, I, H, W], w [O, I, kh, kw], s [N, I]. Weights and styles are first normalised to unit RMS (keeps fp16
    in range), then modulated, demodulated and scaled by ``input_gain`` (per input channel); one grouped conv."""
    n = x.shape[0]
    out_c, in_c, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = w.unsqueeze(0) * s[:, None, :, None, None]  # [N, O, I, kh, kw]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    if input_gain is not None:
        w = w * input_gain.expand(n, in_c)[:, None, :, None, None]
    x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, in_c, kh, kw).to(x.dtype), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


class FullyConnectedLayer(_FullyConnectedLayer2):
    """Equalized-LR linear layer of StyleGAN3: ``weight_init`` scales the initial weights and ``bias_init`` (scalar or
    per-feature) is stored divided by the learning-rate multiplier. The forward pass is StyleGAN2's."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", bias: bool = True,
                 lr_multiplier: float = 1.0, weight_init: float = 1.0, bias_init=0.0, trainable: bool = True):
        nn.Module.__init__(self)
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        weight = torch.randn([out_features, in_features]) * (weight_init / lr_multiplier)
        b = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
        b = torch.tensor(b, dtype=torch.float32) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", b)


class MappingNetwork(nn.Module):
    """z (+ embedded c) -> w, two lrelu layers by default; ``w_avg`` is always tracked."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998, freeze_layers: int = 0,
                 freeze_embed: bool = False):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim, trainable=not freeze_embed) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                                          lr_multiplier=lr_multiplier, trainable=idx >= freeze_layers))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: int | None = None,
                update_emas: bool = False) -> torch.Tensor:
        _check_shape(z, [None, self.z_dim], "z")
        if truncation_cutoff is None:
            truncation_cutoff = self.num_ws
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            _check_shape(c, [None, self.c_dim], "c")
            y = self.embed(c.to(torch.float32))
            y = y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [B, num_ws, w_dim]
        if truncation_psi != 1:
            x = x.clone()
            x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class SynthesisInput(nn.Module):
    """Fourier-feature input (Sec. 3.1): ``sin(2 pi (f . x + phi))`` on a continuous grid, rotated and translated by
    an affine of w[0] and a user ``transform``, followed by a learned channel mixing."""

    def __init__(self, w_dim: int, channels: int, size, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        # Frequencies uniformly distributed in a disc of radius ``bandwidth``.
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # user-set inverse transform of the output image
        self.register_buffer("freqs", freqs)  # [C, 2]
        self.register_buffer("phases", phases)  # [C]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        b = w.shape[0]
        # Learned similarity transform from w: t = (cos, sin, tx, ty), rotation normalised to unit length.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rot = torch.eye(3, device=w.device).unsqueeze(0).repeat([b, 1, 1])
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        trans = torch.eye(3, device=w.device).unsqueeze(0).repeat([b, 1, 1])
        trans[:, 0, 2], trans[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ trans @ self.transform.unsqueeze(0)  # [B, 3, 3]: rotate, then translate, then the user transform

        freqs = self.freqs.unsqueeze(0)  # [1, C, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ m[:, :2, 2:]).squeeze(2)  # [B, C]
        freqs = freqs @ m[:, :2, :2]  # [B, C, 2]
        # Fade out frequencies the user transform pushed beyond the band limit.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Sample positions of the output pixels in the continuous input coordinates.
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])], align_corners=False)

        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [B, H, W, C]
        x = torch.sin((x + phases[:, None, None, :]) * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()  # channel mixing
        return x.permute(0, 3, 1, 2)  # [B, C, H, W]

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """Modulated conv + filtered leaky ReLU between two sampling rates (or the final ToRGB when ``is_torgb``)."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool, in_channels: int,
                 out_channels: int, in_size, out_size, in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float, in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2,
                 use_radial_filters: bool = False, conv_clamp: float | None = 256, magnitude_ema_beta: float = 0.999):
        super().__init__()
        self.w_dim, self.is_torgb, self.is_critically_sampled = w_dim, is_torgb, is_critically_sampled
        self.use_fp16, self.in_channels, self.out_channels = use_fp16, in_channels, out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Upsampling filter: to the temporary rate, band-limited at the input cut-off.
        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        if in_sampling_rate * self.up_factor != self.tmp_sampling_rate:
            raise ValueError("SynthesisLayer: the temporary sampling rate must be an integer multiple of the input rate")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(self.up_taps, in_cutoff, in_half_width * 2,
                                                                self.tmp_sampling_rate))
        # Downsampling filter: back to the output rate, band-limited at the output cut-off (radial in config R).
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        if out_sampling_rate * self.down_factor != self.tmp_sampling_rate:
            raise ValueError("SynthesisLayer: the temporary sampling rate must be an integer multiple of the output rate")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(self.down_taps, out_cutoff, out_half_width * 2,
                                                                  self.tmp_sampling_rate, radial=self.down_radial))

        # Padding so that (in + k - 1) * up, filtered twice and decimated, lands exactly on out_size; samples are
        # centred on pixel centres (the symmetric interpretation of App. C.3), hence the up/2 shift.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total = pad_total - (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total = pad_total + self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        if noise_mode not in ("random", "const", "none"):  # StyleGAN3 has no noise inputs; accepted for API parity
            raise ValueError(f"noise_mode={noise_mode!r}: use 'random', 'const' or 'none'")
        _check_shape(x, [None, self.in_channels, int(self.in_size[1]), int(self.in_size[0])], "x")
        if update_emas:  # running mean of the input power, used to normalise it (input_gain)
            self.magnitude_ema.copy_(x.detach().to(torch.float32).square().mean().lerp(self.magnitude_ema,
                                                                                       self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        if cpu_inference(x):
            x = self._modulated_conv_cpu(x, styles, input_gain)
            return filtered_lrelu(x, self.up_filter, self.down_filter, None, up=self.up_factor,
                                  down=self.down_factor, padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                                  slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)
        dtype = torch.float16 if (self.use_fp16 and not force_fp32 and x.device.type == "cuda") else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, padding=self.conv_kernel - 1,
                             demodulate=not self.is_torgb, input_gain=input_gain)
        x = filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(x.dtype), up=self.up_factor,
                           down=self.down_factor, padding=self.padding, gain=1 if self.is_torgb else math.sqrt(2),
                           slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)
        return x

    def _modulated_conv_cpu(self, x, styles, input_gain):
        """:func:`modulated_conv2d` + bias for fp32 CPU inference, channels-last: one image convolves with its own
        weights (bias inside the convolution); a batch shares one convolution, the styles scaling its input and the
        demodulation its output, in place (the non-fused form, no per-sample weights)."""
        n = x.shape[0]
        x = x.contiguous(memory_format=torch.channels_last)
        w, s = self.weight, styles
        dcoefs = None
        if not self.is_torgb:  # demodulate, after bringing weights and styles to unit RMS as modulated_conv2d does
            w = cached(self, "w_unit", self.weight, lambda t: t * t.square().mean([1, 2, 3], keepdim=True).rsqrt())
            wsq = cached(self, "w_unit_sq", self.weight, lambda t: w.square().sum([2, 3]).t().contiguous())  # [I, O]
            s = s * s.square().mean().rsqrt()
            dcoefs = (s.square() @ wsq + 1e-8).rsqrt()  # [N, O] = rsqrt(sum_ik (s_i w_oik)^2 + 1e-8)
        s = s * input_gain
        pad = self.conv_kernel - 1
        if n == 1:
            w1 = w * s.reshape(1, -1, 1, 1)
            if dcoefs is not None:
                w1 = w1 * dcoefs.reshape(-1, 1, 1, 1)
            return F.conv2d(x, w1, self.bias, padding=pad)
        x = F.conv2d(x * s.reshape(n, -1, 1, 1), w, padding=pad)
        if dcoefs is not None:
            x.mul_(dcoefs.reshape(n, -1, 1, 1))
        return x.add_(self.bias.reshape(1, -1, 1, 1))

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, "
                f"use_fp16={self.use_fp16}, in_sampling_rate={self.in_sampling_rate:g}, "
                f"out_sampling_rate={self.out_sampling_rate:g}, in_size={list(self.in_size)}, "
                f"out_size={list(self.out_size)}, in_channels={self.in_channels}, out_channels={self.out_channels}")


class SynthesisNetwork(nn.Module):
    """Fourier input + ``num_layers`` alias-free layers + ToRGB; layer ``L{idx}_{size}_{channels}``."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs: Any):
        super().__init__()
        self.w_dim, self.num_ws = w_dim, num_layers + 2
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.num_layers, self.num_critical = num_layers, num_critical
        self.margin_size, self.output_scale, self.num_fp16_res = margin_size, output_scale, num_fp16_res

        # Geometric schedule of cut-offs f_c and stop-bands f_t from the first layer to the last (App. F).
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        # Smallest power-of-two sampling rate above twice the stop-band (capped at the image), half-widths, sizes.
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels

        self.input = SynthesisInput(w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]),
                                    sampling_rate=sampling_rates[0], bandwidth=cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(sampling_rates[idx] * (2 ** num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx], **layer_kwargs)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        _check_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, **layer_kwargs)
        if self.output_scale != 1:
            x = x * self.output_scale
        if cpu_inference(x):
            x = x.contiguous()  # the inference path runs channels-last; hand back the usual layout
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_layers={self.num_layers}, num_critical={self.num_critical}, "
                f"margin_size={self.margin_size}, num_fp16_res={self.num_fp16_res}")


class Generator(_Generator2):
    """``G(z, c) = synthesis(mapping(z, c))`` with the StyleGAN3 mapping and synthesis networks (same constructor,
    attributes and call signature as the StyleGAN2 generator)."""

    architecture = "stylegan3"
    synthesis_class = SynthesisNetwork
    mapping_class = MappingNetwork
