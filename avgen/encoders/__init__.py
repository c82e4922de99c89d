"""Shared encoders: frame-level visual features, the offline perceptual distance, the EfficientNet-Lite0 loader and
readers for the public feature files, and pixel motion."""

from .feature_files import FEATURE_EXTENSIONS, UnsafePickleError, load_feature_file, save_feature_file
from .motion import PIXEL_MOTION_DIM, PixelMotion, pixel_motion
from .perceptual import EfficientNetPerceptual
from .visual import BACKBONES, VisualEncoder, efficientnet_lite0_weights_path, load_efficientnet_lite0

__all__ = [
    "VisualEncoder",
    "BACKBONES",
    "efficientnet_lite0_weights_path",
    "load_efficientnet_lite0",
    "EfficientNetPerceptual",
    "load_feature_file",
    "save_feature_file",
    "UnsafePickleError",
    "FEATURE_EXTENSIONS",
    "PixelMotion",
    "pixel_motion",
    "PIXEL_MOTION_DIM",
]
