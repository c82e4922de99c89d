"""avgen app's callbacks without a browser: they take and return file paths, refuse bad uploads with the CLI's
one-line messages, and run the bundled defaults. (tests/browser/test_webapp.py drives the real page.)"""

import os
import sys

import pytest

from avgen import app
from avgen.errors import AvgenError

def test_bundled_examples_are_the_clis():
    from avgen import cli

    ex = app.bundled_examples()
    assert ex["video"] == os.path.abspath(cli.EXAMPLE_V2S_VIDEO)
    assert ex["reference"] == os.path.abspath(cli.EXAMPLE_V2S_REFERENCE)
    assert all(os.path.isfile(p) for p in ex.values())


def _cli_error(capsys, *args) -> str:
    """The message ``avgen ARGS`` prints (in-process: the interpreter and torch are already loaded)."""
    from avgen.cli import main

    capsys.readouterr()
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err.split(": error: ", 1)[1]


def test_bad_uploads_give_the_clis_message(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    ex = app.bundled_examples()
    with pytest.raises(AvgenError) as e:
        app.run_v2s(str(text), ex["reference"], output_dir=tmp_path)
    assert str(e.value) == _cli_error(capsys, "v2s", str(text), "-o", str(tmp_path / "o.wav"))
    # a sound where a video is needed, and a video without sound where a reference is needed
    with pytest.raises(AvgenError, match="no video stream"):
        app.run_v2s(ex["reference"], ex["reference"], output_dir=tmp_path)
    with pytest.raises(AvgenError) as e:
        app.run_s2v(str(text), output_dir=tmp_path)
    assert str(e.value) == _cli_error(capsys, "s2v", str(text), "-o", str(tmp_path / "o.mp4"))
    with pytest.raises(AvgenError) as e:
        app.run_v2s(ex["video"], ex["reference"], checkpoint=str(tmp_path / "none"), output_dir=tmp_path)
    assert str(e.value).split(": ", 1)[1] == _cli_error(capsys, "v2s", "--checkpoint", str(tmp_path / "none"), "-o",
                                                        str(tmp_path / "o.wav")).split(": ", 1)[1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("job-")]  # refused before any work


@pytest.mark.parametrize("call, message", [
    (lambda d: app.run_v2s(None, None, output_dir=d), "give a video"),
    (lambda d: app.run_v2s(app.bundled_examples()["video"], None, output_dir=d), "give a reference"),
    (lambda d: app.run_v2s(app.bundled_examples()["video"], app.bundled_examples()["reference"], seed=1.5,
                           output_dir=d), "seed 1.5: must be a whole number"),
    (lambda d: app.run_s2v(app.bundled_examples()["s2v_audio"], mix_seed=3, mix_levels=[], output_dir=d),
     "choose at least one"),
    (lambda d: app.run_s2v(app.bundled_examples()["s2v_audio"], mix_levels=["top"], output_dir=d), "mix levels top"),
    (lambda d: app.run_edit(None, text="a lake", output_dir=d), "first make a video"),
    (lambda d: app.run_edit(None, last_result=object(), text="  ", output_dir=d), "give an edit prompt"),
])
def test_missing_or_bad_values_are_one_line(call, message, tmp_path):
    with pytest.raises(AvgenError, match=message) as e:
        call(tmp_path)
    assert "\n" not in str(e.value)


def test_s2v_then_edit_on_the_bundled_model(tmp_path):
    from avgen.media import probe, read_audio, write_audio

    # the first second of the bundled sound: the same model and code path, fewer frames to render and edit
    wav, sr = read_audio(app.bundled_examples()["s2v_audio"])
    write_audio(tmp_path / "lake_1s.wav", wav[:, :sr], sr)
    steps = []
    mp4, res = app.run_s2v(str(tmp_path / "lake_1s.wav"), seed=3, mix_seed=5,
                           mix_levels=["fine"], output_dir=tmp_path, progress=lambda f, desc="": steps.append(f))
    info = probe(mp4)
    assert info.has_video and info.has_audio and info.num_frames == len(res.frames)
    assert steps[0] < steps[-1] == 1.0
    edited, summary = app.run_edit(None, last_result=res, text="a forest", steps=2, output_dir=tmp_path)
    assert probe(edited).num_frames == len(res.frames) and "CLIP similarity to 'a forest'" in summary


def test_edit_an_uploaded_image(tmp_path):
    import numpy as np
    from PIL import Image

    from avgen.media import probe

    img = tmp_path / "upload.png"
    Image.fromarray(np.full((64, 64, 3), (40, 120, 200), np.uint8)).save(img)  # a blue square: sky or lake
    mp4, summary = app.run_edit(str(img), text="a forest", steps=1, invert_steps=2, levels=["fine"],
                                output_dir=tmp_path)
    assert probe(mp4).has_video and "(1 frames)" in summary
    with pytest.raises(AvgenError, match="inversion steps 0: must be at least 1"):
        app.run_edit(str(img), text="a forest", invert_steps=0, output_dir=tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AvgenError, match="notes.txt: not a media file"):
        app.run_edit(str(tmp_path / "notes.txt"), text="a forest", output_dir=tmp_path)


def test_s2v_passes_prompt_and_mixing_through(monkeypatch, tmp_path):
    # the prompt search itself is the facade's (tests/test_s2v_default.py); here: the app hands it over unchanged
    import avgen.generate

    seen = {}

    class Result:
        def save(self, path):
            return str(path)

    def fake(audio, **kw):
        seen.update(kw, audio=audio)
        return Result()

    monkeypatch.setattr(avgen.generate, "sound_to_video", fake)
    mp4, _ = app.run_s2v(app.bundled_examples()["s2v_audio"], text=" a lake ", seed=4.0, mix_seed=7,
                         mix_levels=["coarse", "fine"], output_dir=tmp_path)
    assert seen["text"] == "a lake" and seen["seed"] == 4 and seen["mix_seed"] == 7
    assert seen["mix_levels"] == ("coarse", "fine") and mp4.endswith("s2v.mp4")
    app.run_s2v(app.bundled_examples()["s2v_audio"], text="", mix_seed=None, output_dir=tmp_path)
    assert seen["text"] is None and seen["mix_seed"] is None


def test_build_app_lays_out_the_three_tabs(tmp_path):
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install 'avgen[app]')")
    demo = app.build_app(output_dir=tmp_path)
    labels = {getattr(b, "label", None) for b in demo.blocks.values()}
    assert {"Video → sound", "Sound → video", "Editing"} <= labels
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and demo.analytics_enabled is False


