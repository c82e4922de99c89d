"""The transfer options of the video -> sound head (issue 15): each one is a switch, off by default, and does what it
says when on."""

import pytest
import torch

from avgen.errors import ConfigError
from avgen.models.v2s.varietysound import VarietySound, motion_energy
from avgen.train.tasks.varietysound import VarietySoundLoss, augment_reference, mel_band_centres
from avgen.typed_config import from_dict

TINY = dict(feature_dim=12, temporal_channels=8, temporal_layers=2, temporal_lstm=8, sgau_units=1, sgau_channels=8,
            timbre_lstm=8, background_lstm=4, decoder_hidden=8, decoder_blocks=1, decoder_filters=8, up_channels=8,
            dropout=0.0)


def test_motion_energy_is_the_size_of_each_change_and_its_rise():
    f = torch.zeros(1, 5, 4)
    f[0, 2:] = 2.0  # one change between frames 1 and 2: |delta| = 4 over sqrt(4) dims
    e = motion_energy(f)
    assert e.shape == (1, 5, 2)
    torch.testing.assert_close(e[0, :, 0], torch.tensor([0.0, 0.0, 2.0, 0.0, 0.0]))
    torch.testing.assert_close(e[0, :, 1], torch.tensor([0.0, 0.0, 2.0, 0.0, 0.0]))


def test_motion_energy_switch_widens_only_the_temporal_input():
    torch.manual_seed(0)
    off, on = VarietySound(**TINY), VarietySound(**TINY, motion_energy=True)
    assert off.temporal.convs[0][0].in_channels == 12 and on.temporal.convs[0][0].in_channels == 14
    assert set(off.state_dict()) == set(on.state_dict())  # same names: only the first conv's width differs
    mel = on.eval()(torch.randn(2, 10, 12), torch.rand(2, 80, 30), 40)
    assert mel.shape == (2, 80, 40)


def test_reference_augmentation_defaults_off_and_bounds_are_checked():
    assert VarietySoundLoss().reference_gain_db == 0.0
    with pytest.raises(ConfigError, match="reference_pitch_semitones"):
        from_dict(VarietySoundLoss, {"reference_pitch_semitones": -1.0}, prefix="loss.")


def test_gain_and_tilt_shift_the_db_scale():
    mel = torch.full((64, 80, 5), 0.5)
    g = torch.Generator().manual_seed(0)
    gained = augment_reference(mel, g, gain_db=10.0)
    shift = (gained - mel)[:, :, 0] * 100  # dB, 100 dB range
    assert (shift.std(1) < 1e-4).all() and shift.abs().max() <= 10.0 + 1e-4 and shift.abs().max() > 5
    tilted = augment_reference(mel, torch.Generator().manual_seed(1), tilt_db=6.0)
    t = (tilted - mel)[:, :, 0] * 100
    torch.testing.assert_close(t[:, 0], -t[:, -1])  # -t at the lowest band, +t at the highest
    assert t.abs().max() <= 6.0 + 1e-4
    assert augment_reference(torch.ones(2, 80, 3), g, gain_db=20).max() <= 1.0


def test_pitch_shift_moves_a_partial_by_the_drawn_interval():
    centres = mel_band_centres("specvqgan")
    assert centres.shape == (80,) and 125 < centres[0] < centres[-1] < 7600 and (centres.diff() > 0).all()
    band = 60
    mel = torch.zeros(256, 80, 2)
    mel[:, band] = 1.0  # one partial
    out = augment_reference(mel, torch.Generator().manual_seed(0), pitch_semitones=2.0, band_centres=centres)
    peak_hz = (out[:, :, 0] * centres).sum(1) / out[:, :, 0].sum(1)  # where the partial went
    ratio = torch.log2(peak_hz / centres[band]) * 12  # semitones
    assert ratio.abs().max() <= 2.0 + 0.3 and ratio.std() > 0.5  # within the bound, and varied per clip


def test_background_dropout_defaults_off_is_checked_and_silences_the_drawn_share():
    from types import SimpleNamespace

    from avgen.train.tasks.varietysound import VarietySoundTask

    assert VarietySoundLoss().background_dropout == 0.0
    with pytest.raises(ConfigError, match="background_dropout"):
        from_dict(VarietySoundLoss, {"background_dropout": 1.5}, prefix="loss.")
    mel = torch.rand(400, 80, 6) + 0.1  # every clip has sound in its background input
    for p in (0.0, 0.25, 1.0):
        task = SimpleNamespace(lcfg=VarietySoundLoss(background_dropout=p), rng=torch.Generator().manual_seed(0))
        back = VarietySoundTask._background(task, mel)
        silent = back.flatten(1).abs().amax(1) == 0  # [B]: the clip got the mel of silence
        kept = (back == mel).flatten(1).all(1)
        assert bool((silent | kept).all())  # per clip: all or nothing
        assert abs(silent.float().mean().item() - p) < 0.07


