"""A frozen open_clip model as the teacher of the sound-to-video losses: differentiable image embeddings of generated
frames and text embeddings of labels/prompts, both L2-normalised."""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import AvgenError, WeightsNotFoundError

__all__ = ["ClipTeacher"]

# OpenAI CLIP pixel statistics: open_clip's defaults when a model carries no image_mean / image_std of its own.
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipTeacher(nn.Module):
    """open_clip ``model_name`` (a registered name, or the path of an open_clip model-config JSON) with weights from a
    local checkpoint (``weights``) or a pretrained tag (open_clip may download it; only when named). Frozen; gradients
    flow to the input images."""

    def __init__(self, model_name: str, *, weights: str | None = None, pretrained: str | None = None):
        super().__init__()
        try:
            import open_clip
        except ImportError:
            raise ImportError("the CLIP teacher needs open_clip: pip install open-clip-torch") from None
        if model_name.endswith(".json"):  # a custom architecture: register its open_clip config file first
            if not os.path.isfile(model_name):
                raise AvgenError(f"CLIP teacher: model config '{model_name}' not found")
            open_clip.add_model_config(model_name)
            model_name = os.path.splitext(os.path.basename(model_name))[0]
        if weights is None and pretrained is None:
            raise AvgenError("CLIP teacher: give weights=<local open_clip checkpoint> or pretrained=<tag>")
        if weights is not None and not os.path.isfile(weights):
            raise WeightsNotFoundError(f"open_clip {model_name}", weights, "the open_clip model card")
        self.model = open_clip.create_model(model_name, pretrained=weights if weights is not None else pretrained)
        self.model.eval().requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.model_name, self.weights, self.pretrained = model_name, weights, pretrained
        self._text_cache: dict[str, torch.Tensor] = {}
        size = self.model.visual.image_size
        self.image_size = size if isinstance(size, int) else size[0]
        mean = getattr(self.model.visual, "image_mean", None) or _MEAN
        std = getattr(self.model.visual, "image_std", None) or _STD
        self.register_buffer("mean", torch.tensor(tuple(mean)).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(tuple(std)).reshape(1, 3, 1, 1), persistent=False)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> [N, D] unit vectors (bicubic resize to the model's input size)."""
        x = (images + 1) / 2
        x = F.interpolate(x, size=self.image_size, mode="bicubic", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        return F.normalize(self.model.encode_image(x).float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """[N, D] unit vectors; each distinct text is embedded once per teacher (labels repeat every batch)."""
        missing = sorted({t for t in texts if t not in self._text_cache})
        if missing:
            tokens = self.tokenizer(missing).to(self.mean.device)
            for t, e in zip(missing, F.normalize(self.model.encode_text(tokens).float(), dim=-1)):
                self._text_cache[t] = e.cpu()
        return torch.stack([self._text_cache[t] for t in texts]).to(self.mean.device)

    def train(self, mode: bool = True):  # always frozen
        return super().train(False)
