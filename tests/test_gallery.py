"""avgen gallery without a browser: what each kind of run yields, the page's structure, and the one-line errors.
(tests/browser/ checks that Chromium plays the media and sorts the tables.)"""

import json
import os

import pytest

from avgen.errors import AvgenError
from avgen.gallery import build_gallery, read_run
from tests.browser._runs import CLIPS, shared_gallery


def _avgen(capsys, *args) -> tuple[int, str, str]:
    """``avgen ARGS`` in-process (torch is already loaded): exit code, stdout, stderr."""
    from avgen.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return shared_gallery(tmp_path_factory)


@pytest.fixture(scope="module")
def built(runs):
    with open(os.path.join(runs["gallery"], "gallery.json")) as f:
        return runs["gallery"], runs["index"], json.load(f)


def test_batch_folder_with_manifest(runs):
    run = read_run(runs["sys_a"], manifest=runs["rows"])
    assert run.kind == "outputs" and sorted(run.system.outputs) == sorted(CLIPS)
    c = run.clips["c1_loud"]
    assert c.video.endswith("inputs/c1_loud.mp4") and c.reference.endswith("inputs/ref_1.wav")
    bare = read_run(runs["sys_b"])  # without the manifest each output stands alone
    assert bare.clips["c0_mid"].video is None and bare.system.outputs["c0_mid"].endswith("c0_mid.mp4")


def test_eval_folder_finds_its_report(runs):
    for path in (runs["bench_out"], runs["bench_report"]):  # the folder (report beside it) or the report itself
        run = read_run(path)
        assert run.kind == "v2s_benchmark"
        assert run.system.details["vocoder"] == "griffin-lim" and run.system.summary["mcd"] == 7.25
        assert run.clips["c2_quiet"].events == CLIPS["c2_quiet"][0]
        assert run.clips["c2_quiet"].reference.endswith("references/r2.wav")


def test_page_rows_systems_and_figures(built, runs):
    out, index, data = built
    assert [s["name"] for s in data["systems"]] == ["A", "B", "bench"]
    assert [c["id"] for c in data["clips"]] == list(CLIPS)
    page = open(index, encoding="utf-8").read()
    # no external asset: every src/href is relative (or the inline empty favicon)
    import re
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(not re.match(r"[a-z]+://", x) or x.startswith("data:") for x in links)
    for link in links:
        if not link.startswith("data:"):
            assert os.path.isfile(os.path.join(out, link)), link
    assert page.count("<video") == 2 * len(CLIPS)  # the input and the muxed system B
    assert page.count("<audio") == 3 * len(CLIPS)  # the reference, A's wav, the benchmark's wav
    loud, quiet = (data["clips"][i]["outputs"]["A"]["metrics"]["level_dbfs"] for i in (1, 2))
    assert loud > quiet + 10  # the figures are the outputs' own
    bench = data["clips"][0]["outputs"]["bench"]["metrics"]
    assert {"onset_recall", "extra_onsets", "onset_error_ms", "mcd_truth", "timbre_cos_cepstral"} <= set(bench)
    assert bench["onset_recall"] == 1.0  # the benchmark outputs click exactly at the known events
    # each system is scored against its own run's reference (the benchmark's, not the batch manifest's)
    from avgen.gallery import clip_metrics
    from avgen.media import read_audio

    wav = lambda *p: read_audio(os.path.join(*p), sample_rate=22050)[0]  # noqa: E731
    bench_dir = os.path.join(runs["root"], "bench")
    expect = clip_metrics(wav(bench_dir, "out", "c0_mid.wav"), truth=wav(bench_dir, "test", "c0_mid.mp4"),
                          reference=wav(bench_dir, "test", "references", "r0.wav"), events=CLIPS["c0_mid"][0])
    assert bench == pytest.approx(expect, rel=1e-4)
    # one input video per clip is encoded once, even when several rows share it
    assert len(os.listdir(os.path.join(out, "media", "inputs"))) == 3 * len(CLIPS)


def test_media_are_webm_vp9_opus(built):
    import av

    out, _, data = built
    row = data["clips"][0]
    with av.open(os.path.join(out, row["outputs"]["B"]["media"])) as c:
        assert c.format.name.startswith("matroska") and c.streams.video[0].codec_context.name == "vp9"
        assert c.streams.audio[0].codec_context.name == "opus"
    with av.open(os.path.join(out, row["outputs"]["A"]["media"])) as c:
        assert not c.streams.video and c.streams.audio[0].codec_context.name == "opus"


