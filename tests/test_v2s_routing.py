"""``avgen v2s --checkpoint FOLDER`` runs the head the folder's config.json names: a tiny random SpecVQGAN folder
(built as tests/pipelines/test_specvqgan_pipeline.py builds one) on precomputed features and on a tiny video (its
ResNet-50 replaced by a stand-in: the real one needs its 100 MB weight file), single and --manifest; the options that
do not fit the head exit 2 with one line before any model loads."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from avgen.cli import main
from avgen.media import probe, read_audio, write_audio, write_video
from avgen.models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer
from avgen.pipelines.specvqgan import SpecVQGANPipeline

# 80 x 96 mels -> 5 x 6 codes; 11 feature frames at 10 fps ~ one 1.11 s window
H, W, N_EMBED, FEAT_DIM, FPS = 5, 6, 16, 24, 10.0
CODEBOOK = dict(ch=32, ch_mult=(1, 1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(6,), resolution=96,
                z_channels=32, n_embed=N_EMBED, embed_dim=8)


def _folder(root, *, conditioned: bool = False, condition: str = "features") -> str:
    torch.manual_seed(0)
    gpt = dict(vocab_size=N_EMBED, block_size=(2 * H * W + 3) if conditioned else H * W + 5, n_layer=1, n_head=2,
               n_embd=16)
    t = SpecVQGANTransformer(**gpt, feat_dim=FEAT_DIM, feat_len=11, feat_crop_len=10, feat_sample_size=4,
                             code_shape=(H, W), condition_on_reference=conditioned, condition=condition,
                             num_classes=0 if condition == "features" else 3)
    pipe = SpecVQGANPipeline(SpecVQGANCodebook(**CODEBOOK), t, vocoder="griffin-lim", fps=FPS, backbone="resnet50",
                             device="cpu")
    name = "cond" if conditioned else ("plain" if condition == "features" else condition)
    return pipe.save_pretrained(os.path.join(root, name))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("routing")
    feats = np.random.default_rng(0).standard_normal((8, FEAT_DIM)).astype(np.float32)  # [T, D]: 0.8 s
    np.save(root / "f.npy", feats)
    np.save(root / "g.npy", feats[::-1].copy())
    frames = (np.arange(10, dtype=np.uint8)[:, None, None, None] * 20).repeat(16, 1).repeat(16, 2).repeat(3, 3)
    video = write_video(str(root / "v.mp4"), frames, 10.0)  # 1 s, 16x16
    t = np.arange(22050) / 22050
    write_audio(str(root / "ref.wav"), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], 22050)
    return {"root": root, "plain": _folder(str(root)), "cond": _folder(str(root), conditioned=True),
            "class": _folder(str(root), condition="class"), "features_class": _folder(str(root),
                                                                                      condition="features_class"),
            "npy": str(root / "f.npy"), "npy2": str(root / "g.npy"), "video": video, "ref": str(root / "ref.wav"),
            "feats": feats}


def _one_line_error(capsys, args) -> str:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_features_through_the_specvqgan_head(inputs, tmp_path, capsys):
    out = str(tmp_path / "o.wav")
    assert main(["v2s", inputs["npy"], "--checkpoint", inputs["plain"], "-o", out, "--seed", "3", "--quiet"]) == 0
    expected = SpecVQGANPipeline.from_pretrained(inputs["plain"], device="cpu")(inputs["feats"], seed=3)
    got, sr = read_audio(out)
    assert sr == expected.sample_rate and got.shape == tuple(expected.waveform.shape)
    assert np.abs(got - expected.waveform.numpy()).max() <= 2 / 32767  # the same sound, 16-bit rounded
    assert main(["v2s", inputs["npy"], "--checkpoint", inputs["plain"], "-o", str(tmp_path / "k.wav"), "--seed",
                 "3", "--top-k", "1", "--quiet"]) == 0  # greedy: a sampling option reaches the sampler
    assert read_audio(tmp_path / "k.wav")[0].shape == got.shape


def test_a_video_goes_through_the_folders_backbone(inputs, tmp_path, monkeypatch):
    seen = {}

    class Backbone:  # the ResNet-50 stand-in: each frame's mean grey level, spread over the feature width
        feature_dim = FEAT_DIM

        def encode(self, frames, *, batch_size=64):
            seen["frames"] = seen.get("frames", 0) + len(frames)
            return torch.as_tensor(np.asarray(frames)).float().mean((1, 2, 3))[:, None].repeat(1, FEAT_DIM) / 255

    def encoder(self):
        seen["weights"] = self.visual_weights
        return Backbone()

    monkeypatch.setattr(SpecVQGANPipeline, "encoder", property(encoder))
    weights = tmp_path / "resnet50.pth"
    weights.write_bytes(b"stand-in")
    out = str(tmp_path / "o.mp4")
    assert main(["v2s", inputs["video"], "--checkpoint", inputs["plain"], "--visual-weights", str(weights), "-o", out,
                 "--quiet"]) == 0
    assert seen == {"weights": str(weights), "frames": 10}  # 1 s at the folder's 10 fps, with the given weights
    info = probe(out)
    assert info.has_video and info.has_audio and abs(info.duration - 1.0) < 0.1


def test_a_conditioned_folder_takes_a_reference(inputs, tmp_path):
    out = str(tmp_path / "o.wav")
    assert main(["v2s", inputs["npy"], "--checkpoint", inputs["cond"], "--reference", inputs["ref"], "-o", out,
                 "--quiet"]) == 0
    assert read_audio(out)[0].shape[-1] == round(0.8 * 22050)


def test_the_class_token_variants_take_a_class(inputs, tmp_path, capsys):
    """--class-id primes a class-token folder (the release's GPTFeatsClass on features; GPTClass reads only the
    video's duration, so no backbone weights); missing, out of range or unexpected: one line, exit 2."""
    out = str(tmp_path / "o.wav")
    assert main(["v2s", inputs["npy"], "--checkpoint", inputs["features_class"], "--class-id", "2", "--top-k", "1",
                 "-o", out, "--quiet"]) == 0
    pipe = SpecVQGANPipeline.from_pretrained(inputs["features_class"], device="cpu")
    # greedy: a random network's near-uniform distributions would give every class the same seeded draws
    a, b = (pipe(inputs["feats"], class_id=c, seed=0, top_k=1).waveform for c in (0, 2))
    assert np.abs(read_audio(out)[0] - b.numpy()).max() <= 2 / 32767 and not torch.equal(a, b)
    assert main(["v2s", inputs["video"], "--checkpoint", inputs["class"], "--class-id", "1", "-o", out,
                 "--quiet"]) == 0
    assert abs(read_audio(out)[0].shape[-1] / 22050 - 1.0) < 0.05
    for folder, extra, message in (
            ("features_class", [], "--class-id: "), ("features_class", ["--class-id", "3"], "not 3"),
            ("plain", ["--class-id", "0"], "has no class token (condition features)")):
        err = _one_line_error(capsys, ["v2s", inputs["npy"], "--checkpoint", inputs[folder], "-o",
                                       str(tmp_path / "x.wav"), *extra])
        assert message in err and not os.path.exists(tmp_path / "x.wav")


def test_a_specvqgan_manifest(inputs, tmp_path, capsys):
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"video": p}) + "\n" for p in (inputs["npy"], inputs["npy2"])))
    assert main(["v2s", "--manifest", str(m), "--checkpoint", inputs["plain"], "-o", str(tmp_path / "b"),
                 "--format", "wav", "--no-progress"]) == 0
    assert "2 of 2 written" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path / "b")) == ["f.wav", "g.wav"]
    m.write_text(json.dumps({"video": inputs["npy"], "reference": inputs["ref"]}) + "\n")
    err = _one_line_error(capsys, ["v2s", "--manifest", str(m), "--checkpoint", inputs["plain"], "-o",
                                   str(tmp_path / "c"), "--format", "wav"])
    assert "row 1 has a 'reference', but this model takes none" in err


