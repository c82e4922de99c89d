"""A static listening/viewing gallery of generated media (``avgen gallery RUN [RUN ...] -o DIR``).

A *run* is what one avgen command left behind:

* an ``avgen eval v2s`` output folder (``<id>.wav`` per test clip) with its report (the ``--report`` JSON-lines file,
  found beside or inside the folder, or given as the run itself): rows are the test clips, with their input video
  (whose own track is the ground truth), timbre reference and true events;
* an ``avgen eval v2s-real`` output folder (its ``results.json`` holds per-clip figures);
* an ``avgen v2s --manifest`` batch output folder (``<id>.mp4|wav|flac``); ``manifest=`` (the manifest's rows, as
  the batch reads them) names each row's video and reference, without it each output stands alone. A row's
  reference may be None (a SpecVQGAN batch without a conditioning clip): that row shows no reference;
* an ``avgen s2v`` / ``avgen v2s`` output file, or a folder of them.

Each run is one *system* (a column group); rows are matched across systems by clip id. Per row the page shows the
input video, the reference (with its mel), every system's output as playable media with its mel picture and its
metric values; every table sorts by clicking a column header. The page has no external assets, works from
``file://``, and its media are re-encoded as WebM (VP9 video, Opus audio), which Chromium, Firefox and Safari decode
without proprietary codecs.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import numpy as np

from .errors import AvgenError
from .media import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["Clip", "System", "Run", "read_run", "build_gallery", "GALLERY_SAMPLE_RATE"]

GALLERY_SAMPLE_RATE = 48_000  # Opus' native rate
METRIC_SAMPLE_RATE = 22_050  # avgen's mel / metric rate
ONSET_TOLERANCE = 0.05  # s, as avgen eval v2s
_MEDIA_EXTENSIONS = tuple(VIDEO_EXTENSIONS) + tuple(AUDIO_EXTENSIONS)


@dataclasses.dataclass
class Clip:
    """One gallery row: the inputs every system shared. ``video``'s own sound track (when present) is the ground
    truth the outputs are compared with; ``events`` are known event times in seconds (synthetic benchmark)."""

    id: str
    video: str | None = None
    reference: str | None = None
    events: list[float] | None = None


@dataclasses.dataclass
class System:
    """One run's outputs: ``outputs[clip id]`` a media file; ``details`` what produced them (checkpoint, vocoder,
    ablation, seed); ``summary`` the run-level metric values of its report; ``recorded`` per-clip values a report
    holds."""

    name: str
    source: str
    details: dict[str, str] = dataclasses.field(default_factory=dict)
    summary: dict[str, float] = dataclasses.field(default_factory=dict)
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    recorded: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Run:
    kind: str  # "v2s_benchmark", "v2s_real", "outputs"
    clips: dict[str, Clip]
    system: System


# -- reading runs: every path is checked here, before anything is encoded -------------------------------------------


def _read_report_lines(path: str) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    return []  # not a report file: ignored while searching, refused when named (below)
                if isinstance(obj, dict):
                    out.append(obj)
    except (OSError, UnicodeDecodeError):
        return []
    return out


def _resolve(path: str, *bases: str) -> str:
    """A path a report recorded (relative to the directory the command ran in): as is when it exists, else relative
    to each of ``bases`` (the report's folder, ...)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    for b in bases:
        cand = os.path.join(b, path)
        if os.path.exists(cand):
            return cand
    return path


def _same(a: str, b: str) -> bool:
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def _find_report(folder: str) -> tuple[dict, str] | None:
    """The newest ``v2s_benchmark`` report whose output folder is ``folder``: searched in ``folder/*.jsonl``,
    ``<folder>.jsonl`` and the parent's ``*.jsonl`` (where ``avgen eval v2s --report`` files usually are)."""
    parent = os.path.dirname(os.path.abspath(folder))
    candidates = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".jsonl")]
    candidates += [os.path.join(parent, n) for n in sorted(os.listdir(parent)) if n.endswith(".jsonl")]
    best = None
    for cand in candidates:
        if os.path.getsize(cand) > 50_000_000:
            continue
        for rep in _read_report_lines(cand):
            out = (rep.get("inputs") or {}).get("output_dir")
            if rep.get("metric") == "v2s_benchmark" and isinstance(out, str):
                if _same(_resolve(out, os.path.dirname(cand)), folder):
                    best = (rep, cand)  # later lines are newer runs into the same folder
    return best


