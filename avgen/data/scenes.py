"""Realistic scene renders for video -> sound training and held-out tests.

A clip shows a crop of a background photograph with 1-3 sprites (game objects with transparency) in front of it.
Exactly one sprite is the *sounding* object: it is visible at its events and does what the sound says; the others
(distractors) move smoothly without sound. A camera (static, shaking, panning or handheld), an exposure blur across
neighbouring frames, lighting drifts and flicker, colour grading, sensor noise, optional pillarbox bars and a
per-frame JPEG round trip make the frames look like footage rather than drawings. Event kinds:

* discrete, placed at the event's start: ``impact`` (picked up slowly and dropped: contact, squash and a dust
  puff at the event), ``bounce`` (free bouncing arcs with a contact at each event), ``strike`` (another sprite
  swings in and hits it), ``break`` (it splits into fragments flying apart; it fades back in before the next
  event), ``flash`` (it lights up with a halo and fades);
* sustained, over ``[start, start + duration]``: ``rattle`` (shakes), ``spin`` (rotates), ``burn`` (flickers with
  rising flame particles), ``flow`` (a stream of particles pours from it).

:class:`SceneStyle` gathers the choices; :data:`TRAIN_STYLES` and :data:`HELD_OUT_STYLES` share no event kind,
no camera behaviour and no pictures (``image_split``: the side of
:func:`avgen.data.image_corpus.split_images`), so a benchmark can test on a renderer training never saw.
:func:`plan_events` turns a sound's duration into event times; :data:`CATEGORY_KINDS` maps sound-corpus categories
to the kinds that fit them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ..errors import AvgenError
from .image_corpus import ImageAssets

__all__ = ["DISCRETE_KINDS", "SUSTAINED_KINDS", "EVENT_KINDS", "CAMERAS", "LIGHTING", "CATEGORY_KINDS",
           "SceneStyle", "TRAIN_STYLES", "HELD_OUT_STYLES", "kinds_for", "sample_format", "plan_events",
           "render_scene"]

DISCRETE_KINDS = ("impact", "bounce", "strike", "break", "flash")
SUSTAINED_KINDS = ("rattle", "spin", "burn", "flow")
EVENT_KINDS = DISCRETE_KINDS + SUSTAINED_KINDS
CAMERAS = ("static", "shake", "pan", "handheld")
LIGHTING = ("steady", "drift", "flicker")

# Sound-corpus category -> event kinds that fit it (a style's own kinds are intersected with these).
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    "impact": ("impact", "bounce", "strike"),
    "strike": ("strike", "impact", "bounce"),
    "break": ("break",),
    "tonal": ("strike", "flash"),
    "noise": ("burn", "flow", "rattle", "flash"),
    "sustained": ("rattle", "spin", "burn", "flow"),
    "voice": EVENT_KINDS,
}


@dataclass(frozen=True)
class SceneStyle:
    """The choices of one renderer style; ranges are ``(low, high)`` drawn uniformly per clip."""

    name: str
    kinds: tuple[str, ...]
    cameras: tuple[str, ...]
    image_split: str = "train"  # which side of split_images the pictures must come from
    lighting: tuple[str, ...] = ("steady", "drift")
    distractors: tuple[int, int] = (0, 2)  # distractor sprites (1-3 objects in all)
    blur: tuple[float, float] = (0.0, 0.2)  # exposure blur: weight of each neighbouring frame
    noise: tuple[float, float] = (1.0, 5.0)  # sensor noise std on the 0..255 scale
    jpeg_quality: tuple[int, int] = (35, 90)  # per-frame JPEG round trip; (0, 0) turns it off
    sprite_scale: tuple[float, float] = (0.25, 0.55)  # sounding sprite's long side / frame's short side
    letterbox: float = 0.0  # chance of pillarbox bars (black or a blurred fill), as in phone videos on the web
    defocus: tuple[float, float] = (0.0, 1.2)  # background Gaussian blur radius in output pixels
    vignette: tuple[float, float] = (0.0, 0.35)
    fps: tuple[float, ...] = (15.0, 20.0, 24.0, 25.0, 30.0)
    sizes: tuple[tuple[int, int], ...] = ((96, 96), (128, 128), (160, 120), (224, 224))  # (width, height)

    def __post_init__(self) -> None:
        for kind in self.kinds:
            if kind not in EVENT_KINDS:
                raise AvgenError(f"style {self.name}: unknown event kind {kind!r} ({', '.join(EVENT_KINDS)})")
        for cam in self.cameras:
            if cam not in CAMERAS:
                raise AvgenError(f"style {self.name}: unknown camera {cam!r} ({', '.join(CAMERAS)})")
        for light in self.lighting:
            if light not in LIGHTING:
                raise AvgenError(f"style {self.name}: unknown lighting {light!r} ({', '.join(LIGHTING)})")
        if not self.kinds or not self.cameras or not self.lighting:
            raise AvgenError(f"style {self.name}: kinds, cameras and lighting must not be empty")
        if self.image_split not in ("train", "test"):
            raise AvgenError(f"style {self.name}: image_split must be 'train' or 'test'")
        if not 0.0 <= self.letterbox <= 1.0:
            raise AvgenError(f"style {self.name}: letterbox is a probability, got {self.letterbox}")
        if not 0 <= self.distractors[0] <= self.distractors[1] <= 2:
            raise AvgenError(f"style {self.name}: distractors must be within 0..2")


_TRAIN_KINDS = ("impact", "strike", "break", "rattle", "burn")
_HELD_OUT_KINDS = ("bounce", "flash", "spin", "flow")
TRAIN_STYLES: tuple[SceneStyle, ...] = (
    SceneStyle("tripod", kinds=_TRAIN_KINDS, cameras=("static", "shake"), lighting=("steady", "drift"),
               letterbox=0.15),
    SceneStyle("pan", kinds=_TRAIN_KINDS, cameras=("pan",), lighting=("drift",), blur=(0.05, 0.2),
               jpeg_quality=(30, 80), letterbox=0.15),
)
HELD_OUT_STYLES: tuple[SceneStyle, ...] = (
    SceneStyle("handheld", kinds=_HELD_OUT_KINDS, cameras=("handheld",), image_split="test",
               lighting=("flicker", "drift"), noise=(2.0, 8.0), jpeg_quality=(25, 60), blur=(0.05, 0.2),
               sprite_scale=(0.3, 0.65), letterbox=0.3),
)


def kinds_for(category: str, style: SceneStyle) -> tuple[str, ...]:
    """The style's kinds that fit a sound-corpus ``category``; when none does, the style's kinds of the same nature
    (discrete or sustained) as the category's first fitting kind, else all of the style's kinds."""
    if category not in CATEGORY_KINDS:
        raise AvgenError(f"unknown sound category {category!r} ({', '.join(CATEGORY_KINDS)})")
    fit = tuple(k for k in CATEGORY_KINDS[category] if k in style.kinds)
    if fit:
        return fit
    nature = DISCRETE_KINDS if CATEGORY_KINDS[category][0] in DISCRETE_KINDS else SUSTAINED_KINDS
    return tuple(k for k in style.kinds if k in nature) or style.kinds


def sample_format(rng: np.random.Generator, style: SceneStyle) -> tuple[float, tuple[int, int]]:
    """A frame rate and a ``(width, height)`` drawn from the style."""
    return float(rng.choice(style.fps)), tuple(int(v) for v in style.sizes[int(rng.integers(len(style.sizes)))])


def plan_events(rng: np.random.Generator, duration_of_sound: float, seconds: float, kind_choices, *,
                min_events: int = 2, max_events: int = 5, min_gap: float = 0.45,
                margin: float = 0.3) -> list[tuple[float, float, str]]:
    """``[(start, duration, kind), ...]`` sorted by start, one kind (drawn from ``kind_choices``) per clip. Starts
    keep ``min_gap`` between events (after the previous sustained event ends) and ``margin`` from both ends. A
    discrete event's duration is the sound's, clipped to the clip; a sustained event lasts the sound's duration
    (clipped so it fits), and as many as fit (up to ``max_events``) are placed."""
    kinds = tuple(kind_choices)
    if not kinds or any(k not in EVENT_KINDS for k in kinds):
        raise AvgenError(f"kind_choices must be event kinds ({', '.join(EVENT_KINDS)}), got {kinds}")
    if not duration_of_sound > 0:
        raise AvgenError(f"duration_of_sound must be > 0, got {duration_of_sound}")
    kind = str(kinds[int(rng.integers(len(kinds)))])
    room = seconds - 2 * margin
    if room <= 0:
        raise AvgenError(f"a {seconds} s clip leaves no room inside margins of {margin} s")
    # a sustained event occupies its duration; a discrete one only its instant
    length = min(float(duration_of_sound), room) if kind in SUSTAINED_KINDS else 0.0
    fit = int((room - length) // (length + min_gap)) + 1
    hi = max(1, min(max_events, fit))
    n = int(rng.integers(min(min_events, hi), hi + 1))
    span = room - n * length - (n - 1) * min_gap
    base = np.sort(rng.uniform(0, max(span, 0.0), n))
    out = []
    for i, b in enumerate(base):
        start = margin + float(b) + i * (length + min_gap)
        dur = length if kind in SUSTAINED_KINDS else min(float(duration_of_sound), seconds - start)
        out.append((round(start, 4), round(dur, 4), kind))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Sprites


class _Sprite:
    """A sprite pre-scaled once per clip: premultiplied float32 RGB and alpha, with a cache of rotated copies."""

    def __init__(self, rgba: np.ndarray, long_side: float):
        from PIL import Image

        im = Image.fromarray(rgba, "RGBA")
        f = max(long_side, 4.0) / max(im.size)
        im = im.resize((max(2, round(im.width * f)), max(2, round(im.height * f))), Image.LANCZOS)
        self.image = im
        self.rgb, self.alpha = self._split(im)
        self.h, self.w = self.alpha.shape[:2]
        self._rotated: dict[int, tuple[np.ndarray, np.ndarray]] = {0: (self.rgb, self.alpha)}

    @staticmethod
    def _split(im) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(im, dtype=np.float32)
        a = arr[:, :, 3:4] / 255.0
        return arr[:, :, :3] * a, a

    def rotated(self, degrees: float) -> tuple[np.ndarray, np.ndarray]:
        """Premultiplied RGB and alpha rotated by ``degrees`` (quantised to 6 degrees), centred like the original."""
        from PIL import Image

        q = int(round(degrees / 6.0)) % 60
        if q not in self._rotated:
            self._rotated[q] = self._split(self.image.rotate(q * 6.0, resample=Image.BICUBIC, expand=True))
        return self._rotated[q]


def _paste(img: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, cx: float, cy: float, *, opacity: float = 1.0,
           gain: float = 1.0, add: np.ndarray | float = 0.0) -> None:
    """Alpha-composite a premultiplied sprite centred at (cx, cy) onto ``img`` in place (clipped to the frame);
    ``gain`` scales its colour, ``add`` adds light (per channel) where it is opaque."""
    h, w = alpha.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = img.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, -x0), max(0, -y0), min(w, W - x0), min(h, H - y0)
    if ax1 <= ax0 or ay1 <= ay0 or opacity <= 0:
        return
    a = alpha[ay0:ay1, ax0:ax1]
    c = rgb[ay0:ay1, ax0:ax1]
    if opacity < 1:
        a, c = a * opacity, c * opacity
    region = img[y0 + ay0:y0 + ay1, x0 + ax0:x0 + ax1]
    region *= 1.0 - a
    region += c * gain + a * add


def _blob(radius: float) -> np.ndarray:
    """A Gaussian blob ``[k, k, 1]`` of std ``radius``, peak 1."""
    k = max(3, int(math.ceil(radius * 5)) | 1)  # +-2.5 std: no visible square edge
    r = np.arange(k, dtype=np.float32) - k // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * radius * radius))
    return g[:, :, None].astype(np.float32)


def _add_blob(img: np.ndarray, blob: np.ndarray, cx: float, cy: float, colour: np.ndarray) -> None:
    """Add ``blob * colour`` centred at (cx, cy) onto ``img`` in place (additive light), clipped."""
    k = blob.shape[0]
    x0, y0 = int(round(cx)) - k // 2, int(round(cy)) - k // 2
    H, W = img.shape[:2]
    bx0, by0, bx1, by1 = max(0, -x0), max(0, -y0), min(k, W - x0), min(k, H - y0)
    if bx1 > bx0 and by1 > by0:
        img[y0 + by0:y0 + by1, x0 + bx0:x0 + bx1] += blob[by0:by1, bx0:bx1] * colour


def _shadow(img: np.ndarray, cx: float, floor: float, width: float, strength: float) -> None:
    """Darken a soft ellipse centred at (cx, floor) in place (a contact shadow)."""
    hw, hh = max(2.0, width * 0.55), max(1.5, width * 0.12)
    H, W = img.shape[:2]
    x0, x1 = max(0, int(cx - 2 * hw)), min(W, int(cx + 2 * hw) + 1)
    y0, y1 = max(0, int(floor - 2 * hh)), min(H, int(floor + 2 * hh) + 1)
    if x1 <= x0 or y1 <= y0 or strength <= 0:
        return
    xs = (np.arange(x0, x1, dtype=np.float32) - cx) / hw
    ys = (np.arange(y0, y1, dtype=np.float32) - floor) / hh
    d = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) * 1.5)
    img[y0:y1, x0:x1] *= (1.0 - strength * d)[:, :, None]


# ----------------------------------------------------------------------------------------------------------------
# Camera, lighting, degradations


def _camera_path(rng: np.random.Generator, camera: str, t: np.ndarray, room_x: int, room_y: int,
                 short: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer top-left offsets ``(ox, oy)`` of the view inside the canvas for each frame."""
    n = len(t)
    cx, cy = room_x / 2, room_y / 2
    ox, oy = np.full(n, cx), np.full(n, cy)
    if camera == "shake":  # a tripod on a vibrating table: small fast jitter, lightly smoothed
        amp = rng.uniform(0.006, 0.02) * short
        jx, jy = rng.normal(0, amp, n), rng.normal(0, amp, n)
        ox += np.convolve(jx, [0.25, 0.5, 0.25], "same")
        oy += np.convolve(jy, [0.25, 0.5, 0.25], "same")
    elif camera == "pan":  # a smooth pan (eased at both ends) across most of the margin
        u = 0.5 - 0.5 * np.cos(np.pi * t / max(t[-1], 1e-6))
        sx, sy = rng.choice([-1, 1]) * rng.uniform(0.5, 0.95) * room_x, rng.uniform(-0.3, 0.3) * room_y
        ox += sx * (u - 0.5)
        oy += sy * (u - 0.5)
    elif camera == "handheld":  # low-frequency sway (a few sinusoids), a drift and a tremor
        for axis, room in ((ox, room_x), (oy, room_y)):
            for _ in range(3):
                f, ph = rng.uniform(0.15, 1.2), rng.uniform(0, 2 * np.pi)
                axis += rng.uniform(0.05, 0.16) * room * np.sin(2 * np.pi * f * t + ph)
            axis += rng.uniform(-0.3, 0.3) * room * (t / max(t[-1], 1e-6) - 0.5)
            axis += np.convolve(rng.normal(0, 0.004 * short, n), np.ones(3) / 3, "same")
    return (np.clip(np.round(ox), 0, room_x).astype(int), np.clip(np.round(oy), 0, room_y).astype(int))


