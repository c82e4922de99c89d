"""Every command refuses bad input with one stderr line and exit 2, before decoding or training starts; nothing is
written outside the output folder, no input changes, no hostile file runs (issue 17's "one line, exit 2" list)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from .conftest import assert_one_line_error

FEATURE2MEL = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "baseline", "feature2mel.yaml")


@pytest.fixture
def no_model_load(monkeypatch):
    """For refusals that must come before any work: loading the pipeline (which comes before decoding any frame
    or sample) fails the test."""
    import avgen.cli

    def loaded(*args, **kwargs):
        raise AssertionError("the pipeline loaded before the bad input was refused")

    monkeypatch.setattr(avgen.cli, "_load_v2s", loaded)


def _v2s(bad, ckpt, *extra, video="good_mp4", reference="good_wav"):
    return ["v2s", bad[video], "--reference", bad[reference], "--checkpoint", ckpt, "--vocoder", "griffin-lim",
            *extra]


# (id, extra v2s arguments given the output folder, the text the one line must hold)
V2S_OPTIONS = [
    ("device-bogus", ["--device", "bogus"], "--device bogus"),
    ("chunk-nan", ["--chunk-seconds", "nan"], "--chunk-seconds"),
    ("chunk-zero", ["--chunk-seconds", "0"], "--chunk-seconds"),
    ("gain-inf", ["--gain", "inf"], "--gain"),
    ("seed-huge", ["--seed", str(2**70)], "--seed"),
]


@pytest.mark.parametrize("case, extra, needle", V2S_OPTIONS, ids=[c[0] for c in V2S_OPTIONS])
def test_v2s_bad_options(run_cli, bad, tiny_v2s, tmp_path, case, extra, needle, no_model_load):
    out = tmp_path / "o.wav"
    res = run_cli(_v2s(bad, tiny_v2s, "-o", out, *extra))
    assert_one_line_error(res, needle)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_v2s_cuda_without_cuda(run_cli, bad, tiny_v2s, tmp_path, no_model_load):
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", tmp_path / "o.wav", "--device", "cuda")), "CUDA")


# (id, input overrides, the text the one line must hold): what the headers show, refused before the model loads
V2S_INPUTS = [
    ("text-as-mp4", dict(video="text_mp4"), "text.mp4: not a media file"),
    ("truncated-mp4", dict(video="truncated_mp4"), "the data stops before"),
    ("png-as-video", dict(video="png_as_video"), "still image"),
    ("video-as-reference-without-audio", dict(reference="one_frame_mp4"), "no audio stream"),
]


@pytest.mark.parametrize("case, inputs, needle", V2S_INPUTS, ids=[c[0] for c in V2S_INPUTS])
def test_v2s_bad_inputs(run_cli, bad, tiny_v2s, tmp_path, case, inputs, needle, no_model_load):
    out = tmp_path / "o.wav"
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", out, **inputs)), needle)
    assert not out.exists()


# what only the samples or the model's frame rate show: refused as the input is read, before generation
V2S_READ_INPUTS = [
    ("one-frame", dict(video="one_frame_mp4"), "one_frame.mp4", "shorter than one frame"),
    ("nan-reference", dict(reference="nan_wav"), "nan.wav", "non-finite value(s) (NaN/inf), the first at sample 100"),
]


@pytest.mark.parametrize("case, inputs, name, needle", V2S_READ_INPUTS, ids=[c[0] for c in V2S_READ_INPUTS])
def test_v2s_bad_samples(run_cli, bad, tiny_v2s, tmp_path, case, inputs, name, needle):
    out = tmp_path / "o.wav"
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", out, **inputs)), name, needle)
    assert not out.exists()


def test_v2s_rawvideo_into_mp4_is_refused_up_front(run_cli, bad, tiny_v2s, tmp_path, no_model_load):
    res = run_cli(_v2s(bad, tiny_v2s, "-o", tmp_path / "o.mp4", video="rawvideo_avi"))
    assert_one_line_error(res, "raw.avi", "rawvideo")


def test_v2s_bad_outputs(run_cli, bad, tiny_v2s, tmp_path, no_model_load):
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", tmp_path / "o.txt")), "unknown output type")
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", os.path.join(bad["good_wav"], "o.wav"))), "is a file")
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", bad["good_wav"])), "would replace an input")
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", bad["good_mp4"])), "would replace an input", "good.mp4")
    if os.geteuid() != 0:  # root writes into read-only folders
        assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "-o", os.path.join(bad["readonly_dir"], "o.wav"))),
                              "cannot write", bad["readonly_dir"])


def test_v2s_bad_checkpoints(run_cli, bad, tiny_v2s, tmp_path):
    out = str(tmp_path / "o.wav")
    base = ["v2s", bad["good_mp4"], "--reference", bad["good_wav"], "--vocoder", "griffin-lim", "-o", out]
    assert_one_line_error(run_cli(base + ["--checkpoint", bad["empty_dir"]]), "empty folder")
    assert_one_line_error(run_cli(base + ["--checkpoint", bad["good_wav"]]), "is a file, not a pipeline folder")
    assert_one_line_error(run_cli(base + ["--checkpoint", str(tmp_path / "nope")]), "no such folder")
    res = run_cli(_v2s(bad, tiny_v2s)[:-2] + ["--vocoder", bad["good_wav"], "-o", out])
    assert_one_line_error(res, bad["good_wav"], "not a vocoder folder")
    assert "does not exist" not in res.stderr
    # a config.json value of the wrong type, and an unknown model key
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_v2s, broken)
    cfg = json.loads((broken / "config.json").read_text())
    cfg["data"]["fps"] = "fast"
    (broken / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(run_cli(base + ["--checkpoint", broken]), "config.json", "unusable settings", "'fast'")
    cfg["data"]["fps"] = 21.5
    (broken / "config.json").write_text(json.dumps(cfg))
    model = json.loads((broken / "generator" / "config.json").read_text())
    model["config"]["bogus"] = 1
    (broken / "generator" / "config.json").write_text(json.dumps(model))
    assert_one_line_error(run_cli(base + ["--checkpoint", broken]), "bogus")
    assert not os.path.exists(out)


def test_v2s_manifest_refusals(run_cli, bad, tiny_v2s, tmp_path, no_model_load):
    out = tmp_path / "batch"
    m = tmp_path / "m.jsonl"
    assert_one_line_error(run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s]), "manifest not found")
    m.write_text('{"video": "a.mp4", "reference": "b.wav"}\n{oops\n')
    assert_one_line_error(run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s]), "line 2")
    m.write_text(json.dumps({"video": 7, "reference": "b.wav"}) + "\n")
    assert_one_line_error(run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s]), "must be a string")
    assert_one_line_error(run_cli(["v2s", "--manifest", m, "-o", bad["good_wav"], "--checkpoint", tiny_v2s]),
                          "is a file")
    assert not out.exists()


def test_v2s_manifest_rawvideo_fails_that_item_only(run_cli, bad, tiny_v2s, tmp_path):
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"video": bad[v], "reference": bad["good_wav"], "id": i}) + "\n"
                         for v, i in (("rawvideo_avi", "raw"), ("quarter_mp4", "good"))))
    out = tmp_path / "batch"
    res = run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s, "--vocoder", "griffin-lim",
                   "--no-progress"], writes_in=str(out))
    assert res.code == 1 and "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "raw.avi" in lines[0] and "rawvideo" in lines[0], res.stderr
    assert sorted(os.listdir(out)) == ["good.mp4"] and "1 of 2 written" in res.stdout


S2V = [
    ("num-frames-zero", ["--num-frames", "0"], "--num-frames"),
    ("fps-zero", ["--fps", "0"], "--fps"),
    ("fps-negative", ["--fps", "-3"], "--fps"),
    ("trunc-nan", ["--trunc", "nan"], "--trunc"),
    ("device-bogus", ["--device", "bogus"], "--device"),
    ("seed-negative", ["--seed", "-1"], "--seed"),
    ("checkpoint-file", ["--checkpoint", "GOOD_WAV"], "is a file"),
]


@pytest.mark.parametrize("case, extra, needle", S2V, ids=[c[0] for c in S2V])
def test_s2v_bad_options(run_cli, bad, tmp_path, case, extra, needle):
    out = tmp_path / "o.mp4"
    extra = [bad["good_wav"] if x == "GOOD_WAV" else x for x in extra]
    assert_one_line_error(run_cli(["s2v", bad["good_wav"], "-o", out, *extra]), needle)
    assert not out.exists()


def test_s2v_bad_audio_and_output(run_cli, bad, tmp_path):
    out = tmp_path / "o.mp4"
    assert_one_line_error(run_cli(["s2v", bad["good_wav"], "-o", tmp_path / "o.wav"]), "unknown output type")
    assert_one_line_error(run_cli(["s2v", bad["png_as_video"], "-o", out]), "still image")
    assert_one_line_error(run_cli(["s2v", bad["text_mp4"], "-o", out]), "text.mp4", "not a media file")
    # these two need the (bundled, small) model: the audio is checked as the pipeline reads it
    assert_one_line_error(run_cli(["s2v", bad["nan_wav"], "-o", out]), "nan.wav", "non-finite")
    assert_one_line_error(run_cli(["s2v", bad["short_wav"], "-o", out]), "short.wav", "shorter than one frame")
    assert not out.exists()


def test_s2v_one_frame_renders(run_cli, bad, tmp_path):
    out = tmp_path / "o.mp4"
    res = run_cli(["s2v", bad["good_wav"], "-o", out, "--num-frames", "1"], writes=(out,))
    assert res.code == 0, res.stderr
    from avgen.media import probe

    assert probe(out).num_frames == 1


PREPARE = [
    ("mel-preset", ["--mel-preset", "nope"], "--mel-preset nope"),
    ("batch-size-zero", ["--batch-size", "0"], "--batch-size"),
    ("fps-zero", ["--fps", "0"], "--fps"),
    ("clip-seconds-negative", ["--clip-seconds", "-1"], "--clip-seconds"),
    ("workers-negative", ["--workers", "-1"], "--workers"),
    ("device-bogus", ["--device", "bogus"], "--device"),
    ("weights-missing", ["--weights", "/nonexistent/w.pth"], "--weights"),
    ("weights-hostile", ["--weights", "HOSTILE_PT"], "not a weights-only file"),
    ("weights-broken-safetensors", ["--weights", "BAD_SAFETENSORS"], "bad.safetensors: not usable as"),
    ("weights-torchscript", ["--weights", "TORCHSCRIPT"], "TorchScript archive"),
]


@pytest.mark.parametrize("case, extra, needle", PREPARE, ids=[c[0] for c in PREPARE])
def test_prepare_bad_options(run_cli, bad, tmp_path, case, extra, needle):
    out = tmp_path / "cache"
    names = {"HOSTILE_PT": "hostile_pt", "BAD_SAFETENSORS": "bad_safetensors", "TORCHSCRIPT": "torchscript_pt"}
    extra = [bad[names[x]] if x in names else x for x in extra]
    res = run_cli(["prepare", bad["quarter_mp4"], "-o", out, "--workers", "0", "--no-progress", *extra],
                  writes_in=str(out))
    assert_one_line_error(res, needle)
    assert "weights_only=False" not in res.stderr and "weights_only` set to `False" not in res.stderr
    if not case.startswith("weights-"):  # refused before the cache folder is made
        assert not out.exists()


def test_prepare_bad_output_and_manifest(run_cli, bad, tmp_path):
    assert_one_line_error(run_cli(["prepare", bad["good_mp4"], "-o", bad["good_wav"], "--workers", "0"]), "is a file")
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"path": 12}) + "\n")
    assert_one_line_error(run_cli(["prepare", m, "-o", tmp_path / "c", "--workers", "0"]), "m.jsonl:1", "'path'")


TRAIN = ["optim_g.lr=-1", "optim_g.lr=.nan", "optim_d.betas=[0.5,1.0]", "data.batch_size=0", "ckpt_every=0",
         "data.segment_seconds=-1", "max_steps=-5", "grad_accum=0", "keep_checkpoints=0"]


@pytest.mark.parametrize("override", TRAIN)
def test_train_bad_config_values(run_cli, tmp_path, override):
    run_dir = tmp_path / "run"
    res = run_cli(["train", "--config", FEATURE2MEL, "--cpu", f"run_dir={run_dir}", override])
    assert_one_line_error(res, override.split("=")[0])
    assert not run_dir.exists()  # nothing trained, no final/ exported


def test_info_messages(run_cli, bad):
    assert_one_line_error(run_cli(["info", bad["png_as_video"]]), "still image")
    assert_one_line_error(run_cli(["info", bad["truncated_mp4"]]), "the data stops before")
    assert run_cli(["info", bad["good_mp4"]]).code == 0


def test_v2s_unwritable_output_folder_is_named(run_cli, bad, tiny_v2s, tmp_path, monkeypatch, no_model_load):
    """A folder where no file can be created (simulated: root ignores read-only modes) fails before any work,
    naming the folder, not a temporary file."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    res = run_cli(_v2s(bad, tiny_v2s, "-o", tmp_path / "sub" / "o.wav"))
    assert_one_line_error(res, "cannot write in", str(tmp_path), "Permission denied")
    assert ".tmp" not in res.stderr


