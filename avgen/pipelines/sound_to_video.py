"""Sound -> video generation with a trained sound-to-video model (``task: s2v``): the audio is cut into one window
per output frame, the sound-inversion encoder and the recurrent blocks turn the windows into a W+ trajectory, and the
frozen StyleGAN renders it. ``text`` picks the start latent: of ``text_candidates`` sampled latents, the one whose
image is closest to the prompt in CLIP space (the paper's text-constrained generation)."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch

import stylegan
from stylegan import levels_to_layers as _stylegan_levels_to_layers
from stylegan import style_mix, to_uint8

from ..audio import CLIP_MEL_PRESET, segment_mels
from ..checkpoints import load_pipeline_component, save_pipeline_config, save_pretrained
from ..encoders.clip_teacher import ClipTeacher
from ..errors import AvgenError
from ..media import MUXED_OUTPUT_EXTENSIONS, read_audio, write_video
from ..models.s2v.sound_inversion import SoundToVideo
from ..utils import require_finite

__all__ = ["DEFAULT_S2V_CHECKPOINT", "S2VResult", "SoundToVideoPipeline", "checked_audio", "levels_to_layers"]


@dataclass
class S2VResult:
    """``frames [T, H, W, 3]`` uint8 at ``fps``; ``ws [T, num_ws, w_dim]``; the input audio for muxing."""

    frames: np.ndarray
    fps: float
    ws: torch.Tensor
    audio: np.ndarray
    sample_rate: int

    def save(self, path: str | os.PathLike, *, progress: bool = False) -> str:
        """mp4/mov/mkv with the input audio muxed in (cut/padded to the video's length); ``progress`` shows the
        writing stage as a bar on stderr."""
        p = os.fspath(path)
        if os.path.splitext(p)[1].lower() not in MUXED_OUTPUT_EXTENSIONS:
            raise AvgenError(f"{p}: save sound-to-video results as .mp4, .mov or .mkv")
        with _bar(1, "s2v: write", "file", progress) as bar:  # one encode call: the bar shows its elapsed time
            out = write_video(p, self.frames, self.fps, self.audio.reshape(1, -1), self.sample_rate)
            bar.update(1)
        return out


def _bar(total: int, desc: str, unit: str, enabled: bool):
    """A tqdm bar on stderr (with ETA) for one stage of a run; disabled ones print nothing."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, leave=True)


# The bundled sound-to-video default: 64x64 nature scenes (lake / forest / flowers), see its MANIFEST.md.
DEFAULT_S2V_CHECKPOINT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "s2v_default")


def levels_to_layers(groups: dict[str, list[int]], levels) -> list[int]:
    """:func:`stylegan.levels_to_layers` with avgen's error type (the CLI reports an :class:`AvgenError` in one
    line)."""
    try:
        return _stylegan_levels_to_layers(groups, levels)
    except ValueError as e:
        raise AvgenError(str(e)) from None


# config.json entries that describe the folder or the inversion model, not the pipeline's settings
_NOT_SETTINGS = ("class", "components", "avgen_version", "num_ws", "w_dim", "groups", "encoder_width", "rnn_hidden")


