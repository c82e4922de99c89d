"""Video -> sound with SpecVQGAN (Iashin & Rahtu, BMVC 2021): frame features prime a transformer that samples a grid
of codebook indices, the codebook decoder turns the grid into a mel, a vocoder (the release's MelGAN, or any avgen
vocoder for ``specvqgan`` mels) into a waveform.

Any length: the models were trained on one window (53 code columns = 848 mel frames = 9.85 s for the release).
Longer inputs are generated window by window; window k + 1 starts inside window k, and the code columns the two
share are given to the sampler as the prefix of window k + 1 (the release's continuation), so only the new columns
are drawn. Windows are decoded one at a time and their mels cross-faded linearly over the shared columns; the
networks only ever see one window, so their memory follows the window, not the video.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

from .. import vocoders
from ..audio import SPECVQGAN_MEL_PRESET, fit_length, get_preset
from ..bundled import bundled_checkpoint
from ..checkpoints import CheckpointError, from_pretrained, read_pipeline_config, save_pipeline_config, save_pretrained
from ..errors import AvgenError, WeightsNotFoundError
from ..media import iter_video, probe
from ..models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer, grid_to_sequence, sequence_to_grid
from ..utils import require_finite
from .video_to_sound import V2SResult

__all__ = ["SpecVQGANPipeline", "window_starts", "encode_mel_windows", "decode_code_windows"]

RELEASE_FPS = 21.5  # the release's ResNet-50 features (feat_len 215 = 10 s)
RELEASE_BACKBONE = "resnet50"
_RESNET50_SOURCE = ("torchvision: https://download.pytorch.org/models/resnet50-0676ba61.pth (save it locally, "
                    "pass visual_weights=)")
# what config.json may hold besides components; "task" and "data" (the prepare cache's fps, visual backbone and mel
# preset) are what a specvqgan_transformer training run exports
_SETTINGS = ("mel_preset", "fps", "backbone", "vocoder", "source", "task", "data", "condition_on_reference")


def _bar(enabled: bool | None, stage: str, total: int, unit: str):
    """A tqdm bar on stderr for one stage; ``enabled`` None: only when stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"specvqgan {stage}", unit=unit, disable=None if enabled is None else not enabled,
                file=sys.stderr, leave=True, dynamic_ncols=True)


def window_starts(columns: int, window: int, overlap: int) -> list[int]:
    """First code column of each window of ``window`` columns over ``columns``: every window starts ``window -
    overlap`` after the previous one, the last one ends at ``columns`` (it may overlap its predecessor more)."""
    if columns <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, columns - window, step))
    return starts + [columns - window]


def _from_network_range(x: torch.Tensor) -> torch.Tensor:
    """The codebook decoder's ``[-1, 1]`` mel -> the preset's [0, 1] range (the release's ``(spec + 1) / 2``)."""
    return (x + 1) / 2


@torch.no_grad()
def encode_mel_windows(codebook: SpecVQGANCodebook, mel: torch.Tensor, window: int) -> torch.Tensor:
    """A mel ``[B, M, C f]`` in the preset's [0, 1] range -> codes ``[B, M / f, C]`` (LongTensor, CPU), f the
    codebook's downsampling. Up to ``window`` columns in one pass of the encoder (as the release encodes a clip of
    any length); wider mels in windows of ``window`` columns laid end to end, the last one ending at C (it re-reads
    some columns of its predecessor and contributes only the columns after it), so the encoder only ever sees one
    window and its memory follows the window. The network sees ``2 mel - 1``, the range it was trained on."""
    f = codebook.downsample_factor
    if mel.ndim != 3 or mel.shape[-1] % f or mel.shape[-1] == 0:
        raise AvgenError(f"mel must be [B, M, C * {f}] (a whole number of {f}-frame code columns), got "
                         f"{tuple(mel.shape)}")
    dev = next(codebook.parameters()).device
    columns = mel.shape[-1] // f
    if columns <= window:
        return codebook.encode(2 * mel.to(dev) - 1).cpu()
    out = None
    end = 0  # the first column no window has given yet
    for c in window_starts(columns, window, 0):
        piece = codebook.encode(2 * mel[..., c * f:(c + window) * f].to(dev) - 1).cpu()  # [B, H, window]
        if out is None:
            out = torch.zeros(*piece.shape[:2], columns, dtype=torch.long)  # [B, H, C]
        out[..., end:c + window] = piece[..., end - c:]
        end = c + window
    return out


