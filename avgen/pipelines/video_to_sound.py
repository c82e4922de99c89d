"""Video -> sound: a VarietySound generator plus everything that feeds it (the visual encoder and frame rate it was
trained with, the mel preset) and a vocoder. Any video length: features are streamed from the decoder and the mel
is synthesised in overlapping chunks that are cross-faded, so memory follows the chunk, not the video. Any reference
length: its timbre vector is computed once from the whole reference."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import torch

from .. import vocoders
from ..audio import SPECVQGAN_MEL_PRESET, fit_length, get_preset, mel_spectrogram, resample, sounding_rms
from ..bundled import BUNDLED_CHECKPOINTS, bundled_checkpoint
from ..checkpoints import (CheckpointError, from_pretrained, load_pipeline_component, save_pipeline_config,
                           save_pretrained)
from ..encoders import VisualEncoder
from ..encoders.motion import PixelMotion, motion_dim
from ..errors import AvgenError, WeightsNotFoundError
from ..media import (MUXED_OUTPUT_EXTENSIONS, iter_audio, probe, read_audio, replace_audio, write_audio,
                     write_video)
from ..models.v2s.varietysound import VarietySound
from ..models.vocoders.hifigan import HiFiGANGenerator
from ..utils import require_finite
from .reference_stream import SoundingLevel, StreamMel, StreamResampler, streamed_timbre
from .steps import checked_vocoder

__all__ = ["DEFAULT_V2S_CHECKPOINT", "STREAM_REFERENCE_SECONDS", "STREAM_VIDEO_SECONDS", "FeatureFile", "V2SResult",
           "VideoToSoundPipeline", "load_vocoder"]

DEFAULT_V2S_CHECKPOINT = BUNDLED_CHECKPOINTS["varietysound-foley-small"]
# config.json entries that describe the folder or the generator, not the pipeline's settings
_NOT_SETTINGS = ("class", "components", "avgen_version", "model", "feature_dim", "n_mels")
_SETTINGS = ("task", "data")  # what the pipeline reads; anything else in a config.json is refused
# references longer than this are summarised block by block (memory bounded); shorter ones in one piece
STREAM_REFERENCE_SECONDS = 60.0
# video files longer than this keep their features in a temporary file during generation (66 MB of memory for
# 10 minutes otherwise); shorter ones in memory
STREAM_VIDEO_SECONDS = 60.0
# frames per visual-encoder batch: EfficientNet-Lite0's activations for a batch are most of the features' memory
# (about 490 MB at 32 frames, 120 MB at 8) while the time per frame hardly moves (docs/performance.md)
VIDEO_BATCH = 8


class FeatureFile:
    """Feature rows ``[T, D]`` kept in a temporary file (deleted on :meth:`close`): appended batch by batch, read
    back by row range as tensors (``features[a:b]``), ``shape`` like a tensor's. Ordinary reads and writes: the
    file's pages are the kernel's cache, not this process's memory."""

    def __init__(self, dim: int):
        self.dim, self.rows = int(dim), 0
        self._file = tempfile.TemporaryFile()

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.dim

    def __len__(self) -> int:
        return self.rows

    def append(self, rows: torch.Tensor) -> None:  # rows: [n, D]
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"expected rows [n, {self.dim}], got {tuple(rows.shape)}")
        self._file.seek(0, os.SEEK_END)
        self._file.write(rows.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        self.rows += rows.shape[0]

    def __getitem__(self, index: slice) -> torch.Tensor:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("FeatureFile takes a row range features[a:b]")
        a, b, _ = index.indices(self.rows)
        b = max(a, b)
        self._file.seek(a * self.dim * 4)
        data = bytearray(self._file.read((b - a) * self.dim * 4))
        return torch.frombuffer(data, dtype=torch.float32).view(b - a, self.dim) if data else torch.zeros(0, self.dim)

    def close(self) -> None:
        self._file.close()


@dataclass
class V2SResult:
    """A generated sound track. ``waveform [1, N]`` float32 in [-1, 1]; ``mel [80, T]`` in [0, 1]."""

    waveform: torch.Tensor
    sample_rate: int
    mel: torch.Tensor
    duration: float
    video_path: str | None = None
    frames: np.ndarray | None = None  # the input frames when they were given as an array
    frames_fps: float | None = None

    def save(self, path: str | os.PathLike) -> str:
        """``.wav/.flac/.mp3/.m4a``: the sound alone. ``.mp4/.mov/.mkv``: the input video with this sound track
        (the video stream is copied, not re-encoded, when the input was a file)."""
        p = os.fspath(path)
        ext = os.path.splitext(p)[1].lower()
        if ext in (".wav", ".flac", ".mp3", ".m4a"):
            return write_audio(p, self.waveform.numpy(), self.sample_rate)
        if ext in MUXED_OUTPUT_EXTENSIONS:
            if self.video_path is not None:
                return replace_audio(self.video_path, p, self.waveform.numpy(), self.sample_rate)
            if self.frames is not None:
                return write_video(p, self.frames, self.frames_fps, self.waveform.numpy(), self.sample_rate)
            raise AvgenError("no video to mux the sound into; save as .wav")
        raise AvgenError(f"{p}: unknown output type '{ext}' (wav, flac, mp3, m4a, mp4, mov, mkv)")


def _chunk_starts(total: int, chunk: int, overlap: int) -> list[int]:
    """Start offsets of chunks of ``chunk`` steps overlapping by ``overlap``; the last one ends at ``total``."""
    return list(range(0, total - chunk, chunk - overlap)) + [total - chunk]


def _overlap_add(out: torch.Tensor, weight: torch.Tensor, piece: torch.Tensor, start: int, *,
                 fade_in: torch.Tensor | None = None, fade_out: torch.Tensor | None = None) -> None:
    """Add ``piece`` (last axis = time) to ``out`` at ``start`` with cross-fade weights: ``fade_in`` over its first
    steps, ``fade_out`` over its last; ``weight`` accumulates the weights for the final normalisation."""
    n = piece.shape[-1]
    w = torch.ones(n)
    if fade_in is not None:
        w[:len(fade_in)] = fade_in
    if fade_out is not None:
        w[-len(fade_out):] = torch.minimum(w[-len(fade_out):], fade_out)
    out[..., start:start + n] += piece * w
    weight[start:start + n] += w


def _stage_bar(enabled: bool | None, stage: str, total: int, unit: str):
    """One stage's progress bar on stderr (with tqdm's rate and ETA). ``enabled``: True shows it, False hides it,
    None shows it only when stderr is a terminal (logs and pipes stay clean)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"v2s {stage}", unit=unit, disable=None if enabled is None else not enabled,
                file=sys.stderr, leave=True, dynamic_ncols=True)


def _counted_batches(batches, bar):
    """``batches`` unchanged, ticking ``bar`` once per item of each (stopping at its total, as :func:`_counted`)."""
    for batch in batches:
        bar.update(max(0, min(len(batch), bar.total - bar.n)))
        yield batch
    bar.n = bar.total
    bar.refresh()


def _counted(items, bar):
    """``items`` unchanged, ticking ``bar`` once per item (the bar stops at its total: a decoder may yield one
    frame more or fewer than the header's duration says)."""
    for item in items:
        if bar.n < bar.total:
            bar.update(1)
        yield item
    bar.n = bar.total  # the stage is over, whatever the header promised
    bar.refresh()


class VideoToSoundPipeline:
    """A VarietySound generator plus everything needed to feed it: the visual encoder and frame rate it was trained
    with, the mel preset, and a vocoder (:func:`avgen.vocoders.load`; default ``specvqgan-bridge``, the universal
    HiFi-GAN on this preset's mels). Load with :meth:`from_pretrained`."""

    def __init__(self, generator: torch.nn.Module, config: dict, *, device=None,
                 vocoder: str | os.PathLike | vocoders.Vocoder | None = None):
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.generator = generator.eval().requires_grad_(False).to(self.device)
        self.config = config
        data = config.get("data", {})
        self.fps = float(data.get("fps", 21.5))
        visual = data.get("visual", {})
        self.backbone = visual.get("backbone", "efficientnet-lite0")
        self.mel_preset = (data.get("mel") or {}).get("name", SPECVQGAN_MEL_PRESET)
        self.segment_seconds = float(data.get("segment_seconds") or 4.0)
        try:  # the motion its generator was trained on (data.motion, from the prepare cache); none: pixel-grid
            self.motion_kind = PixelMotion.from_settings(data.get("motion")).kind
        except ValueError as e:
            raise CheckpointError(f"data.motion: {e}") from None
        width, channels = getattr(generator.config, "pixel_motion_dim", 0), motion_dim(self.motion_kind)
        if width and width != channels:
            raise CheckpointError(f"model.pixel_motion_dim is {width}, but data.motion ({self.motion_kind}) gives "
                                  f"{channels} numbers per frame")
        self._encoder = None
        self.vocoder = checked_vocoder(vocoder, self.mel_preset, device=self.device, made_by="generator")

    # -- loading / saving ------------------------------------------------------------------------------------
    @property
    def vocoder_name(self) -> str:
        return self.vocoder.name

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, *, device=None,
                        vocoder: str | os.PathLike | vocoders.Vocoder | None = None) -> "VideoToSoundPipeline":
        """A pipeline folder (``config.json`` naming ``VideoToSoundPipeline`` + a ``generator/`` model folder, what
        :meth:`save_pretrained` and training write; or a bundled one's name, :data:`avgen.bundled.BUNDLED_CHECKPOINTS`),
        or a folder of the earlier single-folder layout
        (``config.json`` with ``task: varietysound`` + ``generator.safetensors``); ``None``: the bundled default.
        ``vocoder``: a name of :data:`avgen.vocoders.VOCODERS`, a trained vocoder folder, or a
        :class:`~avgen.vocoders.Vocoder`; None: :data:`avgen.vocoders.DEFAULT_VOCODER`."""
        folder = bundled_checkpoint(path) if path is not None else DEFAULT_V2S_CHECKPOINT  # a folder or bundled name
        if not os.path.isdir(folder):
            raise WeightsNotFoundError("VarietySound", folder,
                                       "a training run's final/ folder (config.json + generator/)")
        generator, settings = load_pipeline_component(folder, cls.__name__, "generator", VarietySound,
                                                      legacy_task="varietysound")
        settings = {k: v for k, v in settings.items() if k not in _NOT_SETTINGS}
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise CheckpointError(f"{os.path.join(folder, 'config.json')}: unknown entries {', '.join(unknown)} "
                                  f"(a VideoToSoundPipeline reads {', '.join(_SETTINGS)})")
        if not isinstance(settings.get("data", {}), dict):
            raise CheckpointError(f"{os.path.join(folder, 'config.json')}: 'data' must be an object")
        return cls(generator, settings, device=device, vocoder=vocoder)

    def save_pretrained(self, path: str | os.PathLike, *, fp16: bool = False) -> str:
        """``path/config.json`` (this pipeline's settings: data rates, visual backbone, mel preset) and
        ``path/generator/`` (the model folder); ``fp16`` stores the weights in half precision."""
        folder = os.fspath(path)
        save_pretrained(self.generator, os.path.join(folder, "generator"), dtype=torch.float16 if fp16 else None)
        settings = {k: v for k, v in self.config.items() if k not in _NOT_SETTINGS}
        save_pipeline_config(folder, type(self).__name__, {"generator": "generator"}, settings)
        return folder

    # -- inputs ------------------------------------------------------------------------------------------------
    @property
    def encoder(self):
        if self._encoder is None:

            self._encoder = VisualEncoder(self.backbone, device=self.device, precision="fp32")
        return self._encoder

    @property
    def takes_motion(self) -> bool:
        """Whether the generator takes pixel motion beside the features (``pixel_motion_dim`` in its config)."""
        return bool(getattr(self.generator.config, "pixel_motion_dim", 0))

    def video_features(self, video, *, fps: float | None = None, batch_size: int = VIDEO_BATCH,
                       progress: bool | None = False) -> tuple[torch.Tensor, float]:
        """(features ``[T_v, D]`` at the model's frame rate, duration in seconds). ``video``: a path, or uint8
        frames ``[T, H, W, 3]`` at ``fps`` (default: the model's rate). ``progress``: a bar on stderr.

        A path is read as ``avgen prepare`` reads it (:meth:`VisualEncoder.video_batches`): frames
        decoded straight to the encoder's resize side by FFmpeg's scaler, at the model's rate, ``batch_size`` at a
        time, so the features are those of the prepared caches the models were trained on, and memory follows the
        batch, not the video's length or resolution. An array has no decoder to resize it: its frames are resized
        by torch's antialiased interpolation (:meth:`VisualEncoder.encode_stream`; see
        :mod:`avgen.encoders.frames` for why, and how far that is from the file path's features)."""
        feats, _, duration = self.video_inputs(video, fps=fps, batch_size=batch_size, progress=progress, motion=False)
        return feats, duration

    @torch.no_grad()
    def video_inputs(self, video, *, fps: float | None = None, batch_size: int = VIDEO_BATCH,
                     progress: bool | None = False, motion: bool | None = None, spill: bool | None = False
                     ) -> tuple[torch.Tensor | FeatureFile, torch.Tensor | None, float]:
        """(features ``[T_v, D]``, pixel motion ``[T_v, 32]`` or None, duration in seconds), read as
        :meth:`video_features` reads them, in one pass over the frames. ``motion``: compute the pixel motion
        (:mod:`avgen.encoders.motion`); None: when the generator takes it. From a path it comes from the frames the
        encoder gets, as ``avgen prepare`` computes it; from an array, from the frames at their own size (block
        averaging makes the two nearly equal). ``spill``: a video file's features go to a :class:`FeatureFile`
        (which :meth:`synthesize_mel` reads chunk by chunk; the caller closes it) instead of memory; None: for
        files longer than :data:`STREAM_VIDEO_SECONDS`. Arrays are in memory already and never spill."""
        want_motion = self.takes_motion if motion is None else motion
        tracker, pieces = (PixelMotion(self.motion_kind) if want_motion else None), []

        def tapped(frames):  # batches (a path) or single frames (an array), passed on unchanged
            for f in frames:
                if tracker is not None:
                    pieces.append(tracker.push(f if f.ndim == 4 else f[None]))
                yield f

        def motion_of(n: int) -> torch.Tensor | None:
            if tracker is None:
                return None
            m = torch.from_numpy(np.concatenate(pieces)) if pieces else torch.zeros(0, tracker.dim)
            return m[:n]  # [T_v, 32 or 64], one per feature frame

        if isinstance(video, (str, os.PathLike)):
            info = probe(video)
            if not info.has_video:
                raise AvgenError(f"{video}: no video stream")
            duration = float(info.video_duration)
            expected = max(1, math.floor(duration * self.fps + 1e-6))
            encoder = self.encoder
            batches = encoder.video_batches(video, fps=self.fps, batch_size=batch_size)
            if spill is None:
                spill = duration > STREAM_VIDEO_SECONDS
            sink = FeatureFile(encoder.feature_dim) if spill else None
            try:
                with _stage_bar(progress, "features", expected, "frame") as bar:
                    feats = encoder.encode_batches(tapped(_counted_batches(batches, bar)), rows=expected + 1,
                                                   into=sink)
            except BaseException:
                if sink is not None:
                    sink.close()
                raise
            return feats, motion_of(len(feats)), duration
        array = np.asarray(video)
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise AvgenError(f"video frames must be uint8 [T, H, W, 3], got {array.dtype} {array.shape}")
        if min(array.shape[:3]) == 0:
            raise AvgenError(f"video frames: empty array {array.shape}")
        src_fps = float(fps or self.fps)
        duration = len(array) / src_fps
        n = max(1, math.floor(duration * self.fps + 1e-6))
        # nearest source frame for each model-rate frame
        idx = np.clip(np.round(np.arange(n) / self.fps * src_fps).astype(int), 0, len(array) - 1)
        frames = (array[i] for i in idx)
        with _stage_bar(progress, "features", n, "frame") as bar:
            feats = self.encoder.encode_stream(tapped(_counted(frames, bar)), batch_size=batch_size, rows=n)
        return feats, motion_of(len(feats)), duration

    def reference_waveform(self, reference, *, sample_rate: int | None = None) -> np.ndarray:
        """``[1, N]`` float32 mono reference at the mel preset's rate: a path (audio, or a video's audio track) or a
        waveform (numpy/tensor, ``[N]`` or ``[C, N]``, at ``sample_rate``). Refuses non-finite and too-short ones."""
        preset = get_preset(self.mel_preset)
        if isinstance(reference, (str, os.PathLike)):
            wav, _ = read_audio(reference, sample_rate=preset.sample_rate)
            wav = wav.mean(0, keepdims=True)
            require_finite(wav, os.fspath(reference))
        else:
            if sample_rate is None:
                raise AvgenError("a reference waveform needs reference_sample_rate=")
            wav = np.asarray(reference.detach().cpu() if torch.is_tensor(reference) else reference, np.float32)
            if wav.ndim not in (1, 2) or wav.size == 0:
                raise AvgenError(f"a reference waveform must be a non-empty [N] or [C, N] array, got {wav.shape}")
            if not (math.isfinite(float(sample_rate)) and sample_rate > 0):
                raise AvgenError(f"reference_sample_rate must be a positive number, got {sample_rate}")
            wav = wav.reshape(-1, wav.shape[-1]).mean(0, keepdims=True)
            require_finite(wav, "reference")  # before resampling, which would spread a NaN over its neighbours
            if int(sample_rate) != preset.sample_rate:
                wav = resample(wav, int(sample_rate), preset.sample_rate)
        if wav.shape[-1] < preset.n_fft:
            raise AvgenError(f"reference too short: {wav.shape[-1]} samples (need at least {preset.n_fft})")
        return wav

    def reference_summary(self, reference, *, sample_rate: int | None = None, progress: bool | None = False
                          ) -> tuple[torch.Tensor | None, torch.Tensor | None, float]:
        """What synthesis needs from a reference: ``(mel [80, T_r], None, level)`` for one up to
        :data:`STREAM_REFERENCE_SECONDS` long (the whole-signal path), ``(None, timbre [1, D], level)`` for a longer
        one, decoded, resampled, turned into a mel and encoded block by block
        (:mod:`avgen.pipelines.reference_stream`: equal to the whole-signal result within float rounding) so that
        memory follows the block, not the reference. ``level``: the reference's
        :func:`~avgen.audio.sounding_rms`."""
        preset = get_preset(self.mel_preset)
        if isinstance(reference, (str, os.PathLike)):
            name = os.fspath(reference)
            long = probe(name).duration > STREAM_REFERENCE_SECONDS
        else:
            name = "reference"
            arr = reference.detach().cpu() if torch.is_tensor(reference) else reference
            long = (sample_rate is not None and np.asarray(arr).ndim in (1, 2) and math.isfinite(float(sample_rate))
                    and sample_rate > 0 and np.asarray(arr).shape[-1] / sample_rate > STREAM_REFERENCE_SECONDS)
        if not long:
            wav = self.reference_waveform(reference, sample_rate=sample_rate)
            mel = mel_spectrogram(torch.as_tensor(wav), preset, sample_rate=preset.sample_rate)
            return mel, None, sounding_rms(wav, preset.sample_rate)
        if isinstance(reference, (str, os.PathLike)):
            source = iter_audio(name, block_seconds=10.0)
            rate, total = source.sample_rate, probe(name).duration
        else:
            wav = np.asarray(arr, np.float32)
            wav = wav.reshape(-1, wav.shape[-1])
            rate, total = int(sample_rate), wav.shape[-1] / sample_rate
            source = (wav[:, a:a + 10 * rate] for a in range(0, wav.shape[-1], 10 * rate))
        resampler, mels, level = StreamResampler(rate, preset.sample_rate), StreamMel(preset), SoundingLevel(
            preset.sample_rate)
        bar = _stage_bar(progress, "reference", round(total), "s")

        def mel_blocks():
            seen = 0
            for block in source:
                mono = block.mean(0)  # [n] at the source rate
                bad = ~np.isfinite(mono)
                if bad.any():  # named at the file's rate, before resampling spreads it
                    raise AvgenError(f"{name}: non-finite value(s) (NaN/inf), the first at sample "
                                     f"{seen + int(np.argmax(bad))}")
                seen += mono.size
                piece = resampler.push(mono)  # [n'] at the preset's rate
                level.push(piece)
                yield mels.push(piece)
                bar.update(min(round(seen / rate), bar.total) - bar.n)
            piece = resampler.finish()
            level.push(piece)
            yield mels.push(piece)
            yield mels.finish()

        try:
            timbre = streamed_timbre(self.generator.acoustic, mel_blocks())
        finally:
            bar.close()
        return None, timbre, level.value()

    def reference_mel(self, reference, *, sample_rate: int | None = None) -> torch.Tensor:
        """``[80, T_r]`` mel of a reference (see :meth:`reference_waveform`)."""
        preset = get_preset(self.mel_preset)
        wav = self.reference_waveform(reference, sample_rate=sample_rate)
        return mel_spectrogram(torch.as_tensor(wav), preset, sample_rate=preset.sample_rate)

    @staticmethod
    def _output_gain(wav: torch.Tensor, ref_rms: float, sample_rate: int, gain_db: float | None) -> float:
        """The factor applied to the vocoder's output: ``10^(gain_db / 20)``, or the reference's sounding-frame RMS
        over the output's, capped so the peak stays at 0.99 (1 when the output or the reference is digital
        silence: there is no level to match)."""
        if gain_db is not None:
            return 10.0 ** (gain_db / 20.0)
        out_rms = sounding_rms(wav.numpy(), sample_rate)  # ref_rms: the reference's sounding_rms
        low, high = torch.aminmax(wav)  # the peak without an |x| copy of the whole track
        peak = max(-float(low), float(high))
        if out_rms <= 0.0 or ref_rms <= 0.0 or peak <= 0.0:
            return 1.0
        return min(ref_rms / out_rms, 0.99 / peak)

    # -- synthesis ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def synthesize_mel(self, features: torch.Tensor, reference_mel: torch.Tensor | None, mel_frames: int, *,
                       timbre: torch.Tensor | None = None, motion: torch.Tensor | None = None,
                       chunk_seconds: float | None = None, overlap_seconds: float = 1.0,
                       generator: torch.Generator | None = None, progress: bool | None = False) -> torch.Tensor:
        """Mel ``[80, mel_frames]`` from features ``[T_v, D]`` (a tensor or a :class:`FeatureFile`): the video is cut
        into chunks of ``chunk_seconds`` (default: the training segment length) overlapping by ``overlap_seconds``;
        chunk mels are cross-faded linearly in the overlaps. ``timbre``: instead of ``reference_mel``, the acoustic
        encoder's output ``[1, D]`` for it (what :meth:`reference_summary` streams from a long reference).
        ``progress``: a bar over the chunks on stderr."""

        g = self.generator
        p = get_preset(self.mel_preset)
        mel_fps = p.sample_rate / p.hop_length
        if timbre is None:
            timbre = g.encode_timbre(reference_mel[None].to(self.device), generator)
        else:  # the encoder ran already (streamed); its ablation, if any, is applied here as encode_timbre would
            timbre = g._maybe_ablate("timbre", timbre.to(self.device), generator)
        back = g.encode_background(None, 1, generator)
        t_v = features.shape[0]
        chunk = max(2, round((chunk_seconds or self.segment_seconds) * self.fps))
        overlap = min(chunk // 2, max(0, round(overlap_seconds * self.fps)))
        if t_v <= chunk:
            with _stage_bar(progress, "synthesis", 1, "chunk") as bar:
                mel = g.synthesize(features[0:t_v][None].to(self.device), timbre, back, mel_frames, generator,
                                   motion=None if motion is None else motion[None].to(self.device))[0].cpu()
                bar.update(1)
            return mel
        out = torch.zeros(self.generator.n_mels, mel_frames)
        weight = torch.zeros(mel_frames)
        starts = _chunk_starts(t_v, chunk, overlap)
        fade = max(1, round(overlap / self.fps * mel_fps))
        bar = _stage_bar(progress, "synthesis", len(starts), "chunk")
        for s in _counted(starts, bar):
            m0 = round(s / self.fps * mel_fps)
            m1 = mel_frames if s == starts[-1] else min(mel_frames, round((s + chunk) / self.fps * mel_fps))
            piece = g.synthesize(features[s:s + chunk][None].to(self.device), timbre, back, m1 - m0, generator,
                                 motion=None if motion is None else motion[None, s:s + chunk].to(self.device))[0].cpu()
            _overlap_add(out, weight, piece, m0,
                         fade_in=torch.linspace(0, 1, fade + 2)[1:-1] if s > 0 else None,
                         fade_out=torch.linspace(1, 0, fade + 2)[1:-1] if s != starts[-1] else None)
        bar.close()
        return out.div_(weight.clamp_min_(1e-6))  # in place: no second copy of a long mel

    def vocode(self, mel: torch.Tensor, num_samples: int, *, generator: torch.Generator | None = None,
               progress: bool | None = False) -> torch.Tensor:
        """Mel ``[80, T]`` -> ``[1, num_samples]`` with the pipeline's vocoder (chunked with context and
        cross-faded by :class:`~avgen.vocoders.Vocoder`, so memory follows the chunk). ``progress``: a bar over
        the vocoder's chunks on stderr."""
        voc = self.vocoder
        pieces = 1 if mel.shape[-1] <= voc.chunk_frames else len(voc.chunks(mel.shape[-1]))
        with _stage_bar(progress, "vocoder", pieces, "chunk") as bar:
            if bar.disable:
                return fit_length(voc(mel[None], generator=generator), num_samples)
            # the vocoder renders its chunks through render(): count them there, for the bar's ETA
            own = "render" in voc.__dict__
            render = voc.render

            def counted_render(piece, gen):
                result = render(piece, gen)
                bar.update(1)
                return result

            voc.render = counted_render
            try:
                return fit_length(voc(mel[None], generator=generator), num_samples)
            finally:
                if own:
                    voc.render = render
                else:
                    del voc.render  # back to the class's method

    def __call__(self, video, reference, *, video_fps: float | None = None, reference_sample_rate: int | None = None,
                 seed: int | None = None, chunk_seconds: float | None = None, overlap_seconds: float = 1.0,
                 gain_db: float | None = None, progress: bool | None = False) -> V2SResult:
        """Generate the track (see :func:`avgen.generate.video_to_sound`). Level: with ``gain_db=None`` the output
        is scaled so that the RMS of its sounding frames equals the reference's (:func:`avgen.audio.sounding_rms`),
        and lowered further if its peak would pass 0.99; ``gain_db`` instead applies that fixed gain to the
        vocoder's output. Either way the result is clipped to [-1, 1]. ``progress``: one bar per stage (features,
        synthesis, vocoder) on stderr, with tqdm's ETA; None: only when stderr is a terminal."""
        if gain_db is not None and not math.isfinite(gain_db):
            raise AvgenError(f"gain_db must be a finite number of dB, got {gain_db}")
        if video_fps is not None and not (math.isfinite(video_fps) and video_fps > 0):
            raise AvgenError(f"video_fps must be a positive number of frames per second, got {video_fps}")
        for name, v in (("chunk_seconds", chunk_seconds), ("overlap_seconds", overlap_seconds)):
            if v is not None and not (math.isfinite(v) and v >= (0 if name == "overlap_seconds" else 1e-3)):
                raise AvgenError(f"{name} must be a finite positive number of seconds, got {v}")

        gen = torch.Generator().manual_seed(seed if seed is not None else 0)
        p = get_preset(self.mel_preset)
        # the reference is read (and checked) before the video; a long one is summarised in bounded memory
        ref, timbre, ref_rms = self.reference_summary(reference, sample_rate=reference_sample_rate, progress=progress)
        # a long video's features wait in a temporary file, read back one synthesis chunk at a time
        feats, motion, duration = self.video_inputs(video, fps=video_fps, progress=progress, spill=None)
        num_samples = max(p.n_fft, round(duration * p.sample_rate))
        mel_frames = num_samples // p.hop_length + 1
        try:
            mel = self.synthesize_mel(feats, ref, mel_frames, timbre=timbre, motion=motion,
                                      chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds, generator=gen,
                                      progress=progress)
        finally:
            if isinstance(feats, FeatureFile):
                feats.close()
        del feats, motion  # not needed by the vocoder
        wav = self.vocode(mel, num_samples, generator=gen, progress=progress).float()
        # in place: a long track is the largest tensor left, and each copy of it would add to the peak
        wav.mul_(self._output_gain(wav, ref_rms, p.sample_rate, gain_db)).clamp_(-1, 1)
        is_path = isinstance(video, (str, os.PathLike))
        return V2SResult(waveform=wav, sample_rate=p.sample_rate, mel=mel, duration=duration,
                         video_path=os.fspath(video) if is_path else None,
                         frames=None if is_path else np.asarray(video),
                         frames_fps=None if is_path else float(video_fps or self.fps))


def load_vocoder(path: str | os.PathLike) -> torch.nn.Module:
    """A trained HiFi-GAN: a model folder (``avgen train`` with ``task: vocoder`` writes one to ``<run>/final``)."""
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise WeightsNotFoundError("vocoder", folder, "a vocoder training run's final/ folder "
                                                     "(avgen train --config configs/vocoder/...)")
    return from_pretrained(folder, expected=HiFiGANGenerator)
