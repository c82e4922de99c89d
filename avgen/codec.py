"""SpecVQGAN's codebook as a neural audio codec (the release's "neural audio codec" demo): audio -> mel -> a grid
of codebook indices stored in a small file, and back through the codebook decoder and a vocoder.

- :func:`encode` ``(audio path or waveform, codebook folder) -> CodesFile``; :meth:`CodesFile.save` writes it;
- :func:`decode` ``(codes file, codebook folder) -> DecodedAudio`` (``.waveform``, ``.mel``, ``.save("out.wav")``);
- ``avgen codec encode IN -o CODES --checkpoint FOLDER`` and ``avgen codec decode CODES -o OUT.wav``
  (:mod:`avgen.codec_cli`), each printing the bitrate.

**Bitrate**: ``bits = H * C * log2(n_embed)`` for the ``H x C`` code grid, over the input's duration in seconds.
The release's VGGSound codebook (``n_embed`` 1024, so 10 bits a code) turns one 848-frame window (848 x 256 / 22050
= 9.845 s) into 5 x 53 = 265 codes: 2650 bits / 9.845 s = 269.2 bit/s = 0.269 kbit/s (docs/specvqgan.md, "Neural
audio codec", compares this with the release's own figure).

**Any length**: the mel is padded with silence (0 on the [0, 1] scale) to a whole number of ``f``-frame code
columns (f = 16); up to one trained window (``resolution / f`` columns) is encoded in one pass, longer audio window
by window (:func:`avgen.pipelines.specvqgan.encode_mel_windows`); decoding runs the decoder on half-overlapping
windows of the stored grid, cross-faded (:func:`avgen.pipelines.specvqgan.decode_code_windows`). The networks'
memory follows one window; the waveform and its mel (about 99 MB per hour) are held whole.

**Codes file**: safetensors (no pickle): one int16/int32 tensor ``codes [H, C]`` and string metadata: the format,
the codebook's identity (:func:`codebook_digest`, a SHA-256 over its config and weights), ``n_embed``, the mel
preset, its sample rate, the duration and the codebook folder it was made with. :func:`decode` refuses a file made
with another codebook in one line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from .errors import AvgenError

__all__ = ["CodesFile", "DecodedAudio", "CodecModel", "load_codec_model", "codebook_digest", "bits_per_code",
           "encode", "decode", "FORMAT"]

FORMAT = "avgen-specvqgan-codes/1"
_OVERLAP_DIVISOR = 2  # decode windows overlap by half a window, as SpecVQGANPipeline's


def bits_per_code(n_embed: int) -> float:
    """``log2(n_embed)``: the information in one index (10 for the VGGSound codebook, 7 for VAS)."""
    return math.log2(n_embed)


# -- the codebook a folder holds ---------------------------------------------------------------------------------

@dataclass
class CodecModel:
    """A codebook with what encoding and decoding need around it."""

    codebook: object  # SpecVQGANCodebook
    folder: str
    mel_preset: str
    digest: str
    vocoder: str | None = None  # the folder's own vocoder (a pipeline folder's component or setting), if any

    @property
    def window_columns(self) -> int:
        """Code columns of one trained window (53 for the release: 848 frames / 16)."""
        return self.codebook.config.resolution // self.codebook.downsample_factor


def codebook_digest(codebook) -> str:
    """SHA-256 (hex) over the codebook's config and every tensor of its state dict (name, dtype, shape, bytes): two
    folders get the same identity exactly when they decode codes the same way (a config alone does not say which
    weights a codebook was trained to)."""
    from .typed_config import to_dict

    h = hashlib.sha256()
    h.update(json.dumps(to_dict(codebook.config), sort_keys=True).encode())
    for name, t in sorted(codebook.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_codec_model(folder: str | os.PathLike, *, device=None) -> CodecModel:
    """The codebook of ``folder``: a SpecVQGANPipeline folder (its ``codebook/`` component; its mel preset and
    vocoder), a SpecVQGANCodebook model folder (a ``specvqgan_codebook`` run's ``final/``; ``specvqgan`` mels), or
    the release's codebook run folder (``configs/`` + ``checkpoints/``). One line naming the folder otherwise."""
    from .audio import SPECVQGAN_MEL_PRESET, get_preset
    from .checkpoints import CheckpointError, from_pretrained, read_config, read_pipeline_config
    from .models.v2s.specvqgan import SpecVQGANCodebook

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise AvgenError(f"--checkpoint {folder}: no such folder (a SpecVQGAN pipeline or codebook folder)")
    mel_preset, vocoder = SPECVQGAN_MEL_PRESET, None
    if os.path.isdir(os.path.join(folder, "configs")) and os.path.isdir(os.path.join(folder, "checkpoints")):
        from .specvqgan_release import load_codebook_run

        codebook = load_codebook_run(folder).codebook
    else:
        cfg = read_config(folder)
        if cfg.get("class") == "SpecVQGANPipeline":
            cfg = read_pipeline_config(folder, "SpecVQGANPipeline")
            comps = cfg["components"]
            if "codebook" not in comps:
                raise CheckpointError(f"{os.path.join(folder, 'config.json')}: no 'codebook' component")
            codebook = from_pretrained(os.path.join(folder, comps["codebook"]), expected=SpecVQGANCodebook)
            data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
            mel = data.get("mel") if isinstance(data.get("mel"), dict) else {}
            mel_preset = cfg.get("mel_preset", mel.get("name", SPECVQGAN_MEL_PRESET))
            if "vocoder" in comps:
                vocoder = os.path.join(folder, comps["vocoder"])
            elif isinstance(cfg.get("vocoder"), str):
                vocoder = cfg["vocoder"]
        else:
            codebook = from_pretrained(folder, expected=SpecVQGANCodebook)
            mel_preset = cfg.get("mel_preset", SPECVQGAN_MEL_PRESET)
    path = os.path.join(folder, "config.json")
    try:
        p = get_preset(mel_preset)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    f = codebook.downsample_factor
    if p.n_mels % f or codebook.config.resolution % f:
        raise CheckpointError(f"{folder}: a codebook that downsamples by {f} cannot code {p.n_mels}-band mels of "
                              f"{codebook.config.resolution}-frame windows")
    codebook = codebook.eval().requires_grad_(False)
    digest = codebook_digest(codebook)
    if device is not None:
        codebook = codebook.to(device)
    return CodecModel(codebook, folder, p.name, digest, vocoder)


# -- the codes file --------------------------------------------------------------------------------------------

@dataclass
class CodesFile:
    """Codes ``[H, C]`` (LongTensor) of ``duration`` seconds of audio, with the codebook identity they need."""

    codes: torch.Tensor
    codebook_digest: str
    n_embed: int
    mel_preset: str
    sample_rate: int
    duration: float
    codebook_folder: str = ""  # where the codebook was at encode time (a hint for decode; the digest decides)

    @property
    def code_count(self) -> int:
        return int(self.codes.numel())

    @property
    def bits(self) -> float:
        """``code count x log2(n_embed)``."""
        return self.code_count * bits_per_code(self.n_embed)

    @property
    def bitrate(self) -> float:
        """Bits per second of audio."""
        return self.bits / self.duration

    def summary(self) -> str:
        h, c = self.codes.shape
        return (f"{h} x {c} codes = {self.code_count} x log2({self.n_embed}) = {self.bits:.0f} bits over "
                f"{self.duration:.3f} s: {self.bitrate / 1000:.3f} kbit/s")

    def save(self, path: str | os.PathLike) -> str:
        """Write the file (safetensors, atomically)."""
        from .utils import save_safetensors

        dtype = torch.int16 if self.n_embed <= 2 ** 15 else torch.int32
        meta = {"format": FORMAT, "codebook_digest": self.codebook_digest, "n_embed": str(self.n_embed),
                "mel_preset": self.mel_preset, "sample_rate": str(self.sample_rate), "duration": repr(self.duration),
                "codebook_folder": self.codebook_folder}
        return save_safetensors({"codes": self.codes.to(dtype)}, path, metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CodesFile":
        """Read a codes file; one line naming it for anything that is not one."""
        from safetensors import SafetensorError, safe_open

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise AvgenError(f"{path}: codes file not found")
        try:
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
                names = list(f.keys())
                codes = f.get_tensor("codes") if names == ["codes"] else None
        except (SafetensorError, OSError, ValueError) as e:
            raise AvgenError(f"{path}: not a codes file (not safetensors: {str(e).splitlines()[0][:120]})") from None
        if meta.get("format") != FORMAT or codes is None:
            raise AvgenError(f"{path}: not a codes file of 'avgen codec encode' (format {meta.get('format')!r})")
        try:
            n_embed, sr, duration = int(meta["n_embed"]), int(meta["sample_rate"]), float(meta["duration"])
            digest, preset = meta["codebook_digest"], meta["mel_preset"]
        except (KeyError, ValueError) as e:
            raise AvgenError(f"{path}: codes file with missing or bad metadata ({e})") from None
        if codes.ndim != 2 or codes.dtype not in (torch.int16, torch.int32, torch.int64) or codes.numel() == 0:
            raise AvgenError(f"{path}: 'codes' must be a non-empty integer grid [H, C], got {codes.dtype} "
                             f"{tuple(codes.shape)}")
        codes = codes.long()
        if int(codes.min()) < 0 or int(codes.max()) >= n_embed:
            raise AvgenError(f"{path}: codes outside [0, {n_embed})")
        if not (math.isfinite(duration) and duration > 0) or sr <= 0:
            raise AvgenError(f"{path}: bad duration {duration} or sample rate {sr}")
        return cls(codes, digest, n_embed, preset, sr, duration, meta.get("codebook_folder", ""))


# -- encode / decode -------------------------------------------------------------------------------------------

def _waveform(audio, sample_rate: int | None, target_rate: int) -> torch.Tensor:
    """Mono float ``[N]`` at ``target_rate`` from a path or an array ``[N]`` / ``[C, N]`` at ``sample_rate``."""
    from .audio import resample
    from .utils import require_finite

    if isinstance(audio, (str, os.PathLike)):
        from .media import probe, read_audio

        path = os.fspath(audio)
        if not os.path.isfile(path):
            raise AvgenError(f"{path}: no such audio file")
        if not probe(path).has_audio:
            raise AvgenError(f"{path}: no audio stream")
        if sample_rate is not None:
            raise AvgenError("sample_rate= is for a waveform; a file says its own rate")
        wav, _ = read_audio(path, sample_rate=target_rate)
        x = torch.from_numpy(np.ascontiguousarray(wav)).float().mean(0)
    else:
        if sample_rate is None or not sample_rate > 0:
            raise AvgenError("a waveform needs sample_rate= (its rate in Hz)")
        x = torch.as_tensor(np.asarray(audio.detach().cpu() if torch.is_tensor(audio) else audio)).float()
        if x.ndim == 2:
            x = x.mean(0)
        if x.ndim != 1:
            raise AvgenError(f"a waveform must be [N] or [C, N], got {tuple(x.shape)}")
        require_finite(x, "waveform")
        if int(sample_rate) != target_rate:
            x = torch.as_tensor(resample(x[None], int(sample_rate), target_rate))[0]
    if x.numel() == 0:
        raise AvgenError(f"{os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else 'waveform'}: no samples")
    return x


@torch.no_grad()
def encode(audio, codebook_folder: str | os.PathLike | CodecModel, *, sample_rate: int | None = None,
           device=None) -> CodesFile:
    """``audio`` (a file path, or a waveform ``[N]``/``[C, N]`` at ``sample_rate``) -> its :class:`CodesFile`
    under the codebook of ``codebook_folder`` (see :func:`load_codec_model`; a loaded :class:`CodecModel` also
    works)."""
    from .audio import get_preset, mel_spectrogram
    from .pipelines.specvqgan import encode_mel_windows

    model = codebook_folder if isinstance(codebook_folder, CodecModel) else load_codec_model(codebook_folder,
                                                                                             device=device)
    p = get_preset(model.mel_preset)
    x = _waveform(audio, sample_rate, p.sample_rate)  # [N]
    duration = x.numel() / p.sample_rate
    mel = mel_spectrogram(x, p)  # [M, T], T = 1 + N // hop
    f = model.codebook.downsample_factor
    columns = math.ceil(mel.shape[-1] / f)
    mel = torch.nn.functional.pad(mel, (0, columns * f - mel.shape[-1]))  # silence up to a whole column
    codes = encode_mel_windows(model.codebook, mel[None], model.window_columns)[0]  # [H, C]
    return CodesFile(codes, model.digest, int(model.codebook.config.n_embed), p.name, p.sample_rate, duration,
                     os.path.abspath(model.folder))


@dataclass
class DecodedAudio:
    waveform: torch.Tensor  # [1, N] float32 in [-1, 1]
    mel: torch.Tensor  # [M, T] on the preset's scale
    sample_rate: int
    duration: float
    vocoder: str

    def save(self, path: str | os.PathLike) -> str:
        from .media import write_audio

        return write_audio(path, self.waveform.numpy(), self.sample_rate)


def _check_match(codes: CodesFile, model: CodecModel, where: str) -> None:
    if codes.codebook_digest != model.digest:
        made = f" ({codes.codebook_folder})" if codes.codebook_folder else ""
        raise AvgenError(f"{where}: made with codebook {codes.codebook_digest[:12]}{made}, not with "
                         f"{model.folder}'s codebook {model.digest[:12]}; decode with the codebook that encoded it")
    h = _rows(model)
    if codes.codes.shape[0] != h or codes.mel_preset != model.mel_preset:
        raise AvgenError(f"{where}: {codes.codes.shape[0]}-row '{codes.mel_preset}' codes; {model.folder} makes "
                         f"{h}-row '{model.mel_preset}' codes")


def _rows(model: CodecModel) -> int:
    """Code rows of the model's mels (80 bands / 16 = 5)."""
    from .audio import get_preset

    return get_preset(model.mel_preset).n_mels // model.codebook.downsample_factor


def _vocoder(spec, model: CodecModel, device):
    from . import vocoders

    voc = spec if isinstance(spec, vocoders.Vocoder) else vocoders.load(spec if spec is not None else model.vocoder,
                                                                        device=device)
    if voc.mel_preset != model.mel_preset:
        raise AvgenError(f"--vocoder {voc.name}: takes '{voc.mel_preset}' mels, the codes are '{model.mel_preset}'")
    return voc


@torch.no_grad()
def decode(codes: CodesFile | str | os.PathLike, codebook_folder: str | os.PathLike | CodecModel | None = None, *,
           vocoder=None, device=None, seed: int = 0) -> DecodedAudio:
    """A codes file (path or :class:`CodesFile`) -> audio of its duration. ``codebook_folder`` None: the folder the
    file was encoded with. ``vocoder``: a name or folder (:func:`avgen.vocoders.load`) or a Vocoder; None: the
    codebook folder's own vocoder, else avgen's default. A file made with another codebook is refused."""
    from .audio import fit_length, get_preset
    from .pipelines.specvqgan import decode_code_windows

    where = os.fspath(codes) if isinstance(codes, (str, os.PathLike)) else "codes"
    cf = codes if isinstance(codes, CodesFile) else CodesFile.load(codes)
    if codebook_folder is None:
        if not cf.codebook_folder:
            raise AvgenError(f"{where}: records no codebook folder; pass --checkpoint")
        codebook_folder = cf.codebook_folder
    model = codebook_folder if isinstance(codebook_folder, CodecModel) else load_codec_model(codebook_folder,
                                                                                             device=device)
    _check_match(cf, model, where)
    voc = _vocoder(vocoder, model, device)
    p = get_preset(model.mel_preset)
    w = model.window_columns
    mel = decode_code_windows(model.codebook, cf.codes[None], w, w // _OVERLAP_DIVISOR)  # [1, M, C f]
    n = max(1, round(cf.duration * p.sample_rate))
    mel = mel[:, :, :math.ceil(n / p.hop_length)]
    gen = torch.Generator(device=voc.device).manual_seed(seed)
    wav = fit_length(voc(mel, generator=gen).float(), n).clamp(-1, 1)  # [1, N]
    return DecodedAudio(wav, mel[0], p.sample_rate, cf.duration, voc.name)