@torch.no_grad()
def decode_code_windows(codebook: SpecVQGANCodebook, codes: torch.Tensor, window: int, overlap: int) -> torch.Tensor:
    """Codes ``[B, H, C]`` -> mel ``[B, H f, C f]`` in the preset's [0, 1] range (the network's ``[-1, 1]`` output
    mapped back by ``(x + 1) / 2``, unclamped as in the release; float32, CPU): up to ``window`` columns in one pass
    of the decoder, wider grids in windows of ``window`` columns, each ``overlap`` columns into its predecessor
    (:func:`window_starts`), their mels cross-faded linearly over the columns two windows share."""
    dev = next(codebook.parameters()).device
    f = codebook.downsample_factor
    columns = codes.shape[2]
    if columns <= window:
        return _from_network_range(codebook.decode(codes.to(dev)).float().cpu())
    starts = window_starts(columns, window, overlap)
    out = torch.zeros(codes.shape[0], codes.shape[1] * f, columns * f)  # [B, 80, C f]
    weight = torch.zeros(columns * f)
    for i, c in enumerate(starts):
        piece = _from_network_range(codebook.decode(codes[:, :, c:c + window].to(dev)).float().cpu())
        ramp = torch.ones(window * f)
        if i > 0:  # fade in over the columns shared with the previous window
            n = (starts[i - 1] + window - c) * f
            ramp[:n] = (torch.arange(n) + 0.5) / n
        if i < len(starts) - 1:  # fade out over those shared with the next one
            n = (c + window - starts[i + 1]) * f
            ramp[-n:] = torch.minimum(ramp[-n:], (torch.arange(n, 0, -1) - 0.5) / n)
        out[..., c * f:(c + window) * f] += piece * ramp
        weight[c * f:(c + window) * f] += ramp
    return out / weight


