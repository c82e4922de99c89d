#!/usr/bin/env python
"""Build the bundled sound-to-video default (avgen/assets/s2v_default) from Debian packages anyone can fetch offline.

    apt-get download mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 lincity-ng-data
    for p in *.deb; do dpkg -x "$p" debs; done
    python tools/make_s2v_default.py --debs debs -o runs/s2v_default data      # images + scene videos
    python tools/make_s2v_default.py -o runs/s2v_default stylegan             # StyleGAN2 64x64 (configs/s2v/default_stylegan.yaml)
    python tools/make_s2v_default.py -o runs/s2v_default clip                 # tiny open_clip joint text/image space
    python tools/make_s2v_default.py -o runs/s2v_default audio                # audio encoder into that space
    python tools/make_s2v_default.py -o runs/s2v_default s2v                  # sound inversion + recurrent blocks
    python tools/make_s2v_default.py -o runs/s2v_default pack                 # -> avgen/assets/s2v_default

Three scene classes, each a set of nature photographs and a set of field recordings paired by construction:
``lake`` (water sounds), ``forest`` (park/bird ambience), ``flowers`` (farm ambience). The scene videos are slow
pans and zooms over random crops of a class's photographs with one of the class's recordings as the sound track;
one recording per class is held out for the CLIP-similarity curves. See the PHOTOS/SOUNDS tables for sources and
licences (written to MANIFEST.md by ``pack``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSET = os.path.join(REPO, "avgen", "assets", "s2v_default")
CLASSES = ("lake", "forest", "flowers")
CAPTIONS = ("a photo of {}", "{}", "a picture of {}", "a landscape with {}", "a close-up photo of {}",
            "a nature photo of {}")
CLASS_TEXT = {"lake": "a lake", "forest": "a forest", "flowers": "flowers"}

# (class, path under the extracted packages, package, author, licence)
PHOTOS = [
    ("lake", "usr/share/backgrounds/mate/nature/Aqua.jpg", "mate-backgrounds", "Charles Barbin", "GPL-2+"),
    ("lake", "usr/share/backgrounds/mate/nature/Dune.jpg", "mate-backgrounds", "Marco Cogoni, Hylke Bons", "GPL-2+"),
    ("lake", "usr/share/backgrounds/mate/nature/Storm.jpg", "mate-backgrounds", "Sergey Nazarov", "GPL-2+"),
    ("lake", "usr/share/wallpapers/BytheWater/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Maciej Wiklo", "LGPL-3 (Debian: GPL-2+)"),
    ("lake", "usr/share/wallpapers/ColdRipple/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Risto Saukonpää", "LGPL-3 (Debian: GPL-2+)"),
    ("lake", "usr/share/wallpapers/DarkestHour/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Risto Saukonpää", "LGPL-3 (Debian: GPL-2+)"),
    ("lake", "usr/share/wallpapers/EveningGlow/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Ian Hex", "LGPL-3 (Debian: GPL-2+)"),
    ("lake", "usr/share/wallpapers/summer_1am/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Risto Saukonpää", "LGPL-3 (Debian: GPL-2+)"),
    ("forest", "usr/share/wallpapers/Path/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Risto Saukonpää", "LGPL-3 (Debian: GPL-2+)"),
    ("forest", "usr/share/wallpapers/OneStandsOut/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Risto Saukonpää", "LGPL-3 (Debian: GPL-2+)"),
    ("forest", "usr/share/backgrounds/mate/nature/GreenMeadow.jpg", "mate-backgrounds", "Timothy Schellhase",
     "GPL-2+"),
    ("forest", "usr/share/backgrounds/mate/nature/Blinds.jpg", "mate-backgrounds", "Lennart Poettering", "GPL-2+"),
    ("forest", "usr/share/backgrounds/mate/nature/RainDrops.jpg", "mate-backgrounds", "blackcombwhistler07",
     "GPL-2+"),
    ("forest", "usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04",
     "Aitzol Berasategi", "CC-BY-4.0"),
    ("forest", "usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04",
     "Aitzol Berasategi", "CC-BY-4.0"),
    ("forest", "usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg", "lomiri-wallpapers-16.04",
     "Aitzol Berasategi", "CC-BY-4.0"),
    ("flowers", "usr/share/backgrounds/mate/nature/FreshFlower.jpg", "mate-backgrounds", "Jens Ansorg", "GPL-2+"),
    ("flowers", "usr/share/backgrounds/mate/nature/TwoWings.jpg", "mate-backgrounds", "Charles Barbin", "GPL-2+"),
    ("flowers", "usr/share/backgrounds/mate/nature/Garden.jpg", "mate-backgrounds", "Charles Barbin", "GPL-2+"),
    ("flowers", "usr/share/backgrounds/mate/nature/YellowFlower.jpg", "mate-backgrounds", "Charles Barbin",
     "GPL-2+"),
    ("flowers", "usr/share/backgrounds/mate/nature/LadyBird.jpg", "mate-backgrounds", "Charles Barbin", "GPL-2+"),
    ("flowers", "usr/share/wallpapers/FallenLeaf/contents/images/1280x800.jpg", "plasma-workspace-wallpapers",
     "Martin Klapetek", "LGPL-3 (Debian: GPL-2+)"),
    ("flowers", "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg", "lomiri-wallpapers-16.04",
     "Clemens Engelhardt", "CC0-1.0"),
]
_LC = "usr/share/games/lincity-ng/sounds/"
# (class, path, held out?) -- lincity-ng-data sound effects: GPL-2+ / CC-BY-SA-2.0 dual licence (Debian uses GPL)
SOUNDS = [("lake", _LC + f"Water{i}.wav", i == 5) for i in range(1, 6)] + \
         [("lake", _LC + f"ParklandLake{i}.wav", False) for i in (1, 2)] + \
         [("forest", _LC + f"Green{i}.wav", i == 4) for i in range(1, 5)] + \
         [("forest", _LC + f"ParklandPlane{i}.wav", False) for i in (1, 2, 3)] + \
         [("flowers", _LC + f"Farm{i}.wav", i == 3) for i in (1, 2, 3)] + \
         [("flowers", _LC + f"OrganicFarm{i}.wav", False) for i in (1, 2, 3)]
SOUND_LICENCE = "GPL-2+ (LinCity-NG sound effects, dual GPL / CC-BY-SA-2.0; Debian package lincity-ng-data)"

IMAGE_SIZE = 64
CROPS_PER_PHOTO = 48
CLIPS_PER_SOUND = 6
CLIP_SECONDS, CLIP_FPS = 4.0, 8


def _crop(photo: np.ndarray, rng: np.random.Generator, scale: float) -> tuple[int, int, int]:
    """A random square (y, x, side) covering ``scale`` of the photo's short side."""
    h, w = photo.shape[:2]
    side = int(min(h, w) * scale)
    return int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side