@pytest.mark.parametrize("extra, message", [
    (["--reference", "REF"], "without a conditioning-clip model"),
    (["--gain", "3"], "--gain: not used by the SpecVQGAN head"),
    (["--top-k", "0"], "--top-k 0: must be at least 1"),
    (["--temperature", "0"], "--temperature 0.0: must be greater than 0"),
    (["--visual-weights", "/nonexistent/r50.pth"], "--visual-weights /nonexistent/r50.pth: no such file"),
])
def test_bad_specvqgan_combinations_exit_2(inputs, tmp_path, capsys, extra, message):
    extra = [inputs["ref"] if x == "REF" else x for x in extra]
    err = _one_line_error(capsys, ["v2s", inputs["npy"], "--checkpoint", inputs["plain"], "-o",
                                   str(tmp_path / "o.wav"), *extra])
    assert message in err
    assert not os.path.exists(tmp_path / "o.wav")


def test_bad_inputs_for_the_head_exit_2(inputs, tmp_path, capsys):
    # a raw video without the backbone's weights, refused before the model loads
    err = _one_line_error(capsys, ["v2s", inputs["video"], "--checkpoint", inputs["plain"], "-o",
                                   str(tmp_path / "o.wav")])
    assert "--visual-weights:" in err and "resnet50-0676ba61.pth" in err
    err = _one_line_error(capsys, ["v2s", inputs["npy"], "--checkpoint", inputs["plain"], "-o",
                                   str(tmp_path / "o.mp4")])
    assert "holds features, no video to put the sound on" in err
    # SpecVQGAN options on the VarietySound head
    err = _one_line_error(capsys, ["v2s", "--top-k", "5", "-o", str(tmp_path / "o.wav")])
    assert "--top-k: for SpecVQGAN folders only" in err
