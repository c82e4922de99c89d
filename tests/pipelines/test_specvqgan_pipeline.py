"""SpecVQGANPipeline on tiny random models: the release's folders (built here in the published layout, with the
builders of tests/models/test_specvqgan.py) load through ``from_public`` and through the converter +
``from_pretrained`` to the same pipeline; save/load round trips; inputs past the trained window are generated
window by window, each window primed with the codes it shares with the previous one."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import yaml

from avgen.checkpoints import read_pipeline_config
from avgen.errors import AvgenError, WeightsNotFoundError
from avgen.generate import SpecVQGANPipeline
from avgen.models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer, grid_to_sequence, sequence_to_grid
from avgen.models.vocoders.melgan import MelGANGenerator
from avgen.pipelines.specvqgan import window_starts

from ..models.test_specvqgan import MELGAN_ARGS, _converter, _randomize, _release_column_major, _save_lightning

# tiny sizes for 80-band specvqgan mels: 80 x 96 -> 5 x 6 codes (5 levels, f = 16), attention at width 6
DD = dict(double_z=False, z_channels=32, resolution=96, in_channels=1, out_ch=1, ch=32, ch_mult=[1, 1, 1, 1, 1],
          num_res_blocks=1, attn_resolutions=[6], dropout=0.0)
N_EMBED, EMBED_DIM, H, W, F_T = 16, 8, 5, 6, 16
GPT = dict(vocab_size=N_EMBED, block_size=H * W + 4, n_layer=2, n_head=2, n_embd=32)
FEAT_DIM, FEAT_LEN, FEAT_CROP, FEAT_SAMPLE = 24, 11, 10, 4
FPS = 10.0  # 11 frames ~ one 1.11 s window (6 columns x 16 frames x 256 / 22050 Hz)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one thread, fixed sum order


def _codebook_config() -> dict:
    return dict(ch=DD["ch"], ch_mult=tuple(DD["ch_mult"]), num_res_blocks=DD["num_res_blocks"],
                attn_resolutions=tuple(DD["attn_resolutions"]), resolution=DD["resolution"],
                z_channels=DD["z_channels"], n_embed=N_EMBED, embed_dim=EMBED_DIM)


def _codebook_weights(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = _randomize(SpecVQGANCodebook(**_codebook_config()).state_dict(), gen)
    sd["quantize.embedding.weight"] = torch.randn(N_EMBED, EMBED_DIM, generator=gen)
    return sd


def _gpt_weights(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = _randomize(_transformer().state_dict(), gen)
    sd["pos_emb"] = 0.3 * torch.randn(1, GPT["block_size"], GPT["n_embd"], generator=gen)
    sd["tok_emb.weight"] = torch.randn(GPT["vocab_size"], GPT["n_embd"], generator=gen)
    return sd


def _transformer() -> SpecVQGANTransformer:
    return SpecVQGANTransformer(**GPT, feat_dim=FEAT_DIM, feat_len=FEAT_LEN, feat_crop_len=FEAT_CROP,
                                feat_sample_size=FEAT_SAMPLE, code_shape=(H, W))


def _vqmodel(ckpt_path: str | None = None) -> dict:
    params = {"embed_dim": EMBED_DIM, "n_embed": N_EMBED, "ddconfig": dict(DD),
              "lossconfig": {"target": "specvqgan.modules.losses.DummyLoss"}}
    if ckpt_path:
        params["ckpt_path"] = ckpt_path
    return {"target": "specvqgan.models.vqgan.VQModel", "params": params}


def _transformer_yaml() -> str:
    cfg = {"model": {"base_learning_rate": 1e-6, "target": "specvqgan.models.cond_transformer.Net2NetTransformer",
                     "params": {
                         "cond_stage_key": "feature",
                         "transformer_config": {"target": "specvqgan.modules.transformer.mingpt.GPTFeats", "params": {
                             "feat_embedding_config": {"target": "torch.nn.Conv1d", "params": {
                                 "in_channels": FEAT_DIM, "out_channels": GPT["n_embd"], "kernel_size": 1,
                                 "padding": 0}},
                             "GPT_config": dict(GPT)}},
                         "first_stage_permuter_config": {"target": "specvqgan.modules.transformer.permuter.ColumnMajor",
                                                         "params": {"H": H, "W": W}},
                         "first_stage_config": _vqmodel("Replace the first_stage ckpt path"),
                         "cond_stage_config": {"target": "specvqgan.modules.misc.raw_feats.RawFeatsStage"}}},
           "data": {"target": "train.ConditionedSpectrogramDataModuleFromConfig", "params": {
               "batch_size": 2, "mel_num": 80, "spec_crop_len": W * F_T, "feat_depth": FEAT_DIM,
               "feat_len": FEAT_LEN, "feat_crop_len": FEAT_CROP,
               "feat_sampler_cfg": {"target": "specvqgan.data.vas.ResampleFrames",
                                    "params": {"feat_sample_size": FEAT_SAMPLE}}}}}
    return yaml.safe_dump(cfg, sort_keys=False)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A transformer run, a codebook run and the MelGAN vocoder folder in the release's layout."""
    root = tmp_path_factory.mktemp("specvqgan_release")
    trun = root / "logs" / "2021-07-30T21-34-25_tiny_transformer"
    (trun / "configs").mkdir(parents=True)
    (trun / "configs" / "2021-07-30T21-34-25-project.yaml").write_text(_transformer_yaml())
    sd = {f"first_stage_model.{k}": v for k, v in _codebook_weights(3).items()}
    sd.update({f"transformer.{k}": v for k, v in _gpt_weights(4).items()})
    bs = GPT["block_size"]
    for i in range(GPT["n_layer"]):
        sd[f"transformer.blocks.{i}.attn.mask"] = torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs)
    idx = torch.tensor(_release_column_major(H, W))
    sd["first_stage_permuter.forward_shuffle_idx"] = idx
    sd["first_stage_permuter.backward_shuffle_idx"] = torch.argsort(idx)
    _save_lightning(str(trun / "checkpoints" / "last.ckpt"), sd)

    crun = root / "logs" / "2021-06-06T19-42-53_tiny_codebook"
    (crun / "configs").mkdir(parents=True)
    (crun / "configs" / "2021-06-06T19-42-53-project.yaml").write_text(yaml.safe_dump({"model": _vqmodel()}))
    cb = _codebook_weights(1)
    _save_lightning(str(crun / "checkpoints" / "epoch_259.ckpt"),
                    {**cb, "loss.discriminator.main.0.weight": torch.randn(8, 1, 4, 4)})

    voc = root / "vocoder" / "logs" / "tiny"
    voc.mkdir(parents=True)
    (voc / "args.yml").write_text(MELGAN_ARGS.format(mels=80, layers=1, ngf=4))
    msd = _randomize(MelGANGenerator(n_mel_channels=80, ngf=4, n_residual_layers=1).state_dict(),
                     torch.Generator().manual_seed(9))
    torch.save(OrderedDict({k: 0.7 * v if k.endswith("weight_g") else v for k, v in msd.items()}),
               voc / "best_netG.pt")
    return {"transformer": trun, "codebook": crun, "vocoder": voc, "codebook_sd": cb}


