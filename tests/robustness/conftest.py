"""Shared bad inputs for the robustness suite, each built once per session (all tiny), and the in-process CLI
runner every case uses (a subprocess costs ~3 s of start-up per case)."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from dataclasses import dataclass

import numpy as np
import pytest

from avgen.media import write_audio, write_video


class _Hostile:
    """Unpickling this creates ``path`` (a harmless stand-in for code execution)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _Scripted(__import__("torch").nn.Module):
    """Saved as a TorchScript archive: code that a weights file must never be (torch.jit.load would run it)."""

    def forward(self, x):
        return x + 1


def _frames(n, h=32, w=32):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def _png(path, rgb):
    """A plain RGB PNG (no Pillow needed)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _rawvideo_avi(path, n=8):
    import av

    with av.open(path, "w", format="avi") as c:
        s = c.add_stream("rawvideo", rate=8)
        s.width, s.height, s.pix_fmt = 32, 32, "bgr24"
        for i, f in enumerate(_frames(n)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _one_pixel_video(path, audio, sample_rate, n=3, fps=12):
    """1x1 H.264 (yuv444p: yuv420p needs even sizes) with a sound track."""
    import av

    from avgen.media import replace_audio

    silent = path + ".video_only.mp4"
    with av.open(silent, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 1, 1, "yuv444p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((1, 1, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    replace_audio(silent, path, audio, sample_rate)
    os.remove(silent)
    return path


def _odd_media(files: dict, j, t) -> None:
    """Unusual but valid media (which must work) and media of the wrong kind (which must be named as such)."""
    import shutil
    import struct

    tone = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]  # 2 s
    quarter = tone[:, : 22050 // 4]
    # 0.25 s with sound: the cheapest full v2s run and prepare item
    files["quarter_mp4"] = write_video(j("quarter.mp4"), _frames(3), 12.0, quarter, 22050)
    files["one_px_mp4"] = _one_pixel_video(j("one_px.mp4"), quarter, 22050)
    files["fps1000_mp4"] = write_video(j("fps1000.mp4"), _frames(250, 16, 16), 1000.0, quarter, 22050)
    files["fps05_mp4"] = write_video(j("fps05.mp4"), _frames(1), 0.5, tone, 22050)  # one frame lasting 2 s
    files["unicode_mp4"] = j("clip ü名 файл.mp4")
    shutil.copy(files["quarter_mp4"], files["unicode_mp4"])
    files["unicode_wav"] = j("voix ü名 файл.wav")
    shutil.copy(files["good_wav"], files["unicode_wav"])
    files["audio_only_m4a"] = write_audio(j("audio_only.m4a"), tone, 22050)
    files["audio_only_mp4"] = j("audio_only.mp4")  # AAC in an mp4 container, named like a video
    shutil.copy(files["audio_only_m4a"], files["audio_only_mp4"])
    files["video_only_mp4"] = files["good_mp4"]
    data = bytearray(open(files["good_wav"], "rb").read())  # RIFF and data sizes claiming ~4 GB
    at = data.find(b"data")
    data[4:8], data[at + 4: at + 8] = struct.pack("<I", 0xFFFFFFF0), struct.pack("<I", 0xFFFFFF00)
    with open(j("huge_header.wav"), "wb") as f:
        f.write(bytes(data))
    files["huge_header_wav"] = j("huge_header.wav")
    for name in ("empty.mp4", "empty.wav"):
        open(j(name), "wb").close()
    files["empty_mp4"], files["empty_wav"] = j("empty.mp4"), j("empty.wav")
    files["dir_mp4"] = j("folder.mp4")  # a folder named like a video
    os.makedirs(files["dir_mp4"], exist_ok=True)
    files["truncated_tail_mp4"] = _truncated_moov_at_end(j("tail.mp4"), j("truncated_tail.mp4"))
    files["missing_mp4"], files["missing_wav"] = j("missing.mp4"), j("missing.wav")  # never created


def _truncated_moov_at_end(full, path):
    """An mp4 laid out without faststart (the index after the data), cut in half: the index is gone."""
    import av

    with av.open(full, "w") as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i, f in enumerate(_frames(16)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    data = open(full, "rb").read()
    os.remove(full)
    assert data.find(b"moov") > len(data) // 2, "expected the index at the end"
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def build_bad_files(root: str) -> dict[str, str]:
    """Every bad (and a few good) input, written into ``root``; returns name -> path."""
    os.makedirs(root, exist_ok=True)
    j = lambda name: os.path.join(root, name)  # noqa: E731
    files = {}
    t = np.arange(22050 * 2) / 22050
    files["good_wav"] = write_audio(j("good.wav"), (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], 22050)
    files["good_mp4"] = write_video(j("good.mp4"), _frames(16), 8.0)
    with open(j("text.mp4"), "w") as f:
        f.write("this is not a video\n" * 10)
    files["text_mp4"] = j("text.mp4")
    with open(j("text.png"), "w") as f:  # named like an image
        f.write("this is not a picture\n" * 10)
    files["text_png"] = j("text.png")
    data = open(files["good_mp4"], "rb").read()
    with open(j("truncated.mp4"), "wb") as f:  # faststart: the header survives, half the frames do not
        f.write(data[: len(data) // 2])
    files["truncated_mp4"] = j("truncated.mp4")
    _png(j("image.png"), _frames(1)[0])
    files["png_as_video"] = j("image.png")
    files["one_frame_mp4"] = write_video(j("one_frame.mp4"), _frames(1), 30.0)  # shorter than 1/21.5 s
    files["rawvideo_avi"] = _rawvideo_avi(j("raw.avi"))
    nan = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    nan[100:110] = np.nan
    files["nan_wav"] = write_audio(j("nan.wav"), nan[None], 22050, bits=32)
    files["short_wav"] = write_audio(j("short.wav"), np.zeros((1, 200), np.float32), 22050)
    files["marker"] = j("EXECUTED")
    import torch

    torch.save({"state_dict": _Hostile(files["marker"])}, j("hostile.pt"))  # torch's zip format
    with open(j("hostile.pkl"), "wb") as f:
        pickle.dump(_Hostile(files["marker"]), f)
    with open(j("bad.safetensors"), "wb") as f:  # a header length far past the end
        f.write(b"\xff" * 8 + b"{}")
    files["bad_safetensors"] = j("bad.safetensors")
    files["hostile_pt"], files["hostile_pkl"] = j("hostile.pt"), j("hostile.pkl")
    files["torchscript_pt"] = j("scripted.pt")
    torch.jit.save(torch.jit.script(_Scripted()), files["torchscript_pt"])
    _odd_media(files, j, t)
    os.makedirs(j("readonly"), exist_ok=True)
    os.chmod(j("readonly"), stat.S_IRUSR | stat.S_IXUSR)
    files["readonly_dir"] = j("readonly")
    files["empty_dir"] = j("empty_dir")
    os.makedirs(files["empty_dir"], exist_ok=True)
    return files


@pytest.fixture(scope="session")
def bad(tmp_path_factory) -> dict[str, str]:
    return build_bad_files(str(tmp_path_factory.mktemp("bad_inputs")))


def build_clips(root: str, n: int) -> list[str]:
    """``n`` distinct 1 s clips with sound (32x32 at 8 fps, a tone each), the cheapest inputs ``prepare`` accepts."""
    os.makedirs(root, exist_ok=True)
    t = np.arange(22050) / 22050
    paths = []
    for i in range(n):
        tone = (0.1 * np.sin(2 * np.pi * (220 + 55 * i) * t)).astype(np.float32)[None]
        frames = np.roll(_frames(8), i, axis=2)
        paths.append(write_video(os.path.join(root, f"clip{i:02d}.mp4"), frames, 8.0, tone, 22050))
    return paths


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[str]:
    return build_clips(str(tmp_path_factory.mktemp("clips")), 8)


@pytest.fixture(scope="session")
def cpu_encoder():
    """The default visual encoder on the CPU, loaded once for every in-process ``prepare`` call."""
    from avgen.encoders import VisualEncoder

    return VisualEncoder("efficientnet-lite0", device="cpu")


# 4 feature frames per 1 s clip: the encoder, the slowest part of prepare, runs on few frames
PREPARE_FPS = 4.0


@pytest.fixture(scope="session")
def prepared_reference(clips, cpu_encoder, tmp_path_factory) -> str:
    """An uninterrupted ``prepare`` of ``clips``, the result every interrupted run must reproduce."""
    from avgen.data import PrepareSettings, prepare

    out = str(tmp_path_factory.mktemp("prepared_reference"))
    summary = prepare(manifest_items(clips), out, settings=PrepareSettings(fps=PREPARE_FPS), workers=0,
                      progress=False, encoder=cpu_encoder)
    assert summary.processed == len(clips) and not summary.failed
    return out


def manifest_items(paths):
    from avgen.data.manifest import ManifestItem

    return [ManifestItem(p, os.path.splitext(os.path.basename(p))[0]) for p in paths]


@pytest.fixture(scope="session")
def tiny_v2s(tmp_path_factory) -> str:
    """A seeded, untrained VarietySound pipeline folder (a few hundred kB, loads in well under a second)."""
    import torch

    from avgen.models.v2s.varietysound import VarietySound
    from avgen.generate import VideoToSoundPipeline

    torch.manual_seed(0)
    g = VarietySound(feature_dim=1280, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
                     background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16, dropout=0.0)
    config = {"task": "varietysound", "model": g.config, "feature_dim": 1280, "n_mels": 80,
              "data": {"fps": 21.5, "visual": {"backbone": "efficientnet-lite0"}, "mel": {"name": "specvqgan"},
                       "segment_seconds": 2.0}}
    return VideoToSoundPipeline(g, config, device="cpu").save_pretrained(tmp_path_factory.mktemp("tiny_v2s"), fp16=True)


def _tree(root: str) -> dict[str, str]:
    """path -> content hash of every file under ``root``."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str


