"""Sound-to-video networks (Lee et al., "Sound-guided Semantic Video Generation", ECCV 2022).

An audio segment is mapped into a pretrained StyleGAN's W+ as an offset (``SoundInversionEncoder``); three recurrent
blocks move the coarse, mid and fine layer groups of W+ from frame to frame (``RecurrentLatentBlocks``);
``AudioCLIPEncoder`` maps a mel spectrogram into a CLIP-like embedding space for the CLIP-guided losses;
``VideoPatchDiscriminator`` judges 3-D patches of the generated clip. The StyleGAN generator itself stays outside
(frozen, passed to the training task); these modules only produce latents and scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import resolve_config

__all__ = ["BasicBlock", "AudioCLIPEncoderConfig", "AudioCLIPEncoder", "SoundInversionEncoder", "RecurrentLatentBlocks", "SoundToVideoConfig", "SoundToVideo",
           "VideoPatchDiscriminator", "linear_interpolation_ws"]


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm and an identity (or 1x1 strided) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class _ResNetTrunk(nn.Module):
    """ResNet18 layout over a one-channel mel image: 7x7/2 stem, max-pool, four stages of two basic blocks,
    global average pool. ``width`` scales the stage channels (64 = ResNet18)."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        stages, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, 2 if (j == 0 and i > 0) else 1)
                                          for j in range(n)]))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, T] -> [B, C]."""
        x = self.stages(self.stem(mel.unsqueeze(1)))
        return x.mean(dim=[2, 3])


@dataclass
class AudioCLIPEncoderConfig:
    embed_dim: int = 512  # the teacher CLIP's embedding width
    width: int = 64
    blocks: tuple[int, ...] = (2, 2, 2, 2)


class AudioCLIPEncoder(nn.Module):
    """Mel [B, n_mels, T] -> unit-norm embedding [B, embed_dim] in the teacher CLIP space (ResNet18-style CNN as in
    "Sound-guided semantic image manipulation"). ``logit_scale`` is the learned InfoNCE temperature."""

    config_class = AudioCLIPEncoderConfig

    def __init__(self, config: AudioCLIPEncoderConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(AudioCLIPEncoderConfig, config, overrides)
        width, blocks, embed_dim = c.width, tuple(c.blocks), c.embed_dim
        self.trunk = _ResNetTrunk(width, blocks)
        self.proj = nn.Linear(self.trunk.out_channels, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.6593))  # log(1 / 0.07), CLIP's initial temperature

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.trunk(mel)), dim=-1)


class SoundInversionEncoder(nn.Module):
    """E_a: an audio segment's mel [B, n_mels, L] -> W+ offset [B, num_ws, w_dim] (``w_hat_a = E_a(x_a) + w``).
    The last layer starts at zero, so training begins from the sampled latent itself."""

    def __init__(self, num_ws: int, w_dim: int, width: int = 32, blocks: tuple[int, ...] = (1, 1, 1, 1)):
        super().__init__()
        self.num_ws, self.w_dim = num_ws, w_dim
        self.trunk = _ResNetTrunk(width, blocks)
        self.head = nn.Linear(self.trunk.out_channels, num_ws * w_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(mel)).reshape(-1, self.num_ws, self.w_dim)


class RecurrentLatentBlocks(nn.Module):
    """One GRU per W+ group (coarse / mid / fine): ``w_hat^t[g], h_t[g] = E_RNN_g(h_{t-1}[g], E_a(x^{t-1})[g] +
    w_hat^{t-1}[g])``. Each block reads and writes only its own layers, so it can only move its own group."""

    def __init__(self, groups: dict[str, list[int]], w_dim: int, hidden: int = 256):
        super().__init__()
        self.groups = {name: list(idx) for name, idx in groups.items()}
        all_idx = sorted(i for idx in self.groups.values() for i in idx)
        if all_idx != list(range(len(all_idx))):
            raise ValueError(f"groups must partition 0..num_ws-1 exactly, got {self.groups}")
        self.num_ws, self.w_dim, self.hidden = len(all_idx), w_dim, hidden
        self.cells = nn.ModuleDict({n: nn.GRUCell(len(idx) * w_dim, hidden) for n, idx in self.groups.items()})
        self.heads = nn.ModuleDict({n: nn.Linear(hidden, len(idx) * w_dim) for n, idx in self.groups.items()})
        for head in self.heads.values():  # start as the identity map: w_hat^t = w_hat^{t-1} + 0
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def init_state(self, batch: int, device=None, dtype=None) -> dict[str, torch.Tensor]:
        return {n: torch.zeros(batch, self.hidden, device=device, dtype=dtype) for n in self.groups}

    def step(self, w_prev: torch.Tensor, offset: torch.Tensor, state: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """w_prev, offset [B, num_ws, w_dim] -> next ws [B, num_ws, w_dim] and the new hidden states."""
        out = w_prev.clone()
        new_state = {}
        for name, idx in self.groups.items():
            x = (offset[:, idx] + w_prev[:, idx]).flatten(1)  # [B, |g| * w_dim]
            h = self.cells[name](x, state[name])
            out[:, idx] = w_prev[:, idx] + self.heads[name](h).reshape(-1, len(idx), self.w_dim)
            new_state[name] = h
        return out, new_state


@dataclass
class SoundToVideoConfig:
    """The inversion model's sizes. ``num_ws``/``w_dim`` come from the frozen StyleGAN it steers; ``groups`` maps
    coarse/mid/fine to their W+ layer indices."""

    num_ws: int
    w_dim: int
    groups: dict[str, list[int]]
    encoder_width: int = 32
    rnn_hidden: int = 256


class SoundToVideo(nn.Module):
    """Latent trajectory from sound: segment mels [B, T, n_mels, L] and a start latent w [B, num_ws, w_dim] ->
    ws [B, T, num_ws, w_dim]. Frame 1 is ``E_a(x^1) + w``; frame t > 1 comes from the recurrent blocks fed with
    ``E_a(x^{t-1})`` and the previous frame's ws. ``use_sound=False`` is the paper's "w/o sound inputs" ablation
    (zero offsets). Built from :class:`SoundToVideoConfig` (or its fields as keywords)."""

    config_class = SoundToVideoConfig

    def __init__(self, config: SoundToVideoConfig | None = None, **fields):
        super().__init__()
        c = self.config = resolve_config(SoundToVideoConfig, config, fields)
        num_ws, w_dim, groups, encoder_width, rnn_hidden = c.num_ws, c.w_dim, c.groups, c.encoder_width, c.rnn_hidden
        self.num_ws, self.w_dim = num_ws, w_dim
        self.encoder = SoundInversionEncoder(num_ws, w_dim, width=encoder_width)
        self.rnn = RecurrentLatentBlocks(groups, w_dim, hidden=rnn_hidden)

    def offsets(self, mels: torch.Tensor) -> torch.Tensor:
        """[B, T, n_mels, L] -> E_a per segment [B, T, num_ws, w_dim]."""
        b, t = mels.shape[:2]
        return self.encoder(mels.flatten(0, 1)).reshape(b, t, self.num_ws, self.w_dim)

    def forward(self, mels: torch.Tensor, w: torch.Tensor, *, use_sound: bool = True,
                offsets: torch.Tensor | None = None, return_offsets: bool = False):
        """``offsets``: precomputed ``self.offsets(mels)``. ``return_offsets``: also return the E_a offsets
        [B, T, num_ws, w_dim] (the training loss regularises them; one call keeps DistributedDataParallel's
        gradient sync)."""
        b, t = mels.shape[:2]
        if not use_sound:
            offs = mels.new_zeros(b, t, self.num_ws, self.w_dim)
        else:
            offs = self.offsets(mels) if offsets is None else offsets
        ws = [w + offs[:, 0]]
        state = self.rnn.init_state(b, device=w.device, dtype=w.dtype)
        for i in range(1, t):
            nxt, state = self.rnn.step(ws[-1], offs[:, i - 1], state)
            ws.append(nxt)
        ws = torch.stack(ws, dim=1)  # [B, T, num_ws, w_dim]
        return (ws, offs) if return_offsets else ws


class VideoPatchDiscriminator(nn.Module):
    """3-D PatchGAN over a clip [B, 3, T, H, W]: strided 3-D convolutions give one logit per spatio-temporal patch
    ([B, 1, T', H', W']); callers average the patch losses."""

    def __init__(self, channels: int = 32, layers: int = 3, in_channels: int = 3):
        super().__init__()
        mods, cin = [], in_channels
        for i in range(layers):
            cout = channels * 2 ** i
            # Halve space every layer, time only from the second layer on (short clips).
            stride = (1 if i == 0 else 2, 2, 2)
            mods += [nn.Conv3d(cin, cout, (3, 4, 4), stride, (1, 1, 1)), nn.LeakyReLU(0.2)]
            cin = cout
        mods.append(nn.Conv3d(cin, 1, (1, 3, 3), 1, (0, 1, 1)))  # 3 layers: 9 frames x 46 pixels per logit
        self.net = nn.Sequential(*mods)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.net(video)


def linear_interpolation_ws(w_start: torch.Tensor, w_end: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The paper's baseline (Fig. 2 top): ws moving linearly from ``w_start`` to ``w_end`` [B, num_ws, w_dim] over
    ``num_frames`` frames -> [B, T, num_ws, w_dim]."""
    alpha = torch.linspace(0, 1, num_frames, device=w_start.device, dtype=w_start.dtype).reshape(1, -1, 1, 1)
    return w_start[:, None] + alpha * (w_end - w_start)[:, None]
