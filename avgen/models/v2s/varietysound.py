"""VarietySound (Cui et al., ICASSP 2023): timbre-controllable video-to-sound by unsupervised disentanglement.

A mel spectrogram is split into three kinds of information, each taken from a different input:

* temporal (when things sound): from per-frame video features, squeezed through an 8-d bottleneck so it can carry
  timing but not timbre (:class:`TemporalEncoder`);
* timbre (what it sounds like): from a reference mel whose time order is destroyed by random resampling R inside
  each Self-Gated Acoustic Unit (:class:`AcousticEncoder`);
* background (stationary noise): from the quiet frames of a mel, loud frames masked (:class:`BackgroundEncoder`).

:class:`MelDecoder` re-fuses them (FFT blocks, then 2x2 transposed-conv upsampling from the video rate to the mel
rate). Two discriminators train it adversarially: :class:`TimeAlignmentDiscriminator` (does this mel fit these video
features in time?) and :class:`~avgen.models.v2s.feature2mel.MultiWindowMelDiscriminator` (is this mel real?).

Shapes: video features ``[B, T_v, D]`` (21.5 fps), optionally with pixel motion ``[B, T_v, 32]`` beside them (not
in the paper; ``pixel_motion_dim``); mels ``[B, 80, T_m]`` in [0, 1] (86.13 fps, about 4 T_v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import resolve_config

__all__ = ["RandomResampling", "SelfGatedAcousticUnit", "TemporalEncoder", "AcousticEncoder", "BackgroundEncoder",
           "energy_mask", "motion_energy", "reference_spectrum", "spectrum_sums", "spectrum_from_sums", "FFTBlock", "MelDecoder", "TimeAlignmentDiscriminator",
           "VarietySound", "VarietySoundConfig", "ABLATIONS", "ENCODERS"]

ABLATIONS = (None, "zeros", "noise")
ENCODERS = ("temporal", "timbre", "background")  # the parts an ablation can replace


# ----------------------------------------------------------------------------------------------------------------
# Random resampling R


class RandomResampling(nn.Module):
    """R: cut the time axis into segments of ``segment`` = [min, max] frames, stretch or shrink each by a factor in
    ``rate`` = [min, max] (linear interpolation), and put the segments in a random order.

    The same cut, rates and order are applied to every tensor passed in one call (x and c of an SGAU stay aligned)
    and to every item of the batch. Active only in training mode; at inference R is the identity, so the timbre of
    the whole reference is summarised in its natural order (the LSTM's mean output does not depend on order much,
    and training made it not rely on it).
    """

    def __init__(self, segment: tuple[int, int] = (8, 32), rate: tuple[float, float] = (0.5, 1.5)):
        super().__init__()
        if not (1 <= segment[0] <= segment[1]) or not (0 < rate[0] <= rate[1]):
            raise ValueError(f"invalid R settings segment={segment} rate={rate}")
        self.segment, self.rate = tuple(segment), tuple(rate)

    def forward(self, *xs: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        if not self.training:
            return xs
        return self.resample(*xs, generator=generator)

    def resample(self, *xs: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Resample regardless of mode. Each x: ``[B, C, T]`` with equal T. (Not named ``apply``: that would shadow
        ``nn.Module.apply`` and break ``model.apply(init_fn)``.)"""
        length = xs[0].shape[-1]
        dev = xs[0].device

        def rand(n=()):
            return torch.rand(n, generator=generator, device="cpu")

        # segment boundaries
        bounds, pos = [], 0
        while pos < length:
            seg = int(self.segment[0] + rand() * (self.segment[1] - self.segment[0] + 1))
            seg = min(max(seg, 1), length - pos)
            bounds.append((pos, pos + seg))
            pos += seg
        order = torch.randperm(len(bounds), generator=generator).tolist()
        rates = (self.rate[0] + rand(len(bounds)) * (self.rate[1] - self.rate[0])).tolist()
        outs = []
        for x in xs:
            pieces = []
            for k in order:
                a, b = bounds[k]
                n = max(1, round((b - a) * rates[k]))
                piece = x[..., a:b]
                pieces.append(F.interpolate(piece, size=n, mode="linear", align_corners=False)
                              if piece.shape[-1] > 1 else piece.expand(*piece.shape[:-1], n))
            outs.append(torch.cat(pieces, dim=-1).to(dev))
        return tuple(outs)


# ----------------------------------------------------------------------------------------------------------------
# Encoders


