"""Sound-to-video training (Lee et al., ECCV 2022): the sound-inversion encoder and the coarse/mid/fine recurrent
blocks learn to move a frozen StyleGAN's W+ so that the frames follow the sound.

Generator phase (weights in ``loss:``): ``clip_av * L_CLIP(a<->v)`` (frames vs the frozen audio encoder's embedding
of each frame's audio) + ``clip_at * L_CLIP(a<->t)`` (frames vs the CLIP text embedding of the clip's label) +
``consistency * ||w_hat - mean_t w_hat||^2`` + ``encoder_reg * ||E_a(x)||^2`` + ``image_adv`` (per-frame StyleGAN2
discriminator) + ``video_adv`` (3-D patch discriminator). The StyleGAN generator, the CLIP teacher and the audio
encoder stay frozen. Every ``sample_every`` steps the task logs a frame strip and, on held-out clips
(``loss.eval_path``), the CLIP similarities a<->v and t<->v of the model and of the linear-interpolation baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import stylegan
import torch
import torch.nn as nn
from stylegan.generate import image_grid, to_uint8
from stylegan.networks_stylegan2 import Discriminator

from ...audio import CLIP_MEL_PRESET
from ...checkpoints import save_pipeline_config, save_pretrained
from ...data.sound_video import SoundVideoDataset
from ...encoders.audio_clip import load_audio_encoder
from ...encoders.clip_teacher import ClipTeacher
from ...errors import ConfigError
from ...models.s2v.sound_inversion import SoundToVideo, VideoPatchDiscriminator, linear_interpolation_ws
from .. import losses as L
from .base import Task

__all__ = ["S2VModel", "S2VLoss", "S2VDiscriminators", "SoundVideoTask", "S2VTask"]


@dataclass
class S2VModel:
    stylegan: str = ""  # frozen generator: NVIDIA .pkl, rosinality .pt or a stylegan folder
    clip_model: str = "ViT-B-32"  # open_clip model name of the teacher
    clip_weights: str | None = None  # local open_clip checkpoint (or clip_pretrained=<tag>)
    clip_pretrained: str | None = None
    audio_encoder: str = ""  # folder written by avgen.encoders.audio_clip.save_audio_encoder
    group_bounds: tuple[int, int] = (3, 6)  # W+ layers [0, b0) coarse, [b0, b1) mid, [b1, num_ws) fine
    encoder_width: int = 32
    rnn_hidden: int = 256
    truncation_psi: float = 0.7  # start latents w ~ truncated mapping(z)
    image_d_channel_base: int = 4096
    image_d_channel_max: int = 256
    video_d_channels: int = 32
    video_d_layers: int = 3


@dataclass
class S2VLoss:
    clip_av: float = 1.0
    clip_at: float = 0.5
    consistency: float = 0.01  # lambda_b
    encoder_reg: float = 1e-3  # lambda_enc
    image_adv: float = 0.05
    video_adv: float = 0.05
    eval_path: str = ""  # held-out videos with sound for the CLIP-similarity curves ("" = no evaluation)
    eval_seeds: tuple[int, ...] = field(default_factory=lambda: (0, 1))


class S2VDiscriminators(nn.Module):
    """The image discriminator (per frame) and the video discriminator (3-D patches) as one module; one forward
    runs both, so every parameter takes part in each call (as DistributedDataParallel expects)."""

    def __init__(self, image: nn.Module, video: nn.Module):
        super().__init__()
        self.image, self.video = image, video

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """clips [B, T, 3, R, R] -> per-frame logits [B*T, 1] and patch logits [B, 1, T', H', W']."""
        return self.image(clips.flatten(0, 1), None), self.video(clips.transpose(1, 2))


class SoundVideoTask(Task):
    """Shared by the sound-to-video tasks: ``data.kind: sound_video`` and the held-out clips of ``loss.eval_path``."""

    _heldout = None

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind != "sound_video":
            raise ConfigError(f"task {cls.name} needs data.kind: sound_video")

    def heldout(self):
        """The ``loss.eval_path`` dataset (built once) with its window sampler reset: the same windows every time."""
        if self._heldout is None:
            d = self.cfg.data
            self._heldout = SoundVideoDataset(self.lcfg.eval_path, resolution=d.resolution, num_frames=d.num_frames,
                                              fps=d.fps, audio_window=d.audio_window)
        self._heldout.generator.manual_seed(0)
        return self._heldout


class S2VTask(SoundVideoTask):
    name = "s2v"
    model_config = S2VModel
    loss_config = S2VLoss

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        for key in ("stylegan", "audio_encoder"):
            if not cfg.model.get(key):
                raise ConfigError(f"model.{key}: required for task s2v")

    def __init__(self, cfg, *, feature_dim: int, n_mels: int, mel_preset: str | None = None):
        super().__init__(cfg, feature_dim=feature_dim, n_mels=n_mels, mel_preset=mel_preset)
        m = self.mcfg
        self.G = stylegan.load(m.stylegan).requires_grad_(False)
        if cfg.data.resolution != self.G.img_resolution:
            raise ConfigError(f"data.resolution={cfg.data.resolution} must equal the generator's "
                              f"{self.G.img_resolution}")
        self.groups = stylegan.layer_groups(self.G.num_ws, tuple(m.group_bounds))
        self.clip = ClipTeacher(m.clip_model, weights=m.clip_weights, pretrained=m.clip_pretrained)
        self.audio_encoder, _ = load_audio_encoder(m.audio_encoder)
        self.frozen = nn.ModuleList([self.G, self.clip, self.audio_encoder])

    # -- models ----------------------------------------------------------------------------------------------------

    def build_generator(self) -> nn.Module:
        return SoundToVideo(num_ws=self.G.num_ws, w_dim=self.G.w_dim, groups=self.groups, encoder_width=self.mcfg.encoder_width,
                            rnn_hidden=self.mcfg.rnn_hidden)

    def build_discriminator(self) -> nn.Module:
        m = self.mcfg
        image = Discriminator(c_dim=0, img_resolution=self.G.img_resolution, img_channels=3,
                              channel_base=m.image_d_channel_base, channel_max=m.image_d_channel_max, num_fp16_res=0,
                              epilogue_kwargs=dict(mbstd_num_channels=0))
        return S2VDiscriminators(image, VideoPatchDiscriminator(m.video_d_channels, m.video_d_layers))

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _frozen_to(self, device) -> None:
        if next(self.G.parameters()).device != torch.device(device):
            self.frozen.to(device)

    def _start_latents(self, n: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn([n, self.G.z_dim], generator=generator or self.rng).to(device)
        with torch.no_grad():
            return self.G.mapping(z, None, truncation_psi=self.mcfg.truncation_psi)

    def _render(self, ws: torch.Tensor) -> torch.Tensor:
        """[B, T, num_ws, w_dim] -> frames [B, T, 3, R, R]."""
        b, t = ws.shape[:2]
        return self.G.synthesis(ws.flatten(0, 1), noise_mode="const").unflatten(0, (b, t))

    def _text(self, labels: list[str | None], device) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Text embeddings [B, D] of the labels (zeros where missing) and the mask of clips that have one."""
        mask = torch.tensor([lab is not None for lab in labels], device=device)
        if not bool(mask.any()):
            return None, mask
        emb = self.clip.encode_texts([lab if lab is not None else "" for lab in labels]).to(device)
        return emb * mask[:, None], mask

    def _audio_embeddings(self, mels: torch.Tensor) -> torch.Tensor:
        b, t = mels.shape[:2]
        with torch.no_grad():
            return self.audio_encoder(mels.flatten(0, 1)).unflatten(0, (b, t))

    # -- losses ----------------------------------------------------------------------------------------------------

    def _fake(self, model, mels):
        w = self._start_latents(mels.shape[0], mels.device)
        ws, offsets = model(mels, w, return_offsets=True)
        return ws, offsets, self._render(ws)

    def discriminator_loss(self, batch, generator, discriminator):
        mels, real = batch["mels"], batch["frames"]  # [B, T, M, L], [B, T, 3, R, R]
        self._frozen_to(mels.device)
        with torch.no_grad():
            _, _, fake = self._fake(generator, mels)
        img_real, vid_real = discriminator(real)
        img_fake, vid_fake = discriminator(fake)
        loss_img = L.nonsaturating_d_loss(img_real, img_fake)
        loss_vid = L.nonsaturating_d_loss(vid_real, vid_fake)
        loss = loss_img + loss_vid
        return loss, {"d/loss": float(loss.detach()), "d/image": float(loss_img.detach()),
                      "d/video": float(loss_vid.detach())}

    def generator_loss(self, batch, generator, discriminator):
        lc = self.lcfg
        mels = batch["mels"]
        self._frozen_to(mels.device)
        ws, offsets, fake = self._fake(generator, mels)
        b, t = fake.shape[:2]
        f_v = self.clip.encode_images(fake.flatten(0, 1)).unflatten(0, (b, t))  # [B, T, D]
        f_a = self._audio_embeddings(mels)
        loss_av = L.clip_direction_loss(f_v, f_a)
        loss = lc.clip_av * loss_av
        logs = {"g/clip_av": float(loss_av.detach())}
        text, mask = self._text(batch.get("label", [None] * b), mels.device)
        if text is not None and lc.clip_at > 0:
            loss_at = L.clip_direction_loss(f_v[mask], text[mask])
            loss = loss + lc.clip_at * loss_at
            logs["g/clip_at"] = float(loss_at.detach())
        cons = L.latent_consistency_loss(ws)
        reg = L.encoder_regularizer(offsets)
        loss = loss + lc.consistency * cons + lc.encoder_reg * reg
        if lc.image_adv > 0 or lc.video_adv > 0:
            img_fake, vid_fake = discriminator(fake)
            adv_img, adv_vid = L.nonsaturating_g_loss(img_fake), L.nonsaturating_g_loss(vid_fake)
            loss = loss + lc.image_adv * adv_img + lc.video_adv * adv_vid
            logs.update({"g/image_adv": float(adv_img.detach()), "g/video_adv": float(adv_vid.detach())})
        logs.update({"g/loss": float(loss.detach()), "g/consistency": float(cons.detach()), "g/encoder_reg": float(reg.detach())})
        return loss, logs

    # -- pictures, held-out metrics, export ------------------------------------------------------------------------

    def log_media(self, writer, batch, generator, step: int) -> None:
        """A frame strip (``samples/frames``) of the first clip's sound from a fixed start latent."""
        mels = batch["mels"][:1]
        self._frozen_to(mels.device)
        with torch.no_grad():
            w = self._start_latents(1, mels.device, torch.Generator().manual_seed(0))
            frames = self._render(generator(mels, w))[0]
        writer.add_image("samples/frames", image_grid(to_uint8(frames), cols=frames.shape[0]), step, dataformats="HWC")

    @torch.no_grad()
    def evaluate(self, generator, step: int) -> dict[str, float]:
        """Mean CLIP similarity (cosine) on held-out clips: frames vs each frame's audio embedding (a<->v) and vs the
        label's text embedding (t<->v), for the model and for linear interpolation between two start latents."""
        if not self.lcfg.eval_path:
            return {}
        device = next(generator.parameters()).device
        self._frozen_to(device)
        heldout = self.heldout()
        sums = {"av": [], "tv": [], "av_interp": [], "tv_interp": []}
        for i in range(len(heldout)):
            item = heldout[i]
            mels = item["mels"][None].to(device)
            f_a = self._audio_embeddings(mels)[0]
            text, _ = self._text([item["label"]], device)
            for seed in self.lcfg.eval_seeds:
                g = torch.Generator().manual_seed(1000 + seed)
                w0, w1 = self._start_latents(1, device, g), self._start_latents(1, device, g)
                candidates = {"": generator(mels, w0), "_interp": linear_interpolation_ws(w0, w1, mels.shape[1])}
                for suffix, ws in candidates.items():
                    f_v = self.clip.encode_images(self._render(ws)[0])  # [T, D]
                    sums["av" + suffix].append(float((f_v * f_a).sum(-1).mean()))
                    if text is not None:
                        sums["tv" + suffix].append(float((f_v @ text[0]).mean()))
        return {f"metrics/clip_{k}": float(np.mean(v)) for k, v in sums.items() if v}

    def export(self, out_dir: str, generator, discriminator) -> bool:
        """``final/``: a ``SoundToVideoPipeline`` folder -- the inversion model in ``s2v/`` and ``config.json``
        naming the frozen parts it was trained with (absolute paths)."""
        save_pretrained(generator, os.path.join(out_dir, "s2v"))
        m, d = self.mcfg, self.cfg.data
        settings = {"task": "s2v", "truncation_psi": m.truncation_psi,
                    "stylegan": os.path.abspath(m.stylegan), "audio_encoder": os.path.abspath(m.audio_encoder),
                    "clip": {"model": m.clip_model,
                             "weights": os.path.abspath(m.clip_weights) if m.clip_weights else None,
                             "pretrained": m.clip_pretrained},
                    "data": {"fps": d.fps, "num_frames": d.num_frames, "audio_window": d.audio_window,
                             "resolution": d.resolution, "mel_preset": CLIP_MEL_PRESET}}
        save_pipeline_config(out_dir, "SoundToVideoPipeline", {"model": "s2v"}, settings)
        return True