def _resize(pixels: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.LANCZOS))


def stage_data(debs: str, out: str, seed: int) -> None:
    """images/<class>/*.png (StyleGAN + CLIP training) and videos/{train,heldout}/<class>/*.mp4 (scene videos)."""
    from PIL import Image

    from avgen.media import read_audio, write_video

    rng = np.random.default_rng(seed)
    photos = {}
    for cls, rel, *_ in PHOTOS:
        path = os.path.join(debs, rel)
        if not os.path.isfile(path):
            raise SystemExit(f"{path}: missing; extract the Debian packages named in the docstring into --debs")
        photos.setdefault(cls, []).append(np.asarray(Image.open(path).convert("RGB")))
    # Random square crops of every photograph at several scales.
    for cls, items in photos.items():
        d = os.path.join(out, "images", cls)
        os.makedirs(d, exist_ok=True)
        for p, photo in enumerate(items):
            for k in range(CROPS_PER_PHOTO):
                y, x, s = _crop(photo, rng, float(rng.uniform(0.35, 1.0)))
                Image.fromarray(_resize(photo[y:y + s, x:x + s], IMAGE_SIZE)).save(
                    os.path.join(d, f"{p:02d}_{k:03d}.png"))
    # Scene videos: a slow zoom/pan between two crops of one photograph, a class recording as the sound.
    t = int(CLIP_SECONDS * CLIP_FPS)
    for cls, rel, held in SOUNDS:
        wav, sr = read_audio(os.path.join(debs, rel), mono=True)
        wav = np.asarray(wav, np.float32).reshape(-1)
        need = int(CLIP_SECONDS * sr)
        wav = np.pad(wav, (0, max(0, need - len(wav))))[:need]
        d = os.path.join(out, "videos", "heldout" if held else "train", cls)
        os.makedirs(d, exist_ok=True)
        for k in range(CLIPS_PER_SOUND):
            photo = photos[cls][int(rng.integers(len(photos[cls])))]
            (y0, x0, s0), (y1, x1, s1) = (_crop(photo, rng, float(rng.uniform(0.4, 1.0))) for _ in range(2))
            frames = []
            for i in range(t):
                a = i / (t - 1)
                y, x, s = (int(round((1 - a) * u + a * v)) for u, v in ((y0, y1), (x0, x1), (s0, s1)))
                frames.append(_resize(photo[y:y + s, x:x + s], IMAGE_SIZE))
            name = os.path.splitext(os.path.basename(rel))[0]
            write_video(os.path.join(d, f"{name}_{k}.mp4"), np.stack(frames), CLIP_FPS, wav[None], sr)
    print(json.dumps({c: len(v) for c, v in photos.items()}), "photos ->", out)


