"""tools/upgrade_checkpoint.py: a folder of the earlier layout becomes the current convention with the same bytes."""

import hashlib
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file

from avgen.checkpoints import read_config
from avgen.pipelines.video_to_sound import VideoToSoundPipeline
from avgen.typed_config import to_dict

from .conftest import REPO
from .test_checkpoints import TINY


def _legacy_v2s(folder):
    """A ``task: varietysound`` final/ folder as training wrote it before the checkpoint convention."""
    torch.manual_seed(0)
    g = TINY["VarietySound"]()
    os.makedirs(folder)
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, os.path.join(folder, "generator.safetensors"))
    model = {k: v for k, v in to_dict(g.config).items() if not k.startswith("ablate_")}
    model["ablate"] = {"background": "zeros"}
    cfg = {"task": "varietysound", "model": model, "feature_dim": 6, "n_mels": 80,
           "data": {"fps": 21.5, "visual": {"backbone": "efficientnet-lite0"}, "mel": {"name": "specvqgan"},
                    "segment_seconds": 2.0}}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f)
    return g


def test_upgrade_moves_the_weights_and_loads_the_same_model(tmp_path):
    folder = str(tmp_path / "final")
    g = _legacy_v2s(folder)
    digest = hashlib.sha256(open(os.path.join(folder, "generator.safetensors"), "rb").read()).hexdigest()
    before = VideoToSoundPipeline.from_pretrained(folder, device="cpu")
    tool = [sys.executable, os.path.join(REPO, "tools", "upgrade_checkpoint.py"), folder]
    r = subprocess.run(tool, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "VideoToSoundPipeline" in r.stdout, r.stderr
    cfg = read_config(folder)
    assert cfg["class"] == "VideoToSoundPipeline" and cfg["components"] == {"generator": "generator"}
    assert cfg["data"]["fps"] == 21.5 and not os.path.exists(os.path.join(folder, "generator.safetensors"))
    moved = open(os.path.join(folder, "generator", "model.safetensors"), "rb").read()
    assert hashlib.sha256(moved).hexdigest() == digest
    after = VideoToSoundPipeline.from_pretrained(folder, device="cpu")
    assert after.generator.config == before.generator.config and after.generator.ablate == {"background": "zeros"}
    for k, v in g.state_dict().items():
        assert torch.equal(after.generator.state_dict()[k], v)
    r = subprocess.run(tool, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "already current" in r.stdout
    r = subprocess.run(tool[:2] + [str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such checkpoint folder" in r.stderr
