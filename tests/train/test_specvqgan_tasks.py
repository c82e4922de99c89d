"""SpecVQGAN's three training tasks on CPU (tiny configs): each loss falls over a few dozen steps, a run interrupted
by SIGINT mid-way resumes from its checkpoint (the discriminator's disc_start counter included), and the exported
folders load (codebook and transformer through avgen.checkpoints, MelGAN through avgen.vocoders.load)."""

import json
import os
import shutil
import signal

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from avgen.checkpoints import from_pretrained, save_pretrained
from avgen.errors import ConfigError, TrainingInterrupted
from avgen.models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer, condition_frames, grid_to_sequence
from avgen.train.checkpoint import latest_checkpoint, load_checkpoint
from avgen.train.config import load_config
from avgen.train.engine import collate, train
from avgen.train.specvqgan_losses import (LPAPS, MelGANAdversary, MelGANMultiScaleDiscriminator, NLayerDiscriminator,
                                          VGGishish, adaptive_weight, hinge_d_loss, load_vggishish_weights)
from avgen.train.tasks import TASKS
from avgen.train.tasks.specvqgan import SpecVQGANTransformerTask, corrupt_codes

from ..conftest import REPO

CONFIGS = os.path.join(REPO, "configs", "specvqgan")
N_MELS, FEATURE_DIM = 16, 8  # a 16-band cache keeps the codebook's full-resolution convolutions cheap
TINY_CODEBOOK = dict(ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(2,), resolution=16,
                     z_channels=16, n_embed=16, embed_dim=16)
