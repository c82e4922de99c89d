"""Build a small `avgen prepare`-format cache from seeded random tensors (for engine tests)."""

import json
import os

import numpy as np
from safetensors.numpy import save_file


def make_tiny_cache(root: str, n_items: int = 8, feature_dim: int = 16, seconds: float = 2.0, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "items"), exist_ok=True)
    fps, mel_fps = 21.5, 22050 / 256
    settings = {"version": 1, "fps": fps, "clip_seconds": None,
                "mel": {"name": "specvqgan", "sample_rate": 22050, "hop_length": 256, "n_mels": 80},
                "visual": {"backbone": "random", "feature_dim": feature_dim}}
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump(settings, f)
    lines = []
    for i in range(n_items):
        feats = rng.standard_normal((round(seconds * fps), feature_dim)).astype(np.float32)
        mel = rng.uniform(0, 1, (80, round(seconds * mel_fps))).astype(np.float32)
        save_file({"features": feats, "mel": mel}, os.path.join(root, "items", f"k{i}.safetensors"))
        lines.append(json.dumps({"id": f"clip{i}", "label": None, "file": f"items/k{i}.safetensors"}))
    with open(os.path.join(root, "index.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root
