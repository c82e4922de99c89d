"""The bundled VarietySound checkpoint and examples: `avgen v2s` works out of the box."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from avgen.cli import EXAMPLE_V2S_REFERENCE, EXAMPLE_V2S_VIDEO
from avgen.data.foley import FoleySettings, build_benchmark
from avgen.generate import DEFAULT_V2S_CHECKPOINT, VideoToSoundPipeline
from avgen.media import probe, read_audio
from avgen.metrics.audio import audio_onsets

ASSETS = os.path.dirname(EXAMPLE_V2S_VIDEO)


def test_bundled_checkpoint_is_small_fp16_and_documented():
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(DEFAULT_V2S_CHECKPOINT) for f in files)
    assert size < 10e6
    with open(os.path.join(DEFAULT_V2S_CHECKPOINT, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["task"] == "varietysound" and cfg["data"]["visual"]["backbone"] == "efficientnet-lite0"
    assert cfg["data"]["motion"]["name"] == "pixel-grid-local"  # the kind its temporal encoder was trained on
    made = open(os.path.join(DEFAULT_V2S_CHECKPOINT, "MADE_WITH.md")).read()
    assert "configs/varietysound/foley_transfer.yaml" in made and "tools/make_foley.py" in made
    # every training recording is listed with its source and a licence from the permissive set it was drawn from
    with open(os.path.join(DEFAULT_V2S_CHECKPOINT, "training_recordings.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) >= 200 and len({r["recording"] for r in rows}) == len(rows)
    assert {r["licence"] for r in rows} <= {"CC0", "MIT", "Expat", "CC-BY-3.0"}
    assert all(len(r["source_sha256"]) == 64 and r["package"] and r["source_file"] for r in rows)


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


def _band_centroid(wav: np.ndarray, sample_rate: int) -> float:
    """Power-weighted mean frequency within the mel preset's band (125-7600 Hz), over the whole track."""
    power = np.abs(np.fft.rfft(wav.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(wav.size, 1 / sample_rate)
    band = (freqs >= 125) & (freqs <= 7600)
    return float((freqs[band] * power[band]).sum() / power[band].sum())


def test_bundled_model_output_follows_the_references_spectrum():
    """A bass drum and a closed hi-hat as references on the same video: the outputs' spectral centroids follow the
    references' (bass ~150 Hz, hi-hat ~4.5 kHz). Measured 2026-12-04: outputs 174 Hz and 4734 Hz (ratio 27); the
    previous default, whose timbre did not follow new references, gave 1167 Hz and 1194 Hz (ratio 1.02)."""
    pipe = VideoToSoundPipeline.from_pretrained(device="cpu")
    low, high = (pipe(EXAMPLE_V2S_VIDEO, os.path.join(ASSETS, "foley", f"{name}.flac"), seed=0)
                 for name in ("bd_808", "drum_cymbal_closed"))
    c_low, c_high = (_band_centroid(r.waveform[0].numpy(), r.sample_rate) for r in (low, high))
    assert c_low < 600 and c_high > 2500 and c_high / c_low > 5, (c_low, c_high)


@pytest.mark.xfail(strict=True, reason="known weakness of the bundled model (docs/varietysound.md, 'Results of the "
                   "bundled checkpoint'): with the 808 bass drum as reference it makes a near-continuous sound")
def test_bundled_model_keeps_quiet_between_events_with_a_bass_drum_reference(tmp_path):
    """A 3 s flat-shapes clip with two impacts and the 808 bass drum as its reference (seed 1). Level contrast: the
    loudest 50 ms frame above the median frame. Measured 2026-12-04: the clip's own track 39.6 dB, the previous
    default 25.5 dB, the bundled model 5.1 dB (a drone with two bumps). Passing (strict xfail) means the weakness is
    gone: drop the mark."""
    build_benchmark(str(tmp_path), train=0, valid=0, test=1, seed=1, settings=FoleySettings(seconds=3.0, max_events=3),
                    progress=False)
    row = json.loads((tmp_path / "test" / "manifest.jsonl").read_text().splitlines()[0])
    assert row["sound"] == "bd_808" and len(row["events"]) == 2
    pipe = VideoToSoundPipeline.from_pretrained(device="cpu")
    result = pipe(str(tmp_path / "test" / f"{row['id']}.mp4"), str(tmp_path / "test" / row["reference"]), seed=0)
    wav = result.waveform[0].numpy()
    hop = result.sample_rate // 20
    frames = wav[: wav.size // hop * hop].reshape(-1, hop)  # [T, 50 ms]
    level = 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(1)) + 1e-9)
    assert level.max() - np.median(level) > 15, level.round(1)
