"""Corpus sounds start where they become audible (issue 15): an excerpt's quiet lead-in would put the sound up to
0.3 s after the visible event, in the training data and in the benchmark's ground truth."""

import numpy as np
import pytest

from avgen.data.foley import _load_sound, audible_start
from avgen.media import write_audio

SR = 22050


def lead_in_sound(lead: float = 0.2) -> np.ndarray:
    """``lead`` s of hiss 40 dB below the hit, then a decaying 440 Hz hit of 0.3 s."""
    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 0.01 / np.sqrt(2), int(lead * SR))  # RMS 0.007: about -40 dB re the hit's first frames
    t = np.arange(int(0.3 * SR)) / SR
    hit = np.sin(2 * np.pi * 440 * t) * np.exp(-8 * t)
    return np.concatenate([quiet, hit]).astype(np.float32)


def test_audible_start_finds_the_hit_after_a_quiet_lead_in():
    wav = lead_in_sound(0.2)
    start = audible_start(wav, SR, 20.0)
    assert abs(start / SR - (0.2 - 0.005)) <= 0.006  # the 5 ms frame holding the hit's start, less the 5 ms lead
    assert audible_start(wav[int(0.2 * SR):], SR, 20.0) == 0  # a sound that starts loud is left alone
    # a threshold lower than the lead-in's level keeps it
    assert audible_start(wav, SR, 60.0) == 0
    assert audible_start(np.zeros(1000, np.float32), SR) == 0 and audible_start(np.zeros(3, np.float32), SR) == 0


@pytest.mark.parametrize("trim", [20.0, None])
def test_load_sound_trims_only_when_asked(tmp_path, trim):
    path = tmp_path / "lead.flac"
    write_audio(path, lead_in_sound(0.2)[None], SR)
    wav = _load_sound(str(path), SR, 4.0, trim)
    onset = int(np.argmax(np.abs(wav) > 0.5)) / SR  # the hit's first loud sample
    if trim is None:
        assert onset > 0.19 and len(wav) == int(0.5 * SR)
    else:
        assert onset < 0.012 and np.abs(wav).max() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("value", ["0", "-3", "nan"])
def test_make_foley_refuses_a_bad_trim_before_rendering(tmp_path, capsys, value, load_tool):
    tool = load_tool("make_foley.py")
    assert tool.main(["-o", str(tmp_path / "out"), "--onset-trim-db", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--onset-trim-db" in err and not (tmp_path / "out").exists()
