"""GAN inversion by optimisation: find W+ latents whose image matches a target (StyleGAN2 Sec. 5 projector idea,
with the loss menu compared in the sound-guided video paper, Table 3(b)).

Loss = ``l2 * MSE(G(w), x) + perceptual * P(G(w), x) + latent * |w - w_avg|^2 / w_std^2 (+ clip * C(G(w)))``.
``P`` is any callable on two [B, 3, H, W] images in [-1, 1] passed as ``perceptual_fn``, e.g.
:class:`stylegan.lpips.LPIPS` when the VGG16 weights are at hand; this package has no default. ``C`` is an optional
CLIP-style loss on the image alone (e.g. ``1 - cos(CLIP(img), CLIP(text))``). Every step records MSE and the
perceptual distance.

    python -m stylegan.projector --checkpoint G.pkl --target face.png --out proj/ --steps 500

The CLI's default perceptual loss (without ``--lpips-vgg``) is an optional plugin: avgen's offline
``avgen.encoders.perceptual.EfficientNetPerceptual`` (ImageNet EfficientNet-Lite0 features; not LPIPS), imported
only then; without avgen installed the CLI asks for ``--lpips-vgg`` (or ``--perceptual 0``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .latents import w_statistics

__all__ = ["ProjectionResult", "project", "load_square_image", "main"]

ImageLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ProjectionResult:
    ws: torch.Tensor  # [1, num_ws, w_dim]
    image: torch.Tensor  # [1, C, H, W] in [-1, 1]
    history: list[dict] = field(default_factory=list)  # per step: loss, mse, perceptual, (clip)


def project(G: nn.Module, target: torch.Tensor, *, steps: int = 500, lr: float = 0.1, l2: float = 1.0,
            perceptual: float = 1.0, perceptual_fn: ImageLoss | None = None, latent: float = 1e-3,
            clip: float = 0.0, clip_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
            w_plus: bool = True, noise_start: float = 0.05, noise_ramp: float = 0.75, w_avg_samples: int = 4096,
            init_ws: torch.Tensor | None = None, generator: torch.Generator | None = None,
            progress: bool = True) -> ProjectionResult:
    """Optimise W (``w_plus=False``) or W+ for ``target`` [1 or 3, H, W] / [1, 3, H, W] in [-1, 1].

    ``perceptual_fn``: the perceptual loss, any callable ``(img, target) -> [B]`` (or scalar) on images in [-1, 1];
    required when ``perceptual > 0``, ignored when it is None (then only MSE, the prior and ``clip`` count).
    Starts at ``w_avg`` (estimated from ``w_avg_samples`` mapped z) or at ``init_ws`` [1, num_ws, w_dim] (W+ only;
    e.g. the previous frame's result when inverting a video), adds decaying latent noise for the first
    ``noise_ramp`` of the steps, and ramps the learning rate up/down (cosine) like the official projector.
    """
    if perceptual > 0 and perceptual_fn is None:
        raise ValueError("perceptual > 0 needs perceptual_fn (e.g. stylegan.lpips.LPIPS, or avgen's "
                         "avgen.encoders.perceptual.EfficientNetPerceptual)")
    if clip > 0 and clip_fn is None:
        raise ValueError("clip > 0 needs clip_fn")
    device = next(G.parameters()).device
    target = target.to(device, torch.float32)
    target = target[None] if target.ndim == 3 else target
    if target.shape[-2:] != (G.img_resolution, G.img_resolution):
        target = F.interpolate(target, size=G.img_resolution, mode="area")
    gen = generator or torch.Generator().manual_seed(0)

    # Statistics of W: the start point and the scale of the latent noise / prior.
    w_avg, w_std = w_statistics(G, w_avg_samples, gen)
    if init_ws is not None:
        if not w_plus or tuple(init_ws.shape) != (1, G.num_ws, G.w_dim):
            raise ValueError(f"init_ws must be [1, {G.num_ws}, {G.w_dim}] with w_plus=True, got {tuple(init_ws.shape)}")
        ws = init_ws.detach().to(device, torch.float32).clone().requires_grad_(True)
    else:
        ws = w_avg.repeat(1, G.num_ws if w_plus else 1, 1).clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr, betas=(0.9, 0.999))
    history: list[dict] = []
    for step in _progress(range(steps), desc="project", disable=not progress):
        t = step / max(steps - 1, 1)
        noise_scale = w_std * noise_start * max(0.0, 1.0 - t / noise_ramp) ** 2
        ramp = min(1.0, (1.0 - t) / 0.25) * min(1.0, t / 0.05) if steps > 1 else 1.0
        for group in opt.param_groups:
            group["lr"] = lr * (0.5 - 0.5 * math.cos(ramp * math.pi))
        w_in = ws + torch.randn(ws.shape, generator=gen).to(device) * noise_scale
        w_in = w_in if w_plus else w_in.repeat(1, G.num_ws, 1)
        img = G.synthesis(w_in, noise_mode="const")
        mse = F.mse_loss(img, target)
        loss = l2 * mse
        record = {"step": step, "mse": float(mse.detach())}
        if perceptual_fn is not None:
            p = perceptual_fn(img, target).mean()
            loss = loss + perceptual * p
            record["perceptual"] = float(p.detach())
        if latent > 0:
            prior = (ws - w_avg).square().sum(-1).mean() / (w_std ** 2 + 1e-8)
            loss = loss + latent * prior
        if clip_fn is not None and clip > 0:
            c = clip_fn(img).mean()
            loss = loss + clip * c
            record["clip"] = float(c.detach())
        record["loss"] = float(loss.detach())
        history.append(record)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final_ws = (ws if w_plus else ws.repeat(1, G.num_ws, 1)).detach()
        image = G.synthesis(final_ws, noise_mode="const")
    return ProjectionResult(ws=final_ws.cpu(), image=image.cpu(), history=history)


def _progress(iterable, *, desc: str, disable: bool):
    """tqdm when it is installed (an optional dependency), else the bare iterable."""
    if disable:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, file=sys.stderr)


def load_square_image(path: str | os.PathLike, resolution: int) -> np.ndarray:
    """[R, R, 3] uint8: the largest centred square of the picture (RGB), Lanczos-resized to ``resolution`` (the
    same pixels as ``avgen.data.images.load_square_image``). Needs Pillow."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
        return np.array(im.resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)  # a writable copy


def _default_perceptual() -> nn.Module | None:
    """The CLI's default perceptual loss, an optional plugin: avgen's offline EfficientNet-Lite0 features. The only
    place this package imports avgen. None (after one line on stderr) when avgen is not installed."""
    try:
        from avgen.encoders.perceptual import EfficientNetPerceptual
    except ImportError as e:
        print(f"error: the default perceptual loss needs avgen (avgen.encoders.perceptual; {e}): install avgen, or "
              "pass --lpips-vgg VGG16_WEIGHTS (or --perceptual 0)", file=sys.stderr)
        return None
    return EfficientNetPerceptual()


# Leading bytes of the still-image formats Pillow reads here.
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def _is_image(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(16)
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _check_args(args) -> str | None:
    """The first problem with the command line (target, checkpoint, output folder, numbers, device), or None."""
    import math
    import tempfile

    if not os.path.isfile(args.target):
        return f"--target {args.target}: " + ("is a folder" if os.path.isdir(args.target) else "no such file")
    if not _is_image(args.target):
        return f"--target {args.target}: not an image (png, jpg, gif, bmp, tiff or webp)"
    if not os.path.exists(args.checkpoint):
        return f"--checkpoint {args.checkpoint}: no such file or folder"
    for name in ("lr", "l2", "perceptual", "latent"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0):
            return f"--{name} {value}: must be a finite number >= 0"
    if args.steps < 1:
        return f"--steps {args.steps}: must be at least 1"
    try:
        dev = torch.device(args.device)
    except (RuntimeError, ValueError):
        return f"--device {args.device}: not a device (cpu, cuda, cuda:N)"
    if dev.type == "cuda" and not torch.cuda.is_available():
        return f"--device {args.device}: CUDA is not available on this machine"
    folder = os.path.abspath(args.out)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"--out {args.out}: '{folder}' is a file, not a folder"
    try:  # writable: test-create a file where the outputs will go
        fd, tmp = tempfile.mkstemp(prefix=".projector-write-test-", dir=folder)
    except OSError as e:
        return f"--out {args.out}: cannot write in '{folder}' ({e.strerror or e})"
    os.close(fd)
    os.remove(tmp)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stylegan.projector", description="Invert an image into W+.")
    ap.add_argument("--checkpoint", required=True, help="generator: NVIDIA .pkl, rosinality .pt, or a saved "
                                                         "stylegan folder")
    ap.add_argument("--target", required=True, help="image file (centre-cropped and resized to the generator)")
    ap.add_argument("--out", required=True, help="output folder: projected.png, target.png, ws.safetensors, history.json")
    ap.add_argument("--steps", type=int, default=500, help="optimisation steps (default 500)")
    ap.add_argument("--lr", type=float, default=0.1, help="peak Adam learning rate: cosine ramp up over the first 5 %% "
                                                        "of steps, down over the last 25 %% (default 0.1)")
    ap.add_argument("--l2", type=float, default=1.0, help="weight of the pixel MSE term (default 1)")
    ap.add_argument("--perceptual", type=float, default=1.0, help="weight of the perceptual loss (0 = off)")
    ap.add_argument("--lpips-vgg", default=None,
                    help="torchvision VGG16 weights (vgg16-397923af.pth): use LPIPS as the perceptual loss (linear "
                         "weights from the installed lpips package, or --lpips-lin); default: offline EfficientNet features")
    ap.add_argument("--lpips-lin", default=None, help="LPIPS v0.1 linear weights (weights/v0.1/vgg.pth)")
    ap.add_argument("--latent", type=float, default=1e-3, help="weight of the |w - w_avg|^2 prior")
    ap.add_argument("--w-space", action="store_true", help="optimise one w for all layers instead of W+")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu, cuda or cuda:N (default: cuda when available)")
    args = ap.parse_args(argv)
    problem = _check_args(args)  # everything is checked before the generator loads or a step runs
    if problem:
        print(f"python -m stylegan.projector: error: {problem}", file=sys.stderr)
        return 2

    from PIL import Image
    from safetensors.torch import save_file

    from . import load
    from .generate import to_uint8

    option = "--checkpoint"
    try:
        G = load(args.checkpoint, device=args.device).float()
        option = "--target"
        pixels = load_square_image(args.target, G.img_resolution)
    except Exception as e:  # noqa: BLE001 - unreadable checkpoint or image: one line, never a traceback
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            text = "not a weights-only file (holds objects beyond tensors and plain containers); not loaded"
        path = args.checkpoint if option == "--checkpoint" else args.target
        print(f"python -m stylegan.projector: error: {option} {path}: {text[:300]}", file=sys.stderr)
        return 2
    target = torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1
    perceptual_fn = None
    if args.perceptual > 0:
        if args.lpips_vgg:
            from .lpips import LPIPS

            perceptual_fn = LPIPS(args.lpips_vgg, args.lpips_lin).to(args.device)
        else:
            perceptual_fn = _default_perceptual()
            if perceptual_fn is None:
                return 2
            perceptual_fn = perceptual_fn.to(args.device)
    res = project(G, target, steps=args.steps, lr=args.lr, l2=args.l2, perceptual=args.perceptual,
                  perceptual_fn=perceptual_fn, latent=args.latent, w_plus=not args.w_space)
    os.makedirs(args.out, exist_ok=True)
    Image.fromarray(to_uint8(res.image)[0]).save(os.path.join(args.out, "projected.png"))
    Image.fromarray(pixels).save(os.path.join(args.out, "target.png"))
    save_file({"ws": res.ws.contiguous()}, os.path.join(args.out, "ws.safetensors"))
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(res.history, f)
    last = res.history[-1]
    print(json.dumps({"steps": args.steps, "mse": last["mse"], "perceptual": last.get("perceptual")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