COMMON = ["data.num_workers=0", "log_every=1", "sample_every=100000", "keep_checkpoints=5"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one thread, fixed sum order


def _write_cache(root: str, seconds: float) -> str:
    """A prepare cache of 6 clips of ``seconds`` whose mels have structure to learn: a band-limited bump at one of
    three heights with a slow tremolo; the features say which height (one-hot + noise)."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "items"))
    settings = {"version": 1, "fps": 21.5, "clip_seconds": None, "visual": {"backbone": "random",
                "feature_dim": FEATURE_DIM}, "mel": {"name": "specvqgan", "sample_rate": 22050, "hop_length": 256,
                                                     "n_mels": N_MELS}}
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump(settings, f)
    lines = []
    t_mel, t_vis = round(seconds * 22050 / 256), round(seconds * 21.5)
    f_idx, t_idx = np.arange(N_MELS)[:, None], np.arange(t_mel)[None]
    for i in range(6):
        centre = (i % 3 + 1) * N_MELS / 4
        mel = (0.1 + 0.8 * np.exp(-0.5 * ((f_idx - centre) / (N_MELS / 8)) ** 2)) * (0.8 + 0.2 * np.cos(
            2 * np.pi * t_idx / 11))
        feats = np.eye(FEATURE_DIM)[i % 3][None].repeat(t_vis, 0) + 0.1 * rng.standard_normal((t_vis, FEATURE_DIM))
        save_file({"features": feats.astype(np.float32), "mel": mel.astype(np.float32)},
                  os.path.join(root, "items", f"k{i}.safetensors"))
        lines.append(json.dumps({"id": f"clip{i}", "label": f"height{i % 3}", "file": f"items/k{i}.safetensors"}))
    with open(os.path.join(root, "index.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """0.25 s clips (one 16-frame window and some slack)."""
    return _write_cache(str(tmp_path_factory.mktemp("specvqgan_cache")), 0.25)


@pytest.fixture(scope="module")
def long_cache(tmp_path_factory):
    """0.6 s clips: room for a reference window and a target window of one clip (conditioning-clip mode)."""
    return _write_cache(str(tmp_path_factory.mktemp("specvqgan_long_cache")), 0.6)


@pytest.fixture(scope="module")
def codebook_folder(tmp_path_factory):
    torch.manual_seed(0)
    folder = str(tmp_path_factory.mktemp("codebook"))
    save_pretrained(SpecVQGANCodebook(**TINY_CODEBOOK), folder)
    return folder


def _interrupt_run(monkeypatch, task_name: str, at_call: int):
    """SIGINT to this process during the at_call-th generator phase: the engine finishes that step, writes a
    checkpoint and raises TrainingInterrupted (what Ctrl-C or a scheduler's SIGTERM does to `avgen train`)."""
    cls = TASKS[task_name]
    original, calls = cls.generator_loss, [0]

    def wrapped(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == at_call:
            signal.raise_signal(signal.SIGINT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "generator_loss", wrapped)
    return lambda: monkeypatch.setattr(cls, "generator_loss", original)


def _train_interrupted_then_resumed(monkeypatch, config: str, overrides: list[str], task: str, total: int):
    cfg = load_config(os.path.join(CONFIGS, config), COMMON + overrides + [f"max_steps={total}",
                                                                           f"ckpt_every={total}"])
    restore = _interrupt_run(monkeypatch, task, total // 2)
    with pytest.raises(TrainingInterrupted, match=f"SIGINT at step {total // 2}"):
        train(cfg, cpu=True, quiet=True)
    restore()
    first = load_checkpoint(latest_checkpoint(cfg.run_dir))
    assert first["step"] == total // 2 and not os.path.exists(os.path.join(cfg.run_dir, "final"))
    result = train(cfg, cpu=True, quiet=True)  # the same command again: resumes
    assert result["step"] == total
    last = load_checkpoint(latest_checkpoint(cfg.run_dir))
    assert {int(s["step"]) for s in last["opt_g"]["state"].values()} == {total}  # Adam continued, not restarted
    return cfg, first, last


def _scalars(run_dir: str, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ev = EventAccumulator(os.path.join(run_dir, "tb")).Reload()  # both runs' event files
    by_step = {e.step: e.value for e in ev.Scalars(tag)}
    return [by_step[s] for s in sorted(by_step)]


def _falls(values: list[float], factor: float) -> None:
    first, last = np.mean(values[:4]), np.mean(values[-4:])
    assert last < factor * first, f"mean of the first 4 {first:.4f}, of the last 4 {last:.4f}: {np.round(values, 3)}"


def test_configs_validate_and_refuse_bad_options(codebook_folder):
    for name in sorted(os.listdir(CONFIGS)):
        cfg = load_config(os.path.join(CONFIGS, name))
        assert cfg.task in ("specvqgan_codebook", "specvqgan_transformer", "melgan"), name
    with pytest.raises(ConfigError, match="loss.pkeep"):
        load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), ["loss.pkeep=1.5"])
    with pytest.raises(ConfigError, match="loss.disc_loss"):
        load_config(os.path.join(CONFIGS, "tiny_codebook.yaml"), ["loss.disc_loss=wasserstein"])
    with pytest.raises(ConfigError, match="data.kind"):
        load_config(os.path.join(CONFIGS, "tiny_melgan.yaml"), ["data.kind=prepared"])
    with pytest.raises(ConfigError, match="perceptual_weights: .*missing.pt: file not found"):
        LPAPS(weights="missing.pt")


def test_codebook_trains_resumes_after_sigint_and_exports(tmp_path, cache, monkeypatch):
    run = tmp_path / "run"
    cfg, first, last = _train_interrupted_then_resumed(
        monkeypatch, "tiny_codebook.yaml", [f"data.path={cache}", f"run_dir={run}", "loss.disc_start=10"],
        "specvqgan_codebook", 16)
    # disc_start counts optimizer steps across the resume: the discriminator's counter was saved and restored
    assert int(first["discriminator"]["updates"]) == 8 and int(last["discriminator"]["updates"]) == 16
    assert _scalars(cfg.run_dir, "g/disc_factor") == [0.0] * 10 + [1.0] * 6
    assert all(v != 0 for v in _scalars(cfg.run_dir, "d/loss")[10:])
    _falls(_scalars(cfg.run_dir, "g/nll"), 0.8)  # L1 + LPAPS
    model = from_pretrained(run / "final", expected=SpecVQGANCodebook)
    mel = torch.rand(2, N_MELS, 16) * 2 - 1
    codes = model.encode(mel)
    assert codes.shape == (2, 2, 2) and model.decode(codes).shape == (2, N_MELS, 16)
    meta = json.loads((run / "final" / "config.json").read_text())
    assert meta["task"] == "specvqgan_codebook" and meta["data"]["mel"]["n_mels"] == N_MELS


def test_transformer_trains_resumes_after_sigint_and_exports_a_pipeline_folder(tmp_path, cache, codebook_folder,
                                                                              monkeypatch):
    run = tmp_path / "run"
    cfg, _, _ = _train_interrupted_then_resumed(
        monkeypatch, "tiny_transformer.yaml", [f"data.path={cache}", f"run_dir={run}",
                                               f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]",
                                               "model.block_size=6"], "specvqgan_transformer", 20)
    _falls(_scalars(cfg.run_dir, "g/loss"), 0.7)  # cross-entropy on the code tokens
    # the release's optimizer groups: only the Linear layers' weights decay (minGPT's configure_optimizers)
    groups = load_checkpoint(latest_checkpoint(cfg.run_dir))["opt_g"]["param_groups"]
    model = from_pretrained(run / "final" / "transformer", expected=SpecVQGANTransformer)
    linear = [f"{mn}.weight" for mn, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert [(g["weight_decay"], len(g["params"])) for g in groups] == [
        (0.01, len(linear)), (0.0, len(list(model.parameters())) - len(linear))]
    with pytest.raises(ConfigError, match="parameter group"):  # resuming with the other grouping: one line
        train(load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), COMMON + [
            f"data.path={cache}", f"run_dir={run}", f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]",
            "model.block_size=6", "max_steps=22", "loss.decay_exempt=false"]), cpu=True, quiet=True)
    meta = json.loads((run / "final" / "config.json").read_text())
    assert meta["class"] == "SpecVQGANPipeline" and meta["components"] == {"codebook": "codebook",
                                                                           "transformer": "transformer"}
    assert meta["data"]["visual"]["feature_dim"] == FEATURE_DIM
    gpt = from_pretrained(run / "final" / "transformer", expected=SpecVQGANTransformer)
    assert gpt.config.feat_dim == FEATURE_DIM  # taken from the data
    stored, given = (from_pretrained(run / "final" / "codebook").state_dict(),
                     from_pretrained(codebook_folder).state_dict())
    assert all(torch.equal(stored[k], given[k]) for k in given)  # the frozen codebook, unchanged
    assert gpt.sample(torch.randn(1, 2, FEATURE_DIM), top_k=1).shape == (1, 4)
    from avgen.generate import SpecVQGANPipeline

    pipe = SpecVQGANPipeline.from_pretrained(run / "final")  # the folder the pipeline reads
    assert pipe.code_shape == (2, 2)
    assert pipe.sample_codes(torch.randn(1, 5, FEATURE_DIM), top_k=1, generator=torch.Generator().manual_seed(0)
                             ).shape[:2] == (1, 2)


