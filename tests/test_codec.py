"""avgen.codec on a tiny random codebook (the builders of tests/pipelines/test_specvqgan_pipeline.py: 80 x 96 mels ->
5 x 6 codes, n_embed 16, so one window is 6 columns = 96 frames = 1.11 s): codes equal a reference windowing
written here, the file round trips, decode gives the encoded duration and refuses another codebook's codes, the
printed bitrate is the formula's, bad inputs are one line and exit 2 before anything is written."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import yaml

from avgen.audio import mel_spectrogram
from avgen.checkpoints import save_pretrained
from avgen.codec import CodesFile, decode, encode, load_codec_model
from avgen.errors import AvgenError
from avgen.media import write_audio
from avgen.models.v2s.specvqgan import SpecVQGANCodebook

from .models.test_specvqgan import _save_lightning
from .pipelines.test_specvqgan_pipeline import (F_T, H, N_EMBED, W, _codebook_config, _codebook_weights, _tiny_pipeline,
                                                _vqmodel)

SR = 22050


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one thread, fixed sum order


def _codebook(seed: int) -> SpecVQGANCodebook:
    cb = SpecVQGANCodebook(**_codebook_config())
    cb.load_state_dict(_codebook_weights(seed))
    return cb.eval()


def _tone(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.4 * np.sin(2 * np.pi * 440 * t * (1 + 0.3 * t)) + 0.05 * rng.standard_normal(t.size)
    return (x * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t))).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("codec")
    a = save_pretrained(_codebook(1), root / "codebook_a")
    b = save_pretrained(_codebook(7), root / "codebook_b")
    pipe = _tiny_pipeline(0).save_pretrained(root / "pipeline")  # codebook = _codebook_weights(1), MelGAN vocoder
    wav = write_audio(root / "in.wav", _tone(2.7), SR)  # 2.4 windows
    run = root / "release_codebook_run"  # the release's layout, holding codebook_a's weights and a loss tensor
    (run / "configs").mkdir(parents=True)
    (run / "configs" / "2021-06-06T19-42-53-project.yaml").write_text(yaml.safe_dump({"model": _vqmodel()}))
    _save_lightning(str(run / "checkpoints" / "last.ckpt"),
                    {**_codebook_weights(1), "loss.discriminator.main.0.weight": torch.randn(8, 1, 4, 4)})
    return {"a": str(a), "b": str(b), "pipe": str(pipe), "run": str(run), "wav": wav, "root": root}


def _reference_codes(cb: SpecVQGANCodebook, x: np.ndarray) -> torch.Tensor:
    """Windows of W columns end to end, the last one ending at the last column, on the padded [-1, 1] mel."""
    mel = mel_spectrogram(torch.from_numpy(x), "specvqgan")  # [80, T]
    c = math.ceil(mel.shape[-1] / F_T)
    x = 2 * torch.nn.functional.pad(mel, (0, c * F_T - mel.shape[-1])) - 1
    if c <= W:
        return cb.encode(x[None])[0]
    out = torch.full((H, c), -1, dtype=torch.long)
    starts = list(range(0, c - W, W)) + [c - W]
    for s in starts:
        piece = cb.encode(x[None, :, s * F_T:(s + W) * F_T])[0]
        new = out[:, s:s + W] < 0
        out[:, s:s + W][new] = piece[new]  # a column keeps the first window that coded it
    return out


def _bitrate_line(codes_shape, n_embed, duration) -> str:
    h, c = codes_shape
    return f"{h * c * math.log2(n_embed) / duration / 1000:.3f} kbit/s"


def test_encode_windows_round_trip_and_decode(folders, tmp_path):
    from avgen.media import read_audio

    x, _ = read_audio(folders["wav"], sample_rate=SR)
    x = x[0]
    cf = encode(folders["wav"], folders["a"])
    want = _reference_codes(_codebook(1), x)
    assert want.shape[1] > 2 * W and (want >= 0).all()
    assert cf.codes.shape == want.shape and torch.equal(cf.codes, want)
    assert (cf.n_embed, cf.mel_preset, cf.sample_rate) == (N_EMBED, "specvqgan", SR)
    assert cf.duration == pytest.approx(x.size / SR)
    assert cf.bitrate == pytest.approx(H * want.shape[1] * 4 / cf.duration)  # log2(16) = 4 bits a code
    # the pipeline folder and the release's codebook run hold the same weights: the same identity and codes
    assert load_codec_model(folders["pipe"]).digest == cf.codebook_digest
    from_run = encode(folders["wav"], folders["run"])
    assert from_run.codebook_digest == cf.codebook_digest and torch.equal(from_run.codes, cf.codes)
    assert load_codec_model(folders["b"]).digest != cf.codebook_digest
    # the file: safetensors, nothing pickled; everything read back equal
    path = cf.save(tmp_path / "in.codes")
    back = CodesFile.load(path)
    assert torch.equal(back.codes, cf.codes) and back.codes.dtype == torch.long
    assert (back.codebook_digest, back.duration, back.codebook_folder) == (cf.codebook_digest, cf.duration,
                                                                           cf.codebook_folder)
    # decode: the codebook decoder window by window, cut to the duration; the encoded length comes back
    out = decode(path, folders["a"], vocoder="griffin-lim")
    n = x.size
    assert out.waveform.shape == (1, n) and out.mel.shape == (80, math.ceil(n / 256))
    assert out.waveform.abs().max() <= 1 and out.waveform.std() > 0
    first = (_codebook(1).decode(cf.codes[None, :, :W]) + 1) / 2  # window 0 alone up to where window 1 starts
    half = W - W // 2
    assert torch.allclose(out.mel[:, :half * F_T], first[0, :, :half * F_T], atol=1e-5)
    # a waveform at another rate is resampled; audio shorter than a window is one pass of the encoder
    short = _tone(0.4, 16000, seed=3)
    cs = encode(short, folders["a"], sample_rate=16000)
    from avgen.audio import resample

    assert torch.equal(cs.codes, _reference_codes(_codebook(1), resample(short, 16000, SR)))
    assert cs.codes.shape[1] < W and cs.duration == pytest.approx(0.4)
    # another codebook's codes are refused in one line
    with pytest.raises(AvgenError, match=r"in\.codes: made with codebook [0-9a-f]{12} .*not with .*codebook_b") as e:
        decode(path, folders["b"], vocoder="griffin-lim")
    assert "\n" not in str(e.value)
    # the release's VGGSound figure: 5 x 53 codes of a 1024-entry codebook over one 848-frame window
    vgg = CodesFile(torch.zeros(5, 53, dtype=torch.long), "x", 1024, "specvqgan", SR, 848 * 256 / SR)
    assert vgg.bits == 2650 and vgg.bitrate == pytest.approx(269.165, abs=0.001)


def _cli(argv: list[str]) -> int:
    """``avgen codec ...`` through the registered CLI entry point (what the console script runs)."""
    from avgen.cli import main

    return main(argv)


def test_cli_prints_the_bitrate_and_decodes_with_the_folders_vocoder(folders, tmp_path, capsys):
    codes = tmp_path / "clip.codes"
    assert _cli(["codec", "encode", folders["wav"], "-o", str(codes), "--checkpoint", folders["pipe"]]) == 0
    printed = capsys.readouterr().out
    cf = CodesFile.load(codes)
    assert printed.startswith(f"wrote {codes}:") and _bitrate_line(cf.codes.shape, N_EMBED, cf.duration) in printed
    assert re.search(rf"{H} x {cf.codes.shape[1]} codes = {cf.code_count} x log2\(16\)", printed)
    # no --checkpoint: the folder it was encoded with; no --vocoder: that folder's MelGAN
    out = tmp_path / "clip.wav"
    assert _cli(["codec", "decode", str(codes), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vocoder melgan:vocoder" in printed and _bitrate_line(cf.codes.shape, N_EMBED, cf.duration) in printed
    from avgen.media import read_audio

    wav, sr = read_audio(out)
    assert sr == SR and wav.shape[-1] == round(cf.duration * SR)


def test_bad_inputs_are_one_line_and_exit_2_before_work(folders, tmp_path, capsys):
    codes = tmp_path / "ok.codes"
    assert _cli(["codec", "encode", folders["wav"], "-o", str(codes), "--checkpoint", folders["a"]]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.codes"
    garbage.write_text("not codes")
    out = tmp_path / "never.wav"
    cases = [
        (["encode", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.codes"), "--checkpoint", folders["a"]],
         "missing.wav: no such file"),
        (["encode", folders["wav"], "-o", str(tmp_path), "--checkpoint", folders["a"]], "is a folder"),
        (["encode", folders["wav"], "-o", str(tmp_path / "x.codes"), "--checkpoint", str(tmp_path / "nope")],
         "--checkpoint .*nope: no such folder"),
        (["encode", str(garbage), "-o", str(tmp_path / "x.codes"), "--checkpoint", folders["a"]], "garbage.codes"),
        (["decode", str(garbage), "-o", str(out)], "garbage.codes: not a codes file"),
        (["decode", str(codes), "-o", str(tmp_path / "never.mp3")], "unknown output type"),
        (["decode", str(codes), "-o", str(out), "--vocoder", "wavenet"], "--vocoder wavenet: not one of"),
        (["decode", str(codes), "-o", str(out), "--checkpoint", folders["b"]], "made with codebook"),
        (["decode", str(codes), "-o", str(out), "--device", "cuda:99"], "--device cuda:99"),
    ]
    for argv, message in cases:
        assert _cli(["codec", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("avgen codec: error: ") and "\n" not in err and re.search(message, err), (argv, err)
    assert not out.exists() and not (tmp_path / "x.codes").exists()