def test_missing_gradio_is_an_install_hint(monkeypatch, capsys):
    from avgen.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    assert main(["app", "--port", "7999"]) == 2
    assert capsys.readouterr().err.strip() == ("avgen app: error: the app needs Gradio, which is not installed: "
                                               "pip install 'avgen[app]'")
    assert main(["app", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == "avgen app: error: --port 0: must be in [1, 65535]"


def test_the_app_and_the_cli_share_one_set_of_checks():
    # the same functions, not copies: a rule changed for the CLI changes for the app
    from avgen import cli, cli_checks

    assert app.check_checkpoint_folder is cli._check_checkpoint_folder is cli_checks.check_checkpoint_folder
    assert app.check_number is cli._check_number and app.check_seed is cli._check_seed
    with pytest.raises(AvgenError, match=r"^seed 9223372036854775808: must be in \[0, 2\*\*63\)$"):
        app.run_v2s(app.bundled_examples()["video"], app.bundled_examples()["reference"], seed=2**63)


@pytest.mark.parametrize("config, message", [
    ({"class": "SpecVQGANPipeline", "components": {"codebook": "codebook", "transformer": "transformer"}},
     "a SpecVQGAN folder; this tab runs VarietySound folders (VideoToSoundPipeline) only: run it with avgen v2s "
     "VIDEO --checkpoint {ckpt} --visual-weights RESNET50.pth"),
    ({"class": "FeatureToMelPipeline"}, "a feature2mel folder; this tab runs VarietySound folders"),
])
def test_v2s_tab_names_what_it_runs_for_another_heads_folder(config, message, tmp_path, monkeypatch):
    import json

    # the head is read from config.json alone: no model is built or loaded, no job folder made
    ckpt = tmp_path / "other_head"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(config))
    loaded = []
    monkeypatch.setattr(app, "_v2s_pipeline", lambda *a: loaded.append(a))
    ex = app.bundled_examples()
    with pytest.raises(AvgenError) as e:
        app.run_v2s(ex["video"], ex["reference"], checkpoint=str(ckpt), output_dir=tmp_path)
    assert str(e.value).startswith(f"checkpoint {ckpt}: ") and message.format(ckpt=ckpt) in str(e.value)
    assert "\n" not in str(e.value) and not loaded
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("job-")]
    # a VarietySound folder passes the check and reaches the pipeline
    (ckpt / "config.json").write_text(json.dumps({"class": "VideoToSoundPipeline"}))
    with pytest.raises(TypeError):  # the stand-in loader returns None, which is not callable
        app.run_v2s(ex["video"], ex["reference"], checkpoint=str(ckpt), output_dir=tmp_path)
    assert loaded == [(str(ckpt), None, None)]
