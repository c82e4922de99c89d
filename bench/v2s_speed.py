#!/usr/bin/env python
"""Seconds per 10 s of generated audio for `avgen v2s`, split into visual features / mel synthesis / vocoder.

    python bench/v2s_speed.py [--checkpoint DIR] [--device cpu|cuda] [--repeats 3] [--video CLIP]

Input: a 10 s synthetic 25 fps 320x240 video (or --video). The visual features are timed three ways per repeat,
interleaved so all see the same machine load, in an order that rotates from one repeat to the next: the current
path (``VideoToSoundPipeline.video_features``: frames decoded straight to the encoder's 256 side by FFmpeg's
scaler, as ``avgen prepare`` reads them, batches of 32, the next batch decoded in a thread meanwhile), the same
without that decode-ahead thread, and the previous path (full-size frames, resized by
torch's antialiased interpolation a few at a time in ``VisualEncoder.encode_stream``, the same folded
EfficientNet-Lite0). Ratios are printed, with the largest feature
difference between previous and current (not float rounding: the two resizes differ; the current one is what the
prepared training caches hold). The same run also times the baseline FeatureToMel regressor (same features, same
mel length) so the mel-synthesis figure has a peer, and reports every stage as a real-time factor (seconds of
compute per second of audio), and the `avgen v2s` work without the vocoder (reference mel + features + synthesis).
For a checkpoint that takes pixel motion (``model.pixel_motion_dim``) the pipeline's whole visual pass, features
and motion from one decode (``VideoToSoundPipeline.video_inputs``), is timed too and counts in the total.
Prints the command, the machine (with its load average and this process's niceness) and torch's threads; best of
--repeats.
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


def old_video_features(pipe, video, batch_size: int = 32):
    """The feature path `avgen v2s` used before it read videos as `avgen prepare` does: full-size RGB frames from
    the decoder, resized by torch's antialiased interpolation a few at a time (``VisualEncoder.encode_stream``)."""
    from avgen.media import iter_video, probe

    with torch.no_grad():
        feats = pipe.encoder.encode_stream(iter_video(video, fps=pipe.fps), batch_size=batch_size)
    return feats, float(probe(video).video_duration)


def sequential_video_features(pipe, video, batch_size: int = 32):
    """The current path without its decode-ahead thread: decoding, scaling and the backbone take turns."""
    from avgen.encoders.frames import iter_frame_batches
    from avgen.media import probe

    enc = pipe.encoder
    feats = enc.encode_batches(iter_frame_batches(video, fps=pipe.fps, resize=enc.pre.resize, batch_size=batch_size,
                                                  prefetch=0))
    return feats, float(probe(video).video_duration)


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

    paths = {"current": lambda: pipe.video_features(video),
             "sequential": lambda: sequential_video_features(pipe, video),
             "previous": lambda: old_video_features(pipe, video)}
    best, result = {k: float("inf") for k in paths}, {}
    names = list(paths)
    for r in range(a.repeats):  # interleaved, every path sees the same load; the order rotates each round
        for k in names[r % 3:] + names[:r % 3]:  # (the path timed first in a round came out slower in earlier runs)
            t, result[k] = _timed(paths[k], 1)
            best[k] = min(best[k], t)
    t_feat, t_seq, t_old = best["current"], best["sequential"], best["previous"]
    (feats, duration), (seq_feats, _), (old_feats, _) = result["current"], result["sequential"], result["previous"]
    feature_diff = float((feats - old_feats).abs().max())
    seq_diff = float((feats - seq_feats).abs().max())
    n = round(duration * preset.sample_rate)
    frames = n // preset.hop_length + 1
    motion, t_inputs = None, t_feat
    if pipe.takes_motion:  # the pipeline's whole visual pass: features and pixel motion from one decode
        t_inputs, (_, motion, _) = _timed(lambda: pipe.video_inputs(video), a.repeats)
    t_mel, mel = _timed(lambda: pipe.synthesize_mel(feats, ref, frames, generator=gen, motion=motion), a.repeats)
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
          f"{os.getloadavg()[0]:.1f}, nice {os.nice(0)}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {pipe.device}"
          + (f" ({torch.cuda.get_device_name()})" if pipe.device.type == "cuda" else ""))
    kind = pipe.motion_kind if motion is not None else "none"
    print(f"video: {duration:.2f} s; best of {a.repeats}; pixel motion: {kind}; seconds per 10 s of audio:")
    total = t_inputs + t_mel + t_voc
    rows = [("visual features", t_feat)]
    if motion is not None:
        rows.append(("features + pixel motion", t_inputs))  # one decode for both (the kind: printed above)
    for name, t in (*rows, ("mel synthesis (VarietySound)", t_mel),
                    (f"vocoder ({pipe.vocoder_name})", t_voc), ("total", total)):
        print(f"  {name:32s} {t * scale:8.3f} s   (real-time factor {t / duration:.3f})")
    print(f"  {'peer: FeatureToMel baseline':32s} {t_base * scale:8.3f} s   "
          f"(VarietySound / baseline = {t_mel / t_base:.1f}x)")
    print(f"  {'peer: without decode-ahead':32s} {t_seq * scale:8.3f} s   "
          f"(without / current = {t_seq / t_feat:.2f}x; features differ by at most {seq_diff:.1e})")
    print(f"  {'peer: previous feature path':32s} {t_old * scale:8.3f} s   "
          f"(previous / current = {t_old / t_feat:.2f}x; the resizes differ: features by at most {feature_diff:.2f})")
    print(f"video: {duration:.2f} s; avgen v2s without the vocoder (reference + features + synthesis), this video: "
          f"{t_ref + t_inputs + t_mel:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
