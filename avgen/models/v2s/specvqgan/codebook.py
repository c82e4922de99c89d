"""SpecVQGAN's spectrogram codebook (Iashin & Rahtu, BMVC 2021): a 2-D conv autoencoder with a vector quantizer.

The mel ``[B, 80, T]`` is read as a one-channel picture ``[B, 1, 80, T]``; the encoder halves both axes at every
level but the last (``ch_mult`` [1, 1, 2, 2, 4]: 80 x 848 -> 5 x 53), ``quant_conv`` maps ``z_channels`` to
``embed_dim``, and every cell takes its nearest codebook vector (eq. 1 of van den Oord et al. 2017); the decoder
mirrors the encoder. Blocks follow the taming-transformers layout the release builds on (ResNet blocks with
GroupNorm(32) and swish, single-head spatial attention where the *width* equals an entry of ``attn_resolutions``),
so parameter names and shapes equal the release's ``first_stage_model.*`` tensors one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config import resolve_config

__all__ = ["SpecVQGANCodebookConfig", "SpecVQGANCodebook", "VectorQuantizer", "CodebookEncoder", "CodebookDecoder"]


@dataclass
class SpecVQGANCodebookConfig:
    """Sizes of the codebook autoencoder; the defaults are the release's VGGSound codebook (VAS: ``n_embed`` 128).
    ``resolution`` is the width of the input mel in frames (848): attention sits at the levels whose width equals
    an entry of ``attn_resolutions``."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (53,)
    resolution: int = 848
    in_channels: int = 1
    out_ch: int = 1
    z_channels: int = 256
    n_embed: int = 1024
    embed_dim: int = 256
    beta: float = 0.25  # commitment weight of the quantizer loss
    dropout: float = 0.0


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """``x + conv2(swish(norm2(conv1(swish(norm1(x))))))``; a 1x1 ``nin_shortcut`` when the width changes."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(self.dropout(swish(self.norm2(h))))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all H*W cells with 1x1-conv projections, added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        # flatten the grid into a sequence of cells
        q = self.q(n).flatten(2).transpose(1, 2)  # [B, HW, C]
        k = self.k(n).flatten(2)  # [B, C, HW]
        v = self.v(n).flatten(2)  # [B, C, HW]
        # softmax(q k^T / sqrt(C)) v
        att = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=-1)  # [B, HW(query), HW(key)]
        out = torch.bmm(v, att.transpose(1, 2)).reshape(b, c, h, w)  # [B, C, H, W]
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv after zero-padding one row/column at the bottom/right (80 -> 40, 53 -> 27...)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 followed by a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: ``block`` (ResNet blocks), ``attn`` (one per block, or none) and an optional
    ``downsample``/``upsample`` (the release's attribute names)."""

    def __init__(self, blocks: list[nn.Module], attns: list[nn.Module]):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)

    def run(self, h: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if len(self.attn):
                h = self.attn[i](h)
        return h


class _Middle(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class CodebookEncoder(nn.Module):
    """``[B, in_channels, H, W]`` -> ``[B, z_channels, H / 2^L, W / 2^L]`` with L = len(ch_mult) - 1."""

    def __init__(self, c: SpecVQGANCodebookConfig):
        super().__init__()
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, padding=1)
        mults = (1,) + tuple(c.ch_mult)
        width, res = c.ch, c.resolution
        self.down = nn.ModuleList()
        for level, mult in enumerate(c.ch_mult):
            # num_res_blocks blocks from ch * mults[level] to ch * mult, attention after each where width matches
            blocks, attns, width = [], [], c.ch * mults[level]
            for _ in range(c.num_res_blocks):
                blocks.append(ResnetBlock(width, c.ch * mult, c.dropout))
                width = c.ch * mult
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(width))
            lvl = _Level(blocks, attns)
            if level != len(c.ch_mult) - 1:
                lvl.downsample = Downsample(width)
                res //= 2
            self.down.append(lvl)
        self.mid = _Middle(width, c.dropout)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, c.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for lvl in self.down:
            h = lvl.run(h)
            if hasattr(lvl, "downsample"):
                h = lvl.downsample(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h)))


