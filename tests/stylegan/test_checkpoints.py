"""Loading public checkpoint layouts: NVIDIA pickles (as data only), rosinality .pt, avgen's own folder format."""

import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stylegan
from stylegan import networks_stylegan2 as sg2
from stylegan import networks_stylegan3 as sg3
from stylegan.checkpoints import CheckpointError
from stylegan.safe_pickle import UnsafePickleError

from . import reference as R
from .nvidia_layout import EasyDict, Persistent, dump_nvidia_pickle, module_record, randomize_

SG2_KW = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
              mapping_kwargs=dict(num_layers=2), channel_base=256, channel_max=32)
SG3_KW = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=32,
              num_layers=4, num_critical=2, margin_size=4)


def _pickle_with(tmp_path, G, kw, *, marker, D=None, d_kw=None, name="net.pkl"):
    src = f"# module source as the original stores it; the original loader exec()s this\nopen({str(marker)!r}, 'w').write('executed')\n"
    data = {"G": module_record(G, module_src=src, init_kwargs=kw), "G_ema": module_record(G, module_src=src, init_kwargs=kw),
            "augment_pipe": None, "training_set_kwargs": EasyDict(path="ffhq.zip", resolution=kw["img_resolution"])}
    if D is not None:
        data["D"] = module_record(D, module_src=src, init_kwargs=d_kw)
    path = tmp_path / name
    dump_nvidia_pickle(path, data)
    return path


def test_stylegan2_pickle_matches_reference(tmp_path):
    g = torch.Generator().manual_seed(0)
    G = sg2.Generator(**SG2_KW).eval()
    randomize_(G, g)
    d_kw = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=32)
    D = sg2.Discriminator(**d_kw).eval()
    randomize_(D, g)
    marker = tmp_path / "executed.txt"
    nets = stylegan.load_nvidia_pickle(_pickle_with(tmp_path, G, SG2_KW, marker=marker, D=D, d_kw=d_kw))
    assert not marker.exists(), "module source from the pickle was executed"
    assert isinstance(nets["G_ema"], sg2.Generator) and isinstance(nets["D"], sg2.Discriminator)
    assert nets["training_set_kwargs"]["path"] == "ffhq.zip"

    T = {k: v.double() for k, v in G.state_dict().items()}  # the tensors as written into the pickle
    z = R.numpy_seed_z(0, 32).repeat(1, 1)
    z = torch.cat([z, R.numpy_seed_z(1, 32)])
    with torch.no_grad():
        expected = R.sg2_synthesis(T, R.mapping(T, z.double(), 2, nets["G_ema"].num_ws, psi=0.7), 16).float()
        got = nets["G_ema"](z, None, truncation_psi=0.7, noise_mode="const")
    assert got.shape == (2, 3, 16, 16)
    assert (got - expected).abs().max() <= 1e-3, float((got - expected).abs().max())
    # The discriminator comes back with identical tensors and computes the same logits as the source module.
    x = torch.randn(4, 3, 16, 16, generator=g)
    torch.testing.assert_close(nets["D"](x, None), D(x, None))


@pytest.mark.parametrize("config", ["T", "R"])
def test_stylegan3_pickle_matches_reference(tmp_path, config):
    kw = dict(SG3_KW, **({} if config == "T" else dict(conv_kernel=1, use_radial_filters=True)))
    G = sg3.Generator(**kw).eval()
    randomize_(G, torch.Generator().manual_seed(1))
    marker = tmp_path / "executed.txt"
    G_loaded = stylegan.load(_pickle_with(tmp_path, G, kw, marker=marker))
    assert not marker.exists()
    assert isinstance(G_loaded, sg3.Generator) and G_loaded.num_ws == 6
    T = {k: v.double() for k, v in G.state_dict().items()}
    z = torch.cat([R.numpy_seed_z(s, 16) for s in (0, 1, 2)])
    with torch.no_grad():
        ws = R.mapping(T, z.double(), 2, 6, psi=0.5)
        expected = R.sg3_synthesis(T, ws, img_resolution=16, num_layers=4, num_critical=2, margin_size=4,
                                   channel_base=512, channel_max=32, img_channels=3).float()
        got = G_loaded.synthesis(G_loaded.mapping(z, None, truncation_psi=0.5), noise_mode="const")
    assert (got - expected).abs().max() <= 1e-3, float((got - expected).abs().max())
    if config == "R":  # radial (2-D) down filters on the non-critical layers
        assert G_loaded.synthesis.L0_24_32.down_filter.ndim == 2


