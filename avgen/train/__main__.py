"""``accelerate launch -m avgen.train --config configs/<head>/<name>.yaml [key=value ...]``."""

from __future__ import annotations

import argparse
import sys

from ..errors import AvgenError, TrainingInterrupted
from .config import load_config
from .engine import train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m avgen.train",
        description="Train a model with the shared engine. Run under `accelerate launch` for several GPUs/processes; "
                    "a run directory that holds checkpoints is resumed from the latest one.",
    )
    p.add_argument("--config", required=True, help="YAML config (see configs/); validated against avgen.train.config")
    p.add_argument("--cpu", action="store_true", help="force CPU even when CUDA is available")
    p.add_argument("--quiet", action="store_true", help="no start-up summary and no progress bar (errors and the "
                                                        "final line still print)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="override config entries, e.g. max_steps=100 data.batch_size=4 optim_g.lr=1e-4")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        result = train(cfg, cpu=args.cpu, quiet=args.quiet)
    except TrainingInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return e.exit_code
    except AvgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"finished at step {result['step']}; run directory: {result['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
