"""Exceptions raised by avgen. Every message names the offending file or value and the reason."""

from __future__ import annotations

import os


class AvgenError(Exception):
    """Base class of every error avgen raises on purpose (the CLI prints these as one line)."""


class ConfigError(AvgenError, ValueError):
    """A configuration file or override is invalid."""


class TrainingInterrupted(AvgenError):
    """SIGINT/SIGTERM arrived during training: the current step finished, a checkpoint was written, the run stopped
    (rerunning the same command resumes). ``exit_code`` is the shell's convention for that signal, 128 + its number
    (130 for SIGINT, 143 for SIGTERM), so a scheduler sees which stop it was."""

    def __init__(self, message: str, *, signum: int = 2):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class WeightsNotFoundError(AvgenError, FileNotFoundError):
    """A pretrained weight file is missing; the message says which file and where it is published."""

    def __init__(self, what: str, path: str | os.PathLike | None, where: str):
        self.path = None if path is None else os.fspath(path)
        loc = "no path was given" if path is None else f"'{self.path}' does not exist"
        self._args = (what, path, where)
        super().__init__(f"{what} weights: {loc}. Get them from {where}")

    def __reduce__(self):  # keep the structured fields across process boundaries (worker pools)
        return (type(self), self._args)


class MediaError(AvgenError):
    """A media file cannot be used. ``path`` is the file, ``reason`` a short explanation."""

    reason_prefix = "unusable media"

    def __init__(self, path: str | os.PathLike, detail: str | None = None):
        self.path = os.fspath(path)
        self.detail = detail
        msg = f"{self.path}: {self.reason_prefix}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)

    def __reduce__(self):  # keep the structured fields across process boundaries (worker pools)
        return (type(self), (self.path, self.detail))


class MediaNotFoundError(MediaError, FileNotFoundError):
    reason_prefix = "file not found"


class NotMediaError(MediaError):
    reason_prefix = "not a media file"


class CorruptMediaError(MediaError):
    reason_prefix = "truncated or corrupt media file"


class NoVideoStreamError(MediaError):
    reason_prefix = "no video stream"


class NoAudioStreamError(MediaError):
    reason_prefix = "no audio stream"


class ZeroDurationError(MediaError):
    reason_prefix = "zero duration"
