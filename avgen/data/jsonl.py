"""Validated JSON-lines manifests (the sound and image corpora): one object per line, every row checked by the
caller's row check, unique ids; a bad line is one :class:`~avgen.errors.AvgenError` naming the file and line."""

from __future__ import annotations

import json
import os
import re
from typing import Callable

from ..errors import AvgenError
from ..utils import atomic_write_text

__all__ = ["read_jsonl_manifest", "write_jsonl_manifest", "check_common_fields"]

RowCheck = Callable[[dict, str], dict]
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_common_fields(row, where: str, keys: dict, *, hashes: tuple[str, ...] = ("sha256",),
                        folder: str = "the manifest's folder") -> dict:
    """The checks every corpus row shares: an object with ``keys`` (name -> type) of those types (a bool is no
    number), a filename-safe ``id``, 64-hex ``hashes``, a non-empty ``licence`` and a ``path`` relative to
    ``folder``."""
    if not isinstance(row, dict):
        raise AvgenError(f"{where}: a manifest row must be a JSON object, got {type(row).__name__}")
    for key, kind in keys.items():
        if key not in row:
            raise AvgenError(f"{where}: missing key '{key}'")
        if isinstance(row[key], bool) or not isinstance(row[key], kind):
            raise AvgenError(f"{where}: '{key}' must be {getattr(kind, '__name__', 'a number')}, "
                             f"got {type(row[key]).__name__}")
    if not _SAFE_ID.fullmatch(row["id"]):
        raise AvgenError(f"{where}: 'id' {row['id']!r} is not filename-safe (letters, digits, '.', '_', '-')")
    for key in hashes:
        if not _HEX64.fullmatch(row[key]):
            raise AvgenError(f"{where}: '{key}' must be 64 lowercase hex digits")
    if not row["licence"].strip():
        raise AvgenError(f"{where}: empty 'licence'")
    if os.path.isabs(row["path"]) or ".." in row["path"].replace("\\", "/").split("/"):
        raise AvgenError(f"{where}: 'path' must be relative to {folder}")
    return row


def read_jsonl_manifest(path: str | os.PathLike, check_row: RowCheck) -> list[dict]:
    """Rows of a JSON-lines manifest, each passed through ``check_row(row, "file:line")``; duplicate ids refused."""
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
            check_row(row, f"{p}:{n}")
            if row["id"] in seen:
                raise AvgenError(f"{p}:{n}: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
            seen[row["id"]] = n
            rows.append(row)
    return rows


def write_jsonl_manifest(path: str | os.PathLike, rows, check_row: RowCheck) -> None:
    """``rows`` as JSON lines (keys sorted, compact), atomically; every row checked first, ids unique."""
    p = os.fspath(path)
    lines, seen = [], set()
    for n, row in enumerate(rows, 1):
        check_row(row, f"{p}: row {n}")
        if row["id"] in seen:
            raise AvgenError(f"{p}: row {n}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    atomic_write_text(p, "".join(line + "\n" for line in lines))
