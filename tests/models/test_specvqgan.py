"""SpecVQGAN head: the release's folders (built here, tiny sizes, random weights) load one to one and match a
reference forward written in this file; the KV-cached sampler reproduces full recomputation; hostile files are
refused before anything in them runs.

The references below read every tensor by the release's own names (a missing or left-over name fails the test)
and follow the release's computation step by step: full-sequence causal attention recomputed at every sampling
step, a MelGAN with weight norm applied by hand, the ColumnMajor permutation and the frame sampler built with
numpy as the release builds them.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avgen.checkpoints import CheckpointError, from_pretrained
from avgen.models.v2s.specvqgan import (SpecVQGANCodebook, SpecVQGANTransformer, frame_indices, grid_to_sequence,
                                        resample_frames, sequence_to_grid)
from avgen.models.vocoders.melgan import MelGANGenerator
from avgen.specvqgan_release import (load_codebook_run, load_melgan_folder, load_release, load_transformer_run,
                                     read_lightning_checkpoint, read_namespace_yaml)

from ..conftest import REPO

# tiny sizes in the release's config vocabulary: a 20 x 24 mel -> 5 x 6 codes, attention at width 6
DD = dict(double_z=False, z_channels=32, resolution=24, in_channels=1, out_ch=1, ch=32, ch_mult=[1, 1, 2],
          num_res_blocks=1, attn_resolutions=[6], dropout=0.0)
N_EMBED, EMBED_DIM = 16, 8
H, W, N_MELS, FRAMES = 5, 6, 20, 24
GPT = dict(vocab_size=N_EMBED, block_size=H * W + 4, n_layer=2, n_head=2, n_embd=32)
FEAT_DEPTH, FEAT_LEN, FEAT_SAMPLE = 24, 11, 4


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one thread, fixed sum order


# -- building the release's folders ---------------------------------------------------------------------------

def _yaml_list(v):
    return "[" + ", ".join(map(str, v)) + "]"


def _ddconfig(indent: str) -> str:
    return "\n".join(f"{indent}{k}: {_yaml_list(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in DD.items())


CODEBOOK_YAML = f"""model:
  base_learning_rate: 1e-6
  target: specvqgan.models.vqgan.VQModel
  params:
    embed_dim: {EMBED_DIM}
    n_embed: {N_EMBED}
    ddconfig:
{_ddconfig("      ")}
    lossconfig:
      target: specvqgan.modules.losses.vqperceptual.VQLPAPSWithDiscriminator
      params:
        disc_conditional: False
        disc_in_channels: 1
        disc_start: 2001
        disc_weight: 0.8
        codebook_weight: 1.0
lightning:
  trainer:
    sync_batchnorm: true
data:
  target: train.SpectrogramDataModuleFromConfig
  params:
    batch_size: 3
    mel_num: {N_MELS}
    spec_crop_len: {FRAMES}
"""

TRANSFORMER_YAML = f"""model:
  base_learning_rate: 1e-6
  target: specvqgan.models.cond_transformer.Net2NetTransformer
  params:
    cond_stage_key: feature
    transformer_config:
      target: specvqgan.modules.transformer.mingpt.GPTFeats
      params:
        feat_embedding_config:
          target: torch.nn.Conv1d
          params:
            in_channels: {FEAT_DEPTH}
            out_channels: {GPT["n_embd"]}
            kernel_size: 1
            padding: 0
        GPT_config:
          vocab_size: {GPT["vocab_size"]}
          block_size: {GPT["block_size"]}
          n_layer: {GPT["n_layer"]}
          n_head: {GPT["n_head"]}
          n_embd: {GPT["n_embd"]}
    first_stage_permuter_config:
      target: specvqgan.modules.transformer.permuter.ColumnMajor
      params:
        H: {H}
        W: {W}
    first_stage_config:
      target: specvqgan.models.vqgan.VQModel
      params:
        ckpt_path: 'Replace the first_stage ckpt path'
        embed_dim: {EMBED_DIM}
        n_embed: {N_EMBED}
        ddconfig:
{_ddconfig("          ")}
        lossconfig:
          target: specvqgan.modules.losses.DummyLoss
    cond_stage_config:
      target: specvqgan.modules.misc.raw_feats.RawFeatsStage
lightning:
  modelcheckpoint:
    target: pytorch_lightning.callbacks.ModelCheckpoint
    params:
      monitor: val/loss
data:
  target: train.ConditionedSpectrogramDataModuleFromConfig
  params:
    batch_size: 2
    mel_num: {N_MELS}
    spec_crop_len: {FRAMES}
    feat_depth: {FEAT_DEPTH}
    feat_len: {FEAT_LEN + 2}
    feat_crop_len: {FEAT_LEN}
    feat_sampler_cfg:
      target: specvqgan.data.vas.ResampleFrames
      params:
        feat_sample_size: {FEAT_SAMPLE}
"""

MELGAN_ARGS = """!!python/object:argparse.Namespace
batch_size: 64
cond_disc: false
data_path: !!python/object/apply:pathlib.PosixPath
- /
- home
- data
- melspec_10s_22050hz
downsamp_factor: 4
n_mel_channels: {mels}
n_residual_layers: {layers}
ndf: 16
ngf: {ngf}
num_D: 3
save_path: ./logs/vggsound
splits_path: !!python/object/apply:pathlib.PosixPath
- data
"""

_CALLBACK_MODULES = {"model_checkpoint": "ModelCheckpoint", "early_stopping": "EarlyStopping"}


@contextlib.contextmanager
def _fake_lightning():
    """Importable stand-ins for Lightning's callback classes while a checkpoint is pickled (then removed), so the
    file names them as Lightning 1.2 does: ``checkpoint["callbacks"]`` keyed by the callback class."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks"] + [f"pytorch_lightning.callbacks.{m}"
                                                                    for m in _CALLBACK_MODULES]
    assert not any(n in sys.modules for n in names)
    classes = {}
    for n in names:
        sys.modules[n] = types.ModuleType(n)
    for m, cls_name in _CALLBACK_MODULES.items():
        mod = f"pytorch_lightning.callbacks.{m}"
        cls = type(cls_name, (), {"__module__": mod})
        setattr(sys.modules[mod], cls_name, cls)
        classes[cls_name] = cls
    try:
        yield classes
    finally:
        for n in names:
            sys.modules.pop(n, None)


