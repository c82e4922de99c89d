"""VarietySound pinned to the paper's table, plus the behaviour of R, energy masking, ablations and shapes."""

import glob
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from avgen.models.v2s.varietysound import (AcousticEncoder, BackgroundEncoder, FFTBlock, RandomResampling,
                                       SelfGatedAcousticUnit, TimeAlignmentDiscriminator, VarietySound, energy_mask)


def _convs(module, kind=nn.Conv1d):
    return [m for m in module.modules() if type(m) is kind]


def _lstm(module):
    (lstm,) = [m for m in module.modules() if isinstance(m, nn.LSTM)]
    return lstm


def test_architecture_matches_the_paper_table():
    m = VarietySound(feature_dim=2048)
    # temporal encoder: 8 Conv1D (k5, 512), 2 LSTM (256), 8-d bottleneck
    convs = _convs(m.temporal)
    assert len(convs) == 8 and {c.kernel_size for c in convs} == {(5,)} and {c.out_channels for c in convs} == {512}
    assert convs[0].in_channels == 2048
    lstm = _lstm(m.temporal)
    assert (lstm.num_layers, lstm.hidden_size) == (2, 256) and m.temporal.proj.out_features == 8
    # acoustic encoder: 5 SGAUs; input gate k5 + k7 (512) + InstanceNorm; output gate k3, skip gate k5 (GroupNorm)
    units = [u for u in m.acoustic.modules() if isinstance(u, SelfGatedAcousticUnit)]
    assert len(units) == 5
    for u in units:
        ig = _convs(u.input_gate)
        assert [c.kernel_size[0] for c in ig] == [5, 7] and {c.out_channels for c in ig} == {512}
        assert isinstance(u.input_gate[-1], nn.InstanceNorm1d)
        assert _convs(u.output_gate)[0].kernel_size == (3,) and isinstance(u.output_gate[-1], nn.GroupNorm)
        assert _convs(u.skip_gate)[0].kernel_size == (5,) and isinstance(u.skip_gate[-1], nn.GroupNorm)
        assert _convs(u.output_gate)[0].out_channels == _convs(u.skip_gate)[0].out_channels == 512
    lstm = _lstm(m.acoustic)
    assert (lstm.num_layers, lstm.hidden_size) == (2, 256)
    # background encoder: 2 LSTM (128)
    lstm = _lstm(m.background)
    assert (lstm.num_layers, lstm.hidden_size) == (2, 128)
    # decoder: 4 FFT blocks (hidden 512, 2 heads, Conv1D k9 512), 2 ConvTranspose1D (k4, s2, 1024) -> 80 bins
    blocks = [b for b in m.decoder.modules() if isinstance(b, FFTBlock)]
    assert len(blocks) == 4
    for b in blocks:
        assert b.attn.embed_dim == 512 and b.attn.num_heads == 2
        assert b.conv1.kernel_size == (9,) and b.conv1.out_channels == 512
    ups = _convs(m.decoder, nn.ConvTranspose1d)
    assert len(ups) == 2 and all(u.kernel_size == (4,) and u.stride == (2,) and u.out_channels == 1024 for u in ups)
    assert m.decoder.out.out_channels == 80
    # time-domain alignment discriminator: ConvTranspose1D x2 (k4, s2, 1024), Conv1D x4 (k4, 512)
    d = TimeAlignmentDiscriminator(2048)
    ups = _convs(d, nn.ConvTranspose1d)
    assert len(ups) == 2 and all(u.kernel_size == (4,) and u.stride == (2,) and u.out_channels == 1024 for u in ups)
    convs = _convs(d.convs)
    assert len(convs) == 4 and all(c.kernel_size == (4,) and c.out_channels == 512 for c in convs)


def test_sgau_equations_without_resampling():
    torch.manual_seed(0)
    u = SelfGatedAcousticUnit(6, 4, channels=16, groups=4).eval()  # R is the identity in eval mode
    x, c = torch.randn(2, 6, 30), torch.randn(2, 4, 30)
    xo, co = u(x, c)
    v, s, o = u.input_gate(x), u.skip_gate(c), u.output_gate(c)
    torch.testing.assert_close(xo, torch.tanh(s + v) * torch.sigmoid(o + v))
    torch.testing.assert_close(co, s)


def test_random_resampling_destroys_order_and_keeps_values():
    r = RandomResampling(segment=(8, 16), rate=(0.5, 1.5)).train()
    ramp = torch.arange(200, dtype=torch.float32).view(1, 1, 200)
    g = torch.Generator().manual_seed(1)
    x, c = r(ramp, ramp * 2, generator=g)
    assert x.shape == c.shape and 100 <= x.shape[-1] <= 300
    torch.testing.assert_close(c, 2 * x)  # the same cut, rates and order for x and c
    d = x.flatten().diff()
    assert (d < -5).sum() >= 5  # several backward jumps: segments were reordered
    assert x.min() >= 0 and x.max() <= 199
    assert r.eval()(ramp)[0] is ramp  # identity at inference
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    r.train()
    torch.testing.assert_close(r(ramp, generator=g1)[0], r(ramp, generator=g2)[0])  # seeded


