"""Steps that more than one video -> sound pipeline takes the same way, kept in one place so that their checks and
messages cannot drift apart."""

from __future__ import annotations

import os

import torch

from .. import vocoders
from ..errors import AvgenError

__all__ = ["checked_vocoder"]


def checked_vocoder(vocoder: str | os.PathLike | vocoders.Vocoder | None, mel_preset: str, *,
                    device: torch.device | str | None, made_by: str = "model") -> vocoders.Vocoder:
    """``vocoder`` itself when it is a :class:`~avgen.vocoders.Vocoder`, else :func:`avgen.vocoders.load` of it (a
    name, a trained vocoder folder, or None for the default) on ``device``. Refused with one line when it takes
    other mels than ``mel_preset``, the preset the pipeline's ``made_by`` (e.g. "generator") makes: a vocoder fed
    mels of another scale or rate renders noise without failing."""
    voc = vocoder if isinstance(vocoder, vocoders.Vocoder) else vocoders.load(vocoder, device=device)
    if voc.mel_preset != mel_preset:
        raise AvgenError(f"vocoder {voc.name} takes '{voc.mel_preset}' mels; this {made_by} makes "
                         f"'{mel_preset}' mels")
    return voc