def _save_lightning(path: str, state_dict: dict, *, legacy: bool = False) -> None:
    """A Lightning-1.2-shaped checkpoint: counters, callback states keyed by class, Adam state, the weights."""
    with _fake_lightning() as cb:
        first = next(iter(state_dict.values()))
        ckpt = {
            "epoch": 3, "global_step": 1234, "pytorch-lightning_version": "1.2.10",
            "callbacks": {cb["ModelCheckpoint"]: {"monitor": "val/loss", "best_model_score": torch.tensor(4.2),
                                                  "best_model_path": "/logs/run/checkpoints/epoch_3.ckpt",
                                                  "current_score": torch.tensor(4.3), "dirpath": "/logs/run"},
                          cb["EarlyStopping"]: {"wait_count": 0, "stopped_epoch": 0, "best_score": torch.tensor(4.2),
                                                "patience": 2}},
            "optimizer_states": [{"state": {0: {"step": 10, "exp_avg": torch.zeros_like(first),
                                                "exp_avg_sq": torch.zeros_like(first)}},
                                  "param_groups": [{"lr": 1e-6, "betas": (0.5, 0.9), "eps": 1e-8, "weight_decay": 0,
                                                    "amsgrad": False, "params": [0]}]}],
            "lr_schedulers": [],
            "state_dict": OrderedDict(state_dict),
        }
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)


def _randomize(sd: dict, gen: torch.Generator) -> dict:
    """Every tensor random (norm gains around 1), so no part of a forward is trivially the identity."""
    out = {}
    for k, v in sd.items():
        r = torch.randn(v.shape, generator=gen)
        if k.endswith(("norm1.weight", "norm2.weight", "norm.weight", "norm_out.weight", "ln1.weight", "ln2.weight",
                       "ln_f.weight")):
            r = 1 + 0.1 * r
        elif k.endswith("weight_g"):
            r = r.abs() + 0.5
        else:
            fan = v[0].numel() if v.ndim > 1 else 1
            r = r / math.sqrt(max(fan, 1)) if v.ndim > 1 else 0.1 * r
        out[k] = r
    return out


def _codebook_weights(seed: int) -> dict:
    """A release-layout codebook state dict: the tensors a VQModel of DD holds, random."""
    gen = torch.Generator().manual_seed(seed)
    names = SpecVQGANCodebook(ch=DD["ch"], ch_mult=tuple(DD["ch_mult"]), num_res_blocks=DD["num_res_blocks"],
                              attn_resolutions=tuple(DD["attn_resolutions"]), resolution=DD["resolution"],
                              z_channels=DD["z_channels"], n_embed=N_EMBED, embed_dim=EMBED_DIM).state_dict()
    sd = _randomize(names, gen)
    sd["quantize.embedding.weight"] = torch.randn(N_EMBED, EMBED_DIM, generator=gen)
    return sd


def _release_column_major(h: int, w: int) -> np.ndarray:
    return np.arange(h * w).reshape(h, w).T.ravel()  # the release's ColumnMajor.make_idx


def _gpt_weights(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    names = SpecVQGANTransformer(**GPT, feat_dim=FEAT_DEPTH, feat_sample_size=FEAT_SAMPLE,
                                 code_shape=(H, W)).state_dict()
    sd = _randomize(names, gen)
    sd["pos_emb"] = 0.3 * torch.randn(1, GPT["block_size"], GPT["n_embd"], generator=gen)
    sd["tok_emb.weight"] = torch.randn(GPT["vocab_size"], GPT["n_embd"], generator=gen)
    return sd


@pytest.fixture(scope="module")
def codebook_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("rel") / "2021-06-06T19-42-53_vas_codebook"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "2021-06-06T19-42-53-project.yaml").write_text(CODEBOOK_YAML)
    (run / "configs" / "2021-06-06T19-42-53-lightning.yaml").write_text("lightning: {}\n")
    sd = _codebook_weights(1)
    gen = torch.Generator().manual_seed(2)
    train_only = {"loss.discriminator.main.0.weight": torch.randn(8, 1, 4, 4, generator=gen),
                  "loss.perceptual_loss.net.slice1.0.weight": torch.randn(4, 1, 3, 3, generator=gen)}
    _save_lightning(str(run / "checkpoints" / "epoch_259.ckpt"), {**sd, **train_only})
    return run, sd


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("rel") / "2021-07-30T21-34-25_vas_transformer"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "2021-07-30T21-34-25-project.yaml").write_text(TRANSFORMER_YAML)
    cb, gpt = _codebook_weights(3), _gpt_weights(4)
    sd = {f"first_stage_model.{k}": v for k, v in cb.items()}
    sd.update({f"transformer.{k}": v for k, v in gpt.items()})
    bs = GPT["block_size"]
    for i in range(GPT["n_layer"]):  # minGPT's registered causal mask
        sd[f"transformer.blocks.{i}.attn.mask"] = torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs)
    idx = torch.tensor(_release_column_major(H, W))
    sd["first_stage_permuter.forward_shuffle_idx"] = idx
    sd["first_stage_permuter.backward_shuffle_idx"] = torch.argsort(idx)
    _save_lightning(str(run / "checkpoints" / "last.ckpt"), sd)
    return run, cb, gpt


# -- the references ------------------------------------------------------------------------------------------

