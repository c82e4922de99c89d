"""Feature networks: equality with the reference implementations on shared random weights, loaders, errors."""

import os

import numpy as np
import pytest
import torch

from avgen.errors import AvgenError, WeightsNotFoundError
from avgen.metrics import preprocess as pp
from avgen.metrics.networks import (EfficientNetImageExtractor, I3DExtractor, InceptionExtractor,
                                    MelceptionExtractor, is_torchscript_archive)
from avgen.models import I3D

from .helpers import calibrated, i3d_weights, inception_weights


def _images(n=3, h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_inception_equals_torch_fidelity_bit_for_bit(tmp_path):
    fe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    path = inception_weights(tmp_path)
    ours = InceptionExtractor(path, device="cpu")(_images())
    ref_net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased", "logits"],
                                             feature_extractor_weights_path=path).eval()
    with torch.no_grad():
        ref = ref_net(torch.from_numpy(_images()).permute(0, 3, 1, 2).contiguous())
    for name, r in zip(("pool", "logits_unbiased", "logits"), ref):
        torch.testing.assert_close(ours[name], r, rtol=1e-5, atol=1e-4)


def test_inception_pytorch_fid_protocol_equals_pytorch_fid(tmp_path, monkeypatch):
    pfi = pytest.importorskip("pytorch_fid.inception")
    path = inception_weights(tmp_path)
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: torch.load(path, weights_only=True))
    ref_net = pfi.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    with torch.no_grad():
        ref = ref_net(torch.from_numpy(_images()).permute(0, 3, 1, 2).float() / 255)[0].flatten(1)
    ours = InceptionExtractor(path, protocol="pytorch-fid", device="cpu")(_images())["pool"]
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-4)


def test_melception_layout_equals_torchvision_inception3(tmp_path):
    """SpecVQGAN builds Melception from torchvision's Inception3; its checkpoints must load and agree."""
    import torchvision

    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True, num_classes=309)
    tv.Conv2d_1a_3x3 = torchvision.models.inception.BasicConv2d(1, 32, kernel_size=3, stride=2)
    tv.maxpool1, tv.maxpool2 = torch.nn.Identity(), torch.nn.Identity()
    tv = calibrated(tv, torch.rand(2, 1, 80, 848))
    ckpt = tmp_path / "melception-test.pt"
    torch.save({"model": tv.state_dict(), "epoch": 3}, ckpt)  # the public file wraps the weights under 'model'
    stats = tmp_path / "train_means_stds.txt"
    rng = np.random.default_rng(0)
    np.savetxt(stats, np.stack([rng.uniform(0.2, 0.6, 80), rng.uniform(0.1, 0.3, 80)], 1), fmt="%0.8f")
    ex = MelceptionExtractor(str(ckpt), norm_stats=str(stats), device="cpu")
    mel = torch.rand(2, 80, 860)
    out = ex(mel)
    st = np.loadtxt(stats)
    x = (mel[..., 6:854] - torch.tensor(st[:, 0], dtype=torch.float32)[:, None]) / torch.tensor(st[:, 1],
                                                                                                 dtype=torch.float32)[:, None]
    with torch.no_grad():
        ref = tv(x.unsqueeze(1))
    torch.testing.assert_close(out["logits"], ref, rtol=1e-4, atol=1e-3)
    assert out["pool"].shape == (2, 2048) and "melception" in ex.profile()["network"]


def test_tf1_bilinear_resize_matches_reference_sampling():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).reshape(1, 2, 5, 7)
    y = pp.resize_bilinear_tf1(x, (3, 4))
    # TF1 (align_corners=False): output (i, j) samples input (i * 5/3, j * 7/4), upper neighbour clamped
    for i in range(3):
        for j in range(4):
            sy, sx = i * 5 / 3, j * 7 / 4
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            fy, fx = sy - y0, sx - x0
            img = x[0, 1]
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * fx
            bot = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * fx
            assert float(y[0, 1, i, j]) == pytest.approx(float(top + (bot - top) * fy), rel=1e-5)


