"""CLIP similarity of videos with text prompts and with audio embeddings, as in the sound-to-video paper's
Table 3(a): the video embedding is the mean of its per-frame CLIP image embeddings (each L2-normalised); the score is
the cosine similarity with the text (or audio) embedding."""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ..encoders import VisualEncoder
from ..errors import AvgenError
from . import inputs as io
from .report import make_report

__all__ = ["ClipScorer", "compute_clip_similarity", "resolve_model_name"]


def resolve_model_name(model_name: str) -> str:
    """An open_clip model name as given, or, for the path of an open_clip model-config JSON (the bundled
    ``avgen/assets/s2v_default/avgen-scenes-clip.json``), that config registered with open_clip under its file stem."""
    if not str(model_name).lower().endswith(".json"):
        return model_name
    try:
        import open_clip
    except ImportError:
        raise ImportError("CLIP similarity needs open_clip: pip install open-clip-torch") from None
    if not os.path.isfile(model_name):
        raise AvgenError(f"--model {model_name}: no such model-config file")
    try:
        with open(model_name, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AvgenError(f"--model {model_name}: not a readable JSON file ({e})") from None
    if not isinstance(cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise AvgenError(f"--model {model_name}: not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    open_clip.add_model_config(model_name)  # registers it under the file's stem
    return os.path.splitext(os.path.basename(model_name))[0]


class ClipScorer:
    """open_clip model (a registered name, or the path of an open_clip model-config JSON) from a local checkpoint
    (``weights``) or an open_clip pretrained tag."""

    def __init__(self, model_name: str, *, weights=None, pretrained: str | None = None, device=None):
        model_name = resolve_model_name(model_name)
        self.encoder = VisualEncoder("clip", model_name=model_name, weights=weights, pretrained=pretrained,
                                     device=device, precision="fp32")
        import open_clip

        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.model_name = model_name

    def video_embedding(self, frames) -> np.ndarray:
        """uint8 ``[T, H, W, 3]`` -> mean of the L2-normalised frame embeddings ``[D]``."""
        return self.encoder.encode(frames).double().mean(0).numpy()

    @torch.no_grad()
    def text_embedding(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(self.encoder.device)
        e = self.encoder.clip.encode_text(tokens).float()
        return torch.nn.functional.normalize(e, dim=-1).double().cpu().numpy()

    def profile(self) -> dict:
        d = self.encoder.describe()
        return {"network": f"open_clip {self.model_name}", "weights_sha256": d["weights_sha256"],
                "pretrained": d["pretrained"], "preprocess": d["preprocess"],
                "video_embedding": "mean of per-frame L2-normalised image embeddings", "score": "cosine similarity"}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def compute_clip_similarity(videos, *, model_name: str, weights=None, pretrained: str | None = None,
                            text: str | None = None, prompts: dict[str, str] | None = None,
                            audio_embeddings: str | None = None, fps: float | None = None,
                            max_frames: int | None = None, device=None, progress: bool = True) -> dict:
    """Mean text<->video and/or audio<->video CLIP similarity over the videos under ``videos``.

    Args:
        text: one prompt for every video; ``prompts`` maps a video's file stem to its own prompt instead.
        audio_embeddings: folder of ``<video stem>.npy`` audio embeddings in the same CLIP space (written by the
            sound-to-video head's audio encoder).
        fps / max_frames: frames used per video (default: every decoded frame).
    """
    from tqdm.auto import tqdm

    if text is None and prompts is None and audio_embeddings is None:
        raise AvgenError("give a text prompt, a prompts file, or an audio-embedding folder")
    scorer = ClipScorer(model_name, weights=weights, pretrained=pretrained, device=device)
    paths = io.list_videos(videos)
    text_sims, audio_sims = [], []
    fixed = scorer.text_embedding([text])[0] if text is not None else None
    for p in tqdm(paths, desc="clip similarity", disable=not progress, leave=False):
        stem = io.stem(p)
        frames = io.read_frames(p, fps)
        if max_frames is not None:
            frames = frames[:max_frames]
        v = scorer.video_embedding(frames)
        if fixed is not None or prompts is not None:
            if prompts is not None and stem not in prompts:
                raise AvgenError(f"no prompt for video '{stem}' in the prompts file")
            t = fixed if prompts is None else scorer.text_embedding([prompts[stem]])[0]
            text_sims.append(_cos(v, t))
        if audio_embeddings is not None:
            f = os.path.join(audio_embeddings, stem + ".npy")
            if not os.path.exists(f):
                raise AvgenError(f"{f}: missing audio embedding for video '{stem}'")
            audio_sims.append(_cos(v, np.load(f, allow_pickle=False).astype(np.float64).reshape(-1)))
    values = {}
    if text_sims:
        values.update(text_video=float(np.mean(text_sims)), text_video_std=float(np.std(text_sims)))
    if audio_sims:
        values.update(audio_video=float(np.mean(audio_sims)), audio_video_std=float(np.std(audio_sims)))
    profile = {**scorer.profile(), "num_videos": len(paths), "fps": fps or "native", "max_frames": max_frames}
    return make_report("clip_similarity", values, profile, videos=os.fspath(videos), text=text,
                       audio_embeddings=audio_embeddings)
