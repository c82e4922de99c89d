"""stylegan/ stands alone: it imports, saves, loads, synthesises, renders and projects with avgen made unimportable,
its module-level imports are torch/NumPy/stdlib/its own, and the only avgen import is the projector CLI's optional
default-loss plugin."""

import ast
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STYLEGAN = os.path.join(REPO, "stylegan")

# Makes the named top-level packages unimportable in a fresh interpreter, as if they were not installed:
# ``import avgen`` (and of any submodule) raises ImportError; importlib.util.find_spec gives None.
BLOCKER = """
import sys
for _name in {blocked!r}:
    sys.modules[_name] = None
"""

TINY_G = ("dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2), "
          "channel_base=256, channel_max=32)")


def _run(blocked, body, *args, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO})


def test_stylegan_works_without_avgen(tmp_path):
    r = _run({"avgen"}, f"""
        import torch
        import stylegan
        from stylegan import networks_stylegan2 as sg2
        from stylegan.projector import project

        folder = sys.argv[1]
        torch.manual_seed(0)
        G = sg2.Generator(**{TINY_G}).eval()
        stylegan.save_pretrained(G, folder)
        G2 = stylegan.load(folder)
        z = stylegan.z_from_seeds([0, 1], G2.z_dim)
        ws = G2.mapping(z, None, truncation_psi=0.7)
        with torch.no_grad():
            img = G2.synthesis(ws, noise_mode="const")
            ref = G.synthesis(ws, noise_mode="const")
        assert img.shape == (2, 3, 16, 16) and torch.equal(img, ref)
        frames = stylegan.render_frames(G2, ws, chunk=1)
        assert frames.shape == (2, 16, 16, 3) and frames.dtype.name == "uint8"
        assert (frames == stylegan.to_uint8(img)).all()
        groups = stylegan.layer_groups(G2.num_ws, (1, 2))
        assert stylegan.levels_to_layers(groups, ("fine", "coarse")) == [0] + list(range(2, G2.num_ws))
        try:
            stylegan.levels_to_layers(groups, ("top",))
        except ValueError as e:
            assert "levels" in str(e)
        else:
            raise AssertionError("no ValueError")

        target = img[0]
        res = project(G2, target, steps=2, perceptual=0.0, perceptual_fn=None, w_avg_samples=64, progress=False)
        assert res.ws.shape == (1, G2.num_ws, G2.w_dim) and len(res.history) == 2
        assert "perceptual" not in res.history[0]
        l1 = lambda a, b: (a - b).abs().mean(dim=[1, 2, 3])
        res = project(G2, target, steps=2, perceptual=1.0, perceptual_fn=l1, w_avg_samples=64, progress=False)
        assert all("perceptual" in h for h in res.history)
        try:
            project(G2, target, steps=1, perceptual=1.0, progress=False)
        except ValueError as e:
            assert "perceptual_fn" in str(e)
        else:
            raise AssertionError("no ValueError")
        assert sys.modules["avgen"] is None and not any(m.startswith("avgen.") for m in sys.modules)
        print("ok")
    """, tmp_path / "g", tmp_path=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_optional_dependencies_are_imported_lazily(tmp_path):
    """Every stylegan module imports without Pillow, safetensors, tqdm, torchvision, SciPy or avgen; the projector
    runs with its progress bar on and tqdm missing."""
    modules = sorted("stylegan." + os.path.relpath(os.path.join(d, f), STYLEGAN)[:-3].replace(os.sep, ".")
                     for d, _, fs in os.walk(STYLEGAN) for f in fs if f.endswith(".py"))
    modules = [m[:-len(".__init__")] if m.endswith(".__init__") else m for m in modules]
    r = _run({"avgen", "PIL", "safetensors", "tqdm", "torchvision", "scipy"}, f"""
        import importlib
        import torch
        for name in {modules!r}:
            importlib.import_module(name)
        from stylegan import networks_stylegan2 as sg2
        from stylegan.projector import project
        G = sg2.Generator(**{TINY_G}).eval()
        res = project(G, torch.zeros(3, 16, 16), steps=2, perceptual=0.0, w_avg_samples=64, progress=True)
        assert len(res.history) == 2
        print("ok")
    """, tmp_path=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    assert len(modules) > 10


def test_projector_cli_without_avgen(tmp_path):
    """Default loss (EfficientNet plugin) without avgen: exit 2 and one line naming the way out; --perceptual 0
    needs no avgen."""
    import torch
    from PIL import Image

    import stylegan
    from stylegan import networks_stylegan2 as sg2

    torch.manual_seed(0)
    stylegan.save_pretrained(sg2.Generator(**eval(TINY_G)).eval(), tmp_path / "g")
    Image.fromarray((np.random.RandomState(0).rand(20, 24, 3) * 255).astype(np.uint8)).save(tmp_path / "t.png")
    body = """
        import runpy
        sys.argv = ["stylegan.projector"] + sys.argv[1:]
        runpy.run_module("stylegan.projector", run_name="__main__")
    """
    common = ["--checkpoint", tmp_path / "g", "--target", tmp_path / "t.png", "--steps", "2", "--device", "cpu"]
    r = _run({"avgen"}, body, *common, "--out", tmp_path / "p1", tmp_path=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "avgen" in lines[0] and "--lpips-vgg" in lines[0], r.stderr
    assert not (tmp_path / "p1").exists()
    r = _run({"avgen"}, body, *common, "--out", tmp_path / "p2", "--perceptual", "0", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "p2" / "projected.png").is_file() and (tmp_path / "p2" / "ws.safetensors").is_file()


def _imports(tree):
    """(top-level module name or '.' for relative imports, enclosing function names) for every import."""
    out = []

    def visit(node, funcs):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs = funcs + (node.name,)
        if isinstance(node, ast.Import):
            out.extend((a.name.split(".")[0], funcs) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(("." if node.level else node.module.split(".")[0], funcs))
        for child in ast.iter_child_nodes(node):
            visit(child, funcs)

    visit(tree, ())
    return out


def test_no_avgen_import_outside_the_cli_plugin():
    allowed_module_level = {"torch", "numpy", ".", "__future__"} | set(sys.stdlib_module_names)
    seen_plugin = False
    for d, _, files in os.walk(STYLEGAN):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, REPO)
            with open(path, encoding="utf-8") as fh:
                imports = _imports(ast.parse(fh.read(), filename=path))
            for module, funcs in imports:
                if module == "avgen":
                    assert (rel, funcs) == (os.path.join("stylegan", "projector.py"), ("_default_perceptual",)), \
                        f"{rel}: avgen imported in {funcs or 'module scope'}"
                    seen_plugin = True
                if not funcs:
                    assert module in allowed_module_level, f"{rel}: module-level import of {module}"
    assert seen_plugin


def _both_loaders(path, resolution):
    from avgen.data.images import load_square_image as avgen_load

    from stylegan.projector import load_square_image

    a, b = avgen_load(str(path), resolution), load_square_image(path, resolution)
    assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape == (resolution, resolution, 3)
    return a, b


@pytest.mark.parametrize("size,mode,ext", [((53, 40), "RGB", "png"), ((40, 61), "RGBA", "png"),
                                           ((37, 37), "L", "png"), ((90, 71), "RGB", "jpg")])
def test_square_loader_matches_avgen(tmp_path, size, mode, ext):
    from PIL import Image

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx * yy) % 256], -1).astype(np.uint8)
    rgb = np.clip(rgb + np.random.RandomState(w * h).randint(-30, 30, rgb.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    im = im.convert(mode) if mode != "RGBA" else Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA")
    path = tmp_path / f"img.{ext}"
    im.save(path)
    for res in (16, 32, 64):
        a, b = _both_loaders(path, res)
        np.testing.assert_array_equal(a, b)


def test_square_loader_matches_avgen_on_a_real_frame(tmp_path, shared_samples):
    from PIL import Image

    from avgen.media import read_video

    from ..conftest import sample_ids

    frames, _ = read_video(os.path.join(shared_samples, "video", sample_ids(shared_samples)[0] + ".mp4"), max_frames=1)
    Image.fromarray(frames[0]).save(tmp_path / "frame.jpg", quality=90)
    for res in (32, 128, 256):
        a, b = _both_loaders(tmp_path / "frame.jpg", res)
        np.testing.assert_array_equal(a, b)
