"""Metric reports (JSON lines with a full "metric profile") and the on-disk cache of real-data statistics."""

from __future__ import annotations

import io
import json
import os
import platform
import time
from importlib import metadata

import numpy as np

from ..utils import atomic_write_bytes, stable_hash
from .stats import FeatureStats

__all__ = ["package_versions", "make_report", "write_report", "default_cache_dir", "StatsCache"]


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("avgen", "torch", "torchvision", "torchaudio", "numpy", "av", "open_clip_torch", "resemblyzer"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def make_report(metric: str, values: dict, profile: dict, **inputs) -> dict:
    """One report: metric name, its values, the inputs and the complete profile (network, weights hash, layer,
    preprocessing, sampling, seed, package versions)."""
    return {"metric": metric, **values, "inputs": inputs,
            "profile": {**profile, "versions": package_versions()},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def write_report(report: dict, path: str | None) -> str:
    """Append the report to ``path`` (JSON lines) when given; returns the JSON line."""
    line = json.dumps(report, sort_keys=False, default=str)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return line


def default_cache_dir() -> str:
    base = os.environ.get("AVGEN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "avgen")
    return os.path.join(base, "metric_stats")


class StatsCache:
    """Feature statistics keyed by (data fingerprint, profile), one ``.npz`` per key, written atomically.
    ``cache_dir=None`` disables caching."""

    def __init__(self, cache_dir: str | None):
        self.dir = cache_dir

    @staticmethod
    def key(fingerprint, profile: dict) -> str:
        return stable_hash({"data": fingerprint, "profile": profile}, length=24)

    def _path(self, key: str) -> str:
        return os.path.join(self.dir, f"{key}.npz")

    def load(self, key: str) -> dict[str, FeatureStats] | None:
        if not self.dir or not os.path.exists(self._path(key)):
            return None
        with np.load(self._path(key), allow_pickle=False) as z:
            groups: dict[str, dict] = {}
            for name in z.files:
                group, field = name.split("/", 1)
                groups.setdefault(group, {})[field] = z[name]
        return {g: FeatureStats.from_state(s) for g, s in groups.items()}

    def save(self, key: str, stats: dict[str, FeatureStats]) -> None:
        if not self.dir:
            return
        arrays = {f"{g}/{k}": v for g, s in stats.items() for k, v in s.state().items()}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self._path(key), buf.getvalue())
