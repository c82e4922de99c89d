import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from avgen.errors import ConfigError
from avgen.train.checkpoint import latest_checkpoint, load_checkpoint
from avgen.train.config import TrainConfig, load_config
from avgen.train.engine import train

from ..conftest import REPO
from ..helpers.tiny_cache import make_tiny_cache

CONFIG = os.path.join(REPO, "configs", "baseline", "feature2mel.yaml")
TINY = ["model.hidden=16", "model.num_layers=1", "model.window_hidden=8", "model.window_lengths=[16,32,64]",
        "data.batch_size=2", "data.num_workers=0", "data.segment_seconds=1.0", "loss.lambda_adv=0.1",
        "log_every=1", "sample_every=2", "keep_checkpoints=10"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_tiny_cache(str(tmp_path_factory.mktemp("cache")))


def test_config_validation(tmp_path):
    cfg = load_config(CONFIG, ["max_steps=5", "optim_g.lr=1e-3", "data.split=null"])
    assert isinstance(cfg, TrainConfig) and cfg.max_steps == 5 and cfg.optim_g.lr == 1e-3
    assert cfg.optim_g.betas == (0.5, 0.9)
    with pytest.raises(ConfigError, match="optim_g.lrr"):
        load_config(CONFIG, ["optim_g.lrr=1"])
    with pytest.raises(ConfigError, match="max_steps: expected an integer"):
        load_config(CONFIG, ["max_steps=lots"])
    with pytest.raises(ConfigError, match="mixed_precision"):
        load_config(CONFIG, ["mixed_precision=fp8"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(CONFIG, ["max_steps"])
    with pytest.raises(ConfigError, match="model.hiden"):
        train(load_config(CONFIG, ["model.hiden=3", f"run_dir={tmp_path}", f"data.path={tmp_path}"]), cpu=True)


def test_single_process_trains_logs_and_exports(tmp_path, cache):
    run = tmp_path / "run"
    cfg = load_config(CONFIG, TINY + [f"data.path={cache}", f"run_dir={run}", "max_steps=4", "ckpt_every=2",
                                      "grad_accum=2"])
    result = train(cfg, cpu=True)
    assert result["step"] == 4 and "g/mel_l1" in result["logs"] and "d/loss" in result["logs"]
    assert sorted(os.listdir(run / "checkpoints")) == ["step_00000002.pt", "step_00000004.pt"]
    assert yaml.safe_load((run / "config.yaml").read_text())["max_steps"] == 4
    assert (run / "final" / "model.safetensors").exists() and (run / "final" / "config.json").exists()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "audio": 0}).Reload()
    assert "g/mel_l1" in ev.Tags()["scalars"]
    assert "mel/generated" in ev.Tags()["images"] and "audio/generated" in ev.Tags()["audio"]
    # EMA weights are exported, and differ from the raw generator
    state = load_checkpoint(latest_checkpoint(str(run)))
    final = load_file(run / "final" / "model.safetensors")
    assert all(torch.equal(final[k], state["ema"][k]) for k in final)
    assert any(not torch.equal(state["ema"][k], state["generator"][k]) for k in final if final[k].is_floating_point())


def test_resume_continues_from_saved_step(tmp_path, cache):
    run = tmp_path / "run"
    base = TINY + [f"data.path={cache}", f"run_dir={run}", "ckpt_every=3"]
    train(load_config(CONFIG, base + ["max_steps=3"]), cpu=True)
    saved = load_checkpoint(latest_checkpoint(str(run)))
    assert saved["step"] == 3
    result = train(load_config(CONFIG, base + ["max_steps=6"]), cpu=True)
    assert result["step"] == 6
    assert sorted(os.listdir(run / "checkpoints")) == ["step_00000003.pt", "step_00000006.pt"]
    resumed = load_checkpoint(latest_checkpoint(str(run)))
    # optimizer state continued: Adam's step counter went from 3 to 6, not restarted at 3
    step_counts = {int(s["step"]) for s in resumed["opt_g"]["state"].values()}
    assert step_counts == {6}
    # an interrupted save (leftover temporary file) is ignored and never picked as "latest"
    (run / "checkpoints" / "step_00000009.pt.tmp123").write_bytes(b"partial")
    assert latest_checkpoint(str(run)).endswith("step_00000006.pt")
    # a resumed run takes its learning rate from the config, not from the saved optimizer
    assert {g["lr"] for g in resumed["opt_g"]["param_groups"]} == {load_config(CONFIG, base).optim_g.lr}
    train(load_config(CONFIG, base + ["max_steps=9", "optim_g.lr=1.0e-5"]), cpu=True)
    again = load_checkpoint(latest_checkpoint(str(run)))
    assert again["step"] == 9 and {g["lr"] for g in again["opt_g"]["param_groups"]} == {1.0e-5}
    assert {int(s["step"]) for s in again["opt_g"]["state"].values()} == {9}


@pytest.mark.slow
def test_two_process_accelerate_replicas_identical(tmp_path, cache):
    run = tmp_path / "run"
    prefix = str(tmp_path / "weights")
    # accelerate's own --cpu flag starts a single process; --multi_gpu starts torchrun's 2 workers and the engine's
    # cpu=True makes them a gloo process group.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "tests.helpers.train_and_dump", CONFIG, prefix,
           *TINY, f"data.path={cache}", f"run_dir={run}", "max_steps=4", "ckpt_every=2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    w0, w1 = load_file(prefix + "_rank0.safetensors"), load_file(prefix + "_rank1.safetensors")
    assert w0.keys() == w1.keys() and any(k.startswith("D.") for k in w0)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # the replicas trained: weights moved away from the seeded initialisation saved at step 2
    step2 = load_checkpoint(str(run / "checkpoints" / "step_00000002.pt"))
    assert any(not torch.equal(step2["generator"][k], w0["G." + k]) for k in step2["generator"])
    # resume across processes continues from step 4
    cmd[cmd.index("max_steps=4")] = "max_steps=6"
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout + r.stderr and "step_00000004.pt" in r.stdout + r.stderr
    assert load_checkpoint(latest_checkpoint(str(run)))["step"] == 6
    w0, w1 = load_file(prefix + "_rank0.safetensors"), load_file(prefix + "_rank1.safetensors")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)