def _tiny_pipeline(seed: int = 0, *, vocoder=None) -> SpecVQGANPipeline:
    torch.manual_seed(seed)
    cb = SpecVQGANCodebook(**_codebook_config())
    cb.load_state_dict(_codebook_weights(seed + 1))
    t = _transformer()
    t.load_state_dict(_gpt_weights(seed + 2))
    mg = MelGANGenerator(n_mel_channels=80, ngf=4, n_residual_layers=1)
    from avgen.vocoders import GeneratorVocoder

    voc = GeneratorVocoder(mg, "melgan:tiny", "specvqgan", device="cpu") if vocoder is None else vocoder
    return SpecVQGANPipeline(cb, t, vocoder=voc, fps=FPS, device="cpu")


def _features(frames: int, seed: int) -> torch.Tensor:
    return torch.randn(frames, FEAT_DIM, generator=torch.Generator().manual_seed(seed))  # [T_f, D]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_from_public_equals_from_pretrained_of_its_conversion(release, tmp_path):
    pub = SpecVQGANPipeline.from_public(release["transformer"], codebook_run=release["codebook"],
                                        vocoder=release["vocoder"], device="cpu")
    # the codebook run's weights, not the copy inside the transformer checkpoint
    assert torch.equal(pub.codebook.quantize.embedding.weight, release["codebook_sd"]["quantize.embedding.weight"])
    out = tmp_path / "converted"
    assert _converter().main([str(release["transformer"]), str(out), "--codebook-run", str(release["codebook"]),
                              "--vocoder", str(release["vocoder"])]) == 0
    cfg = read_pipeline_config(out, "SpecVQGANPipeline")
    assert cfg["components"] == {"codebook": "codebook", "transformer": "transformer", "vocoder": "vocoder"}
    assert (cfg["fps"], cfg["backbone"], cfg["mel_preset"]) == (21.5, "resnet50", "specvqgan")
    assert cfg["source"] == {"converted_from": "2021-07-30T21-34-25_tiny_transformer", "checkpoint": "last.ckpt",
                             "global_step": 1234}
    conv = SpecVQGANPipeline.from_pretrained(out, device="cpu")
    for a, b in ((pub.codebook, conv.codebook), (pub.transformer, conv.transformer),
                 (pub.vocoder.net, conv.vocoder.net)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert pub.transformer.config == conv.transformer.config and conv.vocoder.name == "melgan:vocoder"
    mel = torch.rand(2, 80, W * F_T, generator=_gen(1))
    codes = pub.codebook.encode(mel)
    assert codes.dtype == torch.long and codes.shape == (2, H, W) and torch.equal(codes, conv.codebook.encode(mel))
    assert pub.codebook.decode(codes).shape == (2, 80, W * F_T)
    feats = _features(20, 2)  # 0.93 s at 21.5 fps: one window (1.11 s)
    a, b = pub(feats, seed=5, top_k=4), conv(feats, seed=5, top_k=4)
    assert a.waveform.shape == (1, round(20 / 21.5 * 22050)) and torch.equal(a.waveform, b.waveform)
    assert torch.equal(a.mel, b.mel) and a.sample_rate == 22050
    # a run of the wrong kind is one line
    with pytest.raises(AvgenError, match="not a transformer run"):
        SpecVQGANPipeline.from_public(release["codebook"], device="cpu")


def test_save_pretrained_round_trip_gives_equal_outputs(tmp_path):
    pipe = _tiny_pipeline(0)
    folder = pipe.save_pretrained(tmp_path / "p")
    cfg = read_pipeline_config(folder, "SpecVQGANPipeline")
    assert cfg["fps"] == FPS and cfg["components"]["vocoder"] == "vocoder"
    back = SpecVQGANPipeline.from_pretrained(folder, device="cpu")
    assert back.fps == FPS and back.code_shape == (H, W)
    feats = _features(10, 3)  # 1 s at 10 fps: one window
    a, b = pipe(feats, seed=7), back(feats, seed=7)
    assert torch.equal(a.mel, b.mel) and torch.equal(a.waveform, b.waveform)
    codes = pipe.sample_codes(feats, generator=_gen(7))
    assert torch.equal(codes, back.sample_codes(feats, generator=_gen(7)))
    assert not torch.equal(codes, back.sample_codes(feats, generator=_gen(8)))  # the seed reaches the sampler
    # a specvqgan_transformer training export: frame rate, backbone and preset come from its prepare cache's "data"
    import json

    cfg = json.loads((tmp_path / "p" / "config.json").read_text())
    for k in ("fps", "backbone", "mel_preset", "source"):
        cfg.pop(k, None)
    cfg.update({"source": "avgen train", "task": "specvqgan_transformer",
                "data": {"fps": 12.5, "visual": {"backbone": "efficientnet-lite0", "feature_dim": 1280},
                         "mel": {"name": "specvqgan", "n_mels": 80}, "segment_seconds": 1.0}})
    (tmp_path / "p" / "config.json").write_text(json.dumps(cfg))
    trained = SpecVQGANPipeline.from_pretrained(tmp_path / "p", device="cpu")
    assert (trained.fps, trained.backbone, trained.source) == (12.5, "efficientnet-lite0", "avgen train")
    again = read_pipeline_config(trained.save_pretrained(tmp_path / "p2"), "SpecVQGANPipeline")
    assert again["data"] == cfg["data"] and again["task"] == "specvqgan_transformer" and again["fps"] == 12.5
    # a named vocoder is stored by name, not as a component; an unknown settings key is refused in one line
    named = _tiny_pipeline(0, vocoder="griffin-lim")
    cfg = read_pipeline_config(named.save_pretrained(tmp_path / "gl"), "SpecVQGANPipeline")
    assert cfg["vocoder"] == "griffin-lim" and "vocoder" not in cfg["components"]
    assert SpecVQGANPipeline.from_pretrained(tmp_path / "gl", device="cpu").vocoder.name == "griffin-lim"
    text = (tmp_path / "gl" / "config.json").read_text().replace('"fps"', '"fsp"')
    (tmp_path / "gl" / "config.json").write_text(text)
    with pytest.raises(AvgenError, match=r"config.json: unknown entries fsp"):
        SpecVQGANPipeline.from_pretrained(tmp_path / "gl", device="cpu")
    (tmp_path / "gl" / "config.json").write_text(text.replace('"fsp": 10.0', '"fps": "fast"'))
    with pytest.raises(AvgenError, match=r"config.json: 'fps' must be a number, got 'fast'"):
        SpecVQGANPipeline.from_pretrained(tmp_path / "gl", device="cpu")


def test_inputs_past_the_trained_length_are_generated_window_by_window():
    pipe = _tiny_pipeline(1)
    t, cb = pipe.transformer, pipe.codebook
    window_s = W * F_T * 256 / 22050
    frames = round(2.5 * window_s * FPS)  # 2.5 trained windows of features
    feats = _features(frames, 4)
    calls, decodes = [], []
    sample, decode = t.sample, cb.decode

    def spy_sample(cond, **kw):
        out = sample(cond, **kw)
        calls.append((cond, kw.get("prefix"), out))
        return out

    def spy_decode(codes):
        decodes.append(codes.shape)
        return decode(codes)

    t.sample, cb.decode = spy_sample, spy_decode
    try:
        res = pipe(feats, seed=11)
    finally:
        del t.sample, cb.decode
    duration = frames / FPS
    n = round(duration * 22050)
    assert res.waveform.shape == (1, n) and res.mel.shape == (80, math.ceil(n / 256))
    assert abs(res.duration - duration) < 1e-9
    columns = pipe.columns_for(duration)
    starts = window_starts(columns, W, W // 2)
    assert columns > 2 * W and len(starts) >= 4 and len(calls) == len(starts)
    # deterministic with a seeded generator (the call's seed 11), different with another seed
    codes = pipe.sample_codes(feats[None], generator=_gen(11))
    assert codes.shape == (1, H, columns)
    assert not torch.equal(codes, pipe.sample_codes(feats[None], generator=_gen(12)))
    # every network call sees one window: feat_sample_size frames, W code columns
    assert all(c.shape == (1, FEAT_SAMPLE, FEAT_DIM) for c, _, _ in calls)
    assert set(decodes) == {(1, H, W)}
    for k, (c, (cond, prefix, out)) in enumerate(zip(starts, calls)):
        first = round(c * F_T * 256 / 22050 * FPS)
        assert torch.equal(cond, t.condition_frames(feats[None, first:first + FEAT_LEN]))
        grid = sequence_to_grid(out, H)
        assert torch.equal(grid, codes[:, :, c:c + W])  # the call's codes again: deterministic
        if k == 0:
            assert prefix is None
            continue
        shared = starts[k - 1] + W - c  # columns window k shares with window k - 1
        prev = sequence_to_grid(calls[k - 1][2], H)
        assert torch.equal(prefix, grid_to_sequence(prev[:, :, W - shared:]))
        assert torch.equal(grid[:, :, :shared], prev[:, :, W - shared:])  # it starts from window k - 1's codes
    # the mels: window 0's alone before window 1 starts, the last window's alone after the previous one ends
    mel = res.mel[None]
    net_decode = decode
    decode = lambda c: (net_decode(c) + 1) / 2  # noqa: E731  (the pipeline's mels are in [0, 1])
    f0 = decode(codes[:, :, :W])
    assert torch.allclose(mel[..., :starts[1] * F_T], f0[..., :starts[1] * F_T], atol=1e-6)
    # between them, a linear cross-fade over the columns windows 0 and 1 share (window 2 starts where 0 ends)
    assert starts[:3] == [0, 3, 6]
    f1 = decode(codes[:, :, 3:3 + W])
    ramp = (torch.arange(3 * F_T) + 0.5) / (3 * F_T)
    want = f0[..., 3 * F_T:6 * F_T] * (1 - ramp) + f1[..., :3 * F_T] * ramp
    assert torch.allclose(mel[..., 3 * F_T:6 * F_T], want, atol=1e-5)
    last = decode(codes[:, :, starts[-1]:])
    tail = (starts[-2] + W - starts[-1]) * F_T
    m = mel.shape[-1] - (starts[-2] + W) * F_T  # res.mel is cut to the duration
    assert m > 0 and torch.allclose(mel[..., (starts[-2] + W) * F_T:], last[..., tail:tail + m], atol=1e-6)


def test_call_on_short_features_saves_and_errors_are_one_line(tmp_path, capsys):
    pipe = _tiny_pipeline(2)
    feats = _features(7, 5)  # 0.7 s: shorter than a window, zero-padded like the release's datasets
    res = pipe(feats, top_k=1, seed=1)
    assert res.waveform.shape == (1, round(0.7 * 22050)) and res.mel.shape == (80, math.ceil(0.7 * 22050 / 256))
    assert res.waveform.abs().max() <= 1 and res.waveform.std() > 0
    assert torch.equal(res.mel, pipe(feats[None], top_k=1, seed=2, progress=True).mel)  # greedy: any seed
    assert "specvqgan sampling" in capsys.readouterr().err
    codes = pipe.sample_codes(feats[None], top_k=1)
    assert codes.shape == (1, H, W)
    m = res.mel.shape[1]
    assert torch.equal(res.mel, ((pipe.codebook.decode(codes) + 1) / 2)[0, :, :m])  # the window's first 0.7 s, in [0, 1]
    assert torch.equal(res.waveform, pipe.vocoder(res.mel[None])[:, :res.waveform.shape[1]])
    from avgen.media import read_audio

    wav, sr = read_audio(res.save(tmp_path / "out.wav"), sample_rate=22050)
    assert sr == 22050 and wav.shape[-1] == res.waveform.shape[1]
    with pytest.raises(AvgenError, match="no video to mux"):
        res.save(tmp_path / "out.mp4")
    # a video needs the backbone's weights file: one line naming the option, before any decoding
    with pytest.raises(WeightsNotFoundError, match=r"ResNet-50.*no path was given.*visual_weights="):
        pipe(str(tmp_path / "clip.mp4"))
    pipe.visual_weights = str(tmp_path / "missing.pth")
    with pytest.raises(WeightsNotFoundError, match=r"missing.pth' does not exist"):
        pipe(str(tmp_path / "clip.mp4"))
    with pytest.raises(AvgenError, match="features must be"):
        pipe(torch.zeros(7, FEAT_DIM + 1))
    with pytest.raises(AvgenError, match="not both"):
        pipe(feats, seed=1, generator=_gen(1))
    with pytest.raises(AvgenError, match="overlap_seconds"):
        pipe(feats, overlap_seconds=5.0)
    # float64 runs end to end (greedy codes as in float32 on these weights)
    assert torch.equal(pipe.to(torch.float64).sample_codes(feats[None], top_k=1), codes)


class _FrameFeatures:
    """A stand-in backbone (the real ones need their weight files): each frame's mean colour, projected."""

    feature_dim = FEAT_DIM

    def __init__(self):
        self.proj = torch.randn(3, FEAT_DIM, generator=_gen(6))
        self.frames = 0

    def encode(self, frames, *, batch_size: int = 64) -> torch.Tensor:
        self.frames += len(frames)
        return torch.as_tensor(frames).float().mean((1, 2)) / 255 @ self.proj  # [T, D]


def test_a_video_file_is_decoded_at_the_backbone_rate_and_the_sound_muxed_onto_it(tmp_path):
    from avgen.media import probe, read_video, write_video

    pipe = _tiny_pipeline(3)
    pipe._encoder = enc = _FrameFeatures()
    t = torch.arange(30, dtype=torch.uint8)
    frames = (t[:, None, None, None] * 8).expand(30, 16, 16, 3).contiguous().numpy()  # 1.5 s at 20 fps
    video = write_video(tmp_path / "in.mp4", frames, 20.0)
    res = pipe(video, seed=4)
    assert enc.frames == 15 and res.video_path == video  # 1.5 s at the backbone's 10 fps
    assert res.waveform.shape == (1, round(probe(video).video_duration * 22050))
    # the same frames as an array at their own rate give the same features, so the same sound
    same = pipe(read_video(video)[0], video_fps=20.0, seed=4)
    assert torch.equal(same.mel, res.mel)
    out = probe(res.save(tmp_path / "out.mp4"))
    assert out.has_video and out.has_audio and abs(out.duration - 1.5) < 0.1


def _conditioned_pipeline(seed: int = 0) -> SpecVQGANPipeline:
    """The tiny pipeline with a transformer primed by a reference clip's 5 x 6 codes: [30 codes, 4 frames, 30]."""
    cb = SpecVQGANCodebook(**_codebook_config())
    cb.load_state_dict(_codebook_weights(seed + 1))
    gpt = dict(GPT, block_size=2 * H * W + FEAT_SAMPLE - 1)
    t = SpecVQGANTransformer(**gpt, feat_dim=FEAT_DIM, feat_len=FEAT_LEN, feat_crop_len=FEAT_CROP,
                             feat_sample_size=FEAT_SAMPLE, code_shape=(H, W), condition_on_reference=True)
    gen = _gen(seed + 2)
    sd = _randomize(t.state_dict(), gen)
    sd["pos_emb"] = 0.3 * torch.randn_like(sd["pos_emb"])
    sd["tok_emb.weight"] = torch.randn(N_EMBED, GPT["n_embd"], generator=gen)
    t.load_state_dict(sd)
    return SpecVQGANPipeline(cb, t, vocoder="griffin-lim", fps=FPS, device="cpu")


def _sound(kind: str, seconds: float = 1.5) -> torch.Tensor:
    t = torch.arange(round(seconds * 22050)) / 22050
    if kind == "noise":
        return 0.3 * torch.randn(t.numel(), generator=_gen(21))
    return 0.5 * torch.sin(2 * torch.pi * 300 * t) * (t * 6 % 1 < 0.4)  # a pulsed tone


def test_the_conditioned_sampler_follows_the_reference_clip(tmp_path):
    pipe = _conditioned_pipeline(0)
    t = pipe.transformer
    assert pipe.conditioned and t.reference_length == H * W and t.prime_length == H * W + FEAT_SAMPLE
    feats = _features(10, 7)  # one window
    tone, noise = pipe.reference_codes(_sound("tone")), pipe.reference_codes(_sound("noise"))
    assert tone.shape == (1, H, W) and not torch.equal(tone, noise)  # two references the codebook tells apart
    a = pipe.sample_codes(feats, top_k=1, reference=_sound("tone"))
    assert torch.equal(a, pipe.sample_codes(feats, top_k=1, reference=tone))  # greedy: the reference decides
    b = pipe.sample_codes(feats, top_k=1, reference=_sound("noise"))
    assert not torch.equal(a, b)  # another reference, other codes
    # the KV cache gives what recomputation gives with the reference in the prime
    cond = t.condition_frames(feats[None])
    ref = grid_to_sequence(tone)
    assert torch.equal(t.sample(cond, top_k=1, reference=ref), t.sample(cond, top_k=1, reference=ref,
                                                                          use_cache=False))
    # a reference file, resampled from 16 kHz, primes every window of a longer input
    from avgen.media import write_audio

    x = _sound("tone").numpy()
    path = write_audio(tmp_path / "ref.wav", np.interp(np.arange(0, x.size, 22050 / 16000), np.arange(x.size), x)
                       .astype(np.float32), 16000)
    assert (pipe.reference_codes(path) != tone).float().mean() < 0.5  # nearly the same clip, nearly the same codes
    res = pipe(_features(25, 8), top_k=1, reference=path)
    assert res.waveform.shape == (1, round(2.5 * 22050))
    # save/load: config.json says it (for `avgen v2s --reference` routing); the same codes come back
    folder = pipe.save_pretrained(tmp_path / "cond")
    cfg = read_pipeline_config(folder, "SpecVQGANPipeline")
    assert cfg["condition_on_reference"] is True
    back = SpecVQGANPipeline.from_pretrained(folder, device="cpu")
    assert torch.equal(back.sample_codes(feats, top_k=1, reference=tone), a)
    # refusals, one line each: no reference for a conditioned model, a reference for one without the option,
    # a config.json that contradicts its transformer
    with pytest.raises(AvgenError, match="conditioned on a reference clip .*pass an audio path or waveform"):
        pipe(feats, top_k=1)
    plain = _tiny_pipeline(0)
    assert read_pipeline_config(plain.save_pretrained(tmp_path / "plain"), "SpecVQGANPipeline")[
        "condition_on_reference"] is False
    with pytest.raises(AvgenError, match="trained without condition_on_reference"):
        plain(feats, reference=_sound("tone"))
    with pytest.raises(AvgenError, match=r"reference .*missing.wav: no such file"):
        pipe(feats, reference=str(tmp_path / "missing.wav"))
    import json

    data = json.loads((tmp_path / "cond" / "config.json").read_text())
    (tmp_path / "cond" / "config.json").write_text(json.dumps(dict(data, condition_on_reference=False)))
    with pytest.raises(AvgenError, match="'condition_on_reference' is false, its transformer's config says true"):
        SpecVQGANPipeline.from_pretrained(folder, device="cpu")
