"""``avgen codec encode|decode``: the command line of :mod:`avgen.codec`, kept apart from it so that building the
CLI parser (``avgen --help``) does not import torch; the codec itself is imported when a command runs."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import AvgenError

__all__ = ["add_codec_parser", "run_codec"]


def add_codec_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``codec`` (with ``encode`` and ``decode``) to an ``add_subparsers()`` object; returns its parser.
    ``args.codec_command`` is ``"encode"``, ``"decode"`` or None; run with :func:`run_codec`."""
    p = subparsers.add_parser(
        "codec", help="SpecVQGAN's codebook as a neural audio codec: audio <-> a small file of code indices",
        description="Encode audio into a grid of SpecVQGAN codebook indices (a safetensors file) and decode it back "
                    "through the codebook decoder and a vocoder. Both print the bitrate: codes x log2(codebook "
                    "size) bits over the audio's duration. Audio longer than the codebook's window (9.85 s for the "
                    "release's) is coded window by window.")
    sub = p.add_subparsers(dest="codec_command", metavar="{encode,decode}")
    e = sub.add_parser("encode", help="audio -> codes file",
                       description="Audio (any file with an audio track, any rate) -> a codes file.")
    e.add_argument("input", help="audio or video file (its first audio track; mixed to mono)")
    e.add_argument("-o", "--output", required=True, help="codes file to write (safetensors)")
    e.add_argument("--checkpoint", required=True,
                   help="the codebook: a SpecVQGAN pipeline folder, a SpecVQGANCodebook folder (a "
                        "specvqgan_codebook run's final/) or the release's codebook run folder")
    e.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    d = sub.add_parser("decode", help="codes file -> audio",
                       description="A codes file -> a .wav/.flac of the encoded duration. The codebook must be the "
                                   "one that encoded it (checked by its digest).")
    d.add_argument("codes", help="codes file written by 'avgen codec encode'")
    d.add_argument("-o", "--output", required=True, help="audio file to write (.wav or .flac)")
    d.add_argument("--checkpoint", default=None,
                   help="the codebook folder (default: the folder the codes file was encoded with)")
    d.add_argument("--vocoder", default=None,
                   help="specvqgan-bridge, griffin-lim, or a vocoder folder (a MelGAN or HiFi-GAN); default: the "
                        "checkpoint folder's own vocoder, else specvqgan-bridge")
    d.add_argument("--seed", type=int, default=0, help="seed of a vocoder's randomness (Griffin-Lim's phase)")
    d.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(codec_parser=p)
    return p


def _check_vocoder_option(value: str | None) -> None:
    from . import vocoders

    if value is not None and value not in vocoders.VOCODERS and not os.path.isdir(value):
        raise AvgenError(f"--vocoder {value}: not one of {', '.join(vocoders.VOCODERS)} and not a folder")


def _run(args) -> int:
    from . import codec
    from .cli_checks import (check_checkpoint_folder, check_device, check_output_file, check_seed,
                             refuse_overwriting_inputs)

    check_device(args.device)
    device = args.device or "cpu"
    if args.codec_command == "encode":
        if not os.path.isfile(args.input):
            raise AvgenError(f"{args.input}: no such file")
        check_checkpoint_folder(args.checkpoint)
        if os.path.isdir(args.output):
            raise AvgenError(f"-o {args.output}: is a folder, give a file name")
        from .cli_checks import check_writable_folder

        check_writable_folder(os.path.dirname(args.output) or ".")
        refuse_overwriting_inputs(args.output, args.input)
        from .media import probe

        if not probe(args.input).has_audio:
            raise AvgenError(f"{args.input}: no audio stream")
        model = codec.load_codec_model(args.checkpoint, device=device)
        cf = codec.encode(args.input, model)
        cf.save(args.output)
        print(f"wrote {args.output}: {cf.summary()}")
        return 0
    check_output_file(args.output, (".wav", ".flac"))
    check_checkpoint_folder(args.checkpoint)
    _check_vocoder_option(args.vocoder)
    check_seed(args.seed)
    refuse_overwriting_inputs(args.output, args.codes)
    cf = codec.CodesFile.load(args.codes)
    folder = args.checkpoint or cf.codebook_folder
    if not folder:
        raise AvgenError(f"{args.codes}: records no codebook folder; pass --checkpoint")
    if args.checkpoint is None and not os.path.isdir(folder):
        raise AvgenError(f"{args.codes}: its codebook folder {folder} is gone; pass --checkpoint")
    model = codec.load_codec_model(folder, device=device)
    codec._check_match(cf, model, args.codes)
    voc = codec._vocoder(args.vocoder, model, device)
    out = codec.decode(cf, model, vocoder=voc, device=device, seed=args.seed)
    written = out.save(args.output)
    print(f"wrote {written} ({out.duration:.2f} s at {out.sample_rate} Hz, vocoder {out.vocoder}): {cf.summary()}")
    return 0


def run_codec(args: argparse.Namespace) -> int:
    """Run ``avgen codec encode|decode`` from :func:`add_codec_parser`'s arguments: 0 on success; a bad input
    prints one line (``avgen codec: error: ...``) on stderr and returns 2, before any work."""
    if getattr(args, "codec_command", None) is None:
        args.codec_parser.print_help(sys.stderr)
        return 2
    try:
        return _run(args)
    except AvgenError as e:
        print(f"avgen codec: error: {e}", file=sys.stderr)
        return 2
