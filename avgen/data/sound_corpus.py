"""A corpus of real sound recordings cut into events, with a manifest that anyone can rebuild from Debian packages.

The corpus folder holds one FLAC (22050 Hz, mono, 16 bit) per event and ``manifest.jsonl`` with one JSON object per
event (:data:`MANIFEST_KEYS`). ``tools/make_sound_corpus.py`` downloads the packages and builds it; this module holds
the pieces that do not need a network: event cutting, categories, licences, hashing, the manifest reader/writer and
the train/test splits.

Hashes. ``source_sha256`` is the sha256 of the source file's bytes. ``sha256`` is the sha256 of the event's decoded
PCM (little-endian int16, mono, 22050 Hz) rather than of the FLAC bytes: FLAC is lossless, so the decoded samples
are the same whichever encoder version wrote the file, while the file bytes change with the encoder's version string,
padding and block choices. Recordings are deduplicated by the same kind of hash of the whole decoded source (mono
22050 Hz int16), so one recording shipped by two packages (or twice by one) enters the corpus once and can never be on
both sides of a split.

Decoding to 22050 Hz is not bit-exact across CPUs (FFmpeg's resampler and decoders take SIMD paths that differ
between processors): an AMD EPYC and an Intel Xeon build of the same packages decoded 213 of 2333 events a few
int16 steps apart (other ``sha256``), with every cut, start and duration the same. Nothing that names or splits the
corpus depends on the decoded bits: a recording's id carries the hash of its source file's bytes, and each event
also records its length in ``samples`` and its ``levels`` (RMS of 16 equal parts, int16 units), which a rebuild
must match within :func:`levels_match`'s tolerance when the hash differs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import random
import re
from dataclasses import dataclass

import numpy as np

from ..errors import AvgenError
from .jsonl import check_common_fields, read_jsonl_manifest, write_jsonl_manifest
from .splits import hold_out_groups, linked_groups

__all__ = [
    "CATEGORIES", "FAMILIES", "MANIFEST_KEYS", "SAMPLE_RATE", "SkipRecording", "Event",
    "read_manifest", "write_manifest", "split_corpus",
    "categorize", "family_of", "parse_copyright", "licence_for",
    "LEVEL_PARTS", "pcm_sha256", "event_levels", "levels_match", "event_check",
    "trim_silence", "detect_onsets", "cut_events", "cut_recording", "write_event",
]

SAMPLE_RATE = 22050
CATEGORIES = ("impact", "strike", "break", "tonal", "noise", "voice", "sustained")
# Coarse families: percussive (impacts, drum strikes, breaks), tonal, noisy, voice, sustained.
FAMILIES = {"impact": "percussive", "strike": "percussive", "break": "percussive", "tonal": "tonal",
            "noise": "noise", "voice": "voice", "sustained": "sustained"}

# Required manifest keys and their types (floats accept ints).
MANIFEST_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str, "path": str, "recording": str, "category": str, "package": str, "package_version": str,
    "source_file": str, "licence": str, "source_sha256": str, "sha256": str,
    "start": (int, float), "duration": (int, float), "sample_rate": int, "samples": int, "levels": list,
}
LEVEL_PARTS = 16  # an event's level envelope: RMS of this many equal parts


class SkipRecording(AvgenError):
    """A source file that does not enter the corpus; ``reason`` says why (silent, non-finite, too short, ...)."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: skipped ({reason})")


# ----------------------------------------------------------------------------------------------------------------
# Manifest


