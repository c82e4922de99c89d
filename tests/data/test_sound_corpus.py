"""The sound corpus: manifest round trip and validation, splits disjoint by recording / category, event cutting on a
synthetic signal, and the committed manifest's coverage. No network, no corpus folder needed."""

import hashlib
import json
import os

import numpy as np
import pytest

from avgen.data import sound_corpus as sc
from avgen.errors import AvgenError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMITTED = os.path.join(REPO, "data", "sound_corpus", "manifest.jsonl")


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _rows(n_recordings: int = 30, events: int = 3) -> list[dict]:
    """Synthetic manifest rows: ``events`` excerpts per recording, categories cycling."""
    rows = []
    for r in range(n_recordings):
        cat = sc.CATEGORIES[r % len(sc.CATEGORIES)]
        for e in range(events):
            rid = f"pkg-rec{r:03d}_e{e:02d}"
            rows.append({"id": rid, "path": f"pkg/{rid}.flac", "recording": f"pkg-rec{r:03d}", "category": cat,
                         "package": "pkg", "package_version": "1.0-1", "source_file": f"usr/share/x/{r}.wav",
                         "licence": "CC0-1.0", "source_sha256": _hex(f"src{r}"), "sha256": _hex(rid),
                         "start": 0.5 * e, "duration": 0.4, "sample_rate": 22050, "samples": 8820,
                         "levels": [100.0] * sc.LEVEL_PARTS})
    return rows


def test_manifest_round_trip(tmp_path):
    rows = _rows(5)
    rows[0]["family"] = "percussive"  # extra keys are kept
    path = tmp_path / "manifest.jsonl"
    sc.write_manifest(path, rows)
    assert sc.read_manifest(path) == rows


@pytest.mark.parametrize("mutate, expect", [
    (lambda r: r.pop("licence"), "missing key 'licence'"),
    (lambda r: r.update(duration="1.0"), "'duration' must be"),
    (lambda r: r.update(category="music"), "unknown category"),
    (lambda r: r.update(sha256="xyz"), "'sha256' must be 64"),
    (lambda r: r.update(id="a/b"), "filename-safe"),
    (lambda r: r.update(levels=[1.0] * 3), "'levels' must be 16"),
    (lambda r: r.update(samples=0), "'samples' must be"),
])
def test_bad_row_names_file_and_line(tmp_path, mutate, expect):
    rows = _rows(2)
    path = tmp_path / "manifest.jsonl"
    sc.write_manifest(path, rows)
    lines = path.read_text().splitlines()
    bad = json.loads(lines[3])
    mutate(bad)
    lines[3] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AvgenError) as e:
        sc.read_manifest(path)
    msg = str(e.value)
    assert f"{path}:4:" in msg and expect in msg and "\n" not in msg


def test_bad_json_and_duplicate_id(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(AvgenError, match=r"m\.jsonl:1: not valid JSON"):
        sc.read_manifest(path)
    row = _rows(1, 1)[0]
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(AvgenError, match=r"m\.jsonl:2: duplicate id"):
        sc.read_manifest(path)
    with pytest.raises(AvgenError, match="duplicate id"):
        sc.write_manifest(tmp_path / "w.jsonl", [row, row])


def test_split_by_recording_is_disjoint_and_deterministic():
    rows = _rows(40)
    # two recordings share an excerpt's audio: they must end on the same side
    rows[3]["sha256"] = rows[10]["sha256"]
    split = sc.split_corpus(rows, by="recording", test_fraction=0.25, seed=1)
    train, test = split["train"], split["test"]
    assert len(train) + len(test) == len(rows) and test and train
    assert not {r["recording"] for r in train} & {r["recording"] for r in test}
    assert not {r["sha256"] for r in train} & {r["sha256"] for r in test}
    assert {r["category"] for r in test} == set(sc.CATEGORIES)  # every category is tested
    again = sc.split_corpus(list(reversed(rows)), by="recording", test_fraction=0.25, seed=1)
    assert {r["id"] for r in again["test"]} == {r["id"] for r in test}
    other = sc.split_corpus(rows, by="recording", test_fraction=0.25, seed=2)
    assert {r["id"] for r in other["test"]} != {r["id"] for r in test}


def test_split_by_category():
    rows = _rows(42)
    split = sc.split_corpus(rows, by="category", held_out_categories=["break", "voice"])
    assert {r["category"] for r in split["test"]} == {"break", "voice"}
    assert not {r["category"] for r in split["train"]} & {"break", "voice"}
    drawn = sc.split_corpus(rows, by="category", test_fraction=0.3, seed=5)
    held = {r["category"] for r in drawn["test"]}
    assert held and not held & {r["category"] for r in drawn["train"]}
    assert len(drawn["test"]) >= 0.3 * len(rows) and drawn["train"]
    assert drawn == sc.split_corpus(rows, by="category", test_fraction=0.3, seed=5)
    with pytest.raises(AvgenError, match="not in the rows"):
        sc.split_corpus(rows, by="category", held_out_categories=["music"])
    with pytest.raises(AvgenError, match="by must be"):
        sc.split_corpus(rows, by="package")


def test_committed_manifest():
    if not os.path.exists(COMMITTED):
        pytest.skip("no committed manifest yet")
    rows = sc.read_manifest(COMMITTED)  # validates every row (licence present, hashes, ids unique)
    assert len({r["recording"] for r in rows}) >= 1000
    assert len({r["package"] for r in rows}) >= 8
    assert all(r["licence"].strip() for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["sha256"] for r in rows}) == len(rows)
    assert {r["category"] for r in rows} == set(sc.CATEGORIES)


