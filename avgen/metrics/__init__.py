"""Evaluation metrics that compute exactly what their references compute, and say what they computed.

Folder-level entry points return a report dict whose ``profile`` records the network, weight-file hash, layer,
preprocessing, sampling, seed and package versions. See docs/metrics.md.

The names below are imported on first use, so ``avgen eval --help`` (which imports :mod:`avgen.metrics.cli`) does
not load torch.
"""

import importlib

_EXPORTS = {
    "compute_mcd": "audio_eval", "compute_melception": "audio_eval", "compute_sync": "audio_eval",
    "compute_timbre": "audio_eval", "compute_clip_similarity": "clip_score", "compute_fid": "compute",
    "compute_fvd": "compute", "compute_is": "compute", "FeatureStats": "stats", "frechet_distance": "stats",
    "inception_score": "stats", "kernel_inception_distance": "stats", "paired_kl": "stats",
}

__all__ = ["compute_fvd", "compute_fid", "compute_is", "compute_clip_similarity", "compute_mcd", "compute_timbre",
           "compute_sync", "compute_melception", "FeatureStats", "frechet_distance", "inception_score",
           "kernel_inception_distance", "paired_kl"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
