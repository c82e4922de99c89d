"""Batch generation sharded over the processes of a launcher (avgen.sharding, ``avgen v2s/s2v --manifest``): the
rows each process takes, its thread count, and -- with two CPU processes started by ``accelerate launch`` over gloo
-- files equal byte for byte to a one-process run's, and a run killed mid-way that a rerun completes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from avgen.cli import _read_sounds
from avgen.errors import AvgenError
from avgen.sharding import Launch, detect_launch, shard, threads_per_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- in-process: layout, shards, threads, the s2v manifest ----------------------------------------------------------


def test_launch_layout_from_the_launchers_variables():
    assert detect_launch({}) is None and detect_launch({"WORLD_SIZE": "1", "RANK": "0"}) is None
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert detect_launch(env) == Launch(3, 4, 1, 2)
    with pytest.raises(AvgenError, match="RANK must be in"):
        detect_launch({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(AvgenError, match="WORLD_SIZE='two': not a whole number"):
        detect_launch({"RANK": "0", "WORLD_SIZE": "two"})


def test_shards_cover_every_row_once_and_stay_put():
    rows = list(range(11))
    for world in (1, 2, 3, 4, 16):
        parts = [shard(rows, Launch(r, world, r, world)) for r in range(world)]
        assert sorted(i for p in parts for i in p) == rows  # every row, once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
        assert parts == [shard(rows, Launch(r, world, r, world)) for r in range(world)]  # the same on a rerun
    assert shard(rows, None) == rows


def test_threads_per_process(monkeypatch):
    import avgen.sharding as sh

    monkeypatch.setattr(sh, "available_cores", lambda: 16)
    two = Launch(0, 2, 0, 2)
    assert threads_per_process(None, environ={}) is None  # alone: torch's own choice
    assert threads_per_process(two, environ={"OMP_NUM_THREADS": "1"}) == 8  # the launcher's default 1: cores / 2
    assert threads_per_process(two, environ={"OMP_NUM_THREADS": "3"}) == 3  # set by the user: kept
    assert threads_per_process(two, 1, environ={"OMP_NUM_THREADS": "3"}) == 1  # --threads wins
    assert threads_per_process(Launch(0, 64, 0, 64), environ={}) == 1


def test_s2v_manifest_names(tmp_path):
    (tmp_path / "m.csv").write_text("audio,id\nrain.wav,\nsub/rain.wav,\nwind.wav,../x\n/abs/sea.wav,\n")
    rows = _read_sounds(str(tmp_path / "m.csv"))
    assert [r["id"] for r in rows] == ["rain", "rain-2", "_x", "sea"]
    assert rows[0]["audio"] == str(tmp_path / "rain.wav") and rows[3]["audio"] == "/abs/sea.wav"
    (tmp_path / "bad.jsonl").write_text('{"video": "a.mp4"}\n')
    with pytest.raises(AvgenError, match="row 1 needs 'audio'"):
        _read_sounds(str(tmp_path / "bad.jsonl"))


def test_s2v_needs_audio_or_manifest(capsys, tmp_path):
    from avgen.cli import main

    assert main(["s2v", "-o", str(tmp_path / "o.mp4")]) == 2
    assert capsys.readouterr().err.strip() == "avgen s2v: error: give an AUDIO file or --manifest"
    (tmp_path / "f").write_text("")
    assert main(["s2v", "--manifest", str(tmp_path / "m.csv"), "-o", str(tmp_path / "f")]) == 2
    assert "with --manifest give an output folder" in capsys.readouterr().err
    assert main(["v2s", "--manifest", str(tmp_path / "m.csv"), "-o", str(tmp_path), "--threads", "0"]) == 2
    assert capsys.readouterr().err.strip() == "avgen v2s: error: --threads 0: must be at least 1"


def test_devices_per_process(monkeypatch):
    import torch

    from avgen.cli import _process_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert _process_device(None, Launch(3, 4, 1, 2)) == "cuda:1" == _process_device("cuda", Launch(1, 2, 1, 2))
    assert _process_device("cuda:0", Launch(1, 2, 1, 2)) == "cuda:0"  # named by the user: kept
    assert _process_device("cpu", Launch(1, 2, 1, 2)) == "cpu"
    assert _process_device(None, None) is None  # alone: the pipeline's own default


def test_one_rank_of_a_batch_in_process(tmp_path, monkeypatch, capsys):
    # rank 1 of 2 without MASTER_ADDR (ranks set by hand): its rows only, its own summary, no total; on the tiny
    # SpecVQGAN folder and features, so the whole batch path runs in a second
    from avgen.cli import main
    from avgen.sharding import ShardGroup

    from .test_v2s_routing import FEAT_DIM, _folder

    folder = _folder(str(tmp_path))
    rows = []
    for i in range(5):
        np.save(tmp_path / f"f{i}.npy", np.random.default_rng(i).standard_normal((4, FEAT_DIM)).astype(np.float32))
        rows.append(json.dumps({"video": f"f{i}.npy"}))
    (tmp_path / "m.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".f0.wav.abcd1234.tmp.wav").write_bytes(b"rank 0's write in progress")
    (tmp_path / "out" / ".f1.wav.abcd1234.tmp.wav").write_bytes(b"left by a killed rank 1")
    for k, v in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert main(["v2s", "--manifest", str(tmp_path / "m.jsonl"), "--checkpoint", folder, "-o", str(tmp_path / "out"),
                 "--format", "wav", "--no-progress", "--threads", "1"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == [".f0.wav.abcd1234.tmp.wav", "f1.wav", "f3.wav"]
    # rank 1's own line only: the total (or, without MASTER_ADDR, the line saying there is none) is rank 0's
    assert capsys.readouterr().out.splitlines() == [f"rank 1 of 2: 2 of 2 written to {tmp_path / 'out'}"]
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["v2s", "--manifest", str(tmp_path / "m.jsonl"), "--checkpoint", folder, "-o", str(tmp_path / "out"),
                 "--format", "wav", "--no-progress", "--threads", "1"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == [f"f{i}.wav" for i in range(5)]  # its leftover removed now
    assert capsys.readouterr().out.splitlines() == [
        f"rank 0 of 2: 3 of 3 written to {tmp_path / 'out'}",
        "no total: MASTER_ADDR/MASTER_PORT are not set, so the processes cannot be joined (start them with "
        "accelerate launch or torchrun)"]
    with ShardGroup(Launch(1, 2, 1, 2)) as g:
        assert not g.joined and g.sum([2, 1]) == [2, 1]


# -- two CPU processes under accelerate launch ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:  # a port of our own: the machine may run other launches on accelerate's 29500
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, n=2):
    """``accelerate launch`` with ``n`` CPU processes: ``--multi_gpu`` makes it start them through torchrun (its
    ``--cpu`` flag alone starts a single process); without CUDA they run on the CPU and join over gloo."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), "-m", "avgen", *args]