@pytest.fixture
def run_cli(capsys, bad, tmp_path):
    """Run ``avgen.cli.main(argv)`` in-process; returns its exit code and output. Asserts that nothing changed under
    the bad inputs' folder or the test's ``tmp_path`` (inputs unmodified, no stray temporary or probe file) but
    inside ``writes_in`` (the output folder) or at ``writes`` (the output files of a run that must succeed), that
    no file appeared in the working folder, and that the hostile pickle's marker is absent."""
    from avgen.cli import main

    roots = [os.path.dirname(bad["good_wav"]), str(tmp_path)]

    def run(argv, *, writes_in: str | None = None, writes: tuple = ()) -> Outcome:
        before = {k: v for r in roots for k, v in _tree(r).items()}
        cwd_before = set(os.listdir("."))
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse errors
            code = e.code
        out = capsys.readouterr()
        after = {k: v for r in roots for k, v in _tree(r).items()}
        changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        if writes_in:
            changed = {p for p in changed if not p.startswith(os.path.abspath(writes_in) + os.sep)}
        changed -= {os.path.abspath(str(w)) for w in writes}
        assert not changed, f"files changed outside the output folder: {sorted(changed)}"
        allowed = {os.path.abspath(str(w)) for w in writes} | ({os.path.abspath(writes_in)} if writes_in else set())
        new = {n for n in set(os.listdir(".")) - cwd_before if os.path.abspath(n) not in allowed}
        assert not new, f"written in the working folder: {sorted(new)}"
        assert not os.path.exists(bad["marker"]), "a hostile pickle ran"
        return Outcome(code, out.err, out.out)

    return run


def assert_one_line_error(res: Outcome, *needles: str) -> None:
    """Exit 2, exactly one non-empty stderr line, no traceback, the line names each of ``needles``."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.code == 2, (res.code, res.stderr)
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