def _bursts(times, *, seconds: float = 9.0, sr: int = 22050) -> np.ndarray:
    """Decaying tone bursts (0.12 s decay) starting at ``times``, silence (faint noise) between."""
    x = np.zeros(int(seconds * sr))
    tt = np.arange(sr) / sr
    for t, f in zip(times, (440.0, 880.0, 300.0, 660.0)):
        i = int(round(t * sr))
        x[i:i + sr] += 0.5 * np.sin(2 * np.pi * f * tt) * np.exp(-tt / 0.12)
    return x + 1e-4 * np.random.default_rng(0).standard_normal(len(x))


def test_event_cutting_finds_the_bursts():
    times = [1.0, 3.7, 6.2]
    events = sc.cut_events(_bursts(times), 22050)
    assert len(events) == 3
    for (start, end), t in zip(events, times):
        assert abs(start - t) <= 0.02
        assert 0.15 <= end - start <= 4.0
        assert end - start < 1.2  # ended by the energy drop, not by the next onset


def test_short_file_kept_whole_and_silence_trimmed():
    x = _bursts([0.5], seconds=2.0)
    (start, end), = sc.cut_events(x, 22050)
    assert abs(start - 0.5) <= 0.02 and end < 2.0
    assert sc.cut_events(np.zeros(22050), 22050) == []


def test_cut_recording_skips_silent_and_nonfinite(tmp_path):
    from avgen.media import read_audio, write_audio
    silent = tmp_path / "silent.wav"
    write_audio(silent, np.zeros((1, 22050), np.float32), 22050)
    with pytest.raises(sc.SkipRecording, match="silent"):
        sc.cut_recording(silent)
    bad = tmp_path / "nan.wav"
    x = np.full((1, 22050), 0.1, np.float32)
    x[0, 100] = np.nan
    write_audio(bad, x, 22050, bits=32)
    with pytest.raises(sc.SkipRecording, match="non-finite"):
        sc.cut_recording(bad)
    good = tmp_path / "good.wav"
    write_audio(good, _bursts([0.3], seconds=1.5)[None].astype(np.float32), 22050)
    digest, events = sc.cut_recording(good)
    assert len(events) == 1 and len(digest) == 64
    check = sc.write_event(tmp_path / "e.flac", events[0].samples)
    back, sr = read_audio(tmp_path / "e.flac")
    assert sr == 22050 and check == sc.event_check(back[0]) and check["sha256"] == sc.pcm_sha256(back[0])
    assert check["samples"] == len(events[0].samples) and len(check["levels"]) == sc.LEVEL_PARTS
    assert sc.write_event(tmp_path / "again.flac", events[0].samples) == check  # stable


