#!/usr/bin/env python
"""SpecVQGAN transformer sampling: KV-cached vs full recomputation (the release's way) on the same weights.

    python bench/specvqgan_sampling.py [--device cpu|cuda] [--measure-steps 3] [--whole] [--layers 24 ...]

Each timed step includes the draw (top-k 256, softmax, multinomial). The paper's model (24 layers, 16 heads, 1024 wide, block 477: 212 feature frames + 5 x 53 = 265 codes; random
weights, seeded) draws one 848-frame mel, 848 * 256 / 22050 = 9.85 s of audio. ``--whole`` times both samplers
end to end (``SpecVQGANTransformer.sample`` with ``use_cache`` True/False, same generator seed: the tokens must
agree). Without it (the default on CPU, where the full recompute of all 265 steps takes minutes on a shared
machine) ``--measure-steps`` single steps are timed per sampler at evenly spread positions of the 265 and the
whole run is the sum over all positions of the step times interpolated linearly between them (plus the cached
sampler's one pass over the 212 conditioning frames); the printout says which. Prints the command, the machine,
torch's threads, seconds per 10 s of audio for each sampler and their ratio. ``--varietysound`` also times
VarietySound's one-pass mel synthesis of 10 s in the same run (the bundled default, or a pipeline folder).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SECONDS_PER_GRID = 848 * 256 / 22050  # one 80 x 848 mel at 22.05 kHz, hop 256


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def _interpolated_total(positions: list[int], times: list[float], steps: int) -> float:
    """sum_{p < steps} t(p), t linear between the measured (position, time) pairs, constant beyond them."""
    total = 0.0
    for p in range(steps):
        if p <= positions[0]:
            total += times[0]
        elif p >= positions[-1]:
            total += times[-1]
        else:
            i = next(j for j in range(1, len(positions)) if positions[j] >= p)
            a = (p - positions[i - 1]) / (positions[i] - positions[i - 1])
            total += times[i - 1] + a * (times[i] - times[i - 1])
    return total


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    from avgen.models.v2s.specvqgan import SpecVQGANTransformer, draw_token

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                    help="weights and activations (default float32)")
    ap.add_argument("--layers", type=int, default=24, help="transformer layers (default 24, the paper's)")
    ap.add_argument("--heads", type=int, default=16, help="attention heads (default 16)")
    ap.add_argument("--width", type=int, default=1024, help="embedding width (default 1024)")
    ap.add_argument("--vocab", type=int, default=1024, help="codebook size (default 1024)")
    ap.add_argument("--feat-frames", type=int, default=212, help="conditioning feature frames (default 212)")
    ap.add_argument("--grid", type=int, nargs=2, default=(5, 53), metavar=("H", "W"),
                    help="code grid drawn, H x W tokens (default 5 53: one 848-frame mel)")
    ap.add_argument("--batch", type=int, default=1, help="samples drawn at once (default 1)")
    ap.add_argument("--measure-steps", type=int, default=3, help="single steps timed per sampler (default mode)")
    ap.add_argument("--whole", action="store_true", help="time both samplers end to end instead")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights and the draws (default 0)")
    ap.add_argument("--varietysound", nargs="?", const="default", default=None, metavar="FOLDER",
                    help="also time VarietySound's one-pass mel synthesis for 10 s (the bundled default, or FOLDER)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device, dtype = torch.device(a.device), getattr(torch, a.dtype)
    h, w = a.grid
    steps = h * w
    torch.manual_seed(a.seed)
    model = SpecVQGANTransformer(vocab_size=a.vocab, block_size=a.feat_frames + steps, n_layer=a.layers,
                                 n_head=a.heads, n_embd=a.width, feat_sample_size=a.feat_frames, code_shape=(h, w))
    model = model.eval().requires_grad_(False).to(device, dtype)
    feats = torch.randn(a.batch, a.feat_frames, model.config.feat_dim, device=device, dtype=dtype)
    params = sum(p.numel() for p in model.parameters())

    print(f"command: python {' '.join(sys.argv)}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.node()} | {where} | {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {load:.1f} | torch {torch.__version__}")
    print(f"model: {a.layers} layers, {a.heads} heads, width {a.width}, block {model.config.block_size} "
          f"({a.feat_frames} frames + {steps} codes), {params / 1e6:.0f}M parameters, {a.dtype}, batch {a.batch}")

    with torch.no_grad():
        if a.whole:
            # end to end, same seed: the two samplers must draw the same tokens
            out = {}
            secs = {}
            for use_cache in (True, False):
                gen = torch.Generator(device).manual_seed(a.seed)
                t0 = time.perf_counter()
                out[use_cache] = model.sample(feats, top_k=256, generator=gen, use_cache=use_cache)
                _sync(device)
                secs[use_cache] = time.perf_counter() - t0
            same = torch.equal(out[True], out[False])
            mode = f"measured end to end, {steps} steps each; same tokens: {same}"
            cached, full = secs[True], secs[False]
        else:
            k = max(2, a.measure_steps)
            positions = [round(i * (steps - 1) / (k - 1)) for i in range(k)]
            cond = model.embed_features(feats)
            tok = model.tok_emb(torch.zeros(a.batch, 1, dtype=torch.long, device=device))
            # cached: one pass over the conditioning frames, then one token per step against the cache
            cache = model.new_cache(a.batch, device=device, dtype=dtype)
            prefill = _timed(lambda: (setattr(cache, "length", 0), model._trunk(cond, 0, cache)), device)
            t_cached = []
            gen = torch.Generator(device).manual_seed(a.seed)
            for p in positions:  # the cache holds feat_frames + p entries (their values do not change the cost)
                def step(p=p):
                    cache.length = a.feat_frames + p - 1
                    draw_token(model._trunk(tok, cache.length, cache)[:, -1], top_k=256, generator=gen)
                t_cached.append(_timed(step, device, repeats=2))
            # full recompute: the whole prefix of feat_frames + p positions again
            seq = torch.cat([cond, tok.expand(a.batch, steps, a.width)], dim=1)
            t_full = [_timed(lambda p=p: draw_token(model._trunk(seq[:, :a.feat_frames + p], 0, None)[:, -1],
                                                    top_k=256, generator=gen), device) for p in positions]
            cached = prefill + _interpolated_total(positions, t_cached, steps)
            full = _interpolated_total(positions, t_full, steps)
            mode = (f"estimated from {k} timed steps per sampler at positions {positions} of {steps} (linear "
                    f"between them); cached prefill {prefill:.3f} s, cached steps "
                    f"{', '.join(f'{t * 1e3:.1f}' for t in t_cached)} ms, full steps "
                    f"{', '.join(f'{t * 1e3:.0f}' for t in t_full)} ms")
    per10 = 10.0 / SECONDS_PER_GRID
    vs = None
    if a.varietysound:
        vs = _varietysound_seconds(a.varietysound, device, a.seed)
    print(f"timing: {mode}")
    print(f"KV-cached sampling:      {cached * per10:8.2f} s per 10 s of audio")
    print(f"full recompute sampling: {full * per10:8.2f} s per 10 s of audio")
    print(f"ratio (full / cached):   {full / cached:8.1f}x")
    if vs is not None:
        print(f"VarietySound one pass:   {vs:8.2f} s per 10 s of audio (mel synthesis, {a.varietysound}; "
              f"KV-cached SpecVQGAN / VarietySound = {cached * per10 / vs:.0f}x)")
    return 0


def _varietysound_seconds(folder: str, device: torch.device, seed: int) -> float:
    """Seconds of VarietySound mel synthesis for a 10 s clip (random features at the pipeline's rate, a 5 s
    random reference mel), the step the SpecVQGAN sampler replaces."""
    from avgen.audio import get_preset
    from avgen.generate import VideoToSoundPipeline

    pipe = VideoToSoundPipeline.from_pretrained(None if folder == "default" else folder, device=device)
    p = get_preset(pipe.mel_preset)
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(round(10 * pipe.fps), pipe.generator.config.feature_dim, generator=gen)
    ref = torch.rand(p.n_mels, 431, generator=gen)
    frames = 10 * p.sample_rate // p.hop_length + 1
    return _timed(lambda: pipe.synthesize_mel(feats, ref, frames, generator=gen), device)


if __name__ == "__main__":
    raise SystemExit(main())