def _portable(folder: str, path: str) -> str:
    """``path`` relative to ``folder`` when it lies inside it (the folder can move), else absolute."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.relpath(path, folder) if path.startswith(folder + os.sep) else path


def _resolve(folder: str, path: str | None) -> str | None:
    """Paths in config.json may be relative to the checkpoint folder (bundled models) or absolute."""
    if path is None:
        return None
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(folder, path))


def _load_stylegan(path: str, device):
    """``stylegan.load`` with its failures as one :class:`AvgenError` naming the file (no unsafe-load advice)."""
    import pickle

    from ..checkpoints import load_error_reason

    try:
        return stylegan.load(path, device=device)
    except (ValueError, OSError, pickle.UnpicklingError, RuntimeError, EOFError) as e:
        reason = load_error_reason(e)
        if "weights-only" not in reason and path in reason:
            raise AvgenError(f"StyleGAN: {reason}") from None
        raise AvgenError(f"{path}: StyleGAN: {reason}") from None


def checked_audio(audio, *, sample_rate: int | None = None, fps: float,
                  num_frames: int | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 waveform, rate) of ``audio`` (a path, or a waveform with ``sample_rate``), refused in one
    :class:`AvgenError` when it is empty, holds non-finite samples or, without ``num_frames``, is shorter than one
    frame at ``fps``. The CLI calls it before the model loads; :meth:`SoundToVideoPipeline.__call__` before its
    first bar."""
    if isinstance(audio, (str, os.PathLike)):
        wav, sr = read_audio(audio, mono=True)
    else:
        if sample_rate is None:
            raise AvgenError("sound_to_video: pass sample_rate= with a waveform")
        wav, sr = np.asarray(audio, dtype=np.float32).reshape(-1), int(sample_rate)
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    name = os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "audio"
    require_finite(wav, name)
    if wav.size == 0:  # even with num_frames: frames from no sound at all would be a silent guess
        raise AvgenError(f"{name}: empty audio (no samples)")
    duration = len(wav) / sr
    if duration * fps < 1 and num_frames is None:
        raise AvgenError(f"{name}: {duration:.3f} s of audio is shorter than one frame at {fps:g} fps")
    return wav, sr