def test_transformer_loss_is_cross_entropy_on_the_code_positions(cache, codebook_folder, tmp_path):
    from avgen.data.cache import PreparedDataset

    cfg = load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), [
        f"data.path={cache}", f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]", "model.block_size=6"])
    task = SpecVQGANTransformerTask(cfg, feature_dim=FEATURE_DIM, n_mels=N_MELS, mel_preset="specvqgan")
    gpt = task.build_generator()
    for override, message in (("model.code_shape=[2,3]", r"model.code_shape: \[2, 3\], but the codebook .* \[2, 2\]"),
                              ("model.vocab_size=32", "model.vocab_size: 32, but the codebook .* 16 entries"),
                              (f"loss.codebook={tmp_path / 'none'}", "loss.codebook: .*none: no such folder")):
        bad = load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), [
            f"data.path={cache}", f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]", "model.block_size=7",
            override])
        with pytest.raises(ConfigError, match=message):
            SpecVQGANTransformerTask(bad, feature_dim=FEATURE_DIM, n_mels=N_MELS).build_generator()
    batch = collate([PreparedDataset(cache, segment_seconds=0.25)[i] for i in range(3)])
    loss, _ = task.generator_loss(batch, gpt, None)
    # the reference: codes of the centre 16 frames of 2 mel - 1, features by the release's protocol, then every
    # code z_i scored at sequence position T - 1 + i of [features, z_1 .. z_{N-1}]
    codebook = from_pretrained(codebook_folder)
    mel = batch["mel"][..., 3:19]
    z = grid_to_sequence(codebook.encode(2 * mel - 1))
    feats = condition_frames(batch["features"], feat_len=5, feat_crop_len=4, feat_sample_size=2)
    logp = gpt(z[:, :-1], feats).log_softmax(-1)  # [B, 2 + 3, V]
    ref = -torch.stack([logp[:, 2 - 1 + i].gather(1, z[:, i:i + 1])[:, 0] for i in range(4)], 1).mean()
    assert torch.allclose(loss, ref, atol=1e-6)
    # pkeep: inputs replaced by uniform codes with probability 1 - pkeep, targets untouched
    codes = torch.randint(0, 16, (64, 265))
    same = corrupt_codes(codes, 1.0, 16, torch.Generator().manual_seed(0))
    assert same is codes
    mixed = corrupt_codes(codes, 0.7, 16, torch.Generator().manual_seed(0))
    changed = float((mixed != codes).float().mean())
    assert abs(changed - 0.3 * 15 / 16) < 0.02 and int(mixed.max()) < 16
    task.lcfg.pkeep = 0.5
    loss_pkeep, _ = task.generator_loss(batch, gpt.train(), None)
    assert torch.isfinite(loss_pkeep) and not torch.allclose(loss_pkeep, loss)


