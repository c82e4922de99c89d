"""The image corpus: manifest round trip and validation (file:line), pixel hashes, splits disjoint by picture and by
package, the loader, and the committed manifest's coverage. No network, no asset folder needed."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from avgen.data import image_corpus as ic
from avgen.errors import AvgenError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMITTED = os.path.join(REPO, "data", "image_corpus", "manifest.jsonl")


def _rows(n: int = 24) -> list[dict]:
    """Synthetic rows: kinds alternate, two files per group, three packages."""
    rows = []
    for i in range(n):
        kind = ic.KINDS[i % 2]
        rows.append({"id": f"img{i:03d}", "path": f"p{i % 3}/img{i:03d}.png", "kind": kind,
                     "group": f"p{i % 3}-g{i // 4}", "package": f"p{i % 3}", "package_version": "1.0-1",
                     "source_file": f"usr/share/x/{i}.png", "licence": "CC0-1.0",
                     "sha256": hashlib.sha256(f"img{i}".encode()).hexdigest(), "width": 64, "height": 48})
    return rows


def test_manifest_round_trip(tmp_path):
    rows = _rows()
    rows[0]["note"] = "extra keys are kept"
    ic.write_manifest(tmp_path / "m.jsonl", rows)
    assert ic.read_manifest(tmp_path / "m.jsonl") == rows


@pytest.mark.parametrize("mutate, expect", [
    (lambda r: r.pop("licence"), "missing key 'licence'"),
    (lambda r: r.update(width="64"), "'width' must be int"),
    (lambda r: r.update(kind="texture"), "unknown kind"),
    (lambda r: r.update(sha256="abc"), "'sha256' must be 64"),
    (lambda r: r.update(id="a/b"), "filename-safe"),
    (lambda r: r.update(width=4000), "'width' must be in"),
    (lambda r: r.update(path="/abs.png"), "relative"),
])
def test_bad_row_names_file_and_line(tmp_path, mutate, expect):
    path = tmp_path / "m.jsonl"
    ic.write_manifest(path, _rows(6))
    lines = path.read_text().splitlines()
    bad = json.loads(lines[3])
    mutate(bad)
    lines[3] = json.dumps(bad)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AvgenError) as e:
        ic.read_manifest(path)
    assert f"{path}:4:" in str(e.value) and expect in str(e.value)


def test_duplicate_id_and_bad_json(tmp_path):
    path = tmp_path / "m.jsonl"
    rows = _rows(3)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [rows[1]]))
    with pytest.raises(AvgenError, match=r":4: duplicate id 'img001' \(first on line 2\)"):
        ic.read_manifest(path)
    path.write_text("{not json\n")
    with pytest.raises(AvgenError, match=":1: not valid JSON"):
        ic.read_manifest(path)


@pytest.mark.parametrize("by", ["group", "package"])
def test_split_is_disjoint_deterministic_and_covers_kinds(by):
    rows = _rows(60)
    if by == "package":  # more packages so both sides can hold some of each kind
        for i, r in enumerate(rows):
            r["package"] = f"p{i % 6}"
    a = ic.split_images(rows, test_fraction=0.25, seed=3, by=by)
    b = ic.split_images(list(reversed(rows)), test_fraction=0.25, seed=3, by=by)
    assert {r["id"] for r in a["test"]} == {r["id"] for r in b["test"]}
    assert {r[by] for r in a["train"]}.isdisjoint({r[by] for r in a["test"]})
    assert len(a["train"]) + len(a["test"]) == len(rows)
    for side in ("train", "test"):
        assert {r["kind"] for r in a[side]} == set(ic.KINDS)
    assert ic.split_images(rows, test_fraction=0.25, seed=4, by=by)["test"] != a["test"] or by == "package"


def test_split_merges_shared_pixels():
    rows = _rows(40)
    rows[5]["sha256"] = rows[7]["sha256"]  # the same picture under two groups
    for seed in range(10):
        out = ic.split_images(rows, test_fraction=0.3, seed=seed)
        shas = [{r["sha256"] for r in out[s]} for s in ("train", "test")]
        assert shas[0].isdisjoint(shas[1])


def test_pixel_hash_and_loader(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:15, 5:25] = (10, 200, 30, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "s.png")
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(tmp_path / "b.png")
    with Image.open(tmp_path / "s.png") as im:
        sha = ic.pixel_sha256(im)
    expect = hashlib.sha256(b"RGBA 30x20\n" + rgba.tobytes()).hexdigest()
    assert sha == expect
    rows = [{"id": "s", "path": "s.png", "kind": "sprite", "group": "s", "package": "t", "package_version": "1",
             "source_file": "s.png", "licence": "CC0-1.0", "sha256": sha, "width": 30, "height": 20},
            {"id": "b", "path": "b.png", "kind": "background", "group": "b", "package": "t", "package_version": "1",
             "source_file": "b.png", "licence": "CC0-1.0", "sha256": "0" * 64, "width": 60, "height": 40}]
    ic.write_manifest(tmp_path / "manifest.jsonl", rows)
    assets = ic.load_assets(tmp_path)
    assert assets.sprites[0].shape == (20, 30, 4) and assets.backgrounds[0].shape == (40, 60, 3)
    assert assets.ids == {"background": ["b"], "sprite": ["s"]}
    os.remove(tmp_path / "b.png")
    with pytest.raises(AvgenError, match="b.png: cannot read image"):
        ic.load_assets(tmp_path)


def test_committed_manifest_coverage():
    rows = ic.read_manifest(COMMITTED)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("background") >= 100 and kinds.count("sprite") >= 300
    assert len({r["sha256"] for r in rows}) == len(rows)
    assert len({r["package"] for r in rows if r["kind"] == "sprite"}) >= 4
    split = ic.split_images(rows, test_fraction=0.2, seed=0)
    assert {r["group"] for r in split["train"]}.isdisjoint({r["group"] for r in split["test"]})
    assert sum(r["kind"] == "background" for r in split["test"]) >= 20
