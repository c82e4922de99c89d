"""``avgen eval ...``: metric commands. Each prints a short summary and the full JSON report (with its metric
profile); ``--report FILE`` appends the report to a JSON-lines file."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_eval_parser", "run_eval", "METRICS"]

METRICS = ("fvd", "fid", "is", "clip", "mcd", "timbre", "sync", "melception", "v2s", "v2s-real")


def _common(p: argparse.ArgumentParser, *, cache: bool = False) -> None:
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--report", default=None, metavar="FILE", help="append the JSON report to this JSON-lines file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--quiet", action="store_true", help="no progress bars (as --no-progress); the summary and the "
                                                        "report still print")
    if cache:
        from .report import default_cache_dir

        p.add_argument("--cache-dir", default=default_cache_dir(),
                       help="where real-data statistics are cached, keyed by files + profile "
                            "(default %(default)s; $AVGEN_CACHE moves it)")
        p.add_argument("--no-cache", action="store_true", help="do not read or write cached statistics")


def add_eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="evaluation metrics (FVD, FID/KID, IS, CLIP, MCD, timbre, sync, Melception) "
                                     "and the video-to-sound benchmarks (v2s, v2s-real)",
                        description="Compute a metric and print its report, including the metric profile "
                                    "(network, weight hash, layer, preprocessing, sampling, versions).")
    es = ev.add_subparsers(dest="metric", metavar="METRIC")

    p = es.add_parser("fvd", help="Frechet Video Distance between two folders of videos",
                      description="FVD between two folders of videos (mp4/avi/mov/webm/gif, or folders of frames). "
                                  "One clip per video. Without --weights the offline EfficientNet-Lite0 default is "
                                  "used, which is NOT comparable with published FVD.")
    p.add_argument("real", help="folder of real videos (files or frame folders), or one video")
    p.add_argument("fake", help="folder of generated videos (files or frame folders), or one video")
    p.add_argument("--weights", default=None, help="I3D Kinetics-400 weights: pytorch-i3d state dict (rgb_imagenet.pt, "
                                                   "i3d_pretrained_400.pt) or StyleGAN-V's i3d_torchscript.pt")
    p.add_argument("--layer", default="logits", choices=["logits", "pool"],
                   help="I3D features: 400-d logits (StyleGAN-V/VideoGPT/TF FVD, default) or 1024-d pool")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default 16); every video needs at least "
                                                          "start + (frames - 1) x stride + 1 frames (the default "
                                                          "`avgen s2v` output has 8: use --frames 8)")
    p.add_argument("--stride", type=int, default=1, help="take every N-th frame (default 1)")
    p.add_argument("--start", type=int, default=0, help="first frame of the clip (default 0)")
    p.add_argument("--fps", type=float, default=None, help="resample videos to this rate first (default: native)")
    p.add_argument("--max-videos", type=int, default=None, help="use at most this many videos per folder")
    p.add_argument("--batch-size", type=int, default=8, help="clips per network batch (default 8)")
    _common(p, cache=True)

    for name, helptext in (("fid", "FID and KID between two folders of images (or video frames)"),
                           ("is", "Inception Score of a folder of images (or per-frame IS of videos)")):
        p = es.add_parser(name, help=helptext, description=helptext + ". Without --weights the offline "
                          "EfficientNet-Lite0 default is used, which is NOT comparable with published numbers.")
        if name == "fid":
            p.add_argument("real", help="folder of real images (or of videos, with --frames-per-video)")
            p.add_argument("fake", help="folder of generated images (or of videos, with --frames-per-video)")
            p.add_argument("--no-kid", action="store_true", help="skip KID")
            p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default 100, torch-fidelity's)")
            p.add_argument("--kid-subset-size", type=int, default=None,
                           help="default 1000, or the smaller set size when a set is smaller")
        else:
            p.add_argument("path", help="folder of images (or of videos, with --frames-per-video), or one image")
            p.add_argument("--splits", type=int, default=10, help="IS splits (default 10)")
            p.add_argument("--no-shuffle", action="store_true",
                           help="keep file order in the splits (original TF code); default shuffles with the seed "
                                "as torch-fidelity does")
        p.add_argument("--seed", type=int, default=2020, help="KID subset / IS shuffle seed (torch-fidelity's 2020)")
        p.add_argument("--weights", default=None, help="Inception-v3 2015-12-05 weights "
                                                       "(pt_inception-2015-12-05-6726825d.pth)")
        p.add_argument("--protocol", default="torch-fidelity", choices=["torch-fidelity", "pytorch-fid"],
                       help="Inception preprocessing (default torch-fidelity: TF1 resize, matches the TF numbers)")
        p.add_argument("--frames-per-video", type=int, default=None,
                       help="treat inputs as videos and use this many frames of each (needed for a folder of "
                            "videos; the default `avgen s2v` output has 8)")
        p.add_argument("--frame-stride", type=int, default=1, help="with --frames-per-video: take every N-th frame "
                                                                  "(default 1)")
        p.add_argument("--fps", type=float, default=None, help="with --frames-per-video: resample videos to this "
                                                              "rate first (default: native)")
        p.add_argument("--batch-size", type=int, default=32, help="images per network batch (default 32)")
        _common(p, cache=(name == "fid"))

    p = es.add_parser("clip", help="CLIP text<->video / audio<->video similarity",
                      description="Mean cosine similarity between each video's CLIP embedding (mean of per-frame "
                                  "image embeddings) and a text prompt or an audio embedding.")
    p.add_argument("videos", help="folder of videos (files or frame folders), or one video")
    p.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32, or the path of an open_clip "
                                                  "model-config JSON with its --weights, e.g. the bundled "
                                                  "avgen/assets/s2v_default/avgen-scenes-clip.json + clip.pt")
    p.add_argument("--weights", default=None, help="local open_clip checkpoint")
    p.add_argument("--pretrained", default=None, help="open_clip pretrained tag (open_clip may download it)")
    p.add_argument("--text", default=None, help="one prompt for every video")
    p.add_argument("--prompts", default=None, help="JSON file {video stem: prompt}")
    p.add_argument("--audio-embeddings", default=None, help="folder of <video stem>.npy audio embeddings")
    p.add_argument("--fps", type=float, default=None, help="resample videos to this rate first (default: native)")
    p.add_argument("--max-frames", type=int, default=None, help="use at most this many frames per video "
                                                                "(default: all)")
    _common(p)

    p = es.add_parser("mcd", help="mel-cepstral distortion (plain and DTW) of generated vs reference audio",
                      description="MCD between generated and reference audio paired by file stem "
                                  "(audio files or videos' audio tracks).")
    p.add_argument("generated", help="folder of generated audio (or videos: their tracks), paired by file stem")
    p.add_argument("reference", help="folder of reference audio (or videos: their tracks), paired by file stem")
    p.add_argument("--order", type=int, default=24, help="cepstral coefficients without c0 (default 24)")
    _common(p)

    p = es.add_parser("timbre", help="Resemblyzer timbre similarity and retrieval accuracy",
                      description="Cosine similarity of Resemblyzer embeddings between generated and reference "
                                  "audio paired by file stem, and timbre retrieval accuracy.")
    p.add_argument("generated", help="folder of generated audio (or videos: their tracks), paired by file stem")
    p.add_argument("reference", help="folder of reference audio (or videos: their tracks), paired by file stem")
    p.add_argument("--no-trim-silence", action="store_true",
                   help="skip Resemblyzer's VAD trimming (for sound effects the speech VAD would remove)")
    _common(p)

    p = es.add_parser("sync", help="onset-based audio-visual sync error",
                      description="For each visual event, the distance to the nearest audio onset (median, mean, "
                                  "share within --tolerance).")
    p.add_argument("videos", help="folder of videos (or one video) whose visual events are matched")
    p.add_argument("--audio", default=None, help="folder of generated audio paired by stem (default: the videos' "
                                                 "own audio tracks)")
    p.add_argument("--events", default=None, help='JSON lines {"name": stem, "events": [seconds...]} of known event '
                                                  "times (default: detected visual onsets)")
    p.add_argument("--tolerance", type=float, default=0.1, help="seconds (default 0.1)")
    p.add_argument("--fps", type=float, default=21.5, help="frame rate for visual onset detection (default 21.5)")
    _common(p)

    p = es.add_parser("melception", help="SpecVQGAN Melception FID, MKL and IS",
                      description="FID (2048-d), MKL (paired KL) and IS from SpecVQGAN's Melception. Needs the public "
                                  "checkpoint and its normalisation file.")
    p.add_argument("generated", help="folder of generated audio (or videos: their tracks), paired by file stem")
    p.add_argument("reference", help="folder of reference audio (or videos: their tracks), paired by file stem")
    p.add_argument("--weights", required=True, help="SpecVQGAN's Melception checkpoint, "
                                                    "melception-21-05-10T09-28-40.pt")
    p.add_argument("--norm-stats", required=True, help="its normalisation file, "
                                                       "train_means_stds_melspec_10s_22050hz.txt")
    p.add_argument("--splits", type=int, default=10, help="IS splits (default 10)")
    _common(p)
    _add_v2s(es)


def _add_v2s(es) -> None:
    p = es.add_parser("v2s", help="video-to-sound benchmark on a synthetic-foley test split",
                      description="Generate every clip of a synthetic-foley test split (tools/make_foley.py) from its "
                                  "video and timbre reference, then report onset timing error, timbre retrieval "
                                  "accuracy (Resemblyzer and cepstral embeddings), timbre similarity and MCD; the "
                                  "timbre figures also per split group side by side (seen / unseen_recording / "
                                  "unseen_category, from the manifest's 'split' field or --train-manifest), with "
                                  "a warning when an unseen group has fewer than 24 distinct references.")
    p.add_argument("test_dir", nargs="+", help="the benchmark's test folder (manifest.jsonl, references/); several "
                                               "(test test_unseen_recording test_unseen_category) are scored "
                                               "together, their groups side by side")
    p.add_argument("-o", "--output", required=True, help="folder for the generated wavs (reused when present; "
                                                          "with several --checkpoint, one sub-folder each)")
    p.add_argument("--checkpoint", action="append", default=None, metavar="FOLDER",
                   help="VarietySound or SpecVQGAN pipeline folder, the head read from its config.json, or a "
                        "bundled one's name (avgen v2s --help; default: the bundled VarietySound). Give it again "
                        "to compare heads on the same clips: one report line each and one table")
    p.add_argument("--ablate", default=None, choices=["timbre", "temporal", "background"],
                   help="zero this encoder's output at inference (VarietySound checkpoints)")
    p.add_argument("--vocoder", default=None, help="vocoder name or folder (default: the pipeline's, "
                                                   "specvqgan-bridge; see docs/vocoders.md)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--limit", type=int, default=None, help="only the first N clips")
    p.add_argument("--train-manifest", default=None, metavar="JSONL",
                   help="manifest the checkpoint was trained on: rows without a 'split' field are labelled seen / "
                        "unseen_recording / unseen_category by comparing recordings and categories with it")
    p.add_argument("--timing-only", action="store_true",
                   help="the timing figures alone: skip the timbre judges and MCD (a quick check; same outputs)")
    _common(p)

    p = es.add_parser("v2s-real", help="video-to-sound timing on real clips: onset F1 vs the clips' own tracks",
                      description="Generate a track for every real video of CLIPS_DIR (or CLIPS_DIR/video/) from its "
                                  "frames alone, with a reference that is not the clip's own track, and score its "
                                  "onsets against the clip's own recorded track (onset F1 within +-tolerance, "
                                  "level-invariant onset detector). Chance is measured in the same run: the same "
                                  "outputs scored against the other clips' tracks. Also reports RMS level vs the own "
                                  "track and the vocoder the pipeline used. Writes OUT/<clip>.wav (reused when "
                                  "present), OUT/results.json and OUT/results.md.")
    p.add_argument("clips_dir", metavar="CLIPS_DIR", help="folder of real videos with sound (e.g. "
                                                           "../shared/data/vggsound_samples/video); at least 2")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="folder for the generated wavs and results (reused when made with the same settings)")
    p.add_argument("--checkpoint", default=None, help="VarietySound or SpecVQGAN pipeline folder, or a bundled one's "
                                                       "name (default: the bundled VarietySound checkpoint)")
    p.add_argument("--reference", default=None, metavar="AUDIO",
                   help="timbre reference for every clip (default: avgen/assets/example_reference.flac), or "
                        "'own-other': each clip gets the next clip's recorded track (rotating)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--tolerance", type=float, default=0.1, help="onset matching window in seconds (default 0.1)")
    p.add_argument("--limit", type=int, default=None, help="only the first N clips (at least 2)")
    _common(p)


def _output_folder_name(checkpoint: str) -> str:
    """A sub-folder name for one compared checkpoint: the last three parts of its path joined by underscores."""
    import os

    parts = [x for x in os.path.normpath(os.path.abspath(checkpoint)).split(os.sep) if x]
    return "_".join(parts[-3:])


def _compare_v2s(args, checkpoints: list, progress: bool) -> int:
    """``avgen eval v2s`` with several ``--checkpoint``: each into its own sub-folder of ``-o``, one report line
    each, then one table of all of them."""
    import os

    from ..benchmarks.v2s import compare_table, evaluate_v2s

    from .report import write_report

    reports = []
    for c in checkpoints:
        name = _output_folder_name(c)
        rep = evaluate_v2s(args.test_dir, checkpoint=c, output_dir=os.path.join(args.output, name), ablate=args.ablate,
                           device=args.device, seed=args.seed, limit=args.limit, progress=progress,
                           train_manifest=args.train_manifest, vocoder=args.vocoder, timing_only=args.timing_only)
        print(write_report(rep, args.report))
        for w in rep.get("warnings", []):
            print(f"avgen eval v2s: warning ({c}): {w}")
        reports.append(rep)
    print(compare_table(reports), end="")
    return 0


def _summary(report: dict) -> str:
    skip = {"metric", "inputs", "profile", "time", "warnings"}
    # per-clip rows, matrices and per-group tables stay in the JSON report
    vals = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in report.items()
                     if k not in skip and not isinstance(v, (dict, list)))
    note = report["profile"].get("note")
    return f"{report['metric']}: {vals}" + (f"  [{note}]" if note else "")


def _check_args(args) -> None:
    """Options that would fail only after the features are extracted: refused up front, one line each."""
    from ..errors import AvgenError

    splits = getattr(args, "splits", None)
    if splits is not None and splits < 1:
        raise AvgenError(f"--splits {splits}: must be at least 1")
    if args.metric == "is" and splits is not None and getattr(args, "frames_per_video", None) is None:
        from .inputs import list_images

        n = len(list_images(args.path))  # a plain image set: one sample per image
        if n < splits:
            raise AvgenError(f"--splits {splits}: {args.path} holds {n} image(s); the Inception Score needs at "
                             f"least one per split")
    if args.metric == "is" and splits is not None and getattr(args, "frames_per_video", None) is not None:
        from .inputs import list_videos

        videos = len(list_videos(args.path))  # one sample per scored frame
        if videos * args.frames_per_video < splits:
            raise AvgenError(f"--splits {splits}: {args.path} gives {videos * args.frames_per_video} frame(s) "
                             f"({videos} video(s) x --frames-per-video {args.frames_per_video}); the Inception "
                             f"Score needs at least one per split")
    if args.metric == "v2s" and args.checkpoint:
        from ..bundled import bundled_checkpoint
        from ..checkpoints import read_config

        args.checkpoint = [bundled_checkpoint(c) for c in args.checkpoint]  # bundled names -> their folders

        for c in args.checkpoint:
            head = read_config(c).get("class")  # a missing folder or config.json: one line naming it
            if args.ablate is not None and head == "SpecVQGANPipeline":
                raise AvgenError(f"--ablate: for VarietySound checkpoints only ({c} is a SpecVQGAN folder)")
        names = [_output_folder_name(c) for c in args.checkpoint]
        if len(args.checkpoint) > 1 and len(set(names)) != len(names):
            raise AvgenError("--checkpoint: the same folder given twice (or two whose last three path parts agree: "
                             "their outputs would share a folder)")
    order = getattr(args, "order", None)
    if args.metric == "mcd" and order is not None:
        from ..audio import SPECVQGAN_MEL_PRESET, get_preset

        bands = get_preset(SPECVQGAN_MEL_PRESET).n_mels  # the cepstra come from the specvqgan mel bands
        if not 1 <= order <= bands - 1:
            raise AvgenError(f"--order {order}: must be in [1, {bands - 1}] ({bands} mel bands, c0 excluded)")


def run_eval(args) -> int:
    from .report import write_report

    if args.metric is None:
        raise SystemExit("avgen eval: choose a metric: " + ", ".join(METRICS))
    progress = not (args.no_progress or args.quiet)
    cache = None if getattr(args, "no_cache", False) else getattr(args, "cache_dir", None)
    m = args.metric
    _check_args(args)  # before any network loads or file is decoded
    if m == "fvd":
        from .compute import compute_fvd

        rep = compute_fvd(args.real, args.fake, weights=args.weights, layer=args.layer, num_frames=args.frames,
                          stride=args.stride, start=args.start, fps=args.fps, max_videos=args.max_videos,
                          batch_size=args.batch_size, device=args.device, cache_dir=cache, progress=progress)
    elif m == "fid":
        from .compute import compute_fid

        rep = compute_fid(args.real, args.fake, weights=args.weights, protocol=args.protocol, kid=not args.no_kid,
                          kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, seed=args.seed,
                          frames_per_video=args.frames_per_video, frame_stride=args.frame_stride, fps=args.fps,
                          batch_size=args.batch_size, device=args.device, cache_dir=cache, progress=progress)
    elif m == "is":
        from .compute import compute_is

        rep = compute_is(args.path, weights=args.weights, protocol=args.protocol, splits=args.splits,
                         shuffle=not args.no_shuffle, seed=args.seed, frames_per_video=args.frames_per_video,
                         frame_stride=args.frame_stride, fps=args.fps, batch_size=args.batch_size,
                         device=args.device, progress=progress)
    elif m == "clip":
        from .clip_score import compute_clip_similarity

        prompts = None
        if args.prompts:
            with open(args.prompts, encoding="utf-8") as f:
                prompts = json.load(f)
        rep = compute_clip_similarity(args.videos, model_name=args.model, weights=args.weights,
                                      pretrained=args.pretrained, text=args.text, prompts=prompts,
                                      audio_embeddings=args.audio_embeddings, fps=args.fps,
                                      max_frames=args.max_frames, device=args.device, progress=progress)
    elif m == "mcd":
        from .audio_eval import compute_mcd

        rep = compute_mcd(args.generated, args.reference, order=args.order, progress=progress)
    elif m == "timbre":
        from .audio_eval import compute_timbre

        rep = compute_timbre(args.generated, args.reference, trim_silence=not args.no_trim_silence,
                             device=args.device, progress=progress)
    elif m == "sync":
        from .audio_eval import compute_sync

        rep = compute_sync(args.videos, audio=args.audio, events=args.events, tolerance=args.tolerance,
                           fps=args.fps, progress=progress)
    elif m == "v2s":
        from ..benchmarks.v2s import evaluate_v2s

        from ..benchmarks.v2s import group_table

        checkpoints = args.checkpoint or [None]
        if len(checkpoints) > 1:
            return _compare_v2s(args, checkpoints, progress)
        rep = evaluate_v2s(args.test_dir, checkpoint=checkpoints[0], output_dir=args.output, ablate=args.ablate,
                           device=args.device, seed=args.seed, limit=args.limit, progress=progress,
                           train_manifest=args.train_manifest, vocoder=args.vocoder, timing_only=args.timing_only)
        print(group_table(rep), end="")
        if rep.get("ceiling_by_split"):
            print("\nthe clips' own recorded tracks scored the same way (the ceiling):")
            print(group_table(rep, "ceiling_by_split"), end="")
        if rep.get("vocoded_ceiling_by_split"):
            print("\nthe timbre figures of the clips' own tracks after mel -> vocoder (the vocoder's ceiling):")
            print(group_table(rep, "vocoded_ceiling_by_split"), end="")
    elif m == "v2s-real":
        from ..benchmarks.real_clips import evaluate_v2s_real, markdown_table

        from ..bundled import bundled_checkpoint

        rep = evaluate_v2s_real(args.clips_dir, output_dir=args.output, checkpoint=bundled_checkpoint(args.checkpoint),
                                reference=args.reference, seed=args.seed, tolerance=args.tolerance,
                                device=args.device, limit=args.limit, progress=progress)
        print(markdown_table(rep), end="")
    else:
        from .audio_eval import compute_melception

        rep = compute_melception(args.generated, args.reference, weights=args.weights, norm_stats=args.norm_stats,
                                 splits=args.splits, device=args.device, progress=progress)
    print(_summary(rep))
    for w in rep.get("warnings", []):  # e.g. too few distinct unseen references
        print(f"avgen eval {m}: warning: {w}")
    print(write_report(rep, args.report))
    return 0