def test_conditioned_transformer_trains_on_reference_pairs_resumes_and_exports(tmp_path, long_cache,
                                                                               codebook_folder, monkeypatch):
    run = tmp_path / "run"
    cfg, _, _ = _train_interrupted_then_resumed(
        monkeypatch, "tiny_transformer_reference.yaml", [f"data.path={long_cache}", f"run_dir={run}",
                                                         f"loss.codebook={codebook_folder}"],
        "specvqgan_transformer", 20)
    _falls(_scalars(cfg.run_dir, "g/loss"), 0.7)
    meta = json.loads((run / "final" / "config.json").read_text())
    assert meta["condition_on_reference"] is True  # what `avgen v2s --reference` routing reads
    gpt = from_pretrained(run / "final" / "transformer", expected=SpecVQGANTransformer)
    assert gpt.config.condition_on_reference and gpt.reference_length == 4 and gpt.prime_length == 6
    from avgen.errors import AvgenError
    from avgen.generate import SpecVQGANPipeline

    pipe = SpecVQGANPipeline.from_pretrained(run / "final")
    feats = torch.randn(1, 5, FEATURE_DIM)
    with pytest.raises(AvgenError, match="conditioned on a reference clip"):
        pipe.sample_codes(feats, top_k=1)
    codes = pipe.sample_codes(feats, top_k=1, reference=torch.zeros(1, 2, 2, dtype=torch.long))
    assert codes.shape[:2] == (1, 2)


def test_the_class_token_variant_trains_on_the_labels_and_exports_them(tmp_path, cache, codebook_folder):
    """condition: class (GPTClass) learns the codes from the label alone (the cache's heights); the export lists
    the classes in index order and the pipeline samples by class. A cache without labels is one line."""
    from avgen.generate import SpecVQGANPipeline

    run = tmp_path / "run"
    cfg = load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), COMMON + [
        f"data.path={cache}", f"run_dir={run}", f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]",
        "model.block_size=4", "model.condition=class", "max_steps=20", "ckpt_every=20"])
    train(cfg, cpu=True, quiet=True)
    _falls(_scalars(cfg.run_dir, "g/loss"), 0.7)
    meta = json.loads((run / "final" / "config.json").read_text())
    assert meta["data"]["classes"] == ["height0", "height1", "height2"]
    pipe = SpecVQGANPipeline.from_pretrained(run / "final")
    assert (pipe.transformer.config.condition, pipe.transformer.config.num_classes) == ("class", 3)
    assert pipe.class_names == ["height0", "height1", "height2"]
    codes = pipe.sample_codes(None, classes=[2], duration=0.2, top_k=1, generator=torch.Generator().manual_seed(0))
    assert codes.shape[:2] == (1, 2)
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(cache, unlabelled)
    index = (unlabelled / "index.jsonl").read_text().replace('"height1"', "null")
    (unlabelled / "index.jsonl").write_text(index)
    bad = load_config(os.path.join(CONFIGS, "tiny_transformer.yaml"), [
        f"data.path={unlabelled}", f"loss.codebook={codebook_folder}", "model.code_shape=[2,2]", "model.block_size=4",
        "model.condition=features_class"])
    with pytest.raises(ConfigError, match="model.condition: features_class trains on class labels, and 2 of 6"):
        train(bad, cpu=True, quiet=True)


