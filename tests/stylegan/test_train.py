"""StyleGAN2 training through the shared engine on a tiny real image folder: the FID-like curve falls, a killed run
resumes, the export loads with stylegan.load; plus the loss pieces (DiffAugment, lazy R1, path length)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import stylegan
from tests.conftest import REPO, sample_ids


@pytest.fixture(scope="module")
def frame_folder(shared_samples, tmp_path_factory):
    """6 frames from each of the real VGGSound clips, as PNGs (made at test time, never committed)."""
    from PIL import Image

    from avgen import media

    out = tmp_path_factory.mktemp("frames")
    for vid in sample_ids(shared_samples):
        frames, _ = media.read_video(os.path.join(shared_samples, "video", vid + ".mp4"), size=64)
        for i in np.linspace(0, len(frames) - 1, 6).astype(int):
            Image.fromarray(frames[i]).save(out / f"{vid}_{i:03d}.png")
    return out


def _config(tmp_path, data, run_dir, max_steps):
    cfg = f"""
task: stylegan2
run_dir: {run_dir}
seed: 0
max_steps: {max_steps}
grad_clip: null
ema_decay: 0.9
ckpt_every: 20
sample_every: 20
log_every: 5
data: {{kind: images, path: {data}, resolution: 16, batch_size: 8, xflip: true}}
optim_g: {{lr: 0.005, betas: [0.0, 0.99]}}
optim_d: {{lr: 0.005, betas: [0.0, 0.99]}}
model: {{z_dim: 32, w_dim: 32, mapping_layers: 2, channel_base: 512, channel_max: 32}}
loss: {{r1_gamma: 0.1, r1_interval: 4, pl_weight: 1.0, pl_interval: 2, eval_samples: 64, eval_real: 72}}
"""
    path = tmp_path / "sg.yaml"
    path.write_text(cfg)
    return path


@pytest.mark.slow
def test_train_falls_resumes_after_kill_and_exports(frame_folder, tmp_path):
    run_dir = tmp_path / "run"
    cfg = _config(tmp_path, frame_folder, run_dir, 40)
    cmd = [sys.executable, "-m", "avgen.train", "--config", str(cfg), "--cpu"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = open(tmp_path / "first_run.log", "w")  # a file, not a pipe: a full pipe would stall the trainer
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    first_ckpt = run_dir / "checkpoints" / "step_00000020.pt"
    deadline = time.time() + 600  # as the resumed run's timeout: a 2-core box shared with other jobs is slow
    while not first_ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # let the atomic rename land, then kill hard mid-run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    assert first_ckpt.exists(), (tmp_path / "first_run.log").read_text()[-2000:]
    assert not (run_dir / "final").exists()

    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout + r.stderr
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    fids = {row["step"]: row["metrics/fid_effnet"] for row in rows}
    assert max(fids) == 40
    assert fids[40] < fids[min(fids)], fids  # the FID-like distance falls over the run
    G = stylegan.load(run_dir / "final")
    with torch.no_grad():
        img = G(torch.randn(2, 32), None)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_diff_augment_is_differentiable_and_seeded():
    from avgen.train.tasks.stylegan2 import diff_augment

    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    a = diff_augment(x, "color,translation,cutout", torch.Generator().manual_seed(0))
    b = diff_augment(x, "color,translation,cutout", torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    a.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    cut = diff_augment(torch.ones(8, 1, 16, 16), "cutout", torch.Generator().manual_seed(1))
    assert ((cut == 0).float().mean(dim=[1, 2, 3]) > 0).all()  # every image lost a patch
    with pytest.raises(Exception, match="unknown augmentation"):
        diff_augment(x, "rotate", torch.Generator())


def test_lazy_r1_and_path_length_terms(tmp_path):
    """R1 appears every r1_interval D steps; the path-length term every pl_interval G steps."""
    from PIL import Image

    from avgen.train.config import load_config
    from avgen.train.tasks import get_task
    from avgen.data.images import ImageFolderDataset

    for i in range(4):
        Image.fromarray((np.random.RandomState(i).rand(20, 24, 3) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    cfg_path = _config(tmp_path, tmp_path, tmp_path / "run", 4)
    cfg = load_config(str(cfg_path))
    task = get_task("stylegan2")(cfg, feature_dim=0, n_mels=0)
    G, D = task.build_generator(), task.build_discriminator()
    ds = ImageFolderDataset(str(tmp_path), resolution=16)
    batch = {"image": torch.stack([ds[i]["image"] for i in range(4)])}
    seen_r1 = [("d/r1_penalty" in task.discriminator_loss(batch, G, D)[1]) for _ in range(8)]
    assert seen_r1 == [False, False, False, True] * 2
    seen_pl = [("g/pl_penalty" in task.generator_loss(batch, G, D)[1]) for _ in range(4)]
    assert seen_pl == [False, True, False, True]