class Weights(dict):
    """A state dict that records which names were read."""

    def __init__(self, sd):
        super().__init__(sd)
        self.read = set()

    def __getitem__(self, k):
        self.read.add(k)
        return super().__getitem__(k)

    def check_all_read(self):
        assert set(self) == self.read, sorted(set(self) - self.read)


def _ref_norm(x, sd, p):
    return F.group_norm(x, 32, sd[f"{p}.weight"], sd[f"{p}.bias"], eps=1e-6)


def _ref_conv(x, sd, p, **kw):
    return F.conv2d(x, sd[f"{p}.weight"], sd[f"{p}.bias"], **kw)


def _ref_resnet(x, sd, p):
    h = _ref_conv(F.silu(_ref_norm(x, sd, f"{p}.norm1")), sd, f"{p}.conv1", padding=1)
    h = _ref_conv(F.silu(_ref_norm(h, sd, f"{p}.norm2")), sd, f"{p}.conv2", padding=1)
    if f"{p}.nin_shortcut.weight" in sd:
        x = _ref_conv(x, sd, f"{p}.nin_shortcut")
    return x + h


def _ref_attn(x, sd, p):
    b, c, hh, ww = x.shape
    n = _ref_norm(x, sd, f"{p}.norm")
    q, k, v = (_ref_conv(n, sd, f"{p}.{m}").reshape(b, c, hh * ww) for m in "qkv")
    w = torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c)
    out = torch.einsum("bcj,bij->bci", v, w.softmax(-1)).reshape(b, c, hh, ww)
    return x + _ref_conv(out, sd, f"{p}.proj_out")


def _ref_mid(h, sd, p):
    return _ref_resnet(_ref_attn(_ref_resnet(h, sd, f"{p}.block_1"), sd, f"{p}.attn_1"), sd, f"{p}.block_2")


def _ref_encode(mel, sd):
    """The release's Encoder -> quant_conv -> argmin of the distance formula; mel [B, M, T] -> codes [B, H, W]."""
    h = _ref_conv(mel[:, None], sd, "encoder.conv_in", padding=1)
    res, levels = DD["resolution"], len(DD["ch_mult"])
    for i in range(levels):
        for j in range(DD["num_res_blocks"]):
            h = _ref_resnet(h, sd, f"encoder.down.{i}.block.{j}")
            if res in DD["attn_resolutions"]:
                h = _ref_attn(h, sd, f"encoder.down.{i}.attn.{j}")
        if i != levels - 1:
            h = _ref_conv(F.pad(h, (0, 1, 0, 1)), sd, f"encoder.down.{i}.downsample.conv", stride=2)
            res //= 2
    h = _ref_mid(h, sd, "encoder.mid")
    h = _ref_conv(F.silu(_ref_norm(h, sd, "encoder.norm_out")), sd, "encoder.conv_out", padding=1)
    z = _ref_conv(h, sd, "quant_conv")
    b, c, hh, ww = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, c)
    e = sd["quantize.embedding.weight"]
    d = (flat ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * flat @ e.t()
    return d.argmin(1).reshape(b, hh, ww)


def _ref_decode(codes, sd):
    """One-hot @ codebook -> post_quant_conv -> the release's Decoder; codes [B, H, W] -> mel [B, M, T]."""
    onehot = F.one_hot(codes.reshape(-1), N_EMBED).float()
    z = (onehot @ sd["quantize.embedding.weight"]).reshape(*codes.shape, -1).permute(0, 3, 1, 2)
    h = _ref_conv(_ref_conv(z, sd, "post_quant_conv"), sd, "decoder.conv_in", padding=1)
    h = _ref_mid(h, sd, "decoder.mid")
    levels = len(DD["ch_mult"])
    res = DD["resolution"] // 2 ** (levels - 1)
    for i in reversed(range(levels)):
        for j in range(DD["num_res_blocks"] + 1):
            h = _ref_resnet(h, sd, f"decoder.up.{i}.block.{j}")
            if res in DD["attn_resolutions"]:
                h = _ref_attn(h, sd, f"decoder.up.{i}.attn.{j}")
        if i != 0:
            h = _ref_conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), sd, f"decoder.up.{i}.upsample.conv",
                          padding=1)
            res *= 2
    h = _ref_conv(F.silu(_ref_norm(h, sd, "decoder.norm_out")), sd, "decoder.conv_out", padding=1)
    return h[:, 0]


