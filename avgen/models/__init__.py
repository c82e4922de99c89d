"""Networks, grouped by role. This package imports only torch and einops: no I/O, data or training code lives here.

- ``backbones/``: pretrained feature extractors (EfficientNet-Lite0, Inception-v3, I3D)
- ``v2s/``: video -> sound heads (VarietySound, the features -> mel baseline)
- ``s2v/``: the sound -> video networks (audio encoder, sound inversion, recurrent latent blocks, discriminators)
- ``vocoders/``: mel -> waveform (HiFi-GAN)
"""

from .backbones import I3D, EfficientNetLite0, InceptionV3
from .s2v import AudioCLIPEncoder, SoundToVideo
from .v2s import FeatureToMel, MultiWindowMelDiscriminator, VarietySound
from .vocoders import HiFiGANGenerator

__all__ = ["EfficientNetLite0", "InceptionV3", "I3D", "FeatureToMel", "MultiWindowMelDiscriminator", "VarietySound",
           "AudioCLIPEncoder", "SoundToVideo", "HiFiGANGenerator"]