def test_stylegan3_filters_equal_scipy_firwin():
    scipy_signal = pytest.importorskip("scipy.signal")
    G = sg3.Generator(**SG3_KW)
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        if layer.up_filter is not None:
            ref = scipy_signal.firwin(numtaps=layer.up_taps, cutoff=layer.in_cutoff, width=layer.in_half_width * 2,
                                      fs=layer.tmp_sampling_rate)
            torch.testing.assert_close(layer.up_filter, torch.as_tensor(ref, dtype=torch.float32))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned.txt"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Exploit()}))
    with pytest.raises(UnsafePickleError, match="system"):
        stylegan.load(path)
    assert not marker.exists()

    # The same attack hidden inside a tensor-looking reducer path, and builtins.exec.
    class ExecExploit:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    path.write_bytes(pickle.dumps({"G_ema": ExecExploit()}))
    with pytest.raises(UnsafePickleError, match="exec"):
        stylegan.load_nvidia_pickle(path)
    assert not marker.exists()

    # A persistent record naming an unknown class is refused after reading, without running its source.
    fake = Persistent("Trojan", {"_init_kwargs": {}}, module_src=f"open({str(marker)!r}, 'w').write('x')")
    dump_nvidia_pickle(path, {"G_ema": fake})
    with pytest.raises(CheckpointError, match="Trojan"):
        stylegan.load(path)
    assert not marker.exists()


def test_pickle_with_wrong_tensors_is_refused(tmp_path):
    G = sg2.Generator(**SG2_KW)
    rec = module_record(G, module_src="", init_kwargs=dict(SG2_KW, channel_max=64))  # kwargs disagree with tensors
    dump_nvidia_pickle(tmp_path / "bad.pkl", {"G_ema": rec})
    with pytest.raises(CheckpointError, match="shape"):
        stylegan.load(tmp_path / "bad.pkl")


# rosinality/stylegan2-pytorch ----------------------------------------------------------------------------------------

