"""Pretrained feature extractors in their public state-dict layouts."""

from .efficientnet_lite import EfficientNetLite0
from .i3d import I3D
from .inception import InceptionV3

__all__ = ["EfficientNetLite0", "InceptionV3", "I3D"]
