"""Datasets and preprocessing."""

from .cache import PreparedDataset
from .manifest import ManifestItem, read_manifest
from .prepare import PrepareSettings, PrepareSummary, prepare
from .specvqgan import SpecVQGANFeatureDataset

__all__ = ["ManifestItem", "read_manifest", "PrepareSettings", "PrepareSummary", "prepare", "PreparedDataset",
           "SpecVQGANFeatureDataset"]