def _lighting(rng: np.random.Generator, lighting: str, t: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame per-channel gains ``[T, 3]``: a white-balance tint and exposure, slow drifts, mains flicker."""
    n = len(t)
    gains = np.ones((n, 3), np.float32) * rng.uniform(0.8, 1.15) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    if lighting in ("drift", "flicker"):  # clouds / auto exposure: slow gain and colour drifts
        period, ph = rng.uniform(2.0, 7.0), rng.uniform(0, 2 * np.pi)
        gains *= (1 + rng.uniform(0.04, 0.15) * np.sin(2 * np.pi * t / period + ph))[:, None].astype(np.float32)
        tint = rng.uniform(-0.05, 0.05, 3) * np.sin(2 * np.pi * t / rng.uniform(3.0, 9.0))[:, None]
        gains *= (1 + tint).astype(np.float32)
    if lighting == "flicker":  # mains flicker aliased by the frame rate: a steady beat
        mains = float(rng.choice([100.0, 120.0]))  # light intensity beats at twice the 50/60 Hz mains
        f = abs(mains - fps * round(mains / fps))
        f = f if 0.5 < f < fps / 2 else rng.uniform(1.0, fps / 3)
        gains *= (1 + rng.uniform(0.03, 0.08) * np.sin(2 * np.pi * f * t))[:, None].astype(np.float32)
    return gains


def _jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Per-frame JPEG round trip (4:2:0 chroma) of uint8 frames, in place."""
    from PIL import Image

    for i in range(len(frames)):
        buf = io.BytesIO()
        Image.fromarray(frames[i]).save(buf, "JPEG", quality=int(quality))
        buf.seek(0)
        with Image.open(buf) as im:
            frames[i] = np.asarray(im.convert("RGB"))
    return frames


# ----------------------------------------------------------------------------------------------------------------
# The renderer


def _size(size) -> tuple[int, int]:
    """``(width, height)`` from an int (square) or a pair."""
    if isinstance(size, (int, np.integer)):
        w = h = int(size)
    else:
        w, h = (int(v) for v in size)
    if min(w, h) < 16:
        raise AvgenError(f"size must be at least 16 px, got {size}")
    return w, h


def _check_events(events) -> list[tuple[float, float, str]]:
    out = []
    for ev in events:
        if len(ev) != 3:
            raise AvgenError(f"an event is (start, duration, kind), got {ev!r}")
        start, dur, kind = float(ev[0]), float(ev[1]), str(ev[2])
        if kind not in EVENT_KINDS:
            raise AvgenError(f"unknown event kind {kind!r} ({', '.join(EVENT_KINDS)})")
        if not (np.isfinite(start) and start >= 0 and np.isfinite(dur) and dur >= 0):
            raise AvgenError(f"event {ev!r}: start and duration must be finite and >= 0")
        out.append((start, dur, kind))
    return sorted(out)


def render_scene(events, *, rng: np.random.Generator, style: SceneStyle, assets: ImageAssets, seconds: float,
                 fps: float, size, camera: str | None = None, lighting: str | None = None,
                 return_info: bool = False):
    """uint8 frames ``[T, H, W, 3]`` (``T = round(seconds * fps)``, ``size`` an int or ``(width, height)``)
    showing ``events`` (``(start, duration, kind)``, seconds) on the sounding object. ``camera`` / ``lighting``
    override the style's draw. With ``return_info`` also a dict: the choices made and the per-frame boxes
    ``[T, 4]`` (x0, y0, x1, y1 in frame pixels) of the sounding object and of each distractor."""
    evs = _check_events(events)
    W, H = _size(size)
    if not (seconds > 0 and fps > 0):
        raise AvgenError(f"seconds and fps must be > 0, got {seconds}, {fps}")
    if not assets.backgrounds or not assets.sprites:
        raise AvgenError("render_scene needs at least one background and one sprite")
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    # pillarbox: the scene is rendered narrower and padded at the end
    W_out, bars = W, None
    if rng.random() < style.letterbox:
        W = max(16, int(round(W_out * rng.uniform(0.55, 0.8))))
        bars = "black" if rng.random() < 0.5 else "blur"
    S = min(W, H)
    camera = camera or str(rng.choice(style.cameras))
    lighting = lighting or str(rng.choice(style.lighting))
    if camera not in CAMERAS or lighting not in LIGHTING:
        raise AvgenError(f"unknown camera {camera!r} or lighting {lighting!r}")

    # canvas: a random crop of a background picture, larger than the view by the camera's room
    from PIL import Image, ImageFilter

    margin = {"static": 0.0, "shake": 0.05, "pan": 0.22, "handheld": 0.2}[camera]
    room_x, room_y = int(round(2 * margin * W)), int(round(2 * margin * H))
    Wc, Hc = W + room_x, H + room_y
    bg_index = int(rng.integers(len(assets.backgrounds)))
    bg = assets.backgrounds[bg_index]
    bh, bw = bg.shape[:2]
    scale = rng.uniform(0.4, 1.0) * min(bw / Wc, bh / Hc)
    cw, ch = max(2, int(Wc * scale)), max(2, int(Hc * scale))
    x0, y0 = int(rng.integers(0, bw - cw + 1)), int(rng.integers(0, bh - ch + 1))
    im = Image.fromarray(bg).crop((x0, y0, x0 + cw, y0 + ch)).resize((Wc, Hc), Image.BILINEAR)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    radius = rng.uniform(*style.defocus)
    if radius > 0.3:
        im = im.filter(ImageFilter.GaussianBlur(radius))
    canvas = np.asarray(im, dtype=np.float32)
    ox, oy = _camera_path(rng, camera, t, room_x, room_y, S)
    surface = rng.random() < 0.6 and len(assets.backgrounds) > 0

    # the view's common window over the clip: the sounding object stays inside it
    wx0, wx1 = int(ox.max()), int(ox.min()) + W
    wy0, wy1 = int(oy.max()), int(oy.min()) + H
    n_dis = int(rng.integers(style.distractors[0], style.distractors[1] + 1))
    picks = rng.permutation(len(assets.sprites))
    main_idx = int(picks[0])
    scale = float(rng.uniform(*style.sprite_scale))
    if {"impact", "bounce"} & {k for _, _, k in evs}:  # leave room above it to rise and fall in view
        scale = min(scale, 0.4)
    main = _Sprite(assets.sprites[main_idx], scale * S)
    pad = 0.04 * S
    fit = min((wx1 - wx0 - 2 * pad) / main.w, (wy1 - wy0 - 2 * pad) / main.h)
    if fit < 1:  # a wide camera sway leaves a small common window: shrink the object to fit it
        main = _Sprite(assets.sprites[main_idx], max(main.w, main.h) * max(fit, 0.2))
    lo_x, hi_x = wx0 + main.w / 2 + pad, wx1 - main.w / 2 - pad
    cx0 = float(rng.uniform(lo_x, hi_x)) if hi_x > lo_x else (wx0 + wx1) / 2
    floor = wy0 + (wy1 - wy0) * float(rng.uniform(0.65, 0.92))  # where the sounding object rests
    floor = min(max(floor, wy0 + main.h + pad), wy1 - pad)
    cy0 = floor - main.h / 2
    if surface:  # a table top / ground under the object: another picture's crop, darker, with a soft edge
        other = assets.backgrounds[int(rng.integers(len(assets.backgrounds)))]
        top = int(max(0, floor - rng.uniform(0.02, 0.12) * S))
        band = Hc - top
        if band > 2:
            oh, ow = other.shape[:2]
            cw2 = max(2, int(ow * rng.uniform(0.3, 0.8)))
            ch2 = max(2, min(oh, int(cw2 * band / Wc)))
            sx, sy = int(rng.integers(0, ow - cw2 + 1)), int(rng.integers(0, oh - ch2 + 1))
            tex = Image.fromarray(other).crop((sx, sy, sx + cw2, sy + ch2)).resize((Wc, band), Image.BILINEAR)
            tex = np.asarray(tex, dtype=np.float32) * rng.uniform(0.45, 0.85)
            edge = np.clip(np.arange(band, dtype=np.float32) / max(1.0, 0.04 * S), 0, 1)[:, None, None]
            shade = (1 - 0.35 * np.arange(band, dtype=np.float32) / band)[::-1][:, None, None]  # farther = darker
            canvas = canvas.copy()
            canvas[top:] = canvas[top:] * (1 - edge) + tex * shade * edge
    lift_room = max(4.0, cy0 - main.h / 2 - wy0)  # height it can rise and stay in view

    # per-frame state of the sounding object
    dx, dy = np.zeros(T), np.zeros(T)
    angle, glow, opacity = np.zeros(T), np.zeros(T), np.ones(T)
    gain = np.ones(T)
    squash = np.zeros(T)
    kinds = [k for _, _, k in evs]
    starts = np.array([s for s, _, _ in evs])

    # impact: lifted slowly (smooth), then dropped; contact at the event, a small squash and rebound
    for i, (s, _, k) in enumerate(evs):
        if k != "impact":
            continue
        room = s - (starts[i - 1] if i else 0.0)  # time since the previous event (or the clip start)
        fall, rise = min(0.3, 0.35 * room), min(0.6, 0.5 * room)
        h = min(lift_room * 0.9, 6.0 * S * fall * fall)
        r0, r1 = s - fall - rise, s - fall
        m = (t >= r0) & (t < r1)
        u = (t[m] - r0) / rise
        dy[m] = -h * (3 * u * u - 2 * u ** 3)
        m = (t >= r1) & (t < s)
        u = (t[m] - r1) / fall
        dy[m] = -h * (1 - u * u)
        m = (t >= s) & (t < s + 0.12)
        squash[m] = np.maximum(squash[m], 0.12 * np.exp(-(t[m] - s) / 0.03))
        dy[m] += -0.05 * h * np.sin(np.pi * (t[m] - s) / 0.12)

    # bounce: free arcs that land at each bounce event; before the first it falls from rest
    bstarts = [s for s, _, k in evs if k == "bounce"]
    if bstarts:
        first = bstarts[0]
        drop = min(0.4, first)
        h0 = min(lift_room * 0.9, 6.0 * S * drop * drop)
        m = t < first
        u = np.clip((t[m] - (first - drop)) / drop, 0, 1)
        dy[m] = -h0 * (1 - u * u)
        for a, b in zip(bstarts, bstarts[1:]):
            m = (t >= a) & (t < b)
            u = (t[m] - a) / (b - a)
            dy[m] = -min(lift_room * 0.9, 1.6 * S * (b - a) ** 2) * 4 * u * (1 - u)
        for s in bstarts:
            m = (t >= s) & (t < s + 0.1)
            squash[m] = np.maximum(squash[m], 0.15 * np.exp(-(t[m] - s) / 0.03))

    # strike: a second sprite swings in (fastest at contact) and the object recoils
    striker, strike_side, sgap = None, 1.0, np.full(T, np.inf)
    sstarts = np.array([s for s, _, k in evs if k == "strike"])
    if len(sstarts):
        others = [int(p) for p in picks[1:]] or [main_idx]
        striker = _Sprite(assets.sprites[others[-1]], rng.uniform(0.5, 0.8) * max(main.h, main.w))
        strike_side = float(rng.choice([-1.0, 1.0]))
        tau = 0.3
        d = np.abs(t[:, None] - sstarts[None, :]).min(1)
        sgap = 0.3 * S * np.minimum(1.0, d / tau) ** 0.6
        after = t[:, None] - sstarts[None, :]
        kick = np.where(after >= 0, np.exp(-np.maximum(after, 0) / 0.08), 0).max(1)
        dx += -strike_side * 0.07 * S * kick

    # flash: a sharp rise at the event and a 0.12 s decay
    for s, _, k in evs:
        if k == "flash":
            m = t >= s
            glow[m] = np.maximum(glow[m], np.exp(-(t[m] - s) / 0.12))

    # break: fragments fly apart at the event; the object fades back in before the next event
    fragments: list[tuple[float, float, list]] = []  # (event time, lifetime, pieces)
    brk = [i for i, (_, _, k) in enumerate(evs) if k == "break"]
    for i in brk:
        s = evs[i][0]
        nxt = starts[i + 1] if i + 1 < len(evs) else np.inf
        gap = nxt - s
        life = min(0.7, 0.8 * gap)
        m = t >= s
        if np.isfinite(gap):
            back0, back1 = s + 0.55 * gap, s + 0.85 * gap
            ramp = np.clip((t[m] - back0) / (back1 - back0), 0, 1)
            opacity[m] = np.minimum(opacity[m], ramp)
        else:
            opacity[m] = 0.0
        gy, gx = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        pieces = []
        for yy in range(gy):
            for xx in range(gx):
                ys, ye = main.h * yy // gy, main.h * (yy + 1) // gy
                xs, xe = main.w * xx // gx, main.w * (xx + 1) // gx
                a = main.alpha[ys:ye, xs:xe]
                if a.mean() < 0.05:
                    continue
                off = np.array([(xs + xe) / 2 - main.w / 2, (ys + ye) / 2 - main.h / 2])
                direction = off / (np.linalg.norm(off) + 1e-6) + rng.normal(0, 0.3, 2)
                v = direction * rng.uniform(2.0, 3.5) * S + np.array([0.0, -1.0 * S])
                pieces.append((main.rgb[ys:ye, xs:xe], a, off, v))
        fragments.append((s, life, pieces))

    # rattle and spin: shaking / rotating while the sound lasts
    for s, dur, k in evs:
        m = (t >= s) & (t <= s + dur)
        if k == "rattle":
            amp = 0.035 * S
            dx[m] += rng.uniform(-amp, amp, m.sum())
            dy[m] += rng.uniform(-amp * 0.6, amp * 0.6, m.sum())
            angle[m] += rng.uniform(-10, 10, m.sum())
        elif k == "spin":
            omega = rng.choice([-1.0, 1.0]) * rng.uniform(1.2, 2.5) * 360.0
            prog = np.clip(t - s, 0, dur)
            angle += omega * prog * (t >= s)

    # burn / flow: particles emitted while the sound lasts (short lifetimes so they end with it)
    particles = []  # rows: birth, life, x0, y0, vx, vy, ax, ay, r, g, b, blob index, follows the object (1/0)
    blobs = [_blob(max(0.6, S * f)) for f in (0.012, 0.02, 0.03)]
    for s, dur, k in evs:
        if k not in ("burn", "flow"):
            continue
        n = max(1, int(round((90 if k == "burn" else 110) * max(dur, 1 / fps))))
        birth = s + rng.uniform(0, max(dur, 1e-3), n)
        if k == "burn":
            life = rng.uniform(0.12, 0.3, n)
            x = rng.uniform(-0.35, 0.35, n) * main.w
            y = rng.uniform(-0.4, 0.1, n) * main.h
            vx, vy = rng.normal(0, 0.08 * S, n), -rng.uniform(0.4, 1.0, n) * S
            ax, ay = np.zeros(n), np.zeros(n)
            colour = np.stack([rng.uniform(200, 255, n), rng.uniform(90, 190, n), rng.uniform(10, 50, n)], 1)
        else:
            side = rng.choice([-1.0, 1.0])
            life = rng.uniform(0.15, 0.3, n)
            x = side * 0.4 * main.w + rng.normal(0, 0.04 * main.w, n)
            y = rng.uniform(-0.2, 0.1, n) * main.h
            vx, vy = side * rng.uniform(0.15, 0.45, n) * S, rng.uniform(0.1, 0.5, n) * S
            ax, ay = np.zeros(n), np.full(n, 4.0 * S)
            base = rng.uniform(0, 1, 3) * 90 + 40  # water / sand tints; faint each, a stream together
            colour = base[None, :] * rng.uniform(0.6, 1.0, (n, 1))
        idx = rng.integers(0, len(blobs), n)
        particles.append(np.column_stack([birth, life, x, y, vx, vy, ax, ay, colour, idx, np.ones(n)]))
    for s, _, k in evs:  # impact / bounce: a puff of dust bursts sideways from the floor at the contact
        if k not in ("impact", "bounce"):
            continue
        n = 16
        birth, life = s + rng.uniform(0, 0.3 / fps, n), rng.uniform(0.1, 0.22, n)
        x, y = rng.uniform(-0.5, 0.5, n) * main.w, main.h / 2 - rng.uniform(0, 0.12, n) * main.h
        vx, vy = np.sign(x + 1e-6) * rng.uniform(0.4, 1.2, n) * S, -rng.uniform(0.0, 0.4, n) * S
        colour = np.tile(rng.uniform(50, 90) * np.array([1.0, 0.95, 0.85]), (n, 1)) * rng.uniform(0.7, 1.0, (n, 1))
        idx = rng.integers(1, len(blobs), n)
        particles.append(np.column_stack([birth, life, x, y, vx, vy, np.zeros(n), np.zeros(n), colour, idx,
                                          np.zeros(n)]))
    particles = np.concatenate(particles) if particles else np.zeros((0, 13))
    for s, dur, k in evs:
        if k == "burn":  # the object itself flickers warm while it burns
            m = (t >= s) & (t <= s + dur)
            gain[m] *= 1 + rng.uniform(0.05, 0.35, m.sum())

    # distractors: smooth drifts and sways, sometimes a slow steady rotation, never tied to the events
    distractors = []
    for j in range(n_dis):
        idx = int(picks[1 + j]) if 1 + j < len(picks) else int(rng.integers(len(assets.sprites)))
        sp = _Sprite(assets.sprites[idx], rng.uniform(0.15, 0.3) * S)
        px = rng.uniform(0.1, 0.9) * Wc + rng.choice([-1, 1]) * rng.uniform(0.05, 0.25) * S * t
        py = rng.uniform(0.35, 0.85) * Hc + rng.uniform(0.02, 0.06) * S * np.sin(
            2 * np.pi * rng.uniform(0.2, 0.8) * t + rng.uniform(0, 2 * np.pi))
        px = px + rng.uniform(0.0, 0.05) * S * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t)
        rot = rng.uniform(-60, 60) * t if rng.random() < 0.3 else np.zeros(T)
        distractors.append((sp, px, py, rot))

    # compose each frame: background, shadows, distractors, the object (or its fragments), striker, lights
    frames = np.empty((T, H, W, 3), np.float32)
    halo = _blob(max(main.w, main.h) * 0.55)
    boxes = np.zeros((T, 4), np.float32)
    dboxes = np.zeros((n_dis, T, 4), np.float32)
    white = np.array([255.0, 250.0, 235.0], np.float32)
    for i in range(T):
        ti = t[i]
        img = canvas[oy[i]:oy[i] + H, ox[i]:ox[i] + W].copy()
        vx0, vy0 = ox[i], oy[i]
        for j, (sp, px, py, rot) in enumerate(distractors):
            rgb, a = sp.rotated(rot[i]) if rot[i] else (sp.rgb, sp.alpha)
            _shadow(img, px[i] - vx0, py[i] - vy0 + sp.h / 2, sp.w, 0.25)
            _paste(img, rgb, a, px[i] - vx0, py[i] - vy0)
            dboxes[j, i] = (px[i] - vx0 - a.shape[1] / 2, py[i] - vy0 - a.shape[0] / 2,
                            px[i] - vx0 + a.shape[1] / 2, py[i] - vy0 + a.shape[0] / 2)
        cx, cy = cx0 + dx[i] - vx0, cy0 + dy[i] - vy0
        height = -dy[i]
        _shadow(img, cx0 + dx[i] - vx0, floor - vy0, main.w * (1 - 0.3 * min(1, height / S)),
                0.35 * opacity[i] / (1 + 3 * height / S))
        if glow[i] > 1e-3:  # the flash lights the surroundings
            _add_blob(img, halo, cx, cy, white * (0.5 * glow[i]))
        rgb, a = main.rotated(angle[i]) if angle[i] else (main.rgb, main.alpha)
        if squash[i] > 0:  # squash at contact: cheap vertical resample of the sprite
            hh = max(2, int(round(a.shape[0] * (1 - squash[i]))))
            rows = np.linspace(0, a.shape[0] - 1, hh).round().astype(int)
            rgb, a = rgb[rows], a[rows]
            cy += (main.h - hh) / 2
        warm = white * glow[i] * 0.9 + (np.array([40.0, 10.0, -10.0]) * (gain[i] - 1) * 2)
        _paste(img, rgb, a, cx, cy, opacity=opacity[i], gain=gain[i] * (1 + 0.3 * glow[i]), add=warm)
        boxes[i] = (cx - a.shape[1] / 2, cy - a.shape[0] / 2, cx + a.shape[1] / 2, cy + a.shape[0] / 2)
        for s, life, pieces in fragments:
            e = ti - s
            if 0 <= e < life:
                fade = 1 - e / life
                for rgb_p, a_p, off, v in pieces:
                    fly = 0.15 * (1 - math.exp(-e / 0.15))  # burst: fastest at the break, then drag
                    fx = cx0 - vx0 + off[0] * 1.3 + v[0] * fly
                    fy = cy0 - vy0 + off[1] * 1.3 + v[1] * fly + 0.5 * 2.0 * S * e * e
                    _paste(img, rgb_p, a_p, fx, fy, opacity=fade)
        if striker is not None:
            scx = cx0 + dx[i] - vx0 + strike_side * (main.w / 2 + striker.w / 2 + sgap[i])
            _paste(img, striker.rgb, striker.alpha, scx, cy0 - vy0 - 0.1 * main.h)
        if len(particles):
            e = ti - particles[:, 0]
            live = np.flatnonzero((e >= 0) & (e < particles[:, 1]))
            for p in live:
                row, ep = particles[p], e[p]
                fade = 1 - ep / row[1]
                px_ = cx0 + dx[i] * row[12] - vx0 + row[2] + row[4] * ep + 0.5 * row[6] * ep * ep
                py_ = cy0 + dy[i] * row[12] - vy0 + row[3] + row[5] * ep + 0.5 * row[7] * ep * ep
                _add_blob(img, blobs[int(row[11])], px_, py_, row[8:11].astype(np.float32) * fade)
        frames[i] = img

    # per frame (cache-sized): exposure blur with the neighbouring frames, lighting x vignette, sensor noise
    # (windows of one larger noise field at random offsets), 8-bit, JPEG round trip
    gains = _lighting(rng, lighting, t, fps)
    k = rng.uniform(*style.vignette)
    yy = (np.arange(H, dtype=np.float32) - H / 2) / (H / 2)
    xx = (np.arange(W, dtype=np.float32) - W / 2) / (W / 2)
    vignette = (1 - k * 0.5 * (yy[:, None] ** 2 + xx[None, :] ** 2))[:, :, None].astype(np.float32)
    saturation = float(rng.uniform(0.65, 1.05))
    w_blur = float(rng.uniform(*style.blur)) if T > 2 else 0.0
    sigma = float(rng.uniform(*style.noise))
    field = None
    if sigma > 0:
        field = rng.standard_normal((2 * H, 2 * W, 1), dtype=np.float32) * sigma
        field = field + rng.standard_normal((2 * H, 2 * W, 3), dtype=np.float32) * (0.35 * sigma)
        offs = rng.integers(0, [H, W], (T, 2))
    quality = int(rng.integers(style.jpeg_quality[0], style.jpeg_quality[1] + 1)) if style.jpeg_quality[1] else 0
    out = np.empty((T, H, W, 3), np.uint8)
    buf = np.empty((H, W, 3), np.float32)
    for i in range(T):
        if w_blur > 0:
            np.multiply(frames[i], 1 - 2 * w_blur, out=buf)
            buf += w_blur * frames[max(i - 1, 0)]
            buf += w_blur * frames[min(i + 1, T - 1)]
        else:
            buf[:] = frames[i]
        buf *= vignette * gains[i]
        if saturation != 1.0:  # a camera's colour grading
            luma = buf.mean(-1, keepdims=True)
            buf -= luma
            buf *= saturation
            buf += luma
        if field is not None:
            buf += field[offs[i, 0]:offs[i, 0] + H, offs[i, 1]:offs[i, 1] + W]
        np.clip(buf, 0, 255, out=buf)
        out[i] = buf
    if bars is not None:  # pad to the full width: black bars or a blurred, darkened copy of the picture
        x_pad = (W_out - W) // 2
        full = np.zeros((T, H, W_out, 3), np.uint8)
        if bars == "blur":
            for i in range(T):
                small = Image.fromarray(out[i]).resize((max(2, W_out // 12), max(2, H // 12)), Image.BILINEAR)
                full[i] = (np.asarray(small.resize((W_out, H), Image.BILINEAR), np.float32) * 0.55).astype(np.uint8)
        full[:, :, x_pad:x_pad + W] = out
        out = full
        boxes[:, [0, 2]] += x_pad
        dboxes[..., [0, 2]] += x_pad
    if quality > 0:
        out = _jpeg(out, quality)
    if not return_info:
        return out
    info = {"style": style.name, "camera": camera, "lighting": lighting, "kinds": sorted(set(kinds)),
            "background": assets.ids["background"][bg_index] if assets.ids["background"] else bg_index,
            "sprite": assets.ids["sprite"][main_idx] if assets.ids["sprite"] else main_idx,
            "distractors": n_dis, "fps": fps, "size": (W_out, H), "letterbox": bars, "content_width": W,
            "blur": w_blur, "noise": sigma, "jpeg_quality": quality, "box": boxes, "distractor_boxes": dboxes}
    return out, info