def _rosinality_state(size, style_dim, n_mlp, channels, g):
    """A random ``g_ema`` state dict in rosinality's names and shapes (channels: {res: C})."""
    sd = {}
    for i in range(n_mlp):
        sd[f"style.{i + 1}.weight"] = torch.randn(style_dim, style_dim, generator=g) * 100  # stored / lr_mul
        sd[f"style.{i + 1}.bias"] = torch.randn(style_dim, generator=g) * 0.1
    sd["input.input"] = torch.randn(1, channels[4], 4, 4, generator=g)

    def styled(p, cin, cout, up):
        sd[f"{p}.conv.weight"] = torch.randn(1, cout, cin, 3, 3, generator=g)
        sd[f"{p}.conv.modulation.weight"] = torch.randn(cin, style_dim, generator=g)
        sd[f"{p}.conv.modulation.bias"] = 1 + 0.1 * torch.randn(cin, generator=g)
        sd[f"{p}.noise.weight"] = 0.3 * torch.randn(1, generator=g)
        sd[f"{p}.activate.bias"] = 0.1 * torch.randn(cout, generator=g)
        if up:
            sd[f"{p}.conv.blur.kernel"] = R._taps_2d([1, 3, 3, 1]).float() * 4

    def torgb(p, cin, up):
        sd[f"{p}.conv.weight"] = torch.randn(1, 3, cin, 1, 1, generator=g)
        sd[f"{p}.conv.modulation.weight"] = torch.randn(cin, style_dim, generator=g)
        sd[f"{p}.conv.modulation.bias"] = 1 + 0.1 * torch.randn(cin, generator=g)
        sd[f"{p}.bias"] = 0.1 * torch.randn(1, 3, 1, 1, generator=g)
        if up:
            sd[f"{p}.upsample.kernel"] = R._taps_2d([1, 3, 3, 1]).float() * 4

    styled("conv1", channels[4], channels[4], False)
    torgb("to_rgb1", channels[4], False)
    n_up = int(math.log2(size)) - 2
    cin = channels[4]
    for i in range(n_up):
        res = 8 * 2 ** i
        styled(f"convs.{2 * i}", cin, channels[res], True)
        styled(f"convs.{2 * i + 1}", channels[res], channels[res], False)
        torgb(f"to_rgbs.{i}", channels[res], True)
        cin = channels[res]
    for j in range(2 * n_up + 1):
        res = 4 * 2 ** ((j + 1) // 2)
        sd[f"noises.noise_{j}"] = torch.randn(1, 1, res, res, generator=g)
    return sd


def _rosinality_forward(sd, z, n_mlp, psi, latent_avg):
    """rosinality's Generator.forward restated: modulated conv via conv_transpose2d (kernel as stored) + blur with
    pad (1, 1), ToRGB skip upsampled with pad (2, 1), FusedLeakyReLU, no clamping."""
    def linear(x, w, b, lr=1.0, act=False):
        y = F.linear(x, w * (lr / math.sqrt(w.shape[1]))) + b * lr
        return F.leaky_relu(y, 0.2) * math.sqrt(2) if act else y

    def blur(x, k, p0, p1):
        c = x.shape[1]
        x = F.pad(x, [p0, p1, p0, p1])
        return F.conv2d(x, k.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)

    def modconv(p, x, s, demod=True, up=False):
        w = sd[f"{p}.conv.weight"][0]
        style = linear(s, sd[f"{p}.conv.modulation.weight"], sd[f"{p}.conv.modulation.bias"])
        outs = []
        for i in range(x.shape[0]):
            wi = w / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3]) * style[i][None, :, None, None]
            if demod:
                wi = wi * torch.rsqrt(wi.square().sum([1, 2, 3], keepdim=True) + 1e-8)
            if up:
                o = F.conv_transpose2d(x[i: i + 1], wi.transpose(0, 1), stride=2)
                outs.append(blur(o, sd[f"{p}.conv.blur.kernel"], 1, 1))
            else:
                outs.append(F.conv2d(x[i: i + 1], wi, padding=w.shape[-1] // 2))
        return torch.cat(outs)

    def styled(p, x, s, noise, up=False):
        out = modconv(p, x, s, up=up) + sd[f"{p}.noise.weight"] * noise
        return F.leaky_relu(out + sd[f"{p}.activate.bias"][None, :, None, None], 0.2) * math.sqrt(2)

    def to_rgb(p, x, s, skip=None):
        out = modconv(p, x, s, demod=False) + sd[f"{p}.bias"]
        if skip is not None:
            u = torch.zeros(skip.shape[0], 3, skip.shape[2] * 2, skip.shape[3] * 2, dtype=skip.dtype)
            u[:, :, ::2, ::2] = skip
            out = out + blur(u, sd[f"{p}.upsample.kernel"], 2, 1)
        return out

    w = z / torch.sqrt(z.square().mean(1, keepdim=True) + 1e-8)
    for i in range(n_mlp):
        w = linear(w, sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"], lr=0.01, act=True)
    w = latent_avg + psi * (w - latent_avg)
    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = styled("conv1", out, w, sd["noises.noise_0"])
    skip = to_rgb("to_rgb1", out, w)
    i = 0
    while f"to_rgbs.{i}.bias" in sd:
        out = styled(f"convs.{2 * i}", out, w, sd[f"noises.noise_{2 * i + 1}"], up=True)
        out = styled(f"convs.{2 * i + 1}", out, w, sd[f"noises.noise_{2 * i + 2}"])
        skip = to_rgb(f"to_rgbs.{i}", out, w, skip)
        i += 1
    return skip


def test_rosinality_checkpoint_matches_its_forward(tmp_path):
    import argparse

    g = torch.Generator().manual_seed(3)
    sd = _rosinality_state(16, 32, 3, {4: 32, 8: 32, 16: 16}, g)
    latent_avg = 0.1 * torch.randn(32, generator=g)
    path = tmp_path / "sgim.pt"
    torch.save({"g_ema": sd, "latent_avg": latent_avg,
                "args": argparse.Namespace(size=16, latent=32, n_mlp=3, channel_multiplier=2)}, path)
    G = stylegan.load(path)
    assert isinstance(G, sg2.Generator) and G.num_ws == 6 and G.img_resolution == 16
    z = torch.randn(2, 32, generator=g)
    with torch.no_grad():
        expected = _rosinality_forward({k: v.double() for k, v in sd.items()}, z.double(), 3, 0.8, latent_avg.double())
        got = G(z, None, truncation_psi=0.8, noise_mode="const")
    assert (got - expected.float()).abs().max() <= 1e-3, float((got - expected.float()).abs().max())


def test_save_pretrained_round_trip_and_convert_tool(tmp_path):
    G = sg3.Generator(**SG3_KW).eval()
    randomize_(G, torch.Generator().manual_seed(4))
    pkl = _pickle_with(tmp_path, G, SG3_KW, marker=tmp_path / "m.txt")
    out = tmp_path / "converted"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, os.path.join(repo, "tools", "convert_stylegan.py"), str(pkl), str(out)],
                       capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr
    assert (out / "config.json").is_file() and (out / "generator.safetensors").is_file()
    G2 = stylegan.load(out)
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(G2(z), G(z))
    with pytest.raises(FileNotFoundError):
        stylegan.load(tmp_path / "missing.pkl")


def test_generate_cli_sample_and_style_mixing_grids(tmp_path):
    from PIL import Image

    G = sg2.Generator(**SG2_KW).eval()
    randomize_(G, torch.Generator().manual_seed(5))
    stylegan.save_pretrained(G, tmp_path / "g")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "stylegan.generate", "--checkpoint", str(tmp_path / "g"), "--seeds", "0-7",
                        "--out", str(tmp_path / "grid.png"), "--device", "cpu"], capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (3 * 16, 3 * 16, 3)
    # Cell 0 is seed 0 as NVIDIA's scripts draw it.
    from stylegan.generate import to_uint8

    with torch.no_grad():
        seed0 = to_uint8(G(R.numpy_seed_z(0, 32), None, noise_mode="const"))[0]
    assert np.abs(grid[:16, :16].astype(int) - seed0.astype(int)).max() <= 1
    r = subprocess.run([sys.executable, "-m", "stylegan.generate", "--checkpoint", str(tmp_path / "g"), "--seeds", "0-2",
                        "--mix-seeds", "5,6", "--mix-layers", "coarse", "--out", str(tmp_path / "mix.png"),
                        "--device", "cpu"], capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr
    mix = np.asarray(Image.open(tmp_path / "mix.png"))
    assert mix.shape == (4 * 16, 3 * 16, 3)
    assert (mix[:16, :16] == 255).all()  # blank corner
    # Mixed cells differ from both parents.
    assert not np.array_equal(mix[16:32, 16:32], mix[16:32, :16]) and not np.array_equal(mix[16:32, 16:32], mix[:16, 16:32])


def test_layer_groups_follow_the_paper_split():
    g = stylegan.layer_groups(16)
    assert g == {"coarse": [0, 1, 2], "mid": [3, 4, 5], "fine": list(range(6, 16))}
    assert stylegan.layer_groups(18, (4, 8))["mid"] == [4, 5, 6, 7]
    with pytest.raises(ValueError):
        stylegan.layer_groups(6, (3, 6))