class SoundToVideoPipeline:
    """A trained sound-to-video pipeline folder (the inversion model) with its frozen StyleGAN (and, for text prompts,
    its CLIP teacher)."""

    def __init__(self, model, G, config: dict, *, folder: str, device):
        self.model, self.G, self.config, self.folder, self.device = model, G, config, folder, device
        self._clip = None

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, *, device=None) -> "SoundToVideoPipeline":
        """A pipeline folder (``config.json`` naming ``SoundToVideoPipeline``, the inversion model in the ``model``
        component's sub-folder; the frozen StyleGAN, audio encoder and CLIP named by path, relative to the folder or
        absolute), or a folder of the earlier single-folder layout (``task: s2v`` + ``s2v.safetensors``)."""
        folder = os.fspath(folder)
        model, settings = load_pipeline_component(folder, cls.__name__, "model", SoundToVideo, legacy_task="s2v")
        settings = {k: v for k, v in settings.items() if k not in _NOT_SETTINGS}
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        G = _load_stylegan(_resolve(folder, settings["stylegan"]), device)
        return cls(model.to(device), G, settings, folder=folder, device=device)

    def save_pretrained(self, path: str | os.PathLike, *, fp16: bool = False) -> str:
        """``path/config.json`` (the settings; paths to the frozen parts made absolute unless they are inside
        ``path``) and ``path/s2v/`` (the inversion model)."""
        out = os.fspath(path)
        save_pretrained(self.model, os.path.join(out, "s2v"), dtype=torch.float16 if fp16 else None)
        settings = dict(self.config)
        for key in ("stylegan", "audio_encoder"):
            if settings.get(key):
                settings[key] = _portable(out, _resolve(self.folder, settings[key]))
        if settings.get("clip"):
            clip = dict(settings["clip"])
            if clip.get("model", "").endswith(".json"):
                clip["model"] = _portable(out, _resolve(self.folder, clip["model"]))
            if clip.get("weights"):
                clip["weights"] = _portable(out, _resolve(self.folder, clip["weights"]))
            settings["clip"] = clip
        save_pipeline_config(out, type(self).__name__, {"model": "s2v"}, settings)
        return out

    def clip(self):
        if self._clip is None:
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
        return {k: list(v) for k, v in self.model.config.groups.items()}

    @torch.no_grad()
    def __call__(self, audio, *, sample_rate: int | None = None, num_frames: int | None = None,
                 fps: float | None = None, text: str | None = None, seed: int | None = None,
                 truncation_psi: float | None = None, use_sound: bool = True, mix_seed: int | None = None,
                 mix_levels: tuple[str, ...] = ("fine",), start_ws: torch.Tensor | None = None,
                 progress: bool = False) -> S2VResult:
        """``mix_seed``: style mixing at generation -- the ``mix_levels`` groups (coarse/mid/fine) of the start
        latent come from that seed's latent. ``start_ws`` [1, num_ws, w_dim]: start from this latent instead (e.g.
        an inverted real image). ``progress``: a tqdm bar on stderr per stage (audio encoding: mels, start
        latent, W+ trajectory; synthesis: frames); the audio is decoded and checked before the first."""
        d = self.config["data"]
        # explicit values are checked, never replaced by defaults (fps=0 / num_frames=0 are errors)
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise AvgenError(f"fps must be a positive frame rate, got {fps}")
        if num_frames is not None and int(num_frames) < 1:
            raise AvgenError(f"num_frames must be at least 1, got {num_frames}")
        if truncation_psi is not None and not math.isfinite(truncation_psi):
            raise AvgenError(f"truncation_psi must be a finite number, got {truncation_psi}")
        if start_ws is not None and tuple(start_ws.shape) != (1, self.G.num_ws, self.G.w_dim):
            raise AvgenError(f"start_ws must be [1, {self.G.num_ws}, {self.G.w_dim}], got {tuple(start_ws.shape)}")
        fps = float(d["fps"] if fps is None else fps)
        wav, sr = checked_audio(audio, sample_rate=sample_rate, fps=fps, num_frames=num_frames)  # before any bar
        with _bar(3, "s2v: encode audio", "step", progress) as encode:
            ws = self._trajectory(wav, sr, num_frames=num_frames, fps=fps, text=text, seed=seed,
                                  truncation_psi=truncation_psi, use_sound=use_sound, mix_seed=mix_seed,
                                  mix_levels=mix_levels, start_ws=start_ws, bar=encode)
        t = len(ws)
        # stylegan.render_frames' loop (same chunks, so the same pixels), one bar step per chunk
        chunk, parts = 16, []
        with _bar(t, "s2v: synthesis", "frame", progress) as bar:
            for i in range(0, t, chunk):
                parts.append(to_uint8(self.G.synthesis(ws[i:i + chunk], noise_mode="const")))
                bar.update(len(parts[-1]))
        return S2VResult(frames=np.concatenate(parts), fps=fps, ws=ws.cpu(), audio=wav, sample_rate=sr)

    def _trajectory(self, wav: np.ndarray, sr: int, *, num_frames, fps: float, text, seed, truncation_psi,
                    use_sound, mix_seed, mix_levels, start_ws, bar) -> torch.Tensor:
        """The audio-encoding stage of :meth:`__call__`: the W+ trajectory [T, num_ws, w_dim] of a checked mono
        waveform, one ``bar`` step each for the mels, the start latent and the trajectory."""
        d = self.config["data"]
        duration = len(wav) / sr
        t = int(num_frames if num_frames is not None else int(np.floor(duration * fps)))
        mels = segment_mels(wav, sr, np.arange(t) / fps, d["audio_window"], d.get("mel_preset", CLIP_MEL_PRESET))
        mels = mels.reshape(t, *mels.shape[-2:])  # one frame: the mel comes back without its frame axis
        bar.update(1)
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        psi = self.config.get("truncation_psi", 0.7) if truncation_psi is None else truncation_psi
        if start_ws is not None:
            w = start_ws.to(self.device, torch.float32)
        else:
            w = self.start_latent(text=text, generator=gen, truncation_psi=psi)
        if mix_seed is not None:
            z = torch.randn([1, self.G.z_dim], generator=torch.Generator().manual_seed(int(mix_seed)))
            w = style_mix(w, self.G.mapping(z.to(self.device), None, truncation_psi=psi),
                          levels_to_layers(self.groups, mix_levels))
        bar.update(1)
        ws = self.model(mels[None].to(self.device), w, use_sound=use_sound)[0]  # [T, num_ws, w_dim]
        bar.update(1)
        return ws
