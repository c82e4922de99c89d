"""The bundled VarietySound checkpoint and examples: `avgen v2s` works out of the box."""

import json
import os
import subprocess
import sys

import numpy as np

from avgen.cli import EXAMPLE_V2S_REFERENCE, EXAMPLE_V2S_VIDEO
from avgen.generate import DEFAULT_V2S_CHECKPOINT, VideoToSoundPipeline
from avgen.media import probe, read_audio
from avgen.metrics.audio import audio_onsets


def test_bundled_checkpoint_is_small_fp16_and_documented():
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(DEFAULT_V2S_CHECKPOINT) for f in files)
    assert size < 10e6
    with open(os.path.join(DEFAULT_V2S_CHECKPOINT, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["task"] == "varietysound" and cfg["data"]["visual"]["backbone"] == "efficientnet-lite0"
    made = open(os.path.join(DEFAULT_V2S_CHECKPOINT, "MADE_WITH.md")).read()
    assert "configs/varietysound/foley_small.yaml" in made and "tools/make_foley.py" in made


def test_avgen_v2s_runs_on_the_bundled_example(tmp_path):
    out = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "v2s", "-o", str(out), "--device", "cpu"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "vocoder specvqgan-bridge" in r.stdout  # the neural vocoder is the default
    src, dst = probe(EXAMPLE_V2S_VIDEO), probe(out)
    assert abs(dst.video_duration - src.video_duration) < 1e-3 and dst.has_audio
    wav, sr = read_audio(out, sample_rate=22050)
    assert np.abs(wav).max() > 0.01  # not silence


def test_bundled_model_places_sounds_at_the_strikes():
    """The example's strike times are known (tools/make_example.py --foley); the generated onsets must follow."""
    pipe = VideoToSoundPipeline.from_pretrained(device="cpu")
    result = pipe(EXAMPLE_V2S_VIDEO, EXAMPLE_V2S_REFERENCE, seed=0)
    events = np.array([0.6603, 1.2303, 2.4411, 3.0477, 3.5355])
    onsets = audio_onsets(result.waveform[0].numpy(), result.sample_rate)
    assert onsets.size > 0
    err = np.abs(events[:, None] - onsets[None, :]).min(1)
    assert np.median(err) < 0.06, (onsets, err)