class SelfGatedAcousticUnit(nn.Module):
    """SGAU: ``x_o = R[tanh(W_s*c + V*x) * sigmoid(W_o*c + V*x)]``, ``c_o = R[W_s*c]``.

    V (input gate): Conv1D k5 -> Conv1D k7 (``channels`` filters) -> InstanceNorm, on the feature input x.
    W_o (output gate): Conv1D k3 + GroupNorm and W_s (skip gate): Conv1D k5 + GroupNorm, on the conditional input c.
    """

    def __init__(self, in_x: int, in_c: int, channels: int = 512, groups: int = 8, resample: RandomResampling = None):
        super().__init__()
        self.input_gate = nn.Sequential(nn.Conv1d(in_x, channels, 5, padding=2),
                                        nn.Conv1d(channels, channels, 7, padding=3),
                                        nn.InstanceNorm1d(channels, affine=True))
        self.output_gate = nn.Sequential(nn.Conv1d(in_c, channels, 3, padding=1), nn.GroupNorm(groups, channels))
        self.skip_gate = nn.Sequential(nn.Conv1d(in_c, channels, 5, padding=2), nn.GroupNorm(groups, channels))
        self.resample = resample if resample is not None else RandomResampling()

    def forward(self, x: torch.Tensor, c: torch.Tensor, generator: torch.Generator | None = None):
        v = self.input_gate(x)  # [B, C, T]
        s = self.skip_gate(c)
        x_o = torch.tanh(s + v) * torch.sigmoid(self.output_gate(c) + v)
        return self.resample(x_o, s, generator=generator)


def motion_energy(features: torch.Tensor) -> torch.Tensor:
    """Two motion channels from appearance features ``[B, T_v, D]`` -> ``[B, T_v, 2]``: the size of the frame-to-frame
    change ``e_t = ||f_t - f_{t-1}|| / sqrt(D)`` (``e_0 = 0``) and its rise ``max(0, e_t - e_{t-1})``. Events are
    changes; appearance alone says what is in view, these say when it moved, in the same form on any footage."""
    d = features.shape[-1]
    step = (features[:, 1:] - features[:, :-1]).norm(dim=-1) / math.sqrt(d)  # [B, T_v - 1]
    e = F.pad(step, (1, 0))  # [B, T_v]
    rise = F.pad((e[:, 1:] - e[:, :-1]).clamp_min(0), (1, 0))
    return torch.stack([e, rise], -1)