def _scalars(report: dict) -> dict[str, float]:
    return {k: float(v) for k, v in report.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("time",)}


def _details(profile: dict, keys: Sequence[str]) -> dict[str, str]:
    return {k: str(profile[k]) for k in keys if profile.get(k) is not None}


def _from_benchmark(report: dict, where: str) -> Run:
    """An ``avgen eval v2s`` report: rows from its test folders' manifests, outputs ``<output_dir>/<id>.wav``."""
    inputs = report.get("inputs") or {}
    base = os.path.dirname(os.path.abspath(where))
    out_dir = _resolve(str(inputs.get("output_dir", "")), base)
    test_dirs = inputs.get("test_dir")
    test_dirs = [test_dirs] if isinstance(test_dirs, str) else list(test_dirs or [])
    if not os.path.isdir(out_dir):
        raise AvgenError(f"{where}: the report's output folder '{out_dir}' does not exist")
    clips, outputs = {}, {}
    for td in test_dirs:
        td = _resolve(td, base)
        manifest = os.path.join(td, "manifest.jsonl")
        if not os.path.isfile(manifest):
            raise AvgenError(f"{where}: the report's test folder '{td}' has no manifest.jsonl")
        for row in _read_report_lines(manifest):
            cid = str(row.get("id"))
            wav = os.path.join(out_dir, cid + ".wav")
            if not os.path.exists(wav):
                continue  # --limit: the run scored only the first clips
            clips[cid] = Clip(cid, video=os.path.join(td, cid + ".mp4"),
                              reference=os.path.join(td, str(row.get("reference"))),
                              events=[float(t) for t in row.get("events") or []])
            outputs[cid] = wav
    if not outputs:
        raise AvgenError(f"{where}: no generated clips of the report in '{out_dir}'")
    profile = report.get("profile") or {}
    system = System(name=os.path.basename(os.path.normpath(out_dir)), source=where,
                    details=_details(profile, ("checkpoint", "ablate", "vocoder", "seed")),
                    summary=_scalars(report), outputs=outputs)
    return Run("v2s_benchmark", clips, system)


def _from_real(report: dict, where: str) -> Run:
    """An ``avgen eval v2s-real`` ``results.json``: per-clip figures recorded, videos found in its clips folder."""
    inputs = report.get("inputs") or {}
    base = os.path.dirname(os.path.abspath(where))
    out_dir = _resolve(str(inputs.get("output_dir", base)), base)
    if not os.path.isdir(out_dir):
        out_dir = base  # results.json lives in the output folder
    clips_dir = _resolve(str(inputs.get("clips_dir", "")), base)
    videos = {}
    for d in (clips_dir, os.path.join(clips_dir, "video")):
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                if os.path.splitext(n)[1].lower() in VIDEO_EXTENSIONS:
                    videos.setdefault(os.path.splitext(n)[0], os.path.join(d, n))
    profile = report.get("profile") or {}
    ref = profile.get("reference")
    clips, outputs, recorded = {}, {}, {}
    for row in report.get("clips") or []:
        cid = str(row.get("id"))
        wav = os.path.join(out_dir, cid + ".wav")
        if not os.path.exists(wav):
            continue
        own_ref = ref if isinstance(ref, str) and os.path.isfile(ref) else None
        clips[cid] = Clip(cid, video=videos.get(cid), reference=own_ref)
        outputs[cid] = wav
        recorded[cid] = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not outputs:
        raise AvgenError(f"{where}: no generated clips of the report in '{out_dir}'")
    system = System(name=os.path.basename(os.path.normpath(out_dir)), source=where,
                    details=_details(profile, ("checkpoint", "vocoder", "seed")),
                    summary={k: v for k, v in _scalars(report).items()}, outputs=outputs, recorded=recorded)
    return Run("v2s_real", clips, system)


