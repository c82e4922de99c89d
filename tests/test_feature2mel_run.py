"""A trained feature2mel baseline runs: `avgen prepare` on real clips, a short `avgen train` with task feature2mel,
then `avgen feature2mel VIDEO --checkpoint <run>/final` (and the Python API) give a track as long as the video."""

import os

import numpy as np
import pytest

from avgen.cli import EXAMPLE_V2S_VIDEO, EXAMPLE_VIDEO, main
from avgen.media import probe, read_audio

from .conftest import REPO

CONFIG = os.path.join(REPO, "configs", "baseline", "feature2mel.yaml")
TINY = ["model.hidden=16", "model.num_layers=1", "model.window_hidden=8", "model.window_lengths=[16,32,64]",
        "data.batch_size=2", "data.num_workers=0", "data.segment_seconds=1.0", "log_every=1", "sample_every=100",
        "ckpt_every=100", "max_steps=3"]


@pytest.fixture(scope="module")
def final(tmp_path_factory):
    root = tmp_path_factory.mktemp("f2m")
    videos = root / "videos"
    videos.mkdir()
    for v in (EXAMPLE_VIDEO, EXAMPLE_V2S_VIDEO):
        os.symlink(v, videos / os.path.basename(v))
    assert main(["prepare", str(videos), "-o", str(root / "cache"), "--workers", "0", "--device", "cpu",
                 "--quiet"]) == 0
    assert main(["train", "--config", CONFIG, "--cpu", "--quiet", f"data.path={root / 'cache'}",
                 f"run_dir={root / 'run'}", *TINY]) == 0
    return str(root / "run" / "final")


def test_cli_runs_the_exported_baseline(final, tmp_path, capsys):
    wav = str(tmp_path / "out.wav")
    assert main(["feature2mel", EXAMPLE_V2S_VIDEO, "--checkpoint", final, "-o", wav, "--vocoder", "griffin-lim",
                 "--device", "cpu"]) == 0
    cap = capsys.readouterr()
    assert "wrote" in cap.out and "vocoder griffin-lim" in cap.out
    for stage in ("feature2mel: features", "feature2mel: synthesis", "feature2mel: vocoder"):
        assert stage in cap.err
    audio, sr = read_audio(wav)
    duration = probe(EXAMPLE_V2S_VIDEO).video_duration
    assert sr == 22050 and abs(audio.shape[-1] / sr - duration) < 1e-3
    assert np.isfinite(audio).all() and 0 < np.abs(audio).max() <= 0.99 + 1e-4
    mp4 = str(tmp_path / "out.mp4")
    assert main(["feature2mel", EXAMPLE_V2S_VIDEO, "--checkpoint", final, "-o", mp4, "--vocoder", "griffin-lim",
                 "--device", "cpu", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    info = probe(mp4)
    assert info.has_video and info.has_audio


def test_python_api_and_one_line_errors(final, tmp_path, capsys):
    from avgen.pipelines.feature_to_mel import FeatureToMelPipeline

    pipe = FeatureToMelPipeline.from_pretrained(final, device="cpu", vocoder="griffin-lim")
    res = pipe(EXAMPLE_VIDEO, seed=1)
    assert res.mel.shape[0] == 80 and 0 <= float(res.mel.min()) and float(res.mel.max()) <= 1
    assert res.waveform.shape == (1, round(probe(EXAMPLE_VIDEO).video_duration * 22050))
    # a VarietySound folder is not a feature2mel export: one line naming its config, exit 2
    bundled = os.path.join(REPO, "avgen", "assets", "varietysound_foley_small")
    assert main(["feature2mel", EXAMPLE_VIDEO, "--checkpoint", bundled, "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "config.json" in err and "not a feature2mel export" in err
    assert not os.path.exists(tmp_path / "x.wav")
    # a vocoder of another mel preset is refused when the pipeline is built, before any video is read
    from avgen.audio import HIFIGAN_MEL_PRESET
    from avgen.errors import AvgenError
    from avgen.pipelines.steps import checked_vocoder

    with pytest.raises(AvgenError, match="vocoder griffin-lim takes 'specvqgan' mels; this model makes 'hifigan"):
        FeatureToMelPipeline(pipe.model, {"data": {"mel": {"name": HIFIGAN_MEL_PRESET}}}, folder=final,
                             device="cpu", vocoder="griffin-lim")
    assert checked_vocoder(pipe.vocoder, "specvqgan", device="cpu") is pipe.vocoder  # a Vocoder is used as given
