"""Media of the wrong kind through every command that reads it (one line naming the file, exit 2, nothing written
outside the output folder, no input changed), and unusual but valid media that must work: a 1x1 video, 1000 fps,
0.5 fps, unicode file names, a WAV whose header claims 4 GB."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from avgen.media import probe, read_audio

from .conftest import PREPARE_FPS, assert_one_line_error


def _v2s(bad, ckpt, video, reference, out):
    return ["v2s", bad[video] if video in bad else video, "--reference", bad[reference] if reference in bad else
            reference, "--checkpoint", ckpt, "--vocoder", "griffin-lim", "-o", out]


UNREADABLE = [("missing", "file not found"), ("empty", "empty file"), ("dir_mp4", "is a directory"),
              ("truncated_tail_mp4", "truncated or corrupt"), ("truncated_mp4", "the data stops before"),
              ("text_mp4", "not a media file")]


@pytest.mark.parametrize("name, needle", UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_unreadable_files_through_every_command(run_cli, bad, tiny_v2s, tmp_path, name, needle):
    """Missing, empty, a folder, truncated with the index at the end (no index left) or at the start (faststart:
    the data ends early), text named .mp4: one line naming the file and what is wrong with it from info, v2s (as
    video and as reference), s2v and prepare."""
    video = bad["missing_mp4" if name == "missing" else "empty_mp4" if name == "empty" else name]
    audio = bad["missing_wav" if name == "missing" else "empty_wav" if name == "empty" else name]
    out = tmp_path / "o.wav"
    assert_one_line_error(run_cli(["info", video]), video, needle)
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, video, "good_wav", out)), video, needle)
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "quarter_mp4", audio, out)), audio, needle)
    assert_one_line_error(run_cli(["s2v", audio, "-o", tmp_path / "o.mp4"]), audio, needle)
    cache = tmp_path / "cache"
    res = run_cli(["prepare", video, "-o", cache, "--workers", "0", "--no-progress"])
    assert_one_line_error(res, video, "no video files" if name == "dir_mp4" else "not found" if name == "missing"
                          else needle)
    assert os.listdir(tmp_path) == []  # nothing written, no cache folder made


@pytest.mark.parametrize("video", ["audio_only_mp4", "audio_only_m4a", "good_wav"])
def test_audio_only_given_as_video(run_cli, bad, tiny_v2s, tmp_path, video):
    out = tmp_path / "o.wav"
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, video, "good_wav", out)), bad[video], "no video stream")
    assert not out.exists()


def test_audio_only_given_to_prepare(run_cli, bad, tmp_path):
    out = tmp_path / "cache"
    res = run_cli(["prepare", bad["audio_only_mp4"], "-o", out, "--workers", "0", "--no-progress"])
    assert_one_line_error(res, "audio_only.mp4", "no video stream")
    assert not out.exists()  # refused before the cache folder or the encoder


def test_video_only_given_as_audio(run_cli, bad, tiny_v2s, tmp_path):
    video = bad["video_only_mp4"]
    assert_one_line_error(run_cli(_v2s(bad, tiny_v2s, "quarter_mp4", "video_only_mp4", tmp_path / "o.wav")),
                          video, "no audio stream")
    assert_one_line_error(run_cli(["s2v", video, "-o", tmp_path / "o.mp4"]), video, "no audio stream")
    assert_one_line_error(run_cli(["prepare", video, "-o", tmp_path / "c", "--workers", "0"]), video,
                          "no audio stream")
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    shutil.copy(video, gen / "a.mp4")
    shutil.copy(bad["good_wav"], ref / "a.wav")
    for metric in ("mcd", "timbre"):
        assert_one_line_error(run_cli(["eval", metric, gen, ref, "--no-progress"]), "a.mp4", "no audio stream")
    assert sorted(os.listdir(tmp_path)) == ["gen", "ref"]


def test_info_reports_unusual_media_truthfully(run_cli, bad):
    def info(name):
        res = run_cli(["info", bad[name]])
        assert res.code == 0, res.stderr
        return dict(line.split(": ", 1) for line in res.stdout.splitlines())

    assert (info("one_px_mp4")["width"], info("one_px_mp4")["height"]) == ("1", "1")
    assert info("fps1000_mp4")["fps"] == "1000.0" and info("fps1000_mp4")["num_frames"] == "250"
    assert info("fps05_mp4")["fps"] == "0.5" and info("fps05_mp4")["video_duration"] == "2.0"
    assert info("huge_header_wav")["duration"] == "2.0"  # the samples there, not the 4 GB the header claims
    assert info("unicode_mp4")["path"] == bad["unicode_mp4"]
    assert info("audio_only_mp4")["has_video"] == "False"


def test_a_4gb_wav_header_reads_the_samples_that_exist(bad):
    wav, sr = read_audio(bad["huge_header_wav"])
    assert sr == 22050 and wav.shape[-1] == 2 * 22050


def test_unusual_videos_and_names_work_through_v2s(run_cli, bad, tiny_v2s, tmp_path):
    """One batch (one model load): 1x1, 1000 fps, 0.5 fps, unicode names (video, reference, output) and a 4 GB-header
    reference, muxed into mp4 (the copy path); every output lasts as long as its video."""
    rows = [("one_px", "one_px_mp4", "good_wav"), ("fps1000", "fps1000_mp4", "unicode_wav"),
            ("fps05", "fps05_mp4", "good_wav"), ("ü名файл", "unicode_mp4", "huge_header_wav")]
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"id": i, "video": bad[v], "reference": bad[r]}, ensure_ascii=False) + "\n"
                         for i, v, r in rows), encoding="utf-8")
    out = tmp_path / "batch"
    res = run_cli(["v2s", "--manifest", m, "-o", out, "--checkpoint", tiny_v2s, "--vocoder", "griffin-lim",
                   "--no-progress"], writes_in=str(out))
    assert res.code == 0 and "4 of 4 written" in res.stdout, res.stderr
    for i, v, _ in rows:
        got, want = probe(out / f"{i}.mp4"), probe(bad[v])
        assert got.has_audio and (got.width, got.height) == (want.width, want.height)
        assert abs(got.duration - want.video_duration) < 0.1, (i, got.duration, want.video_duration)


def test_unicode_names_work_through_single_file_commands(run_cli, bad, tiny_v2s, tmp_path):
    out = tmp_path / "sortie ü名.wav"
    res = run_cli(_v2s(bad, tiny_v2s, "unicode_mp4", "unicode_wav", out), writes=(out,))
    assert res.code == 0 and out.exists(), res.stderr
    video = tmp_path / "vidéo 名.mp4"
    res = run_cli(["s2v", bad["unicode_wav"], "-o", video, "--num-frames", "2"], writes=(video,))
    assert res.code == 0 and probe(video).num_frames == 2, res.stderr
    res = run_cli(["s2v", bad["huge_header_wav"], "-o", tmp_path / "h.mp4", "--num-frames", "2"],
                  writes=(tmp_path / "h.mp4",))
    assert res.code == 0, res.stderr
    gen, ref = tmp_path / "gen", tmp_path / "ref"
    gen.mkdir(), ref.mkdir()
    shutil.copy(bad["huge_header_wav"], gen / "ü名.wav")
    shutil.copy(bad["unicode_wav"], ref / "ü名.wav")
    res = run_cli(["eval", "mcd", gen, ref, "--no-progress"])
    assert res.code == 0 and json.loads(res.stdout.splitlines()[-1])["profile"]["pairs"] == 1, res.stderr


def test_unusual_videos_and_names_through_prepare(run_cli, bad, tmp_path):
    """Odd but valid clips are cached; wrong-kind files in the same batch fail one summary line each."""
    names = ["one_px_mp4", "fps1000_mp4", "fps05_mp4", "unicode_mp4", "audio_only_mp4", "video_only_mp4"]
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps({"path": bad[n]}, ensure_ascii=False) + "\n" for n in names), encoding="utf-8")
    out = tmp_path / "cache"
    res = run_cli(["prepare", m, "-o", out, "--workers", "0", "--no-progress", "--fps", str(PREPARE_FPS),
                   "--device", "cpu"], writes_in=str(out))
    assert res.code == 0 and "prepared 4, already cached 0, failed 2 of 6" in res.stdout, res.stdout + res.stderr
    assert f"{bad['audio_only_mp4']}: no video stream" in res.stdout
    assert f"{bad['video_only_mp4']}: no audio stream" in res.stdout
    index = [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in index] == [bad[n] for n in names[:4]]
    frames = {r["source"]: r["feature_frames"] for r in index}
    assert frames[bad["fps05_mp4"]] == 8 and frames[bad["fps1000_mp4"]] == 1  # 2 s and 0.25 s at 4 fps
    assert "Traceback" not in res.stderr


def test_torchscript_as_a_checkpoint(run_cli, bad, tiny_v2s, tmp_path):
    from avgen.errors import AvgenError
    from avgen.train.checkpoint import load_checkpoint

    with pytest.raises(AvgenError) as info:
        load_checkpoint(bad["torchscript_pt"])
    assert "scripted.pt" in str(info.value) and "weights_only" not in str(info.value)
    folder = shutil.copytree(tiny_v2s, tmp_path / "pipe")
    weights = next(p for p in folder.rglob("*.safetensors"))
    shutil.copy(bad["torchscript_pt"], weights)
    res = run_cli(_v2s(bad, folder, "quarter_mp4", "good_wav", tmp_path / "o.wav"))
    assert_one_line_error(res, weights.name)
    assert "weights_only" not in res.stderr and not (tmp_path / "o.wav").exists()
