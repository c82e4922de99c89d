"""The embedding CNN of aiSFX (Ma & Lerch, ISMIR 2022: "Representation Learning for the Automatic Indexing of Sound
Effects Libraries"), the X-Sequential-CE model trained on sound-effects libraries.

Four blocks of two 3x3 convolutions (no bias) with batch norm and ReLU, 2x2 max pooling after the first three; the
feature map is averaged over frequency and max-pooled over time into one 512-d vector per patch of 100 log-mel
frames. Parameter names follow the ``conv_blockN.{conv1,conv2,bn1,bn2}`` layout of the published checkpoint (its
``embedding_net.`` entries), so its weights load one to one. The feature front-end lives in
:mod:`avgen.metrics.sfx_embedding`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["AISFXEmbeddingNet", "AISFX_CHANNELS"]

AISFX_CHANNELS = (64, 128, 256, 512)
BN_EPS = 1e-5  # PyTorch's default, which the checkpoint was trained with


class _ConvBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> max pool (``pool`` x ``pool``)."""

    def __init__(self, c_in: int, c_out: int, pool: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, self.pool) if self.pool > 1 else x


class AISFXEmbeddingNet(nn.Module):
    """Log-mel patches ``[B, T, F]`` (time first; the checkpoint's T = 100 frames, F = 96 bands) -> ``[B, 512]``."""

    def __init__(self):
        super().__init__()
        c = (1,) + AISFX_CHANNELS
        pools = (2, 2, 2, 1)
        for i in range(4):
            setattr(self, f"conv_block{i + 1}", _ConvBlock(c[i], c[i + 1], pools[i]))
        self.out_dim = AISFX_CHANNELS[-1]

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = patches.unsqueeze(1)  # [B, 1, T, F]
        for i in range(4):
            x = getattr(self, f"conv_block{i + 1}")(x)  # [B, C, T / 8, F / 8] after the last
        x = x.mean(dim=3)  # [B, C, T']: average over frequency
        return x.amax(dim=2)  # [B, C]: max over time
