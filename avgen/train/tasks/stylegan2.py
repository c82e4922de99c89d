"""StyleGAN2 training on an image folder through the shared engine (Karras et al. 2020, with the ADA paper's
defaults for small data): non-saturating logistic loss, lazy R1 on reals, optional path-length regularisation,
style mixing, DiffAugment (Zhao et al. 2020) applied to every image D sees, w_avg tracking, EMA by the engine.

Periodically the task logs a sample grid (fixed z) and a FID-like Fréchet distance between generated and training
images in the offline EfficientNet-Lite0 feature space (``metrics.jsonl``; not comparable with Inception FID).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from stylegan import save_pretrained
from stylegan.generate import image_grid, to_uint8
from stylegan.networks_stylegan2 import Discriminator, Generator

from ...errors import ConfigError
from ...metrics.networks import EfficientNetImageExtractor
from ...metrics.stats import frechet_distance
from .. import losses as L
from .base import Task

__all__ = ["StyleGAN2Model", "StyleGAN2Loss", "StyleGAN2Task", "diff_augment"]


@dataclass
class StyleGAN2Model:
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 16384  # channels per block: min(channel_base / resolution, channel_max)
    channel_max: int = 512
    num_fp16_res: int = 0  # fp16 for the N highest resolutions (CUDA only)
    conv_clamp: float | None = 256
    mbstd_group_size: int = 4


@dataclass
class StyleGAN2Loss:
    r1_gamma: float = 1.0  # R1 weight (gamma / 2 * |grad D(x)|^2)
    r1_interval: int = 16  # lazy regularisation: every N discriminator steps, scaled by N
    pl_weight: float = 0.0  # path-length regularisation weight (0 = off, StyleGAN2 used 2)
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    style_mixing_prob: float = 0.9
    augment: Literal["none", "diffaugment"] = "diffaugment"
    diffaugment_policy: str = "color,translation,cutout"
    truncation_psi_samples: float = 1.0
    eval_samples: int = 64  # generated images per FID-like evaluation (0 disables the metric)
    eval_real: int = 256  # training images for the reference statistics


# DiffAugment (Zhao et al., NeurIPS 2020): differentiable colour, translation and cutout, fresh per call.

def _rand(shape, x, gen):
    return torch.rand(shape, generator=gen, device="cpu").to(x.device, x.dtype)


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """x [B, C, H, W] in [-1, 1]; policy a comma list of 'color', 'translation', 'cutout'."""
    b, c, h, w = x.shape
    for p in [q.strip() for q in policy.split(",") if q.strip()]:
        if p == "color":
            x = x + (_rand([b, 1, 1, 1], x, generator) - 0.5)  # brightness
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (_rand([b, 1, 1, 1], x, generator) * 2) + mean  # saturation
            mean = x.mean(dim=[1, 2, 3], keepdim=True)
            x = (x - mean) * (_rand([b, 1, 1, 1], x, generator) + 0.5) + mean  # contrast
        elif p == "translation":  # shift by up to 1/8 of the size, zeros enter at the border
            sx, sy = int(w * 0.125 + 0.5), int(h * 0.125 + 0.5)
            tx = torch.randint(-sx, sx + 1, [b], generator=generator).tolist()
            ty = torch.randint(-sy, sy + 1, [b], generator=generator).tolist()
            padded = F.pad(x, [sx, sx, sy, sy])
            x = torch.stack([padded[i, :, sy - ty[i]: sy - ty[i] + h, sx - tx[i]: sx - tx[i] + w] for i in range(b)])
        elif p == "cutout":  # zero one square of half the size at a random place
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            oy = torch.randint(0, h + (1 - ch % 2), [b], generator=generator)
            ox = torch.randint(0, w + (1 - cw % 2), [b], generator=generator)
            yy = torch.arange(h)[None, :, None]
            xx = torch.arange(w)[None, None, :]
            y0 = (oy - ch // 2)[:, None, None]
            x0 = (ox - cw // 2)[:, None, None]
            keep = ~((yy >= y0) & (yy < y0 + ch) & (xx >= x0) & (xx < x0 + cw))  # [B, H, W]
            x = x * keep[:, None].to(x.device, x.dtype)
        else:
            raise ConfigError(f"loss.diffaugment_policy: unknown augmentation '{p}' (color, translation, cutout)")
    return x


class StyleGAN2Task(Task):
    name = "stylegan2"
    model_config = StyleGAN2Model
    loss_config = StyleGAN2Loss

    def __init__(self, cfg, *, feature_dim: int, n_mels: int, mel_preset: str | None = None):
        super().__init__(cfg, feature_dim=feature_dim, n_mels=n_mels, mel_preset=mel_preset)
        if cfg.data.kind != "images":
            raise ConfigError("task stylegan2 needs data.kind: images")
        self.resolution = cfg.data.resolution
        self.d_steps = self.g_steps = 0
        self.pl_mean = torch.zeros([])
        self.dataset = None
        self._real_stats = None
        self._extractor = None
        self.sample_z = torch.randn([16, self.mcfg.z_dim], generator=torch.Generator().manual_seed(cfg.seed + 7))

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind != "images":
            raise ConfigError("task stylegan2 needs data.kind: images")

    def attach_dataset(self, dataset) -> None:
        self.dataset = dataset

    def build_generator(self) -> nn.Module:
        m = self.mcfg
        return Generator(z_dim=m.z_dim, c_dim=0, w_dim=m.w_dim, img_resolution=self.resolution, img_channels=3,
                         mapping_kwargs=dict(num_layers=m.mapping_layers), channel_base=m.channel_base,
                         channel_max=m.channel_max, num_fp16_res=m.num_fp16_res, conv_clamp=m.conv_clamp)

    def build_discriminator(self) -> nn.Module:
        m = self.mcfg
        return Discriminator(c_dim=0, img_resolution=self.resolution, img_channels=3, channel_base=m.channel_base,
                             channel_max=m.channel_max, num_fp16_res=m.num_fp16_res, conv_clamp=m.conv_clamp,
                             epilogue_kwargs=dict(mbstd_group_size=m.mbstd_group_size))

    # -- helpers -------------------------------------------------------------------------------------------------

    def _z(self, n: int, device) -> torch.Tensor:
        return torch.randn([n, self.mcfg.z_dim], generator=self.rng).to(device)

    def _generate(self, G, n: int, device, update_emas: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and their ws, with style mixing at a random cut-off (StyleGAN2 Sec. 2 / ADA defaults)."""
        G_ = G.module if hasattr(G, "module") else G
        ws = G_.mapping(self._z(n, device), None, update_emas=update_emas)
        if self.lcfg.style_mixing_prob > 0 and float(torch.rand([], generator=self.rng)) < self.lcfg.style_mixing_prob:
            cutoff = int(torch.randint(1, ws.shape[1], [], generator=self.rng))
            ws = ws.clone()
            ws[:, cutoff:] = G_.mapping(self._z(n, device), None, update_emas=False)[:, cutoff:]
        return G_.synthesis(ws, update_emas=update_emas), ws

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.lcfg.diffaugment_policy, self.rng) if self.lcfg.augment == "diffaugment" else x

    # -- losses --------------------------------------------------------------------------------------------------

    def discriminator_loss(self, batch, generator, discriminator):
        self.d_steps += 1
        real = batch["image"]
        with torch.no_grad():
            fake, _ = self._generate(generator, real.shape[0], real.device)
        logits_fake = discriminator(self._augment(fake), None)
        do_r1 = self.lcfg.r1_gamma > 0 and self.d_steps % self.lcfg.r1_interval == 0
        real_in = real.detach().requires_grad_(do_r1)
        logits_real = discriminator(self._augment(real_in), None)
        loss = L.nonsaturating_d_loss(logits_real, logits_fake)
        logs = {"d/loss": float(loss.detach()), "d/real_score": float(logits_real.detach().mean()), "d/fake_score": float(logits_fake.detach().mean())}
        if do_r1:  # lazy R1: gamma/2 E|grad_x D(x)|^2, every r1_interval steps, scaled by the interval
            penalty = L.r1_penalty(logits_real, real_in)
            loss = loss + penalty * (self.lcfg.r1_gamma / 2) * self.lcfg.r1_interval
            logs["d/r1_penalty"] = float(penalty.detach())
        return loss, logs

    def generator_loss(self, batch, generator, discriminator):
        self.g_steps += 1
        n = batch["image"].shape[0]
        device = batch["image"].device
        fake, _ = self._generate(generator, n, device, update_emas=True)
        loss = L.nonsaturating_g_loss(discriminator(self._augment(fake), None))
        logs = {"g/loss": float(loss.detach())}
        if self.lcfg.pl_weight > 0 and self.g_steps % self.lcfg.pl_interval == 0:
            # Path-length regulariser (StyleGAN2 Eq. 4): keep |J_w^T y| constant for random image-space y.
            m = max(n // self.lcfg.pl_batch_shrink, 1)
            img, ws = self._generate(generator, m, device)
            penalty, self.pl_mean = L.path_length_penalty(img, ws, self.pl_mean, self.lcfg.pl_decay, self.rng)
            loss = loss + penalty * self.lcfg.pl_weight * self.lcfg.pl_interval
            logs["g/pl_penalty"] = float(penalty.detach())
        return loss, logs

    # -- pictures, metric, export ----------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_grid(self, generator) -> np.ndarray:
        device = next(generator.parameters()).device
        ws = generator.mapping(self.sample_z.to(device), None, truncation_psi=self.lcfg.truncation_psi_samples)
        return image_grid(to_uint8(generator.synthesis(ws, noise_mode="const")), cols=4)

    def log_media(self, writer, batch, generator, step: int) -> None:
        """The sample grid of the fixed z (``samples/grid``)."""
        was_training = generator.training
        generator.eval()
        try:
            writer.add_image("samples/grid", self.sample_grid(generator), step, dataformats="HWC")
        finally:
            generator.train(was_training)

    @torch.no_grad()
    def evaluate(self, generator, step: int) -> dict[str, float]:
        """FID-like distance (EfficientNet-Lite0 pool features) between ``eval_samples`` generated images and up to
        ``eval_real`` training images."""
        if self.lcfg.eval_samples <= 0 or self.dataset is None:
            return {}
        if self._extractor is None:
            self._extractor = EfficientNetImageExtractor(device="cpu")
        if self._real_stats is None:
            pixels = self.dataset.pixels[: self.lcfg.eval_real]
            feats = torch.cat([self._extractor(pixels[i:i + 32])["pool"] for i in range(0, len(pixels), 32)]).double().numpy()
            self._real_stats = (feats.mean(0), np.cov(feats, rowvar=False))
        was_training = generator.training
        generator.eval()
        device = next(generator.parameters()).device
        gen = torch.Generator().manual_seed(12345)  # the same z every evaluation: the curve shows the model change
        feats = []
        for i in range(0, self.lcfg.eval_samples, 16):
            z = torch.randn([min(16, self.lcfg.eval_samples - i), generator.z_dim], generator=gen).to(device)
            img = to_uint8(generator(z, None, noise_mode="const"))
            feats.append(self._extractor(img)["pool"])
        generator.train(was_training)
        f = torch.cat(feats).double().numpy()
        mu_r, sigma_r = self._real_stats
        return {"metrics/fid_effnet": float(frechet_distance(f.mean(0), np.cov(f, rowvar=False), mu_r, sigma_r))}

    def export(self, out_dir: str, generator, discriminator) -> bool:
        """``final/`` in the stylegan folder format: loadable by ``stylegan.load`` and ``python -m stylegan.generate``."""
        save_pretrained(generator, out_dir, D=discriminator, extra={"task": "stylegan2", "resolution": self.resolution})
        return True
