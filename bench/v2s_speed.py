#!/usr/bin/env python
"""Seconds per 10 s of generated audio for `avgen v2s`, split into visual features / mel synthesis / vocoder.

    python bench/v2s_speed.py [--checkpoint DIR] [--device cpu|cuda] [--repeats 3] [--video CLIP]

Input: a 10 s synthetic 25 fps 320x240 video (or --video). The visual features are timed twice per repeat,
interleaved so both see the same machine load: the previous path (decode full-size frames, stack 64 of them, convert
the batch to float and resize it, then EfficientNet-Lite0 op by op) and the current one (frames resized a few at a
time as they are decoded, channels-last batches of 32, batch norms folded: ``VideoToSoundPipeline.video_features``);
their ratio is printed, with the largest feature difference between them. The same run also times the baseline FeatureToMel regressor (same features,
same mel length) so the mel-synthesis figure has a peer, and reports every stage as a real-time factor (seconds of
compute per second of audio), and the `avgen v2s` work without the vocoder (reference mel + features + synthesis).
Prints the command, the machine (with its load average) and torch's threads; best of --repeats.
"""

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch


def _timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def old_video_features(pipe, video, batch_size: int = 64):
    """The feature path `avgen v2s` used before (#18): full-size frames stacked 64 at a time, the whole batch
    converted to float and resized by ``VisualEncoder.preprocess``, then the backbone op by op (EfficientNet-Lite0's
    ``features_reference``: convolution, batch norm, ReLU6, contiguous tensors)."""
    from avgen.media import iter_video, probe

    enc = pipe.encoder
    embed = getattr(enc.net, "features_reference", None) if enc.backbone_name == "efficientnet-lite0" else None
    embed = embed or enc._embed

    def encode(frames):
        with torch.no_grad():
            return embed(enc.preprocess(np.stack(frames))).float().cpu()

    chunks, batch = [], []
    for frame in iter_video(video, fps=pipe.fps):
        batch.append(frame)
        if len(batch) == batch_size:
            chunks.append(encode(batch))
            batch = []
    if batch:
        chunks.append(encode(batch))
    return torch.cat(chunks), float(probe(video).video_duration)


def main() -> int:
    from avgen.audio import get_preset
    from avgen.generate import VideoToSoundPipeline
    from avgen.media import write_video
    from avgen.models.v2s.feature2mel import FeatureToMel

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="VarietySound pipeline folder (default: the bundled one)")
    p.add_argument("--video", default=None, help="input video (default: a 10 s synthetic 25 fps 320x240 clip)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per stage, best kept (default 3)")
    p.add_argument("--reference", default=None, help="reference audio (default: the bundled example)")
    a = p.parse_args()
    pipe = VideoToSoundPipeline.from_pretrained(a.checkpoint, device=a.device)
    video = a.video
    if video is None:
        rng = np.random.default_rng(0)
        frames = np.clip(rng.normal(128, 40, (250, 240, 320, 3)), 0, 255).astype(np.uint8)
        video = os.path.join(tempfile.mkdtemp(), "bench.mp4")
        write_video(video, frames, 25)
    ref = torch.rand(80, 431)  # 5 s reference mel
    preset = get_preset(pipe.mel_preset)
    gen = torch.Generator().manual_seed(0)

    t_feat = t_old = float("inf")
    for _ in range(a.repeats):  # interleaved: old and new see the same load
        t, (feats, duration) = _timed(lambda: pipe.video_features(video), 1)
        t_feat = min(t_feat, t)
        t, (old_feats, _) = _timed(lambda: old_video_features(pipe, video), 1)
        t_old = min(t_old, t)
    feature_diff = float((feats - old_feats).abs().max())
    n = round(duration * preset.sample_rate)
    frames = n // preset.hop_length + 1
    t_mel, mel = _timed(lambda: pipe.synthesize_mel(feats, ref, frames, generator=gen), a.repeats)
    baseline = FeatureToMel(feature_dim=feats.shape[1]).eval().to(pipe.device)
    with torch.no_grad():
        t_base, _ = _timed(lambda: baseline(feats[None].to(pipe.device), frames), a.repeats)
    t_voc, _ = _timed(lambda: pipe.vocode(mel, n, generator=gen), a.repeats)
    reference = a.reference or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "avgen",
                                            "assets", "example_reference.flac")
    t_ref, _ = _timed(lambda: pipe.reference_summary(reference), a.repeats)
    scale = 10.0 / duration
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {pipe.device}"
          + (f" ({torch.cuda.get_device_name()})" if pipe.device.type == "cuda" else ""))
    print(f"video: {duration:.2f} s; best of {a.repeats}; seconds per 10 s of audio:")
    total = t_feat + t_mel + t_voc
    for name, t in (("visual features", t_feat), ("mel synthesis (VarietySound)", t_mel),
                    (f"vocoder ({pipe.vocoder_name})", t_voc), ("total", total)):
        print(f"  {name:32s} {t * scale:8.3f} s   (real-time factor {t / duration:.3f})")
    print(f"  {'peer: FeatureToMel baseline':32s} {t_base * scale:8.3f} s   "
          f"(VarietySound / baseline = {t_mel / t_base:.1f}x)")
    print(f"  {'peer: previous feature path':32s} {t_old * scale:8.3f} s   "
          f"(previous / current = {t_old / t_feat:.2f}x; features differ by at most {feature_diff:.1e})")
    print(f"video: {duration:.2f} s; avgen v2s without the vocoder (reference + features + synthesis), this video: "
          f"{t_ref + t_feat + t_mel:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
