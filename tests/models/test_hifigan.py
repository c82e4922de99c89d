"""HiFi-GAN generator/discriminator shapes and the vocoder task end to end on the bundled recordings."""

import os

import pytest
import torch

from avgen.models.vocoders.hifigan import HiFiGANDiscriminators, HiFiGANGenerator

from ..conftest import REPO

TINY = ["model.channels=16", "model.resblock_kernels=[3]", "model.resblock_dilations=[[1,3]]",
        "model.periods=[2,3]", "model.scales=2", "model.scale_width=32", "model.period_widths=[4,8,8]",
        "data.batch_size=2", "data.segment_seconds=0.1", "log_every=1", "sample_every=2"]


def test_generator_upsamples_by_the_hop_and_v1_sizes():
    g = HiFiGANGenerator()
    assert g.hop == 256 and g.ups[0].out_channels == 256 and len(g.blocks[0]) == 3
    small = HiFiGANGenerator(channels=16, resblock_kernels=(3,), resblock_dilations=((1,),))
    for t in (1, 7, 40):
        assert small(torch.rand(2, 80, t)).shape == (2, 1, t * 256)


def test_discriminators_return_logits_and_features_for_odd_lengths():
    d = HiFiGANDiscriminators(periods=(2, 3, 5), scales=3, scale_width=32, period_widths=(4, 8, 8))
    logits, feats = d(torch.randn(2, 1, 1001))
    assert len(logits) == 6 and len(feats) == 6 and all(lg.shape[0] == 2 for lg in logits)
    assert all(len(f) >= 4 for f in feats)


def test_vocoder_task_trains_and_loads_into_the_pipeline(tmp_path):
    from avgen.data.foley import bundled_sounds
    from avgen.generate import VideoToSoundPipeline, load_vocoder
    from avgen.models.v2s.varietysound import VarietySound
    from avgen.train.config import load_config
    from avgen.train.engine import train

    cfg = load_config(os.path.join(REPO, "configs", "vocoder", "hifigan_specvqgan.yaml"),
                      TINY + [f"data.path={bundled_sounds()}", f"run_dir={tmp_path / 'voc'}", "max_steps=2",
                              "data.num_workers=0"])
    result = train(cfg, cpu=True)
    assert result["step"] == 2 and {"g/mel_l1", "g/fm", "g/adv", "d/loss"} <= set(result["logs"])
    net = load_vocoder(tmp_path / "voc" / "final")
    assert net(torch.rand(1, 80, 5)).shape == (1, 1, 1280)
    g = VarietySound(feature_dim=8, temporal_channels=8, temporal_lstm=8, sgau_channels=8, timbre_lstm=8,
                     background_lstm=4, decoder_hidden=8, decoder_filters=8, up_channels=8)
    pipe = VideoToSoundPipeline(g, {"task": "varietysound", "model": g.config}, device="cpu",
                                vocoder=str(tmp_path / "voc" / "final"))
    wav = pipe.vocode(torch.rand(80, 900), 899 * 256)  # > one 10 s chunk: chunked and cross-faded
    assert wav.shape == (1, 899 * 256) and torch.isfinite(wav).all()
    with pytest.raises(Exception, match="data.kind"):
        load_config(os.path.join(REPO, "configs", "vocoder", "hifigan_specvqgan.yaml"), ["data.kind=prepared"])


def test_init_from_starts_a_fresh_run_from_given_weights(tmp_path):
    from avgen.checkpoints import CheckpointError, save_pretrained
    from avgen.data.foley import bundled_sounds
    from avgen.errors import ConfigError
    from avgen.train.config import load_config
    from avgen.train.engine import train
    from avgen.train.tasks.vocoder import VocoderTask

    yaml = os.path.join(REPO, "configs", "vocoder", "hifigan_specvqgan.yaml")
    base = TINY + [f"data.path={bundled_sounds()}", "max_steps=1", "data.num_workers=0", "ema_decay=null",
                   "optim_g.lr=0.0"]
    cfg = load_config(yaml, base + [f"run_dir={tmp_path / 'a'}"])
    torch.manual_seed(123)
    start = VocoderTask(cfg, feature_dim=0, n_mels=80).build_generator()
    folder = save_pretrained(start, tmp_path / "start")
    result = train(load_config(yaml, base + [f"run_dir={tmp_path / 'b'}", f"init_from={folder}"]), cpu=True)
    got = result["generator"].state_dict()
    assert all(torch.equal(got[k], v) for k, v in start.state_dict().items())  # lr 0: still the given weights
    with pytest.raises(ConfigError, match="init_from"):
        train(load_config(yaml, base + [f"run_dir={tmp_path / 'c'}", f"init_from={tmp_path / 'nope'}"]), cpu=True)
    # the universal generator fits the V1 sizes of the config, and only those
    v1 = load_config(yaml, [f"data.path={bundled_sounds()}"])
    task = VocoderTask(v1, feature_dim=0, n_mels=80)
    g = task.build_generator()
    g.load_state_dict(task.initial_weights("hifigan-universal", g))
    small = VocoderTask(cfg, feature_dim=0, n_mels=80)
    with pytest.raises(CheckpointError, match="V1"):
        small.initial_weights("hifigan-universal", small.build_generator())
