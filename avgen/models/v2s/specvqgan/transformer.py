"""SpecVQGAN's visually conditioned transformer: a GPT over codebook indices primed with frame features.

The sequence is ``[e(f_1) ... e(f_T), tok(z_1) ... tok(z_N)]``: T visual feature frames mapped to the model
width by ``embedder`` (a 1x1 Conv1d 2048 -> n_embd in the release; Linear, LSTM and GRU are its other options),
then the N = H * W code tokens in column-major order (:func:`grid_to_sequence`: the five frequency rows of one
time column, then the next column). Output position T - 1 + i predicts z_{i+1} (eq. 2 of the paper,
``p(z_i | z_<i, f)``). Parameter names follow the minGPT layout of the release's ``transformer.*`` tensors
(``tok_emb``, ``pos_emb``, ``blocks.i.{ln1,ln2,attn.{key,query,value,proj},mlp.{0,2}}``, ``ln_f``, ``head``,
``embedder``); the causal mask the release stores per layer is computed instead.

With ``condition_on_reference`` (beyond the release, as CondFoleyGen builds on SpecVQGAN) a reference clip's R codes
come first: ``[tok(r_1) ... tok(r_R), e(f_1) ... e(f_T), tok(z_1) ... tok(z_N)]`` (:meth:`SpecVQGANTransformer.prime`),
so position R + T - 1 + i predicts z_{i+1}.

The release's class-token variants (``condition``): ``class`` (``GPTClass``) primes the codes with one embedded
class index instead of features, ``[e(c), tok(z)]``; ``features_class`` (``GPTFeatsClass``) with the features and
then the class, ``[e(f_1) ... e(f_T), e(c), tok(z)]``, its embedders named ``feat_embedder`` and ``cls_embedder``.

:meth:`SpecVQGANTransformer.sample` draws the codes autoregressively with temperature and top-k, from an
explicit ``torch.Generator``; with ``use_cache=True`` (default) each step runs only the new token through the
network and attends to cached keys/values (O(N) work per step), with ``use_cache=False`` every step recomputes
the whole prefix as the release does (O(N^2)); both give the same distribution at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from ...config import resolve_config

__all__ = ["SpecVQGANTransformerConfig", "SpecVQGANTransformer", "KVCache", "grid_to_sequence",
           "sequence_to_grid", "column_major_index", "resample_frames", "frame_indices", "condition_frames",
           "top_k_filter", "draw_token"]


@dataclass
class SpecVQGANTransformerConfig:
    """GPT sizes and the conditioning layout; defaults are the release's VAS transformer config (its VGGSound one
    differs in ``vocab_size`` 1024; the README trains variants with ``feat_sample_size`` 5 and 1). ``code_shape``
    is the codebook grid (H, W): 80 x 848 mels give 5 x 53. The conditioning protocol of the release's datasets
    (:func:`condition_frames`): a clip's features are zero-padded or trimmed to ``feat_len`` frames, centre-cropped
    to ``feat_crop_len`` and resampled evenly to ``feat_sample_size`` (:func:`resample_frames`), which precede the
    codes, so ``block_size`` must hold ``feat_sample_size + H * W - 1`` positions (the release uses
    ``H * W + feat_sample_size``). With ``condition_on_reference`` the H x ``reference_columns`` codes of a
    reference clip come first, in the same column-major order, so ``block_size`` must also hold those."""

    vocab_size: int = 128
    block_size: int = 477
    n_layer: int = 24
    n_head: int = 16
    n_embd: int = 1024
    n_unmasked: int = 0  # the first n_unmasked positions attend to each other in both directions
    embd_pdrop: float = 0.0
    resid_pdrop: float = 0.0
    attn_pdrop: float = 0.0
    feat_dim: int = 2048
    feat_len: int = 215  # 10 s at 21.5 fps
    feat_crop_len: int = 212
    feat_sample_size: int = 212
    embedder: Literal["conv1d", "linear", "lstm", "gru"] = "conv1d"
    embedder_layers: int = 1  # LSTM/GRU only
    code_shape: tuple[int, int] = (5, 53)
    # Conditioning-clip (timbre) mode, as CondFoleyGen builds on SpecVQGAN: the sequence is primed with the codes of
    # a reference clip of the same recording, then the target's features: [tok(r_1..r_R), e(f_1..f_T), tok(z)].
    condition_on_reference: bool = False
    reference_columns: int = 0  # code columns of the reference clip; 0: the grid's W (one whole window)
    # The release's three conditionings: "features" (GPTFeats: the feature frames, ``embedder``), "class" (GPTClass:
    # one class token, ``embedder`` an Embedding, no features) and "features_class" (GPTFeatsClass: the feature
    # frames (``feat_embedder``), then the class token (``cls_embedder``)). num_classes: VGGSound's 309, say.
    condition: Literal["features", "class", "features_class"] = "features"
    num_classes: int = 0


# -- the grid <-> sequence order and the frame sampler ------------------------------------------------------------

def column_major_index(height: int, width: int) -> torch.Tensor:
    """The release's ColumnMajor permutation: sequence position i holds row-major cell ``index[i]``."""
    return torch.arange(height * width).reshape(height, width).t().reshape(-1)


