"""Load and save StyleGAN networks: NVIDIA ``.pkl`` (read as data), rosinality ``.pt`` and avgen's own folder format
(``config.json`` + ``*.safetensors``). :func:`load` picks the reader from the path."""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from . import networks_stylegan2 as sg2
from . import networks_stylegan3 as sg3
from .safe_pickle import PersistentRecord, safe_load_pickle

__all__ = ["load", "load_nvidia_pickle", "load_rosinality", "save_pretrained", "from_pretrained",
           "build_network", "CheckpointError", "FORMAT_NAME"]

FORMAT_NAME = "avgen-stylegan"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The file is readable but does not hold a StyleGAN network this package can rebuild."""


def _plain(v: Any) -> Any:
    """NumPy scalars/arrays and EasyDicts from a pickle -> plain Python values (for constructors and JSON)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    return v


def _architecture_of(record: PersistentRecord) -> str:
    """'stylegan3' when the synthesis network has a Fourier-feature ``input`` module, else 'stylegan2'."""
    synthesis = record.submodules().get("synthesis")
    if isinstance(synthesis, PersistentRecord):
        if synthesis.class_name != "SynthesisNetwork":
            raise CheckpointError(f"Generator.synthesis is a '{synthesis.class_name}', expected 'SynthesisNetwork'")
        return "stylegan3" if "input" in synthesis.submodules() else "stylegan2"
    raise CheckpointError("Generator record has no 'synthesis' submodule")


def _construct(cls: type, args: tuple, kwargs: dict, what: str) -> nn.Module:
    try:
        return cls(*args, **kwargs)
    except TypeError as e:
        raise CheckpointError(f"{what}: the stored constructor arguments do not fit {cls.__module__}.{cls.__name__} "
                              f"({e}); arguments were {sorted(kwargs)}") from e


def _load_tensors(module: nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{what}: tensor names differ from the rebuilt network; missing {missing[:8]}"
                              f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                              f"{'...' if len(unexpected) > 8 else ''}")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(f"{what}: '{k}' has shape {tuple(v.shape)}, the network expects "
                                  f"{tuple(expected[k].shape)}")
    module.load_state_dict({k: v.detach().to(torch.float32) if v.is_floating_point() else v
                            for k, v in tensors.items()})


def build_network(record: PersistentRecord, what: str = "network") -> nn.Module:
    """Rebuild a Generator/Discriminator record as this package's class and load its tensors."""
    if not isinstance(record, PersistentRecord):
        raise CheckpointError(f"{what}: expected a stored network, found {type(record).__name__}")
    args, kwargs = tuple(_plain(list(record.init_args))), _plain(record.init_kwargs)
    if record.class_name == "Generator":
        cls = sg3.Generator if _architecture_of(record) == "stylegan3" else sg2.Generator
    elif record.class_name == "Discriminator":
        cls = sg2.Discriminator
    else:
        raise CheckpointError(f"{what}: class '{record.class_name}' is not a StyleGAN Generator or Discriminator")
    net = _construct(cls, args, kwargs, what)
    _load_tensors(net, record.tensors(), what)
    return net.eval().requires_grad_(False)