class SpecVQGANPipeline:
    """A SpecVQGAN codebook and transformer, the vocoder for their mels and the feature backbone their features
    came from. Load with :meth:`from_public` (the release's run folders) or :meth:`from_pretrained` (what
    :meth:`save_pretrained` and ``tools/convert_specvqgan.py`` write).

    - :meth:`encode_mel` (a mel in the preset's [0, 1] range -> codes ``[B, H, W]``) and :meth:`decode_codes`
      (codes of any width -> a [0, 1] mel, window by window); ``codebook.encode/decode`` are the raw network, which
      works on ``2 mel - 1`` as the release trained it (its decoded mels are brought back with ``(x + 1) / 2``);
    - :meth:`sample_codes` (features -> codes, window by window past the trained length);
    - ``vocoder(mel [B, 80, T]) -> waveform [B, T * 256]``;
    - ``pipe(video or features)`` -> :class:`~avgen.pipelines.video_to_sound.V2SResult`;
    - with a transformer trained with ``condition_on_reference`` (:attr:`conditioned`), ``reference=`` (an audio
      path or waveform) primes the sampler with that clip's codes (:meth:`reference_codes`); other folders refuse it.
    """

    def __init__(self, codebook: SpecVQGANCodebook, transformer: SpecVQGANTransformer, *,
                 vocoder: str | os.PathLike | vocoders.Vocoder | None = None, fps: float = RELEASE_FPS,
                 backbone: str = RELEASE_BACKBONE, mel_preset: str = SPECVQGAN_MEL_PRESET,
                 visual_weights: str | os.PathLike | None = None, device=None, source: dict | str | None = None):
        cb, tc = codebook.config, transformer.config
        if cb.n_embed != tc.vocab_size:
            raise CheckpointError(f"the codebook has {cb.n_embed} entries, the transformer's vocab_size is "
                                  f"{tc.vocab_size}")
        frames = tc.code_shape[1] * codebook.downsample_factor
        if cb.resolution != frames:  # the decoder's attention sits by the trained width
            raise CheckpointError(f"the codebook was built for {cb.resolution}-frame mels; the transformer's "
                                  f"{tc.code_shape[1]} code columns are {frames}")
        get_preset(mel_preset)  # a known preset (mels of other band counts fail at the vocoder, in one line)
        if not (math.isfinite(fps) and fps > 0):
            raise AvgenError(f"fps must be a positive number of frames per second, got {fps}")
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.codebook = codebook.eval().requires_grad_(False).to(self.device)
        self.transformer = transformer.eval().requires_grad_(False).to(self.device)
        self.fps, self.backbone, self.mel_preset = float(fps), backbone, mel_preset
        self.visual_weights = None if visual_weights is None else os.fspath(visual_weights)
        self.source = source if isinstance(source, str) else dict(source or {})
        self.training_settings: dict = {}  # a training export's "task" and "data", written back by save_pretrained
        self.class_names: list | None = None  # a class-token variant trained here: its labels, in index order
        self._vocoder_spec = vocoder
        self._vocoder: vocoders.Vocoder | None = vocoder if isinstance(vocoder, vocoders.Vocoder) else None
        if self._vocoder is not None:
            self._check_vocoder(self._vocoder)
        self._encoder = None

    # -- loading / saving ------------------------------------------------------------------------------------
    @classmethod
    def from_public(cls, transformer_run: str | os.PathLike, *, codebook_run: str | os.PathLike | None = None,
                    vocoder: str | os.PathLike | vocoders.Vocoder | None = None,
                    checkpoint: str | os.PathLike | None = None, visual_weights: str | os.PathLike | None = None,
                    device=None) -> "SpecVQGANPipeline":
        """The release's transformer run folder (read safely by :mod:`avgen.specvqgan_release`), with the codebook
        stored in its checkpoint or, with ``codebook_run``, a codebook run's. ``vocoder``: the release's MelGAN
        folder (``best_netG.pt`` + ``args.yml``), an avgen vocoder name or folder, or a Vocoder; None: avgen's
        default (:data:`avgen.vocoders.DEFAULT_VOCODER`). ``checkpoint``: a ``.ckpt`` other than the release's pick."""
        from ..specvqgan_release import load_transformer_run

        rel = load_transformer_run(transformer_run, checkpoint=checkpoint)
        return cls.from_release_run(rel, os.path.basename(os.path.normpath(os.fspath(transformer_run))),
                                    codebook_run=codebook_run, vocoder=vocoder, visual_weights=visual_weights,
                                    device=device)

    @classmethod
    def from_release_run(cls, run, name: str, *, codebook_run: str | os.PathLike | None = None,
                         vocoder: str | os.PathLike | vocoders.Vocoder | None = None,
                         visual_weights: str | os.PathLike | None = None, device=None) -> "SpecVQGANPipeline":
        """:meth:`from_public` on an already read transformer run (:class:`avgen.specvqgan_release.ReleaseRun`
        named ``name``); ``tools/convert_specvqgan.py`` builds its folder through this."""
        from ..specvqgan_release import load_codebook_run

        if run.kind != "transformer":
            raise CheckpointError(f"{run.config}: a {run.kind} run, not a transformer run")
        codebook = run.codebook
        if codebook_run is not None:
            codebook = load_codebook_run(codebook_run).codebook
            if codebook.config.n_embed != run.transformer.config.vocab_size:
                raise CheckpointError(f"{os.fspath(codebook_run)}: a codebook of {codebook.config.n_embed} entries, "
                                      f"the transformer expects {run.transformer.config.vocab_size}")
        source = {"converted_from": name, "checkpoint": os.path.basename(run.checkpoint),
                  "global_step": run.global_step}
        return cls(codebook, run.transformer, vocoder=vocoder, visual_weights=visual_weights, device=device,
                   source=source)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, vocoder: str | os.PathLike | vocoders.Vocoder | None = None,
                        visual_weights: str | os.PathLike | None = None, device=None) -> "SpecVQGANPipeline":
        """A pipeline folder: ``config.json`` naming ``SpecVQGANPipeline`` with ``codebook/``, ``transformer/`` and
        optionally ``vocoder/`` model folders, or a bundled one's name (:data:`avgen.bundled.BUNDLED_CHECKPOINTS`:
        ``specvqgan-foley-small``, ``specvqgan-foley-small-reference``). ``vocoder`` overrides the folder's vocoder."""
        folder = bundled_checkpoint(path)
        if not os.path.isdir(folder):
            raise WeightsNotFoundError("SpecVQGAN", folder, "tools/convert_specvqgan.py RUN OUT (the release's run "
                                                            "folders) or SpecVQGANPipeline.save_pretrained")
        cfg = read_pipeline_config(folder, cls.__name__)
        path_json = os.path.join(folder, "config.json")
        comps = cfg["components"]
        for name in ("codebook", "transformer"):
            if name not in comps:
                raise CheckpointError(f"{path_json}: no {name!r} component")
        unknown = sorted(set(comps) - {"codebook", "transformer", "vocoder"})
        if unknown:
            raise CheckpointError(f"{path_json}: unknown component(s) {', '.join(unknown)}")
        settings = {k: v for k, v in cfg.items() if k not in ("class", "components", "avgen_version")}
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise CheckpointError(f"{path_json}: unknown entries {', '.join(unknown)} (a SpecVQGANPipeline reads "
                                  f"{', '.join(_SETTINGS)})")
        data = settings.get("data") or {}
        visual, mel = (data.get("visual") or {}, data.get("mel") or {}) if isinstance(data, dict) else (None, None)
        if not (isinstance(visual, dict) and isinstance(mel, dict)):
            raise CheckpointError(f"{path_json}: 'data' must be an object with object 'visual' and 'mel' entries")
        # the top-level entries first (converted folders), then the training data's, then the release's values
        fps = settings.get("fps", data.get("fps", RELEASE_FPS))
        backbone = settings.get("backbone", visual.get("backbone", RELEASE_BACKBONE))
        mel_preset = settings.get("mel_preset", mel.get("name", SPECVQGAN_MEL_PRESET))
        if not isinstance(fps, (int, float)) or isinstance(fps, bool):
            raise CheckpointError(f"{path_json}: 'fps' must be a number, got {fps!r}")
        for key, value in (("backbone", backbone), ("mel_preset", mel_preset), ("vocoder", settings.get("vocoder", "")),
                           ("task", settings.get("task", ""))):
            if not isinstance(value, str):
                raise CheckpointError(f"{path_json}: {key!r} must be a string, got {value!r}")
        if not isinstance(settings.get("source", {}), (dict, str)):
            raise CheckpointError(f"{path_json}: 'source' must be an object or a string")
        cond = settings.get("condition_on_reference")
        if cond is not None and not isinstance(cond, bool):
            raise CheckpointError(f"{path_json}: 'condition_on_reference' must be true or false, got {cond!r}")
        codebook = from_pretrained(os.path.join(folder, comps["codebook"]), expected=SpecVQGANCodebook)
        transformer = from_pretrained(os.path.join(folder, comps["transformer"]), expected=SpecVQGANTransformer)
        if cond is not None and cond != transformer.config.condition_on_reference:
            raise CheckpointError(f"{path_json}: 'condition_on_reference' is {str(cond).lower()}, its transformer's "
                                  f"config says {str(transformer.config.condition_on_reference).lower()}")
        if vocoder is None:
            vocoder = os.path.join(folder, comps["vocoder"]) if "vocoder" in comps else settings.get("vocoder")
        try:
            pipe = cls(codebook, transformer, vocoder=vocoder, fps=float(fps), backbone=backbone,
                       mel_preset=mel_preset, visual_weights=visual_weights, device=device,
                       source=settings.get("source"))
        except (AvgenError, ValueError) as e:  # the parts do not fit together, or an unknown preset / bad fps
            raise CheckpointError(f"{path_json}: {e}") from None
        pipe.training_settings = {k: settings[k] for k in ("task", "data") if k in settings}
        classes = data.get("classes") if isinstance(data, dict) else None
        # the class-token variants trained here: label names in class-index order (class_id = position)
        pipe.class_names = list(classes) if isinstance(classes, list) else None
        return pipe

    def save_pretrained(self, path: str | os.PathLike, *, fp16: bool = False) -> str:
        """``path/config.json`` (class, components, fps, backbone, mel preset, source) with ``codebook/`` and
        ``transformer/`` model folders, and ``vocoder/`` when the vocoder is a generator of its own (a MelGAN or a
        trained HiFi-GAN); a named vocoder (``griffin-lim``, ``specvqgan-bridge``) is stored by name."""
        folder = os.fspath(path)
        dtype = torch.float16 if fp16 else None
        os.makedirs(folder, exist_ok=True)
        save_pretrained(self.codebook, os.path.join(folder, "codebook"), dtype=dtype)
        save_pretrained(self.transformer, os.path.join(folder, "transformer"), dtype=dtype)
        components = {"codebook": "codebook", "transformer": "transformer"}
        # condition_on_reference: what `avgen v2s --reference` routing reads without loading the transformer
        settings: dict = {"mel_preset": self.mel_preset, "fps": self.fps, "backbone": self.backbone,
                          "condition_on_reference": self.conditioned}
        spec = self._vocoder_spec
        name = spec.name if isinstance(spec, vocoders.Vocoder) else (None if spec is None else os.fspath(spec))
        if name in vocoders.VOCODERS:
            settings["vocoder"] = name
        elif spec is not None:  # a folder or a generator vocoder: its network becomes a component
            net = getattr(self.vocoder, "net", None)
            if net is None:
                raise AvgenError(f"vocoder {self.vocoder.name}: not a named vocoder and has no network to save")
            save_pretrained(net, os.path.join(folder, "vocoder"), dtype=dtype)
            components["vocoder"] = "vocoder"
        if self.source:
            settings["source"] = self.source
        settings.update(self.training_settings)
        save_pipeline_config(folder, type(self).__name__, components, settings)
        return folder

    def to(self, target) -> "SpecVQGANPipeline":
        """A device (everything moves) or a floating dtype (codebook and transformer; the vocoder interface renders
        in float32)."""
        if isinstance(target, torch.dtype):
            if not target.is_floating_point:
                raise AvgenError(f"dtype must be floating point, got {target}")
            self.codebook.to(target)
            self.transformer.to(target)
            return self
        self.device = torch.device(target)
        self.codebook.to(self.device)
        self.transformer.to(self.device)
        if self._vocoder is not None:
            self._vocoder.to(self.device)
        if self._encoder is not None:
            self._encoder = None  # rebuilt on the new device when next needed
        return self

    # -- parts -----------------------------------------------------------------------------------------------
    def _check_vocoder(self, voc: vocoders.Vocoder) -> None:
        if voc.mel_preset != self.mel_preset:
            raise AvgenError(f"vocoder {voc.name} takes '{voc.mel_preset}' mels; SpecVQGAN makes '{self.mel_preset}' "
                             "mels")

    @property
    def vocoder(self) -> vocoders.Vocoder:
        """The vocoder, loaded on first use (a converted folder need not load a default it never runs)."""
        if self._vocoder is None:
            voc = vocoders.load(self._vocoder_spec, device=self.device)
            self._check_vocoder(voc)
            self._vocoder = voc
        return self._vocoder

    @property
    def conditioned(self) -> bool:
        """Whether the transformer is primed with a reference clip's codes (``condition_on_reference``)."""
        return bool(self.transformer.config.condition_on_reference)

    @torch.no_grad()
    def reference_codes(self, reference, *, sample_rate: int | None = None) -> torch.Tensor:
        """The codes ``[1, H, R]`` that prime a conditioned transformer, R = its ``reference_columns``: of an audio
        path (or a video's audio track) or a waveform ``[N]`` / ``[C, N]`` at ``sample_rate`` (default the preset's
        rate); an integer tensor ``[B, H, R]`` is taken as codes. The mel's centre R x f frames are encoded, as
        training cut a window of the clip; a shorter reference is repeated to fill them (its timbre, not silence)."""
        from ..audio import mel_spectrogram, resample

        t = self.transformer
        if not self.conditioned:
            raise AvgenError("reference=: this SpecVQGAN model was trained without condition_on_reference (see its "
                             "config.json); it takes no reference clip")
        h = self.code_shape[0]
        cols = t.reference_length // h
        if torch.is_tensor(reference) and not reference.is_floating_point():
            if reference.ndim != 3 or tuple(reference.shape[1:]) != (h, cols):
                raise AvgenError(f"reference codes must be [B, {h}, {cols}], got {tuple(reference.shape)}")
            return reference.long().cpu()
        p = get_preset(self.mel_preset)
        if isinstance(reference, (str, os.PathLike)):
            from ..media import read_audio

            path = os.fspath(reference)
            if not os.path.isfile(path):
                raise AvgenError(f"reference {path}: no such file")
            if not probe(path).has_audio:
                raise AvgenError(f"reference {path}: no audio stream")
            wav = torch.from_numpy(read_audio(path, sample_rate=p.sample_rate)[0]).mean(0)  # [N]
        else:
            wav = torch.as_tensor(np.asarray(reference.detach().cpu() if torch.is_tensor(reference) else reference),
                                  dtype=torch.float32)
            if wav.ndim == 2:
                wav = wav.mean(0)
            if wav.ndim != 1 or wav.numel() == 0:
                raise AvgenError(f"reference waveform must be a non-empty [N] or [C, N], got {tuple(wav.shape)}")
            require_finite(wav, "reference waveform")
            if sample_rate is not None and int(sample_rate) != p.sample_rate:
                wav = resample(wav[None], int(sample_rate), p.sample_rate)[0]
        mel = mel_spectrogram(wav, p)  # [M, T]
        frames = cols * self.codebook.downsample_factor
        if mel.shape[-1] < frames:  # a short reference: repeated
            mel = mel.repeat(1, math.ceil(frames / mel.shape[-1]))
        start = (mel.shape[-1] - frames) // 2
        return encode_mel_windows(self.codebook, mel[None, :, start:start + frames], self.code_shape[1])

    def _reference_sequence(self, reference, sample_rate, batch: int) -> torch.Tensor | None:
        """The reference codes in sequence order ``[B, R H]`` (one reference for the whole batch when it is one), or
        None for an unconditioned model; the one-line refusals come from :meth:`reference_codes`."""
        if reference is None:
            if self.conditioned:
                raise AvgenError("reference=: this SpecVQGAN model is conditioned on a reference clip "
                                 "(condition_on_reference); pass an audio path or waveform")
            return None
        codes = self.reference_codes(reference, sample_rate=sample_rate)
        if codes.shape[0] not in (1, batch):
            raise AvgenError(f"reference codes for {codes.shape[0]} clips, features for {batch}")
        return grid_to_sequence(codes.expand(batch, -1, -1))

    @property
    def code_shape(self) -> tuple[int, int]:
        """(H, W) of one window's code grid."""
        h, w = self.transformer.config.code_shape
        return int(h), int(w)

    @property
    def column_seconds(self) -> float:
        """Seconds of audio one code column stands for (16 mel frames x hop 256 / 22050 Hz for the release)."""
        p = get_preset(self.mel_preset)
        return self.codebook.downsample_factor * p.hop_length / p.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.code_shape[1] * self.column_seconds

    def columns_for(self, duration: float) -> int:
        """Code columns that cover ``duration`` seconds of audio."""
        p = get_preset(self.mel_preset)
        mel_frames = math.ceil(round(duration * p.sample_rate) / p.hop_length)
        return max(1, math.ceil(mel_frames / self.codebook.downsample_factor))

    def _overlap_columns(self, overlap_seconds: float | None) -> int:
        w = self.code_shape[1]
        if overlap_seconds is None:
            return w // 2
        if not (math.isfinite(overlap_seconds) and overlap_seconds >= 0):
            raise AvgenError(f"overlap_seconds must be a finite number >= 0, got {overlap_seconds}")
        o = round(overlap_seconds / self.column_seconds)
        if o >= w:
            raise AvgenError(f"overlap_seconds {overlap_seconds} is {o} code columns; a window has {w} "
                             f"({self.window_seconds:.2f} s)")
        return o

    # -- codes -----------------------------------------------------------------------------------------------
    def _classes(self, classes, features: torch.Tensor | None) -> torch.Tensor | None:
        """``classes`` checked against the transformer's variant -> LongTensor ``[B]`` (None without a class
        token); one line for a missing, unexpected or out-of-range class."""
        t = self.transformer
        if not t.uses_class:
            if classes is not None:
                raise AvgenError(f"classes: this transformer (condition {t.config.condition}) takes no class")
            return None
        if classes is None:
            raise AvgenError(f"classes: this transformer (condition {t.config.condition}) is primed with a class "
                             f"token; give one index in [0, {t.config.num_classes}) per clip")
        cls = torch.as_tensor(classes).reshape(-1)
        if cls.is_floating_point() or cls.dtype == torch.bool or \
                bool(((cls < 0) | (cls >= t.config.num_classes)).any()):
            raise AvgenError(f"classes: indices in [0, {t.config.num_classes}), got {cls.tolist()}")
        b = features.shape[0] if features is not None and features.ndim == 3 else 1
        if cls.numel() == 1 and b > 1:
            cls = cls.expand(b)
        if cls.numel() != b:
            raise AvgenError(f"classes: {cls.numel()} for {b} clip(s)")
        return cls.long()

    @torch.no_grad()
    def sample_codes(self, features: torch.Tensor | None, *, top_k: int | None = None, temperature: float = 1.0,
                     generator: torch.Generator | None = None, overlap_seconds: float | None = None,
                     duration: float | None = None, progress: bool | None = False, reference=None,
                     reference_sample_rate: int | None = None, classes=None) -> torch.Tensor:
        """Features ``[B, T_f, D]`` at :attr:`fps` (the backbone's, ``[T_f, D]`` is one clip) -> codes ``[B, H, C]``
        (LongTensor on CPU): C = W, the trained grid, up to the trained length (features are zero-padded as the
        release's datasets do); past it, C covers the features' duration, sampled window by window with the
        ``overlap_seconds`` (default half a window) of codes the windows share as each new window's prefix.
        ``duration``: the seconds of audio to cover (default ``T_f / fps``). KV-cached sampling with temperature
        and top-k (``top_k=1``: greedy) from ``generator``. ``reference``: for a model trained with
        ``condition_on_reference``, the clip whose codes prime every window (:meth:`reference_codes`); refused in
        one line by a model without it. ``classes``: one class index per clip (an int, or ``[B]``), for the
        release's class-token variants (``condition`` ``class`` / ``features_class``); the ``class`` variant takes
        no features (pass None and ``duration``)."""
        t = self.transformer
        cls = self._classes(classes, None if features is None else torch.as_tensor(features))
        if features is None:
            if t.uses_features:
                raise AvgenError("features: this transformer is primed with feature frames; pass them")
            if duration is None:
                raise AvgenError("duration: the class-only transformer takes no features; give the seconds to cover")
            feats, b = None, cls.shape[0]
        else:
            if not t.uses_features:
                raise AvgenError("features: this transformer (condition class) takes none; pass classes= and "
                                 "duration=")
            feats = torch.as_tensor(features)
            if feats.ndim == 2:
                feats = feats[None]
            if feats.ndim != 3 or feats.shape[-1] != t.config.feat_dim or feats.shape[1] == 0 or \
                    not feats.is_floating_point():
                raise AvgenError(f"features must be float [B, T, {t.config.feat_dim}] at {self.fps:g} fps, got "
                                 f"{feats.dtype} {tuple(feats.shape)}")
            if not bool(torch.isfinite(feats).all()):
                raise AvgenError("features hold NaN or infinite values")
            b = feats.shape[0]
        if generator is not None and generator.device.type != self.device.type:
            raise AvgenError(f"generator is on {generator.device.type}, the pipeline on {self.device.type}: pass "
                             f"torch.Generator(device='{self.device.type}')")
        h, w = self.code_shape
        if duration is not None and not (math.isfinite(duration) and duration > 0):
            raise AvgenError(f"duration must be a positive number of seconds, got {duration}")
        columns = max(w, self.columns_for(duration if duration is not None else feats.shape[1] / self.fps))
        overlap = self._overlap_columns(overlap_seconds)
        ref = self._reference_sequence(reference, reference_sample_rate, b)  # [B, R H] or None
        starts = window_starts(columns, w, overlap)
        p = next(t.parameters())
        codes = torch.zeros(b, h, columns, dtype=torch.long)  # [B, H, C]
        end = 0  # the first column not sampled yet
        bar = _bar(progress, "sampling", len(starts), "window")
        for c in starts:
            first = round(c * self.column_seconds * self.fps)  # the feature frame at the window's start
            cond = t.condition_frames(feats[:, first:first + t.config.feat_len].to(p.device, p.dtype)) \
                if feats is not None else None
            prefix = grid_to_sequence(codes[:, :, c:end]).to(p.device) if end > c else None  # [B, (end - c) H]
            seq = t.sample(cond, prefix=prefix, temperature=temperature, top_k=top_k, generator=generator,
                           reference=None if ref is None else ref.to(p.device),
                           classes=None if cls is None else cls.to(p.device))
            codes[:, :, c:c + w] = sequence_to_grid(seq, h).cpu()
            end = c + w
            bar.update(1)
        bar.close()
        return codes

    @torch.no_grad()
    def encode_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """A mel ``[B, 80, C f]`` in the preset's [0, 1] range -> codes ``[B, H, C]`` (the network sees ``2 mel -
        1``, the range the release's codebooks were trained on); past W columns window by window
        (:func:`encode_mel_windows`)."""
        return encode_mel_windows(self.codebook, mel, self.code_shape[1])

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor, *, overlap_seconds: float | None = None) -> torch.Tensor:
        """Codes ``[B, H, C]`` -> mel ``[B, 80, C f]`` in the preset's [0, 1] range (:func:`decode_code_windows`):
        up to W columns in one pass of the codebook decoder, wider grids window by window (the windows of
        :meth:`sample_codes`) with the mels cross-faded linearly over the columns two windows share."""
        if codes.ndim != 3 or codes.shape[1] != self.code_shape[0]:
            raise AvgenError(f"codes must be [B, {self.code_shape[0]}, C], got {tuple(codes.shape)}")
        return decode_code_windows(self.codebook, codes, self.code_shape[1], self._overlap_columns(overlap_seconds))

    # -- inputs ------------------------------------------------------------------------------------------------
    @property
    def encoder(self):
        """The feature backbone the transformer was trained on (built on first use from :attr:`visual_weights`)."""
        if self._encoder is None:
            from ..encoders import VisualEncoder

            if self.backbone == "resnet50" and (self.visual_weights is None or not os.path.isfile(self.visual_weights)):
                raise WeightsNotFoundError("ResNet-50 (ImageNet) feature-backbone", self.visual_weights,
                                           _RESNET50_SOURCE)
            enc = VisualEncoder(self.backbone, weights=self.visual_weights, device=self.device, precision="fp32")
            if enc.feature_dim != self.transformer.config.feat_dim:
                raise AvgenError(f"backbone {self.backbone} gives {enc.feature_dim}-d features, the transformer takes "
                                 f"{self.transformer.config.feat_dim}")
            self._encoder = enc
        return self._encoder

    @torch.no_grad()
    def video_features(self, video, *, video_fps: float | None = None, batch_size: int = 32,
                       progress: bool | None = False) -> tuple[torch.Tensor, float]:
        """(features ``[T, D]`` at :attr:`fps`, duration in seconds) of a video path or uint8 frames ``[T, H, W, 3]``
        at ``video_fps``; frames are decoded at :attr:`fps` and go to the backbone ``batch_size`` at a time (memory:
        one batch of frames)."""
        encoder = self.encoder  # the missing-weights error comes before any decoding
        is_path = isinstance(video, (str, os.PathLike))
        if is_path:
            info = probe(video)
            if not info.has_video:
                raise AvgenError(f"{os.fspath(video)}: no video stream")
            duration = float(info.video_duration)
            frames = iter_video(video, fps=self.fps)
        else:
            array = np.asarray(video)
            src = float(video_fps or self.fps)
            duration = len(array) / src
            n = max(1, math.floor(duration * self.fps + 1e-6))
            idx = np.clip(np.round(np.arange(n) / self.fps * src).astype(int), 0, len(array) - 1)  # nearest frame
            frames = (array[i] for i in idx)
        expected = max(1, math.floor(duration * self.fps + 1e-6))
        out, batch = [], []
        with _bar(progress, "features", expected, "frame") as bar:
            for frame in frames:
                batch.append(frame)
                if len(batch) == batch_size:
                    out.append(encoder.encode(np.stack(batch), batch_size=batch_size))  # [b, D]
                    bar.update(len(batch))
                    batch = []
            if batch:
                out.append(encoder.encode(np.stack(batch), batch_size=batch_size))
                bar.update(len(batch))
        if not out:
            raise AvgenError(f"{video if is_path else 'video frames'}: no frames decoded")
        return torch.cat(out), duration

    # -- generation ----------------------------------------------------------------------------------------------
    def __call__(self, video, *, video_fps: float | None = None, top_k: int | None = None, temperature: float = 1.0,
                 generator: torch.Generator | None = None, seed: int | None = None,
                 overlap_seconds: float | None = None, progress: bool | None = False, reference=None,
                 reference_sample_rate: int | None = None, class_id: int | None = None) -> V2SResult:
        """A sound track for ``video``: a path, uint8 frames ``[T, H, W, 3]`` at ``video_fps``, or precomputed
        features ``[T, D]`` / ``[1, T, D]`` at :attr:`fps`. ``generator`` or ``seed`` (default seed 0) makes it
        reproducible. The result's ``waveform [1, N]`` and ``mel [80, M]`` cover the input's duration
        (``.save("out.wav")``, or ``.save("out.mp4")`` onto the input video). ``reference``: the timbre clip of a
        model trained with ``condition_on_reference`` (an audio path or a waveform at ``reference_sample_rate``),
        refused in one line by one without it; its codes are computed before the video is read. ``class_id``: the
        class of the release's class-token variants (``condition`` ``class`` / ``features_class``); the class-only
        one reads only the video's duration, not its frames."""
        if generator is not None and seed is not None:
            raise AvgenError("pass generator= or seed=, not both")
        self._classes(class_id, None)  # a missing or unexpected class: refused before any work
        ref_codes = self.reference_codes(reference, sample_rate=reference_sample_rate) if reference is not None \
            else self._reference_sequence(None, None, 1)  # either refusal before any work
        if video_fps is not None and not (math.isfinite(video_fps) and video_fps > 0):
            raise AvgenError(f"video_fps must be a positive number of frames per second, got {video_fps}")
        is_path = isinstance(video, (str, os.PathLike))
        frames = None
        if is_path and not self.transformer.uses_features:  # the class-only variant: the duration alone
            info = probe(video)
            if not info.has_video:
                raise AvgenError(f"{os.fspath(video)}: no video stream")
            feats, duration = None, float(info.video_duration)
        elif is_path:
            feats, duration = self.video_features(video, progress=progress)
        elif not self.transformer.uses_features:
            raise AvgenError("video: the class-only transformer (condition class) reads a video path's duration; "
                             "for frames or features call sample_codes(None, classes=..., duration=...)")
        else:
            array = np.asarray(video.detach().cpu() if torch.is_tensor(video) else video)
            if array.dtype == np.uint8:
                frames = array
                if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) == 0:
                    raise AvgenError(f"video frames must be non-empty uint8 [T, H, W, 3], got {frames.shape}")
                feats, duration = self.video_features(frames, video_fps=video_fps, progress=progress)
            else:
                feats = torch.as_tensor(array, dtype=torch.float32)
                if feats.ndim == 3 and feats.shape[0] == 1:
                    feats = feats[0]
                if feats.ndim != 2:
                    raise AvgenError(f"features must be [T, D] or [1, T, D] at {self.fps:g} fps, got "
                                     f"{tuple(feats.shape)}")
                require_finite(feats, "features", unit="frame")
                duration = feats.shape[0] / self.fps
        if generator is None:
            generator = torch.Generator(device=self.device).manual_seed(seed if seed is not None else 0)
        codes = self.sample_codes(None if feats is None else feats[None], top_k=top_k, temperature=temperature,
                                  generator=generator, overlap_seconds=overlap_seconds, duration=duration,
                                  progress=progress, reference=ref_codes, classes=class_id)
        p = get_preset(self.mel_preset)
        num_samples = max(1, round(duration * p.sample_rate))
        mel_frames = math.ceil(num_samples / p.hop_length)
        mel = self.decode_codes(codes, overlap_seconds=overlap_seconds)[0, :, :mel_frames]  # [80, M]
        wav = fit_length(self.vocoder(mel[None], generator=generator).float(), num_samples).clamp(-1, 1)  # [1, N]
        return V2SResult(waveform=wav, sample_rate=p.sample_rate, mel=mel, duration=duration,
                         video_path=os.fspath(video) if is_path else None, frames=frames,
                         frames_fps=None if frames is None else float(video_fps or self.fps))
