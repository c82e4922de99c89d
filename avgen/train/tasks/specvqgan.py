"""Tasks ``specvqgan_codebook`` and ``specvqgan_transformer``: SpecVQGAN's two stages (Iashin & Rahtu, BMVC 2021)
on mels of an ``avgen prepare`` cache (or the public feature/mel layout), as the release trains them
(docs/specvqgan.md, "Training")."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ...models.v2s.specvqgan import (SpecVQGANCodebook, SpecVQGANCodebookConfig, SpecVQGANTransformer,
                                     SpecVQGANTransformerConfig, grid_to_sequence, sequence_to_grid)
from ..specvqgan_losses import LPAPS, CodebookAdversary, adaptive_weight, hinge_g_loss
from .base import Task

__all__ = ["SpecVQGANCodebookLoss", "SpecVQGANCodebookTask", "SpecVQGANTransformerLoss", "SpecVQGANTransformerTask",
           "centre_crop", "corrupt_codes", "load_codebook"]


def centre_crop(mel: torch.Tensor, frames: int, option: str) -> torch.Tensor:
    """The centre ``frames`` of mels ``[B, M, T]`` (the release's ``CropImage`` with ``random_crop: False``)."""
    t = mel.shape[-1]
    if t < frames:
        raise ConfigError(f"{option}: needs mels of {frames} frames, the data gives {t} (raise data.segment_seconds)")
    start = (t - frames) // 2
    return mel[..., start:start + frames]


def _finite_at_least(value, low: float, name: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
        raise ValueError(f"{name}: expected a finite number >= {low}, got {value!r}")


# ----------------------------------------------------------------------------------------------------------------
# Stage 1: the codebook


@dataclass
class SpecVQGANCodebookLoss:
    """The release's ``VQLPAPSWithDiscriminator`` settings (its configs: ``disc_start`` 2001 for VAS, 30001 for
    VGGSound; ``disc_weight`` 0.8; adaptive weight clamped to [1, 1])."""

    pixel_weight: float = 1.0  # L1 on the [-1, 1] mel
    perceptual_weight: float = 1.0  # LPAPS; 0 turns it off (and builds no VGGish-ish)
    perceptual_weights: str | None = None  # local vggishish16.pt; null: random VGGish-ish (see docs)
    perceptual_stats: str | None = None  # the release's train_means_stds_melspec_10s_22050hz.txt; null: no scaling
    perceptual_channels: tuple[int, ...] = (64, 128, 256, 512, 512)  # VGGish-ish block widths (public file: these)
    perceptual_lin: Literal["release", "mean"] = "release"  # LPAPS's unlearned lin weights: default init, or 1/C
    codebook_weight: float = 1.0  # on the quantizer loss (its commitment beta is model.beta, 0.25)
    disc_weight: float = 0.8
    disc_factor: float = 1.0
    disc_start: int = 2001  # optimizer steps without the discriminator (both of its losses weighted 0)
    disc_loss: Literal["hinge", "vanilla"] = "hinge"
    disc_ndf: int = 64
    disc_num_layers: int = 3
    min_adapt_weight: float = 0.0
    max_adapt_weight: float = 1.0e4

    def __post_init__(self):
        for name in ("pixel_weight", "perceptual_weight", "codebook_weight", "disc_weight", "disc_factor",
                     "min_adapt_weight"):
            _finite_at_least(getattr(self, name), 0, name)
        _finite_at_least(self.max_adapt_weight, self.min_adapt_weight, "max_adapt_weight")
        _finite_at_least(self.disc_start, 0, "disc_start")
        if self.disc_ndf < 1 or self.disc_num_layers < 1:
            raise ValueError("disc_ndf and disc_num_layers: expected at least 1")
        if len(self.perceptual_channels) != 5 or min(self.perceptual_channels) < 1:
            raise ValueError(f"perceptual_channels: expected five positive widths, got "
                             f"{list(self.perceptual_channels)}")


class SpecVQGANCodebookTask(Task):
    """The spectrogram codebook (VQGAN on one-channel mels). The mel is centre-cropped to ``model.resolution``
    frames and scaled to ``x = 2 mel - 1`` as the release's datasets do; with ``x_hat`` the reconstruction and
    ``L_Q`` the quantizer's codebook + beta commitment loss:

    ``L_rec = mean |x - x_hat| + w_p LPAPS(x, x_hat)``,
    ``L_G = L_rec + lambda f(s) (-mean D(x_hat)) + w_q L_Q``, lambda the adaptive weight (:func:`adaptive_weight`),
    ``L_D = f(s) (mean relu(1 - D(x)) + mean relu(1 + D(x_hat))) / 2``, f(s) = ``disc_factor`` from ``disc_start``
    on, else 0 (VQGAN eq. 5-7; the release's ``VQLPAPSWithDiscriminator``)."""

    name = "specvqgan_codebook"
    model_config, loss_config = SpecVQGANCodebookConfig, SpecVQGANCodebookLoss

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self.lpaps = None
        if self.lcfg.perceptual_weight > 0:
            with torch.random.fork_rng(devices=[]):  # the same random VGGish-ish on every process and resume
                torch.manual_seed(cfg.seed + 2)
                self.lpaps = LPAPS(self.lcfg.perceptual_channels, weights=self.lcfg.perceptual_weights,
                                   stats=self.lcfg.perceptual_stats, n_mels=self.n_mels or 80,
                                   lin=self.lcfg.perceptual_lin)

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind not in ("prepared", "specvqgan"):
            raise ConfigError("data.kind: the codebook trains on mels; use 'prepared' or 'specvqgan'")

    def build_generator(self) -> nn.Module:
        m = self.mcfg
        f = 2 ** (len(m.ch_mult) - 1)
        if self.n_mels % f or m.resolution % f:
            raise ConfigError(f"model.ch_mult: {len(m.ch_mult) - 1} halvings need mel bands ({self.n_mels}) and "
                              f"model.resolution ({m.resolution}) divisible by {f}")
        if m.in_channels != 1 or m.out_ch != 1:
            raise ConfigError("model.in_channels/out_ch: a mel is one channel")
        return SpecVQGANCodebook(m)

    def build_discriminator(self) -> nn.Module | None:
        c = self.lcfg
        if c.disc_weight == 0 or c.disc_factor == 0:
            return None
        return CodebookAdversary(input_nc=1, ndf=c.disc_ndf, n_layers=c.disc_num_layers, loss=c.disc_loss,
                                 disc_start=c.disc_start, disc_factor=c.disc_factor)

    def _input(self, batch) -> torch.Tensor:
        mel = centre_crop(batch["mel"], self.mcfg.resolution, "model.resolution")
        return (2 * mel - 1)[:, None]  # [B, 1, M, T] in [-1, 1]

    def _lpaps(self, device):
        if self.lpaps is not None and self.lpaps.shift.device != device:
            self.lpaps.to(device)
        return self.lpaps

    def discriminator_loss(self, batch, generator, discriminator):
        adv = getattr(discriminator, "module", discriminator)
        step = int(adv.updates) // self.cfg.grad_accum
        adv.updates += 1
        x = self._input(batch)
        with torch.no_grad():
            x_hat = generator(x)[0]
        real, fake = discriminator(x, x_hat.detach())
        loss = adv.factor(step) * adv.d_loss(real, fake)
        return loss, {"d/loss": loss.detach(), "d/logits_real": real.detach().mean(),
                      "d/logits_fake": fake.detach().mean()}

    def generator_loss(self, batch, generator, discriminator):
        c = self.lcfg
        x = self._input(batch)
        x_hat, qloss, _ = generator(x)
        l1 = (x - x_hat).abs().mean()
        nll = c.pixel_weight * l1
        logs = {"g/rec_l1": l1.detach(), "g/quant_loss": qloss.detach()}
        lpaps = self._lpaps(x.device)
        if lpaps is not None:
            p = lpaps(x, x_hat).mean()
            nll = nll + c.perceptual_weight * p
            logs["g/p_loss"] = p.detach()
        loss = nll + c.codebook_weight * qloss
        if discriminator is not None:
            adv = getattr(discriminator, "module", discriminator)
            step = (int(adv.updates) - 1) // self.cfg.grad_accum  # the discriminator phase of this step counted it
            g = hinge_g_loss(discriminator(x_hat)[0])
            factor = adv.factor(step)
            if factor > 0:
                last = getattr(generator, "module", generator).decoder.conv_out.weight
                lam = adaptive_weight(nll, g, last, lo=c.min_adapt_weight, hi=c.max_adapt_weight,
                                      scale=c.disc_weight)
            else:  # the release computes it and multiplies by 0; the result is the same
                lam = torch.zeros((), device=x.device)
            loss = loss + lam * factor * g
            logs.update({"g/adv": g.detach(), "g/d_weight": lam.detach(), "g/disc_factor": factor})
        logs["g/nll"] = nll.detach()
        logs["g/loss"] = loss.detach()
        return loss, logs

    @torch.no_grad()
    def samples(self, batch, generator):
        x = self._input({"mel": batch["mel"][:1]})
        x_hat = generator(x)[0]
        return {"real": (x[0, 0] + 1) / 2, "reconstructed": ((x_hat[0, 0] + 1) / 2).clamp(0, 1)}


# ----------------------------------------------------------------------------------------------------------------
# Stage 2: the transformer


@dataclass
class SpecVQGANTransformerLoss:
    """``codebook``: the frozen stage 1 (a SpecVQGANCodebook folder: a codebook run's ``final/``, a converted
    release codebook, or the release's codebook run folder itself). ``pkeep``: each input code is kept with this
    probability and replaced by a uniformly random one otherwise (targets stay clean); see docs for the release."""

    codebook: str = ""
    pkeep: float = 1.0
    # model.condition_on_reference only: the reference window and the target window of a pair are at least this far
    # apart in the clip (0: disjoint, possibly adjacent)
    reference_gap_seconds: float = 0.0
    # the release's (minGPT's) optimizer groups: only Linear weights take optim_g.weight_decay; biases, LayerNorm,
    # Embedding, Conv1d / LSTM / GRU embedder weights and pos_emb none. false: every parameter decays
    decay_exempt: bool = True

    def __post_init__(self):
        if not isinstance(self.decay_exempt, bool):
            raise ValueError(f"decay_exempt: expected true or false, got {self.decay_exempt!r}")
        if not (isinstance(self.pkeep, (int, float)) and 0.0 <= self.pkeep <= 1.0):
            raise ValueError(f"pkeep: expected a probability in [0, 1], got {self.pkeep!r}")
        _finite_at_least(self.reference_gap_seconds, 0, "reference_gap_seconds")


def dataset_labels(dataset) -> list:
    """Every training clip's label, read without loading the clips: a prepare cache's index records or the public
    layout's items (through a wrapper's ``dataset``, if any)."""
    inner = dataset
    while not hasattr(inner, "records") and not hasattr(inner, "items") and hasattr(inner, "dataset"):
        inner = inner.dataset
    if hasattr(inner, "records"):  # PreparedDataset
        return [r.get("label") for r in inner.records]
    if isinstance(getattr(inner, "items", None), list):  # SpecVQGANFeatureDataset: (clip, label, ...)
        return [it[1] for it in inner.items]
    return [dataset[i].get("label") for i in range(len(dataset))]


def load_codebook(path: str) -> SpecVQGANCodebook:
    """A frozen codebook from an avgen model folder or the release's codebook run (``configs/`` + ``checkpoints/``)."""
    from ...checkpoints import from_pretrained

    if not path:
        raise ConfigError("loss.codebook: set it to the trained codebook's folder (e.g. <codebook run>/final)")
    if not os.path.isdir(path):
        raise ConfigError(f"loss.codebook: {path}: no such folder")
    if os.path.isdir(os.path.join(path, "checkpoints")) and os.path.isdir(os.path.join(path, "configs")):
        from ...specvqgan_release import load_codebook_run

        model = load_codebook_run(path).codebook
    else:
        model = from_pretrained(path, expected=SpecVQGANCodebook)
    return model.eval().requires_grad_(False)


def corrupt_codes(codes: torch.Tensor, pkeep: float, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """``m z + (1 - m) r`` with ``m ~ Bernoulli(pkeep)`` and ``r`` uniform over the vocabulary, per position
    (the release's ``a_indices``)."""
    if pkeep >= 1.0:
        return codes
    keep = torch.rand(codes.shape, generator=generator) < pkeep
    rand = torch.randint(0, vocab, codes.shape, generator=generator)
    return torch.where(keep.to(codes.device), codes, rand.to(codes.device))


def reference_pairs(mel: torch.Tensor, features: torch.Tensor, *, target_frames: int, reference_frames: int,
                    gap_frames: int, mel_fps: float, fps: float, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target mel ``[B, M, target_frames]``, the target's features ``[B, T', D]`` from its first frame on, reference
    mel ``[B, M, reference_frames]``): two disjoint windows of each clip's segment, at least ``gap_frames`` apart,
    which comes first drawn at random, and where the pair sits in the segment too (conditioning-clip training: a
    reference and a target from two moments of one recording, as CondFoleyGen pairs them)."""
    b, _, t = mel.shape
    slack = t - target_frames - reference_frames - gap_frames
    if slack < 0:
        raise ConfigError(f"data.segment_seconds: a pair needs {target_frames} + {reference_frames} mel frames "
                          f"(+ {gap_frames} of loss.reference_gap_seconds) from one clip, the data gives {t}")
    targets, refs, feats = [], [], []
    for i in range(b):
        lead = int(torch.randint(0, slack + 1, (), generator=generator))
        rest = int(torch.randint(0, slack - lead + 1, (), generator=generator))
        target_first = bool(torch.rand((), generator=generator) < 0.5)
        first_len = target_frames if target_first else reference_frames
        a, c = lead, lead + first_len + gap_frames + rest  # starts of the first and the second window
        ts, rs = (a, c) if target_first else (c, a)
        targets.append(mel[i, :, ts:ts + target_frames])
        refs.append(mel[i, :, rs:rs + reference_frames])
        first = min(round(ts / mel_fps * fps), features.shape[1] - 1)
        feats.append(features[i, first:])
    n = min(f.shape[0] for f in feats)  # the shortest tail; condition_frames pads or trims to feat_len anyway
    return torch.stack(targets), torch.stack([f[:n] for f in feats]), torch.stack(refs)


class SpecVQGANTransformerTask(Task):
    """The GPT over code tokens, primed with visual features. Per clip: the mel is centre-cropped to the codebook's
    ``resolution`` and encoded by the frozen codebook (``z``, ``[H, W]``, column-major sequence of N = H W); the
    features go through the release's conditioning protocol (pad/trim to ``feat_len``, centre crop
    ``feat_crop_len``, even resampling to ``feat_sample_size`` = T frames) and the ``embedder``. The input is
    ``[e(f_1..f_T), tok(a_1..a_{N-1})]`` with ``a`` the codes after :func:`corrupt_codes`; output position
    T - 1 + i predicts z_{i+1}:

    ``L = -1/N sum_i log p(z_i | a_<i, f)`` (cross-entropy on the code positions only; the feature positions
    carry no loss).

    With ``model.condition_on_reference`` each clip's segment gives a pair (:func:`reference_pairs`): a target window
    of ``resolution`` frames with its features, and a reference window of ``reference_columns`` x f frames from
    another moment of the same clip whose codes ``r`` prime the sequence: ``[tok(r), e(f), tok(a_<N)]``, and
    ``L = -1/N sum_i log p(z_i | a_<i, f, r)``."""

    name = "specvqgan_transformer"
    model_config, loss_config = SpecVQGANTransformerConfig, SpecVQGANTransformerLoss

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self.codebook: SpecVQGANCodebook | None = None

    def _model_config(self, cfg, feature_dim, n_mels):
        m = super()._model_config(cfg, feature_dim, n_mels)
        if feature_dim and "feat_dim" in cfg.model and cfg.model["feat_dim"] != feature_dim:
            raise ConfigError(f"model.feat_dim: {cfg.model['feat_dim']} given, but the data's features have "
                              f"{feature_dim}")
        return dataclasses.replace(m, feat_dim=feature_dim) if feature_dim else m

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.data.kind not in ("prepared", "specvqgan"):
            raise ConfigError("data.kind: the transformer trains on mels + visual features; use 'prepared' or "
                              "'specvqgan'")

    def build_generator(self) -> nn.Module:
        self.codebook = load_codebook(self.lcfg.codebook)
        cb, m = self.codebook.config, self.mcfg
        f = self.codebook.downsample_factor
        grid = (self.n_mels // f, cb.resolution // f)
        if tuple(m.code_shape) != grid:
            raise ConfigError(f"model.code_shape: {list(m.code_shape)}, but the codebook {self.lcfg.codebook} turns "
                              f"{self.n_mels} x {cb.resolution} mels into {list(grid)}")
        if m.vocab_size != cb.n_embed:
            raise ConfigError(f"model.vocab_size: {m.vocab_size}, but the codebook {self.lcfg.codebook} has "
                              f"{cb.n_embed} entries")
        if m.condition != "features":  # the class-token variants: one class per distinct training label
            n = len(self.class_names)
            if m.num_classes not in (0, n):
                raise ConfigError(f"model.num_classes: {m.num_classes}, but the training data has {n} labels")
            m = self.mcfg = dataclasses.replace(m, num_classes=n)
        try:
            model = SpecVQGANTransformer(m)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        if m.condition_on_reference and self.cfg.data.segment_seconds is not None:
            need = self._pair_frames(model)
            have = round(self.cfg.data.segment_seconds * self._mel_fps())
            if have < sum(need):
                raise ConfigError(f"data.segment_seconds: {self.cfg.data.segment_seconds} s is {have} mel frames; "
                                  f"a reference pair needs {need[0]} (target) + {need[1]} (reference) + {need[2]} "
                                  "(loss.reference_gap_seconds)")
        return model

    def _mel_fps(self) -> float:
        from ...audio import get_preset

        p = get_preset(self.mel_preset or "specvqgan")
        return p.sample_rate / p.hop_length

    def _fps(self) -> float:
        data = getattr(self, "_data_settings", None) or {}
        return float(data.get("fps") or 21.5)  # the release's feature files: 21.5 fps

    def _pair_frames(self, model: SpecVQGANTransformer) -> tuple[int, int, int]:
        """(target, reference, gap) mel frames of one training pair."""
        f = self.codebook.downsample_factor
        return (self.codebook.config.resolution, model.reference_length // self.mcfg.code_shape[0] * f,
                math.ceil(self.lcfg.reference_gap_seconds * self._mel_fps()))

    def pair(self, batch, model: SpecVQGANTransformer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(target codes ``[B, N]``, conditioning frames ``[B, T, D]``, reference codes ``[B, R]``) of a batch."""
        target, ref, gap = self._pair_frames(model)
        mel, feats, ref_mel = reference_pairs(batch["mel"], batch["features"], target_frames=target,
                                              reference_frames=ref, gap_frames=gap, mel_fps=self._mel_fps(),
                                              fps=self._fps(), generator=self.rng)
        cb = self._codebook(mel.device)
        with torch.no_grad():
            z = grid_to_sequence(cb.encode((2 * mel - 1)[:, None]))
            r = grid_to_sequence(cb.encode((2 * ref_mel - 1)[:, None]))
        return z, model.condition_frames(feats), r

    def _codebook(self, device) -> SpecVQGANCodebook:
        if self.codebook.quant_conv.weight.device != device:
            self.codebook.to(device)
        return self.codebook

    @torch.no_grad()
    def codes(self, mel: torch.Tensor) -> torch.Tensor:
        """Mels ``[B, M, T]`` (data range [0, 1]) -> the target sequence ``[B, N]`` of the frozen codebook."""
        cb = self._codebook(mel.device)
        x = 2 * centre_crop(mel, cb.config.resolution, "loss.codebook (its resolution)") - 1
        return grid_to_sequence(cb.encode(x[:, None]))

    def _model(self, generator) -> SpecVQGANTransformer:
        return getattr(generator, "module", generator)

    def no_weight_decay(self, generator: nn.Module) -> set[str]:
        """The release's exemptions (``loss.decay_exempt``): everything but the Linear layers' weights."""
        if not self.lcfg.decay_exempt:
            return set()
        out = set()
        for mn, m in generator.named_modules():
            for pn, _ in m.named_parameters(recurse=False):
                if pn.endswith("bias") or not isinstance(m, nn.Linear):
                    out.add(f"{mn}.{pn}" if mn else pn)  # pos_emb (the root's own), norms, embeddings, embedders
        return out

    def classes(self, batch, device) -> torch.Tensor | None:
        """The batch's labels as class indices ``[B]`` (the variants with a class token; else None)."""
        if self.mcfg.condition == "features":
            return None
        return torch.tensor([self.class_index[label] for label in batch["label"]], device=device)

    def generator_loss(self, batch, generator, discriminator):
        model = self._model(generator)
        if self.mcfg.condition_on_reference:
            z, feats, r = self.pair(batch, model)
        else:
            z, feats, r = self.codes(batch["mel"]), model.condition_frames(batch["features"]), None
        cls = self.classes(batch, z.device)
        feats = feats if model.uses_features else None  # the class-only variant primes with the class alone
        a = corrupt_codes(z, self.lcfg.pkeep, self.mcfg.vocab_size, self.rng) if generator.training else z
        logits = generator(a[:, :-1], feats, r, cls)[:, -z.shape[1]:]  # [B, N, vocab]: row i predicts z_i
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), z.reshape(-1))
        acc = (logits.detach().argmax(-1) == z).float().mean()
        return loss, {"g/loss": loss.detach(), "g/accuracy": acc}

    @torch.no_grad()
    def samples(self, batch, generator):
        """The target's reconstruction through the codebook, and greedy codes decoded (one clip)."""
        model = self._model(generator)
        one = {"mel": batch["mel"][:1], "features": batch["features"][:1], "label": batch["label"][:1]}
        if self.mcfg.condition_on_reference:
            z, feats, r = self.pair(one, model)
        else:
            z, feats, r = self.codes(one["mel"]), model.condition_frames(one["features"]), None
        h = self.mcfg.code_shape[0]
        greedy = model.sample(feats if model.uses_features else None, top_k=1, reference=r,
                              classes=self.classes(one, z.device))
        cb = self._codebook(z.device)
        to01 = lambda x: ((x[0] + 1) / 2).clamp(0, 1)  # noqa: E731
        return {"codebook": to01(cb.decode(sequence_to_grid(z, h))),
                "sampled": to01(cb.decode(sequence_to_grid(greedy, h)))}

    def export(self, folder, generator, discriminator) -> bool:
        """A SpecVQGANPipeline folder: ``codebook/`` (the frozen stage 1), ``transformer/``, and ``config.json``
        with the mel preset and the data settings (frame rate, visual backbone) inference needs."""
        from ...checkpoints import save_pipeline_config, save_pretrained

        os.makedirs(folder, exist_ok=True)
        save_pretrained(self.codebook.cpu(), os.path.join(folder, "codebook"))
        save_pretrained(generator, os.path.join(folder, "transformer"))
        settings = {"mel_preset": self.mel_preset or "specvqgan", "source": "avgen train", "task": self.name,
                    "condition_on_reference": bool(self.mcfg.condition_on_reference)}
        data = getattr(self, "_data_settings", None)
        if data:
            settings["data"] = data
        save_pipeline_config(folder, "SpecVQGANPipeline", {"codebook": "codebook", "transformer": "transformer"},
                             settings)
        return True

    def attach_dataset(self, dataset) -> None:
        s = getattr(dataset, "settings", None)  # prepare caches: what inference must compute the same way
        if isinstance(s, dict):
            self._data_settings = {k: s[k] for k in ("fps", "visual", "mel", "clip_seconds") if k in s}
            self._data_settings["segment_seconds"] = self.cfg.data.segment_seconds
        if self.mcfg.condition != "features":  # class index = position of the label among the sorted labels
            labels = dataset_labels(dataset)
            if not labels or any(x in (None, "") for x in labels):
                raise ConfigError(f"model.condition: {self.mcfg.condition} trains on class labels, and "
                                  f"{sum(x in (None, '') for x in labels)} of {len(labels)} training clips have none "
                                  "(a prepare manifest's 'label' column; the public layout's class folders)")
            self.class_names = sorted(set(labels))
            self.class_index = {name: i for i, name in enumerate(self.class_names)}
            self._data_settings = {**getattr(self, "_data_settings", {}), "classes": self.class_names}