def test_reference_pairs_and_the_conditioned_loss(long_cache, codebook_folder):
    from avgen.data.cache import PreparedDataset
    from avgen.train.tasks.specvqgan import reference_pairs

    # a ramp mel: every window says where it was cut; the pair is disjoint, gap apart, the features follow the target
    mel = torch.arange(40.0)[None, None].expand(64, 2, 40)
    feats = torch.arange(40.0)[None, :, None].expand(64, 40, 3) / 86.1328125 * 10  # frame k at k / 10 s
    target, tf, ref = reference_pairs(mel, feats, target_frames=8, reference_frames=6, gap_frames=3,
                                      mel_fps=86.1328125, fps=10.0, generator=torch.Generator().manual_seed(0))
    t0, r0 = target[:, 0, 0], ref[:, 0, 0]
    assert target.shape == (64, 2, 8) and ref.shape == (64, 2, 6)
    assert bool(((t0 + 8 + 3 <= r0) | (r0 + 6 + 3 <= t0)).all())  # disjoint, at least the gap apart
    assert bool((t0 < r0).any() and (r0 < t0).any())  # either may come first
    assert torch.allclose(tf[:, 0, 0], torch.round(t0 / 86.1328125 * 10) / 86.1328125 * 10)
    with pytest.raises(ConfigError, match="a pair needs 30 \\+ 12 mel frames"):
        reference_pairs(mel, feats, target_frames=30, reference_frames=12, gap_frames=0, mel_fps=86.13, fps=10.0,
                        generator=torch.Generator())
    # the loss: cross-entropy of the target codes after [reference codes, features], with the task's own draws
    over = [f"data.path={long_cache}", f"loss.codebook={codebook_folder}"]
    cfg = load_config(os.path.join(CONFIGS, "tiny_transformer_reference.yaml"), over)
    task = SpecVQGANTransformerTask(cfg, feature_dim=FEATURE_DIM, n_mels=N_MELS, mel_preset="specvqgan")
    gpt = task.build_generator().eval()
    batch = collate([PreparedDataset(long_cache, segment_seconds=0.5)[i] for i in range(3)])
    state = task.rng.get_state()
    loss, _ = task.generator_loss(batch, gpt, None)
    tm, tfeat, rm = reference_pairs(batch["mel"], batch["features"], target_frames=16, reference_frames=16,
                                    gap_frames=0, mel_fps=22050 / 256, fps=21.5,
                                    generator=torch.Generator().set_state(state))
    codebook = from_pretrained(codebook_folder)
    z, r = (grid_to_sequence(codebook.encode(2 * m - 1)) for m in (tm, rm))
    f = condition_frames(tfeat, feat_len=5, feat_crop_len=4, feat_sample_size=2)
    logp = gpt(z[:, :-1], f, r).log_softmax(-1)  # [B, 4 + 2 + 3, V]
    want = -torch.stack([logp[:, 4 + 2 - 1 + i].gather(1, z[:, i:i + 1])[:, 0] for i in range(4)], 1).mean()
    assert torch.allclose(loss, want, atol=1e-6)
    assert not torch.allclose(gpt(z[:, :-1], f, (r + 1) % 16)[:, 5:], gpt(z[:, :-1], f, r)[:, 5:])  # r is read
    # a segment too short for a pair, and a block too small for the reference, are one line naming the option
    for bad, message in (("data.segment_seconds=0.3", "data.segment_seconds: 0.3 s is 26 mel frames; a reference "
                                                      "pair needs 16"),
                         ("model.block_size=8", "model: block_size 8 cannot hold 4 reference codes")):
        c = load_config(os.path.join(CONFIGS, "tiny_transformer_reference.yaml"), over + [bad])
        with pytest.raises(ConfigError, match=message):
            SpecVQGANTransformerTask(c, feature_dim=FEATURE_DIM, n_mels=N_MELS, mel_preset="specvqgan"
                                     ).build_generator()


def test_melgan_trains_resumes_after_sigint_and_loads_as_a_vocoder(tmp_path, monkeypatch):
    import avgen.vocoders
    from avgen.media import write_audio

    wavs = tmp_path / "wav"
    wavs.mkdir()
    t = np.arange(11025) / 22050
    for i in range(4):
        write_audio(wavs / f"tone{i}.wav", (0.5 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32), 22050)
    run = tmp_path / "run"
    cfg, first, _ = _train_interrupted_then_resumed(monkeypatch, "tiny_melgan.yaml",
                                                    [f"data.path={wavs}", f"run_dir={run}"], "melgan", 16)
    assert sorted({k.split(".")[2] for k in first["discriminator"] if k.startswith("discriminator.model.")}) == [
        "disc_0", "disc_1", "disc_2"]
    _falls(_scalars(cfg.run_dir, "g/mel_l1"), 0.85)  # the release's monitored mel error (its best_netG criterion)
    vocoder = avgen.vocoders.load(str(run / "final"))
    assert vocoder.name == "melgan:final"
    wave = vocoder(torch.rand(1, 80, 6))
    assert wave.shape == (1, 6 * 256) and torch.isfinite(wave).all()


