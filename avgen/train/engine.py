"""The one training loop every head uses, driven by :mod:`accelerate`.

Per optimizer step: (1) discriminator phase, (2) generator phase, each with its own optimizer, gradient accumulation
over ``grad_accum`` micro-batches (DDP gradient sync only on the last one), mixed precision and grad-norm clipping;
then the EMA update of the generator, logging, sample pictures/audio and atomic checkpoints. A run directory that
already holds checkpoints is resumed from the latest one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import signal
import sys
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import yaml

from ..audio import CLIP_MEL_PRESET, SPECVQGAN_MEL_PRESET
from ..checkpoints import save_pipeline_config, save_pretrained
from ..data.audio_clips import AudioSegmentDataset
from ..data.cache import PreparedDataset
from ..data.images import ImageFolderDataset
from ..data.sound_video import SoundVideoDataset
from ..data.specvqgan import SpecVQGANFeatureDataset
from ..errors import AvgenError, ConfigError, TrainingInterrupted
from ..utils import atomic_output
from .checkpoint import load_latest_checkpoint, prune_checkpoints, remove_stale_temporaries, save_checkpoint
from .config import TrainConfig, to_dict
from .tasks import get_task

__all__ = ["train", "EMA", "DatasetInfo", "build_dataset", "collate"]


class EMA:
    """Exponential moving average of a module's parameters (buffers are copied)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for e, p in zip(self.module.parameters(), module.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1.0 - self.decay)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict) -> None:
        self.module.load_state_dict(sd)


def _load_optimizer(opt: torch.optim.Optimizer, state: dict, settings, where: str) -> None:
    """Restore Adam's moments and step counts, but take lr, betas and weight decay from the config: a resumed run
    with a changed learning rate (e.g. a lower one to finish training) must use it, not the checkpoint's. A group
    built without decay (``"decay": False``, :func:`parameter_groups`) keeps none."""
    if len(state.get("param_groups", [])) != len(opt.param_groups):
        raise ConfigError(f"{where}: its optimizer has {len(state.get('param_groups', []))} parameter group(s), this "
                          f"config builds {len(opt.param_groups)} (a changed decay-exempt setting?); resume with the "
                          "settings it was started with, or start a new run_dir")
    opt.load_state_dict(state)
    for group in opt.param_groups:
        group.update(lr=settings.lr, betas=tuple(settings.betas),
                     weight_decay=settings.weight_decay if group.get("decay", True) else 0.0)


def parameter_groups(model: nn.Module, exempt: set[str]) -> list[dict]:
    """AdamW groups: the parameters named in ``exempt`` without weight decay, the others with the config's; one
    group when nothing is exempt (the layout of earlier checkpoints)."""
    named = dict(model.named_parameters())
    unknown = sorted(exempt - set(named))
    if unknown:
        raise ValueError(f"decay-exempt names that are not parameters: {', '.join(unknown[:3])}")
    if not exempt:
        return [{"params": list(named.values()), "decay": True}]
    return [{"params": [p for n, p in named.items() if n not in exempt], "decay": True},
            {"params": [p for n, p in named.items() if n in exempt], "weight_decay": 0.0, "decay": False}]


def collate(items: list[dict]) -> dict:
    """Stack tensors; keep everything else (ids, labels) as lists."""
    out = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        out[key] = torch.stack(vals) if torch.is_tensor(vals[0]) else vals
    return out


@dataclass(frozen=True)
class DatasetInfo:
    """A training dataset and what the task and the export need to know about it."""

    dataset: torch.utils.data.Dataset
    feature_dim: int  # visual feature width (0 when the data has no visual features)
    n_mels: int  # mel bands of the data's mels (0 when it has none)
    mel_preset: str | None  # the avgen.audio preset the mels were made with; None for data without mels (images)
    settings: dict | None = None  # the dataset's own settings (prepare cache, audio excerpts), kept in final/config.json


def _paths(path: str | list[str]) -> str:
    """``data.path`` for a message: one folder, or the list joined by commas."""
    return path if isinstance(path, str) else ", ".join(path)


