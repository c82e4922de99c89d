"""Build the bundled examples (fully synthetic, or made from the bundled CC0 recordings; licence: ours / CC0).

* ``avgen/assets/example_bounce.mp4``: the preprocessing demo clip described below.
* ``--foley``: ``avgen/assets/example_foley.mp4`` (a synthetic-foley "strike" clip, 4 s, whose own track uses the
  snare recording) and ``avgen/assets/example_reference.flac`` (the cowbell recording at other times): the default
  inputs of ``avgen v2s``, so the output should knock like a cowbell when the stick hits.


A ball bounces on a floor; every floor contact makes a knock (decaying noise burst + a low tone), so the audio events
line up with visual events, which is what the video-to-sound head learns. Deterministic: same bytes of signal on every
run (the mp4 container may differ by encoder version).

    python tools/make_example.py [--out avgen/assets/example_bounce.mp4]
"""

from __future__ import annotations

import argparse

import numpy as np

from avgen.media import write_video


def make_clip(seconds: float = 4.0, fps: float = 24.0, size: tuple[int, int] = (120, 160), sr: int = 22050,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = size
    n = round(seconds * fps)
    t = np.arange(n) / fps
    period = 0.8  # seconds between floor contacts
    phase = (t % period) / period
    height = 1.0 - (2 * phase - 1) ** 2  # parabolic flight, 0 at contact
    floor_y = h - 16
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        img = np.zeros((h, w, 3), np.float32)
        img[..., 0], img[..., 1], img[..., 2] = 0.55, 0.75, 0.95  # sky
        img[floor_y:] = (0.35, 0.55, 0.25)  # grass floor
        cy = floor_y - 10 - height[i] * (h - 50)
        cx = 20 + (w - 40) * (t[i] / seconds)
        ball = (yy - cy) ** 2 + (xx - cx) ** 2 <= 10 ** 2
        img[ball] = (0.85, 0.2, 0.15)
        frames[i] = (img * 255).astype(np.uint8)
    audio = 0.003 * rng.standard_normal(round(seconds * sr)).astype(np.float32)  # faint room noise
    knock_len = int(0.25 * sr)
    k = np.arange(knock_len) / sr
    for c in np.arange(0.0, seconds, period):  # a knock at every contact
        start = int(c * sr)
        knock = (0.6 * rng.standard_normal(knock_len) * np.exp(-k * 40) + 0.5 * np.sin(2 * np.pi * 110 * k) * np.exp(-k * 18))
        end = min(len(audio), start + knock_len)
        audio[start:end] += knock[: end - start].astype(np.float32)
    return frames, np.clip(audio, -1, 1)[None]


def make_foley_examples(folder: str = "avgen/assets", seed: int = 7) -> None:
    from avgen.data.foley import FoleySettings, load_sounds, make_clip as foley_clip, render_audio, sample_events
    from avgen.media import write_audio

    s = FoleySettings()
    rng = np.random.default_rng(seed)
    sounds = load_sounds()
    frames, audio, events = foley_clip(sounds["drum_snare_hard"], "strike", rng, s)
    write_video(f"{folder}/example_foley.mp4", frames, s.fps, audio=audio[None], sample_rate=s.sample_rate, crf=23)
    ref = render_audio(sample_events(rng, s), sounds["drum_cowbell"], rng, s)
    write_audio(f"{folder}/example_reference.flac", ref[None], s.sample_rate)
    print(f"wrote {folder}/example_foley.mp4 (strike events at {events} s) and {folder}/example_reference.flac")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="avgen/assets/example_bounce.mp4",
                    help="where the bouncing-ball clip goes (default %(default)s)")
    ap.add_argument("--foley", action="store_true", help="write the v2s examples instead")
    args = ap.parse_args()
    if args.foley:
        make_foley_examples()
        return
    frames, audio = make_clip()
    write_video(args.out, frames, 24.0, audio=audio, sample_rate=22050, crf=23)
    print(f"wrote {args.out}: {len(frames)} frames, {audio.shape[1]} samples")


if __name__ == "__main__":
    main()