class TemporalEncoder(nn.Module):
    """Video features ``[B, T_v, D]`` -> timing code ``[B, T_v, bottleneck]``: Conv1D x8 (k5, 512, BN, ReLU),
    LSTM x2 (256), linear projection to the 8-d bottleneck."""

    def __init__(self, feature_dim: int, channels: int = 512, layers: int = 8, kernel: int = 5, lstm_hidden: int = 256,
                 lstm_layers: int = 2, bottleneck: int = 8):
        super().__init__()
        convs, cin = [], feature_dim
        for _ in range(layers):
            convs.append(nn.Sequential(nn.Conv1d(cin, channels, kernel, padding=kernel // 2),
                                       nn.BatchNorm1d(channels), nn.ReLU()))
            cin = channels
        self.convs = nn.ModuleList(convs)
        self.lstm = nn.LSTM(channels, lstm_hidden, num_layers=lstm_layers, batch_first=True)
        self.proj = nn.Linear(lstm_hidden, bottleneck)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = features.transpose(1, 2)  # [B, D, T_v]
        for conv in self.convs:
            h = conv(h)
        h, _ = self.lstm(h.transpose(1, 2))  # [B, T_v, 256]
        return self.proj(h)  # [B, T_v, 8]


def spectrum_sums(mel: torch.Tensor) -> torch.Tensor:
    """The weighted sums behind :func:`reference_spectrum`, ``[B, M, T]`` -> ``[B, 3, M]``: per band sum_t w_t,
    sum_t w_t x_t and sum_t w_t x_t^2, with w_t the square of frame t's mean level. Sums of consecutive blocks add
    up to the whole mel's (a long reference is streamed)."""
    w = mel.mean(1, keepdim=True).square()  # [B, 1, T]
    return torch.stack([w.sum(-1).expand(-1, mel.shape[1]), (w * mel).sum(-1), (w * mel.square()).sum(-1)], 1)


def spectrum_from_sums(sums: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """:func:`spectrum_sums` ``[B, 3, M]`` -> the weighted band means and standard deviations ``[B, 2 M]``."""
    total = sums[:, 0].clamp_min(eps)  # [B, M]
    mean = sums[:, 1] / total
    var = (sums[:, 2] / total - mean.square()).clamp_min(0.0)
    return torch.cat([mean, (var + eps).sqrt()], -1)


def reference_spectrum(mel: torch.Tensor) -> torch.Tensor:
    """The reference's average spectrum and its spread, ``[B, M, T]`` -> ``[B, 2 M]``: per band the mean and the
    standard deviation over time of the [0, 1] mel, each frame weighted by the square of its mean level, so the
    sounding frames dominate and silence counts little."""
    return spectrum_from_sums(spectrum_sums(mel))


class AcousticEncoder(nn.Module):
    """Reference mel ``[B, 80, T_r]`` -> timbre vector ``[B, 256]``: SGAU x5 (first unit takes the mel as both x and
    c), LSTM x2 (256), mean over time. With ``spectrum`` (not in the paper) the vector also carries
    :func:`reference_spectrum` of the reference, ``[B, 256 + 2 * 80]``."""

    def __init__(self, n_mels: int = 80, channels: int = 512, units: int = 5, lstm_hidden: int = 256,
                 lstm_layers: int = 2, resample: RandomResampling | None = None, spectrum: bool = False):
        super().__init__()
        self.spectrum = spectrum
        self.out_dim = lstm_hidden + (2 * n_mels if spectrum else 0)
        self.resample = resample if resample is not None else RandomResampling()
        self.units = nn.ModuleList(
            SelfGatedAcousticUnit(n_mels if i == 0 else channels, n_mels if i == 0 else channels, channels,
                                  resample=self.resample)
            for i in range(units))
        self.lstm = nn.LSTM(channels, lstm_hidden, num_layers=lstm_layers, batch_first=True)

    def forward(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = c = mel
        for unit in self.units:
            x, c = unit(x, c, generator=generator)
        h, _ = self.lstm(x.transpose(1, 2))  # [B, T', 256]
        if self.spectrum:
            return torch.cat([h.mean(1), reference_spectrum(mel)], -1)  # [B, 256 + 160]
        return h.mean(1)


def energy_mask(mel: torch.Tensor) -> torch.Tensor:
    """Zero (= silence in the [0, 1] mel) every frame whose energy (mean over bins) exceeds the clip's median frame
    energy, keeping the quiet frames where only the background sounds. ``[B, M, T]`` -> same shape."""
    energy = mel.mean(1, keepdim=True)  # [B, 1, T]
    median = energy.median(dim=-1, keepdim=True).values
    return mel * (energy <= median)


class BackgroundEncoder(nn.Module):
    """Mel ``[B, 80, T]`` -> background vector ``[B, 128]``: energy masking, LSTM x2 (128), mean over time. At
    inference it is given the mel of silence, so no background is generated."""

    def __init__(self, n_mels: int = 80, lstm_hidden: int = 128, lstm_layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(n_mels, lstm_hidden, num_layers=lstm_layers, batch_first=True)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(energy_mask(mel).transpose(1, 2))
        return h.mean(1)


# ----------------------------------------------------------------------------------------------------------------
# Decoder


def sinusoid_positions(length: int, dim: int, device=None) -> torch.Tensor:
    """Transformer sinusoidal position table ``[length, dim]`` (Vaswani et al. 2017, sec. 3.5)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class FFTBlock(nn.Module):
    """Feed-forward Transformer block (FastSpeech): self-attention + residual + LayerNorm, then Conv1D(k9) -> ReLU ->
    Conv1D(k1) + residual + LayerNorm."""

    def __init__(self, hidden: int = 512, heads: int = 2, kernel: int = 9, filters: int = 512, dropout: float = 0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv1 = nn.Conv1d(hidden, filters, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(filters, hidden, 1)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H]
        a, _ = self.attn(x, x, x, need_weights=False)
        x = self.norm1(x + self.dropout(a))
        f = self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
        return self.norm2(x + self.dropout(f))


class MelDecoder(nn.Module):
    """(timing ``[B, T_v, 8]``, timbre ``[B, 256]``, background ``[B, 128]``) -> mel ``[B, 80, T_m]`` in [0, 1].

    Timbre and background are broadcast over time and concatenated with the timing code, projected to 512, FFT x4
    (2 heads, Conv1D k9 512), then ConvTranspose1D x2 (k4, stride 2, 1024 filters) to 4 T_v and a 1x1 conv to 80 bins;
    the last step interpolates to the exact mel length (21.5 fps x 4 is not exactly 86.13 fps).
    """

    def __init__(self, in_dim: int, n_mels: int = 80, hidden: int = 512, blocks: int = 4, heads: int = 2,
                 kernel: int = 9, filters: int = 512, up_channels: int = 1024, up_layers: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.blocks = nn.ModuleList(FFTBlock(hidden, heads, kernel, filters, dropout) for _ in range(blocks))
        ups, cin = [], hidden
        for _ in range(up_layers):
            ups += [nn.ConvTranspose1d(cin, up_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = up_channels
        self.upsample = nn.Sequential(*ups)
        self.out = nn.Conv1d(cin, n_mels, 1)

    def forward(self, timing: torch.Tensor, timbre: torch.Tensor, background: torch.Tensor,
                mel_frames: int, offset: torch.Tensor | None = None) -> torch.Tensor:
        t = timing.shape[1]
        h = torch.cat([timing, timbre[:, None].expand(-1, t, -1), background[:, None].expand(-1, t, -1)], -1)
        h = self.inp(h) + sinusoid_positions(t, self.inp.out_features, h.device)  # [B, T_v, 512]
        for block in self.blocks:
            h = block(h)
        h = self.upsample(h.transpose(1, 2))  # [B, 1024, 4 T_v]
        h = F.interpolate(h, size=mel_frames, mode="linear", align_corners=False)
        logits = self.out(h)  # [B, 80, T_m]
        if offset is not None:  # a per-band shift of every frame's logits [B, 80]
            logits = logits + offset[..., None]
        return torch.sigmoid(logits)


# ----------------------------------------------------------------------------------------------------------------
# Discriminator of temporal alignment


class TimeAlignmentDiscriminator(nn.Module):
    """(video features ``[B, T_v, D]``, mel ``[B, 80, T_m]``) -> logits ``[B, T']``. Real: real features + real mel;
    fake: real features + generated mel. Features go through ConvTranspose1D x2 (k4, stride 2, 1024) to the mel
    rate, are concatenated with the mel, then Conv1D x4 (k4, stride 2, 512) and a 1-channel output conv."""

    def __init__(self, feature_dim: int, n_mels: int = 80, up_channels: int = 1024, channels: int = 512,
                 layers: int = 4):
        super().__init__()
        self.upsample = nn.Sequential(
            nn.ConvTranspose1d(feature_dim, up_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.ConvTranspose1d(up_channels, up_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
        convs, cin = [], up_channels + n_mels
        for _ in range(layers):
            convs += [nn.Conv1d(cin, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = channels
        self.convs = nn.Sequential(*convs)
        self.out = nn.Conv1d(channels, 1, 3, padding=1)

    def forward(self, features: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        v = self.upsample(features.transpose(1, 2))
        v = F.interpolate(v, size=mel.shape[-1], mode="linear", align_corners=False)  # [B, 1024, T_m]
        return self.out(self.convs(torch.cat([v, mel], 1))).squeeze(1)


# ----------------------------------------------------------------------------------------------------------------
# Generator


@dataclass
class VarietySoundConfig:
    """Every size of the generator and of its two discriminators; defaults are the paper's table
    (configs/varietysound/vas.yaml). A training config's ``model:`` section is this dataclass; ``feature_dim`` and
    ``n_mels`` are filled in from the dataset."""

    feature_dim: int = 2048
    n_mels: int = 80
    temporal_channels: int = 512
    temporal_layers: int = 8
    temporal_kernel: int = 5
    temporal_lstm: int = 256
    bottleneck: int = 8
    sgau_units: int = 5
    sgau_channels: int = 512
    timbre_lstm: int = 256
    background_lstm: int = 128
    decoder_hidden: int = 512
    decoder_blocks: int = 4
    decoder_heads: int = 2
    decoder_kernel: int = 9
    decoder_filters: int = 512
    up_channels: int = 1024
    dropout: float = 0.1
    resample_segment: tuple[int, int] = (8, 32)
    resample_rate: tuple[float, float] = (0.5, 1.5)
    # not in the paper (for transfer; docs/varietysound.md): feed motion_energy() beside the features to the
    # temporal encoder
    motion_energy: bool = False
    # not in the paper (for transfer): the width of a pixel-motion input concatenated to the features for the
    # temporal encoder (avgen.encoders.motion computes 32 channels from the frames); 0 = none
    pixel_motion_dim: int = 0
    # not in the paper (for transfer): False feeds the temporal encoder the motion inputs alone (motion_energy and/or
    # pixel motion), without the appearance features, which a timing probe memorises rather than transfers
    # (tools/v2s_timing_probe.py); the alignment discriminator still sees the features
    temporal_features: bool = True
    # not in the paper (for transfer): append the reference's band-wise mean and spread (reference_spectrum, 2 x
    # n_mels numbers) to the timbre vector, a summary that means the same for any recording, where the LSTM's code
    # is learned from the training sounds only; --ablate timbre removes both
    timbre_spectrum: bool = False
    # not in the paper (for transfer; needs timbre_spectrum): the decoder's output logits are shifted per band by
    # the reference's spectral shape (its band means minus their mean over bands) times a learned gain, so every
    # generated frame starts from the reference's spectral envelope and the decoder adds time and level; zero
    # when the timbre encoder is ablated
    spectrum_skip: bool = False
    # ablations (the paper's study): replace an encoder's output by "zeros" or "noise"
    ablate_temporal: str | None = None
    ablate_timbre: str | None = None
    ablate_background: str | None = None
    # discriminators (training only)
    align_up_channels: int = 1024
    align_channels: int = 512
    window_lengths: tuple[int, int, int] = (32, 64, 128)
    window_hidden: int = 128

    def __post_init__(self):
        if isinstance(self.pixel_motion_dim, bool) or not (isinstance(self.pixel_motion_dim, int)
                                                            and self.pixel_motion_dim >= 0):
            raise ValueError(f"pixel_motion_dim: expected a width >= 0, got {self.pixel_motion_dim!r}")
        if self.spectrum_skip and not self.timbre_spectrum:
            raise ValueError("spectrum_skip: true takes the reference's spectrum from the timbre vector; set "
                             "timbre_spectrum: true too")
        if not self.temporal_features and not (self.motion_energy or self.pixel_motion_dim):
            raise ValueError("temporal_features: false leaves the temporal encoder no input; set motion_energy or "
                             "pixel_motion_dim")
        for name in ENCODERS:
            v = getattr(self, f"ablate_{name}")
            if v not in ABLATIONS:
                raise ValueError(f"ablate_{name}: expected null, 'zeros' or 'noise', got {v!r}")

    @property
    def ablate(self) -> dict[str, str]:
        """The trained-in ablations, ``{encoder: mode}``."""
        return {k: getattr(self, f"ablate_{k}") for k in ENCODERS if getattr(self, f"ablate_{k}") is not None}


class VarietySound(nn.Module):
    """The generator: three encoders and the mel decoder, built from :class:`VarietySoundConfig`
    (``VarietySound(config)``, or keyword overrides of its defaults: ``VarietySound(feature_dim=1280)``).

    ``forward(features, reference, mel_frames, background=None, motion=None)``: ``features [B, T_v, D]``,
    ``reference [B, 80, T_r]`` (any length), ``background [B, 80, T_b]`` or None for silence, ``motion
    [B, T_v, pixel_motion_dim]`` (required when the config sets ``pixel_motion_dim``, refused otherwise). In
    training the target mel is both reference and background (self-reconstruction); at inference the reference
    comes from another recording.

    ``config.ablate_<encoder>`` = ``"zeros"|"noise"`` replaces that encoder's output, for the paper's ablation
    study; :meth:`ablate_at_inference` adds one to a trained model.
    """

    config_class = VarietySoundConfig

    def __init__(self, config: VarietySoundConfig | None = None, **overrides):
        super().__init__()
        for part, mode in (overrides.pop("ablate", None) or {}).items():  # shorthand: ablate={"timbre": "zeros"}
            if part not in ENCODERS:
                raise ValueError(f"ablate: unknown encoder {part!r} (one of {', '.join(ENCODERS)})")
            overrides[f"ablate_{part}"] = mode
        c = self.config = resolve_config(VarietySoundConfig, config, overrides)
        self.ablate = c.ablate  # what the forward pass replaces; starts as the trained-in ablations
        temporal_in = (c.feature_dim if c.temporal_features else 0) + (2 if c.motion_energy else 0) + c.pixel_motion_dim
        self.temporal = TemporalEncoder(temporal_in, c.temporal_channels,
                                        c.temporal_layers, c.temporal_kernel, c.temporal_lstm, 2, c.bottleneck)
        self.acoustic = AcousticEncoder(c.n_mels, c.sgau_channels, c.sgau_units, c.timbre_lstm, 2,
                                        RandomResampling(tuple(c.resample_segment), tuple(c.resample_rate)),
                                        spectrum=c.timbre_spectrum)
        self.background = BackgroundEncoder(c.n_mels, c.background_lstm, 2)
        self.decoder = MelDecoder(c.bottleneck + self.acoustic.out_dim + c.background_lstm, c.n_mels, c.decoder_hidden,
                                  c.decoder_blocks, c.decoder_heads, c.decoder_kernel, c.decoder_filters,
                                  c.up_channels, 2, c.dropout)
        self.n_mels = c.n_mels
        # logit change per unit of [0, 1] mel: 4 is the inverse of the sigmoid's slope at 0.5, a copy of the shape
        self.spectrum_skip_gain = nn.Parameter(torch.tensor(4.0)) if c.spectrum_skip else None

    def ablate_at_inference(self, part: str, mode: str = "zeros") -> None:
        """Replace one encoder's output from now on, keeping the ablations the model was trained with (the
        weights are unchanged)."""
        if part not in ENCODERS or mode not in ABLATIONS[1:]:
            raise ValueError(f"ablate_at_inference: part must be one of {', '.join(ENCODERS)} and mode 'zeros' or "
                             f"'noise', got {part!r}, {mode!r}")
        self.ablate = {**self.ablate, part: mode}

    def _maybe_ablate(self, name: str, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mode = self.ablate.get(name)
        if mode == "zeros":
            return torch.zeros_like(h)
        if mode == "noise":
            return torch.randn(h.shape, generator=generator, device="cpu").to(h)
        return h

    def encode_timbre(self, reference: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._maybe_ablate("timbre", self.acoustic(reference, generator=generator), generator)

    def encode_background(self, background: torch.Tensor | None, batch: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """Background vector; ``None`` means the mel of silence (inference: no background noise)."""
        if background is None:
            background = self.decoder.inp.weight.new_zeros(batch, self.n_mels, 32)
        return self._maybe_ablate("background", self.background(background), generator)

    def synthesize(self, features: torch.Tensor, timbre: torch.Tensor, background: torch.Tensor, mel_frames: int,
                   generator: torch.Generator | None = None, *, motion: torch.Tensor | None = None) -> torch.Tensor:
        """Decode from precomputed timbre ``[B, acoustic.out_dim]`` and background ``[B, 128]`` vectors (chunked
        inference encodes the reference once)."""
        width = self.config.pixel_motion_dim
        if width and (motion is None or motion.shape != (*features.shape[:2], width)):
            got = "none" if motion is None else list(motion.shape)
            raise ValueError(f"this VarietySound takes pixel motion [B, T_v, {width}] beside the features "
                             f"{list(features.shape)} (pixel_motion_dim: {width}; avgen.encoders.motion), got {got}")
        if not width and motion is not None:
            raise ValueError("this VarietySound takes no pixel motion (pixel_motion_dim: 0)")
        parts = [features] if self.config.temporal_features else []
        if self.config.motion_energy:
            parts.append(motion_energy(features))  # [B, T_v, 2]
        if width:
            parts.append(motion.to(features))  # [B, T_v, width]
        timing = self._maybe_ablate("temporal", self.temporal(torch.cat(parts, -1)), generator)
        offset = None
        if self.spectrum_skip_gain is not None:  # the reference's band means sit at [-2M, -M) of the timbre vector
            mean = timbre[:, -2 * self.n_mels:-self.n_mels]  # [B, M]
            offset = self.spectrum_skip_gain * (mean - mean.mean(1, keepdim=True))
        return self.decoder(timing, timbre, background, mel_frames, offset)

    def forward(self, features: torch.Tensor, reference: torch.Tensor, mel_frames: int,
                background: torch.Tensor | None = None, generator: torch.Generator | None = None, *,
                motion: torch.Tensor | None = None) -> torch.Tensor:
        timbre = self.encode_timbre(reference, generator)
        back = self.encode_background(background, features.shape[0], generator)
        return self.synthesize(features, timbre, back, mel_frames, generator, motion=motion)
