"""Realistic scene renders: shapes and rates, the sounding object changes at its events (discrete: a change peak within
one frame; sustained: throughout and not after), distractors move without peaking at the events, train and held-out
styles are disjoint, event planning, determinism. Tiny assets are written in the manifest layout inside the test."""

import numpy as np
import pytest
from PIL import Image

from avgen.data import image_corpus as ic
from avgen.data import scenes as sc
from avgen.errors import AvgenError

CLEAN = sc.SceneStyle("clean", kinds=sc.EVENT_KINDS, cameras=("static",), lighting=("steady",), distractors=(0, 0),
                      blur=(0.0, 0.0), noise=(0.0, 0.0), jpeg_quality=(0, 0), defocus=(0.0, 0.0),
                      vignette=(0.0, 0.0), sprite_scale=(0.3, 0.3))


def _write_assets(folder) -> ic.ImageAssets:
    """Three textured backgrounds and three striped discs with alpha, written as files with a manifest, loaded back."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(3):
        yy, xx = np.mgrid[0:120, 0:160]
        base = np.stack([xx * 1.2, yy * 1.5, (xx + yy) * 0.8], -1) + 40 * i
        img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        rows.append(("background", f"bg{i}", Image.fromarray(img, "RGB"), "jpg"))
    for i in range(3):
        yy, xx = np.mgrid[0:48, 0:48]
        r = np.hypot(yy - 23.5, xx - 23.5)
        rgba = np.zeros((48, 48, 4), np.uint8)
        colour = np.array([[230, 40, 40], [40, 200, 60], [60, 80, 230]][i])
        stripes = ((xx // 6 + i) % 2)[..., None] * 0.5 + 0.5
        rgba[..., :3] = (colour * stripes).astype(np.uint8)
        rgba[..., 3] = np.where(r < 22, 255, 0)
        rows.append(("sprite", f"sp{i}", Image.fromarray(rgba, "RGBA"), "png"))
    manifest = []
    for kind, name, im, ext in rows:
        path = folder / f"{name}.{ext}"
        im.save(path)
        with Image.open(path) as back:
            sha = ic.pixel_sha256(back)
        manifest.append({"id": name, "path": f"{name}.{ext}", "kind": kind, "group": name, "package": "test-data",
                         "package_version": "1.0-1", "source_file": f"usr/share/test/{name}.{ext}",
                         "licence": "CC0-1.0", "sha256": sha, "width": im.width, "height": im.height})
    ic.write_manifest(folder / "manifest.jsonl", manifest)
    return ic.load_assets(folder)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return _write_assets(tmp_path_factory.mktemp("images"))


def _box_energy(frames: np.ndarray, box: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean absolute frame-to-frame change inside ``box`` (x0, y0, x1, y1); index i compares frames i-1 and i."""
    H, W = frames.shape[1:3]
    x0, y0 = max(0, int(box[0]) - 2), max(0, int(box[1]) - 2)
    x1, y1 = min(W, int(np.ceil(box[2])) + 2), min(H, int(np.ceil(box[3])) + 2)
    diff = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(-1)
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    if exclude is not None:
        mask &= ~exclude
    return np.concatenate([[0.0], diff[:, mask].mean(1) if mask.any() else np.zeros(len(diff))])


def _union(boxes: np.ndarray) -> np.ndarray:
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


@pytest.mark.parametrize("fps, size", [(15, 96), (24, (160, 120)), (30, 128), (25, (224, 224))])
def test_shape_dtype_length(assets, fps, size):
    style = sc.TRAIN_STYLES[1]
    frames = sc.render_scene([(0.3, 0.2, "impact")], rng=np.random.default_rng(0), style=style, assets=assets,
                             seconds=1.0, fps=fps, size=size)
    w, h = (size, size) if isinstance(size, int) else size
    assert frames.shape == (round(fps), h, w, 3) and frames.dtype == np.uint8


