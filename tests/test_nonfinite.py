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
