"""Video -> sound heads: VarietySound and the features -> mel baseline."""

from .feature2mel import FeatureToMel, MultiWindowMelDiscriminator
from .varietysound import TimeAlignmentDiscriminator, VarietySound

__all__ = ["FeatureToMel", "MultiWindowMelDiscriminator", "VarietySound", "TimeAlignmentDiscriminator"]