def test_eval_refusals_before_extraction(run_cli, bad, tmp_path):
    import shutil

    from .conftest import _frames, _png

    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        _png(str(images / f"{i}.png"), _frames(1)[0])
    assert_one_line_error(run_cli(["eval", "is", images, "--splits", "100"]), "--splits 100", "6 image")
    assert_one_line_error(run_cli(["eval", "is", images, "--splits", "0"]), "--splits 0")
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    shutil.copy(bad["nan_wav"], gen / "a.wav")
    shutil.copy(bad["good_wav"], ref / "a.wav")
    assert_one_line_error(run_cli(["eval", "mcd", ref, ref, "--order", "0", "--no-progress"]), "--order 0")
    res = run_cli(["eval", "timbre", gen, ref, "--no-progress"])
    assert_one_line_error(res, "a.wav", "non-finite", "first at sample 100")  # at the file's rate, not after resampling
    assert "silence" not in res.stderr


def test_v2s_manifest_output_that_would_replace_its_input(run_cli, bad, tiny_v2s, tmp_path, no_model_load):
    """A row whose output name is its own video (``-o`` is the video's folder, the id its stem) is refused before
    the model loads, naming the file; the video stays as it was."""
    import shutil

    out = tmp_path / "batch"
    out.mkdir()
    video = out / "r.mp4"
    shutil.copy(bad["quarter_mp4"], video)
    before = video.read_bytes()
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"video": str(video), "reference": bad["good_wav"], "id": "r"}) + "\n")
    res = run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s, "--format", "mp4"])
    assert_one_line_error(res, f"{video}: the output would replace an input")
    assert video.read_bytes() == before and sorted(os.listdir(out)) == ["r.mp4"]
