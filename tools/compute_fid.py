#!/usr/bin/env python
"""Thin wrapper: `python tools/compute_fid.py ARGS` is `avgen eval fid ARGS` (see `--help`, docs/metrics.md)."""

import sys

from avgen.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", "fid", *sys.argv[1:]]))
