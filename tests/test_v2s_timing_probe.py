"""tools/v2s_timing_probe.py: its pixel-difference representation and its refusal of a missing input."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("v2s_timing_probe.py")


def test_pixel_diff_marks_the_frame_where_one_corner_changes(tool, tmp_path):
    from avgen.media import write_video

    frames = np.full((22, 64, 64, 3), 40, np.uint8)  # 1 s at 21.5 fps-ish (22 frames at 22 fps)
    frames[10:, :16, :16] = 220  # the top-left cell lights up at frame 10 and stays lit
    path = str(tmp_path / "corner.mp4")
    write_video(path, frames, 21.5)
    d = tool.pixel_diff(path, 21).numpy()  # [21, 32]
    assert d.shape == (21, 32)
    assert int(d[:, 0].argmax()) == 10 and d[10, 0] > 10 * d[:, 1:16].max()  # only cell 0, only then
    assert d[11:, 0].max() < 0.1 * d[10, 0]  # a lit, still corner is no change
    s = tool.pixel_diff(path, 21, "pixel-grid-stabilised").numpy()  # --motion: the kind asked for
    assert s.shape == (21, 32) and int(s[:, 0].argmax()) == 10 and s[10, 0] > 10 * s[:, 1:16].max()


def test_missing_cache_is_one_line_and_exit_2(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cache_train" in err
