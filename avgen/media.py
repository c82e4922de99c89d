"""Media I/O: decode video/audio, resample video by timestamps, write wav/flac/mp3/m4a and mp4 (H.264 + AAC).

Everything goes through PyAV, whose wheels ship FFmpeg, so no system ffmpeg is needed. Errors are raised as
:class:`avgen.errors.MediaError` subclasses that name the file and the reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Sequence

import numpy as np

from .errors import (
    ConfigError,
    CorruptMediaError,
    MediaError,
    MediaNotFoundError,
    NoAudioStreamError,
    NotMediaError,
    NoVideoStreamError,
    ZeroDurationError,
)
from .utils import atomic_output

__all__ = [
    "MediaInfo",
    "probe",
    "read_video",
    "iter_video",
    "read_audio",
    "iter_audio",
    "write_audio",
    "write_video",
    "replace_audio",
    "VIDEO_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "MUXED_OUTPUT_EXTENSIONS",
    "IMAGE_EXTENSIONS",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Containers generated videos are written to (video + sound track).
MUXED_OUTPUT_EXTENSIONS = (".mp4", ".mov", ".mkv")

# Demuxers FFmpeg falls back to for arbitrary bytes (a text file opens as 'tty'); they never mean a media file.
_NON_MEDIA_FORMATS = {"tty", "txt", "ansi", "bin", "xbin", "idf", "adf"}
# Demuxers of single still images (FFmpeg opens a PNG as a one-frame 'video' without a duration).
_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}
# Container signatures: a file starting like this is media, so a failure to open it means truncation/corruption.
_MAGIC = ((4, b"ftyp"), (0, b"RIFF"), (0, b"OggS"), (0, b"fLaC"), (0, b"ID3"), (0, b"\x1a\x45\xdf\xa3"),
          (0, b"\x00\x00\x01\xba"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"))


def _import_av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a hard dependency
        raise ImportError("avgen media I/O needs PyAV: pip install av") from e
    return av


def _has_media_signature(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(16)
    if any(head[off:off + len(sig)] == sig for off, sig in _MAGIC):
        return True
    # MPEG audio / ADTS AAC frame sync (11 set bits).
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def _open(path: str | os.PathLike):
    """Open a container for reading, mapping every failure to a MediaError subclass."""
    av = _import_av()
    p = os.fspath(path)
    if not os.path.exists(p):
        raise MediaNotFoundError(p)
    if os.path.isdir(p):
        raise NotMediaError(p, "is a directory")
    if os.path.getsize(p) == 0:
        raise NotMediaError(p, "empty file")
    try:
        container = av.open(p, "r")
    except av.error.FFmpegError as e:
        if _has_media_signature(p):
            raise CorruptMediaError(p, f"cannot be opened: {e.strerror or e}") from None
        raise NotMediaError(p, f"{e.strerror or e}") from None
    if container.format.name in _NON_MEDIA_FORMATS or not container.streams:
        container.close()
        raise NotMediaError(p, f"no audio or video content (FFmpeg guessed format '{container.format.name}')")
    if container.format.name in _IMAGE_FORMATS or (container.format.name.endswith("_pipe")
                                                   and container.format.name != "gif_pipe"):
        name = container.format.name.replace("_pipe", "")
        container.close()
        raise NotMediaError(p, f"a still image ({name}), not a video or audio file")
    return container


def _check_not_truncated(container, stream, path: str, declared: float) -> None:
    """Headers alone (a faststart mp4 keeps its index at the front) can describe more than the file holds: seek to
    90% of the declared duration and read one packet. No packet there means the data was cut short."""
    av = _import_av()
    start = stream.start_time or 0
    target = start + int(0.9 * declared / stream.time_base)
    try:
        container.seek(target, stream=stream, backward=True, any_frame=True)
        packet = next((pk for pk in container.demux(stream) if pk.size), None)
    except (av.error.FFmpegError, StopIteration):
        return  # not seekable: decoding will tell
    if packet is None:
        raise CorruptMediaError(path, f"truncated: the header declares {declared:.2f} s of video, the data stops "
                                      f"before {0.9 * declared:.2f} s")


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learns from the container headers without decoding."""

    path: str
    duration: float  # seconds (container or longest stream)
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    video_duration: float | None = None  # the video stream's own duration (None without video)


