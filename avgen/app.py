"""``avgen app``: a local Gradio web app over the generation facade (:mod:`avgen.generate`).

Three tabs: video -> sound (a video and a timbre reference, checkpoint, vocoder, seed; shows the muxed result and its
mel), sound -> video (an audio file, a text prompt, style mixing; shows the video) and editing (a text-constrained
edit of the last sound -> video result or of an uploaded image/video). The callbacks (:func:`run_v2s`,
:func:`run_s2v`, :func:`run_edit`) are plain functions that take file paths and return file paths, so they are
tested without a browser; :func:`build_app` only lays out the UI and turns :class:`~avgen.errors.AvgenError` into
``gr.Error`` with the same one-line message as the CLI. Everything runs offline on the bundled defaults: Gradio's
analytics are off, the theme uses system fonts (no font download), the server binds 127.0.0.1 and ``share`` is off
unless asked for. Gradio is an optional extra: ``pip install 'avgen[app]'``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .cli_checks import check_checkpoint_folder, check_number, check_seed
from .errors import AvgenError

__all__ = ["APP_INSTALL_HINT", "run_v2s", "run_s2v", "run_edit", "build_app", "launch", "preload",
           "bundled_examples"]

APP_INSTALL_HINT = "pip install 'avgen[app]'"
MIX_LEVELS = ("coarse", "mid", "fine")
Progress = Callable[..., Any]


def _no_progress(*_args, **_kwargs) -> None:
    return None


ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def bundled_examples() -> dict[str, str]:
    """The bundled inputs the app offers (the ones ``avgen v2s`` and the README's ``avgen s2v`` use): the v2s
    example video and reference, the s2v example sound."""
    return {"video": os.path.join(ASSETS, "example_foley.mp4"),
            "reference": os.path.join(ASSETS, "example_reference.flac"),
            "s2v_audio": os.path.join(ASSETS, "s2v_default", "example_lake.wav")}


def _job_dir(output_dir: str | os.PathLike | None) -> str:
    """A fresh folder per job (two browser tabs never overwrite each other's files)."""
    root = os.fspath(output_dir) if output_dir is not None else tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix="job-", dir=root)


def _blank(value) -> str | None:
    """Empty text boxes and missing uploads are None (the default)."""
    if value is None:
        return None
    value = os.fspath(value).strip() if isinstance(value, (str, os.PathLike)) else value
    return value or None


def _seed(value, option: str = "seed") -> int:
    """Gradio numbers arrive as floats: a whole number in [0, 2**63) is required, as on the CLI."""
    import math

    if value is None:
        return 0
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise AvgenError(f"{option} {value}: must be a whole number")
    check_seed(int(value), option)  # the CLI's range and wording
    return int(value)


def _need(path: str | None, stream: str, what: str) -> str:
    """An uploaded file with the stream the job needs (headers only, before any model loads)."""
    from .media import probe

    if path is None:
        raise AvgenError(f"give {what}")
    info = probe(path)
    if not (info.has_video if stream == "video" else info.has_audio):
        raise AvgenError(f"{path}: no {stream} stream")
    return path


def _save_mel_png(mel, path: str) -> str:
    """``mel [80, T]`` in [0, 1] as a PNG, three pixels per band so it reads at a glance."""
    import io

    from PIL import Image

    from .train.samples import mel_picture
    from .utils import atomic_write_bytes

    pic = Image.fromarray(mel_picture(mel))
    pic = pic.resize((pic.width * 2, pic.height * 3), Image.NEAREST)
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path


_V2S_PIPELINES: dict = {}
_V2S_LOCK = threading.Lock()  # a click during the start-up preload waits for that load instead of loading twice


def _v2s_pipeline(checkpoint: str | None, vocoder: str | None, device: str | None):
    """The video -> sound pipeline for these settings, loaded once per app."""
    from .pipelines.video_to_sound import VideoToSoundPipeline
    from .vocoders import DEFAULT_VOCODER

    key = (checkpoint, vocoder or DEFAULT_VOCODER, str(device))
    with _V2S_LOCK:
        if key not in _V2S_PIPELINES:
            _V2S_PIPELINES[key] = VideoToSoundPipeline.from_pretrained(checkpoint, device=device, vocoder=key[1])
        return _V2S_PIPELINES[key]


def preload(*, device: str | None = None) -> threading.Thread:
    """Load the bundled video -> sound default in a background thread (the first click then only generates). A
    failure is one line on stderr; the click that needs the pipeline reports it again."""
    def load() -> None:
        try:
            _v2s_pipeline(None, None, device)
        except Exception as e:  # noqa: BLE001 - reported, and raised again by the job that needs it
            print(f"avgen app: preloading the bundled video -> sound model failed: {e}", file=sys.stderr)

    t = threading.Thread(target=load, name="avgen-app-preload", daemon=True)
    t.start()
    return t


def _check_v2s_head(checkpoint: str | None) -> None:
    """This tab runs VarietySound folders only: a folder of another head (read from its config.json, before any model
    loads) is one line saying what the tab runs and which command runs that folder. A SpecVQGAN folder needs what the
    tab has no field for (the ResNet-50 weight file for raw video, or .npy features) and takes no reference unless it
    declares a conditioning clip, so ``avgen v2s`` runs it."""
    from .checkpoints import CONFIG_NAME, read_config

    if checkpoint is None or not os.path.isfile(os.path.join(checkpoint, CONFIG_NAME)):
        return  # the bundled default, or a folder the pipeline's own loader refuses by name
    cfg = read_config(checkpoint)
    head = cfg.get("class")
    if head == "SpecVQGANPipeline":
        raise AvgenError(f"checkpoint {checkpoint}: a SpecVQGAN folder; this tab runs VarietySound folders "
                         f"(VideoToSoundPipeline) only: run it with avgen v2s VIDEO --checkpoint {checkpoint} "
                         f"--visual-weights RESNET50.pth (or .npy features), see docs/specvqgan.md")
    if head == "FeatureToMelPipeline" or cfg.get("task") == "feature2mel":
        raise AvgenError(f"checkpoint {checkpoint}: a feature2mel folder; this tab runs VarietySound folders "
                         f"(VideoToSoundPipeline) only: run it with avgen feature2mel")


def run_v2s(video: str | None, reference: str | None, *, checkpoint: str | None = None,
            vocoder: str | None = None, seed: float | int | None = 0, gain_db: float | None = None,
            device: str | None = None, output_dir: str | os.PathLike | None = None,
            progress: Progress = _no_progress) -> tuple[str, str]:
    """Video -> sound: ``(result.mp4, mel.png)``. The mp4 is the input video with the generated track (its video
    stream copied; re-encoded as H.264 when the mp4 container cannot hold it). Bad inputs raise
    :class:`AvgenError` with the CLI's message, before any model loads."""
    from .errors import MediaError
    from .media import check_stream_copy, read_video, write_video

    video, reference = _blank(video), _blank(reference)
    checkpoint, vocoder = _blank(checkpoint), _blank(vocoder)
    _need(video, "video", "a video (upload one or pick the bundled example)")
    _need(reference, "audio", "a reference recording (upload or record one, or pick the bundled example)")
    check_checkpoint_folder(checkpoint, "checkpoint")
    _check_v2s_head(checkpoint)
    check_number(gain_db, "gain")
    seed = _seed(seed)
    out = _job_dir(output_dir)
    progress(0.05, desc="loading the model and decoding the inputs")
    result = _v2s_pipeline(checkpoint, vocoder, device)(video, reference, seed=seed, gain_db=gain_db)
    progress(0.9, desc="writing the result")
    mp4 = os.path.join(out, "v2s.mp4")
    try:
        check_stream_copy(video, mp4)
        result.save(mp4)
    except MediaError:  # e.g. a rawvideo upload: re-encode the frames instead of copying the stream
        frames, fps = read_video(video)
        write_video(mp4, frames, fps, result.waveform.numpy(), result.sample_rate)
    mel = _save_mel_png(result.mel, os.path.join(out, "mel.png"))
    progress(1.0, desc="done")
    return mp4, mel


def _levels(levels: Sequence[str] | str | None) -> tuple[str, ...]:
    if isinstance(levels, str):
        levels = [x.strip() for x in levels.split(",")]
    chosen = tuple(x for x in (levels or ()) if x)
    bad = [x for x in chosen if x not in MIX_LEVELS]
    if bad:
        raise AvgenError(f"mix levels {','.join(bad)}: choose from {', '.join(MIX_LEVELS)}")
    return chosen


def run_s2v(audio: str | None, *, text: str | None = None, seed: float | int | None = 0,
            mix_seed: float | int | None = None, mix_levels: Sequence[str] | str | None = ("fine",),
            checkpoint: str | None = None, device: str | None = None,
            output_dir: str | os.PathLike | None = None, progress: Progress = _no_progress):
    """Sound -> video: ``(result.mp4, the S2VResult)`` (the result feeds the editing tab). ``mix_seed`` None: no
    style mixing; else the ``mix_levels`` W+ groups come from that seed's latent."""
    from .generate import sound_to_video

    audio, checkpoint, text = _blank(audio), _blank(checkpoint), _blank(text)
    _need(audio, "audio", "a sound (upload or record one, or pick the bundled example)")
    check_checkpoint_folder(checkpoint, "checkpoint")
    seed = _seed(seed)
    mix = None if mix_seed is None else _seed(mix_seed, "mix seed")
    levels = _levels(mix_levels)
    if mix is not None and not levels:
        raise AvgenError("style mixing: choose at least one of coarse, mid, fine")
    out = _job_dir(output_dir)
    progress(0.05, desc="loading the model")
    res = sound_to_video(audio, checkpoint=checkpoint, text=text, seed=seed, mix_seed=mix,
                         mix_levels=levels or ("fine",), device=device)
    progress(0.9, desc="writing the video")
    mp4 = res.save(os.path.join(out, "s2v.mp4"))
    progress(1.0, desc="done")
    return mp4, res


def run_edit(source: str | None, *, last_result=None, text: str | None, steps: float | int = 30,
             strength: float = 1.0, levels: Sequence[str] | str | None = MIX_LEVELS, seed: float | int | None = 0,
             invert_steps: float | int = 100, max_frames: int = 16, checkpoint: str | None = None,
             device: str | None = None, output_dir: str | os.PathLike | None = None,
             progress: Progress = _no_progress) -> tuple[str, str]:
    """Text-constrained edit in W+: ``(edited.mp4, a one-line CLIP summary)``. ``source``: an uploaded image or video
    (inverted first with ``invert_steps`` projector steps for the first frame: slow); None edits ``last_result``
    (the sound -> video tab's result: its own W+ trajectory)."""
    from .generate import edit_video
    from .media import IMAGE_EXTENSIONS

    source, checkpoint, text = _blank(source), _blank(checkpoint), _blank(text)
    if text is None:
        raise AvgenError("give an edit prompt")
    if source is None and last_result is None:
        raise AvgenError("upload an image or video to edit, or first make a video in the sound -> video tab")
    if source is not None:
        if not os.path.isfile(source):
            raise AvgenError(f"{source}: no such file")
        if not source.lower().endswith(IMAGE_EXTENSIONS):
            _need(source, "video", "an image or video")
    check_checkpoint_folder(checkpoint, "checkpoint")
    check_number(strength, "strength")
    for what, value in (("steps", steps), ("inversion steps", invert_steps)):
        if value is None or int(value) < 1:
            raise AvgenError(f"{what} {value}: must be at least 1")
    chosen = _levels(levels)
    if not chosen:
        raise AvgenError("choose at least one of coarse, mid, fine for the edit")
    seed = _seed(seed)
    out = _job_dir(output_dir)
    progress(0.05, desc="loading the model" + (" and inverting the source" if source else ""))
    res = edit_video(source if source is not None else last_result, text=text, checkpoint=checkpoint,
                     levels=chosen, steps=int(steps), strength=float(strength), invert_steps=int(invert_steps),
                     max_frames=max_frames, seed=seed, progress=True, device=device)
    progress(0.9, desc="writing the video")
    mp4 = res.save(os.path.join(out, "edit.mp4"))
    summary = (f"CLIP similarity to '{text}': {float(res.clip_before.mean()):.3f} before, "
               f"{float(res.clip_after.mean()):.3f} after ({len(res.frames)} frames)")
    return mp4, summary


# -- the UI --------------------------------------------------------------------------------------------------------


def _import_gradio():
    """Gradio, with its analytics off (set before the import: Gradio reads it then)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio as gr
    except ImportError:
        raise AvgenError(f"the app needs Gradio, which is not installed: {APP_INSTALL_HINT}") from None
    return gr


def _theme(gr):
    """The default look with system fonts: the stock theme would fetch its fonts from Google."""
    system = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "Consolas", "monospace"])


def build_app(*, device: str | None = None, output_dir: str | os.PathLike | None = None):
    """The Gradio Blocks (not launched). ``output_dir``: where each job writes its files (default: a temporary
    folder)."""
    gr = _import_gradio()
    from .vocoders import DEFAULT_VOCODER, VOCODERS

    ex = bundled_examples()
    out_root = os.fspath(output_dir) if output_dir is not None else tempfile.mkdtemp(prefix="avgen-app-")

    def guarded(fn, *args, **kwargs):
        try:
            return fn(*args, device=device, output_dir=out_root, **kwargs)
        except AvgenError as e:  # the CLI's one-line message, shown in the page
            raise gr.Error(str(e)) from None

    def v2s(video, reference, checkpoint, vocoder, seed, progress=gr.Progress(track_tqdm=True)):
        return guarded(run_v2s, video, reference, checkpoint=checkpoint, vocoder=vocoder, seed=seed,
                       progress=progress)

    def s2v(audio, text, seed, mix, mix_seed, mix_levels, checkpoint, progress=gr.Progress(track_tqdm=True)):
        mp4, res = guarded(run_s2v, audio, text=text, seed=seed, mix_seed=mix_seed if mix else None,
                           mix_levels=mix_levels, checkpoint=checkpoint, progress=progress)
        return mp4, res

    def edit(source, last, text, steps, strength, levels, invert_steps, seed, checkpoint,
             progress=gr.Progress(track_tqdm=True)):
        return guarded(run_edit, source, last_result=last, text=text, steps=steps, strength=strength,
                       levels=levels, invert_steps=invert_steps, seed=seed, checkpoint=checkpoint, progress=progress)

    with gr.Blocks(title="avgen", analytics_enabled=False) as demo:
        gr.Markdown("# avgen\nVideo → sound with timbre control, sound → video, and text editing, on the bundled "
                    "small defaults (see the README for what they can and cannot do).")
        last = gr.State(None)
        with gr.Tab("Video → sound", id="v2s"):
            with gr.Row():
                with gr.Column():
                    v_video = gr.Video(value=ex["video"], label="input video", sources=["upload"], height=320)
                    v_ref = gr.Audio(value=ex["reference"], label="timbre reference", type="filepath",
                                     sources=["upload", "microphone"])
                    v_bundled = gr.Button("use the bundled example", size="sm")
                    v_ckpt = gr.Textbox(label="checkpoint folder (empty: the bundled VarietySound)", value="")
                    v_vocoder = gr.Dropdown(choices=list(VOCODERS), value=DEFAULT_VOCODER, allow_custom_value=True,
                                            label="vocoder (a name, or a trained vocoder folder)")
                    v_seed = gr.Number(value=0, precision=0, label="seed")
                    v_run = gr.Button("Generate sound", variant="primary", elem_id="v2s-run")
                with gr.Column():
                    v_out = gr.Video(label="result (video with the generated sound)", elem_id="v2s-result",
                                     height=320, interactive=False)
                    v_mel = gr.Image(label="mel spectrogram of the generated sound", type="filepath",
                                     interactive=False, elem_id="v2s-mel")
            v_bundled.click(lambda: (ex["video"], ex["reference"]), outputs=[v_video, v_ref])
            v_run.click(v2s, inputs=[v_video, v_ref, v_ckpt, v_vocoder, v_seed], outputs=[v_out, v_mel])
        with gr.Tab("Sound → video", id="s2v"):
            with gr.Row():
                with gr.Column():
                    s_audio = gr.Audio(value=ex["s2v_audio"], label="sound", type="filepath",
                                       sources=["upload", "microphone"])
                    s_text = gr.Textbox(label="text prompt (optional: start near it in CLIP space)", value="")
                    s_seed = gr.Number(value=0, precision=0, label="seed")
                    s_mix = gr.Checkbox(value=False, label="style mixing")
                    s_mix_seed = gr.Number(value=1, precision=0, label="mix seed")
                    s_levels = gr.CheckboxGroup(choices=list(MIX_LEVELS), value=["fine"], label="mixed levels")
                    s_ckpt = gr.Textbox(label="checkpoint folder (empty: the bundled nature-scenes model)", value="")
                    s_run = gr.Button("Generate video", variant="primary", elem_id="s2v-run")
                with gr.Column():
                    s_out = gr.Video(label="result (with the input sound)", elem_id="s2v-result", interactive=False)
            s_run.click(s2v, inputs=[s_audio, s_text, s_seed, s_mix, s_mix_seed, s_levels, s_ckpt],
                        outputs=[s_out, last])
        with gr.Tab("Editing", id="edit"):
            with gr.Row():
                with gr.Column():
                    e_src = gr.File(label="image or video to edit (empty: the last sound → video result)",
                                    type="filepath")
                    e_text = gr.Textbox(label="edit prompt", value="a lake at sunset")
                    e_steps = gr.Slider(1, 200, value=30, step=1, label="edit steps")
                    e_strength = gr.Slider(0, 2, value=1.0, step=0.05, label="strength")
                    e_levels = gr.CheckboxGroup(choices=list(MIX_LEVELS), value=list(MIX_LEVELS),
                                                label="W+ levels the edit may change")
                    e_invert = gr.Slider(1, 300, value=100, step=1,
                                         label="inversion steps (uploads: projector steps for the first frame)")
                    e_seed = gr.Number(value=0, precision=0, label="seed")
                    e_ckpt = gr.Textbox(label="checkpoint folder (empty: the bundled nature-scenes model)", value="")
                    e_run = gr.Button("Edit", variant="primary", elem_id="edit-run")
                with gr.Column():
                    e_out = gr.Video(label="edited video", elem_id="edit-result", interactive=False)
                    e_info = gr.Textbox(label="CLIP similarity", interactive=False)
            e_run.click(edit, inputs=[e_src, last, e_text, e_steps, e_strength, e_levels, e_invert, e_seed, e_ckpt],
                        outputs=[e_out, e_info])
    demo.avgen_output_dir = out_root
    return demo


def launch(*, port: int = 7860, share: bool = False, device: str | None = None,
           output_dir: str | os.PathLike | None = None, block: bool = True, preload_model: bool = True):
    """Serve the app on 127.0.0.1:``port`` (``share``: also a public Gradio link). ``block=False`` returns
    ``(app, local_url, share_url)`` with the server running in a thread. ``preload_model``: load the bundled video
    -> sound default while the server starts."""
    gr = _import_gradio()
    demo = build_app(device=device, output_dir=output_dir)
    if preload_model:
        preload(device=device)
    assets = os.path.dirname(bundled_examples()["video"])
    demo.queue(default_concurrency_limit=1)  # one generation at a time: the models are shared
    return demo.launch(server_name="127.0.0.1", server_port=port, share=share, inbrowser=False, ssr_mode=False,
                       allowed_paths=[demo.avgen_output_dir, assets], theme=_theme(gr), prevent_thread_lock=not block,
                       quiet=False, show_error=True)
