"""``avgen v2s --manifest`` killed mid-batch: the outputs already there are whole, a rerun keeps them, writes the
rest and removes what an interrupted write left, and the outputs equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from avgen.media import read_audio

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_v2s_manifest_killed_mid_batch_resumes(run_cli, bad, tiny_v2s, tmp_path):
    # two rows with the same inputs: an uninterrupted run writes two equal files, so the output of the killed
    # process and that of the rerun must be equal
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"video": bad["quarter_mp4"], "reference": bad["good_wav"], "id": f"r{i}"}) + "\n"
                         for i in range(2)))
    out = tmp_path / "batch"
    args = ["v2s", "--manifest", str(m), "-o", str(out), "--checkpoint", tiny_v2s, "--vocoder", "griffin-lim",
            "--format", "wav", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "avgen.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "r0.wav").exists():
            assert proc.poll() is None, f"v2s ended early: {proc.communicate()[1][-2000:]}"
            assert time.time() < deadline, "timed out waiting for the first output"
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert done == ["r0.wav"], done
    first = os.stat(out / "r0.wav")
    (out / ".r1.wav.k2j4x9aa.tmp.wav").write_bytes(b"half")  # what a kill during a write leaves
    (out / ".notes.txt").write_text("not ours")  # not a temporary of this batch: kept
    res = run_cli(args, writes_in=str(out))
    assert res.code == 0 and "2 of 2 written" in res.stdout, res.stderr
    assert sorted(os.listdir(out)) == [".notes.txt", "r0.wav", "r1.wav"]
    again = os.stat(out / "r0.wav")
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # finished items are skipped
    # equal within float rounding: the killed process and this one may run torch with different thread counts
    waves = [read_audio(out / n)[0] for n in ("r0.wav", "r1.wav")]
    assert all(w.shape == waves[0].shape and np.abs(w - waves[0]).max() < 2e-3 for w in waves)
    assert np.abs(waves[0]).max() > 0.01  # not silence
