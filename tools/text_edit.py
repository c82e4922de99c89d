#!/usr/bin/env python
"""Text-constrained editing with a sound-to-video model's StyleGAN and CLIP teacher (avgen.generate.edit_video).

    # edit a generated video: sound -> video, then move it towards the prompt
    python tools/text_edit.py --audio avgen/assets/s2v_default/example_lake.wav --text "flowers" -o edit.mp4
    # edit a real image or video: inverted with the stylegan projector first
    python tools/text_edit.py --source photo.jpg --text "a forest" -o edit.png
    # a real image, driven by a sound, then edited
    python tools/text_edit.py --source photo.jpg --audio rain.wav --text "a lake" -o edit.mp4

Prints the mean CLIP similarity to the prompt before and after the edit. ``--side-by-side`` writes the original and
the edit next to each other.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text", required=True, help="the edit prompt")
    p.add_argument("-o", "--output", required=True, help=".mp4/.mov/.mkv, or .png/.jpg for a single frame")
    p.add_argument("--source", default=None, help="real image or video to invert and edit")
    p.add_argument("--audio", default=None,
                   help="without --source: generate from this sound, then edit; with an image --source: the sound "
                        "drives the inverted image")
    p.add_argument("--checkpoint", default=None, help="task: s2v folder (default: the bundled model)")
    p.add_argument("--levels", default="coarse,mid,fine", help="W+ groups the edit may change (default: all)")
    p.add_argument("--steps", type=int, default=60, help="edit optimisation steps (default 60)")
    p.add_argument("--strength", type=float, default=1.0, help="scale of the optimised offset (default 1)")
    p.add_argument("--invert-steps", type=int, default=150, help="projector steps for the first real frame")
    p.add_argument("--max-frames", type=int, default=64, help="real videos: edit at most this many frames")
    p.add_argument("--fps", type=float, default=None, help="real videos: sample at this rate (default: own rate)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start latent and the edit's frame subsets (default 0)")
    p.add_argument("--side-by-side", action="store_true", help="write original | edited frames")
    p.add_argument("--quiet", action="store_true", help="no progress bars (stderr); errors and the result line "
                                                        "still print")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    a = p.parse_args(argv)
    if a.source is None and a.audio is None:
        p.error("give --source (a real image/video) and/or --audio (generate from a sound)")

    from avgen.errors import AvgenError

    try:
        return _run(a)
    except AvgenError as e:
        print(f"text_edit: error: {e}", file=sys.stderr)
        return 2


def _check_args(a) -> None:
    """Inputs, output and numbers, checked before any model loads or an optimisation step runs."""
    import os

    from avgen.cli import (_check_checkpoint_folder, _check_device, _check_number, _check_output_file,
                           _check_seed, _refuse_overwriting_inputs)
    from avgen.errors import AvgenError
    from avgen.media import IMAGE_EXTENSIONS, MUXED_OUTPUT_EXTENSIONS, probe
    from stylegan.projector import _is_image

    _check_output_file(a.output, MUXED_OUTPUT_EXTENSIONS + (".png", ".jpg", ".jpeg"))
    _refuse_overwriting_inputs(a.output, a.source, a.audio)
    if a.source is not None:
        if not os.path.isfile(a.source):
            raise AvgenError(f"--source {a.source}: " + ("is a folder" if os.path.isdir(a.source) else "no such file"))
        if a.source.lower().endswith(IMAGE_EXTENSIONS):
            if not _is_image(a.source):
                raise AvgenError(f"--source {a.source}: not an image (its bytes are not png/jpg/gif/bmp/tiff/webp)")
        elif not probe(a.source).has_video:
            raise AvgenError(f"--source {a.source}: no video stream")
    if a.audio is not None and not probe(a.audio).has_audio:
        raise AvgenError(f"--audio {a.audio}: no audio stream")
    _check_checkpoint_folder(a.checkpoint)
    _check_device(a.device)
    _check_seed(a.seed)
    _check_number(a.strength, "--strength")
    _check_number(a.fps, "--fps", positive=True)
    for option, value in (("--steps", a.steps), ("--invert-steps", a.invert_steps), ("--max-frames", a.max_frames)):
        if value < 1:
            raise AvgenError(f"{option} {value}: must be at least 1")


def _run(a) -> int:
    _check_args(a)
    from avgen.generate import edit_video, sound_to_video

    source = a.source
    if source is None:
        source = sound_to_video(a.audio, checkpoint=a.checkpoint, seed=a.seed, device=a.device, progress=not a.quiet)
    res = edit_video(source, text=a.text, checkpoint=a.checkpoint, audio=a.audio if a.source else None,
                     levels=tuple(x.strip() for x in a.levels.split(",") if x.strip()), steps=a.steps,
                     strength=a.strength, invert_steps=a.invert_steps, max_frames=a.max_frames, fps=a.fps,
                     seed=a.seed, device=a.device, progress=not a.quiet)
    if a.side_by_side:
        res.frames = np.concatenate([res.original, res.frames], axis=2)  # [T, H, 2W, 3]
    res.save(a.output)
    print(json.dumps({"output": a.output, "frames": len(res.frames), "clip_before": float(res.clip_before.mean()),
                      "clip_after": float(res.clip_after.mean())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
