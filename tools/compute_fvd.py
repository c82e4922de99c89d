#!/usr/bin/env python
"""Thin wrapper: `python tools/compute_fvd.py ARGS` is `avgen eval fvd ARGS` (see `--help`, docs/metrics.md)."""

import sys

from avgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", "fvd", *sys.argv[1:]]))