@pytest.mark.parametrize("kind", ["impact", "bounce", "strike", "break", "flash"])
@pytest.mark.parametrize("degraded", [False, True])
def test_discrete_event_peaks_at_event(assets, kind, degraded):
    fps, events = 25.0, [(0.7, 0.3, kind), (1.5, 0.3, kind), (2.3, 0.3, kind)]
    style = CLEAN if not degraded else sc.SceneStyle(
        "noisy", kinds=sc.EVENT_KINDS, cameras=("static",), lighting=("steady",), distractors=(0, 0),
        noise=(4.0, 4.0), jpeg_quality=(60, 60), blur=(0.15, 0.15), sprite_scale=(0.3, 0.3))
    frames, info = sc.render_scene(events, rng=np.random.default_rng(3), style=style, assets=assets, seconds=2.8,
                                   fps=fps, size=96, return_info=True)
    energy = _box_energy(frames, _union(info["box"]))
    for start, _, _ in events:
        e = int(round(start * fps))
        window = np.arange(e - 5, e + 6)
        if kind == "bounce":  # moving as fast after the contact as before: the contact is the lowest point
            peak = window[np.argmax(info["box"][window, 3])]
        else:  # the object comes to rest, is hit, bursts or lights up: the change peaks at the contact
            peak = window[np.argmax(energy[window])]
        assert abs(peak - e) <= 1, (kind, start, peak, energy[window].round(1))


@pytest.mark.parametrize("kind", ["rattle", "spin", "burn", "flow"])
def test_sustained_event_changes_while_it_lasts(assets, kind):
    fps, events = 25.0, [(0.6, 0.7, kind), (2.3, 0.5, kind)]
    frames, info = sc.render_scene(events, rng=np.random.default_rng(5), style=CLEAN, assets=assets, seconds=3.5,
                                   fps=fps, size=96, return_info=True)
    box = _union(info["box"])
    box[1] -= 0.4 * (box[3] - box[1])  # flames rise above the object
    energy = _box_energy(frames, box)
    for (start, dur, _), nxt in zip(events, [events[1][0], 3.5]):
        inside = energy[int(np.ceil(start * fps)) + 1:int((start + dur) * fps)]
        after = energy[int((start + dur + 0.4) * fps):int(min(start + dur + 0.9, nxt) * fps)]
        assert len(after) >= 4
        assert (inside > 0.3).mean() >= 0.8, (kind, inside.round(2))
        assert after.max() < 0.2 * np.median(inside) + 0.05, (kind, after.round(2))
    before = energy[2:int(0.5 * fps)]
    assert before.max() < 0.05


def test_distractors_move_but_do_not_peak_at_events(assets):
    style = sc.SceneStyle("two-distractors", kinds=sc.EVENT_KINDS, cameras=("static",), lighting=("steady",),
                          distractors=(2, 2), blur=(0.0, 0.0), noise=(0.0, 0.0), jpeg_quality=(0, 0),
                          defocus=(0.0, 0.0), vignette=(0.0, 0.0), sprite_scale=(0.25, 0.25))
    fps, events = 25.0, [(0.8, 0.2, "strike"), (1.7, 0.2, "strike"), (2.6, 0.2, "strike"), (3.4, 0.2, "strike")]
    frames, info = sc.render_scene(events, rng=np.random.default_rng(11), style=style, assets=assets, seconds=4.0,
                                   fps=fps, size=128, return_info=True)
    assert info["distractors"] == 2
    main = _union(info["box"])
    exclude = np.zeros(frames.shape[1:3], bool)
    exclude[max(0, int(main[1]) - 20):int(main[3]) + 20, max(0, int(main[0]) - 20):int(main[2]) + 20] = True
    event_frames = [int(round(s * fps)) for s, _, _ in events]
    moved = 0
    for boxes in info["distractor_boxes"]:
        energy = np.array([_box_energy(frames[max(0, i - 1):i + 1], _union(boxes[max(0, i - 1):i + 1]),
                                       exclude)[-1] for i in range(len(frames))])
        visible = energy[1:] > 0
        if visible.mean() < 0.5:
            continue  # this one left the frame (or hides behind the object)
        moved += 1
        median = np.median(energy[1:][visible])
        assert median > 0
        for e in event_frames:
            assert energy[e - 1:e + 2].max() <= 2.5 * median + 0.5, (energy[e - 1:e + 2], median)
    assert moved >= 1