def test_reference_spectrum_is_the_weighted_band_mean_and_spread():
    from avgen.models.v2s.varietysound import reference_spectrum

    mel = torch.zeros(1, 80, 20)
    mel[0, :, 10:] = torch.linspace(0.2, 0.8, 80)[:, None]  # silence, then a steady sound
    spec = reference_spectrum(mel)
    assert spec.shape == (1, 160)
    torch.testing.assert_close(spec[0, :80], torch.linspace(0.2, 0.8, 80))  # silent frames weigh nothing
    assert spec[0, 80:].max() < 1e-3  # steady: no spread
    mel[0, :, 10:15] += 0.1  # louder frames weigh more: the mean moves towards them
    assert (reference_spectrum(mel)[0, :80] > torch.linspace(0.2, 0.8, 80) + 0.05).all()


def test_timbre_spectrum_switch_widens_the_timbre_vector_and_the_ablation_removes_it():
    from avgen.pipelines.reference_stream import streamed_timbre

    torch.manual_seed(0)
    off, on = VarietySound(**TINY).eval(), VarietySound(**TINY, timbre_spectrum=True).eval()
    assert off.acoustic.out_dim == 8 and on.acoustic.out_dim == 8 + 160
    assert on.decoder.inp.in_features == off.decoder.inp.in_features + 160
    refs = torch.rand(2, 80, 30)
    refs[1] *= 0.3  # another spectrum
    with torch.no_grad():
        code = on.acoustic(refs)
        assert code.shape == (2, 168)
        # the streamed (long reference) path gives the same vector, spectrum included
        blocks = (refs[0, :, a:a + 7] for a in range(0, 30, 7))
        torch.testing.assert_close(streamed_timbre(on.acoustic, blocks), code[:1], atol=1e-5, rtol=1e-4)
        feats = torch.randn(1, 10, 12).expand(2, -1, -1)
        assert (on(feats, refs, 40)[0] - on(feats, refs, 40)[1]).abs().max() > 0  # the reference matters
        on.ablate_at_inference("timbre", "zeros")
        out = on(feats, refs, 40)
        torch.testing.assert_close(out[0], out[1])  # ablated: both references give the same mel


def test_augment_target_gives_the_target_the_references_augmentation():
    from types import SimpleNamespace

    from avgen.train.tasks.varietysound import VarietySoundTask

    assert VarietySoundLoss().augment_target is False
    mel = torch.rand(4, 80, 6) * 0.5 + 0.2
    for share in (False, True):
        lcfg = VarietySoundLoss(reference_gain_db=6.0, reference_tilt_db=4.0, augment_target=share)
        task = SimpleNamespace(lcfg=lcfg, rng=torch.Generator().manual_seed(0), mel_preset="specvqgan",
                               _centres=None)
        task._reference = lambda m, t=task: VarietySoundTask._reference(t, m)
        target, reference = VarietySoundTask._views(task, {"mel": mel})
        assert (reference - mel).abs().max() > 0.01  # the reference is augmented either way
        assert (target is reference) if share else (target is mel)


def test_spectrum_skip_needs_the_spectrum_and_shifts_the_output_by_the_references_shape():
    with pytest.raises(ValueError, match="timbre_spectrum"):
        VarietySound(**TINY, spectrum_skip=True)
    torch.manual_seed(0)
    m = VarietySound(**TINY, timbre_spectrum=True, spectrum_skip=True).eval()
    assert "spectrum_skip_gain" in m.state_dict() and "spectrum_skip_gain" not in VarietySound(**TINY).state_dict()
    feats, flat = torch.randn(1, 10, 12), torch.full((1, 80, 30), 0.5)
    tilted = flat + torch.linspace(-0.2, 0.2, 80)[None, :, None]  # the same level, brighter
    with torch.no_grad():
        code, back = m.acoustic(tilted), m.encode_background(None, 1)
        with_skip = torch.logit(m.synthesize(feats, code, back, 40), eps=1e-7).double()
        m.spectrum_skip_gain.fill_(0.0)
        without = torch.logit(m.synthesize(feats, code, back, 40), eps=1e-7).double()
        m.spectrum_skip_gain.fill_(4.0)
    # every frame's logits move by gain x (band mean - mean over bands): the reference's spectral shape
    shape = 4.0 * (torch.linspace(-0.2, 0.2, 80) - torch.linspace(-0.2, 0.2, 80).mean()).double()
    torch.testing.assert_close(with_skip - without, shape[None, :, None].expand(1, 80, 40), atol=1e-3, rtol=0)
    m.ablate_at_inference("timbre", "zeros")
    with torch.no_grad():
        out = m(feats.expand(2, -1, -1), torch.cat([flat, tilted]), 40)
    torch.testing.assert_close(out[0], out[1])
