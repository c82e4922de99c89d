"""avgen v2s --manifest: output names stay inside -o and never collide; bad manifests and outputs that would replace
an input are refused before any work."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from avgen.cli import _read_pairs
from avgen.errors import AvgenError
from avgen.media import write_audio


def _manifest(tmp_path, rows, name="m.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(p)


def test_output_names_are_one_safe_component_and_unique(tmp_path):
    rows = _read_pairs(_manifest(tmp_path, [
        {"video": "clip.mp4", "reference": "bass.wav"},
        {"video": "clip.mp4", "reference": "drums.wav"},
        {"video": "clip.mp4", "reference": "sub/drums.wav"},  # same stems again: made unique
        {"video": "other.mp4", "reference": "bass.wav", "id": "../../escape"},
        {"video": "x.mp4", "reference": "bass.wav", "id": "/abs/path"},
        {"video": "y.mp4", "reference": "bass.wav", "id": "dup"},
        {"video": "z.mp4", "reference": "bass.wav", "id": "dup"},
        {"video": "w.mp4", "reference": "bass.wav", "id": "dup-2"},  # an explicit id equal to a made-up one
        {"video": "v.mp4", "reference": "bass.wav", "id": "DUP"},  # the same file on a case-insensitive disk
    ]))
    names = [r["id"] for r in rows]
    assert names[:3] == ["clip__bass", "clip__drums", "clip__drums-2"]
    assert names[5:] == ["dup", "dup-2", "dup-2-2", "DUP-3"] and len({n.lower() for n in names}) == len(names)
    for n in names:
        assert os.sep not in n and "/" not in n and not n.startswith(".")
        assert os.path.dirname(os.path.join(str(tmp_path), n + ".mp4")) == str(tmp_path)
    assert rows[0]["video"] == str(tmp_path / "clip.mp4")  # relative paths are relative to the manifest


@pytest.mark.parametrize("rows, message", [
    (['{"video": "a.mp4", "reference": "b.wav"}', "{not json"], "line 2 is not valid JSON"),
    ([{"video": 3, "reference": "b.wav"}], "'video' must be a string"),
    ([{"video": "a.mp4"}], "row 1 needs 'video' and 'reference'"),
    (["[1, 2]"], "row 1 needs"),
])
def test_bad_manifests_are_refused(tmp_path, rows, message):
    with pytest.raises(AvgenError, match=message):
        _read_pairs(_manifest(tmp_path, rows))
    with pytest.raises(AvgenError, match="manifest not found"):
        _read_pairs(str(tmp_path / "missing.jsonl"))


def test_an_output_that_would_replace_an_input_is_refused(tmp_path):
    ref = write_audio(tmp_path / "ref.wav", np.zeros((1, 22050), np.float32), 22050)
    before = open(ref, "rb").read()
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "v2s", "--reference", ref, "-o", ref],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "would replace an input" in r.stderr and r.stderr.count("\n") == 1
    assert open(ref, "rb").read() == before
