"""Training the audio encoder of the sound-to-video head into a frozen CLIP space (as in "Sound-guided semantic
image manipulation", the paper's predecessor): for every frame's audio window ``a = F_a(mel)``, with the frame's CLIP
image embedding ``v`` and the clip label's CLIP text embedding ``t``,

    loss = image * InfoNCE(a, v) + text * InfoNCE(a, t) + augment * InfoNCE(a, F_a(aug(mel)))

(symmetric InfoNCE with the encoder's learned temperature; ``aug``: random gain, time shift, time and frequency
masks). The export is an audio-encoder folder that ``task: s2v`` takes as ``model.audio_encoder``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ...encoders.audio_clip import save_audio_encoder
from ...encoders.clip_teacher import ClipTeacher
from ...models.s2v.sound_inversion import AudioCLIPEncoder
from .. import losses as L
from .s2v import SoundVideoTask

__all__ = ["AudioCLIPModel", "AudioCLIPLoss", "AudioCLIPTask", "augment_mels"]


@dataclass
class AudioCLIPModel:
    clip_model: str = "ViT-B-32"  # open_clip name or model-config JSON of the frozen teacher
    clip_weights: str | None = None
    clip_pretrained: str | None = None
    width: int = 64  # ResNet18 stage width (64 = ResNet18)
    blocks: tuple[int, ...] = (2, 2, 2, 2)


@dataclass
class AudioCLIPLoss:
    image: float = 1.0
    text: float = 1.0
    augment: float = 0.5
    eval_path: str = ""  # held-out videos: logs the matched-minus-mismatched audio/frame similarity


def augment_mels(mels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """mels [N, M, L] in [0, 1]: random gain (+-0.1, i.e. +-10 dB of the 100 dB range), circular time shift up to
    L/8, one time mask (up to L/8) and one frequency mask (up to M/8) per item."""
    n, m, length = mels.shape
    out = mels + (torch.rand([n, 1, 1], generator=generator) - 0.5).to(mels) * 0.2
    shifts = torch.randint(-(length // 8), length // 8 + 1, [n], generator=generator).tolist()
    out = torch.stack([torch.roll(x, s, dims=-1) for x, s in zip(out, shifts)])
    t0 = torch.randint(0, length, [n], generator=generator)
    tw = torch.randint(0, max(length // 8, 1) + 1, [n], generator=generator)
    f0 = torch.randint(0, m, [n], generator=generator)
    fw = torch.randint(0, max(m // 8, 1) + 1, [n], generator=generator)
    tt = torch.arange(length)[None, None, :]
    ff = torch.arange(m)[None, :, None]
    masked = ((tt >= t0[:, None, None]) & (tt < (t0 + tw)[:, None, None])) | \
             ((ff >= f0[:, None, None]) & (ff < (f0 + fw)[:, None, None]))
    return out.clamp(0, 1).masked_fill(masked.to(out.device), 0.0)


class AudioCLIPTask(SoundVideoTask):
    name = "s2v_audio"
    model_config = AudioCLIPModel
    loss_config = AudioCLIPLoss

    def __init__(self, cfg, *, feature_dim: int, n_mels: int, mel_preset: str | None = None):
        super().__init__(cfg, feature_dim=feature_dim, n_mels=n_mels, mel_preset=mel_preset)
        m = self.mcfg
        self.clip = ClipTeacher(m.clip_model, weights=m.clip_weights, pretrained=m.clip_pretrained)
        self.embed_dim = int(self.clip.model.visual.output_dim)
        self.n_mels = n_mels

    def build_generator(self) -> nn.Module:
        return AudioCLIPEncoder(embed_dim=self.embed_dim, width=self.mcfg.width, blocks=tuple(self.mcfg.blocks))

    def generator_loss(self, batch, generator, discriminator):
        mels, frames = batch["mels"], batch["frames"]  # [B, T, M, L], [B, T, 3, R, R]
        b, t = mels.shape[:2]
        self.clip.to(mels.device)
        enc = generator.module if hasattr(generator, "module") else generator
        flat = mels.flatten(0, 1)
        a = generator(flat)  # [B*T, D]
        with torch.no_grad():
            v = self.clip.encode_images(frames.flatten(0, 1))
        scale = enc.logit_scale
        loss_img = L.symmetric_info_nce(a, v, scale)
        loss = self.lcfg.image * loss_img
        logs = {"g/nce_image": float(loss_img.detach())}
        labels = batch.get("label", [None] * b)
        if self.lcfg.text > 0 and all(lab is not None for lab in labels) and len(set(labels)) > 1:
            # One row per clip (its mean audio embedding) against the distinct labels: no duplicate negatives.
            names = sorted(set(labels))
            text = self.clip.encode_texts(names).to(mels.device)
            a_clip = nn.functional.normalize(a.unflatten(0, (b, t)).mean(1), dim=-1)
            target = torch.tensor([names.index(lab) for lab in labels], device=mels.device)
            loss_txt = L.label_cross_entropy(a_clip, text, target, scale)
            loss = loss + self.lcfg.text * loss_txt
            logs["g/ce_text"] = float(loss_txt.detach())
        if self.lcfg.augment > 0:
            a_aug = generator(augment_mels(flat.cpu(), self.rng).to(mels.device))
            loss_aug = L.symmetric_info_nce(a, a_aug, scale)
            loss = loss + self.lcfg.augment * loss_aug
            logs["g/nce_augment"] = float(loss_aug.detach())
        logs["g/loss"] = float(loss.detach())
        return loss, logs

    @torch.no_grad()
    def evaluate(self, generator, step: int) -> dict[str, float]:
        """Held-out: mean cos(audio window, its own frame) minus mean cos(audio window, other clips' frames)."""
        if not self.lcfg.eval_path:
            return {}
        heldout = self.heldout()
        device = next(generator.parameters()).device
        self.clip.to(device)
        was_training = generator.training
        generator.eval()
        a, v, clip_id = [], [], []
        for i in range(len(heldout)):
            item = heldout[i]
            a.append(generator(item["mels"].to(device)))
            v.append(self.clip.encode_images(item["frames"].to(device)))
            clip_id += [i] * item["mels"].shape[0]
        generator.train(was_training)
        sims = torch.cat(a) @ torch.cat(v).t()
        ids = torch.tensor(clip_id, device=sims.device)
        same = ids[:, None] == ids[None, :]
        matched = float(sims.diagonal().mean())
        others = float(sims[~same].mean()) if bool((~same).any()) else float("nan")
        return {"metrics/audio_frame_cos": matched, "metrics/audio_frame_margin": matched - others}

    def export(self, out_dir: str, generator, discriminator) -> bool:
        """``final/``: an audio-encoder folder (``avgen.encoders.audio_clip``) naming its CLIP teacher."""
        m = self.mcfg
        save_audio_encoder(generator, out_dir, extra={"teacher": {"model": m.clip_model, "weights": m.clip_weights,
                                                                   "pretrained": m.clip_pretrained}})
        return True

