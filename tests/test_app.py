"""avgen app's callbacks without a browser: they take and return file paths, refuse bad uploads with the CLI's
one-line messages, and run the bundled defaults. (tests/browser/test_webapp.py drives the real page.)"""

import os
import subprocess
import sys

import pytest

from avgen import app
from avgen.errors import AvgenError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bundled_examples_are_the_clis():
    from avgen import cli

    ex = app.bundled_examples()
    assert ex["video"] == os.path.abspath(cli.EXAMPLE_V2S_VIDEO)
    assert ex["reference"] == os.path.abspath(cli.EXAMPLE_V2S_REFERENCE)
    assert all(os.path.isfile(p) for p in ex.values())


def _cli_error(*args) -> str:
    r = subprocess.run([sys.executable, "-m", "avgen.cli", *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    return r.stderr.strip().split(": error: ", 1)[1]


def test_bad_uploads_give_the_clis_message(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    ex = app.bundled_examples()
    with pytest.raises(AvgenError) as e:
        app.run_v2s(str(text), ex["reference"], output_dir=tmp_path)
    assert str(e.value) == _cli_error("v2s", str(text), "-o", str(tmp_path / "o.wav"))
    # a sound where a video is needed, and a video without sound where a reference is needed
    with pytest.raises(AvgenError, match="no video stream"):
        app.run_v2s(ex["reference"], ex["reference"], output_dir=tmp_path)
    with pytest.raises(AvgenError) as e:
        app.run_s2v(str(text), output_dir=tmp_path)
    assert str(e.value) == _cli_error("s2v", str(text), "-o", str(tmp_path / "o.mp4"))
    with pytest.raises(AvgenError) as e:
        app.run_v2s(ex["video"], ex["reference"], checkpoint=str(tmp_path / "none"), output_dir=tmp_path)
    assert str(e.value).split(": ", 1)[1] == _cli_error("v2s", "--checkpoint", str(tmp_path / "none"), "-o",
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
    from avgen.media import probe

    steps = []
    mp4, res = app.run_s2v(app.bundled_examples()["s2v_audio"], text="a lake", seed=3, mix_seed=5,
                           mix_levels=["fine"], output_dir=tmp_path, progress=lambda f, desc="": steps.append(f))
    info = probe(mp4)
    assert info.has_video and info.has_audio and info.num_frames == len(res.frames)
    assert steps[0] < steps[-1] == 1.0
    edited, summary = app.run_edit(None, last_result=res, text="a forest", steps=2, output_dir=tmp_path)
    assert probe(edited).num_frames == len(res.frames) and "CLIP similarity to 'a forest'" in summary


def test_build_app_lays_out_the_three_tabs(tmp_path):
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install 'avgen[app]')")
    demo = app.build_app(output_dir=tmp_path)
    labels = {getattr(b, "label", None) for b in demo.blocks.values()}
    assert {"Video → sound", "Sound → video", "Editing"} <= labels
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False" and demo.analytics_enabled is False


def test_missing_gradio_is_an_install_hint(tmp_path):
    # gradio made unimportable: one line with the install hint, exit 2
    code = ("import sys; sys.modules['gradio'] = None; from avgen.cli import main; "
            "sys.exit(main(['app', '--port', '7999']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2
    assert r.stderr.strip() == ("avgen app: error: the app needs Gradio, which is not installed: "
                                "pip install 'avgen[app]'")
    bad = subprocess.run([sys.executable, "-m", "avgen.cli", "app", "--port", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--port 0: must be in [1, 65535]" in bad.stderr