def test_rebuild_replaces_the_page_atomically(runs, tmp_path):
    out = str(tmp_path / "g")
    one = os.path.join(runs["sys_a"], "c0_mid.wav")
    build_gallery([one], out, title="first")
    media = lambda: {os.path.join(d, p): open(os.path.join(d, p), "rb").read()  # noqa: E731
                     for d, _, names in os.walk(os.path.join(out, "media")) for p in names}
    first = media()
    index = build_gallery([one], out, title="again")
    assert "<title>again</title>" in open(index, encoding="utf-8").read()
    assert media() == first  # bit-exact media: a rebuild from the same inputs changes no file
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # no temporary file left behind


@pytest.mark.parametrize("case", ["missing", "empty_folder", "text_file", "bad_report", "output_is_file",
                                  "missing_manifest"])
def test_bad_input_is_one_line_exit_2(case, runs, tmp_path, capsys):
    out = str(tmp_path / "g")
    args = [runs["sys_a"], "-o", out]
    if case == "missing":
        args[0] = str(tmp_path / "nope")
    elif case == "empty_folder":
        os.makedirs(tmp_path / "empty")
        args[0] = str(tmp_path / "empty")
    elif case == "text_file":
        (tmp_path / "notes.txt").write_text("hello")
        args[0] = str(tmp_path / "notes.txt")
    elif case == "bad_report":
        (tmp_path / "r.jsonl").write_text('{"metric": "fid", "fid": 3}\n')
        args[0] = str(tmp_path / "r.jsonl")
    elif case == "output_is_file":
        (tmp_path / "g").write_text("x")
    else:
        args += ["--manifest", str(tmp_path / "none.jsonl")]
    code, _, err = _avgen(capsys, "gallery", *args, "--no-progress")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("avgen gallery: error: "), err
    named = {"output_is_file": out, "missing_manifest": "none.jsonl"}.get(case, args[0])
    assert named in lines[0]
    if case != "output_is_file":
        assert not os.path.exists(out)  # checked before any work


def test_python_api_refuses_unreadable_media_before_writing(runs, tmp_path):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "c0_mid.wav").write_bytes(b"RIFF....not really")
    with pytest.raises(AvgenError, match="c0_mid.wav"):
        build_gallery([runs["sys_a"], str(bad)], str(tmp_path / "g"), manifest=runs["rows"])
    assert not os.path.exists(tmp_path / "g")


def test_cli_names_columns_and_reads_the_batch_manifest(runs, tmp_path, capsys):
    out = tmp_path / "g"
    code, stdout, err = _avgen(capsys, "gallery", f"mine={runs['sys_a']}", runs["bench_report"], "--manifest",
                               runs["manifest"], "-o", str(out), "--no-progress")
    assert code == 0, err
    data = json.loads((out / "gallery.json").read_text())
    assert [s["name"] for s in data["systems"]] == ["mine", "out"]
    assert data["clips"][1]["video"].endswith("c1_loud.mp4") and data["clips"][1]["reference"].endswith("ref_1.wav")
    assert stdout.strip() == f"wrote {out / 'index.html'}"


def test_single_output_file_and_v2s_real_results(runs, tmp_path):
    # an `avgen s2v` / `avgen v2s` output file on its own: one row, shown as a video
    one = read_run(os.path.join(runs["sys_b"], "c0_mid.mp4"))
    assert list(one.system.outputs) == ["c0_mid"] and one.clips["c0_mid"].video is None
    # an `avgen eval v2s-real` folder: per-clip figures as recorded, videos found in its clips folder
    real = tmp_path / "real"
    real.mkdir()
    for cid in CLIPS:
        os.link(os.path.join(runs["sys_a"], f"{cid}.wav"), real / f"{cid}.wav")
    report = {"metric": "v2s_real", "onset_f1": 0.3, "clips": [{"id": c, "f1": 0.1 * k, "reference": "x"}
                                                              for k, c in enumerate(CLIPS)],
              "inputs": {"clips_dir": os.path.join(runs["root"], "inputs"), "output_dir": str(real)},
              "profile": {"checkpoint": "bundled default", "vocoder": "specvqgan-bridge",
                          "reference": os.path.join(runs["root"], "inputs", "ref_0.wav")}}
    (real / "results.json").write_text(json.dumps(report))
    run = read_run(str(real))
    assert run.kind == "v2s_real" and run.system.summary["onset_f1"] == 0.3
    assert run.system.recorded["c2_quiet"]["f1"] == pytest.approx(0.2)
    assert run.clips["c1_loud"].video.endswith("inputs/c1_loud.mp4")
    index = build_gallery([str(real)], str(tmp_path / "g"))
    data = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert data["clips"][2]["outputs"]["real"]["metrics"]["f1"] == pytest.approx(0.2)
    assert 'data-value="0.2' in open(index, encoding="utf-8").read()


