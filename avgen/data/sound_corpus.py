"""A corpus of real sound recordings cut into events, with a manifest that anyone can rebuild from Debian packages.

The corpus folder holds one FLAC (22050 Hz, mono, 16 bit) per event and ``manifest.jsonl`` with one JSON object per
event (:data:`MANIFEST_KEYS`). ``tools/make_sound_corpus.py`` downloads the packages and builds it; this module holds
the pieces that do not need a network: event cutting, categories, licences, hashing, the manifest reader/writer and
the train/test splits.

Hashes. ``source_sha256`` is the sha256 of the source file's bytes. ``sha256`` is the sha256 of the event's decoded
PCM (little-endian int16, mono, 22050 Hz) rather than of the FLAC bytes: FLAC is lossless, so the decoded samples
are the same whichever encoder version wrote the file, while the file bytes change with the encoder's version string,
padding and block choices. Recordings are deduplicated by the same kind of hash of the whole decoded source (mono
22050 Hz int16), so one recording shipped by two packages (or twice by one) enters the corpus once and can never be on
both sides of a split.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass

import numpy as np

from ..errors import AvgenError
from ..utils import atomic_write_text

__all__ = [
    "CATEGORIES", "FAMILIES", "MANIFEST_KEYS", "SAMPLE_RATE", "SkipRecording",
    "read_manifest", "write_manifest", "split_corpus",
    "categorize", "family_of", "parse_copyright", "licence_for",
    "pcm_sha256", "trim_silence", "detect_onsets", "cut_events", "cut_recording", "write_event",
]
__all__ = __all__[:8]  # TEMP

SAMPLE_RATE = 22050
CATEGORIES = ("impact", "strike", "break", "tonal", "noise", "voice", "sustained")
# Coarse families: percussive (impacts, drum strikes, breaks), tonal, noisy, voice, sustained.
FAMILIES = {"impact": "percussive", "strike": "percussive", "break": "percussive", "tonal": "tonal",
            "noise": "noise", "voice": "voice", "sustained": "sustained"}

# Required manifest keys and their types (floats accept ints).
MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str, "path": str, "recording": str, "category": str, "package": str, "package_version": str,
    "source_file": str, "licence": str, "source_sha256": str, "sha256": str,
    "start": (int, float), "duration": (int, float), "sample_rate": int,
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


class SkipRecording(AvgenError):
    """A source file that does not enter the corpus; ``reason`` says why (silent, non-finite, too short, ...)."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: skipped ({reason})")


# ----------------------------------------------------------------------------------------------------------------
# Manifest


