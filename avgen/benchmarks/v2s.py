"""The built-in video-to-sound benchmark (``avgen eval v2s``) on a synthetic-foley test split (``tools/make_foley.py``): every test clip is
generated from its silent video and its timbre reference, then scored against the known ground truth.

* onset timing error: for every true event, the distance to the nearest onset of the generated sound; median (ms)
  over all events, and the share within one video frame (1/21.5 s);
* onset recall: the share of true events matched to a generated onset within +-:data:`ONSET_TOLERANCE` (50 ms);
  unmatched onsets per clip: generated onsets matched to no true event (the matching is one-to-one,
  :func:`avgen.metrics.audio.onset_f1`, so two onsets near one event count one match and one unmatched); extra
  onsets per clip: the unmatched ones outside every event's sound (rows with ``durations``), i.e. sounds where the
  video shows nothing. Onsets are spectral-flux peaks where the track rises :data:`ONSET_GATE_DB` above its own
  noise floor (``audio_onsets(..., gate_db=)``, :func:`avgen.metrics.audio.gate_onsets`);
* the ceiling (``ceiling_by_split``): every figure above for the clips' own recorded tracks in place of the outputs;
  and the vocoder's ceiling (``vocoded_ceiling_by_split``, full report only): the timbre figures for the own tracks
  after their mel went through the pipeline's vocoder, what a generator with perfect mels could score;
* timbre retrieval accuracy: is the output's timbre embedding closest (cosine) to a reference made from its own
  recording, among all test references (chance = 1 / number of recordings)? With two embeddings: Resemblyzer (the paper's library) and a mel-cepstral envelope (the mean
  24-coefficient mel-cepstrum over the sounding frames);
* timbre cosine similarity with the own reference (Resemblyzer, as in the paper);
* MCD (plain and DTW) against the ground-truth track.

Timbre and timing figures are also given per **split group**, side by side: ``seen`` (test clips whose recording was
used in training: this measures recall of memorised sounds), ``unseen_recording`` (recordings never used in
training) and ``unseen_category`` (sound categories never used in training). A row's group is its manifest ``split``
field (``tools/make_foley.py`` writes it) or, with ``train_manifest``, derived by comparing its recording and
category with the training rows. Retrieval inside a group searches only that group's references (chance = 1 / its
distinct recordings; ``held_out_renderer`` is the scene renderer's held-out split); a warning is added when an
unseen group has fewer than :data:`MIN_UNSEEN_REFERENCES` of them.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from ..errors import AvgenError
from ..media import read_audio, write_audio
from ..metrics.audio import (TimbreEmbedder, audio_onsets, cepstral_envelope, cosine_similarity, mcd,
                             onset_f1, retrieval_accuracy)
from ..metrics.report import make_report
from ..models.v2s.varietysound import ENCODERS
from ..pipelines.video_to_sound import VideoToSoundPipeline

__all__ = ["evaluate_v2s", "compare_table", "V2SHead", "split_groups", "timbre_by_group", "onset_timing",
           "timing_by_group", "group_table", "SPLIT_GROUPS", "MIN_UNSEEN_REFERENCES", "ONSET_TOLERANCE",
           "ONSET_GATE_DB"]

SPLIT_GROUPS = ("seen", "unseen_recording", "unseen_category")
MIN_UNSEEN_REFERENCES = 24  # issue 15: distinct test references an unseen-timbre figure needs
ONSET_TOLERANCE = 0.05  # seconds either side of a true event for onset recall / extra onsets
ONSET_GATE_DB = 6.0  # onsets where the track stays within this of its noise floor are not counted (gate_onsets)
FRAME = 1 / 21.5  # one feature frame (s)


def _recording(row: dict) -> str:
    return str(row.get("recording", row.get("sound")))


def split_groups(rows: list[dict], train_rows: list[dict] | None = None) -> list[str]:
    """One group per test row: its ``split`` field when present; else, given the training rows, ``seen`` (its
    recording was trained on), ``unseen_category`` (its category never was) or ``unseen_recording``; else
    ``unlabelled``."""
    seen_recs = {_recording(r) for r in train_rows or []}
    seen_cats = {r.get("category") for r in train_rows or []} - {None}
    out = []
    for r in rows:
        if r.get("split"):
            out.append(str(r["split"]))
        elif train_rows is None:
            out.append("unlabelled")
        elif _recording(r) in seen_recs:
            out.append("seen")
        elif r.get("category") is not None and r["category"] not in seen_cats:
            out.append("unseen_category")
        else:
            out.append("unseen_recording")
    return out


def timbre_by_group(groups: list[str], labels: list[str], embeddings: dict,
                    references: list[str]) -> tuple[dict, list]:
    """Per group: clips, distinct reference recordings and reference files, retrieval accuracy per embedding
    (gallery = the group's own references), chance, and the mean Resemblyzer similarity to the own reference.
    ``embeddings``: name -> (generated ``[N, D]``, references ``[N, D]``). Returns (table, warning lines)."""
    table, warnings = {}, []
    order = [g for g in SPLIT_GROUPS if g in groups] + sorted(set(groups) - set(SPLIT_GROUPS))
    for g in order:
        idx = np.array([i for i, x in enumerate(groups) if x == g])
        lab = [labels[i] for i in idx]
        n_refs = len(set(lab))
        entry = {"clips": int(len(idx)), "distinct_references": n_refs,
                 "reference_files": len({references[i] for i in idx}), "retrieval_chance": 1.0 / n_refs}
        for name, (gen, ref) in embeddings.items():
            entry[f"timbre_retrieval_{name}"] = retrieval_accuracy(gen[idx], ref[idx], lab)
        if "resemblyzer" in embeddings:
            gen, ref = embeddings["resemblyzer"]
            entry["timbre_similarity_resemblyzer"] = float(cosine_similarity(gen[idx], ref[idx]).mean())
        table[g] = entry
        if g.startswith("unseen") and n_refs < MIN_UNSEEN_REFERENCES:
            warnings.append(f"{g}: only {n_refs} distinct test references (>= {MIN_UNSEEN_REFERENCES} needed for an "
                            f"unseen-timbre figure; chance here is 1/{n_refs})")
    return table, warnings


def onset_timing(onsets: list, events: list, *, tolerance: float = ONSET_TOLERANCE,
                 durations: list | None = None) -> dict:
    """Timing figures over clips: ``onsets[i]`` the generated onsets and ``events[i]`` the true events of clip ``i``
    (seconds). Median distance of each event to the nearest onset (ms; inf for a clip without onsets), the share of
    events within one frame, recall (events matched one-to-one within ``tolerance``), unmatched onsets per clip, and
    extra onsets per clip: unmatched onsets outside every event's sound, ``[start - tolerance, start + duration +
    tolerance]``, when ``durations[i]`` (seconds per event) are known; without them, the unmatched ones. (A rattle
    or a breaking pane has onsets of its own while it sounds; they are not spurious sounds.)"""
    dists, matched, n_true, extra, unmatched = [], 0, 0, [], []
    for i, (on, ev) in enumerate(zip(onsets, events)):
        on, ev = np.asarray(on, np.float64).reshape(-1), np.asarray(ev, np.float64).reshape(-1)
        # nearest-onset distance per event
        dists += list(np.abs(ev[:, None] - on[None, :]).min(1)) if on.size else [np.inf] * len(ev)
        # one-to-one matching within the tolerance (onset_f1's maximum matching)
        m = onset_f1(on, ev, tolerance=tolerance).matched if on.size and ev.size else 0
        matched, n_true = matched + m, n_true + len(ev)
        unmatched.append(len(on) - m)
        if durations is None or durations[i] is None:
            extra.append(unmatched[-1])
        else:
            du = np.asarray(durations[i], np.float64).reshape(-1)
            if du.shape != ev.shape:
                raise AvgenError(f"clip {i}: {len(du)} durations for {len(ev)} events")
            inside = ((on[:, None] >= ev[None] - tolerance) & (on[:, None] <= ev[None] + du[None] + tolerance)).any(1)
            extra.append(min(unmatched[-1], int((~inside).sum())))
    d = np.asarray(dists, np.float64)
    return {"onset_error_median_ms": float(np.median(d) * 1000) if d.size else float("nan"),
            "onset_within_one_frame": float((d <= FRAME).mean()) if d.size else float("nan"),
            "onset_recall": matched / n_true if n_true else float("nan"),
            "extra_onsets_per_clip": float(np.mean(extra)) if extra else float("nan"),
            "unmatched_onsets_per_clip": float(np.mean(unmatched)) if unmatched else float("nan"),
            "num_events": n_true}


def timing_by_group(groups: list[str], onsets: list, events: list, *, tolerance: float = ONSET_TOLERANCE,
                    durations: list | None = None) -> dict:
    """:func:`onset_timing` per split group (same order as :func:`timbre_by_group`)."""
    order = [g for g in SPLIT_GROUPS if g in groups] + sorted(set(groups) - set(SPLIT_GROUPS))
    pick = lambda items, g: [v for v, x in zip(items, groups) if x == g]  # noqa: E731
    return {g: onset_timing(pick(onsets, g), pick(events, g), tolerance=tolerance,
                            durations=None if durations is None else pick(durations, g)) for g in order}


def group_table(report: dict, key: str = "timbre_by_split") -> str:
    """The report's per-group figures (``key``: ``timbre_by_split``, or ``ceiling_by_split`` for the clips' own
    tracks) as a markdown table, groups side by side."""
    groups = report.get(key) or {}
    if not groups:
        return ""
    names = list(groups)
    keys = [k for k in groups[names[0]]]
    lines = ["| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for k in keys:
        cells = [f"{groups[g][k]:.3f}" if isinstance(groups[g][k], float) else str(groups[g][k]) for g in names]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _sfx_embedder(device):
    """(the aiSFX judge, None) or (None, why it is skipped) when its package is not installed."""
    from ..errors import WeightsNotFoundError
    from ..metrics.sfx_embedding import SFXEmbedder

    try:
        return SFXEmbedder(device=device), None
    except WeightsNotFoundError:
        return None, "aiSFX judge skipped: the aisfx package is not installed (pip install --no-deps aisfx==0.1.2)"


COMPARE_COLUMNS = ("onset_recall", "onset_error_median_ms", "extra_onsets_per_clip", "timbre_retrieval_cepstral",
                   "timbre_retrieval_aisfx", "timbre_retrieval_resemblyzer", "retrieval_chance", "mcd")


def compare_table(reports: list[dict]) -> str:
    """Several checkpoints' reports on the same test folders as one markdown table: a row per checkpoint and split
    group (timing, timbre retrieval per judge and its chance, MCD), and the checkpoint's generation seconds per
    10 s of audio."""
    entries = [e for r in reports for e in (r.get("timbre_by_split") or {}).values()]
    cols = [c for c in COMPARE_COLUMNS if any(c in e for e in entries)]
    lines = ["| checkpoint (head) | group | " + " | ".join(cols) + " | seconds_per_10s |",
             "| --- | --- |" + " --- |" * (len(cols) + 1)]
    for r in reports:
        prof = r.get("profile", {})
        ck = str(prof.get("checkpoint"))
        if os.path.isabs(ck) and ck.startswith(os.getcwd() + os.sep):  # shorter: relative to where it ran
            ck = os.path.relpath(ck)
        name = f"{ck} ({prof.get('head')})"
        speed = r.get("seconds_per_10s")
        for g, e in (r.get("timbre_by_split") or {}).items():
            cells = [f"{e[c]:.3f}" if isinstance(e.get(c), float) else str(e.get(c, "")) for c in cols]
            lines.append(f"| {name} | {g} | " + " | ".join(cells) + " | " +
                         (f"{speed:.2f}" if isinstance(speed, float) else "-") + " |")
    return "\n".join(lines) + "\n"


class V2SHead:
    """The generator under test, either head, read from its folder's ``config.json``: VarietySound (video +
    reference; the bundled default when ``checkpoint`` is None) or a SpecVQGAN pipeline folder (video, and the
    reference only when its transformer was trained with one: ``condition_on_reference``)."""

    def __init__(self, checkpoint: str | None, *, device, vocoder: str | None, ablate: str | None):
        from ..checkpoints import read_config

        cls = read_config(checkpoint).get("class") if checkpoint is not None else None
        if cls == "SpecVQGANPipeline":
            from ..pipelines.specvqgan import SpecVQGANPipeline

            if ablate is not None:
                raise AvgenError(f"ablate: for VarietySound checkpoints only ({checkpoint} is a SpecVQGAN folder)")
            self.pipe = SpecVQGANPipeline.from_pretrained(checkpoint, vocoder=vocoder, device=device)
            self.kind = "specvqgan" + ("-reference" if self.pipe.conditioned else "")
        else:
            self.pipe = VideoToSoundPipeline.from_pretrained(checkpoint, device=device, vocoder=vocoder)
            if ablate is not None:
                self.pipe.generator.ablate_at_inference(ablate, "zeros")
            self.kind = "varietysound"

    @property
    def takes_reference(self) -> bool:
        return self.kind != "specvqgan"

    @property
    def vocoder_name(self) -> str:
        return self.pipe.vocoder.name

    def generate(self, video: str, reference: str, seed: int) -> np.ndarray:
        """The track for ``video`` ``[N]`` at the pipeline's output rate."""
        if self.kind == "varietysound":
            return self.pipe(video, reference, seed=seed).waveform[0].numpy()
        return self.pipe(video, seed=seed, reference=reference if self.takes_reference else None).waveform[0].numpy()

    def vocode_track(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """A track's own mel (the pipeline's preset) through the head's vocoder, at ``sample_rate``: what a perfect
        mel would give."""
        import torch

        from ..audio import get_preset, mel_spectrogram, resample

        preset = get_preset(self.pipe.mel_preset)
        n = round(len(wav) * preset.sample_rate / sample_rate)
        if self.kind == "varietysound":
            out = self.pipe.vocode(self.pipe.reference_mel(wav, sample_rate=sample_rate), n)[0].numpy()
        else:
            mel = mel_spectrogram(torch.from_numpy(np.asarray(wav, np.float32)), preset, sample_rate=sample_rate)
            out = self.pipe.vocoder(mel[None].to(self.pipe.device)).float().cpu()[0, :n].numpy()
            out = np.pad(out, (0, n - len(out)))
        return resample(out[None], preset.sample_rate, sample_rate)[0] if preset.sample_rate != sample_rate else out


def _read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def _add_group_keys(values: dict) -> None:
    """The headline per-group figures of ``values["timbre_by_split"]`` as flat keys too (``<figure>_<group>``, for
    the summary line and tables)."""
    for g, entry in values["timbre_by_split"].items():
        for k in ("timbre_retrieval_cepstral", "timbre_retrieval_resemblyzer", "timbre_similarity_resemblyzer",
                  "timbre_retrieval_aisfx", "onset_error_median_ms", "onset_recall", "extra_onsets_per_clip"):
            if k in entry:
                values[f"{k}_{g}"] = entry[k]


def evaluate_v2s(test_dir: str | list[str], *, checkpoint: str | None = None, output_dir: str,
                 ablate: str | None = None, device=None, seed: int = 0, limit: int | None = None,
                 progress: bool = True, train_manifest: str | None = None, vocoder: str | None = None,
                 timing_only: bool = False) -> dict:
    """Generate every clip of ``test_dir/manifest.jsonl`` into ``output_dir`` (existing outputs are reused:
    resumable) and score them. Several test folders (e.g. ``test``, ``test_unseen_recording``,
    ``test_unseen_category``) are scored together, their groups side by side; ``limit`` applies to each.
    ``ablate="timbre"|"temporal"|"background"`` zeroes that encoder's output at inference (the checkpoint is
    unchanged). ``train_manifest``: the manifest the checkpoint was trained on, to label rows without a ``split``
    field as seen / unseen (see :func:`split_groups`). ``vocoder``: as for the pipeline (default: its default).
    Timbre judges: Resemblyzer, the cepstral envelope and, when the ``aisfx`` package is installed, the aiSFX
    sound-effects embedding (:class:`~avgen.metrics.sfx_embedding.SFXEmbedder`). ``timing_only``: the timing
    figures alone, without the timbre judges and MCD (a quick check of an ablation; the outputs are the same)."""
    from tqdm.auto import tqdm

    if ablate is not None and ablate not in ENCODERS:
        raise AvgenError(f"ablate must be timbre, temporal or background, got '{ablate}'")
    test_dirs = [test_dir] if isinstance(test_dir, (str, os.PathLike)) else list(test_dir)
    rows, folders = [], []
    for folder in test_dirs:
        manifest = os.path.join(folder, "manifest.jsonl")
        if not os.path.exists(manifest):
            raise AvgenError(f"{folder}: no manifest.jsonl (build the benchmark with tools/make_foley.py)")
        part = _read_jsonl(manifest)[:limit]
        if any("reference" not in r for r in part):
            raise AvgenError(f"{manifest}: rows without a 'reference' (not a test split)")
        rows += part
        folders += [folder] * len(part)
    if len({r["id"] for r in rows}) != len(rows):
        raise AvgenError("clip ids repeat across the test folders (their outputs would overwrite each other)")
    if train_manifest is not None and not os.path.isfile(train_manifest):
        raise AvgenError(f"{train_manifest}: train manifest not found")
    groups = split_groups(rows, _read_jsonl(train_manifest) if train_manifest else None)
    head = V2SHead(checkpoint, device=device, vocoder=vocoder, ablate=ablate)
    os.makedirs(output_dir, exist_ok=True)
    sr = 22050
    gen, truth, refs = [], [], []
    gen_seconds, gen_audio, gen_clips = 0.0, 0.0, 0  # wall time, audio length, count of the clips generated here
    for r, folder in zip(tqdm(rows, desc="v2s benchmark", disable=not progress, leave=False), folders):
        video = os.path.join(folder, r["id"] + ".mp4")
        ref = os.path.join(folder, r["reference"])
        out = os.path.join(output_dir, r["id"] + ".wav")
        if not os.path.exists(out):
            start = time.perf_counter()
            wav = head.generate(video, ref, seed)
            gen_seconds += time.perf_counter() - start
            gen_audio, gen_clips = gen_audio + len(wav) / sr, gen_clips + 1
            write_audio(out, wav[None], sr)
        gen.append(read_audio(out, sample_rate=sr)[0][0])
        truth.append(read_audio(video, sample_rate=sr)[0][0])
        refs.append(read_audio(ref, sample_rate=sr)[0][0])
    # timing: nearest-onset error, one-to-one recall within +-50 ms, unmatched (extra) onsets
    # (onsets in the noise floor, under ONSET_GATE_DB above it, are not sounds; see gate_onsets)
    onsets = [audio_onsets(g, sr, gate_db=ONSET_GATE_DB) for g in gen]
    events = [r["events"] for r in rows]
    durations = [r.get("durations") for r in rows]
    timing = onset_timing(onsets, events, durations=durations)
    timing_groups = timing_by_group(groups, onsets, events, durations=durations)
    # the ceiling: the same timing figures for each clip's own recorded track
    truth_onsets = [audio_onsets(t, sr, gate_db=ONSET_GATE_DB) for t in truth]
    truth_timing = timing_by_group(groups, truth_onsets, events, durations=durations)
    # per group, the timing figures that join its table entry (outputs, and the ceiling)
    group_timing = {g: {k: v for k, v in t.items() if k != "num_events"} for g, t in timing_groups.items()}
    ceiling_timing = {g: {k: v for k, v in t.items() if k != "num_events"} for g, t in truth_timing.items()}
    timing_keys = ("onset_error_median_ms", "onset_within_one_frame", "onset_recall", "extra_onsets_per_clip",
                   "unmatched_onsets_per_clip")
    speed = {"seconds_per_10s": 10 * gen_seconds / gen_audio if gen_audio else None}
    profile = {"checkpoint": checkpoint or "bundled default", "head": head.kind, "ablate": ablate,
               "vocoder": head.vocoder_name, "num_clips": len(rows),
               "seconds_per_10s": f"generation wall time per 10 s of audio over the {gen_clips} clip(s) "
                                  "generated in this run (reused outputs are not timed; None when all were reused)"
               if gen_audio else "not measured: every output was reused",
               "num_events": timing["num_events"], "distinct_recordings": len({_recording(r) for r in rows}),
               "seed": seed,
               "onsets": f"spectral flux peaks, gated {ONSET_GATE_DB:g} dB above the track's noise floor "
                         "(see docs/metrics.md)",
               "extra_onsets": "unmatched onsets outside every event's sound (start - tolerance to start + "
                               "duration + tolerance; rows without 'durations': every unmatched onset)",
               "onset_matching": f"one-to-one within +-{ONSET_TOLERANCE * 1000:.0f} ms (metrics.audio.onset_f1)",
               "split_groups": "manifest 'split' field" if any(r.get("split") for r in rows) else
               (f"derived from {train_manifest}" if train_manifest else "none (rows carry no 'split' field)"),
               "ceiling_by_split": "the clips' own recorded tracks in place of the outputs, scored the same way"}
    if timing_only:
        values = {**{k: timing[k] for k in timing_keys}, **speed, "timbre_by_split": group_timing,
                  "ceiling_by_split": ceiling_timing, "warnings": []}
        _add_group_keys(values)
        profile["timing_only"] = "timbre judges and MCD skipped"
        return make_report("v2s_benchmark", values, profile,
                           test_dir=test_dirs[0] if len(test_dirs) == 1 else test_dirs, output_dir=output_dir)
    # timbre
    emb = TimbreEmbedder(device=device, trim_silence=False)
    g_res = np.stack([emb.embed(w, sr) for w in gen])
    r_res = np.stack([emb.embed(w, sr) for w in refs])
    g_cep = np.stack([cepstral_envelope(w, sr) for w in gen])
    r_cep = np.stack([cepstral_envelope(w, sr) for w in refs])
    judges = {"resemblyzer": (g_res, r_res), "cepstral": (g_cep, r_cep)}
    sfx, sfx_note = _sfx_embedder(device)
    if sfx is not None:
        judges["aisfx"] = (np.stack([sfx.embed(w, sr) for w in gen]), np.stack([sfx.embed(w, sr) for w in refs]))
    labels = [_recording(r) for r in rows]
    mcds = [mcd(g, t, sr) for g, t in zip(gen, truth)]
    n_refs = len(set(labels))
    by_group, warnings = timbre_by_group(groups, labels, judges, [r["reference"] for r in rows])
    # ... and the timbre judges' retrieval of the reference's recording from the clip's own track (which sounds a
    # different excerpt, or the same with other processing): what a perfect timbre transfer would score
    truth_judges = {"resemblyzer": (np.stack([emb.embed(w, sr) for w in truth]), r_res),
                    "cepstral": (np.stack([cepstral_envelope(w, sr) for w in truth]), r_cep)}
    if sfx is not None:
        truth_judges["aisfx"] = (np.stack([sfx.embed(w, sr) for w in truth]), judges["aisfx"][1])
    ceiling, _ = timbre_by_group(groups, labels, truth_judges, [r["reference"] for r in rows])
    # ... and from the own tracks' mels through the vocoder: what a perfect mel would score after vocoding
    vocoded = [head.vocode_track(t, sr) for t in truth]
    vocoded_judges = {"resemblyzer": (np.stack([emb.embed(w, sr) for w in vocoded]), r_res),
                      "cepstral": (np.stack([cepstral_envelope(w, sr) for w in vocoded]), r_cep)}
    if sfx is not None:
        vocoded_judges["aisfx"] = (np.stack([sfx.embed(w, sr) for w in vocoded]), judges["aisfx"][1])
    vocoded_ceiling, _ = timbre_by_group(groups, labels, vocoded_judges, [r["reference"] for r in rows])
    for g, entry in ceiling.items():
        entry.update(ceiling_timing[g])
    if sfx_note:
        warnings.append(sfx_note)
    values = {
        **{k: timing[k] for k in timing_keys},
        "timbre_retrieval_resemblyzer": retrieval_accuracy(g_res, r_res, labels),
        "timbre_retrieval_cepstral": retrieval_accuracy(g_cep, r_cep, labels),
        "retrieval_chance": 1.0 / n_refs,
        "timbre_similarity_resemblyzer": float(cosine_similarity(g_res, r_res).mean()),
        **({"timbre_retrieval_aisfx": retrieval_accuracy(*judges["aisfx"], labels),
            "timbre_similarity_aisfx": float(cosine_similarity(*judges["aisfx"]).mean())} if "aisfx" in judges else {}),
        **speed,
        "mcd": float(np.mean(mcds)),
        "mcd_dtw": float(np.mean([mcd(g, t, sr, dtw=True) for g, t in zip(gen, truth)])),
        "timbre_by_split": by_group,
        "ceiling_by_split": ceiling,
        "vocoded_ceiling_by_split": vocoded_ceiling,
        "warnings": warnings,
    }
    # timing figures join each group's entry; the headline per-group figures as flat keys too (summary, tables)
    for g, entry in by_group.items():
        entry.update(group_timing[g])
        entry["mcd"] = float(np.mean([m for m, x in zip(mcds, groups) if x == g]))
    _add_group_keys(values)
    profile.update({"timbre": emb.profile(),
                    "aisfx": "aiSFX embedding, peak-normalised clips (docs/sfx_embedding.md)" if sfx else sfx_note,
                    "cepstral_envelope": "mean c1..c24 over frames above the median frame energy",
                    "group_retrieval": "gallery = the group's own references"})
    return make_report("v2s_benchmark", values, profile,
                       test_dir=test_dirs[0] if len(test_dirs) == 1 else test_dirs, output_dir=output_dir)
