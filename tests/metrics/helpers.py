"""Weight files in the public layouts, built from seeded random networks (no downloads)."""

import os

import torch

from avgen.models import I3D, InceptionV3


def calibrated(net: torch.nn.Module, batch: torch.Tensor, seed: int = 0) -> torch.nn.Module:
    """Set every BatchNorm's running statistics from one batch so activations stay O(1) through a random deep net."""
    torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics exactly
    net.train()
    with torch.no_grad():
        net(batch)
    return net.eval()


def inception_weights(folder, seed: int = 0) -> str:
    path = os.path.join(folder, "pt_inception-test.pth")
    if not os.path.exists(path):
        torch.manual_seed(seed)
        net = calibrated(InceptionV3(variant="fid"), torch.rand(4, 3, 299, 299) * 2 - 1)
        torch.save(net.state_dict(), path)
    return path


def i3d_weights(folder, seed: int = 0) -> str:
    path = os.path.join(folder, "i3d_test_400.pt")
    if not os.path.exists(path):
        torch.manual_seed(seed)
        net = calibrated(I3D(), torch.rand(2, 3, 16, 224, 224) * 2 - 1)
        torch.save(net.state_dict(), path)
    return path
