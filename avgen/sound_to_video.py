"""Sound -> video generation with a trained sound-to-video model (``task: s2v``): the audio is cut into one window
per output frame, the sound-inversion encoder and the recurrent blocks turn the windows into a W+ trajectory, and the
frozen StyleGAN renders it. ``text`` picks the start latent: of ``text_candidates`` sampled latents, the one whose
image is closest to the prompt in CLIP space (the paper's text-constrained generation)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .errors import AvgenError

__all__ = ["S2VResult", "SoundToVideoPipeline"]


@dataclass
class S2VResult:
    """``frames [T, H, W, 3]`` uint8 at ``fps``; ``ws [T, num_ws, w_dim]``; the input audio for muxing."""

    frames: np.ndarray
    fps: float
    ws: torch.Tensor
    audio: np.ndarray
    sample_rate: int

    def save(self, path: str | os.PathLike) -> str:
        """mp4/mov/mkv with the input audio muxed in (cut/padded to the video's length)."""
        from .media import write_video

        p = os.fspath(path)
        if os.path.splitext(p)[1].lower() not in (".mp4", ".mov", ".mkv"):
            raise AvgenError(f"{p}: save sound-to-video results as .mp4, .mov or .mkv")
        return write_video(p, self.frames, self.fps, self.audio.reshape(1, -1), self.sample_rate)


def _resolve(folder: str, path: str | None) -> str | None:
    """Paths in config.json may be relative to the checkpoint folder (bundled models) or absolute."""
    if path is None:
        return None
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(folder, path))


class SoundToVideoPipeline:
    """A trained s2v folder (``config.json`` + ``s2v.safetensors``) with its frozen StyleGAN (and, for text prompts,
    its CLIP teacher)."""

    def __init__(self, model, G, config: dict, *, folder: str, device):
        self.model, self.G, self.config, self.folder, self.device = model, G, config, folder, device
        self._clip = None

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, *, device=None) -> "SoundToVideoPipeline":
        from safetensors.torch import load_file

        import stylegan

        from .models.s2v.sound_inversion import SoundToVideo
        from .utils import read_folder_config

        folder = os.fspath(folder)
        cfg = read_folder_config(folder, "task", "s2v", "sound-to-video checkpoint")
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        G = stylegan.load(_resolve(folder, cfg["stylegan"]), device=device)
        model = SoundToVideo(cfg["num_ws"], cfg["w_dim"], cfg["groups"], encoder_width=cfg["encoder_width"],
                             rnn_hidden=cfg["rnn_hidden"])
        model.load_state_dict(load_file(os.path.join(folder, "s2v.safetensors")))
        return cls(model.eval().requires_grad_(False).to(device), G, cfg, folder=folder, device=device)

    def clip(self):
        if self._clip is None:
            from .encoders.clip_teacher import ClipTeacher

            c = self.config["clip"]
            self._clip = ClipTeacher(_resolve(self.folder, c["model"]) if c["model"].endswith(".json") else c["model"],
                                     weights=_resolve(self.folder, c.get("weights")),
                                     pretrained=c.get("pretrained")).to(self.device)
        return self._clip

    @torch.no_grad()
    def start_latent(self, *, text: str | None, generator: torch.Generator, truncation_psi: float,
                     text_candidates: int = 16) -> torch.Tensor:
        """[1, num_ws, w_dim]: a sampled latent, or the best of ``text_candidates`` for the prompt."""
        n = text_candidates if text else 1
        z = torch.randn([n, self.G.z_dim], generator=generator).to(self.device)
        ws = self.G.mapping(z, None, truncation_psi=truncation_psi)
        if not text:
            return ws
        clip = self.clip()
        img = clip.encode_images(self.G.synthesis(ws, noise_mode="const"))
        best = int((img @ clip.encode_texts([text])[0]).argmax())
        return ws[best:best + 1]

    @property
    def groups(self) -> dict[str, list[int]]:
        """W+ layer indices of the coarse / mid / fine groups the recurrent blocks were trained with."""
        return {k: list(v) for k, v in self.config["groups"].items()}

    @torch.no_grad()
    def __call__(self, audio, *, sample_rate: int | None = None, num_frames: int | None = None,
                 fps: float | None = None, text: str | None = None, seed: int | None = None,
                 truncation_psi: float | None = None, use_sound: bool = True, mix_seed: int | None = None,
                 mix_levels: tuple[str, ...] = ("fine",), start_ws: torch.Tensor | None = None) -> S2VResult:
        """``mix_seed``: style mixing at generation -- the ``mix_levels`` groups (coarse/mid/fine) of the start
        latent come from that seed's latent. ``start_ws`` [1, num_ws, w_dim]: start from this latent instead (e.g.
        an inverted real image)."""
        from stylegan import render_frames

        from .data.sound_video import segment_mels
        from .media import read_audio

        d = self.config["data"]
        fps = float(fps or d["fps"])
        if isinstance(audio, (str, os.PathLike)):
            wav, sr = read_audio(audio, mono=True)
        else:
            if sample_rate is None:
                raise AvgenError("sound_to_video: pass sample_rate= with a waveform")
            wav, sr = np.asarray(audio, dtype=np.float32).reshape(-1), int(sample_rate)
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        duration = len(wav) / sr
        t = int(num_frames or max(1, int(np.floor(duration * fps))))
        mels = segment_mels(wav, sr, np.arange(t) / fps, d["audio_window"], d.get("mel_preset", "clip128"))
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        psi = self.config.get("truncation_psi", 0.7) if truncation_psi is None else truncation_psi
        if start_ws is not None:
            if tuple(start_ws.shape) != (1, self.G.num_ws, self.G.w_dim):
                raise AvgenError(f"start_ws must be [1, {self.G.num_ws}, {self.G.w_dim}], got {tuple(start_ws.shape)}")
            w = start_ws.to(self.device, torch.float32)
        else:
            w = self.start_latent(text=text, generator=gen, truncation_psi=psi)
        if mix_seed is not None:
            from stylegan import style_mix

            from .video_editing import levels_to_layers

            z = torch.randn([1, self.G.z_dim], generator=torch.Generator().manual_seed(int(mix_seed)))
            w = style_mix(w, self.G.mapping(z.to(self.device), None, truncation_psi=psi),
                          levels_to_layers(self.groups, mix_levels))
        ws = self.model(mels[None].to(self.device), w, use_sound=use_sound)[0]  # [T, num_ws, w_dim]
        frames = render_frames(self.G, ws)
        return S2VResult(frames=frames, fps=fps, ws=ws.cpu(), audio=wav, sample_rate=sr)
