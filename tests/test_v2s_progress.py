"""Single v2s runs show one progress bar per stage on stderr when asked, and nothing when not."""

import numpy as np
import torch

from avgen.generate import VideoToSoundPipeline
from avgen.models.v2s.varietysound import VarietySound

from .robustness.test_memory_bound import TINY


def test_stage_bars_on_stderr_only_when_asked(capsys):
    torch.manual_seed(0)
    pipe = VideoToSoundPipeline(VarietySound(**TINY), {"data": {"fps": 21.5}}, device="cpu", vocoder="griffin-lim")
    frames = np.random.default_rng(0).integers(0, 256, (20, 48, 64, 3), dtype=np.uint8)
    reference = np.random.default_rng(1).standard_normal(22050).astype(np.float32) * 0.1
    capsys.readouterr()
    pipe(frames, reference, video_fps=20.0, reference_sample_rate=22050, progress=True)
    err = capsys.readouterr().err
    for stage in ("v2s features", "v2s synthesis", "v2s vocoder"):
        assert stage in err, err
    assert "21/21" in err  # every model-rate frame counted (1 s at 21.5 fps)
    quiet = pipe(frames, reference, video_fps=20.0, reference_sample_rate=22050, progress=False)
    assert capsys.readouterr().err == ""
    assert quiet.waveform.shape == (1, 22050)