def _from_report_file(path: str) -> Run:
    reports = _read_report_lines(path)
    for rep in reversed(reports):  # the newest line of a supported kind
        if rep.get("metric") == "v2s_benchmark":
            return _from_benchmark(rep, path)
        if rep.get("metric") == "v2s_real":
            return _from_real(rep, path)
    raise AvgenError(f"{path}: not an avgen eval v2s / v2s-real report (no 'v2s_benchmark' or 'v2s_real' line)")


def _manifest_rows(rows: Sequence[Mapping[str, str]] | None) -> dict[str, Clip]:
    """A v2s batch's rows (``{"id", "video", "reference"}``, ids as ``avgen v2s --manifest`` names its outputs)
    keyed by id."""
    return {str(r["id"]): Clip(str(r["id"]), video=r.get("video"), reference=r.get("reference")) for r in rows or []}


def _from_outputs(path: str, files: list[str], manifest: Sequence[Mapping[str, str]] | None) -> Run:
    rows = _manifest_rows(manifest)
    clips, outputs = {}, {}
    for f in files:
        cid = os.path.splitext(os.path.basename(f))[0]
        clips[cid] = rows.get(cid, Clip(cid))
        outputs[cid] = f
    name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    return Run("outputs", clips, System(name=name, source=path, outputs=outputs))