def build_dataset(cfg: TrainConfig, generator: torch.Generator) -> DatasetInfo:
    """The dataset of ``cfg.data`` and its description."""
    d = cfg.data
    if not d.path:
        raise ConfigError("data.path: set it to a prepare cache (kind: prepared) or a SpecVQGAN root")
    if d.kind == "prepared":
        ds = PreparedDataset(d.path, segment_seconds=d.segment_seconds, generator=generator)
        return DatasetInfo(ds, ds.feature_dim, ds.n_mels, ds.settings["mel"]["name"], ds.settings)
    if d.kind == "sound_video":
        ds = SoundVideoDataset(d.path, resolution=d.resolution, num_frames=d.num_frames, fps=d.fps,
                               audio_window=d.audio_window, generator=generator)
        return DatasetInfo(ds, 0, 128, CLIP_MEL_PRESET)
    if d.kind == "images":
        return DatasetInfo(ImageFolderDataset(d.path, resolution=d.resolution, xflip=d.xflip), 0, 0, None)
    if d.kind == "audio":
        ds = AudioSegmentDataset(d.path, segment_seconds=d.segment_seconds or 0.372, generator=generator)
        return DatasetInfo(ds, 0, ds.n_mels, ds.preset.name, ds.settings)
    ds = SpecVQGANFeatureDataset(d.path, feature_dir=d.feature_dir, mel_dir=d.mel_dir, split=d.split)
    sample = ds[0]
    return DatasetInfo(ds, int(sample["features"].shape[-1]), int(sample["mel"].shape[0]), SPECVQGAN_MEL_PRESET)