def test_quiet_prints_nothing(runs, tmp_path, capsys):
    code, stdout, err = _avgen(capsys, "gallery", os.path.join(runs["sys_a"], "c0_mid.wav"), "-o",
                               str(tmp_path / "g"), "-q")
    assert code == 0 and stdout == "" and err == "", err
    assert (tmp_path / "g" / "index.html").is_file()


def test_big_pages_preload_only_headers():
    from avgen.gallery import PRELOAD_ALL_UP_TO, System, _page

    def page(n):
        rows = [{"id": f"c{i}", "video": None, "reference": None, "reference_mel": None,
                 "outputs": {"s": {"media": f"m{i}.webm", "kind": "audio", "mel": None, "metrics": {}}}}
                for i in range(n)]
        return _page("t", [System("s", "run")], rows, {"s": []}, "")

    assert page(PRELOAD_ALL_UP_TO).count('preload="auto"') == PRELOAD_ALL_UP_TO
    big = page(PRELOAD_ALL_UP_TO + 1)
    assert 'preload="auto"' not in big and big.count('preload="metadata"') == PRELOAD_ALL_UP_TO + 1


def test_video_outputs_report_frames_and_rate(built):
    _, _, data = built
    b = data["clips"][0]["outputs"]["B"]["metrics"]
    assert b["frames"] == 10 and b["fps"] == 10  # the fixture's muxed outputs: 10 frames at 10 fps
    assert "frames" not in data["clips"][0]["outputs"]["A"]["metrics"]  # a sound has no frames



def test_a_batch_manifest_without_references(runs, tmp_path):
    """A SpecVQGAN batch without a conditioning clip is made from rows with only 'video' (and 'id'), read by the
    batch as ``_read_pairs(path, reference=False)``: the gallery takes those rows and shows no reference for them."""
    from avgen.cli import _read_pairs

    m = tmp_path / "specvqgan.jsonl"
    m.write_text("".join(json.dumps({"video": os.path.join(runs["root"], "inputs", f"{cid}.mp4")}) + "\n"
                         for cid in CLIPS))  # ids: the video stems, which are sys_a's output names
    rows = _read_pairs(str(m), reference=False)
    index = build_gallery([runs["sys_a"]], str(tmp_path / "g"), manifest=rows)
    data = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert [c["id"] for c in data["clips"]] == list(CLIPS)
    assert all(c["video"].endswith(f"inputs/{c['id']}.mp4") and c["reference"] is None for c in data["clips"])
    page = open(index, encoding="utf-8").read()
    assert page.count("<video") == len(CLIPS) and page.count("<audio") == len(CLIPS)  # inputs; A's wavs only
    assert page.count("<td>–</td>") == len(CLIPS)  # the empty reference cell
    assert "timbre_cos_cepstral" not in json.dumps(data)  # no reference, no similarity to one


def test_cli_reads_a_reference_free_manifest(runs, tmp_path, capsys):
    m = tmp_path / "specvqgan.jsonl"
    m.write_text("".join(json.dumps({"video": os.path.join(runs["root"], "inputs", f"{cid}.mp4")}) + "\n"
                         for cid in CLIPS))
    code, _, err = _avgen(capsys, "gallery", runs["sys_a"], "--manifest", str(m), "-o", str(tmp_path / "g"),
                          "--no-progress")
    assert code == 0, err
    data = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert all(c["video"] and c["reference"] is None for c in data["clips"])
