"""Non-finite inputs are refused with a message naming the file and the first bad sample/frame, not turned into
silence, black frames or NaN metrics."""

import numpy as np
import pytest

from avgen.encoders import load_feature_file
from avgen.errors import AvgenError
from avgen.media import write_audio
from avgen.metrics import compute_mcd


@pytest.fixture(scope="module")
def nan_wav(tmp_path_factory):
    x = np.sin(np.arange(22050 * 2) / 10.0).astype(np.float32) * 0.3
    x[5000:5010] = np.nan
    return write_audio(tmp_path_factory.mktemp("nan") / "nan.wav", x[None], 22050, bits=32)


def test_a_nan_reference_is_refused(nan_wav):
    from avgen.pipelines.video_to_sound import VideoToSoundPipeline

    pipe = VideoToSoundPipeline.from_pretrained(device="cpu")
    with pytest.raises(AvgenError, match=r"nan\.wav: 10 non-finite value\(s\).*first at sample 5000"):
        pipe.reference_mel(nan_wav)


def test_nan_sound_to_video_audio_is_refused():
    from avgen.generate import sound_to_video

    wav = np.zeros(22050, np.float32)
    wav[7] = np.inf
    with pytest.raises(AvgenError, match="audio: 1 non-finite value.*sample 7"):
        sound_to_video(wav, sample_rate=22050, num_frames=2, device="cpu")


def test_nan_feature_files_are_refused(tmp_path):
    feats = np.zeros((20, 8), np.float32)
    feats[12, 3] = np.nan
    np.save(tmp_path / "f.npy", feats)
    with pytest.raises(AvgenError, match=r"f\.npy: 1 non-finite value.*frame 12"):
        load_feature_file(tmp_path / "f.npy")


def test_metrics_refuse_nan_audio(nan_wav, tmp_path):
    import shutil

    (tmp_path / "gen").mkdir()
    (tmp_path / "ref").mkdir()
    shutil.copy(nan_wav, tmp_path / "gen" / "a.wav")
    write_audio(tmp_path / "ref" / "a.wav", np.zeros((1, 22050), np.float32), 22050)
    with pytest.raises(AvgenError, match="non-finite"):
        compute_mcd(str(tmp_path / "gen"), str(tmp_path / "ref"), progress=False)


def test_nan_stored_mels_are_refused(tmp_path):
    """A SpecVQGAN-layout mel with an inf value stops the dataset naming the file and the frame, not as a NaN loss."""
    from avgen.data.specvqgan import SpecVQGANFeatureDataset

    root = tmp_path / "root"
    (root / "feature_resnet50_dim2048_21.5fps").mkdir(parents=True)
    (root / "melspec_10s_22050hz").mkdir()
    np.save(root / "feature_resnet50_dim2048_21.5fps" / "c.npy", np.zeros((215, 8), np.float32))
    mel = np.zeros((80, 860), np.float32)
    mel[3, 77] = np.inf
    np.save(root / "melspec_10s_22050hz" / "c_mel.npy", mel)
    (root / "melspec_10s_22050hz" / "d_mel.npy").write_bytes(b"not numpy")
    np.save(root / "feature_resnet50_dim2048_21.5fps" / "d.npy", np.zeros((215, 8), np.float32))
    ds = SpecVQGANFeatureDataset(str(root))
    with pytest.raises(AvgenError, match=r"c_mel\.npy: 1 non-finite value.*mel frame 77"):
        ds[0]
    with pytest.raises(AvgenError, match=r"d_mel\.npy: not a readable \.npy mel"):
        ds[1]


def test_vocoders_refuse_non_finite_mels():
    import torch

    from avgen import vocoders

    mel = torch.zeros(1, 80, 40)
    mel[0, 10, 33] = float("nan")
    with pytest.raises(AvgenError, match="input mel: 1 non-finite value.*mel frame 33"):
        vocoders.load("griffin-lim")(mel)


def test_float_frames_with_nan_are_refused(tmp_path):
    """Frames are uint8 by contract: a float array (where a NaN could hide) is refused before any work."""
    from tests.robustness.test_memory_bound import _tiny_pipeline

    frames = np.zeros((8, 32, 32, 3), np.float32)
    frames[2, 0, 0, 0] = np.nan
    with pytest.raises(AvgenError, match="uint8"):
        _tiny_pipeline()(video=frames, reference=np.full(4000, 0.1, np.float32), reference_sample_rate=22050)


def test_eval_mcd_cli_refuses_a_nan_file(run_cli, bad, tmp_path):
    import shutil

    from .conftest import assert_one_line_error

    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    shutil.copy(bad["nan_wav"], gen / "a.wav")
    shutil.copy(bad["good_wav"], ref / "a.wav")
    res = run_cli(["eval", "mcd", gen, ref, "--no-progress"])
    assert_one_line_error(res, "a.wav", "non-finite")
    assert "mcd=" not in res.stdout and "nan" not in res.stdout.lower()
