"""Weight files that are not weights (a pickle holding code, a TorchScript archive, a broken safetensors header, text,
an empty file) are refused by the visual encoder's and StyleGAN's loaders with one line naming the file, as their
own errors; torch's advice to retry with ``weights_only=False`` is never passed on and nothing from the file runs."""

from __future__ import annotations

import os
import shutil

import pytest

CASES = [("hostile_pt", "not a weights-only file"), ("torchscript_pt", "TorchScript archive"),
         ("text_mp4", "not a torch checkpoint"), ("empty", "empty")]


def _bad_weights(bad, tmp_path, name, suffix=".pt"):
    path = tmp_path / f"w{suffix}"
    if name == "empty":
        path.write_bytes(b"")
    else:
        shutil.copy(bad[name], path)
    return str(path)


def _assert_clean(error, path, needle, bad):
    text = str(error)
    assert path in text and needle in text, text
    assert "\n" not in text and "weights_only" not in text and "trusted source" not in text
    assert not os.path.exists(bad["marker"])


@pytest.mark.parametrize("name, needle", CASES + [("bad_safetensors", "header")], ids=[c[0] for c in CASES] + ["st"])
def test_visual_encoder_weights(bad, tmp_path, name, needle):
    from avgen.encoders import VisualEncoder
    from avgen.errors import AvgenError

    path = _bad_weights(bad, tmp_path, name, ".safetensors" if name == "bad_safetensors" else ".pt")
    with pytest.raises(AvgenError) as info:
        VisualEncoder("efficientnet-lite0", weights=path, device="cpu")
    _assert_clean(info.value, path, needle, bad)


def test_visual_encoder_weights_of_another_network(tmp_path):
    import torch

    from avgen.encoders import VisualEncoder
    from avgen.errors import AvgenError

    path = str(tmp_path / "other.pt")
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(AvgenError, match=r"other.pt: does not match EfficientNet-Lite0: missing \d+ tensor") as info:
        VisualEncoder("efficientnet-lite0", weights=path, device="cpu")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, needle", CASES, ids=[c[0] for c in CASES])
def test_stylegan_rosinality_loader(bad, tmp_path, name, needle):
    import stylegan

    path = _bad_weights(bad, tmp_path, name)
    with pytest.raises(stylegan.CheckpointError) as info:
        stylegan.load(path)
    _assert_clean(info.value, path, needle, bad)


def test_stylegan_folder_with_a_broken_safetensors_file(bad, tmp_path):
    import json

    import stylegan

    folder = tmp_path / "sg"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": stylegan.checkpoints.FORMAT_NAME, "generator": {
        "architecture": "stylegan2", "class": "Generator", "init_kwargs": {
            "z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 8, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 1}, "synthesis_kwargs": {"channel_base": 64, "channel_max": 8}}}}))
    shutil.copy(bad["bad_safetensors"], folder / "generator.safetensors")
    with pytest.raises(stylegan.CheckpointError) as info:
        stylegan.load(folder)
    _assert_clean(info.value, str(folder / "generator.safetensors"), "not a readable safetensors file", bad)
