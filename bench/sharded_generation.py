#!/usr/bin/env python
"""Sharded batch generation: `avgen v2s --manifest` in one process vs N processes under `accelerate launch`, in the
same run, as a ratio.

    python bench/sharded_generation.py [--rows 8] [--seconds 2] [--processes 2] [--repeats 2]
                                       [--vocoder griffin-lim] [--one-thread-peer] [--omp-wait-policy PASSIVE]
                                       [--keep DIR]

The manifest is CPU-bound on purpose: ``--rows`` synthetic 320x240 25 fps clips of ``--seconds`` each with one
reference, on ``--device cpu`` (the visual encoder is most of the work per row). One process runs with torch's own
thread count (every core); the N processes run under ``accelerate launch --multi_gpu --num_processes N`` on the CPU
with avgen's default under a launcher (cores / N threads each). Each configuration writes into a fresh folder; the
two are interleaved ``--repeats`` times and the best wall time of each is kept (the machine may be shared). Wall
time includes starting Python, loading the model in every process and, for N processes, the launcher. Prints the
command, the machine (with its load average before and after), each run, the ratio one / N processes, and whether
the outputs are equal (byte for byte; otherwise the largest sample difference: the thread counts differ, which
changes float rounding). ``--one-thread-peer`` adds a third configuration, one process with ``--threads 1``: it
separates what sharding gains from what torch's intra-op threads lose on a loaded machine, and its files must equal
the sharded run's byte for byte (the same thread count per process). Every run gets ``OMP_WAIT_POLICY=PASSIVE``
unless ``--omp-wait-policy`` says otherwise: with libgomp's default spin-waiting, a 2-thread process on a machine
where other jobs want the cores spends most of its time spinning, which would make the comparison about that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_inputs(root: str, rows: int, seconds: float) -> str:
    """``rows`` different clips (a bright square crossing a gradient, another speed each) and one reference."""
    import av

    from avgen.media import write_audio

    fps, w, h = 25, 320, 240
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx * 255 // (w - 1)) ^ (yy * 255 // (h - 1))).astype(np.uint8)
    lines = []
    for r in range(rows):
        path = os.path.join(root, f"clip{r:02d}.mp4")
        with av.open(path, "w") as c:
            s = c.add_stream("libx264", rate=fps)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.options = {"preset": "ultrafast", "crf": "23"}
            for i in range(round(seconds * fps)):
                frame = np.stack([base, np.roll(base, 3 * i, axis=1), base], -1)
                x = (i * (4 + r)) % (w - 40)
                frame[100:140, x:x + 40] = 255
                for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(packet)
            for packet in s.encode(None):
                c.mux(packet)
        lines.append(json.dumps({"video": os.path.basename(path), "reference": "reference.wav"}))
    t = np.arange(int(22050 * 2.0)) / 22050
    ref = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-12 * (t % 0.5))
    write_audio(os.path.join(root, "reference.wav"), ref.astype(np.float32)[None], 22050)
    manifest = os.path.join(root, "manifest.jsonl")
    with open(manifest, "w") as f:
        f.write("\n".join(lines) + "\n")
    return manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], wait_policy: str) -> float:
    env = dict(os.environ)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {shlex.join(cmd)}\n{r.stderr[-3000:]}")
    return wall


def compare(a: str, b: str) -> str:
    from avgen.media import read_audio

    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return f"different file sets: {names} vs {sorted(os.listdir(b))}"
    same = sum(open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read() for n in names)
    if same == len(names):
        return f"all {len(names)} outputs byte-identical"
    worst = max(float(np.abs(read_audio(os.path.join(a, n))[0] - read_audio(os.path.join(b, n))[0]).max())
                for n in names)
    return f"{same} of {len(names)} outputs byte-identical; largest sample difference {worst:.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=8, help="manifest rows (default 8)")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of every clip in seconds (default 2)")
    ap.add_argument("--processes", type=int, default=2, help="processes of the sharded run (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved runs of each configuration (default 2)")
    ap.add_argument("--vocoder", default="griffin-lim", help="vocoder of every row (default griffin-lim)")
    ap.add_argument("--one-thread-peer", action="store_true",
                    help="also run one process with --threads 1 (the sharded processes' thread count on 2 cores)")
    ap.add_argument("--omp-wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE", ""],
                    help="OMP_WAIT_POLICY of every run (default PASSIVE: libgomp's default spin-wait slows a 2-thread "
                         "process many times over whenever another job wants a core; '' keeps the environment's)")
    ap.add_argument("--keep", default=None, help="write the inputs and outputs here instead of a temporary folder")
    args = ap.parse_args()

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} before, {platform.platform()}, nice {os.nice(0)}")
    print(f"OMP_WAIT_POLICY of the runs: {args.omp_wait_policy or os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    root = args.keep or tempfile.mkdtemp(prefix="avgen-shard-bench-")
    os.makedirs(root, exist_ok=True)
    manifest = write_inputs(root, args.rows, args.seconds)
    common = ["v2s", "--manifest", manifest, "--format", "wav", "--vocoder", args.vocoder, "--device", "cpu",
              "--no-progress", "--quiet"]
    kinds = ("one", "one-thread", "sharded") if args.one_thread_peer else ("one", "sharded")
    best = {k: float("inf") for k in kinds}
    labels = {"one": "1 process", "one-thread": "1 process, 1 thread", "sharded": f"{args.processes} processes"}
    for rep in range(args.repeats):
        for kind in kinds:
            out = os.path.join(root, f"{kind}-{rep}")
            shutil.rmtree(out, ignore_errors=True)
            if kind.startswith("one"):
                cmd = [sys.executable, "-m", "avgen", *common, "-o", out]
                cmd += ["--threads", "1"] if kind == "one-thread" else []
            else:
                cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                       str(args.processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend",
                       "no", "--main_process_port", str(free_port()), "-m", "avgen", *common, "-o", out]
            wall = run(cmd, args.omp_wait_policy)
            best[kind] = min(best[kind], wall)
            print(f"run {rep + 1} {labels[kind]:20s} {wall:7.1f} s  ({args.rows / wall:.2f} rows/s)  {shlex.join(cmd)}",
                  flush=True)
    print(f"best of {args.repeats}: 1 process {best['one']:.1f} s, {args.processes} processes {best['sharded']:.1f} s; "
          f"speed-up (1 process / {args.processes} processes) {best['one'] / best['sharded']:.2f}x "
          f"({args.rows} rows of {args.seconds:g} s, vocoder {args.vocoder})")
    if args.one_thread_peer:
        print(f"1 process with 1 thread {best['one-thread']:.1f} s: speed-up of {args.processes} processes over it "
              f"{best['one-thread'] / best['sharded']:.2f}x")
        print("outputs, 1 process with 1 thread vs sharded:",
              compare(os.path.join(root, "one-thread-0"), os.path.join(root, "sharded-0")))
    print("outputs, 1 process vs sharded:", compare(os.path.join(root, "one-0"), os.path.join(root, "sharded-0")))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
