#!/usr/bin/env python
"""Build the synthetic-foley benchmark (procedural videos + real CC0 recordings at known event times).

    python tools/make_foley.py -o runs/foley --train 200 --valid 24 --test 48

writes runs/foley/{train,valid,test}/*.mp4 with manifest.jsonl (id, sound, recording, kind, event times),
test/references/*.wav (timbre references: same recording, different rendering) and test/events.jsonl (for
`avgen eval sync --events`). Test rows are labelled "split": "seen" (the 12 bundled recordings are in train too).

    python tools/make_foley.py -o runs/foley_corpus --corpus CORPUS_DIR --train 2000 --test 48

builds from a sound corpus (avgen/data/sound_corpus.py; CORPUS_DIR/manifest.jsonl) instead: categories, then
recordings, are held out; train/valid/test use train-side recordings only and test_unseen_recording/ and
test_unseen_category/ hold clips whose recordings (categories) training never saw, each labelled with its "split".
    python tools/make_foley.py -o runs/foley_scenes --corpus /work/corpus --images /work/image_corpus \
        --renderer scenes --train 2000 --test 48

renders realistic scenes (avgen/data/scenes.py, docs/renders.md) from an image corpus instead of flat shapes, and
adds test_held_out_renderer/ (held-out pictures, event kinds and camera; unseen-recording sounds).
With --corpus every clip has its own seeded generator and is recorded in <split>/.rows/ once written, so an
interrupted render is finished by running the same command again (same files as an uninterrupted run).
See avgen/data/foley.py for what is rendered and avgen/assets/foley/SOURCES.md for the recordings' provenance.
"""

import argparse
import json
import sys

from avgen.data.foley import FoleySettings, build_benchmark
from avgen.errors import AvgenError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", required=True, help="benchmark folder to write")
    p.add_argument("--sounds", default=None, help="folder of recordings (default: the bundled CC0 set)")
    p.add_argument("--corpus", default=None, metavar="CORPUS_DIR",
                   help="sound-corpus folder (manifest.jsonl): hold out recordings and categories and write "
                        "test_unseen_recording/ and test_unseen_category/ (instead of --sounds)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of categories, then of each category's recordings, held out (--corpus; default 0.2)")
    p.add_argument("--held-out-categories", default=None, metavar="A,B",
                   help="comma-separated categories to hold out (--corpus; default: drawn with --seed)")
    p.add_argument("--train-licences", default=None, metavar="L1,L2",
                   help="--corpus: train/valid/seen-test clips use only recordings under these manifest licences "
                        "(e.g. CC0,MIT,Expat,CC-BY-3.0); the held-out splits are unchanged")
    p.add_argument("--renderer", choices=("shapes", "scenes"), default="shapes",
                   help="shapes: flat shapes on a gradient (default); scenes: realistic renders (needs --corpus "
                        "and --images) with a test_held_out_renderer/ split")
    p.add_argument("--images", default=None, metavar="IMAGE_CORPUS_DIR",
                   help="image-corpus folder (manifest.jsonl; avgen/data/image_corpus.py) for --renderer scenes")
    p.add_argument("--train", type=int, default=200, help="training clips (default 200)")
    p.add_argument("--valid", type=int, default=24, help="validation clips (default 24)")
    p.add_argument("--test", type=int, default=48, help="test clips per test split (default 48)")
    p.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    p.add_argument("--size", type=int, default=96, help="frame size in pixels (default 96)")
    p.add_argument("--seed", type=int, default=0, help="seed of the clips, events and hold-outs (default 0)")
    p.add_argument("--onset-trim-db", type=float, default=20.0, metavar="DB",
                   help="--corpus: cut each sound's quiet lead-in (frames more than DB below its loudest) so it is "
                        "heard at the visible event (default 20)")
    p.add_argument("--no-onset-trim", action="store_true",
                   help="--corpus: keep the excerpts' lead-ins (renders made before --onset-trim-db)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    a = p.parse_args(argv)
    held = [c for c in a.held_out_categories.split(",") if c] if a.held_out_categories else None
    licences = [c for c in a.train_licences.split(",") if c] if a.train_licences is not None else None
    if licences is not None and not licences:
        print("make_foley.py: error: --train-licences needs at least one licence name", file=sys.stderr)
        return 2
    if not a.onset_trim_db > 0:  # also refuses nan
        print(f"make_foley.py: error: --onset-trim-db must be a positive number of dB, got {a.onset_trim_db}",
              file=sys.stderr)
        return 2
    trim = None if a.no_onset_trim else a.onset_trim_db
    try:
        summary = build_benchmark(a.output, sounds=a.sounds, corpus=a.corpus, train=a.train, valid=a.valid,
                                  test=a.test, seed=a.seed,
                                  settings=FoleySettings(seconds=a.seconds, size=a.size, onset_trim_db=trim),
                                  test_fraction=a.test_fraction, held_out_categories=held,
                                  progress=not a.no_progress, images=a.images, renderer=a.renderer,
                                  train_licences=licences)
    except AvgenError as e:
        print(f"make_foley.py: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary["splits"]), "->", a.output)
    for split, n in summary.get("distinct_test_references", {}).items():
        print(f"{split}: {n} distinct test references" + ("" if n >= 24 or split == "test" else " (fewer than 24)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