VS_CONFIG = os.path.join(REPO, "configs", "varietysound", "foley_small.yaml")
VS_TINY = ["model.temporal_channels=8", "model.temporal_layers=2", "model.temporal_lstm=8", "model.sgau_units=2",
           "model.sgau_channels=8", "model.timbre_lstm=8", "model.background_lstm=4", "model.decoder_hidden=8",
           "model.decoder_blocks=1", "model.decoder_filters=8", "model.up_channels=8", "model.align_up_channels=8",
           "model.align_channels=8", "model.window_hidden=8", "model.window_lengths=[16,32,64]",
           "data.batch_size=2", "data.num_workers=0", "data.segment_seconds=1.0", "log_every=1", "sample_every=2",
           "keep_checkpoints=10"]


def test_varietysound_configs_validate():
    for name in ("vas.yaml", "foley_small.yaml"):
        cfg = load_config(os.path.join(REPO, "configs", "varietysound", name))
        assert cfg.task == "varietysound"
    with pytest.raises(ConfigError, match="ablate_timbre"):
        load_config(VS_CONFIG, ["model.ablate_timbre=drop"])
    with pytest.raises(ConfigError, match="model.nonsense"):
        load_config(VS_CONFIG, ["model.nonsense=1"])


def test_varietysound_task_trains_exports_and_ablates(tmp_path, cache):
    run = tmp_path / "run"
    result = train(load_config(VS_CONFIG, VS_TINY + [f"data.path={cache}", f"run_dir={run}", "max_steps=3",
                                                     "ckpt_every=3"]), cpu=True)
    assert result["step"] == 3 and {"g/mel_mse", "g/adv", "d/loss"} <= set(result["logs"])
    assert result["discriminator"].alignment is not None and result["discriminator"].window is not None
    import json

    meta = json.loads((run / "final" / "config.json").read_text())
    assert meta["task"] == "varietysound" and meta["data"]["fps"] == 21.5 and meta["data"]["segment_seconds"] == 1.0
    # ablation switches reach the model and the discriminators; the transfer options train
    result = train(load_config(VS_CONFIG, VS_TINY + [f"data.path={cache}", f"run_dir={tmp_path / 'abl'}",
                                                     "max_steps=1", "model.ablate_timbre=zeros",
                                                     "loss.alignment_discriminator=false", "model.motion_energy=true",
                                                     "loss.reference_gain_db=6", "loss.reference_tilt_db=3",
                                                     "loss.reference_pitch_semitones=1"]), cpu=True)
    assert result["generator"].ablate == {"timbre": "zeros"} and result["discriminator"].alignment is None
    assert result["generator"].config.motion_energy  # and the augmented reference went through a training step


@pytest.mark.slow
def test_varietysound_two_process_accelerate_trains_and_resumes(tmp_path, cache):
    run = tmp_path / "run"
    prefix = str(tmp_path / "weights")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "tests.helpers.train_and_dump", VS_CONFIG,
           prefix, *VS_TINY, f"data.path={cache}", f"run_dir={run}", "max_steps=2", "ckpt_every=2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    w0, w1 = load_file(prefix + "_rank0.safetensors"), load_file(prefix + "_rank1.safetensors")
    # parameters stay identical; BatchNorm running statistics are per process between forwards (DDP broadcasts
    # rank 0's at every forward, and checkpoints/exports are written by rank 0)
    differ = [k for k in w0 if not torch.equal(w0[k], w1[k])]
    assert all(k.endswith(("running_mean", "running_var")) for k in differ), differ
    cmd[cmd.index("max_steps=2")] = "max_steps=4"
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "step_00000002.pt" in r.stdout + r.stderr and load_checkpoint(latest_checkpoint(str(run)))["step"] == 4
