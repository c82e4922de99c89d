"""Training tasks: one module per head, each a :class:`Task` subclass, listed in :data:`TASKS`.

A new head is a module here with a ``Task`` subclass (its ``name`` set to the config's ``task:`` value) and one line
in :data:`TASKS`; importing a module registers nothing by itself.
"""

from __future__ import annotations

from ...errors import ConfigError
from .base import Task
from .feature2mel import Feature2MelTask
from .melgan import MelGANTask
from .s2v import S2VTask
from .s2v_audio import AudioCLIPTask
from .specvqgan import SpecVQGANCodebookTask, SpecVQGANTransformerTask
from .stylegan2 import StyleGAN2Task
from .varietysound import VarietySoundTask
from .vocoder import VocoderTask

__all__ = ["Task", "TASKS", "get_task", "Feature2MelTask", "VarietySoundTask", "VocoderTask", "StyleGAN2Task",
           "S2VTask", "AudioCLIPTask", "SpecVQGANCodebookTask", "SpecVQGANTransformerTask", "MelGANTask"]

TASKS: dict[str, type[Task]] = {
    "feature2mel": Feature2MelTask,
    "varietysound": VarietySoundTask,
    "vocoder": VocoderTask,
    "stylegan2": StyleGAN2Task,
    "s2v": S2VTask,
    "s2v_audio": AudioCLIPTask,
    "specvqgan_codebook": SpecVQGANCodebookTask,
    "specvqgan_transformer": SpecVQGANTransformerTask,
    "melgan": MelGANTask,
}


def get_task(name: str) -> type[Task]:
    """The task class of a config's ``task:`` value."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task '{name}' (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]
