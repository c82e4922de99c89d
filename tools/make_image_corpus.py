#!/usr/bin/env python
"""Build the image assets of the realistic renders from Debian packages (see data/image_corpus/README.md).

    python tools/make_image_corpus.py download --cache /work/image_cache
    python tools/make_image_corpus.py build --cache /work/image_cache -o /work/image_corpus
    python tools/make_image_corpus.py verify /work/image_corpus --manifest data/image_corpus/manifest.jsonl

``download`` runs ``apt-get download PKG`` into CACHE/debs (``--reuse DIR`` first copies a matching .deb from DIR,
e.g. the sound corpus cache) and unpacks each with ``dpkg -x`` into CACHE/extracted/PKG. ``build`` takes
backgrounds (photographs and artwork of the wallpaper packages, downscaled to <= 512 px on the long side, JPEG) and
sprites (single objects with transparency from game data packages, cropped to their alpha box, <= 128 px, RGBA PNG),
and writes OUT/manifest.jsonl. ``verify`` checks a built folder against a manifest by the decoded-pixel sha256.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avgen.utils import atomic_output  # noqa: E402

BACKGROUND_PACKAGES = (
    "mate-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "plasma-workspace-wallpapers",
    "gnome-backgrounds", "ukui-wallpapers", "sway-backgrounds",
)
# Sprite rules: package -> (glob patterns of paths inside the package, most files kept). Patterns pick single
# objects: wesnoth unit base images (no "-attack"/"-defend" frame suffix) and items, supertux creatures/objects,
# frozen-bubble balls, lincity-ng building tiles, hedgewars theme objects and hats.
SPRITE_RULES: dict[str, tuple[tuple[str, ...], int]] = {
    "wesnoth-1.16-data": (("usr/share/games/wesnoth/1.16/data/core/images/units/*/*.png",
                           "usr/share/games/wesnoth/1.16/data/core/images/units/*/*/*.png",
                           "usr/share/games/wesnoth/1.16/data/core/images/items/*.png"), 170),
    "supertux-data": (("usr/share/games/supertux2/images/creatures/*/*.png",
                       "usr/share/games/supertux2/images/objects/*/*.png",
                       "usr/share/games/supertux2/images/objects/*.png"), 90),
    "frozen-bubble-data": (("usr/share/games/frozen-bubble/gfx/balls/*.png",
                            "usr/share/games/frozen-bubble/gfx/*.png"), 40),
    "lincity-ng-data": (("usr/share/games/lincity-ng/images/tiles/*.png",), 70),
    "hedgewars-data": (("usr/share/games/hedgewars/Data/Themes/*/*.png",
                        "usr/share/games/hedgewars/Data/Graphics/*.png"), 80),
}
# Painted scenery from game packages, used as backgrounds too: wesnoth's story landscapes, supertux's level
# backgrounds (the JPEG ones: the PNGs are parallax layers), hedgewars' theme skies.
BACKGROUND_RULES: dict[str, tuple[str, ...]] = {
    "wesnoth-1.16-data": ("usr/share/games/wesnoth/1.16/data/core/images/story/*.jpg",),
    "supertux-data": ("usr/share/games/supertux2/images/background/*/*.jpg",),
    "hedgewars-data": ("usr/share/games/hedgewars/Data/Themes/*/Sky.png",),
}
PACKAGES = BACKGROUND_PACKAGES + tuple(SPRITE_RULES)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Files that are not one object: animation frames, masks, theme skies/land textures, icons, screenshots.
_SPRITE_SKIP = re.compile(r"(-(attack|defend|melee|ranged|die|death|idle|moving|flying|magic|bow|sword|ne|se|n|s|"
                          r"[0-9]+)\b)|(_mask|mask|sky|horizon|horizont|clouds|landtex|landbacktex|border|flake|"
                          r"water|icon|screenshot|splash|dust|droplet|chunk|girder|preview|thumb|button|cursor)",
                          re.IGNORECASE)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def cmd_download(args) -> int:
    """apt-get download (or copy from --reuse) + dpkg -x per package; CACHE/packages.json holds name -> version."""
    from _debian import download_packages  # tools/_debian.py, beside this script

    return 1 if download_packages(args.cache, args.packages, reuse=args.reuse) else 0


def _licence(root: str, package: str, rel: str) -> str:
    """Licence of ``rel``: a plasma wallpaper's own metadata.json, else usr/share/doc/PKG/copyright (the sound
    corpus' DEP-5 reader)."""
    from avgen.data.sound_corpus import licence_for, parse_copyright

    # a plasma wallpaper states its own licence in its metadata.json (the package's copyright file says GPL-2+)
    m = re.match(r"(usr/share/wallpapers/[^/]+)/contents/", rel)
    if m and os.path.isfile(os.path.join(root, m.group(1), "metadata.json")):
        with open(os.path.join(root, m.group(1), "metadata.json"), encoding="utf-8") as f:
            stated = json.load(f).get("KPlugin", {}).get("License", "")
        if stated.strip():
            return {"LGPLv3": "LGPL-3"}.get(stated.strip(), stated.strip())
    path = os.path.join(root, "usr/share/doc", package, "copyright")
    if not os.path.isfile(path):
        return "see-copyright"
    with open(path, encoding="utf-8", errors="replace") as f:
        stanzas, default = parse_copyright(f.read())
    return licence_for(stanzas, default, rel)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]