def _check_row(row, where: str) -> dict:
    """``row`` if it is a valid manifest row, else one AvgenError naming ``where`` (file:line) and the problem."""
    if not isinstance(row, dict):
        raise AvgenError(f"{where}: a manifest row must be a JSON object, got {type(row).__name__}")
    for key, kind in MANIFEST_KEYS.items():
        if key not in row:
            raise AvgenError(f"{where}: missing key '{key}'")
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise AvgenError(f"{where}: '{key}' must be {getattr(kind, '__name__', 'a number')}, "
                             f"got {type(value).__name__}")
    if not _SAFE_ID.fullmatch(row["id"]):
        raise AvgenError(f"{where}: 'id' {row['id']!r} is not filename-safe (letters, digits, '.', '_', '-')")
    if row["category"] not in CATEGORIES:
        raise AvgenError(f"{where}: unknown category {row['category']!r} (one of {', '.join(CATEGORIES)})")
    for key in ("sha256", "source_sha256"):
        if not _HEX64.fullmatch(row[key]):
            raise AvgenError(f"{where}: '{key}' must be 64 lowercase hex digits")
    if not row["licence"].strip():
        raise AvgenError(f"{where}: empty 'licence'")
    if not (np.isfinite(row["start"]) and row["start"] >= 0):
        raise AvgenError(f"{where}: 'start' must be a finite number >= 0")
    if not (np.isfinite(row["duration"]) and row["duration"] > 0):
        raise AvgenError(f"{where}: 'duration' must be a finite number > 0")
    if row["sample_rate"] <= 0:
        raise AvgenError(f"{where}: 'sample_rate' must be positive")
    if os.path.isabs(row["path"]) or ".." in row["path"].replace("\\", "/").split("/"):
        raise AvgenError(f"{where}: 'path' must be relative to the corpus folder")
    return row


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a sound-corpus manifest (JSON lines), validated: a bad line gives one AvgenError naming the file and
    the line; duplicate ids are refused."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise AvgenError(f"{p}: manifest not found")
    rows, seen = [], {}
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise AvgenError(f"{p}:{n}: not valid JSON ({e.msg})") from None
            _check_row(row, f"{p}:{n}")
            if row["id"] in seen:
                raise AvgenError(f"{p}:{n}: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
            seen[row["id"]] = n
            rows.append(row)
    return rows


def write_manifest(path: str | os.PathLike, rows) -> None:
    """Write ``rows`` as JSON lines (keys sorted, one object per line), atomically; rows are validated first."""
    p = os.fspath(path)
    lines, seen = [], set()
    for n, row in enumerate(rows, 1):
        _check_row(row, f"{p}: row {n}")
        if row["id"] in seen:
            raise AvgenError(f"{p}: row {n}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    atomic_write_text(p, "".join(line + "\n" for line in lines))


# ----------------------------------------------------------------------------------------------------------------
# Splits


def _recording_groups(rows: list[dict]) -> dict[str, str]:
    """recording -> group root: recordings that share an event ``sha256`` are merged (union-find), so identical audio
    can never land on both sides even if deduplication missed it."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_sha: dict[str, str] = {}
    for row in rows:
        rec = find(row["recording"])
        other = by_sha.setdefault(row["sha256"], rec)
        if find(other) != rec:
            a, b = sorted((find(other), rec))
            parent[b] = a
    return {row["recording"]: find(row["recording"]) for row in rows}


def split_corpus(rows, *, by: str, test_fraction: float = 0.2, held_out_categories=None,
                 seed: int = 0) -> dict[str, list[dict]]:
    """Split manifest rows into ``{"train": [...], "test": [...]}`` (input order kept on each side); deterministic for
    a given ``seed`` and independent of the rows' order.

    ``by="recording"``: whole recordings go to one side (recordings sharing an event hash count as one); within each
    category a ``test_fraction`` share of its recordings (at least one when it has two or more) is held out, so the
    test side covers every category. ``by="category"``: whole categories are held out, ``held_out_categories`` if
    given, else categories drawn by ``seed`` until they hold ``test_fraction`` of the rows (at least one category,
    never all); train rows whose hash also occurs in test are dropped.
    """
    rows = list(rows)
    if not 0.0 < test_fraction < 1.0:
        raise AvgenError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = random.Random(seed)
    if by == "recording":
        if held_out_categories is not None:
            raise AvgenError("held_out_categories applies to by='category' only")
        group = _recording_groups(rows)
        # each group is filed under the first category (sorted) of its rows
        group_cat: dict[str, str] = {}
        for row in rows:
            g = group[row["recording"]]
            group_cat[g] = min(group_cat.get(g, row["category"]), row["category"])
        test_groups: set[str] = set()
        for cat in sorted(set(group_cat.values())):
            members = sorted(g for g, c in group_cat.items() if c == cat)
            rng.shuffle(members)
            k = round(test_fraction * len(members))
            k = max(1, k) if len(members) >= 2 else 0
            test_groups.update(members[:k])
        test = [r for r in rows if group[r["recording"]] in test_groups]
        train = [r for r in rows if group[r["recording"]] not in test_groups]
    elif by == "category":
        cats = sorted({r["category"] for r in rows})
        if held_out_categories is not None:
            held = set(held_out_categories)
            unknown = held - set(cats)
            if unknown:
                raise AvgenError(f"held-out categories not in the rows: {', '.join(sorted(unknown))}")
        else:
            if len(cats) < 2:
                raise AvgenError("a split by category needs at least two categories")
            order = list(cats)
            rng.shuffle(order)
            counts = {c: sum(r["category"] == c for r in rows) for c in cats}
            held, total = set(), 0
            for c in order[:-1]:
                held.add(c)
                total += counts[c]
                if total >= test_fraction * len(rows):
                    break
        test = [r for r in rows if r["category"] in held]
        test_sha = {r["sha256"] for r in test}
        test_rec = {r["recording"] for r in test}
        train = [r for r in rows if r["category"] not in held and r["sha256"] not in test_sha
                 and r["recording"] not in test_rec]
    else:
        raise AvgenError(f"split_corpus: by must be 'recording' or 'category', got {by!r}")
    return {"train": train, "test": test}
