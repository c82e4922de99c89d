"""Generation pipelines: a trained model folder in, media out. One class per task, each with ``from_pretrained`` /
``save_pretrained``, typed keyword-only options and an explicit ``torch.Generator`` or seed. The public functions
(``video_to_sound``, ``sound_to_video``, ``edit_video``) live in :mod:`avgen.generate`."""

from .sound_to_video import DEFAULT_S2V_CHECKPOINT, S2VResult, SoundToVideoPipeline
from .specvqgan import SpecVQGANPipeline
from .video_editing import EditResult, VideoEditingPipeline
from .video_to_sound import DEFAULT_V2S_CHECKPOINT, V2SResult, VideoToSoundPipeline, load_vocoder

__all__ = ["DEFAULT_V2S_CHECKPOINT", "V2SResult", "VideoToSoundPipeline", "load_vocoder", "DEFAULT_S2V_CHECKPOINT",
           "S2VResult", "SoundToVideoPipeline", "EditResult", "VideoEditingPipeline", "SpecVQGANPipeline"]
