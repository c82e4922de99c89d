"""Sound -> video networks (Lee et al., ECCV 2022)."""

from .sound_inversion import AudioCLIPEncoder, SoundToVideo, VideoPatchDiscriminator

__all__ = ["AudioCLIPEncoder", "SoundToVideo", "VideoPatchDiscriminator"]