def _background_candidates(root: str, patterns: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(relative path, group) of the background pictures of one unpacked package: for each group (one picture:
    resolution suffixes and plasma's per-resolution folders stripped) the largest landscape file."""
    best: dict[str, tuple[int, str]] = {}
    from PIL import Image

    for folder, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if not name.lower().endswith(IMAGE_SUFFIXES) or "/doc/" in rel or "screenshot" in name.lower():
                continue
            if patterns is not None and not any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            m = re.search(r"wallpapers/([^/]+)/contents/(images[^/]*)/", rel)
            if m:  # plasma: one group per wallpaper and variant (images / images_dark)
                group = f"{m.group(1)}-{m.group(2)}"
            elif patterns is not None:  # game scenery: one group per file
                group = os.path.splitext(rel.split("/", 4)[-1])[0]
            else:
                stem = os.path.splitext(name)[0]
                group = re.sub(r"[_-]?\d{3,5}x\d{3,5}(_portrait)?$", "", stem, flags=re.IGNORECASE)
            try:
                with Image.open(os.path.join(root, rel)) as im:
                    w, h = im.size
            except OSError:
                continue
            if w < h or max(w, h) < 640:  # landscape pictures of a useful size only
                continue
            if group not in best or w * h > best[group][0]:
                best[group] = (w * h, rel)
    return sorted((rel, group) for group, (_, rel) in best.items())


def _sprite_candidates(root: str, patterns: tuple[str, ...]) -> list[str]:
    """Relative paths matching ``patterns`` whose name is not an animation frame, mask or texture."""
    out = []
    for folder, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            stem = os.path.splitext(name)[0]
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns) and not _SPRITE_SKIP.search(stem):
                out.append(rel)
    return sorted(out)


def _one_object(alpha) -> bool:
    """Whether an alpha map (cropped to its box) looks like one object, not a sprite sheet: enough of it opaque,
    a moderate aspect ratio, and no fully transparent row/column band splitting the mass in two large parts."""
    import numpy as np

    a = alpha > 32
    h, w = a.shape
    if min(h, w) < 16 or max(h, w) / min(h, w) > 2.5:
        return False
    cover = a.mean()
    if not 0.2 <= cover <= 0.97:  # solid rectangles (no real transparency) and wisps are refused
        return False
    for prof in (a.sum(0), a.sum(1)):
        mass = np.cumsum(prof) / prof.sum()
        empty = prof == 0
        if empty.any():
            idx = np.flatnonzero(empty)
            if ((mass[idx] > 0.15) & (mass[idx] < 0.85)).any():
                return False
    return True


def _write_background(src: str, out: str):
    """The picture downscaled to <= 512 px as JPEG (quality 90), or None when it is flat (no texture to use)."""
    import numpy as np
    from PIL import Image

    with Image.open(src) as im:
        im.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced scale
        im = im.convert("RGB")
        im.thumbnail((512, 512), Image.LANCZOS)
        grey = np.asarray(im.convert("L"), dtype=np.float32)
        if grey.std() < 15 or np.abs(np.diff(grey, axis=1)).mean() < 0.3:  # flat or near-empty pictures
            return None
        with atomic_output(out) as tmp:
            im.save(tmp, "JPEG", quality=90, optimize=True)
    return Image.open(out)


def _write_sprite(src: str, out: str):
    """The sprite cropped to its alpha box and downscaled to <= 128 px, or None when it is not one object."""
    import numpy as np
    from PIL import Image

    with Image.open(src) as im:
        if im.mode not in ("RGBA", "LA", "PA", "P") and "transparency" not in im.info:
            return None
        im = im.convert("RGBA")
    alpha = np.asarray(im)[:, :, 3]
    ys, xs = np.nonzero(alpha > 32)
    if len(ys) == 0:
        return None
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    im = im.crop(box)
    if not _one_object(np.asarray(im)[:, :, 3]):
        return None
    im.thumbnail((128, 128), Image.LANCZOS)
    with atomic_output(out) as tmp:
        im.save(tmp, "PNG", optimize=True)
    return Image.open(out)


def cmd_build(args) -> int:
    """Write OUT/<package>/*.jpg|png and OUT/manifest.jsonl from the unpacked packages."""
    from avgen.data.image_corpus import pixel_sha256, write_manifest

    info_path = os.path.join(args.cache, "packages.json")
    if not os.path.isfile(info_path):
        raise UsageError(f"{info_path}: not found (run download first)")
    with open(info_path) as f:
        info = json.load(f)
    rows, seen, timings = [], set(), {}
    for package in args.packages:
        if package not in info:
            print(f"{package}: not downloaded, skipped", file=sys.stderr)
            continue
        t0 = time.time()
        root = os.path.join(args.cache, "extracted", package)
        # (kind, relative path, group) jobs: wallpaper packages give backgrounds, game packages sprites and scenery
        jobs = []
        if package in BACKGROUND_PACKAGES or package in BACKGROUND_RULES:
            jobs += [("background", rel, group)
                     for rel, group in _background_candidates(root, BACKGROUND_RULES.get(package))]
        limit = {"background": len(jobs), "sprite": 0}
        if package in SPRITE_RULES:
            patterns, limit["sprite"] = SPRITE_RULES[package]
            sprites = [("sprite", rel, os.path.splitext(rel)[0]) for rel in _sprite_candidates(root, patterns)]
            random.Random(package).shuffle(sprites)  # a fixed, spread-out pick when there are more than `limit`
            jobs += sprites
        kept = {"background": 0, "sprite": 0}
        for kind, rel, group in jobs:
            if kept[kind] >= limit[kind]:
                continue
            parts = os.path.splitext(rel)[0].split("/")
            name = group if kind == "background" else "-".join(parts[-2:])
            ident = _safe(f"{package}-{name}-{hashlib.sha256(rel.encode()).hexdigest()[:8]}")
            out_rel = f"{package}/{ident}.{'jpg' if kind == 'background' else 'png'}"
            out = os.path.join(args.output, out_rel)
            try:
                im = (_write_background if kind == "background" else _write_sprite)(os.path.join(root, rel), out)
            except (OSError, ValueError) as e:
                print(f"{package}/{rel}: skipped ({e})", file=sys.stderr)
                continue
            if im is None:
                continue
            with im:
                sha, (w, h) = pixel_sha256(im), im.size
            if sha in seen:  # the same pixels shipped twice
                os.remove(out)
                continue
            seen.add(sha)
            rows.append({"id": ident, "path": out_rel, "kind": kind, "group": _safe(f"{package}-{group}"),
                         "package": package, "package_version": info[package]["version"], "source_file": rel,
                         "licence": _licence(root, package, rel), "sha256": sha, "width": w, "height": h})
            kept[kind] += 1
        timings[package] = round(time.time() - t0, 1)
        print(f"{package}: {kept['background']} backgrounds, {kept['sprite']} sprites of {len(jobs)} candidates, "
              f"{timings[package]} s", flush=True)
    write_manifest(os.path.join(args.output, "manifest.jsonl"), rows)
    counts = {k: sum(r["kind"] == k for r in rows) for k in ("background", "sprite")}
    print(f"{args.output}: {counts['background']} backgrounds, {counts['sprite']} sprites "
          f"({sum(timings.values()):.0f} s)")
    return 0


def cmd_verify(args) -> int:
    """Every manifest row's file exists in FOLDER and decodes to the recorded pixel sha256 and size."""
    from PIL import Image

    from avgen.data.image_corpus import pixel_sha256, read_manifest

    rows = read_manifest(args.manifest or os.path.join(args.folder, "manifest.jsonl"))
    bad = 0
    for r in rows:
        path = os.path.join(args.folder, r["path"])
        if not os.path.isfile(path):
            print(f"{path}: missing", file=sys.stderr)
            bad += 1
            continue
        with Image.open(path) as im:
            if pixel_sha256(im) != r["sha256"] or im.size != (r["width"], r["height"]):
                print(f"{path}: pixels differ from the manifest", file=sys.stderr)
                bad += 1
    print(f"{len(rows) - bad}/{len(rows)} images match")
    return 1 if bad else 0


def cmd_preview(args) -> int:
    """Render clips with the train and held-out styles from a built folder: time them (one core) and write a
    contact sheet (rows: clips; columns: frames around the events)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from avgen.data import scenes
    from avgen.data.image_corpus import load_assets, read_manifest, split_images

    rows = read_manifest(os.path.join(args.folder, "manifest.jsonl"))
    sides = split_images(rows, test_fraction=0.2, seed=args.seed)
    assets = {side: load_assets(args.folder, part) for side, part in sides.items()}
    rng = np.random.default_rng(args.seed)
    # timing: 4 s, 25 fps, 128 x 128, every kind of every style
    wall, cpu = [], []
    for style in scenes.TRAIN_STYLES + scenes.HELD_OUT_STYLES:
        for kind in style.kinds:
            for _ in range(args.repeats):
                evs = scenes.plan_events(rng, float(rng.uniform(0.2, 1.2)), 4.0, (kind,))
                t0, c0 = time.perf_counter(), time.process_time()
                scenes.render_scene(evs, rng=rng, style=style, assets=assets[style.image_split], seconds=4.0,
                                    fps=25.0, size=128)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
    # CPU time is the cost on one core; wall time also counts waiting for a loaded machine
    print(f"render 4 s 25 fps 128x128 over {len(wall)} clips: CPU median {np.median(cpu):.3f} s, "
          f"p90 {np.percentile(cpu, 90):.3f} s; wall median {np.median(wall):.3f} s, "
          f"p90 {np.percentile(wall, 90):.3f} s")
    # contact sheet: one row per clip, frames just before, at and after an event
    tile, cols, picks = args.tile, 6, []
    for style in scenes.TRAIN_STYLES + scenes.HELD_OUT_STYLES:
        for kind in style.kinds:
            picks.append((style, kind))
    picks = [picks[i] for i in sorted(set(np.linspace(0, len(picks) - 1, args.clips).round().astype(int)))]
    sheet = Image.new("RGB", (cols * tile, len(picks) * (tile + 14)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for r, (style, kind) in enumerate(picks):
        evs = scenes.plan_events(rng, 0.8, 3.0, (kind,), min_events=2, max_events=3)
        frames, info = scenes.render_scene(evs, rng=rng, style=style, assets=assets[style.image_split],
                                           seconds=3.0, fps=25.0, size=(160, 120), return_info=True)
        e = int(round(evs[0][0] * 25))
        idx = np.clip(np.linspace(e - 6, e + 9, cols).round().astype(int), 0, len(frames) - 1)
        for c, i in enumerate(idx):
            sheet.paste(Image.fromarray(frames[i]).resize((tile, tile * 3 // 4)), (c * tile, r * (tile + 14) + 14))
        draw.text((4, r * (tile + 14)), f"{style.name} / {kind} / {info['camera']} / {info['lighting']} / "
                  f"event at frame {e}", fill=(230, 230, 230))
    sheet = sheet.crop((0, 0, cols * tile, len(picks) * (tile + 14) - tile // 4))
    sheet.quantize(256, dither=Image.Dither.NONE).save(args.sheet, optimize=True)  # palette PNG: a small file
    print(f"{args.sheet}: {len(picks)} clips, {os.path.getsize(args.sheet) // 1024} KB")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="apt-get download + dpkg -x the packages")
    d.add_argument("--cache", required=True, help="folder for the downloaded and unpacked packages")
    d.add_argument("--reuse", help="a folder of already downloaded .deb files to copy from")
    d.add_argument("packages", nargs="*", default=list(PACKAGES), help="Debian packages (default: the built-in list)")
    b = sub.add_parser("build", help="write the downscaled images and manifest.jsonl")
    b.add_argument("--cache", required=True, help="the folder `download` filled")
    b.add_argument("-o", "--output", required=True, help="corpus folder to write (images + manifest.jsonl)")
    b.add_argument("packages", nargs="*", default=list(PACKAGES), help="Debian packages (default: the built-in list)")
    v = sub.add_parser("verify", help="check a built folder against a manifest")
    v.add_argument("folder", help="a built corpus folder")
    v.add_argument("--manifest", help="manifest to check against (default: the folder's manifest.jsonl)")
    w = sub.add_parser("preview", help="time the renderer and write a contact sheet of rendered frames")
    w.add_argument("folder", help="a built corpus folder")
    w.add_argument("--sheet", default="docs/figures/renders_contact_sheet.png", help="contact sheet PNG to write (default %(default)s)")
    w.add_argument("--clips", type=int, default=8, help="clips rendered (default 8)")
    w.add_argument("--tile", type=int, default=128, help="tile size in pixels (default 128)")
    w.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    w.add_argument("--seed", type=int, default=0, help="seed of the rendered clips (default 0)")
    args = p.parse_args(argv)
    try:
        return {"download": cmd_download, "build": cmd_build, "verify": cmd_verify,
                "preview": cmd_preview}[args.command](args)
    except UsageError as e:
        print(f"make_image_corpus: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
