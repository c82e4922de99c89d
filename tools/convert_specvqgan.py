#!/usr/bin/env python
"""Convert a SpecVQGAN release folder to avgen's folder format (config.json + model.safetensors per model).

RUN is one of the release's folders, read without executing anything stored in them (avgen/specvqgan_release.py):

- a transformer run (``configs/*-project.yaml`` with ``Net2NetTransformer``, ``checkpoints/*.ckpt``): OUT becomes a
  pipeline folder, ``config.json`` = ``{"class": "SpecVQGANPipeline", "components": {"codebook": "codebook",
  "transformer": "transformer"[, "vocoder": "vocoder"]}, ...}`` with one model folder per component (the codebook
  is the one stored in the transformer's checkpoint unless --codebook-run names a codebook run), plus the pipeline's
  settings (``mel_preset``, ``fps`` 21.5, ``backbone`` resnet50, ``source``); it is written by
  ``SpecVQGANPipeline.save_pretrained``, so ``SpecVQGANPipeline.from_pretrained(OUT)`` equals ``from_public(RUN)``;
- a codebook run (``VQModel``): OUT is a SpecVQGANCodebook model folder;
- the vocoder folder (``best_netG.pt`` + ``args.yml``): OUT is a MelGANGenerator model folder.

Example:

    python tools/convert_specvqgan.py logs/2021-07-30T21-34-25_vggsound_transformer weights/specvqgan_vggsound \\
        --vocoder vocoder/logs/vggsound
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="release folder: a transformer or codebook run, or the MelGAN vocoder folder")
    ap.add_argument("out", help="output folder (created)")
    ap.add_argument("--checkpoint", help="the .ckpt to read (default: checkpoints/last.ckpt, else the last by name)")
    ap.add_argument("--codebook-run", help="transformer runs: take the codebook from this codebook run instead")
    ap.add_argument("--vocoder", help="transformer runs: also convert this MelGAN vocoder folder as a component")
    ap.add_argument("--fp16", action="store_true", help="store the weights as float16 (loaded back as float32)")
    args = ap.parse_args(argv)

    import torch

    from avgen.checkpoints import save_pretrained
    from avgen.errors import AvgenError
    from avgen.pipelines.specvqgan import SpecVQGANPipeline
    from avgen.specvqgan_release import load_release

    dtype = torch.float16 if args.fp16 else None
    try:
        rel = load_release(args.run, checkpoint=args.checkpoint)
        source = {"converted_from": os.path.basename(os.path.normpath(args.run)),
                  "checkpoint": os.path.basename(rel.checkpoint), "global_step": rel.global_step}
        if rel.kind != "transformer":
            if args.codebook_run or args.vocoder:
                raise AvgenError("--codebook-run and --vocoder apply to transformer runs only")
            model = rel.codebook if rel.kind == "codebook" else rel.vocoder
            save_pretrained(model, args.out, dtype=dtype, extra={"source": source})
            print(f"wrote {args.out} ({type(model).__name__} from the release's {rel.kind} folder)")
            return 0
        # the pipeline's own loader and writer, so this folder is what SpecVQGANPipeline.from_public would save
        pipe = SpecVQGANPipeline.from_release_run(rel, source["converted_from"], codebook_run=args.codebook_run,
                                                  vocoder=args.vocoder, device="cpu")
        pipe.save_pretrained(args.out, fp16=args.fp16)
        codebook = pipe.codebook
    except AvgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    c = rel.transformer.config
    print(f"wrote {args.out} (codebook {codebook.config.n_embed} x {codebook.config.embed_dim}, transformer "
          f"{c.n_layer} layers x {c.n_embd}, {c.feat_sample_size} feature frames, codes {c.code_shape[0]} x "
          f"{c.code_shape[1]}{', MelGAN vocoder' if args.vocoder else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
