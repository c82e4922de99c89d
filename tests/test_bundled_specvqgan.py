"""The bundled SpecVQGAN folders (docs/specvqgan.md, "Embedded default"): small, fp16, documented, found by name,
and `avgen v2s --checkpoint NAME` makes a track from the bundled example (with its reference for the
conditioning-clip one)."""

import json
import os
import subprocess
import sys

import numpy as np

from avgen.bundled import BUNDLED_CHECKPOINTS, bundled_checkpoint
from avgen.cli import EXAMPLE_V2S_REFERENCE, EXAMPLE_V2S_VIDEO
from avgen.generate import DEFAULT_V2S_CHECKPOINT, SpecVQGANPipeline
from avgen.media import read_audio

NAMES = ("specvqgan-foley-small", "specvqgan-foley-small-reference")


def _size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def test_bundled_folders_are_small_fp16_documented_and_found_by_name(tmp_path):
    assert bundled_checkpoint("varietysound-foley-small") == DEFAULT_V2S_CHECKPOINT
    assert bundled_checkpoint(str(tmp_path)) == str(tmp_path) and bundled_checkpoint(None) is None
    folders = [BUNDLED_CHECKPOINTS[n] for n in NAMES]
    assert sum(_size(f) for f in folders) <= 15e6  # the budget for both
    for name, folder in zip(NAMES, folders):
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        assert cfg["class"] == "SpecVQGANPipeline" and cfg["data"]["visual"]["backbone"] == "efficientnet-lite0"
        assert cfg["condition_on_reference"] == name.endswith("-reference")
        made = open(os.path.join(folder, "MADE_WITH.md")).read()
        assert "configs/specvqgan/foley_codebook.yaml" in made and "tools/make_foley.py" in made
        for part in ("codebook", "transformer"):
            with open(os.path.join(folder, part, "model.safetensors"), "rb") as f:  # header: every tensor fp16
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
            assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}
    pipe = SpecVQGANPipeline.from_pretrained("specvqgan-foley-small-reference", device="cpu")
    assert pipe.conditioned and pipe.code_shape == (5, 10)


def test_avgen_v2s_runs_the_bundled_specvqgan_on_the_example(tmp_path):
    out = tmp_path / "out.wav"
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "v2s", EXAMPLE_V2S_VIDEO, "--reference",
                        EXAMPLE_V2S_REFERENCE, "--checkpoint", "specvqgan-foley-small-reference", "-o", str(out),
                        "--device", "cpu", "--vocoder", "griffin-lim"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wav, sr = read_audio(str(out), sample_rate=22050)
    assert abs(wav.shape[-1] / sr - 4.0) < 0.05 and np.abs(wav).max() > 0.01  # the clip's length, not silence
