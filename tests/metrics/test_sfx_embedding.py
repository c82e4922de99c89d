"""aiSFX sound-effects embedding: front-end, network, checkpoint safety and (with the package) the real weights."""

import glob
import importlib.util
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avgen.checkpoints import CheckpointError
from avgen.errors import AvgenError, WeightsNotFoundError
from avgen.metrics import sfx_embedding as S
from avgen.models.backbones.aisfx import AISFXEmbeddingNet

torch.set_num_threads(1)
SR = 44100
FOLEY = os.path.join(os.path.dirname(__file__), "..", "..", "avgen", "assets", "foley")
HAS_AISFX = importlib.util.find_spec("aisfx") is not None


def _signal(n=5000):
    t = np.arange(n)
    return 0.5 * np.sin(2 * np.pi * 1000 * t / SR) + 0.1 * np.sin(2 * np.pi * 7000 * t / SR) * np.exp(-t / 2000)


# -- front-end --------------------------------------------------------------------------------------------------------

def _reference_log_mel(x):
    """Written out sample by sample from the Essentia algorithm descriptions, independently of the module."""
    L, H, M = 2048, 1024, 96
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    imel = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    top = mel(22050.0)
    edges = [imel(top * i / (M + 1)) for i in range(M + 2)]
    fb = np.zeros((M, L // 2 + 1))
    for b in range(M):
        for k in range(L // 2 + 1):
            f = k * 22050.0 / (L // 2)
            if edges[b] <= f < edges[b + 1]:
                fb[b, k] = (mel(f) - mel(edges[b])) / (mel(edges[b + 1]) - mel(edges[b]))
            elif edges[b + 1] <= f < edges[b + 2]:
                fb[b, k] = (mel(edges[b + 2]) - mel(f)) / (mel(edges[b + 2]) - mel(edges[b + 1]))
        fb[b] /= fb[b].sum()
    win = np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / (L - 1)) for i in range(L)])
    rows = []
    start = -L // 2
    while start < len(x):  # a frame every H samples while it starts inside the signal
        frame = np.array([x[i] if 0 <= i < len(x) else 0.0 for i in range(start, start + L)])
        rows.append(np.log10(1e4 * (fb @ (np.abs(np.fft.rfft(frame * win)) ** 2)) + 1.0))
        start += H
    return np.array(rows)


def test_log_mel_matches_independent_computation():
    x = _signal()
    got = S.sfx_log_mel(x, normalise=False).numpy()
    ref = _reference_log_mel(x)
    assert got.shape == ref.shape == (math.ceil(5000 / 1024) + 1, 96)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    np.testing.assert_allclose(S.sfx_log_mel(x).numpy(), ref / 9.457798957824707, atol=2e-6)


def test_log_mel_matches_values_computed_with_essentia():
    # Essentia 2.1b6 (FrameCutter 2048/1024, Windowing hann, Spectrum, MelBands htkMel/warping/unit_sum/power),
    # log10(1e4 x + 1), on _signal(): frames 0, 2 and 5
    got = S.sfx_log_mel(_signal(), normalise=False).numpy()
    np.testing.assert_allclose(got[0, [3, 30, 45, 70, 95]], [5.121811, 5.039173, 3.087488, 3.037693, 1.332277],
                               atol=1e-4)
    np.testing.assert_allclose(got[2, [20, 24, 28, 65, 66]], [1.955455, 8.389742, 1.237208, 4.896875, 5.522837],
                               atol=1e-4)
    np.testing.assert_allclose(got[5, [3, 30, 45, 70, 95]], [4.740005, 5.227719, 4.010671, 3.011977, 2.50073],
                               atol=1e-4)
    assert int(got[2].argmax()) == 24


def test_filterbank_rows_sum_to_one_and_frames_count():
    fb = S.sfx_mel_filterbank()
    assert fb.shape == (96, 1025) and (fb >= 0).all()
    np.testing.assert_allclose(fb.sum(1), 1.0, atol=1e-12)
    for n in (1, 1024, 1025, 44100):
        assert S.sfx_log_mel(np.zeros(n)).shape[0] == math.ceil(n / 1024) + 1
    with pytest.raises(AvgenError):
        S.sfx_log_mel(np.zeros(0))


@pytest.mark.parametrize("t, n", [(5, 1), (99, 1), (100, 1), (149, 1), (150, 2), (297, 4)])
def test_patches(t, n):
    x = torch.arange(t * 96, dtype=torch.float32).reshape(t, 96) + 1
    p = S.sfx_patches(x)
    assert p.shape == (n, 100, 96)
    for i in range(n):  # patch i starts at frame 50 i, zero padded beyond the clip
        want = torch.zeros(100, 96)
        seg = x[50 * i:50 * i + 100]
        want[:len(seg)] = seg
        assert torch.equal(p[i], want)


# -- network ----------------------------------------------------------------------------------------------------------

def _random_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    net = AISFXEmbeddingNet()
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5
        elif "conv" in k.split(".")[-2]:
            sd[k] = torch.randn(v.shape, generator=g) * math.sqrt(2.0 / (v.shape[1] * 9))
        else:
            sd[k] = torch.randn(v.shape, generator=g) * 0.1 + (1.0 if k.endswith(".weight") else 0.0)
    return sd


def _reference_forward(sd, x):
    """Functional forward from the raw tensors: 4 x (conv, BN, ReLU, conv, BN, ReLU, pool), mean freq, max time."""
    h = x[:, None]
    for b in range(1, 5):
        p = f"conv_block{b}."
        for i in (1, 2):
            h = F.conv2d(h, sd[p + f"conv{i}.weight"], padding=1)
            h = F.batch_norm(h, sd[p + f"bn{i}.running_mean"], sd[p + f"bn{i}.running_var"], sd[p + f"bn{i}.weight"],
                             sd[p + f"bn{i}.bias"], training=False, eps=1e-5).clamp_min(0)
        if b < 4:
            h = F.max_pool2d(h, 2)
    return h.mean(3).max(2).values


def test_network_matches_functional_reference():
    sd = _random_state()
    net = AISFXEmbeddingNet().eval()
    net.load_state_dict(sd)
    x = torch.rand(1, 100, 96)
    with torch.no_grad():
        got = net(x)
    assert got.shape == (1, 512)
    torch.testing.assert_close(got, _reference_forward(sd, x), atol=1e-4, rtol=1e-4)


# -- checkpoint safety ------------------------------------------------------------------------------------------------

def _release_format(path, sd):
    """Written as the release does: (state dict with embedding_net./fc. names, {dataset: (numpy int64, classes)})."""
    full = {"embedding_net." + k: v for k, v in sd.items()}
    full["fc.0.0.weight"] = torch.zeros(256, 512)
    torch.save((full, {"prosfx": (np.int64(0), 78)}), path)
    return path


def test_release_format_loads(tmp_path):
    sd = _random_state(1)
    got = S.load_aisfx_state_dict(_release_format(tmp_path / "checkpoint.pth", sd))
    assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pth"
    torch.save(({"embedding_net.x": _Hostile(marker)}, {}), path)
    with pytest.raises(CheckpointError, match="checkpoint.pth"):
        S.load_aisfx_state_dict(path)
    assert not marker.exists()


def test_broken_and_mismatched_files_are_one_checkpoint_error(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(CheckpointError, match="junk.pth"):
        S.load_aisfx_state_dict(junk)
    sd = _random_state(2)
    sd["conv_block2.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    with pytest.raises(CheckpointError, match="bad_shape.pth.*conv_block2.conv1.weight"):
        S.load_aisfx_state_dict(_release_format(tmp_path / "bad_shape.pth", sd))
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="list.pth"):
        S.load_aisfx_state_dict(tmp_path / "list.pth")


def test_missing_package_or_file(monkeypatch, tmp_path):
    monkeypatch.setattr(S.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match="pip install --no-deps aisfx"):
        S.aisfx_weights_file()
    with pytest.raises(WeightsNotFoundError, match="nowhere.pth"):
        S.SFXEmbedder(device="cpu", weights=tmp_path / "nowhere.pth")


def test_embedder_input_checks(tmp_path):
    emb = S.SFXEmbedder(device="cpu", weights=_release_format(tmp_path / "checkpoint.pth", _random_state(3)))
    x = _signal(4000)
    x[1234] = np.nan
    with pytest.raises(AvgenError, match="non-finite"):
        emb.embed(x, SR)
    with pytest.raises(AvgenError, match="shape"):
        emb.embed(np.zeros((1, 2, 100)), SR)
    # stereo is averaged and peak-normalised; another sample rate is resampled to 44.1 kHz first
    mono = _signal(8000)
    np.testing.assert_allclose(emb._mono(np.stack([mono, 0.5 * mono]), SR), mono / np.abs(mono).max(), atol=1e-12)
    assert len(emb._mono(mono[::2], SR // 2)) == 8000
    e = emb.embed(mono[::2], SR // 2)
    assert e.shape == (512,) and abs(np.linalg.norm(e) - 1) < 1e-6


# -- the real weights -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    if not HAS_AISFX:
        pytest.skip("the aisfx package is not installed (pip install --no-deps aisfx==0.1.2)")
    return S.SFXEmbedder(device="cpu")


def _foley(name):
    import soundfile as sf

    w, sr = sf.read(os.path.join(FOLEY, name + ".flac"), always_2d=True, dtype="float64")
    return w.mean(1), sr


def test_real_weights_embedding_is_unit_norm_and_finite(real):
    assert len(glob.glob(os.path.join(FOLEY, "*.flac"))) == 12
    x, sr = _foley("tabla_na")
    e = real.embed(x, sr)
    assert e.shape == (512,) and np.isfinite(e).all() and abs(np.linalg.norm(e) - 1) < 1e-6
    assert real.profile()["version"] == "0.1.2"


def test_real_weights_same_recording_is_closer(real):
    import scipy.signal as ss

    sos = ss.butter(2, 3000, "high", fs=SR, output="sos")
    names = ["bd_808", "drum_snare_hard", "elec_bell", "tabla_na"]
    clean, other = [], []
    for n in names:
        x, sr = _foley(n)
        clean.append(real.embed(x, sr))
        # a later excerpt (from 40 ms in), 12 dB quieter with a +6 dB high shelf
        y = x[int(0.04 * sr):]
        other.append(real.embed(0.25 * (y + ss.sosfilt(sos, y)), sr))
    sim = np.stack(other) @ np.stack(clean).T  # [query, key]
    assert (sim.argmax(1) == np.arange(len(names))).all(), np.round(sim, 3)
