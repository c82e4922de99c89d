"""Independent, loop-level re-statements of the StyleGAN2/3 forward passes, computed straight from a flat tensor dict
in the NVIDIA layout. They use none of the package's ops: zero insertion, padding and FIR filtering are written out
with plain ``F.conv2d``, modulation runs per sample, and the StyleGAN3 schedule is recomputed from the paper's
formulas. The loader tests compare the package's networks against these."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2)


def fc(x, w, b, lr=1.0, act="linear"):
    y = x @ (w * (lr / math.sqrt(w.shape[1]))).t() + b * lr
    return F.leaky_relu(y, 0.2) * SQRT2 if act == "lrelu" else y


def pixel_norm(x):
    return x / torch.sqrt(x.square().mean(1, keepdim=True) + 1e-8)


def zero_insert(x, up):
    if up == 1:
        return x
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    return z


def fir(x, f2d):
    """Valid 2-D convolution (not correlation) of every channel with ``f2d``."""
    c = x.shape[1]
    k = f2d.flip([0, 1])[None, None].repeat(c, 1, 1, 1).to(x.dtype)
    return F.conv2d(x, k, groups=c)


def pad(x, x0, x1, y0, y1):
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    return x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]


# StyleGAN2 ----------------------------------------------------------------------------------------------------------

def _taps_2d(taps):
    k = torch.tensor(taps, dtype=torch.float64)
    k = torch.outer(k, k)
    return k / k.sum()


def mapping(T, z, num_layers, num_ws, psi=1.0):
    """Both generations: pixel norm, lrelu FC layers at lr 0.01, broadcast, truncation towards w_avg."""
    x = pixel_norm(z)
    for i in range(num_layers):
        x = fc(x, T[f"mapping.fc{i}.weight"], T[f"mapping.fc{i}.bias"], lr=0.01, act="lrelu")
    ws = x[:, None].repeat(1, num_ws, 1)
    return T["mapping.w_avg"] + psi * (ws - T["mapping.w_avg"])


def sg2_layer(T, p, x, w, up, clamp):
    """Modulated conv: per sample, weight * style, demodulate; upsampling layers are zero insertion + FIR (gain 4)
    + true convolution, with padding 3/2 in the upsampled grid; then noise, bias, lrelu * sqrt 2, clamp."""
    weight = T[f"{p}.weight"]
    styles = fc(w, T[f"{p}.affine.weight"], T[f"{p}.affine.bias"])
    outs = []
    for i in range(x.shape[0]):
        wi = weight * styles[i][None, :, None, None]
        wi = wi / torch.sqrt(wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xi = x[i: i + 1]
        if up == 1:
            outs.append(F.conv2d(xi, wi, padding=1))
        else:
            u = pad(zero_insert(xi, 2), 3, 2, 3, 2)
            u = fir(u, _taps_2d([1, 3, 3, 1]) * 4)
            outs.append(F.conv2d(u, wi.flip([2, 3])))
    y = torch.cat(outs) + T[f"{p}.noise_const"] * T[f"{p}.noise_strength"]
    y = F.leaky_relu(y + T[f"{p}.bias"][None, :, None, None], 0.2) * SQRT2
    return y.clamp(-clamp, clamp) if clamp is not None else y


def sg2_torgb(T, p, x, w, clamp):
    weight = T[f"{p}.weight"]
    styles = fc(w, T[f"{p}.affine.weight"], T[f"{p}.affine.bias"]) / math.sqrt(weight.shape[1])
    y = torch.cat([F.conv2d(x[i: i + 1], weight * styles[i][None, :, None, None]) for i in range(x.shape[0])])
    y = y + T[f"{p}.bias"][None, :, None, None]
    return y.clamp(-clamp, clamp) if clamp is not None else y


def sg2_synthesis(T, ws, resolution, clamp=256):
    x = T["synthesis.b4.const"][None].repeat(ws.shape[0], 1, 1, 1)
    x = sg2_layer(T, "synthesis.b4.conv1", x, ws[:, 0], 1, clamp)
    img = sg2_torgb(T, "synthesis.b4.torgb", x, ws[:, 1], clamp)
    idx, res = 1, 8
    while res <= resolution:
        b = f"synthesis.b{res}"
        x = sg2_layer(T, f"{b}.conv0", x, ws[:, idx], 2, clamp)
        x = sg2_layer(T, f"{b}.conv1", x, ws[:, idx + 1], 1, clamp)
        img = fir(pad(zero_insert(img, 2), 2, 1, 2, 1), _taps_2d([1, 3, 3, 1]) * 4)  # upsample the RGB skip
        img = img + sg2_torgb(T, f"{b}.torgb", x, ws[:, idx + 2], clamp)
        idx, res = idx + 2, res * 2
    return img


# StyleGAN3 ----------------------------------------------------------------------------------------------------------

def sg3_schedule(img_resolution, num_layers, num_critical, margin_size, channel_base, channel_max, img_channels,
                 first_cutoff=2.0, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3):
    """Per-layer cut-off, stop-band, sampling rate, size and channels (paper App. F), as plain lists."""
    layers = []
    for i in range(num_layers + 1):
        e = min(i / (num_layers - num_critical), 1.0)
        fc_ = first_cutoff * ((img_resolution / 2) / first_cutoff) ** e
        ft = first_stopband * ((img_resolution / 2 * last_stopband_rel) / first_stopband) ** e
        sr = 2 ** math.ceil(math.log2(min(ft * 2, img_resolution)))
        size = img_resolution if i >= num_layers - 1 else sr + 2 * margin_size
        ch = img_channels if i == num_layers else int(round(min(channel_base / 2 / fc_, channel_max)))
        layers.append(dict(cutoff=fc_, stopband=ft, rate=sr, size=size, channels=ch))
    return layers


def sg3_input(T, w, size, rate, bandwidth):
    t = fc(w, T["synthesis.input.affine.weight"], T["synthesis.input.affine.bias"])
    t = t / t[:, :2].norm(dim=1, keepdim=True)
    coords = (torch.arange(size, dtype=w.dtype) + 0.5 - size / 2) / rate  # pixel centres
    freqs, phases, W = T["synthesis.input.freqs"], T["synthesis.input.phases"], T["synthesis.input.weight"]
    out = []
    for b in range(w.shape[0]):
        c, s, tx, ty = t[b]
        rot = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
        f = freqs @ rot  # rotated frequencies
        ph = phases + freqs @ (rot @ torch.stack([-tx, -ty]))  # translation becomes a phase shift
        amp = (1 - (f.norm(dim=1) - bandwidth) / (rate / 2 - bandwidth)).clamp(0, 1)
        arg = f[:, 0, None, None] * coords[None, None, :] + f[:, 1, None, None] * coords[None, :, None]  # x . f
        feat = torch.sin(2 * math.pi * (arg + ph[:, None, None])) * amp[:, None, None]  # [C, H, W]
        out.append(torch.einsum("oc,chw->ohw", W / math.sqrt(W.shape[0]), feat))
    return torch.stack(out)


def sg3_layer(T, p, x, w, *, is_torgb, in_size, out_size, in_rate, out_rate, up_taps_per, conv_kernel, clamp=256,
              lrelu_upsampling=2):
    weight = T[f"{p}.weight"]
    k = weight.shape[-1]
    styles = fc(w, T[f"{p}.affine.weight"], T[f"{p}.affine.bias"])
    if is_torgb:
        styles = styles / math.sqrt(weight.shape[1] * k * k)
    else:
        weight = weight / torch.sqrt(weight.square().mean(dim=[1, 2, 3], keepdim=True))
        styles = styles / torch.sqrt(styles.square().mean())  # one RMS over the whole batch, as in the original
    gain_in = 1 / torch.sqrt(T[f"{p}.magnitude_ema"])
    ys = []
    for i in range(x.shape[0]):
        wi = weight * styles[i][None, :, None, None]
        if not is_torgb:
            wi = wi / torch.sqrt(wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        ys.append(F.conv2d(x[i: i + 1], wi * gain_in, padding=k - 1))
    y = torch.cat(ys) + T[f"{p}.bias"][None, :, None, None]

    tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else lrelu_upsampling)
    up, down = tmp_rate // in_rate, tmp_rate // out_rate
    fu, fd = T.get(f"{p}.up_filter"), T.get(f"{p}.down_filter")
    nu = 1 if fu is None else fu.shape[-1]
    nd = 1 if fd is None else fd.shape[-1]
    total = (out_size - 1) * down + 1 - (in_size + k - 1) * up + nu + nd - 2
    lo = (total + up) // 2
    hi = total - lo
    y = pad(zero_insert(y, up), lo, hi, lo, hi)
    if fu is not None:  # separable up filter, gain up per axis
        y = fir(y, torch.outer(fu, fu).to(y.dtype) * up * up)
    if is_torgb:
        y = y.clamp(-clamp, clamp)
    else:
        y = (F.leaky_relu(y, 0.2) * SQRT2).clamp(-clamp, clamp)
    if fd is not None:
        y = fir(y, fd if fd.ndim == 2 else torch.outer(fd, fd))
    return y[:, :, ::down, ::down]


def sg3_synthesis(T, ws, *, img_resolution, num_layers, num_critical, margin_size, channel_base, channel_max,
                  img_channels, conv_kernel=3, output_scale=0.25):
    sched = sg3_schedule(img_resolution, num_layers, num_critical, margin_size, channel_base, channel_max, img_channels)
    x = sg3_input(T, ws[:, 0], sched[0]["size"], sched[0]["rate"], sched[0]["cutoff"])
    for i in range(num_layers + 1):
        prev, cur = sched[max(i - 1, 0)], sched[i]
        name = f"synthesis.L{i}_{cur['size']}_{cur['channels']}"
        x = sg3_layer(T, name, x, ws[:, i + 1], is_torgb=i == num_layers, in_size=prev["size"],
                      out_size=cur["size"], in_rate=prev["rate"], out_rate=cur["rate"], up_taps_per=None,
                      conv_kernel=conv_kernel)
    return x * output_scale


def numpy_seed_z(seed: int, z_dim: int) -> torch.Tensor:
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim)).float()