def _train(config: str, out: str, *overrides: str) -> None:
    cmd = [sys.executable, "-m", "avgen.train", "--config", os.path.join(REPO, "configs", "s2v", config), "--cpu",
           *overrides]
    print("+", " ".join(cmd), flush=True)
    # From the repository: run folders named like packages (stylegan/) in the cwd would shadow the imports.
    subprocess.run(cmd, check=True, cwd=REPO)


def stage_stylegan(out: str) -> None:
    _train("default_stylegan.yaml", out, f"data.path={os.path.join(out, 'images')}", f"run_dir={out}/stylegan")


def clip_config_path() -> str:
    return os.path.join(REPO, "configs", "s2v", "avgen-scenes-clip.json")


def stage_clip(out: str, *, steps: int, seed: int) -> None:
    """The joint text/image space: an open_clip CLIP (model config ``avgen-scenes-clip.json``) trained from scratch
    on (crop, caption) pairs, captions drawn from CAPTIONS."""
    import open_clip
    import torch
    from tqdm import tqdm

    from avgen.data.images import ImageFolderDataset

    torch.manual_seed(seed)
    open_clip.add_model_config(clip_config_path())
    name = os.path.splitext(os.path.basename(clip_config_path()))[0]
    model = open_clip.create_model(name)
    tokenizer = open_clip.get_tokenizer(name)
    data = ImageFolderDataset(os.path.join(out, "images"), resolution=IMAGE_SIZE, xflip=True)
    n = len(data.files)
    classes = [data.files[i % n].split(os.sep)[0] for i in range(len(data))]  # xflip: mirrored copies after the originals
    pools = {c: [i for i, k in enumerate(classes) if k == c] for c in CLASSES}  # dataset indices per class
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).reshape(1, 3, 1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(range(steps), desc="clip")
    for _ in bar:
        # One caption per class in the batch so that the contrastive targets are unambiguous.
        idx = [pools[c][int(torch.randint(len(pools[c]), [1], generator=g))] for c in CLASSES]
        idx += torch.randint(len(data), [13], generator=g).tolist()
        batch = torch.stack([torch.as_tensor(data[i]["image"]) for i in idx]).float()  # [B, 3, H, W] in [-1, 1]
        images = (((batch + 1) / 2) - mean) / std
        texts = [CAPTIONS[int(torch.randint(len(CAPTIONS), [1], generator=g))].format(CLASS_TEXT[classes[i]])
                 for i in idx]
        # CLIP's symmetric InfoNCE, except that captions repeat (three classes): every same-class pair in the batch
        # is a positive, so the targets are spread uniformly over them instead of sitting on the diagonal.
        img_f, txt_f, scale = model(images, tokenizer(texts))
        logits = scale * img_f @ txt_f.T
        same = torch.tensor([[classes[i] == classes[j] for j in idx] for i in idx], dtype=torch.float32)
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (torch.sum(-target * logits.log_softmax(1), 1).mean()
                      + torch.sum(-target * logits.T.log_softmax(1), 1).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    os.makedirs(os.path.join(out, "clip"), exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, os.path.join(out, "clip", "clip.pt"))
    # Zero-shot accuracy on the training crops (sanity figure printed with the build).
    with torch.no_grad():
        tf = model.encode_text(tokenizer([CAPTIONS[0].format(CLASS_TEXT[c]) for c in CLASSES]), normalize=True)
        correct = 0
        for start in range(0, n, 256):
            ids = list(range(start, min(start + 256, n)))
            x = torch.stack([torch.as_tensor(data[i]["image"]) for i in ids]).float()
            f = model.encode_image((((x + 1) / 2) - mean) / std, normalize=True)
            pred = (f @ tf.T).argmax(1)
            correct += sum(CLASSES[p] == classes[i] for p, i in zip(pred.tolist(), ids))
    print(f"clip: zero-shot accuracy on the training crops {correct / n:.3f}")
    with open(os.path.join(out, "clip", "summary.json"), "w") as f:
        json.dump({"steps": steps, "zero_shot_accuracy_train_crops": correct / n, "final_loss": loss.item()}, f)


def stage_audio(out: str) -> None:
    v = os.path.join(out, "videos")
    _train("default_audio.yaml", out, f"data.path={v}/train", f"loss.eval_path={v}/heldout", f"run_dir={out}/audio",
           f"model.clip_model={clip_config_path()}", f"model.clip_weights={out}/clip/clip.pt")


def stage_s2v(out: str) -> None:
    v = os.path.join(out, "videos")
    _train("default_s2v.yaml", out, f"data.path={v}/train", f"loss.eval_path={v}/heldout", f"run_dir={out}/s2v",
           f"model.stylegan={out}/stylegan/final", f"model.clip_model={clip_config_path()}",
           f"model.clip_weights={out}/clip/clip.pt", f"model.audio_encoder={out}/audio/final")


def _copy_half(src: str, dst: str) -> None:
    """Copy a file; safetensors weights are stored in float16 (loaded back into float32 modules; halves the repo)."""
    if not src.endswith(".safetensors"):
        shutil.copy(src, dst)
        return
    from safetensors.torch import load_file, save_file

    import torch

    tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in load_file(src).items()}
    save_file(tensors, dst)


def stage_pack(out: str) -> None:
    """Copy the four trained parts into avgen/assets/s2v_default (weights in float16, paths relative to the folder)
    in avgen's checkpoint convention, and write MANIFEST.md."""
    import open_clip
    import torch

    from avgen.audio import CLIP_MEL_PRESET
    from avgen.checkpoints import from_pretrained, read_pipeline_config, save_pipeline_config, save_pretrained
    from avgen.encoders.audio_clip import load_audio_encoder
    from avgen.models.s2v.sound_inversion import SoundToVideo

    os.makedirs(os.path.join(ASSET, "stylegan"), exist_ok=True)
    for f in ("config.json", "generator.safetensors"):  # stylegan's own folder format; no discriminator
        _copy_half(os.path.join(out, "stylegan", "final", f), os.path.join(ASSET, "stylegan", f))
    encoder, enc_cfg = load_audio_encoder(os.path.join(out, "audio", "final"))
    teacher = {"model": "../" + os.path.basename(clip_config_path()), "weights": "../clip.pt",
               "pretrained": None}  # relative to the audio-encoder folder
    save_pretrained(encoder, os.path.join(ASSET, "audio_encoder"), dtype=torch.float16,
                    extra={"mel_preset": enc_cfg.get("mel_preset", CLIP_MEL_PRESET), "teacher": teacher})
    # CLIP: rows of the token embedding never used by the training captions are zeroed (they were never trained)
    # so that the file compresses in git and in the wheel; the architecture and key names stay open_clip's.
    sd = torch.load(os.path.join(out, "clip", "clip.pt"), weights_only=True)["state_dict"]
    name = os.path.splitext(os.path.basename(clip_config_path()))[0]
    open_clip.add_model_config(clip_config_path())
    tok = open_clip.get_tokenizer(name)
    used = torch.unique(tok([c.format(t) for c in CAPTIONS for t in CLASS_TEXT.values()]))
    keep = torch.zeros(sd["token_embedding.weight"].shape[0], dtype=torch.bool)
    keep[used] = True
    sd["token_embedding.weight"][~keep] = 0
    sd = {k: v.half() if v.dtype == torch.float32 else v for k, v in sd.items()}
    torch.save({"state_dict": sd}, os.path.join(ASSET, "clip.pt"))
    shutil.copy(clip_config_path(), os.path.join(ASSET, os.path.basename(clip_config_path())))
    final = os.path.join(out, "s2v", "final")
    cfg = read_pipeline_config(final, "SoundToVideoPipeline")
    model = from_pretrained(os.path.join(final, cfg["components"]["model"]), expected=SoundToVideo)
    save_pretrained(model, os.path.join(ASSET, "s2v"), dtype=torch.float16)
    settings = {k: v for k, v in cfg.items() if k not in ("class", "components", "avgen_version")}
    settings.update(stylegan="stylegan", audio_encoder="audio_encoder",
                    clip={"model": os.path.basename(clip_config_path()), "weights": "clip.pt", "pretrained": None})
    save_pipeline_config(ASSET, "SoundToVideoPipeline", {"model": "s2v"}, settings)
    # A held-out recording to run out of the box.
    shutil.copy(os.path.join(out, "example_sound.wav"), os.path.join(ASSET, "example_lake.wav"))
    write_manifest(out)
    print("packed ->", ASSET)


def _metrics(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_manifest(out: str) -> None:
    """MANIFEST.md: what was trained from what, the measured figures of this build, every source and licence."""
    import yaml

    sg = _metrics(os.path.join(out, "stylegan", "metrics.jsonl"))
    with open(os.path.join(out, "stylegan", "config.yaml")) as f:
        sg_steps = yaml.safe_load(f)["max_steps"]
    au = _metrics(os.path.join(out, "audio", "metrics.jsonl"))
    sv = _metrics(os.path.join(out, "s2v", "metrics.jsonl"))
    with open(os.path.join(out, "clip", "summary.json")) as f:
        clip = json.load(f)
    fid = [r for r in sg if "metrics/fid_effnet" in r]
    margin = [r for r in au if "metrics/audio_frame_margin" in r]
    ev = [r for r in sv if "metrics/clip_av" in r]
    lines = [
        "# Bundled sound-to-video default (`avgen/assets/s2v_default`)",
        "",
        "A **small demonstration model**, not a research checkpoint: 64x64 frames of three nature-scene classes",
        "(lake, forest, flowers), trained on a 2-core CPU in under an hour from 23 photographs and 20 short sound",
        "effects. It shows the whole sound-to-video head working end to end offline (`avgen s2v`, text-constrained",
        "generation, editing); expect blurry, low-detail scenes whose content follows the sound's class only",
        "loosely. For real use plug in public checkpoints (docs/s2v.md).",
        "",
        "Built with `tools/make_s2v_default.py` (stages data, stylegan, clip, audio, s2v, pack; configs in",
        "`configs/s2v/default_*.yaml` and `configs/s2v/avgen-scenes-clip.json`).",
        "",
        "| part | what | figures of this build (held-out = one recording per class never trained on) |",
        "| --- | --- | --- |",
        f"| `stylegan/` | StyleGAN2 64x64, z/w 64, 10 ws, {sg_steps} steps on "
        f"{CROPS_PER_PHOTO} random crops per photo (x-flips) | FID-like EfficientNet distance "
        f"{fid[0]['metrics/fid_effnet']:.1f} (step 0) -> {fid[-1]['metrics/fid_effnet']:.1f} (step {fid[-1]['step']}) |",
        f"| `clip.pt` + `avgen-scenes-clip.json` | open_clip CLIP (ViT 4x128 on 64 px, text 2x32, embed 64) trained "
        f"from scratch on crop/caption pairs, {clip['steps']} steps | zero-shot class accuracy on the training crops "
        f"{clip['zero_shot_accuracy_train_crops']:.3f} |",
        f"| `audio_encoder/` | ResNet18-style CNN (width 16) over 128-bin mels into that space (task s2v_audio) | "
        f"held-out matched-minus-mismatched audio/frame similarity {margin[0]['metrics/audio_frame_margin']:.3f} -> "
        f"{margin[-1]['metrics/audio_frame_margin']:.3f} |",
        f"| `s2v/` | sound-inversion encoder + coarse/mid/fine recurrent blocks (task s2v) | held-out CLIP "
        f"a<->v {ev[0]['metrics/clip_av']:.3f} -> {ev[-1]['metrics/clip_av']:.3f} (interpolation baseline "
        f"{ev[-1]['metrics/clip_av_interp']:.3f}); t<->v {ev[0]['metrics/clip_tv']:.3f} -> "
        f"{ev[-1]['metrics/clip_tv']:.3f} (baseline {ev[-1]['metrics/clip_tv_interp']:.3f}) |",
        "",
        "The CLIP text tower only ever saw the words of the training captions (" +
        ", ".join(f"\"{c.format('...')}\"" for c in CAPTIONS) + " with " +
        ", ".join(f"\"{t}\"" for t in CLASS_TEXT.values()) + "); the token-embedding rows of all other words "
        "were never trained and are stored as zeros, so prompts outside that vocabulary carry little meaning.",
        "",
        "## Licence",
        "",
        "The weights are derived from the works below (GPL-2+, LGPL-3, CC-BY-4.0, CC0-1.0 and GPL-2+ sound",
        "effects); this folder is therefore distributed under **GPL-3.0-or-later**, the terms all of them allow",
        "together. The avgen code itself stays Apache-2.0. Attribution for every source follows.",
        "",
        "## Photographs (Debian packages; the package's `debian/copyright` and, for plasma, `metadata.json`)",
        "",
        "| class | file | package | author | licence |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {c} | `{rel}` | {pkg} | {author} | {lic} |" for c, rel, pkg, author, lic in PHOTOS]
    lines += ["", f"## Sounds: {SOUND_LICENCE}", "", "| class | file | split |", "| --- | --- | --- |"]
    lines += [f"| {c} | `{rel}` | {'held out' if held else 'train'} |" for c, rel, held in SOUNDS]
    lines += ["", "`example_lake.wav` is `" + [r for c, r, h in SOUNDS if h and c == "lake"][0] +
              "` (held out), unchanged.", ""]
    with open(os.path.join(ASSET, "MANIFEST.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=["data", "stylegan", "clip", "audio", "s2v", "pack"],
                   help="data: images + scene videos from the unpacked packages (needs --debs); stylegan: train the "
                        "64x64 StyleGAN2; clip: train the tiny open_clip text/image space; audio: train the audio "
                        "encoder into it; s2v: train the sound inversion + recurrent blocks; pack: copy the four "
                        "parts into avgen/assets/s2v_default and write MANIFEST.md. Run them in this order")
    p.add_argument("-o", "--output", required=True, help="build folder")
    p.add_argument("--debs", help="folder the Debian packages were extracted into (data stage)")
    p.add_argument("--clip-steps", type=int, default=1000, help="training steps of the clip stage (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and clip stages (default 0)")
    a = p.parse_args(argv)
    out = os.path.abspath(a.output)
    os.makedirs(out, exist_ok=True)
    if a.stage == "data":
        if not a.debs:
            p.error("the data stage needs --debs")
        stage_data(a.debs, out, a.seed)
        held = [rel for cls, rel, h in SOUNDS if h and cls == "lake"][0]
        shutil.copy(os.path.join(a.debs, held), os.path.join(out, "example_sound.wav"))
    elif a.stage == "stylegan":
        stage_stylegan(out)
    elif a.stage == "clip":
        stage_clip(out, steps=a.clip_steps, seed=a.seed)
    elif a.stage == "audio":
        stage_audio(out)
    elif a.stage == "s2v":
        stage_s2v(out)
    else:
        stage_pack(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
