"""``avgen v2s --manifest`` end to end with hostile and clashing output names: ids that are paths (``../../x``,
``/abs/path``), duplicate ids, one video with three references (the timbre use case) whose stems clash. Every row
gets its own file inside ``-o``, nothing is written anywhere else, and the summary counts the files written."""

from __future__ import annotations

import json
import os

import numpy as np

from avgen.media import write_audio

from .conftest import _tree


def test_every_row_gets_its_own_file_inside_the_output_folder(run_cli, bad, tiny_v2s, tmp_path):
    refs = tmp_path / "refs"
    t = np.arange(22050) / 22050
    paths = []
    for i, name in enumerate(("bass.wav", "drums.wav", "sub/drums.wav")):  # two references share a stem
        tone = (0.2 * np.sin(2 * np.pi * (110 * (i + 1)) * t)).astype(np.float32)[None]
        paths.append(write_audio(refs / name, tone, 22050))
    video = bad["quarter_mp4"]
    rows = [{"video": video, "reference": p} for p in paths]  # no ids: <video>__<reference>, made unique
    rows += [{"video": video, "reference": paths[0], "id": i}
             for i in ("../../x", "/abs/path", "dup", "dup", "dup-2", "Dup")]
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "work" / "batch"  # an escaping id would land in tmp_path or at /
    before = _tree(str(tmp_path))
    res = run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s, "--vocoder", "griffin-lim",
                   "--format", "wav", "--no-progress"], writes_in=str(out))
    assert res.code == 0, res.stderr
    assert f"{len(rows)} of {len(rows)} written" in res.stdout
    names = sorted(os.listdir(out))
    assert names == sorted(["quarter__bass.wav", "quarter__drums.wav", "quarter__drums-2.wav", "_.._x.wav",
                            "_abs_path.wav", "dup.wav", "dup-2.wav", "dup-2-2.wav", "Dup-3.wav"]), names
    assert len({n.lower() for n in names}) == len(rows)  # one file per row on a case-insensitive disk too
    after = _tree(str(tmp_path))
    outside = {p for p in set(before) ^ set(after) if not p.startswith(str(out) + os.sep)}
    assert not outside, sorted(outside)
    assert not os.path.exists("/abs/path.wav") and not os.path.exists("/abs")
