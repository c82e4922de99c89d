"""Sound-to-video training on real clips with tiny test-built parts (StyleGAN, open_clip teacher, audio encoder, all
random): the held-out CLIP similarities are logged from step 0, and audio<->video rises above its start and above
the linear-interpolation baseline."""

import json
import os

import pytest
import torch

from tests.conftest import sample_ids

TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def s2v_parts(shared_samples, tmp_path_factory):
    import open_clip

    import stylegan
    from avgen.encoders.audio_clip import save_audio_encoder
    from avgen.models.s2v.sound_inversion import AudioCLIPEncoder
    from stylegan.networks_stylegan2 import Generator

    import numpy as np

    from avgen.media import read_audio

    root = tmp_path_factory.mktemp("s2v")
    ids = sample_ids(shared_samples)
    for split, chosen in (("train", ids[:8]), ("heldout", ids[8:])):
        for vid in chosen:  # Landscape layout: <class>/<clip>.mp4
            # A label the sound predicts: its spectral centroid below or above 1 kHz (5 / 7 of the 12 clips).
            wav, sr = read_audio(os.path.join(shared_samples, "video", vid + ".mp4"), sample_rate=16000)
            power = np.abs(np.fft.rfft(np.asarray(wav).reshape(-1))) ** 2
            centroid = float((power * np.fft.rfftfreq(2 * len(power) - 2, 1 / sr)[:len(power)]).sum() / power.sum())
            d = root / split / ("low_rumble" if centroid < 1000 else "high_hiss")
            d.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.join(shared_samples, "video", vid + ".mp4"), d / (vid + ".mp4"))
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=256, channel_max=32)
    stylegan.save_pretrained(G.eval(), root / "G")
    cfg_path = root / "avgen-tiny-clip-s2v.json"
    cfg_path.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(str(cfg_path))
    torch.save({"state_dict": open_clip.create_model("avgen-tiny-clip-s2v").state_dict()}, root / "clip.pt")
    save_audio_encoder(AudioCLIPEncoder(embed_dim=32, width=8, blocks=(1, 1, 1, 1)).eval(), str(root / "audio_enc"))
    return root


def _config(parts, run_dir, max_steps):
    from avgen.train.config import load_config

    yaml = f"""
task: s2v
run_dir: {run_dir}
seed: 0
max_steps: {max_steps}
grad_clip: null
ema_decay: null
ckpt_every: 20
sample_every: 10
log_every: 5
data: {{kind: sound_video, path: {parts / 'train'}, resolution: 16, num_frames: 4, fps: 4.0, audio_window: 1.0, batch_size: 2}}
optim_g: {{lr: 0.002, betas: [0.5, 0.99]}}
optim_d: {{lr: 0.002, betas: [0.5, 0.99]}}
model: {{stylegan: {parts / 'G'}, clip_model: {parts / 'avgen-tiny-clip-s2v.json'}, clip_weights: {parts / 'clip.pt'},
        audio_encoder: {parts / 'audio_enc'}, group_bounds: [1, 3], encoder_width: 8, rnn_hidden: 32,
        image_d_channel_base: 256, image_d_channel_max: 32, video_d_channels: 8, video_d_layers: 2}}
loss: {{eval_path: {parts / 'heldout'}, eval_seeds: [0, 1], image_adv: 0.01, video_adv: 0.01}}
"""
    path = run_dir.parent / "s2v.yaml"
    path.write_text(yaml)
    return load_config(str(path))


@pytest.mark.slow
def test_s2v_training_raises_heldout_clip_similarity(s2v_parts, tmp_path):
    from avgen.train.engine import train

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    out = train(_config(s2v_parts, run_dir, 40), cpu=True)
    assert out["step"] == 40
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 10, 20, 30, 40]  # step 0: the untrained model
    assert {"metrics/clip_av", "metrics/clip_tv", "metrics/clip_av_interp", "metrics/clip_tv_interp"} <= set(rows[0])
    print([(r["step"], round(r["metrics/clip_av"], 3), round(r["metrics/clip_tv"], 3), round(r["metrics/clip_tv_interp"], 3), round(r["metrics/clip_av_interp"], 3)) for r in rows])
    first, last = rows[0], rows[-1]
    assert last["metrics/clip_av"] > first["metrics/clip_av"], rows
    assert last["metrics/clip_av"] > last["metrics/clip_av_interp"], rows
    # The labels follow the sound's spectral centroid, so the held-out clips' labels are predictable from sound.
    assert last["metrics/clip_tv"] > first["metrics/clip_tv"], rows
    assert last["metrics/clip_tv"] > last["metrics/clip_tv_interp"], rows
    cfg = json.loads((run_dir / "final" / "s2v" / "config.json").read_text())["config"]
    assert cfg["groups"] == {"coarse": [0], "mid": [1, 2], "fine": [3, 4, 5]}
    assert (run_dir / "final" / "s2v" / "model.safetensors").is_file()


