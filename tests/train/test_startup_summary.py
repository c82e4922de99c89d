"""Issue 19's training feedback: a start-up summary (task, device, dataset size, run directory, resume state) and a
progress bar on stderr; quiet=True / --quiet prints neither."""

import os

import pytest

from avgen.cli import main
from avgen.train.config import load_config
from avgen.train.engine import train

from ..helpers.tiny_cache import make_tiny_cache
from .test_engine import CONFIG, TINY


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_tiny_cache(str(tmp_path_factory.mktemp("cache")))


def test_summary_says_device_dataset_run_dir_and_resume_state(tmp_path, cache, capsys):
    run = tmp_path / "run"
    base = TINY + [f"data.path={cache}", f"run_dir={run}", "ckpt_every=2", "sample_every=100"]
    train(load_config(CONFIG, base + ["max_steps=2"]), cpu=True)
    err = capsys.readouterr().err
    assert "avgen train: task feature2mel on cpu (1 process(es)" in err
    assert "avgen train: dataset: " in err and f"items from {cache} (batch 2," in err
    assert f"avgen train: run directory: {run}" in err
    assert f"avgen train: fresh run (no checkpoint in {os.path.join(str(run), 'checkpoints')}), 2 steps" in err
    assert "train: 100%" in err and "2/2" in err  # the bar
    train(load_config(CONFIG, base + ["max_steps=3"]), cpu=True)
    err = capsys.readouterr().err
    assert f"avgen train: resumed from {os.path.join(str(run), 'checkpoints', 'step_00000002.pt')} at step 2 of 3" in err
    # --quiet through the CLI: neither summary nor bar, the final line still on stdout
    assert main(["train", "--config", CONFIG, "--cpu", "--quiet", *base, "max_steps=4"]) == 0
    cap = capsys.readouterr()
    assert "avgen train:" not in cap.err and "train:" not in cap.err
    assert "finished at step 4" in cap.out