def test_timbre_embedding_ignores_time_order_of_the_reference(shared_samples):
    """A reference cut into 1 s pieces and shuffled gives (nearly) the same timbre embedding; other references do
    not. Checked on the real stored mels with a seeded, untrained encoder."""
    files = sorted(glob.glob(os.path.join(shared_samples, "melspec_10s_22050hz", "*_mel.npy")))[:5]
    mels = [torch.tensor(np.load(f)).float()[:, :516] for f in files]  # 6 s each
    torch.manual_seed(0)
    enc = AcousticEncoder().eval()
    rng = np.random.default_rng(0)

    def shuffled(m, seg=86):
        return torch.cat([m[:, i * seg:(i + 1) * seg] for i in rng.permutation(m.shape[-1] // seg)], -1)

    with torch.no_grad():
        e = torch.stack([enc(m[None])[0] for m in mels])
        es = torch.stack([enc(shuffled(m)[None])[0] for m in mels])
    for i in range(len(mels)):
        others = min(float((e[i] - e[j]).norm()) for j in range(len(mels)) if j != i)
        assert float((e[i] - es[i]).norm()) < 0.3 * others


def test_energy_mask_keeps_only_quiet_frames():
    mel = torch.full((1, 4, 6), 0.2)
    mel[..., [1, 4]] = 0.9  # loud frames
    mel[..., 5] = 0.5
    out = energy_mask(mel)
    assert torch.equal(out[..., [0, 2, 3]], mel[..., [0, 2, 3]])  # at or below the median (0.2) kept
    assert (out[..., [1, 4, 5]] == 0).all()


def test_background_encoder_sees_only_masked_frames():
    torch.manual_seed(0)
    enc = BackgroundEncoder(n_mels=4, lstm_hidden=8).eval()
    quiet = torch.full((1, 4, 20), 0.1)
    loud_a, loud_b = quiet.clone(), quiet.clone()
    loud_a[..., 10:13] = 0.9
    loud_b[..., 10:13] = 0.7  # different loud content, same quiet frames
    torch.testing.assert_close(enc(loud_a), enc(loud_b))


@pytest.mark.parametrize("t_v,t_ref,t_back", [(7, 30, 13), (43, 200, 1), (64, 17, 90)])
def test_shapes_for_random_lengths(t_v, t_ref, t_back):
    torch.manual_seed(0)
    m = VarietySound(feature_dim=12, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
                     background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16)
    t_m = round(t_v * 86.1328125 / 21.5)
    for mode in (True, False):
        m.train(mode)
        out = m(torch.randn(2, t_v, 12), torch.rand(2, 80, t_ref), t_m, background=torch.rand(2, 80, t_back))
        assert out.shape == (2, 80, t_m) and out.min() >= 0 and out.max() <= 1
    d = TimeAlignmentDiscriminator(12, up_channels=16, channels=16)
    assert d(torch.randn(2, t_v, 12), out).shape[0] == 2


def test_ablations_remove_an_input():
    torch.manual_seed(0)
    kw = dict(feature_dim=12, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
              background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16, dropout=0.0)
    full = VarietySound(**kw).eval()
    ablated = VarietySound(**kw, ablate={"timbre": "zeros"}).eval()
    ablated.load_state_dict(full.state_dict())
    f = torch.randn(1, 10, 12)
    a, b = torch.rand(1, 80, 40), torch.rand(1, 80, 40)
    with torch.no_grad():
        assert not torch.allclose(full(f, a, 40), full(f, b, 40))
        torch.testing.assert_close(ablated(f, a, 40), ablated(f, b, 40))  # the reference no longer matters
        noisy = VarietySound(**kw, ablate={"temporal": "noise"}).eval()
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
        assert not torch.allclose(noisy(f, a, 40, generator=g1), noisy(f, a, 40, generator=g2))
    with pytest.raises(ValueError, match="ablate"):
        VarietySound(**kw, ablate={"timbre": "drop"})


def test_module_apply_is_not_shadowed():
    """``nn.Module.apply(fn)`` must reach every submodule (RandomResampling once shadowed it)."""
    m = VarietySound(feature_dim=12, temporal_channels=16, temporal_lstm=16, sgau_channels=16, timbre_lstm=16,
                     background_lstm=8, decoder_hidden=16, decoder_filters=16, up_channels=16)
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert "RandomResampling" in seen and "VarietySound" in seen
