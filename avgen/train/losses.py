"""Every adversarial, contrastive and regularisation loss the training tasks use, as plain functions of tensors.

GAN losses take discriminator outputs (logits); ``lsgan_*`` take lists of outputs (one per discriminator or window).
Contrastive losses take unit-normalised CLIP-space embeddings: frames ``F_v(G(w_hat))``, audio ``F_a(x_a)``, text
``F_t(label)`` (the sound-to-video head, Lee et al., ECCV 2022, Sec. 3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["lsgan_d_loss", "lsgan_g_loss", "feature_matching_loss", "nonsaturating_d_loss", "nonsaturating_g_loss",
           "r1_penalty", "path_length_penalty", "symmetric_info_nce", "label_cross_entropy", "clip_direction_loss",
           "latent_consistency_loss", "encoder_regularizer"]


# ----------------------------------------------------------------------------------------------------------------
# Least-squares GAN (feature2mel, VarietySound, HiFi-GAN)


def lsgan_d_loss(real: list[torch.Tensor], fake: list[torch.Tensor], *, average: bool = True) -> torch.Tensor:
    """``sum_k [mean (D_k(real) - 1)^2 + mean D_k(fake)^2]``, divided by the number of outputs K when ``average``."""
    loss = sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(real, fake))
    return loss / len(real) if average else loss


def lsgan_g_loss(fake: list[torch.Tensor], *, average: bool = True) -> torch.Tensor:
    """``sum_k mean (D_k(fake) - 1)^2``, divided by the number of outputs K when ``average``."""
    loss = sum(((f - 1) ** 2).mean() for f in fake)
    return loss / len(fake) if average else loss


def feature_matching_loss(real_feats, fake_feats) -> torch.Tensor:
    """``sum_k,l mean |F_kl(real) - F_kl(fake)|`` over discriminators k and their layers l (real features detached)."""
    return sum(F.l1_loss(f, r.detach()) for fs, rs in zip(fake_feats, real_feats) for f, r in zip(fs, rs))


# ----------------------------------------------------------------------------------------------------------------
# Non-saturating logistic GAN and its regularisers (StyleGAN2, sound-to-video)


def nonsaturating_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean softplus(-D(real)) + mean softplus(D(fake))`` = ``-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean softplus(-D(fake))`` = ``-log sigmoid(D(G(z)))``, averaged over every logit (patches included)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """``E_x |grad_x D(x)|^2`` (unweighted; R1 is ``gamma / 2`` times this); ``real_images`` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().sum(dim=list(range(1, grad.ndim))).mean()


def path_length_penalty(images: torch.Tensor, ws: torch.Tensor, pl_mean: torch.Tensor, decay: float,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean (|J_w^T y|_2 - a)^2``, ``y ~ N(0, I) / sqrt(HW)``, ``a <- lerp(a, mean |J_w^T y|_2, decay)`` (StyleGAN2 Eq. 4); returns (penalty, new a)."""
    y = torch.randn(images.shape, generator=generator).to(images.device) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    pl_mean = pl_mean.to(images.device).lerp(lengths.mean().detach(), decay)
    return (lengths - pl_mean).square().mean(), pl_mean


# ----------------------------------------------------------------------------------------------------------------
# Contrastive and latent losses (sound-to-video)


def symmetric_info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """``(CE(s A B^T, I) + CE(s B A^T, I)) / 2`` with ``s = min(exp(logit_scale), 100)`` for paired rows a, b [N, D]."""
    logits = logit_scale.exp().clamp(max=100) * a @ b.t()
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def label_cross_entropy(a: torch.Tensor, text: torch.Tensor, target: torch.Tensor,
                        logit_scale: torch.Tensor) -> torch.Tensor:
    """``CE(s A T^T, target)`` with ``s = min(exp(logit_scale), 100)``: rows a [N, D] against class embeddings text [C, D]."""
    logits = logit_scale.exp().clamp(max=100) * a @ text.t()
    return F.cross_entropy(logits, target)


def clip_direction_loss(frame_emb: torch.Tensor, target_emb: torch.Tensor) -> torch.Tensor:
    """``mean_t 1 - cos(F_v(frame_t), target)``; frame_emb [B, T, D], target_emb [B, T, D] (audio) or [B, D] (text)."""
    if target_emb.ndim == 2:
        target_emb = target_emb[:, None].expand_as(frame_emb)
    return (1 - F.cosine_similarity(frame_emb, target_emb, dim=-1)).mean()


def latent_consistency_loss(ws: torch.Tensor) -> torch.Tensor:
    """``mean ||w_hat^t - mean_t w_hat^t||^2`` (summed over w_dim) for ws [B, T, num_ws, w_dim]: keeps the clip's content."""
    return (ws - ws.mean(dim=1, keepdim=True)).square().sum(-1).mean()


def encoder_regularizer(offsets: torch.Tensor) -> torch.Tensor:
    """``mean ||E_a(x)||^2`` (summed over w_dim): keeps the sound offsets near the sampled latent."""
    return offsets.square().sum(-1).mean()
