"""Image assets for realistic renders: background photographs and sprites with transparency from Debian packages.

The asset folder holds downscaled copies (backgrounds as JPEG/PNG, at most 512 px on the long side; sprites as RGBA
PNG, at most 128 px) and ``manifest.jsonl`` with one JSON object per image (:data:`MANIFEST_KEYS`).
``tools/make_image_corpus.py`` downloads the packages and builds the folder; this module holds what needs no network:
the manifest reader/writer, the pixel hash, the train/test split and the loader used by :mod:`avgen.data.scenes`.

``sha256`` is the sha256 of the written file's *decoded* pixels (:func:`pixel_sha256`: mode, size and raw bytes),
so it does not depend on the encoder's version or options. ``group`` names the picture a file comes from (several
resolutions or a dark variant of one wallpaper share it); splits keep a group on one side.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field

import numpy as np

from ..errors import AvgenError
from .jsonl import check_common_fields, read_jsonl_manifest, write_jsonl_manifest
from .splits import hold_out_groups, linked_groups

__all__ = ["KINDS", "MANIFEST_KEYS", "ImageAssets", "read_manifest", "write_manifest", "pixel_sha256",
           "split_images", "load_assets"]

KINDS = ("background", "sprite")
MAX_SIDE = {"background": 512, "sprite": 128}

# Required manifest keys and their types.
MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str, "path": str, "kind": str, "group": str, "package": str, "package_version": str, "source_file": str,
    "licence": str, "sha256": str, "width": int, "height": int,
}


def _check_row(row, where: str) -> dict:
    """``row`` if it is a valid manifest row, else one AvgenError naming ``where`` (file:line) and the problem."""
    check_common_fields(row, where, MANIFEST_KEYS, folder="the asset folder")
    if row["kind"] not in KINDS:
        raise AvgenError(f"{where}: unknown kind {row['kind']!r} (one of {', '.join(KINDS)})")
    for key in ("width", "height"):
        if not 0 < row[key] <= MAX_SIDE[row["kind"]]:
            raise AvgenError(f"{where}: '{key}' must be in 1..{MAX_SIDE[row['kind']]} for a {row['kind']}")
    return row


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of an image manifest (JSON lines), validated: a bad line gives one AvgenError naming the file and the
    line; duplicate ids are refused."""
    return read_jsonl_manifest(path, _check_row)


def write_manifest(path: str | os.PathLike, rows) -> None:
    """Write ``rows`` as JSON lines (keys sorted), atomically; rows are validated first."""
    write_jsonl_manifest(path, rows, _check_row)


def pixel_sha256(image) -> str:
    """sha256 of a PIL image's decoded pixels: ``MODE WxH\\n`` then the raw bytes (RGB or RGBA)."""
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    im = image.convert(mode)
    h = hashlib.sha256(f"{mode} {im.width}x{im.height}\n".encode())
    h.update(im.tobytes())
    return h.hexdigest()


def split_images(rows, *, test_fraction: float = 0.2, seed: int = 0, by: str = "group") -> dict[str, list[dict]]:
    """``{"train": [...], "test": [...]}`` (input order kept), deterministic for a ``seed`` and independent of the
    rows' order. Whole groups (``by="group"``: one picture and its variants) or whole packages (``by="package"``)
    go to one side; each is filed under the first kind of its rows (background before sprite) and within each kind a
    ``test_fraction`` share (at least one when there are two or more) is held out, so both sides have backgrounds
    and sprites. Groups that share a pixel hash are merged first, so the same
    picture shipped twice can never be on both sides."""
    rows = list(rows)
    if not 0.0 < test_fraction < 1.0:
        raise AvgenError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if by not in ("group", "package"):
        raise AvgenError(f"by must be 'group' or 'package', got {by!r}")
    group = linked_groups(rows, by)  # keys whose rows share a pixel hash count as one
    # each group is filed under the first kind (in KINDS order) of its rows; per kind, hold out a seeded share
    root_kind: dict[str, str] = {}
    for r in rows:
        g = group[r[by]]
        root_kind[g] = min(root_kind.get(g, r["kind"]), r["kind"], key=KINDS.index)
    test_roots = hold_out_groups(root_kind, KINDS, test_fraction=test_fraction, rng=random.Random(seed))
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for r in rows:
        out["test" if group[r[by]] in test_roots else "train"].append(r)
    return out


@dataclass
class ImageAssets:
    """Decoded assets: ``backgrounds`` as uint8 ``[H, W, 3]``, ``sprites`` as uint8 RGBA ``[h, w, 4]``."""

    backgrounds: list[np.ndarray] = field(default_factory=list)
    sprites: list[np.ndarray] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=lambda: {"background": [], "sprite": []})

    def __post_init__(self) -> None:
        for b in self.backgrounds:
            if b.dtype != np.uint8 or b.ndim != 3 or b.shape[2] != 3:
                raise AvgenError(f"a background must be uint8 [H, W, 3], got {b.dtype} {b.shape}")
        for s in self.sprites:
            if s.dtype != np.uint8 or s.ndim != 3 or s.shape[2] != 4:
                raise AvgenError(f"a sprite must be uint8 RGBA [h, w, 4], got {s.dtype} {s.shape}")


def load_assets(folder: str | os.PathLike, rows: list[dict] | None = None) -> ImageAssets:
    """Decode the images of ``rows`` (default: every row of ``folder/manifest.jsonl``) into :class:`ImageAssets`;
    a missing or unreadable file gives an AvgenError naming it."""
    from PIL import Image

    folder = os.fspath(folder)
    if rows is None:
        rows = read_manifest(os.path.join(folder, "manifest.jsonl"))
    assets = ImageAssets()
    for r in rows:
        path = os.path.join(folder, r["path"])
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB" if r["kind"] == "background" else "RGBA"))
        except (OSError, ValueError) as e:
            raise AvgenError(f"{path}: cannot read image ({e})") from None
        (assets.backgrounds if r["kind"] == "background" else assets.sprites).append(np.ascontiguousarray(arr))
        assets.ids[r["kind"]].append(r["id"])
    if not assets.backgrounds or not assets.sprites:
        raise AvgenError(f"{folder}: need at least one background and one sprite "
                         f"({len(assets.backgrounds)} backgrounds, {len(assets.sprites)} sprites)")
    return assets