def _check_row(row, where: str) -> dict:
    """``row`` if it is a valid manifest row, else one AvgenError naming ``where`` (file:line) and the problem."""
    check_common_fields(row, where, MANIFEST_KEYS, hashes=("sha256", "source_sha256"), folder="the corpus folder")
    if row["category"] not in CATEGORIES:
        raise AvgenError(f"{where}: unknown category {row['category']!r} (one of {', '.join(CATEGORIES)})")
    if not (np.isfinite(row["start"]) and row["start"] >= 0):
        raise AvgenError(f"{where}: 'start' must be a finite number >= 0")
    if not (np.isfinite(row["duration"]) and row["duration"] > 0):
        raise AvgenError(f"{where}: 'duration' must be a finite number > 0")
    if row["sample_rate"] <= 0:
        raise AvgenError(f"{where}: 'sample_rate' must be positive")
    if row["samples"] < 1:
        raise AvgenError(f"{where}: 'samples' must be at least 1")
    lv = row["levels"]
    if len(lv) != LEVEL_PARTS or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                         and np.isfinite(v) and v >= 0 for v in lv):
        raise AvgenError(f"{where}: 'levels' must be {LEVEL_PARTS} finite numbers >= 0")
    return row


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Rows of a sound-corpus manifest (JSON lines), validated: a bad line gives one AvgenError naming the file and
    the line; duplicate ids are refused."""
    return read_jsonl_manifest(path, _check_row)


def write_manifest(path: str | os.PathLike, rows) -> None:
    """Write ``rows`` as JSON lines (keys sorted, one object per line), atomically; rows are validated first."""
    write_jsonl_manifest(path, rows, _check_row)


# ----------------------------------------------------------------------------------------------------------------
# Splits


def split_corpus(rows, *, by: str, test_fraction: float = 0.2, held_out_categories=None,
                 seed: int = 0) -> dict[str, list[dict]]:
    """Split manifest rows into ``{"train": [...], "test": [...]}`` (input order kept on each side); deterministic for
    a given ``seed`` and independent of the rows' order.

    ``by="recording"``: whole recordings go to one side (recordings sharing an event hash count as one); within each
    category a ``test_fraction`` share of its recordings (at least one when it has two or more) is held out, so the
    test side covers every category. ``by="category"``: whole categories are held out, ``held_out_categories`` if
    given, else categories drawn by ``seed`` until they hold ``test_fraction`` of the rows (at least one category,
    never all); train rows whose hash also occurs in test are dropped.
    """
    rows = list(rows)
    if not 0.0 < test_fraction < 1.0:
        raise AvgenError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = random.Random(seed)
    if by == "recording":
        if held_out_categories is not None:
            raise AvgenError("held_out_categories applies to by='category' only")
        group = linked_groups(rows, "recording")  # recordings sharing an event hash count as one
        # each group is filed under the first category (sorted) of its rows
        group_cat: dict[str, str] = {}
        for row in rows:
            g = group[row["recording"]]
            group_cat[g] = min(group_cat.get(g, row["category"]), row["category"])
        test_groups = hold_out_groups(group_cat, sorted(set(group_cat.values())), test_fraction=test_fraction,
                                      rng=rng)
        test = [r for r in rows if group[r["recording"]] in test_groups]
        train = [r for r in rows if group[r["recording"]] not in test_groups]
    elif by == "category":
        cats = sorted({r["category"] for r in rows})
        if held_out_categories is not None:
            held = set(held_out_categories)
            unknown = held - set(cats)
            if unknown:
                raise AvgenError(f"held-out categories not in the rows: {', '.join(sorted(unknown))}")
        else:
            if len(cats) < 2:
                raise AvgenError("a split by category needs at least two categories")
            order = list(cats)
            rng.shuffle(order)
            counts = {c: sum(r["category"] == c for r in rows) for c in cats}
            held, total = set(), 0
            for c in order[:-1]:
                held.add(c)
                total += counts[c]
                if total >= test_fraction * len(rows):
                    break
        test = [r for r in rows if r["category"] in held]
        test_sha = {r["sha256"] for r in test}
        test_rec = {r["recording"] for r in test}
        train = [r for r in rows if r["category"] not in held and r["sha256"] not in test_sha
                 and r["recording"] not in test_rec]
    else:
        raise AvgenError(f"split_corpus: by must be 'recording' or 'category', got {by!r}")
    return {"train": train, "test": test}


# ----------------------------------------------------------------------------------------------------------------
# Categories
#
# Rules, applied to the lower-cased path inside the package (words split on anything that is not a letter or digit)
# in this order, the first that matches wins:
#   1. package and folder rules: hydrogen-drumkits is drums (strike) except files whose name says sustained or tonal;
#      ktuberling-data is spoken words (voice); freepats is instrument notes (tonal); a file in a "voice"/"voices"
#      folder is voice;
#   2. keyword rules (_KEYWORDS below) on the file name's words, then on the whole path's: voice, break, noise,
#      sustained, strike, tonal, impact, in that order, so "glass_hit" is a break and "drum_loop" sustained; a word
#      matches a keyword equal to it, or a keyword of 5+ letters it starts with ("exploStd" -> "explo");
#   3. the package default (_PACKAGE_DEFAULT), else "impact" (game sound effects are mostly contacts).

_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("voice", ("voice", "vocal", "vox", "grunt", "scream", "shout", "yell", "laugh", "speech", "talk", "ahh", "ooh",
               "hurt", "ouch", "cry", "sing", "choir", "cough", "giggle", "die", "death", "dying", "groan", "moan",
               "roar", "growl", "wail", "sigh", "yawn", "burp", "hey", "hello", "yes", "no", "oops",
               "hmm", "pain", "human", "dwarf", "elf", "orc", "troll", "ogre", "goblin", "mermaid", "drake", "wose",
               "naga", "lizard", "gryphon", "bat", "wolf", "dog", "cat", "bird", "duck", "cow", "pig",
               "sheep", "chicken", "squeak", "spoken", "say", "yippee", "ohno", "vo", "shriek", "howl", "kiss",
               "grumble", "sneeze", "snore", "whistle", "cheer", "boo", "ow", "ooff", "hello", "byebye")),
    ("break", ("glass", "break", "breaking", "broken", "shatter", "crash", "explosion", "explode", "exploding",
               "explo", "boom", "smash", "crumble", "destroy", "destroyed", "collapse", "bomb", "crack", "demolish",
               "kaboom", "blast", "fireball", "burst", "rubble", "splinter", "lightning", "thunder", "grenade",
               "dynamite", "detonate", "missile", "rocket", "shell", "mine", "nuke", "firecracker", "cracker")),
    ("noise", ("whoosh", "swish", "swoosh", "woosh", "whoose", "steam", "hiss", "noise", "swing", "sweep", "zap",
               "spray", "wipe", "rustle", "vinyl", "scratch", "static", "air", "puff", "wind", "flap", "throw",
               "slash", "sword", "blade", "arrow", "bow", "fly", "flying", "swoop", "jet", "shot",
               "gun", "laser", "shoot", "whip", "scrape", "slide", "skid", "brake", "shotty", "shotgun", "rifle",
               "pistol", "magic", "spell", "teleport", "warp", "jetpack", "rope", "parachute")),
    ("sustained", ("loop", "engine", "motor", "drone", "ambi", "ambient", "amb", "water", "river", "rain", "fire",
                   "burn", "flame", "hum", "buzz", "rumble", "pad", "crowd", "machine", "sea", "ocean", "stream",
                   "fountain", "lava", "wave", "waves", "traffic", "factory", "bubbling", "rolling", "idle", "car",
                   "train", "siren", "alarm", "storm", "forest", "birds", "cricket", "jungle", "mill",
                   "windmill", "drip", "pour", "flow", "sustain", "long")),
    ("strike", ("drum", "drums", "kick", "snare", "hat", "hihat", "hh", "oh", "ch", "cymbal", "ride", "tom", "toms",
                "clap", "perc", "rim", "rimshot", "cowbell", "tabla", "conga", "bongo", "shaker", "tamb",
                "tambourine", "bd", "sd", "sn", "cy", "rd", "kik", "kck", "stick", "brush", "elec", "timbale",
                "djembe", "cajon", "clave", "woodblock", "agogo", "splash", "china", "beat", "breakbeat",
                "percussion", "cymbals", "timpani")),
    ("tonal", ("note", "bell", "bells", "pluck", "piano", "guitar", "guit", "bass", "string", "strings", "harp",
               "chime", "chimes", "ding", "bling", "coin", "beep", "tone", "synth", "organ", "flute", "sax",
               "violin", "marimba", "xylo", "xylophone", "glock", "vibra", "ring", "pling", "kalimba", "horn",
               "trumpet", "brass", "lute", "gong", "blip", "jingle", "fanfare", "chord", "arp", "mehackit", "plink",
               "ping", "gliss", "sine", "saw", "square", "lead", "key", "keys", "powerup", "levelup",
               "victory", "win", "bonus", "pickup", "menu", "select", "toggle", "signal")),
    ("impact", ("hit", "impact", "thud", "bump", "bounce", "knock", "punch", "slam", "land", "fall", "step",
                "footstep", "steps", "door", "drop", "clang", "clank", "bang", "thump", "collide", "squish",
                "splat", "jump", "stomp", "smack", "tap", "click", "clack", "wood", "metal", "stone", "rock", "mace",
                "club", "axe", "fist", "claws", "bite", "crush", "pop", "plop", "squash",
                "brick", "block", "box", "crate", "thwack", "whack", "canter", "gallop", "hooves", "hoof")),
)
_KEYWORD_SETS = tuple((cat, frozenset(words)) for cat, words in _KEYWORDS)
_KEYWORD_PREFIXES = tuple((cat, tuple(w for w in words if len(w) >= 5)) for cat, words in _KEYWORDS)


def _matches(words: set[str], cat_index: int) -> bool:
    """Does one of ``words`` equal a keyword of category ``cat_index``, or start with one of its 5+ letter ones?"""
    if words & _KEYWORD_SETS[cat_index][1]:
        return True
    prefixes = _KEYWORD_PREFIXES[cat_index][1]
    return any(w.startswith(prefixes) for w in words if len(w) > 5)
_PACKAGE_RULE = {"hydrogen-drumkits": "strike", "ktuberling-data": "voice", "freepats": "tonal"}
_PACKAGE_DEFAULT = {"sonic-pi-samples": "tonal", "sound-icons": "tonal", "lincity-ng-data": "sustained"}


def categorize(package: str, source_file: str) -> str:
    """The category of a recording from its package and its path inside the package (rules above)."""
    words = [w for w in re.split(r"[^a-z0-9]+", source_file.lower()) if w]
    # strip the numbers glued to words ("hit3", "drum02") so they still match
    words = set(words) | {re.sub(r"\d+$", "", w) for w in words}
    stem_parts = set(re.split(r"[^a-z0-9]+", os.path.splitext(os.path.basename(source_file.lower()))[0]))
    forced = _PACKAGE_RULE.get(package)
    if forced == "strike":
        # drum kits: only their explicitly sustained or tonal samples leave the strike category
        for cat in ("sustained", "tonal"):
            if stem_parts & dict(_KEYWORD_SETS)[cat] - {"ring", "bell", "signal", "key", "bass"}:
                return cat
        return "strike"
    if forced is not None:
        return forced
    if {"voice", "voices"} & set(source_file.lower().split("/")[:-1]):
        return "voice"
    # keyword rules look at the file name first, then at the whole path
    for scope in (stem_parts, words):
        for i, (cat, _) in enumerate(_KEYWORD_SETS):
            if _matches(scope, i):
                return cat
    return _PACKAGE_DEFAULT.get(package, "impact")


def family_of(category: str) -> str:
    """The coarse family of a category (percussive / tonal / noise / voice / sustained)."""
    return FAMILIES[category]


# ----------------------------------------------------------------------------------------------------------------
# Licences from /usr/share/doc/PKG/copyright


@dataclass(frozen=True)
class _FilesStanza:
    patterns: tuple[str, ...]
    licence: str


def _short_licence(value: str) -> str:
    """The first line of a ``License:`` field, spaces squeezed ("GPL-2+ with composition exception" kept whole)."""
    first = value.strip().splitlines()[0] if value.strip() else ""
    return " ".join(first.split())


_GPL = (r"(?<!Library )(?<!Lesser )General\s+Public\s+License[\s,]+"
        r"(?:as\s+published\s+by\s+the\s+Free\s+Software\s+Foundation[;,]?\s+)?")
_FREEFORM = (  # (regex on the copyright text, SPDX-like name): the first pattern in this order that occurs wins
    (_GPL + r"(?:either\s+)?version\s+2[\s\S]{0,80}?any\s+later", "GPL-2+"),
    (_GPL + r"(?:either\s+)?version\s+3[\s\S]{0,80}?any\s+later", "GPL-3+"),
    (_GPL + r"(?:either\s+)?version\s+2", "GPL-2"),
    (_GPL + r"(?:either\s+)?version\s+3", "GPL-3"),
    (r"CC0|Creative\s+Commons\s+Zero", "CC0-1.0"),
    (r"Creative\s+Commons\s+Attribution[- ]Share[- ]?Alike", "CC-BY-SA"),
    (r"Creative\s+Commons\s+Attribution", "CC-BY"),
    (r"public\s+domain", "public-domain"),
    (r"GNU\s+General\s+Public\s+License|/usr/share/common-licenses/GPL", "GPL"),
)


def parse_copyright(text: str) -> tuple[list[_FilesStanza], str]:
    """``(files stanzas, default licence)`` of a Debian copyright file. Machine-readable (DEP-5) files give one
    stanza per ``Files:`` paragraph; a free-form file gives no stanzas and a default found by known phrases
    (GPL version and "any later version", then CC0, Creative Commons, public domain: the first in that order),
    else ``"see-copyright"``."""
    paragraphs, current, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key is not None:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        paragraphs.append(current)
    machine = bool(paragraphs) and "format" in paragraphs[0]
    stanzas = [_FilesStanza(tuple(p["files"].split()), _short_licence(p.get("license", "")))
               for p in paragraphs if machine and "files" in p and _short_licence(p.get("license", ""))]
    if stanzas:
        star = [s.licence for s in stanzas if "*" in s.patterns]
        return stanzas, star[0] if star else stanzas[0].licence
    for pattern, name in _FREEFORM:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return [], name
    return [], "see-copyright"


def _pattern_score(pattern: str, path: str) -> int:
    """How well a DEP-5 ``Files`` pattern (a path in the upstream source) matches ``path`` (the installed path): 0
    for no match, else the number of literal characters of the matching part. The installed tree moves files
    (``data/sounds/x.wav`` -> ``usr/share/games/foo/sounds/x.wav``), so a pattern matches when one of its tails that
    keeps a literal component matches a tail of the installed path (or its folder); a pattern naming a drum-kit
    bundle (``drumkits/Kit.h2drumkit``) covers the folder the bundle is unpacked into."""
    pat = pattern.strip("/")
    if pat.endswith(".h2drumkit"):
        pat = pat[: -len(".h2drumkit")] + "/*"
    pparts, xparts = pat.split("/"), path.strip("/").split("/")
    for i in range(len(pparts)):  # longest tail first: the first match is the best
        tail = pparts[i:]
        if i > 0 and all(re.search(r"[*?\[]", part) for part in tail):
            break  # only wildcards left: too loose
        tail_pat = "/".join(tail)
        score = len(re.sub(r"[*?\[\]/]", "", tail_pat))
        for j in range(len(xparts)):
            if fnmatch.fnmatchcase("/".join(xparts[j:]), tail_pat):
                return score
            if j < len(xparts) - 1 and not re.search(r"[*?\[]", tail[-1]) and \
                    fnmatch.fnmatchcase("/".join(xparts[j:-1]), tail_pat):  # a folder named without "/*"
                return score
    return 0


def licence_for(stanzas: list[_FilesStanza], default: str, source_file: str) -> str:
    """The licence of ``source_file``: the ``Files`` stanza whose pattern matches it most specifically (most literal
    characters; on a tie the later stanza, as in DEP-5), ignoring ``debian/*`` and ``*``; ``default`` when none
    matches."""
    found, best = default, 0
    for stanza in stanzas:
        for p in stanza.patterns:
            if p == "*" or p.startswith("debian/"):
                continue
            score = _pattern_score(p, source_file)
            if score and score >= best:
                found, best = stanza.licence, score
    return found


# ----------------------------------------------------------------------------------------------------------------
# Audio: hashing, silence trimming, onsets, event cutting


def pcm_int16(wav) -> np.ndarray:
    """Float samples in [-1, 1] as the int16 PCM a 16-bit file holds (scale 32768, the decoder's convention)."""
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def pcm_sha256(wav) -> str:
    """sha256 of the int16 little-endian PCM of mono float audio (see the module docstring)."""
    return hashlib.sha256(pcm_int16(wav).tobytes()).hexdigest()


def event_levels(wav) -> list[float]:
    """The level envelope of mono float audio: the RMS of :data:`LEVEL_PARTS` equal parts in int16 units, rounded
    to 0.1 (a part of a very short event may be empty: level 0)."""
    x = pcm_int16(wav).astype(np.float64)
    return [round(float(np.sqrt(np.mean(p ** 2))) if p.size else 0.0, 1) for p in np.array_split(x, LEVEL_PARTS)]


def levels_match(a, b, *, abs_tol: float = 2.0, rel_tol: float = 0.01) -> bool:
    """Whether two level envelopes agree within ``abs_tol`` int16 units plus ``rel_tol`` of the larger level, part
    by part: far above the last-bit differences of another CPU's decoder (a fraction of a unit), far below any
    other cut or recording."""
    return len(a) == len(b) and all(abs(x - y) <= abs_tol + rel_tol * max(x, y) for x, y in zip(a, b))


def event_check(wav) -> dict:
    """What a manifest records of an event's decoded PCM: ``sha256``, ``samples`` and ``levels``."""
    return {"sha256": pcm_sha256(wav), "samples": int(np.asarray(wav).size), "levels": event_levels(wav)}


def _frame_db(x: np.ndarray, *, frame: int, hop: int) -> np.ndarray:
    """Level (dBFS) of frames ``[k * hop, k * hop + frame)``; the last partial frame is zero-padded."""
    n = max(1, int(np.ceil(len(x) / hop)))
    padded = np.zeros((n - 1) * hop + frame, dtype=np.float64)
    padded[: len(x)] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:n]
    return 10.0 * np.log10(np.mean(windows * windows, axis=1) + 1e-12)


def trim_silence(x: np.ndarray, sr: int, *, floor_db: float = -60.0, rel_db: float = 50.0) -> tuple[int, int] | None:
    """``(first, last)`` sample bounds of the sounding part (frames above max(``floor_db``, peak - ``rel_db``)), or
    None when nothing is above the floor."""
    hop = max(1, sr // 400)  # 2.5 ms
    db = _frame_db(x, frame=2 * hop, hop=hop)
    thresh = max(floor_db, float(db.max()) - rel_db)
    on = np.flatnonzero(db > thresh)
    if on.size == 0:
        return None
    return int(on[0] * hop), int(min(len(x), (on[-1] + 2) * hop))


def detect_onsets(x: np.ndarray, sr: int, *, min_gap: float = 0.1, threshold: float = 0.15) -> np.ndarray:
    """Onset times (s): peaks of the spectral flux (half-wave rectified increase of the log spectrum, 1024-point
    window, 256 hop) that are the largest within ``min_gap`` either side and exceed median + ``threshold`` * (max -
    median); each is then moved to the start of the attack, the first 2.9 ms frame within 60 ms before it that is
    within 15 dB of the local peak level."""
    n_fft, hop = 1024, 256
    if len(x) < n_fft:
        return np.zeros(0)
    # spectral flux
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (n_fft // 2, n_fft // 2)), n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))
    logm = np.log(np.maximum(mag, 1e-5))
    flux = np.concatenate([[0.0], np.maximum(logm[1:] - logm[:-1], 0.0).sum(axis=1)])
    # peak picking: local maxima over +-min_gap above an adaptive floor
    w = max(1, int(round(min_gap * sr / hop)))
    padded = np.pad(flux, (w, w), constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1).max(axis=1)
    med = float(np.median(flux))
    floor = med + threshold * (float(flux.max()) - med)
    peaks = np.flatnonzero((flux >= local_max) & (flux > floor) & (flux > 0))
    kept: list[int] = []
    for p in peaks:
        if not kept or p - kept[-1] > w:
            kept.append(int(p))
    # refine each onset to the start of its attack on a fine level envelope
    fine_hop = 64
    fine = _frame_db(x, frame=128, hop=fine_hop)
    out = []
    for p in kept:
        centre = p * hop
        lo = max(0, (centre - int(0.06 * sr)) // fine_hop)
        hi = min(len(fine), (centre + int(0.06 * sr)) // fine_hop + 1)
        if hi <= lo:
            continue
        seg = fine[lo:hi]
        first = lo + int(np.flatnonzero(seg >= seg.max() - 15.0)[0])
        out.append(first * fine_hop / sr)
    return np.asarray(sorted(set(out)), dtype=np.float64)


def cut_events(x: np.ndarray, sr: int, *, min_duration: float = 0.15, max_duration: float = 4.0,
               whole_below: float = 4.0, max_events: int = 8, sustained: bool = False,
               end_drop_db: float = 35.0) -> list[tuple[float, float]]:
    """``(start, end)`` times (s) of the events in mono ``x``.

    The sounding part (silence trimmed) is kept whole when it lasts at most ``whole_below`` seconds (a one-shot
    sample). Longer files are cut at onsets (:func:`detect_onsets`, 5 ms pre-roll); an event ends where its level
    has fallen ``end_drop_db`` below its peak (or below the silence floor) for 30 ms, at the next onset, or after
    ``max_duration``, whichever comes first, and is at least ``min_duration`` long. Sustained sounds (or long files
    without onsets) are cut into consecutive ``max_duration`` windows of the sounding part instead. At most
    ``max_events`` events, spread evenly over the file."""
    bounds = trim_silence(x, sr)
    if bounds is None:
        return []
    a, b = bounds
    total = len(x) / sr
    if (b - a) / sr <= whole_below:
        start, end = a / sr, b / sr
        if end - start < min_duration:
            end = min(total, start + min_duration)
            start = max(0.0, end - min_duration)
        return [(start, end)] if end - start >= min_duration - 1e-9 else []
    events: list[tuple[float, float]] = []
    onsets = [] if sustained else [t for t in detect_onsets(x, sr) if a / sr - 0.05 <= t < b / sr]
    if onsets:
        hop = max(1, sr // 400)
        db = _frame_db(x, frame=2 * hop, hop=hop)
        floor = max(-60.0, float(db.max()) - 50.0)
        hold = max(1, int(round(0.03 * sr / hop)))
        for i, t in enumerate(onsets):
            start = max(0.0, t - 0.005, events[-1][1] if events else 0.0)
            limit = min(start + max_duration, onsets[i + 1] - 0.005 if i + 1 < len(onsets) else total)
            f0, f1 = int(start * sr / hop), max(int(start * sr / hop) + 1, int(limit * sr / hop))
            seg = db[f0:f1]
            if seg.size == 0:
                continue
            peak_at = int(np.argmax(seg[: max(1, int(0.1 * sr / hop))]))
            quiet = seg < max(floor, float(seg[peak_at]) - end_drop_db)
            end = limit
            run = 0
            for k in range(peak_at, len(seg)):
                run = run + 1 if quiet[k] else 0
                if run >= hold:
                    end = (f0 + k - hold + 1) * hop / sr
                    break
            end = min(limit, max(end, start + min_duration))
            if end - start >= min_duration - 1e-9:
                events.append((start, end))
    else:
        t = a / sr
        while t + min_duration <= b / sr:
            end = min(b / sr, t + max_duration)
            events.append((t, end))
            t = end
    if len(events) > max_events:
        pick = np.round(np.linspace(0, len(events) - 1, max_events)).astype(int)
        events = [events[i] for i in sorted(set(pick.tolist()))]
    return events


@dataclass(frozen=True)
class Event:
    """One event cut from a recording: times in the source (s) and its mono 22050 Hz samples."""
    start: float
    duration: float
    samples: np.ndarray


def cut_recording(path: str | os.PathLike, *, sustained: bool = False, max_events: int = 8,
                  max_seconds: float = 180.0) -> tuple[str, list[Event]]:
    """``(pcm_sha256 of the whole decoded source, events)`` of one audio file, read at 22050 Hz mono through
    ``avgen.media.read_audio``. Raises :class:`SkipRecording` (with the reason) for an unreadable, non-finite,
    silent, too long or too short file."""
    from ..errors import MediaError
    from ..media import read_audio

    p = os.fspath(path)
    try:
        wav, sr = read_audio(p, sample_rate=SAMPLE_RATE)
    except MediaError as e:
        raise SkipRecording(p, e.detail or e.reason_prefix) from None
    except (OSError, ValueError, RuntimeError) as e:
        raise SkipRecording(p, f"unreadable ({type(e).__name__}: {e})") from None
    x = wav[0].astype(np.float64)
    if x.size == 0:
        raise SkipRecording(p, "no samples")
    if not np.isfinite(x).all():
        raise SkipRecording(p, f"non-finite sample at {int(np.flatnonzero(~np.isfinite(x))[0])}")
    if x.size / sr < 0.15:
        raise SkipRecording(p, f"shorter than 0.15 s ({x.size / sr:.3f} s)")
    if x.size / sr > max_seconds:
        raise SkipRecording(p, f"longer than {max_seconds:.0f} s ({x.size / sr:.0f} s)")
    peak = float(np.abs(x).max())
    if peak < 10 ** (-60 / 20):
        raise SkipRecording(p, f"silent (peak {20 * np.log10(peak + 1e-12):.0f} dBFS)")
    x = np.clip(x, -1.0, 32767 / 32768)
    spans = cut_events(x, sr, sustained=sustained, max_events=max_events)
    if not spans:
        raise SkipRecording(p, "no event of 0.15 s or more above the silence floor")
    events = []
    for start, end in spans:
        i0, i1 = int(round(start * sr)), int(round(end * sr))
        seg = x[i0:i1].copy()
        fade = min(len(seg) // 4, int(0.005 * sr))  # 5 ms fade-out so cuts do not click
        if fade > 0:
            seg[-fade:] *= np.linspace(1.0, 0.0, fade)
        events.append(Event(round(i0 / sr, 4), round((i1 - i0) / sr, 4), seg.astype(np.float32)))
    return pcm_sha256(x), events


def write_event(path: str | os.PathLike, samples: np.ndarray) -> dict:
    """Write an event as 16-bit FLAC (22050 Hz mono) and return :func:`event_check` of its decoded PCM (read back,
    so the figures are of what the file holds)."""
    from ..media import read_audio, write_audio

    write_audio(path, np.asarray(samples, np.float32)[None], SAMPLE_RATE)
    back, sr = read_audio(path)
    if sr != SAMPLE_RATE:
        raise AvgenError(f"{os.fspath(path)}: wrote {SAMPLE_RATE} Hz but read back {sr} Hz")
    return event_check(back[0])