def _stream_duration(stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read stream metadata (no decoding). Raises MediaError for unusable files."""
    p = os.fspath(path)
    with _open(p) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        durs = [d for d in (_stream_duration(v) if v else None, _stream_duration(a) if a else None) if d]
        duration = max(durs) if durs else (c.duration / 1e6 if c.duration else 0.0)
        if duration <= 0:
            raise ZeroDurationError(p, "the container declares no duration")
        if v is not None and _stream_duration(v):
            _check_not_truncated(c, v, p, _stream_duration(v))
        return MediaInfo(
            path=p,
            duration=float(duration),
            has_video=v is not None,
            has_audio=a is not None,
            fps=float(v.average_rate) if v is not None and v.average_rate else None,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            num_frames=(v.frames or None) if v is not None else None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            channels=a.codec_context.channels if a is not None else None,
            video_duration=(_stream_duration(v) or float(duration)) if v is not None else None,
        )


# ----------------------------------------------------------------------------------------------------------------
# Video


def _resolve_size(size, width: int, height: int) -> tuple[int, int] | None:
    """``size`` is None, an int (shorter side, aspect kept) or (height, width)."""
    if size is None:
        return None
    if isinstance(size, int):
        scale = size / min(width, height)
        return max(1, round(height * scale)), max(1, round(width * scale))
    h, w = size
    return int(h), int(w)


def _decoded_frames(container, stream, path: str) -> Iterator[tuple[float, object]]:
    """Yield (time in seconds, av.VideoFrame) in presentation order; decode errors become CorruptMediaError."""
    av = _import_av()
    rate = float(stream.average_rate) if stream.average_rate else None
    index = 0
    try:
        for frame in container.decode(stream):
            t = frame.time
            if t is None:  # no timestamps: fall back to the nominal rate
                t = index / rate if rate else float(index)
            index += 1
            yield float(t), frame
    except av.error.FFmpegError as e:
        raise CorruptMediaError(path, f"decoding failed after {index} frames: {e.strerror or e}") from None


def read_video(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float]:
    """Decode the first video stream to RGB frames.

    Args:
        path: a video file.
        fps: target frame rate. Output frame ``i`` shows the source frame nearest to time ``i / fps``, so any
            source rate (15.25, 24, 25, 29.97, 30...) gives ``floor(duration * fps)`` frames. ``None`` keeps every
            decoded frame and returns the stream's average rate.
        size: resize while decoding (bilinear): an int is the shorter side, a tuple is (height, width).
        max_frames: stop decoding once this many output frames exist (the first ``max_frames`` of the full result).

    Returns:
        ``(frames, fps)`` with frames ``uint8 [T, H, W, 3]``.
    """
    it = iter_video(path, fps=fps, size=size, max_frames=max_frames)
    frames = list(it)
    return np.stack(frames), it.fps


class iter_video:  # noqa: N801 - used like a function: ``for frame in iter_video(path, fps=21.5)``
    """Stream the frames :func:`read_video` would return, one ``uint8 [H, W, 3]`` array at a time (memory: one
    decoded frame). ``.fps`` is the output rate (known after the first frame when ``fps`` is None)."""

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None, size: int | tuple[int, int] | None = None,
                 max_frames: int | None = None):
        if fps is not None and not (fps > 0 and math.isfinite(fps)):
            raise ConfigError(f"fps must be a positive number, got {fps}")
        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {max_frames}")
        self.path, self.target_fps, self.size, self.max_frames = os.fspath(path), fps, size, max_frames
        self.fps = float(fps) if fps is not None else 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        p, fps, size = self.path, self.target_fps, self.size
        limit = self.max_frames if self.max_frames is not None else math.inf
        with _open(p) as c:
            if not c.streams.video:
                raise NoVideoStreamError(p)
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            native = float(stream.average_rate) if stream.average_rate else None
            declared = _stream_duration(stream)
            if fps is None:
                self.fps = native or 0.0
            out_hw = None
            # one scaler for the whole stream: frame.to_ndarray(width=, height=) would set up a new swscale context
            # for every frame (half the scaling time of a 720p -> 455x256 frame), for the same pixels
            from av.video.reformatter import VideoReformatter

            scaler = VideoReformatter()

            def to_rgb(frame) -> np.ndarray:
                nonlocal out_hw
                if out_hw is None:
                    out_hw = _resolve_size(size, frame.width, frame.height) or (frame.height, frame.width)
                h, w = out_hw
                return scaler.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()

            count = 0
            t0 = None
            last_t = None
            if fps is None:
                for t, frame in _decoded_frames(c, stream, p):
                    t0 = t if t0 is None else t0
                    last_t = t
                    yield to_rgb(frame)
                    count += 1
                    if count >= limit:
                        break
            else:
                # Nearest-frame selection: target i (time i/fps) goes to source frame k when it falls before the
                # midpoint between frame k and frame k+1. Only the previous frame is held in memory.
                prev_t, prev_frame = None, None
                for t, frame in _decoded_frames(c, stream, p):
                    t0 = t if t0 is None else t0
                    t -= t0
                    if prev_frame is not None:
                        mid = 0.5 * (prev_t + t)
                        while count / fps < mid and count < limit:
                            yield to_rgb(prev_frame)
                            count += 1
                    prev_t, prev_frame, last_t = t, frame, t + t0
                    if count >= limit:
                        break
                if prev_frame is not None and count < limit:
                    frame_dur = 1.0 / native if native else 0.0
                    end = prev_t + frame_dur  # the last frame is shown for one nominal frame duration
                    n_total = math.floor(end * fps + 1e-6)
                    while count < min(n_total, limit):
                        yield to_rgb(prev_frame)
                        count += 1
            if t0 is None:
                raise ZeroDurationError(p, "the video stream holds no decodable frames")
            if count == 0:  # frames decoded, but the clip ends before the first output frame's time is reached
                raise ZeroDurationError(p, f"the video lasts {prev_t + (1.0 / native if native else 0.0):.3f} s, "
                                           f"shorter than one frame at {fps:g} fps")
            # A stream that stops well before its declared duration was cut short.
            stopped_early = count >= limit
            if (not stopped_early and declared and native
                    and (last_t - t0) + 1.0 / native < 0.9 * declared - 1.0 / native):
                raise CorruptMediaError(p, f"truncated: decoded {last_t - t0 + 1.0 / native:.2f} s of {declared:.2f} s")


# ----------------------------------------------------------------------------------------------------------------
# Audio


_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _frame_to_float(frame) -> np.ndarray:
    """An av.AudioFrame as float32 [C, n] of the native channels (no re-matrixing)."""
    arr = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:  # packed formats come as [1, n * C], interleaved
        arr = arr.reshape(-1, channels).T
    name = frame.format.name.rstrip("p")
    if name in _INT_SCALE:
        scale = _INT_SCALE[name]
        arr = (arr.astype(np.float64) - (128.0 if name == "u8" else 0.0)) / scale
    return np.ascontiguousarray(arr, dtype=np.float32)


def _decode_audio(container, name: str) -> tuple[np.ndarray, int]:
    """Decode ``container``'s first audio stream to float32 ``[C, N]`` at its native rate, cut to the declared
    (edit-list) duration; ``name`` (the file) goes into the errors."""
    av = _import_av()
    if not container.streams.audio:
        raise NoAudioStreamError(name)
    stream = container.streams.audio[0]
    native_sr = stream.codec_context.sample_rate
    declared = _stream_duration(stream)
    chunks = []
    try:
        for frame in container.decode(stream):
            chunks.append(_frame_to_float(frame))
    except av.error.FFmpegError as e:
        raise CorruptMediaError(name, f"audio decoding failed: {e.strerror or e}") from None
    if not chunks or sum(ch.shape[1] for ch in chunks) == 0:
        raise ZeroDurationError(name, "the audio stream holds no samples")
    wav = np.concatenate(chunks, axis=1)  # [C, N]
    if declared and wav.shape[1] / native_sr < 0.9 * declared - 0.05:
        raise CorruptMediaError(name, f"truncated: decoded {wav.shape[1] / native_sr:.2f} s of {declared:.2f} s")
    if declared:
        # Codec padding past the declared (edit-list) duration, e.g. AAC's last partial frame, is not signal; for a
        # fresh encode the edit list also drops the encoder's priming samples, as FFmpeg's CLI does.
        wav = wav[:, : max(1, round(declared * native_sr))]
    return wav, native_sr


class iter_audio:  # noqa: N801 - used like a function: ``for block in iter_audio(path)``
    """Stream the first audio stream of a file as float32 ``[C, n]`` blocks of about ``block_seconds`` at its native
    rate (``.sample_rate``), the samples :func:`read_audio` would decode (cut to the declared duration, the same
    truncation check at the end); memory: one block."""

    def __init__(self, path: str | os.PathLike, *, block_seconds: float = 10.0):
        if not (math.isfinite(block_seconds) and block_seconds > 0):
            raise ConfigError(f"block_seconds must be a positive number, got {block_seconds}")
        self.path = os.fspath(path)
        info = probe(self.path)
        if not info.has_audio:
            raise NoAudioStreamError(self.path)
        self.sample_rate = int(info.sample_rate)
        self.block = max(1, round(block_seconds * self.sample_rate))

    def __iter__(self) -> Iterator[np.ndarray]:
        av = _import_av()
        p = self.path
        with _open(p) as c:
            if not c.streams.audio:
                raise NoAudioStreamError(p)
            stream = c.streams.audio[0]
            sr = stream.codec_context.sample_rate
            declared = _stream_duration(stream)
            # codec padding past the declared (edit-list) duration is not signal (as in _decode_audio)
            limit = max(1, round(declared * sr)) if declared else None
            pending, n_pending, decoded, kept = [], 0, 0, 0
            try:
                for frame in c.decode(stream):
                    a = _frame_to_float(frame)  # [C, n]
                    decoded += a.shape[1]
                    if limit is not None:
                        a = a[:, :max(0, limit - kept)]
                    if not a.shape[1]:
                        continue
                    kept += a.shape[1]
                    pending.append(a)
                    n_pending += a.shape[1]
                    if n_pending >= self.block:
                        yield np.concatenate(pending, axis=1)
                        pending, n_pending = [], 0
            except av.error.FFmpegError as e:
                raise CorruptMediaError(p, f"audio decoding failed: {e.strerror or e}") from None
            if pending:
                yield np.concatenate(pending, axis=1)
            if decoded == 0:
                raise ZeroDurationError(p, "the audio stream holds no samples")
            if declared and decoded / sr < 0.9 * declared - 0.05:
                raise CorruptMediaError(p, f"truncated: decoded {decoded / sr:.2f} s of {declared:.2f} s")


def read_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    start: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of an audio or video file.

    Args:
        path: wav/flac/ogg/mp3/m4a/... or a video file with an audio track.
        sample_rate: resample to this rate (windowed-sinc, ``torchaudio.functional.resample``); None keeps the
            native rate.
        mono: average the native channels (a plain mean, not FFmpeg's downmix matrix which scales by 1/sqrt(2)).
        start, duration: optional excerpt in seconds (applied after decoding, at the native rate).

    Returns:
        ``(waveform, sample_rate)``, waveform float32 ``[C, N]`` in [-1, 1] (``C == 1`` when mono).
    """
    p = os.fspath(path)
    # an excerpt must be a real span: a negative duration would silently drop the end
    if not (math.isfinite(start) and start >= 0):
        raise ConfigError(f"{p}: start must be a finite number of seconds >= 0, got {start}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ConfigError(f"{p}: duration must be a positive number of seconds, got {duration}")
    if sample_rate is not None and not sample_rate > 0:
        raise ConfigError(f"{p}: sample_rate must be positive, got {sample_rate}")
    with _open(p) as c:
        wav, native_sr = _decode_audio(c, p)
    if start or duration is not None:
        a = max(0, round(start * native_sr))
        b = wav.shape[1] if duration is None else a + round(duration * native_sr)
        wav = wav[:, a:b]
    if mono:
        wav = wav.mean(axis=0, keepdims=True)
    sr = native_sr
    if sample_rate is not None and sample_rate != native_sr:
        wav = resample(wav, native_sr, sample_rate)
        sr = sample_rate
    return wav.astype(np.float32, copy=False), int(sr)


def resample(waveform: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited (windowed-sinc) resampling of ``[C, N]`` float audio."""
    import torch
    import torchaudio.functional as AF

    g = math.gcd(int(orig_sr), int(new_sr))
    x = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    return AF.resample(x, orig_sr // g, new_sr // g).numpy()


# ----------------------------------------------------------------------------------------------------------------
# Writing


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _audio_2d(audio, name: str = "audio") -> np.ndarray:
    a = _as_numpy(audio).astype(np.float32, copy=False)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[0] not in (1, 2):
        raise ConfigError(f"{name} must be [N] or [C, N] with C in (1, 2), got shape {tuple(a.shape)}")
    if a.shape[1] == 0:
        raise ConfigError(f"{name} is empty (no samples)")
    return np.ascontiguousarray(a)


_AUDIO_CODECS = {".wav": ("wav", None), ".flac": ("flac", "flac"), ".mp3": ("mp3", "libmp3lame"),
                 ".m4a": ("ipod", "aac"), ".aac": ("adts", "aac")}


def _encode_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    for packet in _audio_packets(stream, audio, sample_rate):
        container.mux(packet)


def _pcm_frames(data: np.ndarray, sample_rate: int, fmt: str, block: int = 4096, convert=None) -> Iterator:
    """``[C, N]`` samples in ``fmt``'s dtype (or turned into it block by block by ``convert``) -> av.AudioFrames of
    ``block`` samples (packed formats interleaved), with sample-count timestamps."""
    av = _import_av()
    layout = "mono" if data.shape[0] == 1 else "stereo"
    for start in range(0, data.shape[1], block):
        chunk = data[:, start:start + block]
        if convert is not None:
            chunk = convert(chunk)
        if not fmt.endswith("p"):  # packed: interleave channels into [1, n*C]
            chunk = np.ascontiguousarray(chunk.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        yield frame


def _audio_packets(stream, audio: np.ndarray, sample_rate: int) -> Iterator:
    """Encode float ``[C, N]`` audio with ``stream``'s codec; yields the packets (encoder flushed at the end)."""
    fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    # converted block by block: whole-signal integer copies would be several times the waveform's memory
    if fmt.startswith("s16"):
        def convert(x):
            return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    elif fmt.startswith("s32"):
        def convert(x):
            return np.clip(np.round(x.astype(np.float64) * 2147483647.0), -2147483648, 2147483647).astype(np.int32)
    else:
        convert = None  # float32 already (_audio_2d)
    for frame in _pcm_frames(audio, sample_rate, fmt, convert=convert):
        yield from stream.encode(frame)
    yield from stream.encode(None)


def write_audio(path: str | os.PathLike, waveform, sample_rate: int, *, bits: int = 16) -> str:
    """Write ``[C, N]`` (or ``[N]``) float audio in [-1, 1] to wav/flac/mp3/m4a, atomically.

    ``bits`` selects 16-bit integer or 32-bit float PCM for wav (other formats ignore it).
    """
    av = _import_av()
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in _AUDIO_CODECS:
        raise ConfigError(f"{p}: unsupported audio extension '{ext}' (use one of {sorted(_AUDIO_CODECS)})")
    audio = _audio_2d(waveform, "waveform")
    fmt_name, codec = _AUDIO_CODECS[ext]
    if ext == ".wav":
        codec = {16: "pcm_s16le", 32: "pcm_f32le"}.get(bits)
        if codec is None:
            raise ConfigError(f"bits must be 16 or 32, got {bits}")
    with atomic_output(p) as tmp:
        with av.open(tmp, "w", format=fmt_name) as c:
            s = c.add_stream(codec, rate=int(sample_rate), layout="mono" if audio.shape[0] == 1 else "stereo")
            if codec in ("aac", "libmp3lame"):
                s.bit_rate = 192000
            _encode_audio(c, s, audio, int(sample_rate))
    return p


def write_video(
    path: str | os.PathLike,
    frames,
    fps: float,
    audio=None,
    sample_rate: int | None = None,
    *,
    crf: int = 18,
) -> str:
    """Write uint8 ``[T, H, W, 3]`` frames as H.264 (yuv420p) mp4, optionally muxing AAC audio, atomically.

    The audio is cut or zero-padded to exactly ``T / fps`` seconds so both streams end together (within one AAC
    frame of 1024 samples). H and W must be even (a yuv420p requirement).
    """
    av = _import_av()
    p = os.fspath(path)
    video = _as_numpy(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ConfigError(f"frames must be uint8 [T, H, W, 3], got {video.dtype} {tuple(video.shape)}")
    t, h, w, _ = video.shape
    if t == 0:
        raise ConfigError("frames is empty")
    if h % 2 or w % 2:
        raise ConfigError(f"H.264/yuv420p needs even height and width, got {h}x{w}; crop or resize first")
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    if audio is not None and not sample_rate:
        raise ConfigError("sample_rate is required with audio")
    rate = Fraction(fps).limit_denominator(100000)
    with atomic_output(p) as tmp:
        with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as c:
            vs = c.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"crf": str(crf), "preset": "medium"}
            vs.codec_context.time_base = Fraction(1, 1) / rate
            astream = None
            if audio is not None:
                aud = _audio_2d(audio)
                n = round(t / float(rate) * sample_rate)
                aud = aud[:, :n] if aud.shape[1] >= n else np.pad(aud, ((0, 0), (0, n - aud.shape[1])))
                astream = c.add_stream("aac", rate=int(sample_rate), layout="mono" if aud.shape[0] == 1 else "stereo")
                astream.bit_rate = 192000
            for i in range(t):
                frame = av.VideoFrame.from_ndarray(video[i], format="rgb24")
                frame.pts = i
                for packet in vs.encode(frame):
                    c.mux(packet)
            for packet in vs.encode(None):
                c.mux(packet)
            if astream is not None:
                _encode_audio(c, astream, aud, int(sample_rate))
    return p


def check_stream_copy(video_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Refuse (:class:`MediaError`, before any work) a video whose first video stream ``out_path``'s container
    (.mp4/.mov/.mkv, by extension) cannot hold without re-encoding, e.g. a rawvideo .avi into .mp4."""
    av = _import_av()
    src_path, p = os.fspath(video_path), os.fspath(out_path)
    fmt = _MUX_FORMATS.get(os.path.splitext(p)[1].lower(), "mp4")
    with _open(src_path) as src:
        if not src.streams.video:
            raise NoVideoStreamError(src_path)
        codec = src.streams.video[0].codec_context.name
    with av.open(os.devnull, "w", format=fmt) as dst:
        supported = dst.supported_codecs
    if codec not in supported:
        raise MediaError(src_path, f"its '{codec}' video stream cannot be copied into {fmt}; write .mkv or a sound "
                                   f"file (.wav) instead")


_MUX_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}


def replace_audio(video_path: str | os.PathLike, out_path: str | os.PathLike, audio, sample_rate: int) -> str:
    """Write ``video_path``'s first video stream, copied without re-encoding, with ``audio`` (float ``[C, N]``) as its
    only sound track (AAC), interleaved by time, atomically. The container follows ``out_path``'s extension
    (.mp4, .mov, .mkv)."""
    av = _import_av()
    src_path, p = os.fspath(video_path), os.fspath(out_path)
    data = _audio_2d(audio)
    fmt = _MUX_FORMATS.get(os.path.splitext(p)[1].lower(), "mp4")
    check_stream_copy(src_path, p)  # before anything is written
    with atomic_output(p) as tmp:
        with _open(src_path) as src, av.open(tmp, "w", format=fmt) as dst:
            if not src.streams.video:
                raise NoVideoStreamError(src_path)
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=int(sample_rate), layout="mono" if data.shape[0] == 1 else "stereo")
            # the whole track is encoded first (compressed, small), then interleaved with the video packets
            audio_packets = list(_audio_packets(aout, data, int(sample_rate)))
            a = 0
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                t = float(packet.dts * vin.time_base)
                while a < len(audio_packets) and audio_packets[a].pts is not None and \
                        float(audio_packets[a].pts * audio_packets[a].time_base) <= t:
                    dst.mux(audio_packets[a])
                    a += 1
                packet.stream = vout
                dst.mux(packet)
            for packet in audio_packets[a:]:
                dst.mux(packet)
    return p


def is_media_path(path: str | os.PathLike, kinds: Sequence[str] = ("video", "audio")) -> bool:
    """True when the extension is a known video/audio extension (cheap filter for folder scans)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    return ("video" in kinds and ext in VIDEO_EXTENSIONS) or ("audio" in kinds and ext in AUDIO_EXTENSIONS)


__all__ += ["MediaError", "resample", "is_media_path", "check_stream_copy"]


# ----------------------------------------------------------------------------------------------------------------
# Emulating FFmpeg command lines (for matching features made by public pipelines)


def lossy_roundtrip(waveform, sample_rate: int, *, codec: str = "aac", bit_rate: int = 98_000,
                    options: dict | None = None) -> np.ndarray:
    """Encode ``[C, N]`` float audio with an FFmpeg encoder and decode it again (same length, same channels): what
    a ``ffmpeg -c:a aac -b:a 98k`` re-encode does to a track. ``options`` are the encoder's private options, e.g.
    ``{"aac_coder": "fast"}``."""
    import io

    av = _import_av()
    audio = _audio_2d(waveform, "waveform")
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as c:
        s = c.add_stream(codec, rate=int(sample_rate), options=dict(options or {}))
        s.bit_rate = int(bit_rate)
        s.layout = layout
        _encode_audio(c, s, audio, int(sample_rate))
    buf.seek(0)
    with av.open(buf, "r") as c:
        out, _ = _decode_audio(c, f"<{codec} round trip>")
    n = audio.shape[1]
    return np.pad(out[:, :n], ((0, 0), (0, max(0, n - out.shape[1])))).astype(np.float32)


def ffmpeg_resample(waveform, sample_rate: int, new_sample_rate: int, *, layout: str = "mono") -> np.ndarray:
    """Float ``[C, N]`` in [-1, 1], rounded to 16-bit PCM as a wav file holds it, -> ``[C', N']`` 16-bit PCM
    (returned as float32), with FFmpeg's own resampler and channel matrix (libswresample defaults): what
    ``ffmpeg -i in.wav -ac 1 -ar 22050 out.wav`` writes."""
    av = _import_av()
    pcm = np.clip(np.round(_audio_2d(waveform, "waveform") * 32768.0), -32768, 32767).astype(np.int16)
    resampler = av.AudioResampler(format="s16", layout=layout, rate=int(new_sample_rate))
    out = []
    for frame in _pcm_frames(pcm, int(sample_rate), "s16"):
        out += resampler.resample(frame)
    out += resampler.resample(None)
    return np.concatenate([_frame_to_float(f) for f in out], axis=1)


__all__ += ["lossy_roundtrip", "ffmpeg_resample"]