def test_categories_and_licences():
    assert sc.categorize("wesnoth-1.16-data", "usr/share/games/wesnoth/data/core/sounds/glass-break.ogg") == "break"
    assert sc.categorize("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Kit/Crash_01.wav") == "strike"
    assert sc.categorize("sonic-pi-samples", "usr/share/sonic-pi/samples/loop_amen.flac") == "sustained"
    assert sc.categorize("supertux-data", "usr/share/games/supertux2/sounds/whoosh.ogg") == "noise"
    assert sc.categorize("ktuberling-data", "usr/share/ktuberling/sounds/en/hat.ogg") == "voice"
    assert sc.categorize("sonic-pi-samples", "usr/share/sonic-pi/samples/bass_hit_c.flac") == "tonal"
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nLicense: GPL-2+\n\nFiles:\n drumkits/Kit.h2drumkit\n data/sounds/*\n"
            "License: CC-BY-SA-3.0\n\nFiles: debian/*\nLicense: GPL-2+\n")
    stanzas, default = sc.parse_copyright(text)
    assert default == "GPL-2+"
    assert sc.licence_for(stanzas, default, "usr/share/hydrogen/data/drumkits/Kit/a.wav") == "CC-BY-SA-3.0"
    assert sc.licence_for(stanzas, default, "usr/share/games/x/sounds/b.ogg") == "CC-BY-SA-3.0"
    assert sc.licence_for(stanzas, default, "usr/share/games/x/other/b.ogg") == "GPL-2+"
    free = "under the terms of the GNU General Public License as published by\n the Free Software Foundation; " \
           "either version 2 of the License, or (at your option) any later version."
    assert sc.parse_copyright(free) == ([], "GPL-2+")


def _tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_sound_corpus", os.path.join(REPO, "tools",
                                                                                   "make_sound_corpus.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_verify_tolerates_last_bit_decoder_differences(capsys, tmp_path):
    """A rebuild on another CPU decodes some events a few int16 steps apart: same length and level envelope, another
    sha256. verify counts those as matching (within tolerance); another cut or a damaged file is a mismatch."""
    from avgen.media import read_audio

    tool = _tool()
    rng = np.random.default_rng(0)
    t = np.arange(6000) / sc.SAMPLE_RATE
    rows = []
    for k in range(3):
        x = (0.4 * np.sin(2 * np.pi * (300 + 200 * k) * t) * np.exp(-t / 0.1)).astype(np.float32)
        rid = f"pkg-rec{k}-00"
        check = sc.write_event(tmp_path / "built" / "pkg" / f"{rid}.flac", x)
        rows.append({**_rows(1, 1)[0], "id": rid, "path": f"pkg/{rid}.flac", "recording": f"pkg-rec{k}", **check})
    manifest = tmp_path / "expected.jsonl"
    sc.write_manifest(manifest, rows)
    built = tmp_path / "built"
    # event 1: another decoder's last bits (+-1 step on a fifth of the samples); event 2: another sound, same length
    back, _ = read_audio(built / rows[1]["path"])
    nudged = back[0] + rng.choice([-1, 0, 0, 0, 0, 0, 0, 0, 0, 1], back.shape[1]) / 32768.0
    assert sc.pcm_sha256(nudged) != rows[1]["sha256"]
    sc.write_event(built / rows[1]["path"], nudged)
    sc.write_event(built / rows[2]["path"], 0.6 * np.sin(2 * np.pi * 700 * t))
    assert tool.main(["verify", str(built), "--manifest", str(manifest), "--no-progress"]) == 1
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"expected": 3, "matching": 2, "identical": 1, "within_tolerance": 1,
                       "mismatched_or_missing": 1, "extra_in_corpus": 0}, out
    assert "pkg-rec2-00" in out and "level envelope is off" in out
    os.remove(built / rows[2]["path"])
    sc.write_manifest(manifest, rows[:2])
    assert tool.main(["verify", str(built), "--manifest", str(manifest), "--no-progress"]) == 0


def test_tool_bad_input_is_one_line_exit_2(capsys, tmp_path):
    tool = _tool()
    for argv in (["verify", str(tmp_path / "missing"), "--manifest", "m.jsonl"], ["build"],
                 ["build", "-o", str(tmp_path / "c"), "--cache", str(tmp_path / "nothing")],
                 ["build", "-o", str(tmp_path / "c"), "--max-events", "0"], ["nonsense"]):
        assert tool.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, (argv, err)
    assert tool._included("ktuberling-data", "usr/share/ktuberling/sounds/en/hat.ogg")
    assert not tool._included("supertux-data", "usr/share/games/supertux2/music/forest/a.ogg")
