"""Generation API: the public facade over :mod:`avgen.pipelines`.

``video_to_sound(video, reference)`` gives a sound track for a (silent) video with the timbre of a reference
recording, using a VarietySound checkpoint (``checkpoint=None``: the bundled default, trained on the synthetic-foley
benchmark); ``sound_to_video(audio)`` a video moved by a sound; ``edit_video(source, text=...)`` a text-constrained
edit in StyleGAN's W+. Pipelines are cached per checkpoint and device. ``SpecVQGANPipeline`` runs SpecVQGAN's public
checkpoints (``from_public``) or converted folders (``from_pretrained``).
"""

from __future__ import annotations

import os

from .bundled import BUNDLED_CHECKPOINTS, bundled_checkpoint
from .pipelines.sound_to_video import DEFAULT_S2V_CHECKPOINT, S2VResult, SoundToVideoPipeline
from .pipelines.specvqgan import SpecVQGANPipeline
from .pipelines.video_editing import EditResult, VideoEditingPipeline
from .pipelines.video_to_sound import DEFAULT_V2S_CHECKPOINT, V2SResult, VideoToSoundPipeline, load_vocoder

__all__ = ["DEFAULT_V2S_CHECKPOINT", "DEFAULT_S2V_CHECKPOINT", "BUNDLED_CHECKPOINTS", "bundled_checkpoint",
           "V2SResult", "S2VResult", "EditResult", "VideoToSoundPipeline", "SoundToVideoPipeline",
           "VideoEditingPipeline", "video_to_sound", "sound_to_video", "edit_video", "load_vocoder",
           "SpecVQGANPipeline"]


_PIPELINES: dict = {}


def video_to_sound(video, reference, *, checkpoint: str | os.PathLike | None = None, vocoder: str | None = None,
                   device=None, seed: int | None = None, video_fps: float | None = None,
                   reference_sample_rate: int | None = None, chunk_seconds: float | None = None,
                   overlap_seconds: float = 1.0, gain_db: float | None = None) -> V2SResult:
    """Generate a sound track for ``video`` with the timbre of ``reference``.

    Args:
        video: a video path (any length, fps, size; an audio track is ignored) or uint8 frames ``[T, H, W, 3]``
            at ``video_fps``.
        reference: an audio/video path or a waveform at ``reference_sample_rate``; any length.
        checkpoint: a VarietySound pipeline folder (what ``task: varietysound`` training writes to
            ``<run>/final``); None: the bundled default.
        vocoder: a name of :data:`avgen.vocoders.VOCODERS` (None: ``"specvqgan-bridge"``, the universal HiFi-GAN
            on avgen's mels; ``"griffin-lim"``: the baseline), or the folder of a trained HiFi-GAN
            (``task: vocoder``).
        seed: makes the result reproducible (the generator's noise; Griffin-Lim's phase initialisation).
        chunk_seconds / overlap_seconds: long-video chunking (default chunk: the training segment length).
        gain_db: None matches the output's level to the reference's (RMS of the sounding frames, peak kept at
            0.99); a number applies that fixed gain in dB to the vocoder's output instead.

    Returns:
        :class:`V2SResult` with ``.waveform [1, N]`` (N = duration x sample rate), ``.sample_rate``, ``.mel`` and
        ``.save(path)``.
    """
    key = (os.fspath(checkpoint) if checkpoint is not None else None, str(device),
           None if vocoder is None else os.fspath(vocoder))
    if key not in _PIPELINES:
        _PIPELINES[key] = VideoToSoundPipeline.from_pretrained(checkpoint, device=device, vocoder=vocoder)
    return _PIPELINES[key](video, reference, video_fps=video_fps, reference_sample_rate=reference_sample_rate,
                           seed=seed, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds, gain_db=gain_db)


_S2V_PIPELINES: dict = {}


def _s2v_pipeline(checkpoint, device) -> SoundToVideoPipeline:
    key = (os.fspath(checkpoint if checkpoint is not None else DEFAULT_S2V_CHECKPOINT), str(device))
    if key not in _S2V_PIPELINES:
        _S2V_PIPELINES[key] = SoundToVideoPipeline.from_pretrained(key[0], device=device)
    return _S2V_PIPELINES[key]


def _edit_pipeline(checkpoint, device) -> VideoEditingPipeline:
    return VideoEditingPipeline(_s2v_pipeline(checkpoint, device))  # shares the cached StyleGAN and CLIP


def sound_to_video(audio, *, checkpoint: str | os.PathLike | None = None, num_frames: int | None = None,
                   fps: float | None = None, text: str | None = None, seed: int | None = None,
                   truncation_psi: float | None = None, sample_rate: int | None = None,
                   mix_seed: int | None = None, mix_levels: tuple[str, ...] = ("fine",), device=None,
                   progress: bool = False):
    """Generate a video whose content and motion follow ``audio`` (a path, or a waveform with ``sample_rate``).

    ``checkpoint``: a sound-to-video pipeline folder (what ``task: s2v`` training writes); default: the bundled
    64x64 nature-scenes model (:data:`DEFAULT_S2V_CHECKPOINT`). ``num_frames`` defaults to the audio's duration x
    ``fps`` (default: the training fps). ``text`` starts from the sampled latent closest to the prompt in CLIP space.
    ``mix_seed`` / ``mix_levels``: style mixing -- those W+ groups (coarse/mid/fine) come from another seed's latent.
    Returns an :class:`~avgen.pipelines.sound_to_video.S2VResult` (``.frames [T, H, W, 3]``; ``.save("out.mp4")``
    muxes the input audio). ``progress``: a tqdm bar on stderr per stage (audio encoding, synthesis).
    """
    return _s2v_pipeline(checkpoint, device)(audio, sample_rate=sample_rate, num_frames=num_frames, fps=fps,
                                             text=text, seed=seed, truncation_psi=truncation_psi, mix_seed=mix_seed,
                                             mix_levels=mix_levels, progress=progress)


def edit_video(source, *, text: str, checkpoint: str | os.PathLike | None = None, audio=None,
               sample_rate: int | None = None, levels: tuple[str, ...] = ("coarse", "mid", "fine"),
               steps: int = 60, strength: float = 1.0, invert_steps: int = 150, fps: float | None = None,
               max_frames: int | None = 64, seed: int | None = None, progress: bool = True, device=None):
    """Text-constrained editing of a video in the checkpoint's StyleGAN W+ (:mod:`avgen.pipelines.video_editing`).

    ``source``: an :class:`~avgen.pipelines.sound_to_video.S2VResult` (its W+ trajectory is edited directly), or a real
    image / video (path or uint8 array), inverted first with the stylegan projector (``invert_steps`` for the first frame,
    a quarter of that for each later one). With ``audio`` and a single image, the image is inverted and the sound
    drives it (sound-guided editing of a real image) before the text edit. ``levels``: the W+ groups the edit may
    change. ``strength`` scales the optimised offset (1 = as optimised; 0 = no edit). Returns an
    :class:`~avgen.pipelines.video_editing.EditResult` with the edited and original frames and their CLIP similarity
    to ``text``.
    """
    return _edit_pipeline(checkpoint, device)(source, text=text, audio=audio, sample_rate=sample_rate, levels=levels,
                                              steps=steps, strength=strength, invert_steps=invert_steps, fps=fps,
                                              max_frames=max_frames, seed=seed, progress=progress)