def load_nvidia_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """Read a stylegan2-ada-pytorch / stylegan3 ``.pkl``: ``{'G', 'D', 'G_ema', ...}`` with networks rebuilt as this
    package's modules. Other persistent objects (e.g. ``augment_pipe``) stay inert :class:`PersistentRecord` s."""
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks, found {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("G", "D", "G_ema") and value is not None:
            out[key] = build_network(value, f"{path}:{key}")
        else:
            out[key] = value
    if "G_ema" not in out and "G" not in out:
        raise CheckpointError(f"{path}: no 'G_ema' or 'G' network in this pickle (keys: {sorted(data)})")
    return out


# rosinality/stylegan2-pytorch ---------------------------------------------------------------------------------------

def _rosinality_to_nvidia(sd: dict[str, torch.Tensor], latent_avg: torch.Tensor | None) -> tuple[dict, dict]:
    """Rename a rosinality ``g_ema`` state dict into the NVIDIA layout; returns (Generator kwargs, tensors).

    Both implementations compute the same function: equal-LR scales at run time, modulation biases stored with the
    +1 already added, and upsampling convolutions through a transposed convolution with unflipped kernels.
    """
    n_mlp = len({int(m.group(1)) for k in sd if (m := re.match(r"style\.(\d+)\.weight$", k))})
    if n_mlp == 0 or "input.input" not in sd:
        raise CheckpointError("not a rosinality StyleGAN2 generator state dict (no 'style.N.weight' / 'input.input')")
    w_dim = int(sd["style.1.weight"].shape[0])
    n_up = len({int(m.group(1)) for k in sd if (m := re.match(r"to_rgbs\.(\d+)\.", k))})
    resolution = 4 * 2 ** n_up
    channels = {4: int(sd["input.input"].shape[1])}
    for i in range(n_up):
        channels[8 * 2 ** i] = int(sd[f"convs.{2 * i}.conv.weight"].shape[1])
    channel_max = max(channels.values())
    below = [c * r for r, c in channels.items() if c < channel_max]
    channel_base = below[0] if below else channel_max * resolution
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(f"rosinality generator channels {channels} do not follow min(base / res, max)")

    kwargs = dict(z_dim=w_dim, c_dim=0, w_dim=w_dim, img_resolution=resolution, img_channels=3,
                  mapping_kwargs=dict(num_layers=n_mlp), channel_base=channel_base, channel_max=channel_max,
                  num_fp16_res=0, conv_clamp=None)
    out: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"]
    out["mapping.w_avg"] = (latent_avg.reshape(-1) if latent_avg is not None else torch.zeros(w_dim))

    def styled(src: str, dst: str, noise: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]  # [1, O, I, k, k] -> [O, I, k, k]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape([])
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        out[f"{dst}.noise_const"] = sd[f"noises.{noise}"][0, 0]

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)

    out["synthesis.b4.const"] = sd["input.input"][0]
    styled("conv1", "synthesis.b4.conv1", "noise_0")
    torgb("to_rgb1", "synthesis.b4.torgb")
    for i in range(n_up):
        res = 8 * 2 ** i
        styled(f"convs.{2 * i}", f"synthesis.b{res}.conv0", f"noise_{2 * i + 1}")
        styled(f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", f"noise_{2 * i + 2}")
        torgb(f"to_rgbs.{i}", f"synthesis.b{res}.torgb")
    return kwargs, out


def load_rosinality(path: str | os.PathLike, *, which: str = "g_ema", latent_avg_samples: int = 4096) -> sg2.Generator:
    """A rosinality/stylegan2-pytorch checkpoint (``torch.save({'g_ema': state_dict, 'latent_avg'?: ..., 'args'?})``)
    as a :class:`~stylegan.networks_stylegan2.Generator`. Without a stored ``latent_avg`` the truncation centre
    ``w_avg`` is the mean of ``latent_avg_samples`` mapped z (seed 0)."""
    import argparse

    with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about TorchScript archives before refusing them
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch's text advises weights_only=False (running the file's code): not passed on
            raise CheckpointError(f"{path}: cannot read as a weights-only torch checkpoint: {_load_reason(path, e)}") \
                from None
    sd = ckpt.get(which) if isinstance(ckpt, dict) and which in ckpt else ckpt
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: no '{which}' state dict")
    kwargs, tensors = _rosinality_to_nvidia(sd, ckpt.get("latent_avg") if isinstance(ckpt, dict) else None)
    G = sg2.Generator(**kwargs)
    _load_tensors(G, tensors | _fixed_buffers(G), f"{path}:{which}")
    if not (isinstance(ckpt, dict) and ckpt.get("latent_avg") is not None):
        with torch.no_grad():
            z = torch.randn([latent_avg_samples, G.z_dim], generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(0))
    return G.eval().requires_grad_(False)


def _load_reason(path: str, error: BaseException) -> str:
    """One short line for a failed weights load; never torch's advice to retry with ``weights_only=False``."""
    text = str(error)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return "no such file or not readable"
    if not head:
        return "the file is empty"
    if not path.endswith(".safetensors") and head != b"PK" and head[:1] != b"\x80":  # neither zip nor pickle
        return "not a torch checkpoint (.pt/.pth)"
    if "TorchScript" in text:
        return "a TorchScript archive (code and weights), not a state dict; not loaded"
    if "weights_only" in text or "Weights only load failed" in text:
        return "not a weights-only file: it holds objects beyond tensors and plain containers, and is not loaded"
    if isinstance(error, EOFError):
        return "the file is truncated"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:160]


def _fixed_buffers(G: nn.Module) -> dict[str, torch.Tensor]:
    """Buffers that are constants of the architecture (FIR filters), not learned state."""
    return {k: v for k, v in G.state_dict().items() if k.endswith("resample_filter")}


# avgen folder format -------------------------------------------------------------------------------------------------