def _ref_gpt(idx, feats_bdt, sd, cond=None):
    """minGPT's GPTFeats forward, the whole sequence at once: feats [B, D, T] (the release's layout), idx [B, N];
    ``cond``: the conditioning embeddings [B, P, C] already made (the class-token variants), in place of feats."""
    nh = GPT["n_head"]
    if cond is None:
        cond = F.conv1d(feats_bdt, sd["embedder.weight"], sd["embedder.bias"]).permute(0, 2, 1)
    x = torch.cat([cond, sd["tok_emb.weight"][idx]], dim=1)
    t = x.shape[1]
    x = x + sd["pos_emb"][:, :t]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for i in range(GPT["n_layer"]):
        p = f"blocks.{i}"
        y = F.layer_norm(x, (x.shape[-1],), sd[f"{p}.ln1.weight"], sd[f"{p}.ln1.bias"])
        b, _, c = y.shape
        q, k, v = (F.linear(y, sd[f"{p}.attn.{m}.weight"], sd[f"{p}.attn.{m}.bias"])
                   .view(b, t, nh, c // nh).transpose(1, 2) for m in ("query", "key", "value"))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // nh)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        x = x + F.linear(y, sd[f"{p}.attn.proj.weight"], sd[f"{p}.attn.proj.bias"])
        y = F.layer_norm(x, (c,), sd[f"{p}.ln2.weight"], sd[f"{p}.ln2.bias"])
        y = F.linear(F.gelu(F.linear(y, sd[f"{p}.mlp.0.weight"], sd[f"{p}.mlp.0.bias"])), sd[f"{p}.mlp.2.weight"],
                     sd[f"{p}.mlp.2.bias"])
        x = x + y
    x = F.layer_norm(x, (x.shape[-1],), sd["ln_f.weight"], sd["ln_f.bias"])
    return x @ sd["head.weight"].t()


def _ref_greedy(feats_bdt, sd, steps):
    """The release's Net2NetTransformer.sample(sample=False): recompute everything, take the arg-max each step."""
    x = torch.zeros(feats_bdt.shape[0], 0, dtype=torch.long)
    for _ in range(steps):
        probs = _ref_gpt(x, feats_bdt, sd)[:, -1].softmax(-1)
        x = torch.cat([x, torch.topk(probs, 1, dim=-1).indices], dim=1)
    return x


def _ref_wn(sd, p):
    v, g = sd[f"{p}.weight_v"], sd[f"{p}.weight_g"]
    return g * v / v.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()


def _ref_melgan(mel, sd, ngf, layers, ratios=(8, 8, 2, 2)):
    """descript's MelGAN generator with each conv's weight g v / ||v|| computed from the stored pair."""
    lrelu = lambda x: F.leaky_relu(x, 0.2)  # noqa: E731
    x = F.conv1d(F.pad(mel, (3, 3), mode="reflect"), _ref_wn(sd, "model.1"), sd["model.1.bias"])
    i = 2
    for r in ratios:
        x = F.conv_transpose1d(lrelu(x), _ref_wn(sd, f"model.{i + 1}"), sd[f"model.{i + 1}.bias"], stride=r,
                               padding=r // 2 + r % 2, output_padding=r % 2)
        i += 2
        for j in range(layers):
            p, d = f"model.{i}", 3 ** j
            y = F.conv1d(F.pad(lrelu(x), (d, d), mode="reflect"), _ref_wn(sd, f"{p}.block.2"),
                         sd[f"{p}.block.2.bias"], dilation=d)
            y = F.conv1d(lrelu(y), _ref_wn(sd, f"{p}.block.4"), sd[f"{p}.block.4.bias"])
            x = F.conv1d(x, _ref_wn(sd, f"{p}.shortcut"), sd[f"{p}.shortcut.bias"]) + y
            i += 1
    x = F.conv1d(F.pad(lrelu(x), (3, 3), mode="reflect"), _ref_wn(sd, f"model.{i + 2}"), sd[f"model.{i + 2}.bias"])
    return torch.tanh(x)


# -- tests -----------------------------------------------------------------------------------------------------

def test_codebook_run_loads_and_matches_the_reference(codebook_run):
    run, sd = codebook_run
    rel = load_release(run)
    assert rel.kind == "codebook" and rel.global_step == 1234 and rel.checkpoint.endswith("epoch_259.ckpt")
    cb = rel.codebook
    assert cb.config.n_embed == N_EMBED and cb.config.ch_mult == (1, 1, 2) and cb.downsample_factor == 4
    mel = torch.rand(3, N_MELS, FRAMES, generator=torch.Generator().manual_seed(5)) * 2 - 1
    ref = Weights(sd)
    with torch.no_grad():
        codes = cb.encode(mel)
        want = _ref_encode(mel, ref)
        assert codes.shape == (3, H, W) and codes.dtype == torch.long
        assert torch.equal(codes, want)
        assert len(torch.unique(codes)) > 3  # the random codebook is really used
        out = cb.decode(codes)
        ref_out = _ref_decode(codes, ref)
    ref.check_all_read()  # every release tensor (bar loss.*) is used by the reference, under its release name
    assert out.shape == (3, N_MELS, FRAMES)
    assert (out - ref_out).abs().max() < 1e-4
    # training pass: straight-through gradient reaches the encoder, loss = (1 + beta) ||z_q - z||^2 at the forward
    cb.train().requires_grad_(True)
    rec, qloss, c2 = cb(mel)
    assert torch.equal(c2, codes) and rec.shape == (3, 1, N_MELS, FRAMES) and qloss > 0
    rec.mean().backward()
    assert cb.encoder.conv_in.weight.grad is not None and cb.encoder.conv_in.weight.grad.abs().sum() > 0


def test_transformer_run_logits_and_the_column_major_order(transformer_run):
    run, cb_sd, gpt_sd = transformer_run
    rel = load_transformer_run(run)
    t, cb = rel.transformer, rel.codebook
    c = t.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (2, 2, 32, H * W + 4, N_EMBED)
    assert (c.feat_dim, c.feat_sample_size, c.code_shape, c.embedder) == (FEAT_DEPTH, FEAT_SAMPLE, (H, W), "conv1d")
    assert not any("mask" in k for k in t.state_dict())  # the release's per-layer mask is computed, not stored
    gen = torch.Generator().manual_seed(6)
    mel = torch.rand(2, N_MELS, FRAMES, generator=gen)
    feats = torch.randn(2, FEAT_LEN, FEAT_DEPTH, generator=gen)  # [B, T, D] as the dataset yields them
    with torch.no_grad():
        codes = cb.encode(mel)
        assert torch.equal(codes, _ref_encode(mel, Weights(cb_sd)))
        # the release: indices.view(B, -1) row-major, then x[:, ColumnMajor idx]
        seq = grid_to_sequence(codes)
        assert torch.equal(seq, codes.reshape(2, -1)[:, _release_column_major(H, W)])
        assert torch.equal(sequence_to_grid(seq, H), codes)
        # frame sampler, then the release's forward on z[:, :-1] with features [B, D, T]
        f = resample_frames(feats, FEAT_SAMPLE)
        np_idx = np.linspace(0, FEAT_LEN, FEAT_SAMPLE, dtype=np.int32, endpoint=False) + FEAT_LEN // (FEAT_SAMPLE + 1)
        assert torch.equal(f, feats[:, torch.from_numpy(np_idx).long()])
        # the dataset's whole protocol on a clip one frame short of feat_len: zero-pad, centre crop, resample
        assert (c.feat_len, c.feat_crop_len) == (FEAT_LEN + 2, FEAT_LEN)
        clip = torch.randn(2, FEAT_LEN + 1, FEAT_DEPTH, generator=gen)
        padded = np.zeros((2, FEAT_LEN + 2, FEAT_DEPTH), dtype=np.float32)
        padded[:, :FEAT_LEN + 1] = clip.numpy()
        cropped = padded[:, 1:1 + FEAT_LEN]  # albumentations CenterCrop: (215 - 212) // 2 = 1 in the release
        assert torch.equal(t.condition_frames(clip), torch.from_numpy(cropped[:, np_idx]))
        ref = Weights(gpt_sd)
        logits = t(seq[:, :-1], f)
        want = _ref_gpt(seq[:, :-1], f.transpose(1, 2), ref)
        ref.check_all_read()
        assert logits.shape == (2, FEAT_SAMPLE + H * W - 1, N_EMBED)
        assert (logits - want).abs().max() < 1e-4
        # teacher forcing keeps the rows that predict each code: the release's logits[:, cond_size - 1:]
        assert torch.equal(t.code_logits(seq, f), logits[:, FEAT_SAMPLE - 1:])


def test_greedy_kv_cached_sampling_reproduces_the_full_recompute_reference(transformer_run):
    run, _, gpt_sd = transformer_run
    t = load_transformer_run(run).transformer.double()
    feats = torch.randn(3, FEAT_SAMPLE, FEAT_DEPTH, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    ref_sd = {k: v.double() for k, v in gpt_sd.items()}
    want = _ref_greedy(feats.transpose(1, 2), ref_sd, H * W)
    cached = t.sample(feats, top_k=1, generator=torch.Generator().manual_seed(0))
    full = t.sample(feats, top_k=1, generator=torch.Generator().manual_seed(0), use_cache=False)
    assert cached.shape == (3, H * W) and torch.equal(cached, want) and torch.equal(full, want)
    assert len(torch.unique(want)) > 2  # not a constant sequence
    # continuing a given prefix (the release's "half" samples) gives the same tail
    half = t.sample(feats, prefix=want[:, :11], top_k=1)
    assert torch.equal(half, want)


def test_stochastic_sampling_same_with_and_without_cache_and_seeded(transformer_run):
    t = load_transformer_run(transformer_run[0]).transformer.double()
    feats = torch.randn(2, FEAT_SAMPLE, FEAT_DEPTH, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    runs = [t.sample(feats, top_k=6, temperature=1.3, generator=torch.Generator().manual_seed(s), use_cache=u)
            for s, u in ((1, True), (1, False), (2, True))]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    assert runs[0].min() >= 0 and runs[0].max() < N_EMBED
    # top-k: every drawn token is among the k best under its own prefix
    logits = t(runs[0][:, :-1], feats)[:, FEAT_SAMPLE - 1:]
    kth = torch.topk(logits, 6, dim=-1).values[..., -1]
    assert (logits.gather(-1, runs[0][..., None])[..., 0] >= kth).all()
    with pytest.raises(ValueError, match="temperature"):
        t.sample(feats, temperature=0.0)


def test_frame_sampler_matches_numpy_linspace_everywhere():
    for length in range(1, 260, 7):
        for size in sorted({1, 2, 3, 5, 53, 212, length} & set(range(1, length + 1))):
            np_idx = np.linspace(0, length, size, dtype=np.int32, endpoint=False) + length // (size + 1)
            assert frame_indices(length, size).tolist() == np_idx.tolist(), (length, size)
    assert frame_indices(215, 5).tolist() == [35, 78, 121, 164, 207]
    with pytest.raises(ValueError):
        frame_indices(4, 5)


def test_melgan_vocoder_folder_loads_and_matches_the_reference(tmp_path):
    folder = tmp_path / "vocoder" / "logs" / "vggsound"
    folder.mkdir(parents=True)
    ngf, layers, mels = 4, 3, 80
    (folder / "args.yml").write_text(MELGAN_ARGS.format(mels=mels, layers=layers, ngf=ngf))
    names = MelGANGenerator(n_mel_channels=mels, ngf=ngf, n_residual_layers=layers).state_dict()
    sd = _randomize(names, torch.Generator().manual_seed(9))
    sd = {k: 0.7 * v if k.endswith("weight_g") else v for k, v in sd.items()}  # pre-tanh of order 1, not saturated
    torch.save(OrderedDict(sd), folder / "best_netG.pt")
    args = read_namespace_yaml(folder / "args.yml")
    assert args["ngf"] == ngf and args["data_path"] == "/home/data/melspec_10s_22050hz" and args["splits_path"] == "data"
    g = load_melgan_folder(folder)
    assert g.config.ngf == ngf and g.hop == 256 and not g.training
    mel = torch.rand(2, mels, 9, generator=torch.Generator().manual_seed(10))
    ref = Weights(sd)
    with torch.no_grad():
        wav = g(mel)
        want = _ref_melgan(mel, ref, ngf, layers)
    ref.check_all_read()
    assert wav.shape == (2, 1, 9 * 256) and (wav - want).abs().max() < 1e-4
    assert 0.01 < wav.std() and wav.abs().max() < 0.99
    # the vocoder interface takes the folder as it is published, and avgen's converted folder
    from avgen.vocoders import load

    voc = load(folder, device="cpu")
    assert voc.name == "melgan:vggsound" and voc.mel_preset == "specvqgan"
    out = voc(mel)
    assert out.shape == (2, 9 * 256) and (out - want[:, 0]).abs().max() < 1e-4
    from avgen.checkpoints import save_pretrained

    converted = load(save_pretrained(g, tmp_path / "mg"), device="cpu")
    assert converted.name == "melgan:mg" and torch.equal(converted(mel), out)


def _converter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_specvqgan", os.path.join(REPO, "tools",
                                                                                    "convert_specvqgan.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_converter_writes_a_pipeline_folder_from_a_transformer_run(transformer_run, codebook_run, tmp_path):
    tool = _converter()
    out = tmp_path / "pipe"
    assert tool.main([str(transformer_run[0]), str(out), "--codebook-run", str(codebook_run[0])]) == 0
    from avgen.checkpoints import read_pipeline_config

    cfg = read_pipeline_config(out, "SpecVQGANPipeline")
    assert cfg["components"] == {"codebook": "codebook", "transformer": "transformer"}
    assert cfg["source"]["checkpoint"] == "last.ckpt" and cfg["source"]["global_step"] == 1234
    t = from_pretrained(out / "transformer", expected=SpecVQGANTransformer)
    cb = from_pretrained(out / "codebook", expected=SpecVQGANCodebook)
    gpt_sd = transformer_run[2]
    assert set(t.state_dict()) == set(gpt_sd)
    for k, v in t.state_dict().items():
        assert torch.equal(v, gpt_sd[k]), k
    assert t.config.feat_sample_size == FEAT_SAMPLE and t.config.code_shape == (H, W)
    # --codebook-run took the codebook run's weights, not the transformer checkpoint's copy
    assert torch.equal(cb.quantize.embedding.weight, codebook_run[1]["quantize.embedding.weight"])


def test_converter_writes_one_model_folder_from_a_codebook_run(codebook_run, tmp_path):
    tool = _converter()
    assert tool.main([str(codebook_run[0]), str(tmp_path / "cb"), "--fp16"]) == 0
    cb = from_pretrained(tmp_path / "cb", expected=SpecVQGANCodebook)
    assert cb.config.n_embed == N_EMBED
    w = codebook_run[1]["quantize.embedding.weight"]
    assert torch.equal(cb.quantize.embedding.weight, w.half().float())
    # a bad folder: one line, exit 1
    assert tool.main([str(tmp_path / "nope"), str(tmp_path / "x")]) == 1


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("layout", ["zip", "legacy", "plain-pickle", "callback-instantiated"])
def test_a_hostile_ckpt_is_refused_with_nothing_executed(tmp_path, layout, codebook_run):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "x-project.yaml").write_text(CODEBOOK_YAML)
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    payload = {"state_dict": {"encoder.conv_in.weight": torch.zeros(1)}, "callbacks": {"x": _Evil(marker)}}
    if layout == "zip":
        torch.save(payload, ckpt)
    elif layout == "legacy":
        torch.save(payload, ckpt, _use_new_zipfile_serialization=False)
    elif layout == "plain-pickle":
        ckpt.write_bytes(pickle.dumps(payload, protocol=2))
    else:  # a file that calls the Lightning callback class instead of only naming it
        with _fake_lightning() as cb:
            mc = cb["ModelCheckpoint"]
            mc.__reduce__ = lambda self: (type(self), ())
            torch.save({"state_dict": {}, "callbacks": {"k": mc()}}, ckpt)
    with pytest.raises(CheckpointError) as e:
        load_codebook_run(run)
    msg = str(e.value)
    assert "\n" not in msg and str(ckpt) in msg and "refused" in msg
    assert "references" in msg or "instantiates" in msg  # names what was refused
    assert "weights_only=False" not in msg
    assert not marker.exists() and "pytorch_lightning" not in sys.modules


def test_hostile_yaml_and_mismatched_releases_are_one_line_errors(tmp_path, transformer_run):
    marker = tmp_path / "pwned"
    folder = tmp_path / "voc"
    folder.mkdir()
    (folder / "args.yml").write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    torch.save({}, folder / "best_netG.pt")
    with pytest.raises(CheckpointError, match="not a MelGAN args file"):
        load_melgan_folder(folder)
    assert not marker.exists()
    (folder / "args.yml").write_text(MELGAN_ARGS.format(mels=80, layers=1, ngf=2))
    for legacy in (False, True):  # a generator file that would run a command
        torch.save({"model.1.bias": _Evil(marker)}, folder / "best_netG.pt", _use_new_zipfile_serialization=not legacy)
        with pytest.raises(CheckpointError, match=r"best_netG\.pt: refused") as e:
            load_melgan_folder(folder)
        assert "system" in str(e.value) and not marker.exists()
    # a config that does not fit the weights: names the file and the tensor
    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "a-project.yaml").write_text(TRANSFORMER_YAML.replace(f"n_embd: {GPT['n_embd']}",
                                                                             "n_embd: 64")
                                                    .replace(f"out_channels: {GPT['n_embd']}", "out_channels: 64"))
    (run / "checkpoints").mkdir()
    os.link(transformer_run[0] / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    with pytest.raises(CheckpointError, match=r"last\.ckpt: .*shape") as e:
        load_release(run)
    assert "\n" not in str(e.value)
    # an unknown transformer class is refused by name, nothing imported; a class-token one whose conditioning
    # stage does not feed it a class, too
    (run / "configs" / "a-project.yaml").write_text(TRANSFORMER_YAML.replace("mingpt.GPTFeats", "mingpt.CodeGPT"))
    with pytest.raises(CheckpointError, match="one of GPTFeats, GPTClass, GPTFeatsClass"):
        load_release(run)
    (run / "configs" / "a-project.yaml").write_text(_class_yaml("GPTFeatsClass").replace("FeatsClassStage",
                                                                                          "RawFeatsStage"))
    with pytest.raises(CheckpointError, match="GPTFeatsClass takes its conditioning from FeatsClassStage"):
        load_release(run)
    # a stored mask that is not the causal one
    data = read_lightning_checkpoint(run / "checkpoints" / "last.ckpt")
    assert data["callbacks"]["pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"]["monitor"] == "val/loss"
    sd = dict(data["state_dict"])
    sd["transformer.blocks.1.attn.mask"] = torch.ones_like(sd["transformer.blocks.1.attn.mask"])
    os.remove(run / "checkpoints" / "last.ckpt")
    _save_lightning(str(run / "checkpoints" / "last.ckpt"), sd, legacy=True)
    (run / "configs" / "a-project.yaml").write_text(TRANSFORMER_YAML)
    with pytest.raises(CheckpointError, match="blocks.1.attn.mask is not the causal mask"):
        load_release(run)
    assert "pytorch_lightning" not in sys.modules and "omegaconf" not in sys.modules


@pytest.mark.parametrize("kind", ["linear", "lstm", "gru"])
def test_the_releases_other_feature_embedders_load_and_match_torch(tmp_path, kind, transformer_run):
    """feat_embedding_config targets torch.nn.Linear / LSTM / GRU: the release instantiates them from the YAML
    params and runs them on [B, T, D] features; the same params here build the reference module."""
    n = GPT["n_embd"]
    params = {"linear": f"in_features: {FEAT_DEPTH}\n            out_features: {n}",
              "lstm": f"input_size: {FEAT_DEPTH}\n            hidden_size: {n}\n            batch_first: true\n"
                      "            num_layers: 2",
              "gru": f"input_size: {FEAT_DEPTH}\n            hidden_size: {n}\n            batch_first: true"}[kind]
    target = {"linear": "torch.nn.Linear", "lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}[kind]
    old = (f"target: torch.nn.Conv1d\n          params:\n            in_channels: {FEAT_DEPTH}\n"
           f"            out_channels: {n}\n            kernel_size: 1\n            padding: 0")
    assert old in TRANSFORMER_YAML
    text = TRANSFORMER_YAML.replace(old, f"target: {target}\n          params:\n            {params}")
    torch.manual_seed(11)
    ref = {"linear": lambda: torch.nn.Linear(FEAT_DEPTH, n),
           "lstm": lambda: torch.nn.LSTM(input_size=FEAT_DEPTH, hidden_size=n, batch_first=True, num_layers=2),
           "gru": lambda: torch.nn.GRU(input_size=FEAT_DEPTH, hidden_size=n, batch_first=True)}[kind]().eval()
    data = read_lightning_checkpoint(transformer_run[0] / "checkpoints" / "last.ckpt")
    sd = {k: v for k, v in data["state_dict"].items() if not k.startswith("transformer.embedder.")}
    sd.update({f"transformer.embedder.{k}": v for k, v in ref.state_dict().items()})
    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "r-project.yaml").write_text(text)
    _save_lightning(str(run / "checkpoints" / "last.ckpt"), sd)
    t = load_transformer_run(run).transformer
    assert t.config.embedder == kind and t.config.embedder_layers == (2 if kind == "lstm" else 1)
    feats = torch.randn(2, FEAT_SAMPLE, FEAT_DEPTH, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        want = ref(feats) if kind == "linear" else ref(feats)[0]
        assert (t.embed_features(feats) - want).abs().max() < 1e-5
        assert t(torch.zeros(2, 3, dtype=torch.long), feats).shape == (2, FEAT_SAMPLE + 3, N_EMBED)
    # a time-major (batch_first false) recurrent embedder would be read differently by the release: refused
    if kind != "linear":
        (run / "configs" / "r-project.yaml").write_text(text.replace("batch_first: true", "batch_first: false"))
        with pytest.raises(CheckpointError, match="batch_first"):
            load_transformer_run(run)


def test_transformer_configs_of_the_published_variants():
    """The '1 Feat' / '212 Feats' variants differ in feat_sample_size and block_size; without a frame sampler the
    release feeds all feat_crop_len frames; a block too short for frames + codes is refused."""
    import yaml

    from avgen.specvqgan_release import transformer_config_from_release

    one = yaml.safe_load(TRANSFORMER_YAML.replace(f"feat_sample_size: {FEAT_SAMPLE}", "feat_sample_size: 1")
                         .replace(f"block_size: {GPT['block_size']}", f"block_size: {H * W + 1}"))
    c = transformer_config_from_release(one, "one.yaml")
    assert (c.feat_sample_size, c.block_size, c.feat_crop_len, c.feat_len) == (1, H * W + 1, FEAT_LEN, FEAT_LEN + 2)
    assert SpecVQGANTransformer(c).condition_frames(torch.randn(1, 40, FEAT_DEPTH)).shape == (1, 1, FEAT_DEPTH)
    raw = yaml.safe_load(TRANSFORMER_YAML)
    del raw["data"]["params"]["feat_sampler_cfg"]
    raw["model"]["params"]["transformer_config"]["params"]["GPT_config"]["block_size"] = H * W + FEAT_LEN
    assert transformer_config_from_release(raw, "raw.yaml").feat_sample_size == FEAT_LEN
    raw["model"]["params"]["transformer_config"]["params"]["GPT_config"]["block_size"] = H * W + FEAT_LEN - 2
    with pytest.raises(CheckpointError, match=r"raw\.yaml: block_size .* cannot hold"):
        transformer_config_from_release(raw, "raw.yaml")
    raw["model"]["params"]["transformer_config"]["params"]["GPT_config"].update(block_size=H * W + FEAT_LEN,
                                                                                 n_unmasked=FEAT_LEN)
    c = transformer_config_from_release(raw, "raw.yaml")
    m = SpecVQGANTransformer(c).blocks[0].attn.mask(0, 20, 20, "cpu")
    assert m[:FEAT_LEN, :FEAT_LEN].all() and not m[FEAT_LEN, FEAT_LEN + 1] and m[FEAT_LEN + 1, FEAT_LEN]
    # the cache is exact only when the bidirectional block lies inside what is given up front
    c.n_layer, c.n_embd, c.n_head, c.feat_dim, c.n_unmasked = 1, 8, 2, 4, FEAT_LEN + 3
    with pytest.raises(ValueError, match="use_cache=False"):
        SpecVQGANTransformer(c).sample(torch.randn(1, FEAT_LEN, 4), steps=4)


NUM_CLASSES = 7


def _class_yaml(kind: str) -> str:
    """TRANSFORMER_YAML as a GPTClass / GPTFeatsClass run: the class token's Embedding config and the matching
    conditioning stage (GPTClass has no feature embedder)."""
    n = GPT["n_embd"]
    text = TRANSFORMER_YAML.replace("mingpt.GPTFeats", f"mingpt.{kind}")
    token = (f"        token_embedding_config:\n          target: torch.nn.Embedding\n          params:\n"
             f"            num_embeddings: {NUM_CLASSES}\n            embedding_dim: {n}\n")
    feat = (f"        feat_embedding_config:\n          target: torch.nn.Conv1d\n          params:\n"
            f"            in_channels: {FEAT_DEPTH}\n            out_channels: {n}\n            kernel_size: 1\n"
            f"            padding: 0\n")
    assert feat in text
    text = text.replace(feat, token if kind == "GPTClass" else feat + token)
    stage = {"GPTClass": "class_cond.ClassOnlyStage", "GPTFeatsClass": "feats_class.FeatsClassStage"}[kind]
    return text.replace("raw_feats.RawFeatsStage", stage)


@pytest.mark.parametrize("kind", ["GPTClass", "GPTFeatsClass"])
def test_the_class_token_variants_load_and_match_the_reference(tmp_path, kind, transformer_run):
    """GPTClass primes the codes with the embedded class (``embedder``, an Embedding); GPTFeatsClass with the
    features (``feat_embedder``) and then the class (``cls_embedder``). Logits equal the release's forward within
    1e-4 and greedy float64 sampling its token sequence."""
    data = read_lightning_checkpoint(transformer_run[0] / "checkpoints" / "last.ckpt")
    sd = dict(data["state_dict"])
    gen = torch.Generator().manual_seed(21)
    table = torch.randn(NUM_CLASSES, GPT["n_embd"], generator=gen)
    if kind == "GPTClass":
        for k in [k for k in sd if k.startswith("transformer.embedder.")]:
            del sd[k]
        sd["transformer.embedder.weight"] = table
    else:
        for k in [k for k in sd if k.startswith("transformer.embedder.")]:
            sd["transformer.feat_embedder." + k[len("transformer.embedder."):]] = sd.pop(k)
        sd["transformer.cls_embedder.weight"] = table
    run = tmp_path / "run"
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "c-project.yaml").write_text(_class_yaml(kind))
    _save_lightning(str(run / "checkpoints" / "last.ckpt"), sd)
    t = load_transformer_run(run).transformer
    c = t.config
    assert (c.condition, c.num_classes) == ({"GPTClass": "class", "GPTFeatsClass": "features_class"}[kind],
                                            NUM_CLASSES)
    gpt_sd = {k[len("transformer."):]: v for k, v in sd.items()
              if k.startswith("transformer.") and "attn.mask" not in k}
    feats = torch.randn(2, FEAT_SAMPLE, FEAT_DEPTH, generator=gen)  # [B, T, D]
    classes = torch.tensor([3, 6])
    seq = torch.randint(0, N_EMBED, (2, H * W), generator=gen)

    def cond(sd_, f, cls):  # the release: [e(features), e(class)] for GPTFeatsClass, [e(class)] for GPTClass
        if kind == "GPTClass":
            return sd_["embedder.weight"][cls][:, None]
        e = F.conv1d(f.transpose(1, 2), sd_["feat_embedder.weight"], sd_["feat_embedder.bias"]).permute(0, 2, 1)
        return torch.cat([e, sd_["cls_embedder.weight"][cls][:, None]], dim=1)

    f = None if kind == "GPTClass" else feats
    with torch.no_grad():
        ref = Weights(gpt_sd)
        want = _ref_gpt(seq[:, :-1], None, ref, cond=cond(ref, feats, classes))
        ref.check_all_read()
        logits = t(seq[:, :-1], f, classes=classes)
        p = 1 if kind == "GPTClass" else FEAT_SAMPLE + 1
        assert logits.shape == (2, p + H * W - 1, N_EMBED) and (logits - want).abs().max() < 1e-4
        assert torch.equal(t.code_logits(seq, f, classes=classes), logits[:, p - 1:])
    # greedy sampling in float64 reproduces the release's full-recompute arg-max sequence, cached or not
    t64, sd64 = t.double(), {k: v.double() for k, v in gpt_sd.items()}
    f64 = None if f is None else f.double()
    x = torch.zeros(2, 0, dtype=torch.long)
    for _ in range(H * W):
        probs = _ref_gpt(x, None, sd64, cond=cond(sd64, feats.double(), classes))[:, -1].softmax(-1)
        x = torch.cat([x, torch.topk(probs, 1, dim=-1).indices], dim=1)
    for use_cache in (True, False):
        got = t64.sample(f64, top_k=1, classes=classes, generator=torch.Generator().manual_seed(0),
                         use_cache=use_cache)
        assert torch.equal(got, x)
    assert len(torch.unique(x)) > 2
    # a class out of range, or a missing or unexpected input, is refused
    with pytest.raises(ValueError, match="classes: indices must lie in"):
        t64(seq[:, :-1], f64, classes=torch.tensor([0, NUM_CLASSES]))
    with pytest.raises(ValueError, match="needs classes"):
        t64(seq[:, :-1], f64)
    if kind == "GPTClass":
        with pytest.raises(ValueError, match="takes no features"):
            t64(seq[:, :-1], feats.double(), classes=classes)
