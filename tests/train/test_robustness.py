"""Training refuses bad settings up front, resumes past a damaged checkpoint, cleans interrupted saves and stops on a
non-finite loss instead of stepping."""

import os

import pytest
import torch

from avgen.checkpoints import CheckpointError, save_pretrained
from avgen.errors import AvgenError, ConfigError
from avgen.models.v2s.feature2mel import FeatureToMel
from avgen.train.checkpoint import load_checkpoint
from avgen.train.config import load_config
from avgen.train.engine import train

from .test_engine import CONFIG, TINY, cache  # noqa: F401  (the shared tiny prepare cache)


@pytest.mark.parametrize("override, message", [
    ("keep_checkpoints=0", "keep_checkpoints: must be at least 1"),
    ("ckpt_every=0", "ckpt_every: must be at least 1"),
    ("max_steps=-5", "max_steps: must be at least 1"),
    ("grad_accum=0", "grad_accum: must be at least 1"),
    ("data.batch_size=0", "data.batch_size: must be at least 1"),
    ("data.segment_seconds=-1", "data.segment_seconds: must be a positive"),
    ("optim_g.lr=-1e-4", "optim_g.lr: must be a finite"),
    ("optim_g.lr=.nan", "optim_g.lr: must be a finite"),
    ("optim_d.betas=[0.5,1.0]", "optim_d.betas: must be two numbers in"),
    ("ema_decay=1.5", "ema_decay: must be in"),
])
def test_bad_settings_are_refused_before_any_work(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(CONFIG, [override])
    assert "\n" not in str(info.value)


def test_resume_skips_a_damaged_checkpoint_and_removes_stale_temporaries(tmp_path, cache, capsys):  # noqa: F811
    run = tmp_path / "run"
    base = TINY + [f"data.path={cache}", f"run_dir={run}", "ckpt_every=1"]
    train(load_config(CONFIG, base + ["max_steps=2"]), cpu=True)
    ckpts = run / "checkpoints"
    (ckpts / "step_00000002.pt").write_bytes((ckpts / "step_00000002.pt").read_bytes()[:100])  # truncated
    (ckpts / ".step_00000003.pt.abc123.tmp.pt").write_bytes(b"partial")  # an interrupted save
    (ckpts / "step_00000003.pt.tmp4242").write_bytes(b"partial")  # the earlier temporary naming
    capsys.readouterr()
    result = train(load_config(CONFIG, base + ["max_steps=3"]), cpu=True)
    err = capsys.readouterr().err
    assert result["step"] == 3
    assert "step_00000002.pt: not a readable training checkpoint" in err and "weights_only=False" not in err
    assert not any(n.startswith(".") or ".tmp" in n for n in os.listdir(ckpts))
    assert load_checkpoint(str(ckpts / "step_00000003.pt"))["step"] == 3
    assert load_checkpoint(str(ckpts / "step_00000002.pt"))["step"] == 2  # redone from step 1 and rewritten


def test_a_non_finite_loss_stops_training_without_stepping_or_exporting(tmp_path, cache):  # noqa: F811
    run = tmp_path / "run"
    cfg = load_config(CONFIG, TINY + [f"data.path={cache}", f"run_dir={run}", "max_steps=6", "ckpt_every=100",
                                      "optim_g.lr=1e30", "grad_clip=null", "ema_decay=null", "loss.lambda_adv=0"])
    with pytest.raises(AvgenError, match=r"step \d+: the generator loss is (nan|inf).*batch items") as info:
        train(cfg, cpu=True)
    assert "\n" not in str(info.value)
    assert not (run / "final").exists()


def test_non_finite_weights_are_never_written(tmp_path):
    m = FeatureToMel(feature_dim=4, hidden=8, num_layers=1)
    with torch.no_grad():
        m.proj.bias.fill_(float("inf"))
    with pytest.raises(CheckpointError, match="refusing to write non-finite weights"):
        save_pretrained(m, tmp_path / "m")
    assert not (tmp_path / "m" / "model.safetensors").exists()


def test_ctrl_c_writes_a_checkpoint_then_stops(tmp_path, cache):  # noqa: F811
    """SIGINT mid-run (before the first ckpt_every) finishes the step, writes a checkpoint and exits 130; the same
    command resumes from it."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = [sys.executable, "-m", "avgen.cli", "train", "--cpu", "--config", CONFIG, *TINY, f"data.path={cache}",
            f"run_dir={run}", "max_steps=100000", "ckpt_every=100000", "sample_every=100000"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "tb").exists() and time.time() < deadline:  # the loop has started
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "SIGINT at step" in err and "Traceback" not in err
    saved = sorted(os.listdir(run / "checkpoints"))
    assert len(saved) == 1 and not (run / "final").exists()
    step = load_checkpoint(str(run / "checkpoints" / saved[0]))["step"]
    assert step >= 1
