"""Every atomic write is durable (the file, then its folder, fsynced around the rename) and creates files as the
umask says (not always 0600): avgen's primitive, the prepare cache and the standalone stylegan package's copy."""

from __future__ import annotations

import os
import stat

import pytest


@pytest.fixture
def fsyncs(monkeypatch):
    """The kinds ('file' / 'folder') of everything fsynced, in order."""
    kinds = []
    real = os.fsync

    def spy(fd):
        kinds.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return kinds


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


def test_atomic_output_is_durable_and_follows_the_umask(tmp_path, fsyncs, umask_027):
    from avgen.utils import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    assert fsyncs == ["file", "folder"]
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == umask_027
    assert os.listdir(tmp_path) == ["a.txt"]


def test_prepare_cache_files_follow_the_umask(clips, cpu_encoder, tmp_path, fsyncs, umask_027):
    from avgen.data import PrepareSettings, prepare

    from .conftest import PREPARE_FPS, manifest_items

    out = tmp_path / "cache"
    prepare(manifest_items(clips[:1]), out, settings=PrepareSettings(fps=PREPARE_FPS), workers=0, progress=False,
            encoder=cpu_encoder)
    files = [out / "settings.json", out / "index.jsonl", out / "failures.jsonl", *(out / "items").iterdir()]
    assert len(files) == 4 and all(stat.S_IMODE(os.stat(f).st_mode) == umask_027 for f in files)
    assert fsyncs.count("folder") >= 4  # every one of them renamed durably (the index more than once)


def test_stylegan_save_pretrained_is_durable(tmp_path, fsyncs, umask_027):
    import stylegan
    from stylegan import networks_stylegan2 as sg2

    G = sg2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs={"num_layers": 1},
                      synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    stylegan.save_pretrained(G, tmp_path / "g")
    assert fsyncs == ["file", "folder"] * 2
    assert sorted(os.listdir(tmp_path / "g")) == ["config.json", "generator.safetensors"]
    assert all(stat.S_IMODE(os.stat(p).st_mode) == umask_027 for p in (tmp_path / "g").iterdir())
    assert type(stylegan.from_pretrained(tmp_path / "g")).__name__ == "Generator"
