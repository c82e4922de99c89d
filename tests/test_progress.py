"""Issue 19's feedback: `avgen s2v` shows a tqdm bar with ETA on stderr for every stage, `--quiet` silences them; the
bars do not change the output."""

import os

import numpy as np

from avgen.cli import main
from avgen.generate import DEFAULT_S2V_CHECKPOINT, sound_to_video
from avgen.media import read_video

LAKE = os.path.join(DEFAULT_S2V_CHECKPOINT, "example_lake.wav")
STAGES = ("s2v: load model", "s2v: encode audio", "s2v: synthesis", "s2v: write")


def test_s2v_shows_every_stage_and_quiet_silences_them(tmp_path, capsys):
    out = str(tmp_path / "a.mp4")
    assert main(["s2v", LAKE, "-o", out, "--num-frames", "18", "--device", "cpu"]) == 0
    cap = capsys.readouterr()
    for stage in STAGES:
        assert stage in cap.err, stage
    assert "18/18" in cap.err and "3/3" in cap.err  # synthesis counts frames (two chunks); encoding its 3 steps
    assert "<" in cap.err  # tqdm's elapsed<remaining: the ETA
    assert "wrote" in cap.out and "s2v:" not in cap.out  # bars go to stderr only
    quiet = str(tmp_path / "b.mp4")
    assert main(["s2v", LAKE, "-o", quiet, "--num-frames", "18", "--device", "cpu", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "wrote" in cap.out
    assert np.array_equal(read_video(out)[0], read_video(quiet)[0])


def test_progress_does_not_change_the_frames():
    a = sound_to_video(LAKE, num_frames=20, seed=1, device="cpu", progress=True)
    b = sound_to_video(LAKE, num_frames=20, seed=1, device="cpu", progress=False)
    assert a.frames.shape == (20, 64, 64, 3) and np.array_equal(a.frames, b.frames)