def read_run(path: str | os.PathLike, *, manifest: Sequence[Mapping[str, str]] | None = None) -> Run:
    """What one run path holds (see the module docstring). Raises :class:`AvgenError` naming ``path`` when it is not
    a run. ``manifest``: the rows of the ``avgen v2s --manifest`` file a batch output folder was made from (dicts
    with ``id``, ``video``, ``reference``, as ``avgen.cli._read_pairs`` reads them; gives each row's inputs). A
    ``reference`` None, as ``_read_pairs(path, reference=False)`` gives every row of a reference-free SpecVQGAN
    batch, means the row has none. The caller reads the rows: an ``avgen.cli`` import here would be an import
    circle (tests/test_architecture.py)."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AvgenError(f"{p}: no such file or folder")
    if os.path.isfile(p):
        ext = os.path.splitext(p)[1].lower()
        if ext == ".jsonl":
            return _from_report_file(p)
        if ext == ".json":
            reports = _read_report_lines(p) or []
            if reports and reports[0].get("metric") == "v2s_real":
                return _from_real(reports[0], p)
            raise AvgenError(f"{p}: not an avgen eval v2s-real results.json")
        if ext in _MEDIA_EXTENSIONS:
            return _from_outputs(p, [p], manifest)
        raise AvgenError(f"{p}: not a run (give an avgen eval v2s / v2s --manifest / s2v output folder, a report "
                         f".jsonl or a media file)")
    results = os.path.join(p, "results.json")
    if os.path.isfile(results):
        reports = _read_report_lines(results)
        if reports and reports[0].get("metric") == "v2s_real":
            return _from_real(reports[0], results)
    found = _find_report(p)
    if found is not None:
        return _from_benchmark(found[0], found[1])
    files = [os.path.join(p, n) for n in sorted(os.listdir(p))
             if os.path.splitext(n)[1].lower() in _MEDIA_EXTENSIONS and not n.startswith(".")
             and os.path.isfile(os.path.join(p, n))]
    if not files:
        raise AvgenError(f"{p}: not a run folder (no avgen eval v2s report, no results.json, no .wav/.flac/.mp4 "
                         f"outputs)")
    return _from_outputs(p, files, manifest)


def _merge(runs: Sequence[Run], labels: Sequence[str | None]) -> tuple[list[Clip], list[System]]:
    """Rows as the union of every run's clips (the first run's order, then new ones); systems named by label or run,
    made unique."""
    clips: dict[str, Clip] = {}
    systems, names = [], set()
    for run, label in zip(runs, labels):
        for cid, c in run.clips.items():
            have = clips.setdefault(cid, Clip(cid))
            have.video = have.video or c.video
            have.reference = have.reference or c.reference
            have.events = have.events if have.events is not None else c.events
        name = label or run.system.name
        base, n = name, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        systems.append(dataclasses.replace(run.system, name=name))
    return list(clips.values()), systems


# -- media: browser-playable copies and mel pictures ----------------------------------------------------------------


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


# no random segment id, no date, no encoder version string: a rebuild from the same inputs gives the same bytes
_BITEXACT = {"fflags": "+bitexact"}


def _opus_stream(container, channels: int):
    s = container.add_stream("libopus", rate=GALLERY_SAMPLE_RATE, layout="mono" if channels == 1 else "stereo")
    s.bit_rate = 64_000 * channels
    return s


def _opus_packets(stream, audio: np.ndarray):
    """Float ``[C, N]`` at 48 kHz -> Opus packets, in 20 ms frames (the encoder's frame size)."""
    import av

    step = 960
    n = audio.shape[1]
    padded = np.pad(audio, ((0, 0), (0, (-n) % step))) if n % step else audio
    interleaved = np.ascontiguousarray(padded.T).astype(np.float32)  # packed 'flt': samples interleaved
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    for start in range(0, padded.shape[1], step):
        frame = av.AudioFrame.from_ndarray(interleaved[start:start + step].reshape(1, -1), format="flt",
                                           layout=layout)
        frame.sample_rate = GALLERY_SAMPLE_RATE
        frame.pts = start
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _read_audio_or_none(path: str, sample_rate: int, *, mono: bool) -> np.ndarray | None:
    from .media import probe, read_audio

    if not probe(path).has_audio:
        return None
    wav, _ = read_audio(path, sample_rate=sample_rate, mono=mono)
    return np.clip(wav, -1.0, 1.0)


def write_web_audio(src: str, dst: str) -> str:
    """``src``'s sound as WebM/Opus (64 kbit/s per channel, 48 kHz), atomically."""
    import av

    from .utils import atomic_output

    audio = _read_audio_or_none(src, GALLERY_SAMPLE_RATE, mono=False)
    if audio is None:
        raise AvgenError(f"{src}: no audio stream")
    audio = audio[:2]
    with atomic_output(dst) as tmp:
        with av.open(tmp, "w", format="webm", options=_BITEXACT) as c:
            s = _opus_stream(c, audio.shape[0])
            for packet in _opus_packets(s, audio):
                c.mux(packet)
    return dst


def write_web_video(src: str, dst: str, *, max_size: int = 320) -> str:
    """``src`` as WebM (VP9, longer side at most ``max_size`` pixels, its own fps) with its sound as Opus,
    atomically."""
    import av

    from .media import iter_video, probe
    from .utils import atomic_output

    info = probe(src)
    if not info.has_video:
        raise AvgenError(f"{src}: no video stream")
    scale = min(1.0, max_size / max(info.width, info.height))
    h, w = _even(info.height * scale), _even(info.width * scale)
    fps = Fraction(info.fps or 25).limit_denominator(1000)
    audio = _read_audio_or_none(src, GALLERY_SAMPLE_RATE, mono=False)
    with atomic_output(dst) as tmp:
        with av.open(tmp, "w", format="webm", options=_BITEXACT) as c:
            vs = c.add_stream("libvpx-vp9", rate=fps)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            # constant quality, fastest settings: the gallery is for looking, not archiving
            vs.options = {"crf": "34", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
            vs.codec_context.time_base = Fraction(1, 1) / fps
            astream = _opus_stream(c, audio[:2].shape[0]) if audio is not None else None
            for i, frame in enumerate(iter_video(src, size=(h, w))):
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = i
                for packet in vs.encode(vf):
                    c.mux(packet)
            for packet in vs.encode(None):
                c.mux(packet)
            if astream is not None:  # the muxer interleaves the two streams by time
                for packet in _opus_packets(astream, audio[:2]):
                    c.mux(packet)
    return dst


def write_mel_picture(wav: np.ndarray, dst: str) -> str:
    """The specvqgan mel of mono 22.05 kHz ``wav`` as a PNG (low frequencies at the bottom), atomically."""
    import io

    from PIL import Image

    from .audio import mel_spectrogram
    from .train.samples import mel_picture
    from .utils import atomic_write_bytes

    buf = io.BytesIO()
    # a 64-colour palette: the colour map is smooth, and the pictures are a few times smaller than RGB
    Image.fromarray(mel_picture(mel_spectrogram(wav))).quantize(64).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(dst, buf.getvalue())
    return dst


# -- per-clip figures ----------------------------------------------------------------------------------------------

METRIC_HELP = {
    "duration_s": "length of the output's sound (s)",
    "frames": "video frames of the output (video outputs)",
    "fps": "frame rate of the output (video outputs)",
    "level_dbfs": "RMS level of the whole output (dBFS)",
    "onsets": "onsets detected in the output (spectral flux peaks, as avgen eval v2s)",
    "onset_f1_truth": "onset F1 against the input video's own track, one-to-one within +-50 ms",
    "mcd_truth": "mel-cepstral distortion against the input video's own track (dB, frames paired by index)",
    "onset_recall": "share of the known events matched by an output onset within +-50 ms",
    "extra_onsets": "output onsets matched to no known event",
    "onset_error_ms": "median distance of each known event to the nearest output onset (ms)",
    "timbre_cos_cepstral": "cosine similarity of the output's and the reference's cepstral envelopes",
}


def clip_metrics(output: np.ndarray, *, truth: np.ndarray | None = None, reference: np.ndarray | None = None,
                 events: Sequence[float] | None = None) -> dict[str, float]:
    """Figures of one output (mono 22.05 kHz), with the functions ``avgen eval v2s`` uses: always duration, level
    and onset count; against the ground-truth track, onset F1 and MCD; against known events, recall / extras /
    median error; against the reference, the cepstral-envelope similarity."""
    from .benchmarks.v2s import onset_timing
    from .metrics.audio import audio_onsets, cepstral_envelope, cosine_similarity, mcd, onset_f1

    sr = METRIC_SAMPLE_RATE
    x = output.reshape(-1)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    on = audio_onsets(x, sr)
    out = {"duration_s": x.size / sr, "level_dbfs": 20 * math.log10(max(rms, 1e-10)), "onsets": float(len(on))}
    if truth is not None:
        t = truth.reshape(-1)
        out["onset_f1_truth"] = onset_f1(on, audio_onsets(t, sr), tolerance=ONSET_TOLERANCE).f1
        out["mcd_truth"] = mcd(x, t, sr)
    if events is not None and len(events):
        timing = onset_timing([on], [list(events)], tolerance=ONSET_TOLERANCE)
        out["onset_recall"] = timing["onset_recall"]
        out["extra_onsets"] = timing["extra_onsets_per_clip"]
        out["onset_error_ms"] = timing["onset_error_median_ms"]
    if reference is not None:
        out["timbre_cos_cepstral"] = float(cosine_similarity(cepstral_envelope(x, sr),
                                                             cepstral_envelope(reference.reshape(-1), sr))[0])
    return out


# -- the page ------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#111;background:#fff}
h1{font-size:1.4em}table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;font-size:.9em}
th[data-sort]{cursor:pointer;background:#f2f2f2;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
video{width:192px;display:block}audio{width:220px;display:block}
img.mel{width:220px;height:64px;image-rendering:pixelated;display:block;margin-top:2px}
.details{color:#555;font-size:.85em}dl{margin:0}dt{font-weight:600}
"""

# Click (or Enter on) a header with data-sort: rows reorder by that column's data-value; empty values stay last.
_JS = """
(function(){
  document.querySelectorAll('table.sortable').forEach(function(table){
    var head = table.tHead.rows[0], body = table.tBodies[0];
    Array.prototype.forEach.call(head.cells, function(th, col){
      if (!th.hasAttribute('data-sort')) return;
      th.tabIndex = 0;
      function sort(){
        var asc = th.getAttribute('aria-sort') !== 'ascending', numeric = th.getAttribute('data-sort') === 'number';
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = a.cells[col].getAttribute('data-value'), y = b.cells[col].getAttribute('data-value');
          if (x === '' || x === null) return (y === '' || y === null) ? 0 : 1;
          if (y === '' || y === null) return -1;
          var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
        Array.prototype.forEach.call(head.cells, function(h){ h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function(e){
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); }
      });
    });
  });
})();
"""


def _fmt(v: float | None) -> tuple[str, str]:
    """(data-value, shown text) of a number; missing or non-finite values sort last."""
    if v is None or not math.isfinite(v):
        return "", "–" if v is None else str(v)
    return repr(float(v)), f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"


PRELOAD_ALL_UP_TO = 60  # media elements; a bigger page loads only each file's header until it is played


def _media_html(rel: str, kind: str, preload: str = "auto") -> str:
    tag = "video" if kind == "video" else "audio"
    return f'<{tag} controls preload="{preload}" src="{html.escape(rel)}"></{tag}>'


def _mel_html(rel: str | None) -> str:
    return f'<img class="mel" alt="mel" src="{html.escape(rel)}">' if rel else ""


def _page(title: str, systems: list[System], rows: list[dict], metric_names: list[str], note: str) -> str:
    e = html.escape
    one = len(systems) == 1
    count = sum(bool(r["video"]) + bool(r["reference"]) + len(r["outputs"]) for r in rows)
    preload = "auto" if count <= PRELOAD_ALL_UP_TO else "metadata"
    media = lambda rel, kind: _media_html(rel, kind, preload)  # noqa: E731
    # the systems table: what produced each column and its run-level figures
    summary_keys = sorted({k for s in systems for k in s.summary})
    shead = "".join(f'<th data-sort="number">{e(k)}</th>' for k in summary_keys)
    srows = []
    for s in systems:
        det = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in s.details.items())
        cells = "".join('<td class="num" data-value="{}">{}</td>'.format(*_fmt(s.summary.get(k))) for k in summary_keys)
        srows.append(f'<tr><td data-value="{e(s.name)}">{e(s.name)}</td><td><dl>{det}</dl>'
                     f'<div class="details">{e(_shown(s.source) or "")}</div></td>{cells}</tr>')
    # the clips table: inputs, then per system its media + mel and its figures
    head = ['<th data-sort="text">clip</th>', "<th>input video</th>", "<th>reference</th>"]
    for s in systems:
        head.append(f"<th>{e(s.name)}</th>")
        head += [f'<th data-sort="number" title="{e(METRIC_HELP.get(m, m))}">'
                 f'{e(m if one else f"{m} · {s.name}")}</th>' for m in metric_names[s.name]]
    body = []
    for r in rows:
        reference = media(r["reference"], "audio") + _mel_html(r["reference_mel"]) if r["reference"] else "–"
        cells = [f'<td data-value="{e(r["id"])}">{e(r["id"])}</td>',
                 f'<td>{media(r["video"], "video") if r["video"] else "–"}</td>', f"<td>{reference}</td>"]
        for s in systems:
            out = r["outputs"].get(s.name)
            cells.append(f'<td>{media(out["media"], out["kind"]) + _mel_html(out["mel"]) if out else "–"}</td>')
            vals = out["metrics"] if out else {}
            cells += ['<td class="num" data-value="{}">{}</td>'.format(*_fmt(vals.get(m)))
                      for m in metric_names[s.name]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    legend = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in METRIC_HELP.items()
                     if any(k in names for names in metric_names.values()))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width">'
            f"<style>{_CSS}</style></head><body>\n<h1>{e(title)}</h1>\n<p>{e(note)}</p>\n"
            f'<h2>Systems</h2>\n<table class="sortable" id="systems"><thead><tr><th data-sort="text">system</th>'
            f"<th>made with</th>{shead}</tr></thead><tbody>{''.join(srows)}</tbody></table>\n"
            f'<h2>Clips</h2>\n<table class="sortable" id="clips"><thead><tr>{"".join(head)}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + f"\n</tbody></table>\n<h2>Figures</h2><dl>{legend}</dl>\n"
            f"<script>{_JS}</script>\n</body></html>\n")


def _shown(path: str | None) -> str | None:
    """A path as recorded in gallery.json: normalised, relative to the working directory when inside it."""
    if path is None:
        return None
    p = os.path.normpath(os.path.abspath(path))
    here = os.path.abspath(os.getcwd())
    return os.path.relpath(p, here) if p.startswith(here + os.sep) else p


def _system_record(s: System) -> dict:
    rec = dataclasses.asdict(s)
    rec["source"] = _shown(s.source)
    rec["outputs"] = {k: _shown(v) for k, v in s.outputs.items()}
    return rec


def _slug(text: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:80].strip("_")
    return s or "item"


def build_gallery(runs: Sequence[str | os.PathLike], output_dir: str | os.PathLike, *,
                  labels: Sequence[str | None] | None = None, manifest: Sequence[Mapping[str, str]] | None = None,
                  title: str | None = None, max_size: int = 320,
                  progress: Callable[[int, int, str], None] | None = None) -> str:
    """Build ``output_dir/index.html`` (and ``gallery.json``, ``media/``) from one or more runs, each a system.

    ``labels``: a name per run (default: the run folder's name). ``manifest``: the rows of the ``avgen v2s
    --manifest`` file batch runs were made from (see :func:`read_run`). ``max_size``: the longer side of the video
    copies. ``progress(done, total, what)`` is called per encoded item. Every input is read and checked before
    anything is written; files are written atomically and ``index.html`` last. Returns the path of ``index.html``."""
    from .media import probe

    out = os.fspath(output_dir)
    if not runs:
        raise AvgenError("give at least one run")
    labels = list(labels) if labels is not None else [None] * len(runs)
    if len(labels) != len(runs):
        raise AvgenError(f"{len(labels)} labels for {len(runs)} runs")
    if os.path.exists(out) and not os.path.isdir(out):
        raise AvgenError(f"-o {out}: is a file; give a folder")
    if max_size < 16:
        raise AvgenError(f"--max-size {max_size}: must be at least 16")
    read = [read_run(r, manifest=manifest) for r in runs]
    for r in runs:
        if os.path.isdir(r) and _same(os.fspath(r), out):
            raise AvgenError(f"-o {out}: is a run folder given as input; choose another")
    clips, systems = _merge(read, labels)
    # every media file is opened once (headers only) before any work: a broken one fails now, by name
    for c in clips:
        for p, need in ((c.video, "video"), (c.reference, "audio")):
            if p is not None:
                info = probe(p)
                if not (info.has_video if need == "video" else info.has_audio):
                    raise AvgenError(f"{p}: no {need} stream")
    for s in systems:
        for p in s.outputs.values():
            if not probe(p).has_audio and not probe(p).has_video:
                raise AvgenError(f"{p}: no audio or video stream")
    media_dir = os.path.join(out, "media")
    total = len(clips) * (2 + len(systems))
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    decoded: dict[str, np.ndarray | None] = {}

    def mono(path: str | None) -> np.ndarray | None:
        if path is None:
            return None
        if path not in decoded:  # a shared input is decoded once
            decoded[path] = _read_audio_or_none(path, METRIC_SAMPLE_RATE, mono=True)
        return decoded[path]

    rel = lambda p: os.path.relpath(p, out).replace(os.sep, "/")  # noqa: E731 - links relative to the page
    shared: dict[tuple[str, str], str] = {}

    def shared_copy(src: str, kind: str) -> str:
        """Inputs shared by several rows (one video, several references) are encoded once, under media/inputs/."""
        key = (os.path.realpath(src), kind)
        if key not in shared:
            from .utils import file_sha256

            # named by content: the same on every machine and checkout
            stem = f"{_slug(os.path.splitext(os.path.basename(src))[0])}_{file_sha256(src)[:8]}"
            folder = os.path.join(media_dir, "inputs")
            if kind == "video":
                shared[key] = rel(write_web_video(src, os.path.join(folder, stem + ".webm"), max_size=max_size))
            elif kind == "audio":
                shared[key] = rel(write_web_audio(src, os.path.join(folder, stem + "_audio.webm")))
            else:
                shared[key] = rel(write_mel_picture(mono(src), os.path.join(folder, stem + "_mel.png")))
        return shared[key]

    rows, data = [], []
    metric_names: dict[str, list[str]] = {s.name: [] for s in systems}
    slugs = [f"{i}_{_slug(s.name)}" for i, s in enumerate(systems)]
    for ci, c in enumerate(clips):
        folder = os.path.join(media_dir, f"{ci:04d}_{_slug(c.id)}")
        row = {"id": c.id, "video": None, "reference": None, "reference_mel": None, "outputs": {}}
        if c.video:
            row["video"] = shared_copy(c.video, "video")
        tick(f"{c.id}: input")
        if c.reference:
            row["reference"] = shared_copy(c.reference, "audio")
            row["reference_mel"] = shared_copy(c.reference, "mel")
        tick(f"{c.id}: reference")
        for s, slug, run in zip(systems, slugs, read):
            src = s.outputs.get(c.id)
            # a system is scored against its own run's inputs (runs may pair a clip with different references)
            own = run.clips.get(c.id) or c
            own_video, own_ref = own.video or c.video, own.reference or c.reference
            own_events = own.events if own.events is not None else c.events
            if src is None:
                tick(f"{c.id}: {s.name} (none)")
                continue
            info = probe(src)
            has_video = info.has_video
            dst = os.path.join(folder, slug + ".webm")
            media = write_web_video(src, dst, max_size=max_size) if has_video else write_web_audio(src, dst)
            wav = mono(src)
            entry = {"media": rel(media), "kind": "video" if has_video else "audio", "mel": None, "metrics": {}}
            if wav is not None:
                entry["mel"] = rel(write_mel_picture(wav, os.path.join(folder, slug + "_mel.png")))
                entry["metrics"] = clip_metrics(wav, truth=mono(own_video), reference=mono(own_ref),
                                                events=own_events)
            if has_video:  # a generated video (s2v) is also judged by its length in frames and its rate
                entry["metrics"].update({"frames": float(info.num_frames or 0) or float("nan"),
                                         "fps": float(info.fps or "nan")})
            entry["metrics"].update(s.recorded.get(c.id, {}))
            for m in entry["metrics"]:
                if m not in metric_names[s.name]:
                    metric_names[s.name].append(m)
            row["outputs"][s.name] = entry
            tick(f"{c.id}: {s.name}")
        rows.append(row)
        data.append({"id": c.id, "video": _shown(c.video), "reference": _shown(c.reference), "events": c.events,
                     "outputs": {s.name: {"source": _shown(s.outputs.get(c.id)), **row["outputs"].get(s.name, {})}
                                 for s in systems}})
    from .utils import atomic_write_text

    kinds = sorted({r.kind for r in read})
    title = title or f"avgen gallery: {', '.join(s.name for s in systems)}"
    note = (f"{len(clips)} clip(s), {len(systems)} system(s), from: {', '.join(os.fspath(r) for r in runs)} "
            f"({', '.join(kinds)}). Media re-encoded as WebM (VP9/Opus); figures computed at 22.05 kHz mono; click "
            f"a column header to sort.")
    atomic_write_text(os.path.join(out, "gallery.json"),
                      json.dumps({"title": title, "systems": [_system_record(s) for s in systems],
                                  "clips": data}, indent=1, default=str) + "\n")
    index = os.path.join(out, "index.html")
    atomic_write_text(index, _page(title, systems, rows, metric_names, note))
    return index
