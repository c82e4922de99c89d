"""The checkpoints that ship inside the package, by name: ``--checkpoint NAME`` (``avgen v2s``, ``avgen eval v2s``)
and :func:`bundled_checkpoint` accept these names as well as folders. Light on purpose (no torch): the CLI resolves
names before any model loads."""

from __future__ import annotations

import os

__all__ = ["ASSETS", "BUNDLED_CHECKPOINTS", "bundled_checkpoint"]

ASSETS = os.path.join(os.path.dirname(__file__), "assets")

# name -> folder; MADE_WITH.md in each folder says how it was trained
BUNDLED_CHECKPOINTS = {
    "varietysound-foley-small": os.path.join(ASSETS, "varietysound_foley_small"),  # the v2s default
    "specvqgan-foley-small": os.path.join(ASSETS, "specvqgan_foley_small"),  # SpecVQGAN, video only
    "specvqgan-foley-small-reference": os.path.join(ASSETS, "specvqgan_foley_small_reference"),  # + timbre clip
}


def bundled_checkpoint(name_or_folder: str | os.PathLike | None) -> str | None:
    """The folder of a bundled checkpoint's name; an existing path (a folder of that name wins), any other value
    and None are returned unchanged."""
    if name_or_folder is None:
        return None
    value = os.fspath(name_or_folder)
    if os.path.exists(value) or value not in BUNDLED_CHECKPOINTS:
        return value
    return BUNDLED_CHECKPOINTS[value]
