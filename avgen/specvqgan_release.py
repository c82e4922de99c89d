"""Reading SpecVQGAN's public release (v-iashin/SpecVQGAN) safely: run folders and the MelGAN vocoder folder.

A **run folder** is what the release's ``train.py`` wrote and what it publishes: ``<run>/checkpoints/*.ckpt``
(PyTorch Lightning 1.2 checkpoints) and ``<run>/configs/*-project.yaml`` (the OmegaConf dump of the training
config; a resumed run has several, the last one wins, as the release's samplers pick it). A codebook run's
``state_dict`` holds ``encoder.*``, ``decoder.*``, ``quantize.*``, ``quant_conv.*``, ``post_quant_conv.*`` and its
training losses ``loss.*`` (LPAPS, discriminator: dropped); a transformer run's holds the frozen codebook under
``first_stage_model.``, the GPT under ``transformer.``, the ColumnMajor permutation buffers under
``first_stage_permuter.`` and one causal mask per layer (both checked against what the config implies, then
dropped: avgen computes them). The **vocoder folder** holds ``best_netG.pt`` (a MelGAN generator state dict) and
``args.yml`` (a PyYAML dump of an ``argparse.Namespace``).

What is read, and how:

- ``.ckpt``: a Lightning 1.2 checkpoint is ``{"epoch", "global_step", "pytorch-lightning_version", "callbacks",
  "optimizer_states", "lr_schedulers", "state_dict"}``; everything is tensors and plain containers except the keys
  of ``callbacks``, which are the callback *classes* (``pytorch_lightning.callbacks.model_checkpoint
  .ModelCheckpoint``, ``...early_stopping.EarlyStopping``). The file's globals are listed first without
  unpickling (``torch.serialization.get_unsafe_globals_in_checkpoint``, through
  :func:`avgen.checkpoints.load_torch_weights_only`); anything beyond torch's weights-only set and those callback
  names refuses the file. It is then read with ``torch.load(weights_only=True)``, the callback names bound to inert placeholder classes of this module (used as dict keys; instantiating one is refused).
  Lightning is never imported.
- ``*-project.yaml``: ``yaml.safe_load`` (plain YAML); ``args.yml``: a safe loader that knows exactly two python
  tags, ``argparse.Namespace`` (read as a mapping) and ``pathlib.PosixPath`` (read as a path string); any other
  tag refuses the file. Nothing named in a file is ever imported or instantiated: the ``target:`` entries are
  compared against the few release classes avgen reimplements.

Every problem is one :class:`~avgen.checkpoints.CheckpointError` line naming the file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import torch

from .checkpoints import CheckpointError, check_state_dict, load_torch_weights_only, read_config
from .errors import ConfigError
from .models.v2s.specvqgan import (SpecVQGANCodebook, SpecVQGANCodebookConfig, SpecVQGANTransformer,
                                   SpecVQGANTransformerConfig, column_major_index)
from .models.vocoders.melgan import MelGANConfig, MelGANGenerator
from .typed_config import from_dict

__all__ = ["ReleaseRun", "read_lightning_checkpoint", "read_project_config", "find_checkpoint",
           "read_namespace_yaml", "is_melgan_folder", "melgan_folder_kind", "load_melgan_folder", "load_codebook_run",
           "load_transformer_run", "load_release", "codebook_config_from_release",
           "transformer_config_from_release"]

# -- Lightning checkpoints --------------------------------------------------------------------------------------

# Lightning 1.x keyed checkpoint["callbacks"] by the callback class; these are the stateful callbacks it saved.
_CALLBACK_CLASSES = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
    "pytorch_lightning.callbacks.lr_monitor.LearningRateMonitor",
    "pytorch_lightning.callbacks.progress.ProgressBar",
)


class _Instantiated(Exception):
    pass


class _CallbackKey:
    """Stands for a Lightning callback class used as a dict key; never instantiated."""

    def __new__(cls, *args, **kwargs):
        raise _Instantiated(cls.qualified)


_STUBS = {name: type("LightningCallbackKey", (_CallbackKey,), {"qualified": name}) for name in _CALLBACK_CLASSES}


def read_lightning_checkpoint(path: str | os.PathLike) -> dict:
    """A Lightning ``.ckpt`` as a dict (``state_dict``: str -> tensor; callback keys become their class names as
    strings), read without running anything from the file; one CheckpointError otherwise."""
    path = os.fspath(path)
    try:
        data = load_torch_weights_only(path, allowed=_STUBS, passthrough=(_Instantiated,),
                                       holds="tensors, plain containers and Lightning callback names")
    except _Instantiated as e:
        raise CheckpointError(f"{path}: refused: it instantiates {e}, which a Lightning checkpoint only names") \
            from None
    if not isinstance(data, dict) or "state_dict" not in data:
        what = f"keys {', '.join(map(str, list(data)[:5]))}" if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict'; {what})")
    sd = data["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
        raise CheckpointError(f"{path}: 'state_dict' is not a mapping of names to tensors")
    callbacks = data.get("callbacks")
    if isinstance(callbacks, dict):
        data["callbacks"] = {getattr(k, "qualified", k): v for k, v in callbacks.items()}
    return data


def find_checkpoint(run: str | os.PathLike) -> str:
    """``<run>/checkpoints/last.ckpt`` when present, else the last ``*.ckpt`` by name (the release's rule)."""
    run = os.fspath(run)
    last = os.path.join(run, "checkpoints", "last.ckpt")
    if os.path.isfile(last):
        return last
    found = sorted(glob.glob(os.path.join(glob.escape(run), "checkpoints", "*.ckpt")))
    if not found:
        raise CheckpointError(f"{run}: no checkpoints/*.ckpt (not a SpecVQGAN run folder)")
    return found[-1]


# -- YAML ----------------------------------------------------------------------------------------------------------

def _yaml():
    import yaml

    return yaml


def read_project_config(run: str | os.PathLike) -> tuple[dict, str]:
    """(the run's config, its path): the last ``<run>/configs/*-project.yaml`` by name, read as plain YAML."""
    yaml = _yaml()
    run = os.fspath(run)
    if not os.path.isdir(run):
        raise CheckpointError(f"{run}: no such run folder")
    found = sorted(glob.glob(os.path.join(glob.escape(run), "configs", "*-project.yaml")))
    if not found:
        raise CheckpointError(f"{run}: no configs/*-project.yaml (not a SpecVQGAN run folder)")
    path = found[-1]
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not plain YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise CheckpointError(f"{path}: no 'model' section (not a SpecVQGAN project config)")
    return cfg, path


def read_namespace_yaml(path: str | os.PathLike) -> dict:
    """The MelGAN ``args.yml`` (a dumped ``argparse.Namespace``) as a dict; paths become strings."""
    yaml = _yaml()
    path = os.fspath(path)

    class _Loader(yaml.SafeLoader):
        pass

    def namespace(loader, node):
        return loader.construct_mapping(node, deep=True)

    def posix_path(loader, node):
        parts = [str(p) for p in loader.construct_sequence(node, deep=True)]
        return "/" + "/".join(parts[1:]) if parts[:1] == ["/"] else "/".join(parts)

    _Loader.add_constructor("tag:yaml.org,2002:python/object:argparse.Namespace", namespace)
    _Loader.add_constructor("tag:yaml.org,2002:python/object/apply:pathlib.PosixPath", posix_path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader with two data-only tags
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a MelGAN args file ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a mapping of arguments, got {type(data).__name__}")
    return data


# -- configs -------------------------------------------------------------------------------------------------------

def _section(d: dict, key: str, path: str, where: str) -> dict:
    v = d.get(key)
    if not isinstance(v, dict):
        raise CheckpointError(f"{path}: {where}{key} must be a mapping")
    return v


def _target(d: dict, path: str, where: str) -> str:
    t = d.get("target")
    if not isinstance(t, str):
        raise CheckpointError(f"{path}: {where}target must be a class path")
    return t


def _typed(cls, data: dict, path: str):
    try:
        return from_dict(cls, data, prefix="")
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def codebook_config_from_release(params: dict, path: str, where: str = "model.params.") -> SpecVQGANCodebookConfig:
    """A ``VQModel``'s ``params`` (``ddconfig``, ``n_embed``, ``embed_dim``) as the codebook's config."""
    dd = _section(params, "ddconfig", path, where)
    if dd.get("double_z", False):
        raise CheckpointError(f"{path}: {where}ddconfig.double_z is true; the release's VQModel needs false")
    if not dd.get("resamp_with_conv", True):
        raise CheckpointError(f"{path}: {where}ddconfig.resamp_with_conv false is not supported")
    keys = ("ch", "ch_mult", "num_res_blocks", "attn_resolutions", "resolution", "in_channels", "out_ch",
            "z_channels", "dropout")
    data = {k: dd[k] for k in keys if k in dd}
    for k in ("n_embed", "embed_dim"):
        if k not in params:
            raise CheckpointError(f"{path}: {where}{k} is missing")
        data[k] = params[k]
    return _typed(SpecVQGANCodebookConfig, data, path)


_EMBEDDERS = {"torch.nn.Conv1d": "conv1d", "torch.nn.Linear": "linear", "torch.nn.LSTM": "lstm",
              "torch.nn.GRU": "gru"}


def _embedder(cfg: dict, n_embd, path: str) -> dict:
    w = "model.params.transformer_config.params.feat_embedding_config."
    target = _target(cfg, path, w)
    if target not in _EMBEDDERS:
        raise CheckpointError(f"{path}: {w}target {target!r} is not one of {', '.join(_EMBEDDERS)}")
    kind, p = _EMBEDDERS[target], dict(cfg.get("params") or {})
    if kind == "conv1d":
        if p.get("kernel_size", 1) != 1 or p.get("padding", 0) != 0 or p.get("stride", 1) != 1:
            raise CheckpointError(f"{path}: {w}params: only the 1x1 Conv1d embedder (kernel_size 1, padding 0) "
                                  "is supported")
        dim, out = p.get("in_channels"), p.get("out_channels")
    elif kind == "linear":
        dim, out = p.get("in_features"), p.get("out_features")
    else:
        if not p.get("batch_first", False) or p.get("bidirectional", False) or not p.get("bias", True):
            raise CheckpointError(f"{path}: {w}params: only batch_first, one-directional {kind.upper()} "
                                  "embedders with biases are supported")
        dim, out = p.get("input_size"), p.get("hidden_size")
    if out != n_embd:
        raise CheckpointError(f"{path}: {w}params: the embedder's output width {out!r} is not n_embd {n_embd!r}")
    data = {"embedder": kind, "feat_dim": dim}
    if kind in ("lstm", "gru"):
        data["embedder_layers"] = p.get("num_layers", 1)
    return data


# the release's transformer classes -> (avgen's condition, the conditioning stage that feeds it)
_TRANSFORMERS = {"GPTFeats": ("features", "RawFeatsStage"), "GPTClass": ("class", "ClassOnlyStage"),
                 "GPTFeatsClass": ("features_class", "FeatsClassStage")}


def _class_embedder(cfg: dict, n_embd, path: str) -> int:
    """The class token's ``torch.nn.Embedding`` config -> its number of classes."""
    w = "model.params.transformer_config.params.token_embedding_config."
    if _target(cfg, path, w) != "torch.nn.Embedding":
        raise CheckpointError(f"{path}: {w}target: only torch.nn.Embedding is supported")
    p = cfg.get("params") or {}
    if p.get("embedding_dim") != n_embd:
        raise CheckpointError(f"{path}: {w}params.embedding_dim {p.get('embedding_dim')!r} is not n_embd {n_embd!r}")
    return p.get("num_embeddings")


def transformer_config_from_release(cfg: dict, path: str) -> SpecVQGANTransformerConfig:
    """A ``Net2NetTransformer`` project config (``GPTFeats``, ``GPTClass`` or ``GPTFeatsClass`` with a ColumnMajor
    permuter, on raw features and/or the class) as the transformer's config; the frame count comes from
    ``data.params.feat_sampler_cfg`` (or ``feat_crop_len``)."""
    params = _section(cfg["model"], "params", path, "model.")
    tcfg = _section(params, "transformer_config", path, "model.params.")
    t = _target(tcfg, path, "model.params.transformer_config.")
    kind = t.rsplit(".", 1)[-1]
    if kind not in _TRANSFORMERS:
        raise CheckpointError(f"{path}: model.params.transformer_config.target {t!r}: one of "
                              f"{', '.join(_TRANSFORMERS)} is supported")
    condition, stage = _TRANSFORMERS[kind]
    tp = _section(tcfg, "params", path, "model.params.transformer_config.")
    gpt = _section(tp, "GPT_config", path, "model.params.transformer_config.params.")
    keys = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "n_unmasked", "embd_pdrop", "resid_pdrop",
            "attn_pdrop")
    data = {k: gpt[k] for k in keys if k in gpt}
    for k in ("n_layer", "n_head", "n_embd"):  # GPT's defaults in the release
        data.setdefault(k, {"n_layer": 12, "n_head": 8, "n_embd": 256}[k])
    data["condition"] = condition
    if condition != "class":
        data.update(_embedder(_section(tp, "feat_embedding_config", path, "model.params.transformer_config.params."),
                              data["n_embd"], path))
    if condition != "features":
        data["num_classes"] = _class_embedder(_section(tp, "token_embedding_config", path,
                                                       "model.params.transformer_config.params."),
                                              data["n_embd"], path)
    perm = params.get("first_stage_permuter_config")
    if not isinstance(perm, dict) or not _target(perm, path, "model.params.first_stage_permuter_config.") \
            .endswith(".ColumnMajor"):
        raise CheckpointError(f"{path}: model.params.first_stage_permuter_config: only the ColumnMajor permuter "
                              "is supported")
    pp = _section(perm, "params", path, "model.params.first_stage_permuter_config.")
    data["code_shape"] = [pp.get("H"), pp.get("W")]
    cond = _section(params, "cond_stage_config", path, "model.params.")
    if not _target(cond, path, "model.params.cond_stage_config.").endswith("." + stage):
        raise CheckpointError(f"{path}: model.params.cond_stage_config: {kind} takes its conditioning from "
                              f"{stage}")
    dp = (cfg.get("data") or {}).get("params") or {}
    sampler = dp.get("feat_sampler_cfg")
    if condition == "class":  # no features: the frame settings stay at their defaults and prime nothing
        pass
    elif isinstance(sampler, dict):
        sp = sampler.get("params") or {}
        if (sp.get("times_to_repeat_after_resample") or 1) > 1:
            raise CheckpointError(f"{path}: data.params.feat_sampler_cfg: times_to_repeat_after_resample is not "
                                  "supported")
        data["feat_sample_size"] = sp.get("feat_sample_size")
    elif "feat_crop_len" in dp:
        data["feat_sample_size"] = dp["feat_crop_len"]
    else:
        raise CheckpointError(f"{path}: data.params has neither feat_sampler_cfg nor feat_crop_len: the number of "
                              "feature frames is unknown")
    if condition != "class":
        data["feat_crop_len"] = dp.get("feat_crop_len", data["feat_sample_size"])
        data["feat_len"] = dp.get("feat_len", data["feat_crop_len"])
    if condition != "class" and "feat_depth" in dp and dp["feat_depth"] != data["feat_dim"]:
        raise CheckpointError(f"{path}: data.params.feat_depth {dp['feat_depth']!r} differs from the embedder's "
                              f"input width {data['feat_dim']!r}")
    config = _typed(SpecVQGANTransformerConfig, data, path)
    if not config.feat_sample_size <= config.feat_crop_len <= config.feat_len:
        raise CheckpointError(f"{path}: data.params: need feat_sample_size {config.feat_sample_size} <= "
                              f"feat_crop_len {config.feat_crop_len} <= feat_len {config.feat_len}")
    if config.n_embd % config.n_head:
        raise CheckpointError(f"{path}: n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
    if not isinstance(config.num_classes, int) or (condition != "features" and config.num_classes < 1):
        raise CheckpointError(f"{path}: token_embedding_config.params.num_embeddings {config.num_classes!r} is not "
                              "a positive number of classes")
    h, w = config.code_shape
    prime = (config.feat_sample_size if condition != "class" else 0) + int(condition != "features")
    if prime + h * w - 1 > config.block_size:
        raise CheckpointError(f"{path}: block_size {config.block_size} cannot hold {prime} conditioning "
                              f"position(s) and {h * w} codes")
    return config


# -- models from runs ------------------------------------------------------------------------------------------

@dataclass
class ReleaseRun:
    """What a release folder held: the models, the files they came from, and the training step."""

    kind: str  # "codebook", "transformer" or "vocoder"
    codebook: SpecVQGANCodebook | None = None
    transformer: SpecVQGANTransformer | None = None
    vocoder: MelGANGenerator | None = None
    checkpoint: str = ""
    config: str = ""
    global_step: int | None = None


def _load_into(model: torch.nn.Module, sd: dict, path: str, what: str) -> torch.nn.Module:
    check_state_dict(model, sd, path, what=what)
    own = model.state_dict()  # once: building it per tensor made loading quadratic in the number of tensors
    for k, v in sd.items():
        if v.is_floating_point() != own[k].is_floating_point():
            raise CheckpointError(f"{path}: {k} has dtype {v.dtype}, {what} expects floating point")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval().requires_grad_(False)


def _strip(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _step(data: dict) -> int | None:
    s = data.get("global_step")
    return s if isinstance(s, int) else None


def load_codebook_run(run: str | os.PathLike, *, checkpoint: str | os.PathLike | None = None) -> ReleaseRun:
    """A codebook run (``VQModel``): the codebook with the checkpoint's weights (its ``loss.*`` dropped)."""
    cfg, cfg_path = read_project_config(run)
    target = _target(cfg["model"], cfg_path, "model.")
    if not target.endswith(".VQModel"):
        raise CheckpointError(f"{cfg_path}: model.target {target!r} is not a codebook run (VQModel)")
    config = codebook_config_from_release(_section(cfg["model"], "params", cfg_path, "model."), cfg_path)
    ckpt = os.fspath(checkpoint) if checkpoint is not None else find_checkpoint(run)
    data = read_lightning_checkpoint(ckpt)
    sd = {k: v for k, v in data["state_dict"].items() if not k.startswith("loss.")}
    model = _load_into(SpecVQGANCodebook(config), sd, ckpt, f"the codebook {cfg_path} describes")
    return ReleaseRun("codebook", codebook=model, checkpoint=ckpt, config=cfg_path, global_step=_step(data))


def load_transformer_run(run: str | os.PathLike, *, checkpoint: str | os.PathLike | None = None) -> ReleaseRun:
    """A transformer run (``Net2NetTransformer``): its GPT and the frozen codebook stored beside it."""
    cfg, cfg_path = read_project_config(run)
    target = _target(cfg["model"], cfg_path, "model.")
    if not target.endswith(".Net2NetTransformer"):
        raise CheckpointError(f"{cfg_path}: model.target {target!r} is not a transformer run (Net2NetTransformer)")
    tconfig = transformer_config_from_release(cfg, cfg_path)
    params = cfg["model"]["params"]
    first = _section(params, "first_stage_config", cfg_path, "model.params.")
    cconfig = codebook_config_from_release(_section(first, "params", cfg_path, "model.params.first_stage_config."),
                                           cfg_path, "model.params.first_stage_config.params.")
    if cconfig.n_embed != tconfig.vocab_size:
        raise CheckpointError(f"{cfg_path}: the codebook has {cconfig.n_embed} entries, the transformer's "
                              f"vocab_size is {tconfig.vocab_size}")
    ckpt = os.fspath(checkpoint) if checkpoint is not None else find_checkpoint(run)
    data = read_lightning_checkpoint(ckpt)
    sd = data["state_dict"]
    known = ("first_stage_model.", "transformer.", "first_stage_permuter.", "cond_stage_permuter.")
    other = sorted(k for k in sd if not k.startswith(known))
    if other:
        raise CheckpointError(f"{ckpt}: unexpected tensors {', '.join(other[:3])} (a conditioning stage with "
                              "weights is not supported)")
    # the permutation buffers must be the ColumnMajor order of the configured grid
    h, w = tconfig.code_shape
    perm = _strip(sd, "first_stage_permuter.")
    idx = column_major_index(h, w)
    expect = {"forward_shuffle_idx": idx, "backward_shuffle_idx": torch.argsort(idx)}
    for k, v in perm.items():
        if k not in expect or v.shape != expect[k].shape or not torch.equal(v.long(), expect[k]):
            raise CheckpointError(f"{ckpt}: first_stage_permuter.{k} is not the column-major order of a "
                                  f"{h} x {w} grid")
    if any(v.numel() for v in _strip(sd, "cond_stage_permuter.").values()):
        raise CheckpointError(f"{ckpt}: cond_stage_permuter holds tensors; only raw features are supported")
    # transformer: the stored causal masks must equal the ones the config implies
    tsd = _strip(sd, "transformer.")
    model = SpecVQGANTransformer(tconfig)
    for i, block in enumerate(model.blocks):
        key = f"blocks.{i}.attn.mask"
        if key in tsd:
            m = tsd.pop(key)
            want = block.attn.mask(0, tconfig.block_size, tconfig.block_size, "cpu")
            if tuple(m.shape) != (1, 1, tconfig.block_size, tconfig.block_size) or not torch.equal(m[0, 0] != 0,
                                                                                                   want):
                raise CheckpointError(f"{ckpt}: transformer.{key} is not the causal mask of block_size "
                                      f"{tconfig.block_size} with n_unmasked {tconfig.n_unmasked}")
    model = _load_into(model, tsd, ckpt, f"the transformer {cfg_path} describes")
    fsd = {k: v for k, v in _strip(sd, "first_stage_model.").items() if not k.startswith("loss.")}
    codebook = _load_into(SpecVQGANCodebook(cconfig), fsd, ckpt, f"the codebook {cfg_path} describes")
    return ReleaseRun("transformer", codebook=codebook, transformer=model, checkpoint=ckpt, config=cfg_path,
                      global_step=_step(data))


# -- the MelGAN vocoder folder --------------------------------------------------------------------------------

def is_melgan_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is the release's vocoder folder (``best_netG.pt`` and ``args.yml``)."""
    folder = os.fspath(folder)
    return os.path.isfile(os.path.join(folder, "best_netG.pt")) and os.path.isfile(os.path.join(folder, "args.yml"))


def melgan_folder_kind(folder: str | os.PathLike) -> str | None:
    """``"release"`` for the release's vocoder folder, ``"avgen"`` for an avgen MelGANGenerator model folder,
    None for anything else (a broken ``config.json`` is left to the caller's own loader to report)."""
    if is_melgan_folder(folder):
        return "release"
    try:
        cfg = read_config(folder)
    except CheckpointError:
        return None
    return "avgen" if cfg.get("class") == "MelGANGenerator" else None


def load_melgan_folder(folder: str | os.PathLike) -> MelGANGenerator:
    """The release's vocoder folder (``best_netG.pt`` + ``args.yml``) as a MelGANGenerator, eval mode on CPU."""
    folder = os.fspath(folder)
    args_path, ckpt = os.path.join(folder, "args.yml"), os.path.join(folder, "best_netG.pt")
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: no such vocoder folder")
    args = read_namespace_yaml(args_path)
    data = {k: args[k] for k in ("n_mel_channels", "ngf", "n_residual_layers") if k in args}
    config = _typed(MelGANConfig, data, args_path)
    if not os.path.isfile(ckpt):
        raise CheckpointError(f"{ckpt}: file not found")
    sd = load_torch_weights_only(ckpt, holds="tensors")
    if not isinstance(sd, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
        raise CheckpointError(f"{ckpt}: not a state dict of tensors")
    return _load_into(MelGANGenerator(config), dict(sd), ckpt, f"the MelGAN generator {args_path} describes")


def load_release(path: str | os.PathLike, *, checkpoint: str | os.PathLike | None = None) -> ReleaseRun:
    """Any release folder: a vocoder folder, a codebook run or a transformer run (told apart by their files and
    ``model.target``)."""
    path = os.fspath(path)
    if is_melgan_folder(path):
        return ReleaseRun("vocoder", vocoder=load_melgan_folder(path), checkpoint=os.path.join(path, "best_netG.pt"),
                          config=os.path.join(path, "args.yml"))
    cfg, cfg_path = read_project_config(path)
    target = _target(cfg["model"], cfg_path, "model.")
    if target.endswith(".VQModel"):
        return load_codebook_run(path, checkpoint=checkpoint)
    if target.endswith(".Net2NetTransformer"):
        return load_transformer_run(path, checkpoint=checkpoint)
    raise CheckpointError(f"{cfg_path}: model.target {target!r} is neither a codebook (VQModel) nor a transformer "
                          "(Net2NetTransformer) run")
