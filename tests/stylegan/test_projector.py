"""GAN inversion: the projector recovers an image the generator can make and logs MSE and the perceptual term."""

import json
import os
import subprocess
import sys

import numpy as np
import torch

import stylegan
from avgen.encoders.perceptual import EfficientNetPerceptual
from stylegan import networks_stylegan2 as sg2
from stylegan.projector import project

from .test_checkpoints import SG2_KW


def _generator():
    torch.manual_seed(7)
    G = sg2.Generator(**SG2_KW).eval()  # default init: the mapping spreads z over W
    with torch.no_grad():  # realistic w_avg so the start point is a typical image
        G.mapping.w_avg.copy_(G.mapping(torch.randn(512, 32), None)[:, 0].mean(0))
    return G.requires_grad_(False)


def test_projection_reduces_error_on_a_generated_target():
    G = _generator()
    with torch.no_grad():
        target = G(torch.randn(1, 32, generator=torch.Generator().manual_seed(1)), None, noise_mode="const")[0]
    res = project(G, target, steps=150, lr=0.05, perceptual=0.0, latent=1e-4, progress=False)
    mses = [h["mse"] for h in res.history]
    assert res.ws.shape == (1, G.num_ws, 32)
    assert mses[-1] < 0.3 * mses[0], (mses[0], mses[-1])
    final_mse = float((res.image[0] - target).square().mean())
    assert final_mse < 0.3 * mses[0]


def test_perceptual_term_is_logged_and_projector_cli(tmp_path):
    from PIL import Image

    perc = EfficientNetPerceptual()
    a = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(perc(a, a)) < 1e-8 and float(perc(a, -a)) > 0
    G = _generator()
    res = project(G, a[0], steps=3, perceptual=1.0, perceptual_fn=perc, progress=False)
    assert all("perceptual" in h and "mse" in h for h in res.history)

    stylegan.save_pretrained(G, tmp_path / "g")
    Image.fromarray((np.random.RandomState(0).rand(40, 50, 3) * 255).astype(np.uint8)).save(tmp_path / "t.png")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "stylegan.projector", "--checkpoint", str(tmp_path / "g"), "--target",
                        str(tmp_path / "t.png"), "--out", str(tmp_path / "proj"), "--steps", "4", "--device", "cpu"],
                       capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr[-2000:]
    hist = json.loads((tmp_path / "proj" / "history.json").read_text())
    assert len(hist) == 4 and "perceptual" in hist[0]
    assert (tmp_path / "proj" / "projected.png").is_file() and (tmp_path / "proj" / "ws.safetensors").is_file()
