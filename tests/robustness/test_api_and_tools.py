"""The Python API's argument checks and the two stand-alone tools (tools/text_edit.py, python -m stylegan.projector):
clear errors instead of silent results or tracebacks, checked before any model loads."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from avgen.errors import AvgenError
from avgen.media import check_stream_copy, read_audio, write_audio, write_video

from .conftest import assert_one_line_error

TEXT_EDIT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "text_edit.py")


def test_read_audio_refuses_a_negative_span(bad):
    with pytest.raises(AvgenError, match="duration"):
        read_audio(bad["good_wav"], duration=-1)
    with pytest.raises(AvgenError, match="start"):
        read_audio(bad["good_wav"], start=float("nan"))


def test_empty_arrays_are_avgen_errors(tmp_path):
    with pytest.raises(AvgenError, match="empty"):
        write_audio(tmp_path / "a.wav", np.zeros((1, 0), np.float32), 22050)
    with pytest.raises(AvgenError, match="empty"):
        write_video(tmp_path / "v.mp4", np.zeros((0, 8, 8, 3), np.uint8), 8.0)
    assert not os.listdir(tmp_path)


def test_stream_copy_check(bad, tmp_path):
    with pytest.raises(AvgenError, match="rawvideo"):
        check_stream_copy(bad["rawvideo_avi"], tmp_path / "o.mp4")
    check_stream_copy(bad["rawvideo_avi"], tmp_path / "o.mkv")  # matroska holds rawvideo
    check_stream_copy(bad["good_mp4"], tmp_path / "o.mp4")


@pytest.fixture(scope="module")
def text_edit():
    spec = importlib.util.spec_from_file_location("text_edit_tool", TEXT_EDIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _call(main, argv, capsys):
    from .conftest import Outcome

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return Outcome(code, out.err, out.out)


@pytest.mark.parametrize("case, source, extra, needle", [
    ("text-as-mp4", "text_mp4", [], "text.mp4: not a media file"),
    ("text-as-png", "text_png", [], "text.png: not an image"),
    ("png-as-video-name", "png_as_video", ["-o", "OUT.txt"], "unknown output type"),
    ("missing", None, [], "no such file"),
    ("steps-zero", "good_mp4", ["--steps", "0"], "--steps"),
    ("device", "good_mp4", ["--device", "bogus"], "--device"),
])
def test_text_edit_refuses_before_work(text_edit, bad, tmp_path, capsys, case, source, extra, needle):
    src = bad[source] if source else str(tmp_path / "missing.png")
    out = [str(tmp_path / "e.mp4")] if "-o" not in extra else []
    extra = [str(tmp_path / "e.txt") if x == "OUT.txt" else x for x in extra]
    res = _call(text_edit, ["--text", "a lake", "--source", src, *(["-o", *out] if out else []), *extra], capsys)
    assert_one_line_error(res, needle)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("case, target, checkpoint, extra, needle", [
    ("text-target", "text_mp4", "hostile_pkl", [], "not an image"),
    ("text-png-target", "text_png", "hostile_pkl", [], "not an image"),
    ("missing-target", None, "hostile_pkl", [], "no such file"),
    ("hostile-checkpoint", "png_as_video", "hostile_pkl", [], "hostile.pkl"),
    ("torchscript-checkpoint", "png_as_video", "torchscript_pt", [], "TorchScript archive"),
    ("hostile-pt-checkpoint", "png_as_video", "hostile_pt", [], "not a weights-only file"),
    ("out-under-a-file", "png_as_video", "hostile_pkl", ["--out", "GOOD_WAV/p"], "is a file"),
    ("steps-zero", "png_as_video", "hostile_pkl", ["--steps", "0"], "--steps"),
    ("lr-nan", "png_as_video", "hostile_pkl", ["--lr", "nan"], "--lr"),
])
def test_projector_refuses_before_work(bad, tmp_path, capsys, case, target, checkpoint, extra, needle):
    from stylegan.projector import main

    extra = [x.replace("GOOD_WAV", bad["good_wav"]) for x in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "proj")]
    tgt = bad[target] if target else str(tmp_path / "missing.png")
    res = _call(main, ["--checkpoint", bad[checkpoint], "--target", tgt, *out, *extra, "--device", "cpu"], capsys)
    assert_one_line_error(res, needle)
    assert not (tmp_path / "proj").exists() and not os.path.exists(bad["marker"])


def test_a_relative_single_file_is_not_joined_twice(tmp_path, monkeypatch):
    from avgen.data.manifest import read_manifest

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "x.mp4").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert read_manifest("corpus/x.mp4")[0].path == str(tmp_path / "corpus" / "x.mp4")


def test_sound_to_video_refuses_empty_audio():
    """No samples is an error even when ``num_frames`` says how many frames to draw (it rendered from silence)."""
    from avgen.generate import sound_to_video

    for kwargs in ({}, {"num_frames": 2}):
        with pytest.raises(AvgenError, match="empty audio"):
            sound_to_video(np.zeros(0, np.float32), sample_rate=22050, device="cpu", **kwargs)


@pytest.mark.parametrize("kwargs, needle", [(dict(fps=0), "fps"), (dict(num_frames=0), "num_frames"),
                                            (dict(truncation_psi=float("nan")), "truncation_psi")])
def test_sound_to_video_refuses_instead_of_defaulting(kwargs, needle):
    from avgen.generate import sound_to_video

    with pytest.raises(AvgenError, match=needle):
        sound_to_video(np.zeros(22050, np.float32), sample_rate=22050, **kwargs)


def test_video_to_sound_checks_its_arguments_before_the_video(bad, tiny_v2s, tmp_path):
    import json
    import shutil

    from avgen.checkpoints import CheckpointError
    from avgen.generate import VideoToSoundPipeline

    pipe = VideoToSoundPipeline.from_pretrained(tiny_v2s, device="cpu", vocoder="griffin-lim")
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    ok_ref = np.full(4000, 0.1, np.float32)
    cases = [
        (dict(video="missing.mp4", reference=bad["nan_wav"]), "nan.wav"),  # the reference fails first, not the video
        (dict(video=frames, reference=ok_ref, reference_sample_rate=22050, video_fps=-5), "video_fps"),
        (dict(video=np.zeros((0, 32, 32, 3), np.uint8), reference=ok_ref, reference_sample_rate=22050), "empty"),
        (dict(video=frames, reference=np.zeros(0, np.float32), reference_sample_rate=22050), "non-empty"),
        (dict(video=frames, reference=ok_ref, reference_sample_rate=0), "reference_sample_rate"),
        (dict(video=frames, reference=ok_ref, reference_sample_rate=22050, chunk_seconds=float("nan")),
         "chunk_seconds"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(AvgenError, match=needle):
            pipe(**kwargs)
    # a pipeline config.json with entries the pipeline does not read is refused, naming the file
    folder = shutil.copytree(tiny_v2s, tmp_path / "extra")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "vocodr": "typo"}))
    with pytest.raises(CheckpointError, match="config.json: unknown entries vocodr"):
        VideoToSoundPipeline.from_pretrained(folder, device="cpu", vocoder="griffin-lim")
