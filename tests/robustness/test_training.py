"""Training refuses bad settings up front, resumes past a damaged (truncated, empty or hostile) checkpoint, cleans
interrupted saves, refuses damaged or non-finite cache items naming the file, stops on a non-finite loss instead of
stepping, writes a checkpoint on SIGINT and SIGTERM and exports ``final/`` as the umask says."""

import os
import shutil
import stat

import pytest
import torch

from avgen.checkpoints import CheckpointError, save_pretrained
from avgen.errors import AvgenError, ConfigError
from avgen.models.v2s.feature2mel import FeatureToMel
from avgen.train.checkpoint import load_checkpoint
from avgen.train.config import load_config
from avgen.train.engine import train

from tests.helpers.tiny_cache import make_tiny_cache
from tests.train.test_engine import CONFIG, TINY, cache  # noqa: F401  (the shared tiny prepare cache)

from .conftest import assert_one_line_error


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
    ("optim_g.betas=[-0.1,0.9]", "optim_g.betas: must be two numbers in"),
    ("ema_decay=1.5", "ema_decay: must be in"),
])
def test_bad_settings_are_refused_before_any_work(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(CONFIG, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "empty", "hostile"])
def test_resume_skips_a_damaged_checkpoint_and_removes_stale_temporaries(tmp_path, cache, capsys, bad,  # noqa: F811
                                                                          damage):
    run = tmp_path / "run"
    base = TINY + [f"data.path={cache}", f"run_dir={run}", "ckpt_every=1"]
    train(load_config(CONFIG, base + ["max_steps=2"]), cpu=True)
    ckpts = run / "checkpoints"
    newest = ckpts / "step_00000002.pt"
    if damage == "truncated":
        newest.write_bytes(newest.read_bytes()[:100])
    elif damage == "empty":
        newest.write_bytes(b"")
    else:  # a torch zip whose pickle would create a file when unpickled without weights_only
        shutil.copy(bad["hostile_pt"], newest)
    (ckpts / ".step_00000003.pt.abc123.tmp.pt").write_bytes(b"partial")  # an interrupted save
    (ckpts / "step_00000003.pt.tmp4242").write_bytes(b"partial")  # the earlier temporary naming
    first = os.stat(ckpts / "step_00000001.pt")
    capsys.readouterr()
    result = train(load_config(CONFIG, base + ["max_steps=3"]), cpu=True)
    err = capsys.readouterr().err
    assert result["step"] == 3
    warnings = [ln for ln in err.splitlines() if "step_00000002.pt" in ln]
    assert len(warnings) == 1 and "not a readable training checkpoint" in warnings[0], err
    assert "weights_only" not in err and "Traceback" not in err
    assert f"resumed from {ckpts / 'step_00000001.pt'} at step 1" in err  # the older one, not a fresh start
    again = os.stat(ckpts / "step_00000001.pt")
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # step 1 was not redone
    assert not any(n.startswith(".") or ".tmp" in n for n in os.listdir(ckpts))
    assert load_checkpoint(str(ckpts / "step_00000003.pt"))["step"] == 3
    assert load_checkpoint(str(ckpts / "step_00000002.pt"))["step"] == 2  # redone from step 1 and rewritten
    assert not os.path.exists(bad["marker"])


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


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_writes_a_checkpoint_then_stops(tmp_path, cache, signame, capsys):  # noqa: F811
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler's stop) mid-run, before the first ckpt_every: the step finishes, a
    checkpoint is written, exit 128 + the signal's number (130, 143) without a traceback; the same command resumes
    from it."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    overrides = [*TINY, f"data.path={cache}", f"run_dir={run}", "ckpt_every=100000", "sample_every=100000"]
    proc = subprocess.Popen([sys.executable, "-m", "avgen.cli", "train", "--cpu", "--config", CONFIG, *overrides,
                             "max_steps=100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "tb").exists() and time.time() < deadline:  # the loop has started
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + getattr(signal, signame), err[-2000:]
    assert f"{signame} at step" in err and "Traceback" not in err
    saved = sorted(os.listdir(run / "checkpoints"))
    assert len(saved) == 1 and not (run / "final").exists()
    step = load_checkpoint(str(run / "checkpoints" / saved[0]))["step"]
    assert step >= 1
    capsys.readouterr()
    result = train(load_config(CONFIG, overrides + [f"max_steps={step + 1}"]), cpu=True)
    assert result["step"] == step + 1
    assert f"resumed from {run / 'checkpoints' / saved[0]} at step {step}" in capsys.readouterr().err


def _damaged_cache(root, damage: str) -> str:
    """The tiny cache with item 3 damaged: truncated, not safetensors at all, a NaN feature or an inf mel value."""
    from safetensors.numpy import load_file, save_file

    folder = make_tiny_cache(str(root))
    item = os.path.join(folder, "items", "k3.safetensors")
    if damage == "truncated":
        data = open(item, "rb").read()
        open(item, "wb").write(data[: len(data) // 2])
    elif damage == "pickle":
        shutil.copyfile(os.path.join(os.path.dirname(folder), "hostile.pkl"), item)
    else:
        t = load_file(item)
        if damage == "nan-feature":
            t["features"][12, 3] = float("nan")
        else:
            t["mel"][5, 40] = float("inf")
        save_file(t, item)
    return folder


DAMAGED = [("truncated", "not a readable cache item"), ("pickle", "not a readable cache item"),
           ("nan-feature", "(features): 1 non-finite value(s) (NaN/inf), the first at frame 12"),
           ("inf-mel", "(mel): 1 non-finite value(s) (NaN/inf), the first at mel frame 40")]


# every damage in the training process, and one from a DataLoader worker (whose error torch wraps in its traceback)
DAMAGE_CASES = [(0, *d) for d in DAMAGED] + [(1, *DAMAGED[2])]


@pytest.mark.parametrize("workers, damage, needle", DAMAGE_CASES, ids=[f"{d[1]}-workers{d[0]}" for d in DAMAGE_CASES])
def test_a_damaged_or_non_finite_cache_item_is_named(run_cli, bad, tmp_path, damage, needle, workers):
    """A cache item that does not load or holds NaN/inf stops training with one line naming the item file (also
    from a DataLoader worker process), exit 2, before any step uses it; nothing is exported."""
    shutil.copy(bad["hostile_pkl"], tmp_path / "hostile.pkl")
    damaged = _damaged_cache(tmp_path / "cache", damage)
    run = tmp_path / "run"
    res = run_cli(["train", "--cpu", "--config", CONFIG, *TINY, f"data.path={damaged}", f"run_dir={run}",
                   "max_steps=8", "data.batch_size=8", f"data.num_workers={workers}", "--quiet"], writes_in=str(run))
    assert_one_line_error(res, os.path.join(damaged, "items", "k3.safetensors"), needle)
    assert "Traceback" not in res.stderr and "Original" not in res.stderr
    assert not (run / "final").exists() and not os.path.exists(bad["marker"])


def test_final_and_checkpoints_follow_the_umask(tmp_path, cache):  # noqa: F811
    """``final/`` (weights and configs) and the checkpoints are created as the umask says, not 0600."""
    old = os.umask(0o027)
    try:
        train(load_config(CONFIG, TINY + [f"data.path={cache}", f"run_dir={tmp_path / 'run'}", "max_steps=1"]),
              cpu=True, quiet=True)
    finally:
        os.umask(old)
    files = [os.path.join(d, n) for sub in ("final", "checkpoints")
             for d, _, names in os.walk(tmp_path / "run" / sub) for n in names]
    assert files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o640 for f in files), \
        {f: oct(stat.S_IMODE(os.stat(f).st_mode)) for f in files}


@pytest.mark.parametrize("damage, needle", [("broken-weights", "not a readable safetensors file"),
                                            ("empty-folder", "empty folder"), ("a-file", "not a model folder")])
def test_a_bad_init_from_is_one_line(run_cli, bad, tmp_path, cache, damage, needle):  # noqa: F811
    """``init_from`` a folder whose weights are not safetensors, an empty folder or a file: one line, exit 2, no
    advice to load unsafely, nothing trained or exported."""
    folder = tmp_path / "init"
    if damage == "a-file":
        folder = bad["hostile_pt"]
    elif damage == "broken-weights":
        save_pretrained(FeatureToMel(feature_dim=16, hidden=16, num_layers=1), folder)
        shutil.copyfile(bad["bad_safetensors"], folder / "model.safetensors")
    else:
        folder.mkdir()
    run = tmp_path / "run"
    res = run_cli(["train", "--cpu", "--config", CONFIG, *TINY, f"data.path={cache}", f"run_dir={run}",
                   "max_steps=2", f"init_from={folder}", "--quiet"])
    assert_one_line_error(res, "error: init_from: ", needle)
    assert "weights_only" not in res.stderr and not (run / "final").exists()
    assert not os.path.exists(bad["marker"])
