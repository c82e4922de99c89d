#!/usr/bin/env python
"""Build the synthetic-foley benchmark (procedural videos + real CC0 recordings at known event times).

    python tools/make_foley.py -o runs/foley --train 200 --valid 24 --test 48

writes runs/foley/{train,valid,test}/*.mp4 with manifest.jsonl (id, sound, kind, event times), test/references/*.wav
(timbre references: same recording, different rendering) and test/events.jsonl (for `avgen eval sync --events`).
See avgen/data/foley.py for what is rendered and avgen/assets/foley/SOURCES.md for the recordings' provenance.
"""

import argparse
import json
import sys

from avgen.data.foley import FoleySettings, build_benchmark


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", required=True, help="benchmark folder to write")
    p.add_argument("--sounds", default=None, help="folder of recordings (default: the bundled CC0 set)")
    p.add_argument("--train", type=int, default=200)
    p.add_argument("--valid", type=int, default=24)
    p.add_argument("--test", type=int, default=48)
    p.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    p.add_argument("--size", type=int, default=96, help="frame size in pixels (default 96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    summary = build_benchmark(a.output, sounds=a.sounds, train=a.train, valid=a.valid, test=a.test, seed=a.seed,
                              settings=FoleySettings(seconds=a.seconds, size=a.size), progress=not a.no_progress)
    print(json.dumps(summary["splits"]), "->", a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
