#!/usr/bin/env python
"""Peak RSS of `avgen v2s` per input case, each run in a child process, as a ratio to the 10 s 320x240 case.

    python bench/v2s_memory.py [--cases base,4k,ref1h,720p,720p10min] [--paths current,previous]
                               [--vocoder griffin-lim] [--keep DIR]

Cases (synthetic inputs, written frame by frame / block by block so the generator itself stays small):
  base       10 s 320x240 25 fps video, 10 s reference (the peer every ratio is taken against)
  4k         4 s 3840x2160 video, 10 s reference
  ref1h      10 s 320x240 video, a 1-hour 44.1 kHz reference
  720p       10 s 1280x720 video, 10 s reference
  720p10min  10 minutes of 1280x720 video, 10 s reference
The peak is the child's own maximum resident set (os.wait4's rusage, ru_maxrss). Prints the command, the machine
and one line per case: peak MB, ratio to base, wall seconds. ``--paths current,previous`` runs every case a second
time, right after the first, with the video feature path `avgen v2s` used before it read videos as `avgen prepare`
does (full-size frames resized by torch; ``old_video_features`` in bench/v2s_speed.py) swapped in, and prints
previous / current; ratios to base are taken within a path.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

CASES = {  # name: (video seconds, width, height, reference seconds)
    "base": (10.0, 320, 240, 10.0),
    "4k": (4.0, 3840, 2160, 10.0),
    "ref1h": (10.0, 320, 240, 3600.0),
    "720p": (10.0, 1280, 720, 10.0),
    "720p10min": (600.0, 1280, 720, 10.0),
}


def write_clip(path: str, seconds: float, width: int, height: int, fps: int = 25) -> None:
    """A moving gradient with a flashing square (cheap to encode at any size), one frame in memory at a time."""
    import av

    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "23"}
        yy, xx = np.mgrid[0:height, 0:width]
        base = ((xx * 255 // max(1, width - 1)) ^ (yy * 255 // max(1, height - 1))).astype(np.uint8)
        for i in range(round(seconds * fps)):
            frame = np.stack([np.roll(base, 4 * i, axis=1), base, np.roll(base, 2 * i, axis=0)], -1)
            if i % 10 < 2:  # an event every 0.4 s
                frame[height // 4:height // 2, width // 4:width // 2] = 255
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in s.encode(vf):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)


def write_reference(path: str, seconds: float, rate: int = 44100) -> None:
    """Decaying noise bursts, 16-bit mono WAV, written 10 s at a time."""
    rng = np.random.default_rng(0)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        block = 10 * rate
        for start in range(0, round(seconds * rate), block):
            n = min(block, round(seconds * rate) - start)
            t = (np.arange(n) + start) / rate
            env = np.exp(-8.0 * (t % 0.5))
            x = 0.3 * env * rng.standard_normal(n)
            w.writeframes(np.clip(x * 32767, -32768, 32767).astype("<i2").tobytes())


# The child for --paths previous: avgen's CLI with the previous video feature path swapped in (files only).
_PREVIOUS = r"""
import os, runpy, sys
sys.path.insert(0, sys.argv.pop(1))
from v2s_speed import old_video_features
import avgen.pipelines.video_to_sound as v2s
current = v2s.VideoToSoundPipeline.video_features
def previous(self, video, *, fps=None, batch_size=32, progress=False):
    if isinstance(video, (str, os.PathLike)):
        return old_video_features(self, video, batch_size)
    return current(self, video, fps=fps, batch_size=batch_size, progress=progress)
v2s.VideoToSoundPipeline.video_features = previous
sys.argv[0] = "avgen"
runpy.run_module("avgen.cli", run_name="__main__")
"""


def peak_of(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return usage.ru_maxrss / 1024.0, wall  # ru_maxrss is in KiB on Linux


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="base,4k,ref1h", help="comma-separated, from: " + ", ".join(CASES))
    p.add_argument("--vocoder", default="griffin-lim", help="passed to avgen v2s (default griffin-lim)")
    p.add_argument("--device", default="cpu", help="passed to avgen v2s (default cpu)")
    p.add_argument("--paths", default="current", help="video feature paths, comma-separated: current, previous "
                                                      "(default current)")
    p.add_argument("--keep", default=None, help="folder for the synthetic inputs (reused when present)")
    p.add_argument("--base-mb", type=float, default=None,
                   help="peak RSS of the base case from an earlier run on this machine: ratios use it and base is "
                        "not run again (default: run base first)")
    a = p.parse_args()
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(unknown)} (known: {', '.join(CASES)})")
    paths = [x.strip() for x in a.paths.split(",") if x.strip()]
    if not paths or any(x not in ("current", "previous") for x in paths):
        raise SystemExit(f"--paths: {a.paths!r}: give current and/or previous")
    if "base" not in cases and a.base_mb is None:
        cases.insert(0, "base")
    folder = a.keep or tempfile.mkdtemp(prefix="v2s_memory_")
    os.makedirs(folder, exist_ok=True)
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, {platform.platform()}")
    results = {} if a.base_mb is None else {("base", paths[0]): a.base_mb}
    if a.base_mb is not None:
        print(f"  base       peak RSS {a.base_mb:7.0f} MB (given with --base-mb, from an earlier run, {paths[0]} path)")
    for name in cases:
        seconds, w, h, ref_seconds = CASES[name]
        video = os.path.join(folder, f"video_{seconds:g}s_{w}x{h}.mp4")
        ref = os.path.join(folder, f"reference_{ref_seconds:g}s.wav")
        if not os.path.exists(video):
            write_clip(video, seconds, w, h)
        if not os.path.exists(ref):
            write_reference(ref, ref_seconds)
        args = ["v2s", video, "--reference", ref, "-o", os.path.join(folder, f"out_{name}.wav"), "--device",
                a.device, "--vocoder", a.vocoder, "--quiet"]
        for path in paths:
            if path == "current":
                cmd = [sys.executable, "-m", "avgen.cli", *args]
            else:
                cmd = [sys.executable, "-c", _PREVIOUS, os.path.dirname(os.path.abspath(__file__)), *args]
            peak, wall = peak_of(cmd)
            results[(name, path)] = peak
            base = results.get(("base", path))
            vs = f"({peak / base:.2f}x base)" if base else "(no base for this path)"
            extra = ""
            if path == "previous" and (name, "current") in results:
                extra = f"  previous / current {peak / results[(name, 'current')]:.2f}x"
            print(f"  {name:10s} {path:8s} video {seconds:g} s {w}x{h}, reference {ref_seconds:g} s: peak RSS "
                  f"{peak:7.0f} MB  {vs}  wall {wall:6.1f} s{extra}", flush=True)
    print(f"child command: {sys.executable} -m avgen.cli v2s VIDEO --reference REF -o OUT.wav --device {a.device} "
          f"--vocoder {a.vocoder} --quiet" + (" (previous path: the same through the _PREVIOUS wrapper)"
                                              if "previous" in paths else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
