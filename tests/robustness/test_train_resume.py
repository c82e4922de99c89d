"""``avgen train`` killed hard (SIGKILL: no handler runs, unlike Ctrl-C) after a checkpoint: the rerun of the same
command resumes from it instead of starting over, finishes and exports; the run's files stay readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers.tiny_cache import make_tiny_cache
from tests.train.test_engine import CONFIG, TINY

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_train_killed_after_a_checkpoint_resumes_from_it(tmp_path, run_cli):
    from avgen.train.checkpoint import load_checkpoint

    cache = make_tiny_cache(str(tmp_path / "cache"))
    run = tmp_path / "run"
    args = ["train", "--cpu", "--config", CONFIG, *TINY, f"data.path={cache}", f"run_dir={run}", "ckpt_every=1",
            "sample_every=100000", "max_steps=4"]
    log = open(tmp_path / "first.log", "w")  # a file, not a pipe: a full pipe would stall the trainer
    proc = subprocess.Popen([sys.executable, "-m", "avgen.cli", *args[:-1], "max_steps=100000"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    ckpt = run / "checkpoints" / "step_00000001.pt"
    try:
        deadline = time.time() + 120
        while not ckpt.exists():
            assert proc.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            assert time.time() < deadline, "timed out waiting for the first checkpoint"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    saved = sorted(n for n in os.listdir(run / "checkpoints") if n.endswith(".pt") and not n.startswith("."))
    last = int(saved[-1][5:13])
    assert last < 4 and load_checkpoint(str(run / "checkpoints" / saved[-1]))["step"] == last
    assert not (run / "final").exists()
    first = os.stat(ckpt)
    res = run_cli(args, writes_in=str(run))
    assert res.code == 0, res.stderr[-2000:]
    assert f"resumed from {run / 'checkpoints' / saved[-1]} at step {last}" in res.stdout + res.stderr
    again = os.stat(ckpt)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # step 1 was not redone
    assert load_checkpoint(str(run / "checkpoints" / "step_00000004.pt"))["step"] == 4
    assert not any(n.startswith(".") or ".tmp" in n for n in os.listdir(run / "checkpoints"))
    from avgen.checkpoints import from_pretrained

    model = from_pretrained(run / "final")  # the exported model loads (its weights checked finite on load)
    assert all(torch.isfinite(p).all() for p in model.parameters())
