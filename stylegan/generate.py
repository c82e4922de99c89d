"""Sample grids and style-mixing grids from any supported StyleGAN checkpoint.

    python -m stylegan.generate --checkpoint ffhq.pkl --seeds 0-7 --out grid.png
    python -m stylegan.generate --checkpoint ffhq.pkl --seeds 0-3 --mix-seeds 10-13 --mix-layers coarse --out mix.png

Seeds map to z exactly as in NVIDIA's gen_images.py (``np.random.RandomState(seed).randn``).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch

from .latents import layer_groups, parse_range, style_mix, z_from_seeds

__all__ = ["to_uint8", "render_frames", "generate_images", "image_grid", "style_mixing_grid", "main"]


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] in [-1, 1] -> [B, H, W, C] uint8."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


@torch.no_grad()
def render_frames(G, ws: torch.Tensor, *, chunk: int = 16, noise_mode: str = "const") -> np.ndarray:
    """W+ latents [T, num_ws, w_dim] (e.g. a video's trajectory) -> frames [T, H, W, C] uint8, synthesised ``chunk``
    at a time on the generator's device."""
    device = next(G.parameters()).device
    return np.concatenate([to_uint8(G.synthesis(ws[i:i + chunk].to(device), noise_mode=noise_mode))
                           for i in range(0, len(ws), chunk)])


def image_grid(images: np.ndarray, cols: int) -> np.ndarray:
    """[B, H, W, C] uint8 -> one [rows*H, cols*W, C] picture (row-major)."""
    b, h, w, c = images.shape
    rows = math.ceil(b / cols)
    grid = np.zeros([rows * h, cols * w, c], dtype=np.uint8)
    for i in range(b):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = images[i]
    return grid


@torch.no_grad()
def generate_images(G, seeds: list[int], *, truncation_psi: float = 1.0, noise_mode: str = "const",
                    device: str | torch.device = "cpu", batch_size: int = 8) -> torch.Tensor:
    """Images [len(seeds), C, H, W] in [-1, 1] (unconditional generators)."""
    if G.c_dim:
        raise ValueError("conditional generators need a class label; this helper covers unconditional ones")
    z = z_from_seeds(seeds, G.z_dim).to(device)
    out = []
    for i in range(0, len(seeds), batch_size):
        ws = G.mapping(z[i:i + batch_size], None, truncation_psi=truncation_psi)
        out.append(G.synthesis(ws, noise_mode=noise_mode).cpu())
    return torch.cat(out)


@torch.no_grad()
def style_mixing_grid(G, row_seeds: list[int], col_seeds: list[int], layers: list[int], *,
                      truncation_psi: float = 1.0, noise_mode: str = "const",
                      device: str | torch.device = "cpu") -> np.ndarray:
    """The classic figure: top row = column sources, left column = row sources, cell (r, c) = row seed's W+ with
    ``layers`` taken from the column seed. Returns an HWC uint8 picture."""
    seeds = list(dict.fromkeys(row_seeds + col_seeds))
    ws = G.mapping(z_from_seeds(seeds, G.z_dim).to(device), None, truncation_psi=truncation_psi)
    by_seed = {s: ws[i:i + 1] for i, s in enumerate(seeds)}
    render = lambda w: to_uint8(G.synthesis(w, noise_mode=noise_mode))[0]  # noqa: E731
    res = G.img_resolution
    blank = np.full([res, res, G.img_channels], 255, dtype=np.uint8)
    cells = [blank] + [render(by_seed[c]) for c in col_seeds]
    for r in row_seeds:
        cells.append(render(by_seed[r]))
        cells += [render(style_mix(by_seed[r], by_seed[c], layers)) for c in col_seeds]
    return image_grid(np.stack(cells), cols=len(col_seeds) + 1)


def _save(picture: np.ndarray, path: str) -> None:
    from PIL import Image

    Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(path)


def _layers(spec: str, num_ws: int) -> list[int]:
    groups = layer_groups(num_ws, _default_bounds(num_ws))
    if spec in groups:
        return groups[spec]
    layers = parse_range(spec)
    if any(not 0 <= i < num_ws for i in layers):
        raise ValueError(f"--mix-layers {spec!r}: indices must lie in 0..{num_ws - 1}")
    return layers


def _default_bounds(num_ws: int) -> tuple[int, int]:
    # (3, 6) as in the sound-guided video paper for 16+ ws; scaled down for small test networks.
    return (3, 6) if num_ws > 6 else (1, max(2, num_ws // 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stylegan.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="NVIDIA .pkl, rosinality .pt, or a saved stylegan folder")
    ap.add_argument("--seeds", default="0-7", help="row seeds, e.g. 0-7 or 1,5,9 (default 0-7)")
    ap.add_argument("--out", required=True, help="output picture (.png/.jpg)")
    ap.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1 = none)")
    ap.add_argument("--noise-mode", default="const", choices=["const", "random", "none"],
                    help="per-layer noise: const (the stored buffers, reproducible; default), random or none")
    ap.add_argument("--cols", type=int, default=None, help="grid columns (default: about sqrt of the count)")
    ap.add_argument("--mix-seeds", default=None, help="column seeds: draw a style-mixing grid instead of a sample grid")
    ap.add_argument("--mix-layers", default="coarse",
                    help="layers copied from the column seeds: coarse | mid | fine | index range like 0-3")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu, cuda or cuda:N (default: cuda when available)")
    args = ap.parse_args(argv)

    from . import load
    from .checkpoints import CheckpointError
    from .safe_pickle import UnsafePickleError

    try:
        G = load(args.checkpoint, device=args.device)
        seeds = parse_range(args.seeds)
        if args.mix_seeds:
            picture = style_mixing_grid(G, seeds, parse_range(args.mix_seeds), _layers(args.mix_layers, G.num_ws),
                                        truncation_psi=args.trunc, noise_mode=args.noise_mode, device=args.device)
        else:
            images = to_uint8(generate_images(G, seeds, truncation_psi=args.trunc, noise_mode=args.noise_mode,
                                              device=args.device))
            picture = image_grid(images, cols=args.cols or math.ceil(math.sqrt(len(seeds))))
        _save(picture, args.out)
    except (CheckpointError, UnsafePickleError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({picture.shape[1]}x{picture.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
