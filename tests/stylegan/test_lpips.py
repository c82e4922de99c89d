"""LPIPS (VGG16, v0.1) equals the reference ``lpips`` package given the same weights (a random VGG16 saved by the
test in torchvision's layout; the linear weights shipped inside the lpips package)."""

import warnings

import pytest
import torch


def test_lpips_equals_reference_package(tmp_path):
    lpips = pytest.importorskip("lpips")
    import torchvision

    from stylegan.lpips import LPIPS, default_lin_weights

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()  # random backbone: nothing downloaded
    vgg = torchvision.models.vgg16(weights=None).state_dict()
    for k, v in ref.net.state_dict().items():  # slice{n}.{index}.{param} -> features.{index}.{param}
        _, index, param = k.split(".")
        vgg[f"features.{index}.{param}"] = v
    torch.save(vgg, tmp_path / "vgg16.pth")
    assert default_lin_weights() is not None
    ours = LPIPS(tmp_path / "vgg16.pth")
    x0 = torch.rand(3, 3, 48, 48) * 2 - 1
    x1 = (x0 + 0.3 * torch.randn_like(x0)).clamp(-1, 1)
    with torch.no_grad():
        torch.testing.assert_close(ours(x0, x1), ref(x0, x1).flatten(), rtol=1e-5, atol=1e-6)
    assert float(ours(x0, x0).abs().max()) < 1e-8
    with pytest.raises(FileNotFoundError, match="vgg16-397923af"):
        LPIPS(tmp_path / "missing.pth")