class _Hostile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def test_release_layouts_of_the_training_networks(tmp_path):
    """Parameter names and shapes of the release's VGGish-ish, patch discriminator and MelGAN discriminator."""
    with torch.device("meta"):  # names and shapes only: no memory, no initialisation work
        vgg, d, m = VGGishish(), NLayerDiscriminator(1, 64, 3), MelGANMultiScaleDiscriminator(3, 16, 4, 4)
    d, m = d.state_dict(), m.state_dict()
    convs = [k for k in vgg.state_dict() if k.endswith(".weight")]
    assert convs[0] == "features.0.weight" and convs[-1] == "features.28.weight" and len(convs) == 13
    # the public vggishish16.pt: {"model": VGGishish state dict incl. the classifier}; a small stand-in in its layout
    small = VGGishish((2, 2, 2, 2, 2))
    sd = {f"features.{k}": torch.randn_like(v) for k, v in small.features.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(3, 3)
    torch.save({"model": sd, "epoch": 3}, tmp_path / "vggishish16.pt")
    load_vggishish_weights(small, tmp_path / "vggishish16.pt")
    assert torch.equal(small.features[28].weight, sd["features.28.weight"])
    from avgen.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match=r"features.0.weight is \(2, 1, 3, 3\), .*perceptual_channels has \(4, 1, "):
        load_vggishish_weights(VGGishish((4, 2, 2, 2, 2)), tmp_path / "vggishish16.pt")
    marker = tmp_path / "ran"
    torch.save({"model": _Hostile(str(marker))}, tmp_path / "hostile.pt")  # unpickling it would create the marker
    with pytest.raises(CheckpointError, match="hostile.pt: refused: it references io.open"):
        load_vggishish_weights(small, tmp_path / "hostile.pt")
    torch.save({"model": _Hostile(str(marker))}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy.pt: refused or unreadable as a weights-only"):
        load_vggishish_weights(small, tmp_path / "legacy.pt")
    assert not marker.exists()
    assert d["main.0.weight"].shape == (64, 1, 4, 4) and d["main.11.weight"].shape == (1, 512, 4, 4)
    assert "main.3.running_mean" in d and d["main.2.weight"].shape == (128, 64, 4, 4)
    assert m["model.disc_0.model.layer_0.1.weight_v"].shape == (16, 1, 15)
    assert m["model.disc_2.model.layer_4.0.weight_v"].shape == (1024, 4, 41)  # groups 256
    assert m["model.disc_1.model.layer_5.0.weight_g"].shape == (1024, 1, 1)
    assert m["model.disc_0.model.layer_6.weight_v"].shape == (1, 1024, 3)


def test_loss_formulas_on_known_values():
    # hinge: (mean relu(1 - r) + mean relu(1 + f)) / 2
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    assert torch.isclose(hinge_d_loss(real, fake), torch.tensor(((0 + 0.5 + 2) / 3 + (0 + 1 + 2) / 3) / 2))
    # adaptive weight: |grad nll| / (|grad g| + 1e-4), clamped, times disc_weight; constant when clamped to a point
    w = torch.ones(4, requires_grad=True)
    lam = adaptive_weight((2 * w).sum(), (3 * w).sum(), w, lo=0.0, hi=1e4, scale=0.8)
    assert torch.isclose(lam, torch.tensor(0.8 * 4.0 / (6.0 + 1e-4)))
    assert float(adaptive_weight((2 * w).sum(), (3 * w).sum(), w, lo=0.1, hi=0.5, scale=0.8)) == pytest.approx(0.4)
    assert float(adaptive_weight((2 * w).sum(), (3 * w).sum(), w, lo=1.0, hi=1.0, scale=0.8)) == pytest.approx(0.8)
    # MelGAN: hinge summed over scales, feature matching weighted 4 / (n_layers + 1) / num_D over all but the logits
    adv = MelGANAdversary(num_D=2, ndf=4, n_layers=1, downsampling_factor=4, loss="hinge")
    r = [[torch.zeros(3), torch.full((2,), 2.0)], [torch.ones(3), torch.zeros(2)]]
    f = [[torch.ones(3), torch.full((2,), -0.5)], [torch.ones(3), torch.full((2,), 1.0)]]
    assert float(adv.d_loss(r, f)) == pytest.approx((0 + 0.5) + (1 + 2))
    assert float(adv.g_loss(f)) == pytest.approx(0.5 - 1.0)
    assert float(adv.feature_matching(r, f)) == pytest.approx(4 / 2 / 2 * (1.0 + 0.0))