def _env():
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    return env


def _run(cmd, timeout=600):
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _kill_tree(proc) -> None:
    """SIGKILL the launcher and every process under it (torchrun starts its workers in their own sessions, so
    neither the launcher's death nor its process group reaches them)."""
    import psutil

    tree = psutil.Process(proc.pid).children(recursive=True)
    for p in [psutil.Process(proc.pid), *tree]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=30)
    proc.communicate()


def _files(folder) -> dict[str, bytes]:
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def v2s_inputs(tmp_path_factory):
    """Four half-second 32x32 clips (a bar sweeping at a different offset each) and one percussive reference: the
    visual encoder, most of the time per row, sees 11 frames a row."""
    from avgen.media import write_audio, write_video

    root = tmp_path_factory.mktemp("shard_v2s")
    t = np.arange(22050) / 22050
    rows = []
    for i in range(4):
        frames = np.zeros((4, 32, 32, 3), np.uint8)
        for k in range(4):
            frames[k, :, (8 * k + 3 * i) % 32] = 255
        write_video(str(root / f"c{i}.mp4"), frames, 8.0, np.zeros((1, 11025), np.float32), 22050)
        rows.append({"video": f"c{i}.mp4", "reference": "ref.wav"})
    ref = 0.3 * np.sin(2 * np.pi * 330 * t) * np.exp(-4 * (t % 0.25) * 8)
    write_audio(str(root / "ref.wav"), ref.astype(np.float32)[None], 22050)
    (root / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_v2s_sharded_equals_one_process_and_resumes_after_a_kill(v2s_inputs, tmp_path):
    # one torch thread in every process: the same thread count gives the same bytes (a different one changes float
    # rounding in the convolutions: up to 2.3e-3 on these clips with griffin-lim, docs/batch.md)
    common = ["--manifest", str(v2s_inputs / "m.jsonl"), "--format", "wav", "--vocoder", "griffin-lim",
              "--device", "cpu", "--no-progress", "--threads", "1"]
    single = tmp_path / "single"
    r = _run([sys.executable, "-m", "avgen", "v2s", *common, "-o", str(single)])
    assert "4 of 4 written" in r.stdout
    expected = _files(single)
    assert len(expected) == 4 and len(set(expected.values())) == 4  # four different sounds

    out = tmp_path / "sharded"
    cmd = _launch(["v2s", *common, "-o", str(out)])
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.time() + 300
        while not (out.is_dir() and any(n.endswith(".wav") and not n.startswith(".") for n in os.listdir(out))):
            assert proc.poll() is None, f"the launch ended early: {proc.communicate()[1][-3000:]}"
            assert time.time() < deadline, "timed out waiting for the first output"
            time.sleep(0.02)
    finally:
        _kill_tree(proc)
    done = {n: os.stat(out / n) for n in os.listdir(out) if not n.startswith(".")}
    assert 1 <= len(done) < 4, sorted(done)  # killed mid-way
    r = _run(cmd)
    assert "4 of 4 written" in r.stdout and r.stdout.count(" of 2: ") == 2, r.stdout  # both ranks, then the total
    assert _files(out) == expected  # byte for byte; no temporary left
    for n, st in done.items():  # the killed run's files were kept, not written again
        assert (os.stat(out / n).st_ino, os.stat(out / n).st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


@pytest.mark.slow
def test_s2v_sharded_equals_one_process(tmp_path):
    from avgen.media import write_audio

    t = np.arange(11025) / 22050
    for i in range(4):  # half-second sounds, four pitches
        write_audio(str(tmp_path / f"a{i}.wav"),
                    (0.2 * np.sin(2 * np.pi * (200 + 100 * i) * t)).astype(np.float32)[None], 22050)
    (tmp_path / "m.csv").write_text("audio\n" + "".join(f"a{i}.wav\n" for i in range(4)))
    common = ["--manifest", str(tmp_path / "m.csv"), "--device", "cpu", "--quiet", "--threads", "1"]
    _run([sys.executable, "-m", "avgen", "s2v", *common, "-o", str(tmp_path / "single")])
    r = _run(_launch(["s2v", *common, "-o", str(tmp_path / "sharded")]))
    assert "4 of 4 written" in r.stdout and "by 2 processes" in r.stdout
    expected = _files(tmp_path / "single")
    assert len(expected) == 4 and _files(tmp_path / "sharded") == expected
