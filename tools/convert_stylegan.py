#!/usr/bin/env python
"""Convert a StyleGAN checkpoint to avgen's folder format (config.json + generator.safetensors [+ discriminator]).

Reads NVIDIA .pkl files (stylegan2-ada-pytorch, stylegan3) without executing any code stored in them, and
rosinality .pt files (g_ema). Example:

    python tools/convert_stylegan.py stylegan3-r-afhqv2-512x512.pkl weights/sg3_afhq
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="NVIDIA .pkl or rosinality .pt/.pth checkpoint")
    ap.add_argument("out", help="output folder (created)")
    ap.add_argument("--which", default="G_ema", choices=["G_ema", "G"],
                    help="generator to convert from a .pkl (default G_ema; rosinality: G = 'g', G_ema = 'g_ema')")
    ap.add_argument("--with-discriminator", action="store_true", help=".pkl only: also write the discriminator D")
    args = ap.parse_args(argv)

    import stylegan
    from stylegan.checkpoints import CheckpointError
    from stylegan.safe_pickle import UnsafePickleError

    try:
        D = None
        if args.source.endswith(".pkl"):
            nets = stylegan.load_nvidia_pickle(args.source)
            G = nets[args.which]
            if args.with_discriminator:
                D = nets.get("D")
                if D is None:
                    raise CheckpointError(f"{args.source}: has no discriminator 'D'")
        else:
            if args.with_discriminator:
                raise CheckpointError("--with-discriminator is only supported for NVIDIA .pkl files")
            G = stylegan.load(args.source, which=args.which)
        stylegan.save_pretrained(G, args.out, D=D, extra={"converted_from": os.path.basename(args.source)})
    except (CheckpointError, UnsafePickleError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({type(G).__module__.split('.')[-1]}, {G.img_resolution}px, num_ws={G.num_ws})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