def test_i3d_layout_shapes_and_pool_layer(tmp_path):
    net = I3D()
    keys = net.state_dict().keys()
    for k in ("Conv3d_1a_7x7.conv3d.weight", "Conv3d_1a_7x7.bn.running_var", "Mixed_3b.b1b.conv3d.weight",
              "Mixed_5c.b3b.bn.bias", "logits.conv3d.weight", "logits.conv3d.bias"):
        assert k in keys
    assert net.state_dict()["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert net.state_dict()["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    path = i3d_weights(tmp_path)
    clips = np.random.default_rng(1).integers(0, 256, (2, 16, 64, 80, 3), dtype=np.uint8)
    logits = I3DExtractor(path, device="cpu")(clips)["fvd"]
    pool = I3DExtractor(path, layer="pool", device="cpu")(clips)["fvd"]
    assert logits.shape == (2, 400) and pool.shape == (2, 1024)


def test_i3d_loads_checkpoints_without_num_batches_tracked(tmp_path):
    path = i3d_weights(tmp_path)
    sd = {k: v for k, v in torch.load(path, weights_only=True).items() if "num_batches_tracked" not in k}
    old = tmp_path / "rgb_imagenet.pt"
    torch.save(sd, old)
    clips = np.random.default_rng(2).integers(0, 256, (1, 16, 64, 64, 3), dtype=np.uint8)
    torch.testing.assert_close(I3DExtractor(str(old), device="cpu")(clips)["fvd"],
                               I3DExtractor(path, device="cpu")(clips)["fvd"])


def test_torchscript_i3d_path_on_a_scripted_detector(tmp_path):
    """StyleGAN-V's detector is called as det(x, rescale=False, resize=False, return_features=True)."""
    path = i3d_weights(tmp_path)
    net = I3D()
    net.load_state_dict(torch.load(path, weights_only=True))
    net.eval()
    traced = torch.jit.trace(net, torch.zeros(1, 3, 16, 224, 224))

    class Detector(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, rescale: bool = True, resize: bool = True, return_features: bool = False):
            if rescale:  # the real detector would map [0, 1] to [-1, 1]; we must call it with rescale=False
                x = x * 0.0
            y = self.inner(x)
            return y if return_features else torch.softmax(y, dim=1)

    scripted = torch.jit.script(Detector(traced))
    ts_path = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(scripted, str(ts_path))
    assert is_torchscript_archive(str(ts_path)) and not is_torchscript_archive(path)
    clips = np.random.default_rng(3).integers(0, 256, (2, 16, 72, 96, 3), dtype=np.uint8)
    ts = I3DExtractor(str(ts_path), device="cpu")
    assert ts.profile()["network"].endswith("(torchscript)")
    torch.testing.assert_close(ts(clips)["fvd"], I3DExtractor(path, device="cpu")(clips)["fvd"], rtol=1e-4,
                               atol=1e-4)


def test_missing_and_wrong_weights_give_clear_errors(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="pt_inception-2015-12-05"):
        InceptionExtractor(str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="rgb_imagenet.pt"):
        I3DExtractor(None)
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(AvgenError, match="expected layout"):
        I3DExtractor(str(wrong))
    evil = tmp_path / "evil.pt"
    torch.save({"x": os.getcwd, "y": torch.zeros(1)}, evil)  # a pickled callable: refused by weights_only
    with pytest.raises(AvgenError, match="weights-only"):
        InceptionExtractor(str(evil))


def test_efficientnet_offline_default_is_labelled_not_comparable():
    ex = EfficientNetImageExtractor(device="cpu")
    out = ex(_images(2))
    assert out["pool"].shape == (2, 1280) and out["logits"].shape == (2, 1000)
    prof = ex.profile()
    assert prof["comparable_with_published"] is False and "not comparable" in prof["note"]
