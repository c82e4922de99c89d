#!/usr/bin/env python
"""Vocoder resynthesis quality and CPU speed on real clips, all vocoders in one run.

    python bench/vocoder.py [--clips ../shared/data/vggsound_samples/video] [--seconds 10] [--threads 2]
                            [--vocoders griffin-lim,specvqgan-bridge,specvqgan-bridge:zero,hifigan-universal]
                            [--corpus /work/corpus [--corpus-count 24]]

With ``--corpus`` (a folder built by ``tools/make_sound_corpus.py``) a second set is scored in the same run: one event
(at least 1 s long) from each of ``--corpus-count`` recordings of the held-out side of ``split_corpus(by="recording",
seed=0)``, Debian-packaged recordings that no avgen model or vocoder was trained or fine-tuned on.

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


def _clip_items(folder: str, seconds: float) -> list[tuple[str, torch.Tensor]]:
    items = []
    for path in sorted(glob.glob(os.path.join(folder, "*.mp4"))):
        wav, sr = read_audio(path, sample_rate=22050, mono=True, duration=seconds)
        items.append((os.path.basename(path), torch.as_tensor(wav).float().reshape(-1)[: round(seconds * sr)]))
    return items


def _corpus_items(folder: str, count: int) -> list[tuple[str, torch.Tensor]]:
    """One event of >= 1 s from each of ``count`` held-out recordings (sorted by id, so the set is fixed)."""
    from avgen.data.sound_corpus import read_manifest, split_corpus

    rows = read_manifest(os.path.join(folder, "manifest.jsonl"))
    held_out = split_corpus(rows, by="recording", test_fraction=0.2, seed=0)["test"]
    chosen, seen = [], set()
    for r in sorted(held_out, key=lambda r: r["id"]):
        if r["duration"] >= 1.0 and r["recording"] not in seen:
            seen.add(r["recording"])
            chosen.append(r)
    step = max(1, len(chosen) // count)  # spread over the sorted ids (and so over packages)
    items = []
    for r in chosen[::step][:count]:
        wav, _ = read_audio(os.path.join(folder, r["path"]), sample_rate=22050, mono=True)
        items.append((r["id"], torch.as_tensor(wav).float().reshape(-1)))
    return items


def _score_set(title: str, items, vocs: dict) -> None:
    """Resynthesise every item with every vocoder; print per-item lines and the table of means."""
    names = list(vocs)
    totals = {n: {m: 0.0 for m in METRICS} for n in names}
    audio_seconds = 0.0
    for name, ref in items:
        audio_seconds += len(ref) / 22050
        outs = {}
        for n, voc in vocs.items():
            mel = mel_spectrogram(ref, voc.mel_preset)
            t0 = time.perf_counter()
            outs[n] = voc(mel[None], generator=torch.Generator().manual_seed(0))[0]
            totals[n]["sec_per_10s"] += time.perf_counter() - t0
        n_common = min([len(ref)] + [len(o) for o in outs.values()])
        line = [name]
        for n, out in outs.items():
            s = scores(ref[:n_common], out[:n_common])
            for k, v in s.items():
                totals[n][k] += v
            line.append(f"{n} sc={s['mrstft_sc']:.3f}")
        print("  " + "  ".join(line), flush=True)
    k = len(items)
    rows = {n: {m: (v / audio_seconds * 10.0 if m == "sec_per_10s" else v / k) for m, v in t.items()}
            for n, t in totals.items()}
    base = rows.get("griffin-lim")
    print(f"\n{title}: {k} items, {audio_seconds:.1f} s of audio; means over items (lower is better)\n")
    print("| vocoder (input preset) | " + " | ".join(METRICS) + " |")
    print("|" + " --- |" * (len(METRICS) + 1))
    for n, r in rows.items():
        cells = []
        for m in METRICS:
            cell = f"{r[m]:.4f}" if m != "sec_per_10s" else f"{r[m]:.2f}"
            if base is not None and n != "griffin-lim":
                cell += f" ({r[m] / base[m]:.2f}x)"
            cells.append(cell)
        print(f"| {n} ({vocs[n].mel_preset}) | " + " | ".join(cells) + " |")
    print()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                     "data", "vggsound_samples", "video"),
                    help="folder of real clips whose audio is resynthesised (default: ../shared/data/vggsound_samples/video)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of each clip used (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--vocoders", default="griffin-lim,specvqgan-bridge,specvqgan-bridge:zero,hifigan-universal",
                    help="comma-separated vocoders to score (default: all four)")
    ap.add_argument("--corpus", default=None, help="a sound corpus folder (tools/make_sound_corpus.py): also score "
                                                   "held-out Debian-packaged recordings")
    ap.add_argument("--corpus-count", type=int, default=24, help="recordings taken from the corpus (default 24)")
    args = ap.parse_args(argv)
    if args.corpus and not os.path.isfile(os.path.join(args.corpus, "manifest.jsonl")):
        raise SystemExit(f"--corpus {args.corpus}: no manifest.jsonl (build it with tools/make_sound_corpus.py)")
    torch.set_num_threads(args.threads)
    names = args.vocoders.split(",")
    print("command: python " + " ".join([os.path.relpath(__file__)] + (argv if argv is not None else sys.argv[1:])))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    clips = _clip_items(args.clips, args.seconds)
    if not clips:
        raise SystemExit(f"no .mp4 clips in {args.clips}")
    vocs = {n: (vocoders.load("specvqgan-bridge", device="cpu", out_of_band="zero") if n == "specvqgan-bridge:zero"
                else vocoders.load(n, device="cpu")) for n in names}
    _score_set("VGGSound sample clips", clips, vocs)
    if args.corpus:
        _score_set("held-out Debian recordings", _corpus_items(args.corpus, args.corpus_count), vocs)


if __name__ == "__main__":
    main()
