"""Text-constrained editing in W+ on tiny seeded parts: the shared offset only touches the chosen layers and moves
frames towards the prompt; video inversion warm-starts each frame from the previous one."""

import json

import numpy as np
import pytest
import torch

from avgen.errors import AvgenError
from tests.test_s2v_train import TINY_CLIP


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    import open_clip

    from avgen.encoders.clip_teacher import ClipTeacher
    from stylegan.networks_stylegan2 import Generator

    root = tmp_path_factory.mktemp("edit")
    torch.manual_seed(0)
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=256, channel_max=32).eval().requires_grad_(False)
    cfg = root / "avgen-tiny-clip-edit.json"
    cfg.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(str(cfg))
    torch.save({"state_dict": open_clip.create_model("avgen-tiny-clip-edit").state_dict()}, root / "clip.pt")
    return G, ClipTeacher(str(cfg), weights=str(root / "clip.pt"))


def test_text_edit_changes_only_chosen_layers_and_moves_towards_prompt(parts):
    from avgen.pipelines.video_editing import clip_similarity, text_edit_ws
    from stylegan import render_frames as render

    G, clip = parts
    with torch.no_grad():
        ws = G.mapping(torch.randn([6, G.z_dim], generator=torch.Generator().manual_seed(1)), None)
    edited, delta = text_edit_ws(G, clip, ws, "a red sunset", layers=[3, 4, 5], steps=30, lr=0.1,
                                 generator=torch.Generator().manual_seed(0), progress=False)
    assert edited.shape == ws.shape and delta.shape == (1, G.num_ws, G.w_dim)
    assert torch.count_nonzero(delta[:, :3]) == 0 and torch.count_nonzero(delta[:, 3:]) > 0
    torch.testing.assert_close(edited - ws, delta.expand_as(ws))  # one offset shared by every frame
    before = clip_similarity(clip, render(G, ws), "a red sunset")
    after = clip_similarity(clip, render(G, edited), "a red sunset")
    assert after.mean() > before.mean() + 0.01, (before, after)
    with pytest.raises(AvgenError, match="no W"):
        text_edit_ws(G, clip, ws, "x", layers=[], progress=False)


def test_levels_to_layers_and_as_frames(tmp_path):
    from PIL import Image

    from avgen.pipelines.video_editing import as_frames, levels_to_layers

    groups = {"coarse": [0, 1], "mid": [2, 3], "fine": [4, 5, 6]}
    assert levels_to_layers(groups, ("fine", "coarse")) == [0, 1, 4, 5, 6]
    assert levels_to_layers(groups, "mid") == [2, 3]
    with pytest.raises(AvgenError, match="levels"):
        levels_to_layers(groups, ("top",))
    img = np.zeros([20, 30, 3], np.uint8)
    img[:, 15:] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    frames, fps, audio, sr = as_frames(str(tmp_path / "a.png"), 16)
    assert frames.shape == (1, 16, 16, 3) and fps is None and audio is None
    frames, *_ = as_frames(np.stack([img] * 5), 8, max_frames=3)
    assert frames.shape == (3, 8, 8, 3)
    with pytest.raises(AvgenError, match="uint8"):
        as_frames(np.zeros([2, 8, 8, 3], np.float32), 8)


def test_invert_frames_warm_starts_and_reconstructs(parts):
    from avgen.pipelines.video_editing import invert_frames
    from stylegan import render_frames as render
    from stylegan.projector import project

    G, _ = parts
    with torch.no_grad():
        w = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(2)), None)
    ws_true = torch.cat([w, w + 0.05 * torch.randn(w.shape, generator=torch.Generator().manual_seed(3))])
    frames = render(G, ws_true)
    ws = invert_frames(G, frames, steps=60, follow_steps=20, progress=False)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    err = np.abs(render(G, ws).astype(np.float32) - frames).mean()
    with torch.no_grad():
        avg = G.mapping(torch.randn([512, G.z_dim], generator=torch.Generator().manual_seed(0)), None).mean(0, keepdim=True)
    err_avg = np.abs(render(G, avg.repeat(2, 1, 1)).astype(np.float32) - frames).mean()
    assert err < 0.5 * err_avg, (err, err_avg)
    with pytest.raises(ValueError, match="init_ws"):
        project(G, torch.zeros(3, 16, 16), steps=1, perceptual=0, init_ws=torch.zeros(1, 2, G.w_dim), progress=False)