class _StopRequest:
    """SIGINT / SIGTERM during training finish the current step, write a checkpoint and stop (a second Ctrl-C
    stops at once). Single-process runs only: under a launcher every rank would have to agree on the step."""

    def __init__(self, *, enabled: bool):
        self.requested: signal.Signals | None = None  # its .name for the message, its number for the exit code
        self._previous = {}
        if not enabled or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        if self.requested:  # asked twice: stop now
            self.restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def _batches(loader):
    """``loader``'s batches; an :class:`AvgenError` raised in a DataLoader worker (a damaged or non-finite item)
    comes back as the one line it was, not wrapped in the worker's traceback text."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except AvgenError as e:
            text = str(e)
            if "Original Traceback" not in text:
                raise
            last = text.strip().splitlines()[-1]
            raise type(e)(last.split(": ", 1)[1] if ": " in last else last) from None
        yield batch


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": [int(x) for x in np.random.get_state()[1]],
            "python": repr(random.getstate())}


def train(cfg: TrainConfig, *, cpu: bool = False, quiet: bool = False) -> dict:
    """Run (or resume) training described by ``cfg``. Unless ``quiet``, the main process prints a start-up summary
    (task, device, dataset size, run directory, resume state) and a progress bar to stderr.

    Returns ``{"step", "logs" (last step's losses), "run_dir", "generator", "discriminator", "process_index"}``.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    task_cls = get_task(cfg.task)
    task_cls.validate(cfg)  # config errors surface before any data or process-group work
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=cpu)
    set_seed(cfg.seed)  # identical initial weights on every process
    run_dir = cfg.run_dir

    data_gen = torch.Generator().manual_seed(cfg.seed + 1000 * accelerator.process_index)
    data = build_dataset(cfg, data_gen)
    dataset = data.dataset
    task = task_cls(cfg, feature_dim=data.feature_dim, n_mels=data.n_mels, mel_preset=data.mel_preset)
    task.attach_dataset(dataset)
    G = task.build_generator()
    if cfg.init_from:  # a fresh run starts from these weights; a resumed one loads its checkpoint below
        G.load_state_dict(task.initial_weights(cfg.init_from, G))
    D = task.build_discriminator()
    opt_g = torch.optim.AdamW(parameter_groups(G, task.no_weight_decay(G)), lr=cfg.optim_g.lr,
                              betas=cfg.optim_g.betas, weight_decay=cfg.optim_g.weight_decay)
    opt_d = None if D is None else torch.optim.AdamW(D.parameters(), lr=cfg.optim_d.lr, betas=cfg.optim_d.betas,
                                                     weight_decay=cfg.optim_d.weight_decay)
    ema = EMA(G, cfg.ema_decay) if cfg.ema_decay else None
    if accelerator.is_main_process:  # after the data and init_from checks: a refused run leaves no folder
        os.makedirs(run_dir, exist_ok=True)
        with atomic_output(os.path.join(run_dir, "config.yaml")) as tmp, open(tmp, "w") as f:
            yaml.safe_dump(to_dict(cfg), f, sort_keys=False)

    # Resume from the latest checkpoint in the run directory, before wrapping.
    step = 0
    if accelerator.is_main_process:
        remove_stale_temporaries(run_dir)
    latest = load_latest_checkpoint(run_dir, warn=lambda msg: accelerator.print(f"avgen train: {msg}",
                                                                               file=sys.stderr))
    if latest is not None:
        ckpt_path, state = latest
        G.load_state_dict(state["generator"])
        _load_optimizer(opt_g, state["opt_g"], cfg.optim_g, ckpt_path)
        if D is not None:
            D.load_state_dict(state["discriminator"])
            _load_optimizer(opt_d, state["opt_d"], cfg.optim_d, ckpt_path)
        if ema is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
        step = int(state["step"])
        torch.manual_seed(cfg.seed + step + accelerator.process_index)
        resume = f"resumed from {ckpt_path} at step {step} of {cfg.max_steps}"
    else:
        resume = (f"fresh run (no checkpoint in {os.path.join(run_dir, 'checkpoints')}), {cfg.max_steps} steps"
                  + (f"; generator initialised from {cfg.init_from}" if cfg.init_from else ""))

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.data.batch_size, shuffle=True, drop_last=len(dataset) >= cfg.data.batch_size,
        num_workers=cfg.data.num_workers, collate_fn=collate, generator=torch.Generator().manual_seed(cfg.seed))
    if D is not None:
        G, D, opt_g, opt_d, loader = accelerator.prepare(G, D, opt_g, opt_d, loader)
    else:
        G, opt_g, loader = accelerator.prepare(G, opt_g, loader)
    if ema is not None:
        ema.module.to(accelerator.device)
    if len(loader) == 0:
        raise ConfigError(f"data: the loader yields no batches (dataset of {len(dataset)}, batch {cfg.data.batch_size})")
    if not quiet:  # what a user needs to know before the first step: where, on what, from where
        for line in (f"task {cfg.task} on {accelerator.device} ({accelerator.num_processes} process(es), "
                     f"precision {cfg.mixed_precision})",
                     f"dataset: {len(dataset)} items from {_paths(cfg.data.path)} (batch {cfg.data.batch_size}, "
                     f"{len(loader)} batches per epoch per process)",
                     f"run directory: {run_dir}", resume):
            accelerator.print(f"avgen train: {line}", file=sys.stderr)

    writer = None
    if accelerator.is_main_process:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(run_dir, "tb"))

    def checkpoint(at_step: int) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            state = {"step": at_step, "generator": accelerator.unwrap_model(G).state_dict(),
                     "opt_g": opt_g.state_dict(), "config": json.dumps(to_dict(cfg)), "rng": _rng_state()}
            if D is not None:
                state["discriminator"] = accelerator.unwrap_model(D).state_dict()
                state["opt_d"] = opt_d.state_dict()
            if ema is not None:
                state["ema"] = ema.state_dict()
            save_checkpoint(run_dir, at_step, state)
            prune_checkpoints(run_dir, cfg.keep_checkpoints)
        accelerator.wait_for_everyone()

    def phase(loss_fn, model, opt, micro_batches) -> dict:
        """Accumulate gradients over micro-batches (sync only on the last), clip, step."""
        logs_sum: dict[str, float] = {}
        for i, batch in enumerate(micro_batches):
            sync = i == len(micro_batches) - 1
            ctx = contextlib.nullcontext() if sync else accelerator.no_sync(model)
            with ctx:
                with accelerator.autocast():
                    loss, logs = loss_fn(batch)
                if not bool(torch.isfinite(loss.detach())):  # never step on (or export) non-finite weights
                    ids = batch.get("id") if isinstance(batch, dict) else None
                    items = f" (batch items {', '.join(map(str, ids))})" if isinstance(ids, list) else ""
                    which = "discriminator" if model is D else "generator"
                    raise AvgenError(f"step {step + 1}: the {which} loss is {float(loss.detach())}{items}; stopping "
                                     "before the optimizer step (the checkpoints written so far are intact)")
                accelerator.backward(loss / len(micro_batches))
            for k, v in logs.items():
                logs_sum[k] = logs_sum.get(k, 0.0) + float(v) / len(micro_batches)
        if cfg.grad_clip is not None:
            norm = accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            logs_sum[f"{'d' if model is D else 'g'}/grad_norm"] = float(norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return logs_sum

    def record_scores(model, at_step: int) -> None:
        """The task's quality metric, to TensorBoard and appended to run_dir/metrics.jsonl (nothing when it has none)."""
        scores = task.evaluate(model, at_step)
        for k, v in scores.items():
            writer.add_scalar(k, v, at_step)
        if scores:
            with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
                f.write(json.dumps({"step": at_step, **scores}) + "\n")

    if writer is not None and step == 0:  # the starting point of the metric curve
        record_scores(ema.module if ema else accelerator.unwrap_model(G), 0)

    stop = _StopRequest(enabled=accelerator.num_processes == 1)
    micro_per_step = cfg.grad_accum
    epoch = (step * micro_per_step) // len(loader)
    skip = (step * micro_per_step) % len(loader)
    bar = tqdm(total=cfg.max_steps, initial=step, desc="train", unit="step",
               disable=quiet or not accelerator.is_main_process, file=sys.stderr)
    last_logs: dict[str, float] = {}
    try:
        G.train()
        while step < cfg.max_steps:
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
            skip = 0
            pending: list = []
            for batch in _batches(epoch_loader):
                pending.append(batch)
                if len(pending) < micro_per_step:
                    continue
                micro, pending = pending, []
                logs: dict[str, float] = {}
                if D is not None:
                    D.requires_grad_(True)
                    logs.update(phase(lambda b: task.discriminator_loss(b, G, D), D, opt_d, micro))
                    D.requires_grad_(False)  # the generator phase must not accumulate D gradients
                logs.update(phase(lambda b: task.generator_loss(b, G, D), G, opt_g, micro))
                step += 1
                if ema is not None:
                    ema.update(accelerator.unwrap_model(G))
                last_logs = logs
                bar.update(1)
                if writer is not None and (step % cfg.log_every == 0 or step == 1):
                    for k, v in logs.items():
                        writer.add_scalar(k, v, step)
                    bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k.endswith("loss")})
                if writer is not None and step % cfg.sample_every == 0:
                    shown = ema.module if ema else accelerator.unwrap_model(G)
                    task.log_media(writer, micro[0], shown, step)
                    record_scores(shown, step)
                if step % cfg.ckpt_every == 0 or step == cfg.max_steps or stop.requested:
                    checkpoint(step)
                if stop.requested:
                    raise TrainingInterrupted(f"{stop.requested.name} at step {step}: checkpoint written to "
                                              f"{os.path.join(run_dir, 'checkpoints')}; run the same command to resume",
                                              signum=stop.requested)
                if step >= cfg.max_steps:
                    break
            epoch += 1
    finally:
        stop.restore()
        bar.close()
    if accelerator.is_main_process:
        final_model = ema.module if ema else accelerator.unwrap_model(G)
        final_d = accelerator.unwrap_model(D) if D is not None else None
        if not task.export(os.path.join(run_dir, "final"), final_model, final_d):  # no release format of its own
            _export_final(run_dir, cfg, task, final_model, data)
        writer.close()
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return {"step": step, "logs": last_logs, "run_dir": run_dir, "generator": accelerator.unwrap_model(G),
            "discriminator": None if D is None else accelerator.unwrap_model(D),
            "process_index": accelerator.process_index}


def _export_final(run_dir: str, cfg: TrainConfig, task, generator: nn.Module, data: DatasetInfo) -> str:
    """``final/`` through :mod:`avgen.checkpoints`: the generator (EMA when enabled) as a model folder, or, for a
    task with a ``pipeline_class``, a pipeline folder with the generator in ``generator/``. The data settings (the
    prepare cache's frame rate, visual backbone, mel preset, pixel motion kind) are stored so inference computes the
    same inputs."""
    out = os.path.join(run_dir, "final")
    settings = {"task": cfg.task}
    if data.settings is not None:
        settings["data"] = {k: data.settings[k] for k in ("fps", "visual", "mel", "clip_seconds", "motion")
                            if k in data.settings}
        settings["data"]["segment_seconds"] = cfg.data.segment_seconds
    if task.pipeline_class is None:
        return save_pretrained(generator, out, extra=settings)
    save_pretrained(generator, os.path.join(out, "generator"))
    return save_pipeline_config(out, task.pipeline_class, {"generator": "generator"}, settings)
