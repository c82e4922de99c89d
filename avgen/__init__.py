"""avgen: a PyTorch toolkit for audio-visual generation.

Submodules: ``avgen.media`` (decode/encode), ``avgen.audio`` (mel presets, Griffin-Lim), ``avgen.encoders`` (visual
features, public feature files), ``avgen.data`` (datasets, ``prepare``), ``avgen.train`` (the shared engine),
``avgen.models`` (networks; torch/einops only).
"""

__version__ = "0.1.0"

from .errors import AvgenError, ConfigError, MediaError, WeightsNotFoundError  # noqa: E402

__all__ = ["__version__", "AvgenError", "ConfigError", "MediaError", "WeightsNotFoundError"]
