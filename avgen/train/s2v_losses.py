"""Loss terms of the sound-to-video head (Lee et al., ECCV 2022, Sec. 3), as plain functions of embeddings/latents.

Embeddings are unit-normalised CLIP-space vectors: frames ``F_v(G(w_hat))``, audio ``F_a(x_a)``, text ``F_t(label)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["clip_direction_loss", "latent_consistency_loss", "encoder_regularizer", "symmetric_info_nce",
           "nonsaturating_d_loss", "nonsaturating_g_loss"]


def clip_direction_loss(frame_emb: torch.Tensor, target_emb: torch.Tensor) -> torch.Tensor:
    """``1 - cos(F_v(frame), target)`` averaged over frames. frame_emb [B, T, D]; target_emb [B, T, D] (audio per
    segment, L_CLIP(a<->v)) or [B, D] (one text prompt per clip, L_CLIP(a<->t))."""
    if target_emb.ndim == 2:
        target_emb = target_emb[:, None].expand_as(frame_emb)
    return (1 - F.cosine_similarity(frame_emb, target_emb, dim=-1)).mean()


def latent_consistency_loss(ws: torch.Tensor) -> torch.Tensor:
    """``||w_hat^t - mean_t w_hat^t||^2`` (mean over batch, frames, layers; summed over w_dim): keeps the content
    of the clip while the sound moves it. ws [B, T, num_ws, w_dim]."""
    return (ws - ws.mean(dim=1, keepdim=True)).square().sum(-1).mean()


def encoder_regularizer(offsets: torch.Tensor) -> torch.Tensor:
    """``||E_a(x)||^2`` (summed over w_dim, averaged elsewhere): keeps sound offsets near the sampled latent."""
    return offsets.square().sum(-1).mean()


def symmetric_info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's contrastive loss between paired unit vectors a [N, D] and b [N, D]: cross-entropy of the scaled
    cosine-similarity matrix against the diagonal, in both directions, averaged."""
    logits = logit_scale.exp().clamp(max=100) * a @ b.t()
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def nonsaturating_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``softplus(-D(real)) + softplus(D(fake))``, averaged over every logit (patches included)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``softplus(-D(fake))`` averaged over every logit."""
    return F.softplus(-fake_logits).mean()
