#!/usr/bin/env python
"""Thin wrapper: `python tools/compute_is.py ARGS` is `avgen eval is ARGS` (see `--help`, docs/metrics.md)."""

import sys

from avgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", "is", *sys.argv[1:]]))
