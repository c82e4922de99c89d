"""Text-constrained editing of videos in a StyleGAN's W+ (the sound-guided video paper's editing with text prompts).

A video is edited through its W+ trajectory: generated videos carry theirs (:class:`S2VResult.ws`), real images and
videos are inverted first with the stylegan projector (each frame warm-started from the previous one). One latent
offset ``delta``, restricted to the chosen coarse/mid/fine layers and shared by every frame so that the edit stays
consistent over time, is optimised so the frames move towards the prompt in CLIP space while staying near the
original trajectory (StyleCLIP-style latent optimisation):

    loss = mean_t (1 - cos(F_v(G(w_t + delta)), F_t(text))) + l2 * ||delta||^2 / w_std^2
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from stylegan import render_frames, w_statistics
from stylegan.projector import project

from ..data.images import square_crop_resize
from ..errors import AvgenError
from ..media import IMAGE_EXTENSIONS, MUXED_OUTPUT_EXTENSIONS, probe, read_audio, read_video, write_video
from ..utils import atomic_output
from .sound_to_video import DEFAULT_S2V_CHECKPOINT, S2VResult, SoundToVideoPipeline, levels_to_layers

__all__ = ["EditResult", "VideoEditingPipeline", "invert_frames", "text_edit_ws", "clip_similarity",
           "levels_to_layers", "as_frames"]


@dataclass
class EditResult:
    """``frames [T, H, W, 3]`` uint8 (edited), ``original [T, H, W, 3]`` (before the edit: the generated video or
    the inversion of the real one), ``ws`` / ``delta`` in W+, the audio to mux (or None) and the CLIP similarity of
    each frame to the prompt before and after."""

    frames: np.ndarray
    original: np.ndarray
    fps: float
    ws: torch.Tensor  # [T, num_ws, w_dim] edited
    delta: torch.Tensor  # [1, num_ws, w_dim]
    clip_before: np.ndarray  # [T]
    clip_after: np.ndarray  # [T]
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    def save(self, path: str | os.PathLike) -> str:
        """mp4/mov/mkv (with the source audio when there is one) or, for a single frame, png/jpg."""
        p = os.fspath(path)
        ext = os.path.splitext(p)[1].lower()
        if ext in (".png", ".jpg", ".jpeg"):
            with atomic_output(p) as tmp:
                Image.fromarray(self.frames[0]).save(tmp)
            return p
        if ext not in MUXED_OUTPUT_EXTENSIONS:
            raise AvgenError(f"{p}: save edits as .mp4/.mov/.mkv (or .png/.jpg for one frame)")
        audio = None if self.audio is None else self.audio.reshape(1, -1)
        return write_video(p, self.frames, self.fps, audio, self.sample_rate)


def invert_frames(G, frames: np.ndarray, *, steps: int = 200, follow_steps: int | None = None,
                  perceptual_fn=None, perceptual: float = 0.0, generator: torch.Generator | None = None,
                  progress: bool = True) -> torch.Tensor:
    """Real frames [T, H, W, 3] uint8 -> W+ [T, num_ws, w_dim] with the stylegan projector: the first frame from
    ``w_avg`` in ``steps``, each later one from its predecessor's latent in ``follow_steps`` (default steps // 4)."""
    from tqdm.auto import tqdm

    device = next(G.parameters()).device
    follow = max(1, steps // 4) if follow_steps is None else follow_steps
    out, prev = [], None
    for frame in tqdm(frames, desc="invert", disable=not progress or len(frames) == 1, file=sys.stderr):
        target = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().to(device) / 127.5 - 1
        res = project(G, target, steps=steps if prev is None else follow, perceptual=perceptual,
                      perceptual_fn=perceptual_fn, init_ws=prev, noise_start=0.05 if prev is None else 0.0,
                      generator=generator, progress=progress and len(frames) == 1)
        prev = res.ws.to(device)
        out.append(res.ws)
    return torch.cat(out)  # [T, num_ws, w_dim]


def text_edit_ws(G, clip, ws: torch.Tensor, text: str, *, layers: list[int], steps: int = 60, lr: float = 0.05,
                 l2: float = 0.5, batch: int = 8, generator: torch.Generator | None = None,
                 progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One offset on ``layers`` of W+, shared by all frames of ``ws`` [T, num_ws, w_dim], moving the frames towards
    ``text`` (see the module docstring); ``generator`` draws the frame subsets. Returns (edited ws, delta
    [1, num_ws, w_dim])."""
    from tqdm.auto import tqdm

    if not layers:
        raise AvgenError("text edit: no W+ layers selected")
    device = next(G.parameters()).device
    ws = ws.to(device, torch.float32)
    gen = generator or torch.Generator().manual_seed(0)
    _, scale = w_statistics(G, 2048)
    mask = torch.zeros([1, G.num_ws, 1], device=device)
    mask[:, layers] = 1
    target = clip.encode_texts([text])[0]  # [D]
    delta = torch.zeros([1, G.num_ws, G.w_dim], device=device, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr * scale)
    for _ in tqdm(range(steps), desc="text edit", disable=not progress, file=sys.stderr):
        # A random subset of frames per step keeps the cost flat for long videos.
        idx = torch.randperm(len(ws), generator=gen)[:batch].to(device)
        img = G.synthesis(ws[idx] + delta * mask, noise_mode="const")
        sim = clip.encode_images(img) @ target
        loss = (1 - sim).mean() + l2 * (delta * mask).square().sum(-1).mean() / scale ** 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    delta = (delta * mask).detach()
    return ws + delta, delta


@torch.no_grad()
def clip_similarity(clip, frames: np.ndarray, text: str, *, chunk: int = 32) -> np.ndarray:
    """[T] cosine similarity of each uint8 frame [T, H, W, 3] to ``text`` in the teacher's space."""
    device = clip.mean.device
    t = clip.encode_texts([text])[0]
    out = []
    for i in range(0, len(frames), chunk):
        x = torch.from_numpy(np.ascontiguousarray(frames[i:i + chunk])).permute(0, 3, 1, 2).float().to(device)
        out.append((clip.encode_images(x / 127.5 - 1) @ t).cpu())
    return torch.cat(out).numpy()


def as_frames(source, resolution: int, *, fps: float | None = None, max_frames: int | None = None
              ) -> tuple[np.ndarray, float | None, np.ndarray | None, int | None]:
    """An image path, a video path or an array [H, W, 3] / [T, H, W, 3] uint8 -> (square frames at ``resolution``,
    fps, mono audio or None, sample rate or None). Videos are sampled at ``fps`` (default: their own rate) and cut
    to ``max_frames``; the audio is cut to the same span."""
    rate = audio = sr = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise AvgenError(f"{path}: no such file")
        if path.lower().endswith(IMAGE_EXTENSIONS):
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"))[None]
        else:
            pixels, rate = read_video(path, fps=fps, max_frames=max_frames)
            if probe(path).has_audio:
                wav, sr = read_audio(path, mono=True, duration=len(pixels) / rate)
                audio = np.asarray(wav, np.float32).reshape(-1)
    else:
        pixels = np.asarray(source)
        pixels = pixels[None] if pixels.ndim == 3 else pixels
        rate = fps
    if pixels.ndim != 4 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
        raise AvgenError(f"edit source: expected uint8 frames [T, H, W, 3], got {pixels.dtype} {pixels.shape}")
    pixels = pixels[:max_frames] if max_frames else pixels
    frames = np.stack([square_crop_resize(f, resolution) for f in pixels])
    return frames, rate, audio, sr


class VideoEditingPipeline:
    """Text-constrained editing in the StyleGAN W+ of a sound-to-video pipeline (its StyleGAN, CLIP and layer
    groups). Load with :meth:`from_pretrained` (default: the bundled sound-to-video model)."""

    def __init__(self, s2v: SoundToVideoPipeline):
        self.s2v = s2v

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike | None = None, *, device=None) -> "VideoEditingPipeline":
        return cls(SoundToVideoPipeline.from_pretrained(folder if folder is not None else DEFAULT_S2V_CHECKPOINT,
                                                        device=device))

    def save_pretrained(self, path: str | os.PathLike, *, fp16: bool = False) -> str:
        return self.s2v.save_pretrained(path, fp16=fp16)

    def __call__(self, source, *, text: str, audio=None, sample_rate: int | None = None,
                 levels: tuple[str, ...] = ("coarse", "mid", "fine"), steps: int = 60, strength: float = 1.0,
                 invert_steps: int = 150, fps: float | None = None, max_frames: int | None = 64,
                 seed: int | None = None, progress: bool = True) -> EditResult:
        """See :func:`avgen.generate.edit_video`."""
        if not text:
            raise AvgenError("edit_video: text= is required (the edit prompt)")
        pipe = self.s2v
        G, clip = pipe.G, pipe.clip()
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        wav = sr = None
        if isinstance(source, S2VResult):  # a generated video: edit its own W+ trajectory
            ws, rate, wav, sr = source.ws, source.fps, source.audio, source.sample_rate
        else:  # a real image or video: invert it first
            frames, rate, wav, sr = as_frames(source, G.img_resolution, fps=fps, max_frames=max_frames)
            ws = invert_frames(G, frames, steps=invert_steps, generator=gen, progress=progress)
            if audio is not None:
                if len(frames) != 1:
                    raise AvgenError("edit_video: audio= drives a single inverted image; pass an image, not a video")
                res = pipe(audio, sample_rate=sample_rate, fps=fps, seed=seed, start_ws=ws[:1])
                ws, rate, wav, sr = res.ws, res.fps, res.audio, res.sample_rate
        rate = float(rate or pipe.config["data"]["fps"])
        _, delta = text_edit_ws(G, clip, ws, text, layers=levels_to_layers(pipe.groups, levels), steps=steps,
                                generator=gen, progress=progress)
        delta = delta * float(strength)
        edited = ws.to(delta.device) + delta
        original = render_frames(G, ws)
        frames_out = render_frames(G, edited)
        return EditResult(frames=frames_out, original=original, fps=rate, ws=edited.cpu(), delta=delta.cpu(),
                          clip_before=clip_similarity(clip, original, text),
                          clip_after=clip_similarity(clip, frames_out, text), audio=wav, sample_rate=sr)