class CodebookDecoder(nn.Module):
    """``[B, z_channels, h, w]`` -> ``[B, out_ch, h 2^L, w 2^L]``; ``up[level]`` is indexed like the encoder's
    ``down[level]`` and runs from the coarsest level to level 0, with num_res_blocks + 1 blocks each."""

    def __init__(self, c: SpecVQGANCodebookConfig):
        super().__init__()
        levels = len(c.ch_mult)
        width = c.ch * c.ch_mult[-1]
        res = c.resolution // 2 ** (levels - 1)
        self.conv_in = nn.Conv2d(c.z_channels, width, 3, padding=1)
        self.mid = _Middle(width, c.dropout)
        ups: list[_Level] = []
        for level in reversed(range(levels)):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResnetBlock(width, c.ch * c.ch_mult[level], c.dropout))
                width = c.ch * c.ch_mult[level]
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(width))
            lvl = _Level(blocks, attns)
            if level != 0:
                lvl.upsample = Upsample(width)
                res *= 2
            ups.insert(0, lvl)
        self.up = nn.ModuleList(ups)
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, c.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for lvl in reversed(self.up):
            h = lvl.run(h)
            if hasattr(lvl, "upsample"):
                h = lvl.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-neighbour lookup in ``embedding`` ([n_embed, embed_dim]) with the straight-through gradient."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float):
        super().__init__()
        self.n_embed, self.embed_dim, self.beta = n_embed, embed_dim, beta
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> the nearest entries' indices ``[B, H, W]``."""
        b, _, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.embed_dim)  # [BHW, C]
        e = self.embedding.weight  # [K, C]
        # ||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e, argmin over the K entries
        d = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * flat @ e.t()  # [BHW, K]
        return d.argmin(1).reshape(b, h, w)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices ``[B, H, W]`` -> codebook vectors ``[B, C, H, W]``."""
        return self.embedding(codes).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(straight-through quantized ``[B, C, H, W]``, codebook + beta * commitment loss, indices ``[B, H, W]``)."""
        codes = self.indices(z)
        zq = self.lookup(codes)
        # ||sg[z_q] - z||^2 + beta ||z_q - sg[z]||^2, as the release writes the two terms
        loss = torch.mean((zq.detach() - z) ** 2) + self.beta * torch.mean((zq - z.detach()) ** 2)
        # straight-through: forward z_q, backward identity onto z
        return z + (zq - z).detach(), loss, codes


class SpecVQGANCodebook(nn.Module):
    """The codebook autoencoder: ``encode(mel [B, M, T]) -> codes [B, H, W]``, ``decode(codes) -> mel``."""

    config_class = SpecVQGANCodebookConfig

    def __init__(self, config: SpecVQGANCodebookConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(SpecVQGANCodebookConfig, config, overrides)
        if c.ch % 32 or any((c.ch * m) % 32 for m in c.ch_mult):
            raise ValueError("every level's width (ch * ch_mult) must be a multiple of 32 (GroupNorm(32))")
        self.encoder = CodebookEncoder(c)
        self.decoder = CodebookDecoder(c)
        self.quantize = VectorQuantizer(c.n_embed, c.embed_dim, c.beta)
        self.quant_conv = nn.Conv2d(c.z_channels, c.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(c.embed_dim, c.z_channels, 1)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config.ch_mult) - 1)

    def _as_picture(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.ndim == 3 and self.config.in_channels == 1:
            mel = mel[:, None]  # [B, 1, M, T]
        if mel.ndim != 4 or mel.shape[1] != self.config.in_channels:
            raise ValueError(f"expected a mel [B, M, T] (or [B, {self.config.in_channels}, M, T]), "
                             f"got {tuple(mel.shape)}")
        return mel

    def encode_latent(self, mel: torch.Tensor) -> torch.Tensor:
        """The pre-quantization latent ``[B, embed_dim, H, W]``."""
        return self.quant_conv(self.encoder(self._as_picture(mel)))

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel ``[B, M, T]`` -> codebook indices ``[B, M / f, T / f]`` (f = :attr:`downsample_factor`)."""
        return self.quantize.indices(self.encode_latent(mel))

    def decode_latent(self, zq: torch.Tensor) -> torch.Tensor:
        """Quantized latent ``[B, embed_dim, H, W]`` -> ``[B, out_ch, H f, W f]``."""
        return self.decoder(self.post_quant_conv(zq))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices ``[B, H, W]`` -> mel ``[B, H f, W f]`` (``[B, out_ch, ...]`` when out_ch > 1)."""
        if codes.ndim != 3:
            raise ValueError(f"expected codes [B, H, W], got {tuple(codes.shape)}")
        out = self.decode_latent(self.quantize.lookup(codes.long()))
        return out[:, 0] if out.shape[1] == 1 else out

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction ``[B, out_ch, M, T]``, quantizer loss, codes ``[B, H, W]``): the training pass."""
        zq, qloss, codes = self.quantize(self.encode_latent(mel))
        return self.decode_latent(zq), qloss, codes
