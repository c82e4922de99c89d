"""Image folders for GAN training: every picture is centre-cropped to a square and resized (Lanczos) to a power of
two, once, into memory; items are ``{"image": float [3, R, R] in [-1, 1], "id": relative path}``."""

from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import ConfigError
from ..media import IMAGE_EXTENSIONS

__all__ = ["ImageFolderDataset", "load_square_image", "square_crop_resize"]



def _square(im, resolution: int) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)


def load_square_image(path: str, resolution: int) -> np.ndarray:
    """[R, R, 3] uint8: largest centred square, Lanczos-resized to ``resolution``."""
    from PIL import Image

    with Image.open(path) as im:
        return _square(im.convert("RGB"), resolution)


def square_crop_resize(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """The same crop and resize for an in-memory [H, W, 3] uint8 picture (e.g. a video frame)."""
    from PIL import Image

    return _square(Image.fromarray(pixels), resolution)


class ImageFolderDataset(torch.utils.data.Dataset):
    """All images under ``root`` (recursively, sorted). ``xflip`` doubles the set with mirrored copies, as ADA's
    ``--mirror`` does."""

    def __init__(self, root: str, *, resolution: int, xflip: bool = False, max_images: int | None = None):
        if resolution < 4 or resolution & (resolution - 1):
            raise ConfigError(f"data.resolution={resolution}: must be a power of two >= 4")
        if not os.path.isdir(root):
            raise ConfigError(f"data.path: '{root}' is not a folder of images")
        files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if max_images:
            files = files[:max_images]
        if not files:
            raise ConfigError(f"data.path: no images ({', '.join(IMAGE_EXTENSIONS)}) under '{root}'")
        self.root, self.files, self.resolution, self.xflip = root, files, resolution, xflip
        self.pixels = np.stack([load_square_image(os.path.join(root, f), resolution) for f in files])  # [N, R, R, 3]

    def __len__(self) -> int:
        return len(self.files) * (2 if self.xflip else 1)

    def __getitem__(self, i: int) -> dict:
        idx, flip = i % len(self.files), i >= len(self.files)
        img = torch.from_numpy(self.pixels[idx]).permute(2, 0, 1).float() / 127.5 - 1  # [3, R, R]
        if flip:
            img = img.flip(-1)
        return {"image": img, "id": self.files[idx] + (":flip" if flip else "")}
