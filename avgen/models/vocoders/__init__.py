"""Mel -> waveform networks."""

from .hifigan import HiFiGANDiscriminators, HiFiGANGenerator

__all__ = ["HiFiGANGenerator", "HiFiGANDiscriminators"]
