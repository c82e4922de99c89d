"""Shared encoders: frame-level visual features and readers for the public feature files."""

from .feature_files import FEATURE_EXTENSIONS, UnsafePickleError, load_feature_file, save_feature_file
from .visual import BACKBONES, VisualEncoder, efficientnet_lite0_weights_path

__all__ = [
    "VisualEncoder",
    "BACKBONES",
    "efficientnet_lite0_weights_path",
    "load_feature_file",
    "save_feature_file",
    "UnsafePickleError",
    "FEATURE_EXTENSIONS",
]
