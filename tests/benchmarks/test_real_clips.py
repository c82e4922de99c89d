"""`avgen eval v2s-real`: onset F1 against each clip's own track, chance from the other clips, resumable outputs,
one-line errors. A stand-in pipeline (it copies the clip's own track at a lower level) keeps the test fast and the
expected figures exact; the bundled pipeline itself is exercised by the measured run in docs/varietysound.md."""

import json

import numpy as np
import pytest

from avgen.benchmarks.real_clips import ceiling, evaluate_v2s_real, score_onsets, thinned
from avgen.cli import main
from avgen.errors import AvgenError
from avgen.media import read_audio, write_audio, write_video

SR = 22050
# clip a: onsets 0.5, 1.5; clip b: 1.0, 2.5; clip c: 0.5, 2.5
CLIPS = {"a": [0.5, 1.5], "b": [1.0, 2.5], "c": [0.5, 2.5]}


def _track(times, seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=int(seconds * SR)) * 1e-3
    for t in times:
        i = int(t * SR)
        x[i:i + 1500] += np.sin(np.arange(1500) * 0.3) * np.exp(-np.arange(1500) / 300)
    return (0.5 * x).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three tiny real-looking clips (grey frames, a click track) and a separate reference recording."""
    root = tmp_path_factory.mktemp("clips")
    for i, (name, times) in enumerate(CLIPS.items()):
        frames = np.full((30, 32, 32, 3), 60 + 40 * i, np.uint8)
        write_video(root / f"{name}.mp4", frames, 10, _track(times, seed=i)[None], SR)
    ref = tmp_path_factory.mktemp("ref") / "reference.wav"
    write_audio(ref, _track([0.2])[None], SR)
    return root, ref


class EchoPipeline:
    """Stand-in for VideoToSoundPipeline: returns the clip's own track at 1/10 of its level (a perfect follower of
    the video's events) and records what it was called with."""

    vocoder_name = "echo-test"

    def __init__(self):
        self.calls = []

    def __call__(self, video, reference, *, seed=None):
        self.calls.append((str(video), str(reference), seed))
        wav = read_audio(video, sample_rate=SR)[0].mean(0, keepdims=True) * 0.1

        class R:
            waveform = __import__("torch").as_tensor(wav)
        return R()


def test_chance_comes_from_the_other_clips_and_outputs_are_reused(clips, tmp_path):
    root, ref = clips
    pipe = EchoPipeline()
    rep = evaluate_v2s_real(str(root), output_dir=str(tmp_path / "out"), reference=str(ref), pipeline=pipe,
                            progress=False)
    rows = {r["id"]: r for r in rep["clips"]}
    # own track: every onset found again (the level does not matter to the detector)
    assert all(r["f1"] == 1.0 and r["onsets_generated"] == 2 for r in rows.values())
    # chance = mean F1 against the other two clips' tracks: a~b 0, a~c 0.5, b~c 0.5
    assert rows["a"]["chance_f1"] == pytest.approx(0.25) and rows["b"]["chance_f1"] == pytest.approx(0.25)
    assert rows["c"]["chance_f1"] == pytest.approx(0.5)
    assert rep["onset_f1"] == 1.0 and rep["chance_f1"] == pytest.approx(1 / 3) and rep["f1_ratio"] == pytest.approx(3)
    assert np.diag(rep["f1_matrix"]).tolist() == [1.0, 1.0, 1.0]
    # the echo is a perfect output: it meets the ceiling, at full density and at its own count
    assert rep["ceiling_ratio"] == pytest.approx(3) and rep["matched_ceiling_ratio"] == pytest.approx(3)
    # level: a tenth of the own track's RMS is -20 dB
    assert all(r["level_db"] == pytest.approx(-20, abs=0.1) for r in rows.values())
    assert rep["profile"]["vocoder"] == "echo-test" and rep["profile"]["num_clips"] == 3
    assert {c[1] for c in pipe.calls} == {str(ref)}
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["onset_f1"] == 1.0 and "| a | reference |" in (tmp_path / "out" / "results.md").read_text()
    # resumable: a second run generates nothing; other settings in the same folder are refused
    again = EchoPipeline()
    assert evaluate_v2s_real(str(root), output_dir=str(tmp_path / "out"), reference=str(ref), pipeline=again,
                             progress=False)["onset_f1"] == 1.0 and again.calls == []
    with pytest.raises(AvgenError, match="other settings"):
        evaluate_v2s_real(str(root), output_dir=str(tmp_path / "out"), reference=str(ref), seed=1, pipeline=again,
                          progress=False)


def test_own_other_rotates_references_and_vocoder_defaults_to_griffin_lim(clips, tmp_path):
    root, _ = clips
    pipe = EchoPipeline()
    del EchoPipeline.vocoder_name  # a pipeline without the attribute is reported as Griffin-Lim
    try:
        rep = evaluate_v2s_real(str(root), output_dir=str(tmp_path / "o"), reference="own-other", pipeline=pipe,
                                limit=2, progress=False)
    finally:
        EchoPipeline.vocoder_name = "echo-test"
    assert [(c[0].split("/")[-1], c[1].split("/")[-1]) for c in pipe.calls] == [("a.mp4", "b.mp4"),
                                                                                  ("b.mp4", "a.mp4")]
    assert rep["profile"]["vocoder"] == "griffin-lim" and rep["profile"]["reference"] == "own-other"
    assert [r["reference"] for r in rep["clips"]] == ["b", "a"]


def test_bad_inputs_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder, msg in ((tmp_path / "missing", "no such folder"), (tmp_path / "empty", "no videos")):
        assert main(["eval", "v2s-real", str(folder), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1
    with pytest.raises(AvgenError, match="at least 2"):
        score_onsets([np.zeros(1)], [np.zeros(1)], [1.0])


def test_ceiling_scores_the_own_onsets_thinned_to_the_outputs_count():
    assert thinned(np.arange(5.0), 3).tolist() == [0, 2, 4] and thinned(np.arange(2.0), 5).tolist() == [0, 1]
    assert thinned(np.arange(3.0), 0).size == 0
    truth = [np.array(CLIPS[k]) for k in "abc"]
    full = ceiling(truth, [3.0] * 3, [2, 2, 2])
    assert full["ceiling_f1"] == 1.0 and full["ceiling_chance_f1"] == pytest.approx(1 / 3)
    assert full["matched_ceiling_ratio"] == pytest.approx(full["ceiling_ratio"]) == pytest.approx(3)
    # one onset each (a: 0.5, b: 1.0, c: 0.5): own F1 2/3; chance a 1/3 (vs c), b 0, c 1/3 (vs a)
    one = ceiling(truth, [3.0] * 3, [1, 1, 1])
    assert one["matched_ceiling_f1"] == pytest.approx(2 / 3)
    assert one["matched_ceiling_chance_f1"] == pytest.approx(2 / 9) and one["matched_ceiling_ratio"] == pytest.approx(3)