def grid_to_sequence(codes: torch.Tensor) -> torch.Tensor:
    """Codes ``[B, H, W]`` -> the transformer's order ``[B, W * H]`` (column by column)."""
    return rearrange(codes, "b h w -> b (w h)")


def sequence_to_grid(seq: torch.Tensor, height: int) -> torch.Tensor:
    """Inverse of :func:`grid_to_sequence`: ``[B, W * H]`` -> ``[B, H, W]`` (any whole number of columns)."""
    if seq.shape[-1] % height:
        raise ValueError(f"a sequence of {seq.shape[-1]} codes is not a whole number of {height}-row columns")
    return rearrange(seq, "b (w h) -> b h w", h=height)


def frame_indices(length: int, size: int) -> torch.Tensor:
    """The release's even frame sampler: ``floor(i * length / size) + length // (size + 1)`` for i < size,
    with the product taken in float64 as ``numpy.linspace(0, length, size, endpoint=False)`` does."""
    if not 0 < size <= length:
        raise ValueError(f"cannot sample {size} frames evenly from {length}")
    step = length / size
    idx = (torch.arange(size, dtype=torch.float64) * step).to(torch.int64)  # truncation, as the int32 cast
    return idx + length // (size + 1)


def resample_frames(features: torch.Tensor, size: int) -> torch.Tensor:
    """Features ``[B, T, D]`` (or ``[T, D]``) -> ``[B, size, D]`` at :func:`frame_indices`."""
    return features.index_select(-2, frame_indices(features.shape[-2], size).to(features.device))


def condition_frames(features: torch.Tensor, *, feat_len: int, feat_crop_len: int,
                     feat_sample_size: int) -> torch.Tensor:
    """The release's conditioning frames from a clip's features ``[B, T, D]``: zero-pad or trim to ``feat_len``,
    keep the centre ``feat_crop_len`` (first frame ``(feat_len - feat_crop_len) // 2``, albumentations'
    CenterCrop), then :func:`resample_frames` to ``feat_sample_size`` -> ``[B, feat_sample_size, D]``."""
    if not feat_sample_size <= feat_crop_len <= feat_len:
        raise ValueError(f"need feat_sample_size <= feat_crop_len <= feat_len, got {feat_sample_size}, "
                         f"{feat_crop_len}, {feat_len}")
    t = features.shape[-2]
    if t < feat_len:  # zeros after the last frame
        pad = features.new_zeros(*features.shape[:-2], feat_len - t, features.shape[-1])
        features = torch.cat([features, pad], dim=-2)
    start = (feat_len - feat_crop_len) // 2
    return resample_frames(features[..., start:start + feat_crop_len, :], feat_sample_size)


