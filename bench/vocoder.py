#!/usr/bin/env python
"""Vocoder resynthesis quality and CPU speed on real clips, all vocoders in one run.

    python bench/vocoder.py [--clips ../shared/data/vggsound_samples/video] [--seconds 10] [--threads 2]
                            [--vocoders griffin-lim,specvqgan-bridge,specvqgan-bridge:zero,hifigan-universal]

Each clip's audio (22050 Hz mono, the first ``--seconds``) is analysed with the vocoder's own preset (``specvqgan``
for griffin-lim and specvqgan-bridge; ``hifigan`` for hifigan-universal, the reference ceiling: the universal
generator on its own analysis) and resynthesised; ``specvqgan-bridge:zero`` is the bridge with
``out_of_band="zero"`` (the bins outside 125-7600 Hz left silent instead of held at the edge bins' level). Against
the original it prints the multi-resolution STFT distance (spectral convergence ``||S - S'||_F / ||S||_F`` and
log-magnitude L1 ``mean |ln S - ln S'|`` with S floored at 1e-5, Hann windows of 512/1024/2048 with hop n/4,
averaged over the three) and the log-mel L1 in both presets' analyses (``specvqgan``: [0, 1] units; ``hifigan``:
natural log), each averaged over the clips, plus the seconds of vocoding per 10 s of audio (on CPU with
``torch.set_num_threads(--threads)``), and the ratios against griffin-lim. Lower is better everywhere. Prints the
command, machine, torch version and threads.
"""

import argparse
import glob
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avgen import vocoders  # noqa: E402
from avgen.audio import mel_spectrogram  # noqa: E402
from avgen.media import read_audio  # noqa: E402

FFT_SIZES = (512, 1024, 2048)
METRICS = ("mrstft_sc", "mrstft_logmag", "mel_l1_specvqgan", "mel_l1_hifigan", "sec_per_10s")


def mr_stft(ref: torch.Tensor, est: torch.Tensor) -> tuple[float, float]:
    sc, lm = [], []
    for n in FFT_SIZES:
        w = torch.hann_window(n, dtype=torch.float64)
        s, e = (torch.stft(x.double(), n, n // 4, window=w, return_complex=True).abs() for x in (ref, est))
        sc.append(float(torch.linalg.norm(s - e) / torch.linalg.norm(s).clamp_min(1e-12)))
        lm.append(float((s.clamp_min(1e-5).log() - e.clamp_min(1e-5).log()).abs().mean()))
    return sum(sc) / len(sc), sum(lm) / len(lm)


def scores(ref: torch.Tensor, est: torch.Tensor) -> dict:
    sc, lm = mr_stft(ref, est)
    return {"mrstft_sc": sc, "mrstft_logmag": lm,
            "mel_l1_specvqgan": float((mel_spectrogram(ref, "specvqgan") - mel_spectrogram(est, "specvqgan"))
                                      .abs().mean()),
            "mel_l1_hifigan": float((mel_spectrogram(ref, "hifigan") - mel_spectrogram(est, "hifigan")).abs().mean())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                     "data", "vggsound_samples", "video"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocoders", default="griffin-lim,specvqgan-bridge,specvqgan-bridge:zero,hifigan-universal")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.vocoders.split(",")
    print("command: python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    paths = sorted(glob.glob(os.path.join(args.clips, "*.mp4")))
    if not paths:
        raise SystemExit(f"no .mp4 clips in {args.clips}")
    vocs = {n: (vocoders.load("specvqgan-bridge", device="cpu", out_of_band="zero") if n == "specvqgan-bridge:zero"
                else vocoders.load(n, device="cpu")) for n in names}
    totals = {n: {m: 0.0 for m in METRICS} for n in names}
    audio_seconds = 0.0
    for path in paths:
        wav, sr = read_audio(path, sample_rate=22050, mono=True, duration=args.seconds)
        ref = torch.as_tensor(wav).float().reshape(-1)[: round(args.seconds * sr)]
        audio_seconds += len(ref) / sr
        outs = {}
        for n, voc in vocs.items():
            mel = mel_spectrogram(ref, voc.mel_preset)
            t0 = time.perf_counter()
            outs[n] = voc(mel[None], generator=torch.Generator().manual_seed(0))[0]
            totals[n]["sec_per_10s"] += time.perf_counter() - t0
        n_common = min([len(ref)] + [len(o) for o in outs.values()])
        line = [os.path.basename(path)]
        for n, out in outs.items():
            s = scores(ref[:n_common], out[:n_common])
            for k, v in s.items():
                totals[n][k] += v
            line.append(f"{n} sc={s['mrstft_sc']:.3f}")
        print("  " + "  ".join(line), flush=True)
    k = len(paths)
    rows = {n: {m: (v / audio_seconds * 10.0 if m == "sec_per_10s" else v / k) for m, v in t.items()}
            for n, t in totals.items()}
    base = rows.get("griffin-lim")
    print(f"\n{k} clips, {audio_seconds:.1f} s of audio; means over clips (lower is better)\n")
    head = "| vocoder (input preset) | " + " | ".join(METRICS) + " |"
    print(head)
    print("|" + " --- |" * (len(METRICS) + 1))
    for n, r in rows.items():
        cells = []
        for m in METRICS:
            cell = f"{r[m]:.4f}" if m != "sec_per_10s" else f"{r[m]:.2f}"
            if base is not None and n != "griffin-lim":
                cell += f" ({r[m] / base[m]:.2f}x)"
            cells.append(cell)
        print(f"| {n} ({vocs[n].mel_preset}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