@pytest.mark.slow
def test_sound_to_video_api_and_cli_on_a_real_clip(s2v_parts, tmp_path, shared_samples):
    """A short training run's export drives `sound_to_video` and `avgen s2v` on a real clip's audio; the mp4 has
    the requested frames and carries the input audio; a text prompt picks a start latent closer to it."""
    import subprocess
    import sys

    import numpy as np

    from avgen import media
    from avgen.generate import sound_to_video
    from avgen.train.engine import train
    from tests.conftest import REPO

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    train(_config(s2v_parts, run_dir, 2), cpu=True)
    ckpt = run_dir / "final"
    audio = os.path.join(shared_samples, "video", sample_ids(shared_samples)[-1] + ".mp4")
    res = sound_to_video(audio, checkpoint=ckpt, num_frames=10, fps=4.0, seed=3)
    assert res.frames.shape == (10, 16, 16, 3) and res.frames.dtype == np.uint8
    out = res.save(tmp_path / "s2v.mp4")
    frames, fps = media.read_video(out)
    wav, sr = media.read_audio(out)
    assert len(frames) == 10 and abs(fps - 4.0) < 1e-6
    assert abs(len(np.asarray(wav).reshape(-1)) / sr - 2.5) < 0.05 and np.abs(wav).max() > 0.01

    # Text-constrained start: the chosen latent's image is at least as close to the prompt as an unconstrained one.
    from avgen.pipelines.sound_to_video import SoundToVideoPipeline

    pipe = SoundToVideoPipeline.from_pretrained(ckpt, device="cpu")
    clip = pipe.clip()
    prompt = clip.encode_texts(["raining"])[0]
    sims = {}
    for mode in ("text", "plain"):
        vals = []
        for seed in range(4):
            w = pipe.start_latent(text="raining" if mode == "text" else None, generator=torch.Generator().manual_seed(seed),
                                  truncation_psi=0.7)
            vals.append(float(clip.encode_images(pipe.G.synthesis(w, noise_mode="const"))[0] @ prompt))
        sims[mode] = np.mean(vals)
    assert sims["text"] > sims["plain"], sims

    code = ("import sys, open_clip; open_clip.add_model_config(sys.argv[1]); from avgen.cli import main; "
            "sys.exit(main(sys.argv[2:]))")
    r = subprocess.run([sys.executable, "-c", code, str(s2v_parts / "avgen-tiny-clip-s2v.json"), "s2v", audio, "-o",
                        str(tmp_path / "cli.mp4"), "--checkpoint", str(ckpt), "--num-frames", "6", "--fps", "3",
                        "--text", "high hiss"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(media.read_video(tmp_path / "cli.mp4")[0]) == 6


@pytest.mark.slow
def test_audio_encoder_training_aligns_audio_with_frames(s2v_parts, tmp_path):
    """task s2v_audio: InfoNCE against the frozen CLIP teacher raises the matched-minus-mismatched audio/frame
    similarity above its step-0 value; the export is an audio-encoder folder that task s2v accepts."""
    from avgen.encoders.audio_clip import load_audio_encoder
    from avgen.train.config import load_config
    from avgen.train.engine import train
    from avgen.train.tasks.s2v_audio import augment_mels

    mels = torch.rand(3, 128, 40)
    aug = augment_mels(mels, torch.Generator().manual_seed(0))
    assert aug.shape == mels.shape and not torch.equal(aug, mels) and 0 <= float(aug.min()) <= float(aug.max()) <= 1

    run_dir = tmp_path / "run"
    yaml = f"""
task: s2v_audio
run_dir: {run_dir}
seed: 0
max_steps: 30
ema_decay: null
ckpt_every: 30
sample_every: 15
data: {{kind: sound_video, path: {s2v_parts / 'train'}, resolution: 16, num_frames: 4, fps: 4.0, batch_size: 4}}
optim_g: {{lr: 0.001, betas: [0.9, 0.99]}}
model: {{clip_model: {s2v_parts / 'avgen-tiny-clip-s2v.json'}, clip_weights: {s2v_parts / 'clip.pt'}, width: 8, blocks: [1, 1, 1, 1]}}
loss: {{eval_path: {s2v_parts / 'train'}}}
"""
    (tmp_path / "a.yaml").write_text(yaml)
    train(load_config(str(tmp_path / "a.yaml")), cpu=True)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    print([(r["step"], round(r["metrics/audio_frame_margin"], 4)) for r in rows])
    assert [r["step"] for r in rows] == [0, 15, 30]
    assert rows[-1]["metrics/audio_frame_margin"] > rows[0]["metrics/audio_frame_margin"], rows
    enc, cfg = load_audio_encoder(str(run_dir / "final"))
    assert enc(torch.rand(2, 128, 87)).shape == (2, 32) and cfg["teacher"]["weights"].endswith("clip.pt")


@pytest.mark.slow
def test_s2v_resumes_after_kill_in_a_two_process_accelerate_run(s2v_parts, tmp_path):
    """A single-process run killed hard after its first checkpoint resumes under `accelerate launch` with two
    processes (gloo on CPU); both replicas end with identical parameters."""
    import signal
    import subprocess
    import sys
    import time

    from safetensors.torch import load_file

    from avgen.train.checkpoint import latest_checkpoint, load_checkpoint
    from tests.conftest import REPO

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _config(s2v_parts, run_dir, 200)
    cfg = str(tmp_path / "s2v.yaml")
    fast = ["ckpt_every=6", "sample_every=1000", "loss.eval_path="]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    log = open(tmp_path / "first.log", "w")  # a file, not a pipe: a full pipe would stall the trainer
    proc = subprocess.Popen([sys.executable, "-m", "avgen.train", "--config", cfg, "--cpu", *fast], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 300
    while latest_checkpoint(str(run_dir)) is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    saved = latest_checkpoint(str(run_dir))
    assert saved is not None, (tmp_path / "first.log").read_text()[-2000:]
    assert not (run_dir / "final").exists()
    step = load_checkpoint(saved)["step"]

    prefix = str(tmp_path / "weights")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m",
           "tests.helpers.train_and_dump", cfg, prefix, *fast, f"max_steps={step + 4}"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in r.stdout + r.stderr and os.path.basename(saved) in r.stdout + r.stderr
    w0, w1 = load_file(prefix + "_rank0.safetensors"), load_file(prefix + "_rank1.safetensors")
    assert w0.keys() == w1.keys() and any(k.startswith("D.video.") for k in w0)
    # parameters stay identical; BatchNorm running statistics (E_a's trunk) are per process between forwards
    differ = [k for k in w0 if not torch.equal(w0[k], w1[k])]
    assert all(k.endswith(("running_mean", "running_var")) for k in differ), differ
    assert load_checkpoint(latest_checkpoint(str(run_dir)))["step"] == step + 4
    assert (run_dir / "final" / "s2v" / "model.safetensors").is_file()


def test_s2v_configs_validate():
    """The shipped s2v configs load; the s2v ones refuse to start without their frozen parts."""
    from avgen.errors import ConfigError
    from avgen.train.config import load_config
    from tests.conftest import REPO

    d = os.path.join(REPO, "configs", "s2v")
    for name in ("landscape_audio.yaml", "default_audio.yaml"):
        assert load_config(os.path.join(d, name)).task == "s2v_audio"
    for name in ("landscape.yaml", "default_s2v.yaml"):
        with pytest.raises(ConfigError, match="model.stylegan"):
            load_config(os.path.join(d, name))
        cfg = load_config(os.path.join(d, name), ["model.stylegan=G.pkl", "model.audio_encoder=enc"])
        assert cfg.task == "s2v" and cfg.data.kind == "sound_video"
    assert load_config(os.path.join(d, "default_stylegan.yaml")).data.resolution == 64