def top_k_filter(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Logits below the k-th largest set to -inf (ties with the k-th kept, as in the release)."""
    if k is None:
        return logits
    kth = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def draw_token(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """One sampling step on the last position's logits ``[B, vocab]``: divide by the temperature, keep the top k,
    softmax, one multinomial draw from ``generator`` -> ``[B, 1]`` (top_k=1 is greedy)."""
    probs = top_k_filter(logits / temperature, top_k).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)


# -- the network -----------------------------------------------------------------------------------------------------

class KVCache:
    """Keys and values of every layer for the positions seen so far: ``k``/``v`` ``[n_layer, B, n_head, L, hs]``
    preallocated for ``max_len`` positions; ``length`` of them are filled."""

    def __init__(self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int, *,
                 device: torch.device, dtype: torch.dtype):
        shape = (n_layer, batch, n_head, max_len, head_dim)
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, c: SpecVQGANTransformerConfig):
        super().__init__()
        if c.n_embd % c.n_head:
            raise ValueError("n_embd must be a multiple of n_head")
        self.n_head, self.n_unmasked, self.p_drop = c.n_head, c.n_unmasked, c.attn_pdrop
        self.key = nn.Linear(c.n_embd, c.n_embd)
        self.query = nn.Linear(c.n_embd, c.n_embd)
        self.value = nn.Linear(c.n_embd, c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.resid_drop = nn.Dropout(c.resid_pdrop)

    def mask(self, start: int, length: int, total: int, device) -> torch.Tensor:
        """Which keys ``[0, total)`` the queries at ``[start, start + length)`` see: j <= i, or both < n_unmasked."""
        i = torch.arange(start, start + length, device=device)[:, None]
        j = torch.arange(total, device=device)[None]
        return (j <= i) | ((i < self.n_unmasked) & (j < self.n_unmasked))  # [length, total]

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, c = x.shape
        heads = lambda y: rearrange(y, "b t (h d) -> b h t d", h=self.n_head)  # noqa: E731
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))  # [B, nh, t, hs]
        start = 0
        if cache is not None:  # append the new positions, attend to everything cached
            start = cache.length
            cache.k[layer, :, :, start:start + t] = k
            cache.v[layer, :, :, start:start + t] = v
            k, v = cache.k[layer, :, :, :start + t], cache.v[layer, :, :, :start + t]
        # softmax(q k^T / sqrt(hs) + mask) v
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))  # [B, nh, t, start + t]
        att = att.masked_fill(~self.mask(start, t, start + t, x.device), float("-inf")).softmax(-1)
        att = F.dropout(att, self.p_drop, self.training)
        y = rearrange(att @ v, "b h t d -> b t (h d)")  # [B, t, C]
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))`` (4x width, exact GELU)."""

    def __init__(self, c: SpecVQGANTransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(c.n_embd)
        self.ln2 = nn.LayerNorm(c.n_embd)
        self.attn = CausalSelfAttention(c)
        self.mlp = nn.Sequential(nn.Linear(c.n_embd, 4 * c.n_embd), nn.GELU(), nn.Linear(4 * c.n_embd, c.n_embd),
                                 nn.Dropout(c.resid_pdrop))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class SpecVQGANTransformer(nn.Module):
    """GPT over codebook indices with the feature ``embedder`` prepended (the release's ``GPTFeats``).

    ``forward(codes_seq [B, N], features [B, T, D]) -> logits [B, T + N, vocab]`` (the release's call shape,
    with features time-major); :meth:`code_logits` keeps the N positions that predict the codes; :meth:`sample`
    draws a whole grid."""

    config_class = SpecVQGANTransformerConfig

    def __init__(self, config: SpecVQGANTransformerConfig | None = None, **overrides):
        super().__init__()
        c = self.config = resolve_config(SpecVQGANTransformerConfig, config, overrides)
        h, w = c.code_shape
        if not c.feat_sample_size <= c.feat_crop_len <= c.feat_len:
            raise ValueError("need feat_sample_size <= feat_crop_len <= feat_len")
        if c.reference_columns < 0 or (c.reference_columns and not c.condition_on_reference):
            raise ValueError("reference_columns: a number of code columns >= 0, and only with condition_on_reference")
        if c.condition not in ("features", "class", "features_class"):
            raise ValueError(f"condition must be features, class or features_class, got {c.condition!r}")
        if (c.num_classes < 1) == self.uses_class:
            raise ValueError("num_classes: at least 1 with a class token (condition class / features_class), 0 "
                             "without")
        if self.prime_length + h * w - 1 > c.block_size:
            ref = f"{self.reference_length} reference codes, " if c.condition_on_reference else ""
            raise ValueError(f"block_size {c.block_size} cannot hold {ref}{c.feat_sample_size} feature frames and "
                             f"{h * w} codes")
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, c.block_size, c.n_embd))
        self.drop = nn.Dropout(c.embd_pdrop)
        self.blocks = nn.Sequential(*[Block(c) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        # the conditioning embedders, under the release's names for each variant
        if c.condition == "class":
            self.embedder = nn.Embedding(c.num_classes, c.n_embd)
        elif c.condition == "features_class":
            self.feat_embedder = self._feature_embedder(c)
            self.cls_embedder = nn.Embedding(c.num_classes, c.n_embd)
        else:
            self.embedder = self._feature_embedder(c)
        self.apply(self._init_weights)

    @staticmethod
    def _feature_embedder(c: SpecVQGANTransformerConfig) -> nn.Module:
        if c.embedder == "conv1d":
            return nn.Conv1d(c.feat_dim, c.n_embd, 1)
        if c.embedder == "linear":
            return nn.Linear(c.feat_dim, c.n_embd)
        rnn = nn.LSTM if c.embedder == "lstm" else nn.GRU
        return rnn(c.feat_dim, c.n_embd, num_layers=c.embedder_layers, batch_first=True)

    @property
    def uses_features(self) -> bool:
        """Whether feature frames prime the codes (condition ``features`` or ``features_class``)."""
        return self.config.condition != "class"

    @property
    def uses_class(self) -> bool:
        """Whether a class token primes the codes (condition ``class`` or ``features_class``)."""
        return self.config.condition != "features"

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # GPT-2 initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @property
    def reference_length(self) -> int:
        """Reference code tokens that prime the sequence: H x ``reference_columns`` (0 without the option)."""
        c = self.config
        if not c.condition_on_reference:
            return 0
        return c.code_shape[0] * (c.reference_columns or c.code_shape[1])

    @property
    def prime_length(self) -> int:
        """Positions before the first code: the reference codes (with the option), the feature frames and the
        class token (each when the variant has them)."""
        return (self.reference_length + (self.config.feat_sample_size if self.uses_features else 0) +
                int(self.uses_class))

    def prime(self, features: torch.Tensor | None, reference: torch.Tensor | None = None,
              classes: torch.Tensor | None = None) -> torch.Tensor:
        """The embeddings the code tokens follow ``[B, P, n_embd]``: ``e(features)`` and/or the class token
        ``e(classes)`` (``[B]`` or ``[B, 1]`` indices; features first, as GPTFeatsClass), after ``tok(reference)``
        with ``condition_on_reference`` (``reference``: codes ``[B, H, R_cols]`` or sequence order
        ``[B, H R_cols]``)."""
        cond = self._condition(features, classes)  # [B, T (+ 1), C]
        if not self.config.condition_on_reference:
            if reference is not None:
                raise ValueError("this transformer was not trained with condition_on_reference: it takes no "
                                 "reference codes")
            return cond
        if reference is None:
            raise ValueError("this transformer is conditioned on a reference clip (condition_on_reference): pass "
                             "its codes")
        ref = grid_to_sequence(reference) if reference.ndim == 3 else reference
        if ref.shape != (cond.shape[0], self.reference_length) or ref.is_floating_point():
            raise ValueError(f"reference codes: expected {cond.shape[0]} x {self.reference_length} indices, got "
                             f"{ref.dtype} {tuple(reference.shape)}")
        return torch.cat([self.tok_emb(ref.long().to(cond.device)), cond], dim=1)  # [B, R + T, C]

    def condition_frames(self, features: torch.Tensor) -> torch.Tensor:
        """A clip's features ``[B, T, D]`` -> the ``feat_sample_size`` frames this model was trained on
        (:func:`condition_frames` with the config's ``feat_len``/``feat_crop_len``)."""
        c = self.config
        return condition_frames(features, feat_len=c.feat_len, feat_crop_len=c.feat_crop_len,
                                feat_sample_size=c.feat_sample_size)

    def _condition(self, features: torch.Tensor | None, classes: torch.Tensor | None) -> torch.Tensor:
        """The variant's conditioning embeddings: ``[e(f_1..f_T)]``, ``[e(class)]`` or ``[e(f_1..f_T), e(class)]``."""
        c = self.config
        if (features is None) == self.uses_features:
            raise ValueError(f"this transformer (condition {c.condition}) " +
                             ("needs features" if self.uses_features else "takes no features, only a class"))
        if (classes is None) == self.uses_class:
            raise ValueError(f"this transformer (condition {c.condition}) " +
                             ("needs classes (one index per clip)" if self.uses_class else "takes no class"))
        parts = [self.embed_features(features)] if self.uses_features else []  # [B, T, C]
        if self.uses_class:
            idx = classes.reshape(-1, 1) if classes.ndim <= 1 else classes  # [B, 1]
            if idx.shape[1] != 1 or idx.is_floating_point() or (parts and idx.shape[0] != parts[0].shape[0]):
                raise ValueError(f"classes: one integer index per clip, got {idx.dtype} {tuple(classes.shape)}")
            if bool(((idx < 0) | (idx >= c.num_classes)).any()):
                raise ValueError(f"classes: indices must lie in [0, {c.num_classes}), got {idx.reshape(-1).tolist()}")
            emb = self.embedder if c.condition == "class" else self.cls_embedder
            parts.append(emb(idx.long().to(self.pos_emb.device)))  # [B, 1, C]
        return torch.cat(parts, dim=1)

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """Frame features ``[B, T, D]`` -> conditioning embeddings ``[B, T, n_embd]``."""
        if features.ndim != 3 or features.shape[-1] != self.config.feat_dim:
            raise ValueError(f"expected features [B, T, {self.config.feat_dim}], got {tuple(features.shape)}")
        if not self.uses_features:
            raise ValueError(f"this transformer (condition {self.config.condition}) has no feature embedder")
        emb = self.feat_embedder if self.config.condition == "features_class" else self.embedder
        if isinstance(emb, nn.Conv1d):
            return emb(features.transpose(1, 2)).transpose(1, 2)
        if isinstance(emb, nn.Linear):
            return emb(features)
        return emb(features)[0]

    def _trunk(self, x: torch.Tensor, start: int, cache: KVCache | None) -> torch.Tensor:
        """Embeddings ``[B, t, C]`` at positions ``[start, start + t)`` -> logits ``[B, t, vocab]``."""
        if start + x.shape[1] > self.config.block_size:
            raise ValueError(f"{start + x.shape[1]} positions exceed block_size {self.config.block_size}")
        x = self.drop(x + self.pos_emb[:, start:start + x.shape[1]])
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length = start + x.shape[1]
        return self.head(self.ln_f(x))

    def forward(self, codes: torch.Tensor, features: torch.Tensor | None,
                reference: torch.Tensor | None = None, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Code tokens ``[B, N]`` (sequence order) after features ``[B, T, D]`` and/or the class token (``classes``
        ``[B]``, the variants with one) (and, with ``condition_on_reference``, after the reference codes ``[B, R]``
        before them) -> logits ``[B, P + N, vocab]``, P the primed positions (:meth:`prime`)."""
        x = torch.cat([self.prime(features, reference, classes), self.tok_emb(codes)], dim=1)  # [B, P + N, C]
        return self._trunk(x, 0, None)

    def code_logits(self, codes: torch.Tensor, features: torch.Tensor | None,
                    reference: torch.Tensor | None = None, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: logits ``[B, N, vocab]`` whose row i predicts ``codes[:, i]`` (the training target)."""
        logits = self(codes[:, :-1], features, reference, classes)  # [B, P + N - 1, vocab]
        return logits[:, -codes.shape[1]:]  # from position P - 1 on

    def new_cache(self, batch: int, *, device=None, dtype=None) -> KVCache:
        c = self.config
        p = self.pos_emb
        return KVCache(c.n_layer, batch, c.n_head, c.block_size, c.n_embd // c.n_head,
                       device=device or p.device, dtype=dtype or p.dtype)

    @torch.no_grad()
    def sample(self, features: torch.Tensor | None, *, steps: int | None = None,
               prefix: torch.Tensor | None = None, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None, use_cache: bool = True,
               reference: torch.Tensor | None = None, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``steps`` code tokens (default: the whole grid after ``prefix``) after features ``[B, T, D]``
        (already resampled to the trained ``feat_sample_size``; None for the class-only variant) and optional
        given first tokens ``prefix`` ``[B, n]``; returns ``[B, n + steps]`` in sequence order
        (:func:`sequence_to_grid` gives the grid). ``reference``: the reference clip's codes, with
        ``condition_on_reference``; ``classes`` ``[B]``: the class of each clip, for the variants with a class token
        (:meth:`prime`). Each step is :func:`draw_token`."""
        if temperature <= 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be finite and positive, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        cond = self.prime(features, reference, classes)  # [B, P, C]
        b = cond.shape[0]
        h, w = self.config.code_shape
        seq = (prefix.long().to(cond.device) if prefix is not None
               else torch.zeros(b, 0, dtype=torch.long, device=cond.device))
        steps = h * w - seq.shape[1] if steps is None else steps
        if use_cache and self.config.n_unmasked > cond.shape[1] + seq.shape[1]:
            # positions that see later ones would change as tokens arrive: only recomputation is exact
            raise ValueError(f"n_unmasked {self.config.n_unmasked} reaches past the {cond.shape[1] + seq.shape[1]} "
                             "given positions; sample with use_cache=False")
        cache = self.new_cache(b, device=cond.device, dtype=cond.dtype) if use_cache else None
        pending = torch.cat([cond, self.tok_emb(seq)], dim=1)  # what the network has not seen yet
        for _ in range(steps):
            if cache is not None:  # only the new positions; the rest is in the cache
                logits = self._trunk(pending, cache.length, cache)[:, -1]
            else:  # the whole prefix again, as the release does
                logits = self._trunk(torch.cat([cond, self.tok_emb(seq)], dim=1), 0, None)[:, -1]
            nxt = draw_token(logits, temperature=temperature, top_k=top_k, generator=generator)  # [B, 1]
            seq = torch.cat([seq, nxt], dim=1)
            pending = self.tok_emb(nxt)
        return seq
