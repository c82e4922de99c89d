"""Lists of media files: a folder (scanned recursively), a CSV file or a JSONL file.

CSV needs a header with a ``path`` column (optional ``label``, ``id``); JSONL holds one object per line with the same
keys. Relative paths are resolved against the manifest file's folder.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass

from ..errors import AvgenError
from ..media import VIDEO_EXTENSIONS

__all__ = ["ManifestItem", "read_manifest"]


@dataclass(frozen=True)
class ManifestItem:
    path: str
    id: str
    label: str | None = None


def _item(path: str, base: str, label=None, id=None) -> ManifestItem:
    full = path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))
    clip_id = id or os.path.splitext(os.path.basename(full))[0]
    return ManifestItem(full, str(clip_id), None if label in (None, "") else str(label))


def read_manifest(source: str | os.PathLike, *, extensions=VIDEO_EXTENSIONS) -> list[ManifestItem]:
    """Items of a folder / .csv / .jsonl manifest, in a stable order. Missing files are kept (they fail later, with
    a per-item error, so one bad line does not stop a batch)."""
    src = os.fspath(source)
    if os.path.isdir(src):
        items = []
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(tuple(extensions)):
                    items.append(_item(os.path.abspath(os.path.join(root, name)), src))
        return items
    if not os.path.exists(src):
        raise AvgenError(f"{src}: manifest or folder not found")
    base = os.path.dirname(os.path.abspath(src))
    ext = os.path.splitext(src)[1].lower()
    if ext == ".csv":
        with open(src, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise AvgenError(f"{src}: CSV manifest needs a header with a 'path' column")
            return [_item(r["path"], base, r.get("label"), r.get("id")) for r in reader if r.get("path")]
    if ext in (".jsonl", ".json"):
        items = []
        with open(src) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise AvgenError(f"{src}:{n}: invalid JSON ({e.msg})") from None
                if not isinstance(obj, dict) or "path" not in obj:
                    raise AvgenError(f"{src}:{n}: each line must be an object with a 'path' key")
                for key in ("path", "label", "id"):  # a number or list as a path would fail deep inside
                    if obj.get(key) is not None and not isinstance(obj[key], str):
                        raise AvgenError(f"{src}:{n}: '{key}' must be a string, got {type(obj[key]).__name__}")
                if not obj["path"]:
                    raise AvgenError(f"{src}:{n}: 'path' is empty")
                items.append(_item(obj["path"], base, obj.get("label"), obj.get("id")))
        return items
    if ext in extensions:
        return [_item(os.path.abspath(src), base)]  # not joined with its own folder a second time
    raise AvgenError(f"{src}: expected a folder, a .csv/.jsonl manifest or a video file")
