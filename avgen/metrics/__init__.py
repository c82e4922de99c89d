"""Evaluation metrics that compute exactly what their references compute, and say what they computed.

Folder-level entry points return a report dict whose ``profile`` records the network, weight-file hash, layer,
preprocessing, sampling, seed and package versions. See docs/metrics.md.
"""

from .audio_eval import compute_mcd, compute_melception, compute_sync, compute_timbre
from .clip_score import compute_clip_similarity
from .compute import compute_fid, compute_fvd, compute_is
from .stats import FeatureStats, frechet_distance, inception_score, kernel_inception_distance, paired_kl

__all__ = ["compute_fvd", "compute_fid", "compute_is", "compute_clip_similarity", "compute_mcd", "compute_timbre",
           "compute_sync", "compute_melception", "FeatureStats", "frechet_distance", "inception_score",
           "kernel_inception_distance", "paired_kl"]
