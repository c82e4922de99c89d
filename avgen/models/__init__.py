"""Networks. This package imports only torch and einops: no I/O, data or training code lives here."""

from .efficientnet_lite import EfficientNetLite0
from .feature2mel import FeatureToMel, MultiWindowMelDiscriminator
from .i3d import I3D
from .inception import InceptionV3

__all__ = ["EfficientNetLite0", "FeatureToMel", "MultiWindowMelDiscriminator", "I3D", "InceptionV3"]