_CLASSES = {("stylegan2", "Generator"): sg2.Generator, ("stylegan3", "Generator"): sg3.Generator,
            ("stylegan2", "Discriminator"): sg2.Discriminator}


def _describe(net: nn.Module) -> dict:
    if not hasattr(net, "init_kwargs"):
        raise CheckpointError(f"{type(net).__name__} has no init_kwargs; only stylegan networks can be saved")
    arch = getattr(net, "architecture", "stylegan2")
    return {"class": type(net).__name__, "architecture": arch, "init_kwargs": _plain(net.init_kwargs)}


def save_pretrained(G: nn.Module, folder: str | os.PathLike, *, D: nn.Module | None = None,
                    extra: dict | None = None) -> None:
    """Write ``config.json`` and ``generator.safetensors`` (+ ``discriminator.safetensors``), each file atomically."""
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    config = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "generator": _describe(G)}
    nets = {"generator": G}
    if D is not None:
        config["discriminator"] = _describe(D)
        nets["discriminator"] = D
    if extra:
        config["extra"] = _plain(extra)
    for name, net in nets.items():
        _durable(os.path.join(folder, f"{name}.safetensors"),
                 lambda tmp, net=net: save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
                                                tmp))

    def write_config(tmp):
        with open(tmp, "w") as f:
            json.dump(config, f, indent=2)

    _durable(os.path.join(folder, "config.json"), write_config)


def _durable(path: str, write) -> None:
    """``write(tmp)`` beside ``path``, fsync it, rename it over ``path``, fsync the folder: a crash keeps either
    the old file or the new one, whole (this package's own copy of avgen.utils.atomic_output: it imports no avgen)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors writes its files 0600 whatever the umask
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def from_pretrained(folder: str | os.PathLike, *, which: str = "generator") -> nn.Module:
    """Rebuild the network ``which`` ('generator' | 'discriminator') saved by :func:`save_pretrained`."""
    from safetensors.torch import load_file

    cfg_path = os.path.join(folder, "config.json")
    if not os.path.isfile(cfg_path):
        raise FileNotFoundError(f"{folder}: no config.json (not a saved stylegan folder)")
    with open(cfg_path) as f:
        config = json.load(f)
    if config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{cfg_path}: format is {config.get('format')!r}, expected {FORMAT_NAME!r}")
    if which not in config:
        raise CheckpointError(f"{folder}: holds no {which}")
    desc = config[which]
    cls = _CLASSES.get((desc.get("architecture"), desc.get("class")))
    if cls is None:
        raise CheckpointError(f"{cfg_path}: unknown network {desc.get('architecture')}/{desc.get('class')}")
    net = _construct(cls, (), desc["init_kwargs"], f"{folder}:{which}")
    weights = os.path.join(folder, f"{which}.safetensors")
    try:
        tensors = load_file(weights)
    except Exception as e:  # SafetensorError, a missing or unreadable file
        raise CheckpointError(f"{weights}: not a readable safetensors file: {_load_reason(weights, e)}") from None
    _load_tensors(net, tensors, f"{folder}:{which}")
    return net.eval().requires_grad_(False)


def load(path: str | os.PathLike, *, which: str = "G_ema", device: str | torch.device = "cpu") -> nn.Module:
    """Any supported checkpoint -> network on ``device`` in eval mode.

    ``.pkl``: NVIDIA pickle, ``which`` in 'G_ema' (default), 'G', 'D'. ``.pt``/``.pth``: rosinality (``g_ema``).
    A folder: avgen's format (``which`` 'G_ema'/'G' = generator, 'D' = discriminator).
    """
    p = os.fspath(path)
    if os.path.isdir(p):
        net = from_pretrained(p, which="discriminator" if which == "D" else "generator")
    elif not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such checkpoint")
    elif p.endswith(".pkl"):
        nets = load_nvidia_pickle(p)
        if which not in nets or not isinstance(nets[which], nn.Module):
            raise CheckpointError(f"{p}: no network '{which}' (has {[k for k, v in nets.items() if isinstance(v, nn.Module)]})")
        net = nets[which]
    elif p.endswith((".pt", ".pth")):
        if which == "D":
            raise CheckpointError(f"{p}: only rosinality generators (g_ema / g) are supported")
        net = load_rosinality(p, which="g" if which == "G" else "g_ema")
    else:
        raise CheckpointError(f"{p}: unknown checkpoint type (expected .pkl, .pt/.pth or a saved folder)")
    return net.to(device)