def test_train_and_held_out_styles_are_disjoint():
    train_kinds = {k for s in sc.TRAIN_STYLES for k in s.kinds}
    held_kinds = {k for s in sc.HELD_OUT_STYLES for k in s.kinds}
    assert train_kinds.isdisjoint(held_kinds)
    assert {c for s in sc.TRAIN_STYLES for c in s.cameras}.isdisjoint({c for s in sc.HELD_OUT_STYLES
                                                                       for c in s.cameras})
    assert {s.image_split for s in sc.TRAIN_STYLES} == {"train"}
    assert {s.image_split for s in sc.HELD_OUT_STYLES} == {"test"}
    assert held_kinds & set(sc.SUSTAINED_KINDS) and held_kinds & set(sc.DISCRETE_KINDS)
    for style in sc.TRAIN_STYLES + sc.HELD_OUT_STYLES:  # every sound category gets a kind in every style
        for category in sc.CATEGORY_KINDS:
            assert set(sc.kinds_for(category, style)) <= set(style.kinds)


def test_plan_events():
    rng = np.random.default_rng(0)
    for _ in range(50):
        dur = float(rng.uniform(0.05, 5.0))
        kind = str(rng.choice(sc.EVENT_KINDS))
        evs = sc.plan_events(rng, dur, 4.0, (kind,))
        assert evs and all(k == kind for _, _, k in evs)
        starts = [s for s, _, _ in evs]
        assert starts == sorted(starts) and starts[0] >= 0.3 - 1e-6
        for (s, d, _), nxt in zip(evs, starts[1:] + [None]):
            assert d > 0 and s + d <= 4.0 + 1e-6
            if kind in sc.SUSTAINED_KINDS:
                assert d == pytest.approx(min(dur, 4.0 - 0.6), abs=1e-3)
                assert s + d <= 4.0 - 0.3 + 1e-3
                if nxt is not None:
                    assert nxt - (s + d) >= 0.45 - 1e-3
            elif nxt is not None:
                assert nxt - s >= 0.45 - 1e-3
    with pytest.raises(AvgenError):
        sc.plan_events(rng, 0.3, 4.0, ("juggle",))


def test_determinism_per_seed(assets):
    evs = [(0.5, 0.2, "impact"), (1.5, 0.8, "rattle")]
    style = sc.SceneStyle("mixed", kinds=("impact", "rattle"), cameras=("shake",), distractors=(1, 2))
    a = sc.render_scene(evs, rng=np.random.default_rng(7), style=style, assets=assets, seconds=2.0, fps=20, size=96)
    b = sc.render_scene(evs, rng=np.random.default_rng(7), style=style, assets=assets, seconds=2.0, fps=20, size=96)
    c = sc.render_scene(evs, rng=np.random.default_rng(8), style=style, assets=assets, seconds=2.0, fps=20, size=96)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_every_style_and_camera_renders(assets):
    rng = np.random.default_rng(2)
    for style in sc.TRAIN_STYLES + sc.HELD_OUT_STYLES:
        for kind in style.kinds:
            evs = sc.plan_events(rng, 0.4, 1.2, (kind,), min_events=1, max_events=2)
            fps, size = sc.sample_format(rng, style)
            frames, info = sc.render_scene(evs, rng=rng, style=style, assets=assets, seconds=1.2, fps=fps,
                                           size=(min(size[0], 80), min(size[1], 64)), return_info=True)
            assert info["camera"] in style.cameras and frames.std() > 5


def test_bad_inputs(assets):
    with pytest.raises(AvgenError, match="unknown event kind"):
        sc.render_scene([(0.1, 0.1, "juggle")], rng=np.random.default_rng(0), style=CLEAN, assets=assets,
                        seconds=1.0, fps=10, size=64)
    with pytest.raises(AvgenError, match="unknown camera"):
        sc.SceneStyle("bad", kinds=("impact",), cameras=("drone",))


def test_pillarbox_keeps_size_and_object_inside_the_picture(assets):
    style = sc.SceneStyle("pillarbox", kinds=("impact",), cameras=("static",), letterbox=1.0, noise=(0.0, 0.0),
                          jpeg_quality=(0, 0))
    for seed in range(4):
        frames, info = sc.render_scene([(0.5, 0.2, "impact")], rng=np.random.default_rng(seed), style=style,
                                       assets=assets, seconds=1.0, fps=20, size=(160, 120), return_info=True)
        assert frames.shape == (20, 120, 160, 3) and info["letterbox"] in ("black", "blur")
        x_pad = (160 - info["content_width"]) // 2
        assert 0 < info["content_width"] < 160
        assert info["box"][:, 0].min() >= x_pad - 1 and info["box"][:, 2].max() <= x_pad + info["content_width"] + 1
        if info["letterbox"] == "black":
            assert frames[:, :, :x_pad].max() == 0
