"""``avgen prepare`` loses nothing: one index line per input path (identical files share one cached item), an index
that is valid after every finished item, a decode worker killed by the OOM killer fails its file only, and a killed
run leaves no workers behind and resumes to the result of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from avgen.data import PrepareSettings, prepare

from .conftest import PREPARE_FPS, manifest_items

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SETTINGS = PrepareSettings(fps=PREPARE_FPS)


def _index(folder) -> list[dict]:
    with open(os.path.join(folder, "index.jsonl")) as f:
        return [json.loads(line) for line in f]


def _assert_same_cache(folder, reference) -> None:
    """The same index (line for line) and the same tensors as ``reference``."""
    got, want = _index(folder), _index(reference)
    assert got == want
    for rec in want:
        a, b = load_file(os.path.join(folder, rec["file"])), load_file(os.path.join(reference, rec["file"]))
        # within float rounding: workers decode with one torch thread, an in-process run with several
        np.testing.assert_allclose(a["mel"], b["mel"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(a["features"], b["features"], rtol=0, atol=1e-4)
        assert a["mel"].shape == b["mel"].shape and a["features"].shape == b["features"].shape
    assert sorted(os.listdir(os.path.join(folder, "items"))) == sorted(os.listdir(os.path.join(reference, "items")))


def test_identical_files_keep_one_index_line_each(clips, cpu_encoder, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(clips[0], src / "a.mp4")
    shutil.copy(clips[0], src / "b.mp4")  # same content, another name
    shutil.copy(clips[1], src / "c.mp4")
    out = tmp_path / "cache"
    s = prepare(str(src), out, settings=SETTINGS, workers=0, progress=False, encoder=cpu_encoder)
    assert (s.processed, s.skipped, s.failed) == (3, 0, [])
    index = _index(out)
    assert [r["source"] for r in index] == [str(src / n) for n in ("a.mp4", "b.mp4", "c.mp4")]
    assert index[0]["file"] == index[1]["file"] != index[2]["file"]  # the content hash shares the cached item
    assert len(os.listdir(out / "items")) == 2
    # a rerun skips all three, writes the same index and removes what a killed write left
    (out / "items" / ".abc.safetensors.k2j4.tmp.safetensors").write_bytes(b"partial")
    s = prepare(str(src), out, settings=SETTINGS, workers=0, progress=False, encoder=cpu_encoder)
    assert (s.processed, s.skipped) == (0, 3) and _index(out) == index
    assert len(os.listdir(out / "items")) == 2


def test_the_index_is_valid_after_every_item(clips, cpu_encoder, tmp_path, monkeypatch):
    """Each finished item is in index.jsonl before the next one is encoded: an interrupted run lists what it did."""
    out = tmp_path / "cache"
    seen = []
    encode = cpu_encoder.encode

    def spy(frames, **kwargs):
        seen.append([r["id"] for r in _index(out)] if (out / "index.jsonl").exists() else None)
        return encode(frames, **kwargs)

    monkeypatch.setattr(cpu_encoder, "encode", spy)
    prepare(manifest_items(clips[:3]), out, settings=SETTINGS, workers=0, progress=False, encoder=cpu_encoder)
    assert seen == [[], ["clip00"], ["clip00", "clip01"]]


def test_a_worker_killed_by_the_oom_killer_fails_its_file_only(clips, cpu_encoder, tmp_path):
    from ._workers import decode_or_die

    paths = [clips[0], str(tmp_path / "oom.mp4"), clips[1], clips[2]]
    shutil.copy(clips[3], paths[1])
    out = tmp_path / "cache"
    s = prepare(manifest_items(paths), out, settings=SETTINGS, workers=1, progress=False, encoder=cpu_encoder,
                _decode=decode_or_die)
    assert s.processed == 3 and [p for p, _ in s.failed] == [paths[1]]
    assert "decode worker died" in s.failed[0][1] and "SIGKILL" in s.failed[0][1]
    assert "oom.mp4" in str(s)
    assert [r["id"] for r in _index(out)] == ["clip00", "clip01", "clip02"]
    assert [json.loads(x)["source"] for x in (out / "failures.jsonl").read_text().splitlines()] == [paths[1]]


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_run_leaves_no_workers_and_resumes_to_the_uninterrupted_result(clips, prepared_reference,
                                                                                cpu_encoder, tmp_path):
    """SIGKILL the main process mid-run: its decode workers exit, the index lists what it finished, and a rerun
    gives what an uninterrupted run gives."""
    out = tmp_path / "cache"
    script = ("import sys; from avgen.data import PrepareSettings, prepare; "
              "from tests.robustness._workers import slow_decode; "
              "from tests.robustness.conftest import manifest_items; "
              f"prepare(manifest_items(sys.argv[2:]), sys.argv[1], settings=PrepareSettings(fps={PREPARE_FPS}), "
              "workers=2, device='cpu', progress=False, _decode=slow_decode)")
    proc = subprocess.Popen([sys.executable, "-c", script, str(out), *clips], cwd=REPO, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 90
        while not ((out / "index.jsonl").exists() and len(_index(out)) >= 2):
            assert proc.poll() is None, f"prepare ended early: {proc.stderr.read()[-2000:]}"
            assert time.time() < deadline, "timed out waiting for the first items"
            time.sleep(0.05)
        workers = {p for p in _children(proc.pid) if _alive(p)}
        proc.kill()
        proc.wait()
        deadline = time.time() + 10
        while any(_alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.05)
        assert len(workers) >= 2 and not any(_alive(p) for p in workers), "decode workers outlived the main process"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    partial = _index(out)
    assert 2 <= len(partial) < len(clips)
    reference = {r["id"]: r for r in _index(prepared_reference)}
    assert all(r == reference[r["id"]] and os.path.exists(out / r["file"]) for r in partial)
    s = prepare(manifest_items(clips), out, settings=SETTINGS, workers=0, progress=False, encoder=cpu_encoder)
    assert s.skipped == len(partial) and s.processed == len(clips) - len(partial) and not s.failed
    _assert_same_cache(out, prepared_reference)


def test_cli_single_relative_file_is_found(clips, tmp_path, monkeypatch, run_cli):
    (tmp_path / "corpus").mkdir()
    shutil.copy(clips[0], tmp_path / "corpus" / "x.mp4")
    monkeypatch.chdir(tmp_path)
    res = run_cli(["prepare", "corpus/x.mp4", "-o", "cache", "--workers", "0", "--no-progress", "--fps",
                   str(PREPARE_FPS), "--device", "cpu"], writes_in=str(tmp_path / "cache"))
    assert res.code == 0 and "prepared 1, already cached 0, failed 0 of 1" in res.stdout, res.stdout + res.stderr
    assert [r["source"] for r in _index(tmp_path / "cache")] == [str(tmp_path / "corpus" / "x.mp4")]
