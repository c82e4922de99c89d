#!/usr/bin/env python
"""Build the real-recording sound corpus from Debian packages (see data/sound_corpus/README.md).

    python tools/make_sound_corpus.py download --cache /work/corpus_cache
    python tools/make_sound_corpus.py build --cache /work/corpus_cache -o /work/corpus
    python tools/make_sound_corpus.py verify /work/corpus --manifest data/sound_corpus/manifest.jsonl

``download`` runs ``apt-get download PKG`` for every package into CACHE/debs and unpacks each with ``dpkg -x`` into
CACHE/extracted/PKG; ``build`` scans the unpacked audio files (wav/ogg/oga/opus/flac/mp3/aiff/wv), cuts events and
writes CORPUS/PKG/*.flac (22050 Hz mono) with CORPUS/manifest.jsonl; ``verify`` checks a built corpus against a
manifest by the events' decoded-PCM sha256, or where another CPU's decoder differs in the last bits, by their length
and level envelope (``avgen.data.sound_corpus.levels_match``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

# Packages used by default and the files taken from them (paths inside the package). Music tracks (a "music"
# folder) are songs, not sound events, and are left out; ktuberling-data speaks the same words in 15 languages,
# four of which are kept so one word list does not dominate the corpus.
PACKAGES = (
    "sonic-pi-samples", "hydrogen-drumkits", "supertux-data", "wesnoth-1.16-data", "lincity-ng-data",
    "frozen-bubble-data", "pingus-data", "teeworlds-data", "chromium-bsu-data", "sound-icons", "ktuberling-data",
    "hedgewars-data",
)
AUDIO_SUFFIXES = (".wav", ".ogg", ".oga", ".opus", ".flac", ".mp3", ".aiff", ".aif", ".wv")
_KTUBERLING_LANGUAGES = ("en", "de", "el", "sl")
_HEDGEWARS_VOICES = ("default", "pirate", "robot")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def _included(package: str, rel: str) -> bool:
    """Whether the file ``rel`` (path inside the package) enters the corpus (rules above)."""
    parts = rel.lower().split("/")
    if not rel.lower().endswith(AUDIO_SUFFIXES) or "music" in parts[:-1]:
        return False
    if package == "ktuberling-data":
        return len(parts) >= 2 and parts[-2] in _KTUBERLING_LANGUAGES
    if package == "hedgewars-data" and "voices" in parts[:-1]:
        return parts[-2] in _HEDGEWARS_VOICES
    return True


def cmd_download(args) -> int:
    """apt-get download + dpkg -x for each package; writes CACHE/packages.json (name, version, .deb file)."""
    from _debian import download_packages  # tools/_debian.py, beside this script

    return 1 if download_packages(args.cache, args.packages, force=args.force) else 0


def _slug(text: str, length: int = 32) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:length].strip("-") or "x"


def cmd_build(args) -> int:
    """Scan the unpacked packages, cut events, write FLACs and the manifest; print a summary."""
    from tqdm import tqdm

    from avgen.data import sound_corpus as sc
    from avgen.errors import AvgenError

    extracted = os.path.join(args.cache, "extracted")
    packages_json = os.path.join(args.cache, "packages.json")
    if not os.path.isdir(extracted) or not os.path.isfile(packages_json):
        raise UsageError(f"{args.cache}: no unpacked packages (run the 'download' command first)")
    with open(packages_json) as f:
        info = json.load(f)
    missing = [p for p in args.packages if p not in info]
    if missing:
        raise UsageError(f"{packages_json}: not downloaded: {', '.join(missing)}")
    # the work list: (package, path inside the package), sorted so the build is deterministic
    work = []
    for package in sorted(args.packages):
        root = os.path.join(extracted, package)
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                if _included(package, rel):
                    work.append((package, rel))
    if args.limit:
        work = work[: args.limit]
    licences = {}
    for package in args.packages:
        cpath = os.path.join(extracted, package, "usr/share/doc", package, "copyright")
        with open(cpath, encoding="utf-8", errors="replace") as f:
            licences[package] = sc.parse_copyright(f.read())
    os.makedirs(args.output, exist_ok=True)
    t0 = time.time()
    rows, seen_pcm, seen_event, skipped = [], {}, set(), []
    for package, rel in tqdm(work, desc="recordings", unit="file", disable=args.no_progress):
        src = os.path.join(extracted, package, rel)
        category = sc.categorize(package, rel)
        try:
            pcm_hash, events = sc.cut_recording(src, sustained=category == "sustained", max_events=args.max_events)
        except sc.SkipRecording as e:
            skipped.append((f"{package}/{rel}", e.reason))
            continue
        except (AvgenError, OSError, ValueError, RuntimeError) as e:  # a bad file is reported, the run goes on
            skipped.append((f"{package}/{rel}", f"{type(e).__name__}: {e}"))
            continue
        if pcm_hash in seen_pcm:
            skipped.append((f"{package}/{rel}", f"duplicate of {seen_pcm[pcm_hash]}"))
            continue
        seen_pcm[pcm_hash] = f"{package}/{rel}"
        stanzas, default = licences[package]
        source_sha = _file_sha256(src)
        # named by the source's bytes, not its decoded PCM (which differs in the last bits between CPUs)
        recording = f"{package}-{_slug(os.path.splitext(os.path.basename(rel))[0])}-{source_sha[:8]}"
        for k, event in enumerate(events):
            event_id = f"{recording}-{k:02d}"
            rel_out = f"{package}/{event_id}.flac"
            check = sc.write_event(os.path.join(args.output, rel_out), event.samples)
            if check["sha256"] in seen_event:  # the same excerpt twice (e.g. a repeated loop): kept once
                os.remove(os.path.join(args.output, rel_out))
                continue
            seen_event.add(check["sha256"])
            rows.append({"id": event_id, "path": rel_out, "recording": recording, "category": category,
                         "family": sc.family_of(category), "package": package,
                         "package_version": info[package]["version"], "source_file": rel,
                         "licence": sc.licence_for(stanzas, default, rel), "source_sha256": source_sha,
                         "start": event.start, "duration": event.duration, "sample_rate": sc.SAMPLE_RATE,
                         **check})
    manifest = os.path.join(args.output, "manifest.jsonl")
    sc.write_manifest(manifest, rows)
    elapsed = time.time() - t0
    # summary
    summary = {"recordings": len({r["recording"] for r in rows}), "events": len(rows), "skipped": len(skipped),
               "seconds": round(elapsed, 1), "per_package": _counts(rows, "package"),
               "per_category": _counts(rows, "category")}
    if args.skipped_log:
        from avgen.utils import atomic_write_text
        atomic_write_text(args.skipped_log, "".join(f"{p}\t{why}\n" for p, why in skipped))
    for path, why in skipped[: args.show_skipped]:
        print(f"skipped {path}: {why}", file=sys.stderr)
    print(json.dumps(summary, indent=1))
    print(f"-> {manifest}")
    return 0


def _counts(rows, key) -> dict:
    """{value: [recordings, events]} for a manifest key."""
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r[key], [set(), 0])
        out[r[key]][0].add(r["recording"])
        out[r[key]][1] += 1
    return {k: [len(v[0]), v[1]] for k, v in sorted(out.items())}


def _file_sha256(path: str) -> str:
    from avgen.utils import file_sha256
    return file_sha256(path)


def cmd_verify(args) -> int:
    """Compare a built corpus with a manifest: every event file is decoded again and must give the recorded PCM
    sha256, or (another CPU's decoder differs in the last bits) the recorded length and level envelope within
    ``levels_match``'s tolerance."""
    from tqdm import tqdm

    from avgen.data import sound_corpus as sc
    from avgen.errors import AvgenError
    from avgen.media import read_audio

    if not os.path.isdir(args.corpus):
        raise UsageError(f"{args.corpus}: corpus folder not found")
    expected = sc.read_manifest(args.manifest)
    built_path = os.path.join(args.corpus, "manifest.jsonl")
    built = {r["id"]: r for r in sc.read_manifest(built_path)} if os.path.isfile(built_path) else {}
    problems, identical = [], 0
    for row in tqdm(expected, desc="events", unit="file", disable=args.no_progress):
        path = os.path.join(args.corpus, row["path"])
        if not os.path.isfile(path):
            problems.append(f"{row['id']}: missing {row['path']}")
            continue
        try:
            wav, sr = read_audio(path)
        except AvgenError as e:
            problems.append(f"{row['id']}: {e}")
            continue
        got = sc.event_check(wav[0])
        if sr != row["sample_rate"] or got["samples"] != row["samples"]:
            problems.append(f"{row['id']}: {got['samples']} samples at {sr} Hz, expected {row['samples']} at "
                            f"{row['sample_rate']} Hz")
        elif got["sha256"] != row["sha256"] and not sc.levels_match(got["levels"], row["levels"]):
            off = max(abs(a - b) for a, b in zip(got["levels"], row["levels"]))
            problems.append(f"{row['id']}: sha256 {got['sha256'][:12]}, expected {row['sha256'][:12]}, and the "
                            f"level envelope is off by up to {off:.1f} (int16 units)")
        elif built and row["id"] in built and built[row["id"]]["sha256"] != got["sha256"]:
            problems.append(f"{row['id']}: the corpus manifest disagrees with the file")
        else:
            identical += got["sha256"] == row["sha256"]
    extra = sorted(set(built) - {r["id"] for r in expected})
    for p in problems[: args.show]:
        print(p)
    matching = len(expected) - len(problems)
    print(json.dumps({"expected": len(expected), "matching": matching, "identical": identical,
                      "within_tolerance": matching - identical, "mismatched_or_missing": len(problems),
                      "extra_in_corpus": len(extra)}))
    return 0 if not problems else 1


def cmd_split(args) -> int:
    """Write the two sides of ``split_corpus`` as JSONL manifests beside the corpus's own (paths relative to it), so
    training reads only one side: ``CORPUS/split_<by>_seed<seed>_{train,test}.jsonl``."""
    from avgen.data import sound_corpus as sc
    from avgen.utils import atomic_write_text

    manifest = os.path.join(args.corpus, "manifest.jsonl")
    if not os.path.isfile(manifest):
        raise UsageError(f"{args.corpus}: no manifest.jsonl (build the corpus first)")
    if not 0 < args.test_fraction < 1:
        raise UsageError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    sides = sc.split_corpus(sc.read_manifest(manifest), by=args.by, test_fraction=args.test_fraction,
                            seed=args.seed)
    for side, rows in sides.items():
        out = os.path.join(args.corpus, f"split_{args.by}_seed{args.seed}_{side}.jsonl")
        atomic_write_text(out, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        print(f"{out}: {len(rows)} events, {len({r['recording'] for r in rows})} recordings")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="make_sound_corpus.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="apt-get download + dpkg -x the packages into the cache")
    d.add_argument("--cache", default="corpus_cache", help="cache folder for .deb files and unpacked trees "
                   "(default ./corpus_cache)")
    d.add_argument("--packages", nargs="+", default=list(PACKAGES), metavar="PKG",
                   help=f"Debian packages (default: {' '.join(PACKAGES)})")
    d.add_argument("--force", action="store_true", help="download again even if the .deb is in the cache")
    d.set_defaults(func=cmd_download)
    b = sub.add_parser("build", help="cut events from the unpacked packages into CORPUS")
    b.add_argument("-o", "--output", required=True, metavar="CORPUS", help="corpus folder to write")
    b.add_argument("--cache", default="corpus_cache", help="the download command's cache (default ./corpus_cache)")
    b.add_argument("--packages", nargs="+", default=list(PACKAGES), metavar="PKG", help="packages to scan "
                   "(default: all of the download command's default)")
    b.add_argument("--max-events", type=_positive_int, default=8, help="events per recording at most (default 8)")
    b.add_argument("--limit", type=_positive_int, default=None, help="scan only the first N files (for testing)")
    b.add_argument("--skipped-log", default=None, help="write the skipped files and reasons to this file")
    b.add_argument("--show-skipped", type=int, default=20, help="print this many skipped files (default 20)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)
    v = sub.add_parser("verify", help="check a built corpus against a manifest (PCM sha256, "
                       "or length and level envelope within tolerance)")
    v.add_argument("corpus", metavar="CORPUS", help="the built corpus folder")
    v.add_argument("--manifest", required=True, help="the manifest to check against (e.g. the committed one)")
    v.add_argument("--show", type=int, default=20, help="print this many problems (default 20)")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_verify)
    s = sub.add_parser("split", help="write the train/test sides of a split as manifests in CORPUS")
    s.add_argument("corpus", metavar="CORPUS", help="the built corpus folder")
    s.add_argument("--by", default="recording", choices=["recording", "category"], help="what is held out "
                   "(default: whole recordings)")
    s.add_argument("--test-fraction", type=float, default=0.2, help="share held out (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    s.set_defaults(func=cmd_split)
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv=None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage + the error; keep its exit status (2) or 0 for --help
        return int(e.code or 0)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"make_sound_corpus.py {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - every failure is one line, never a traceback
        from avgen.errors import AvgenError
        if isinstance(e, (AvgenError, OSError)):
            print(f"make_sound_corpus.py {args.command}: error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
