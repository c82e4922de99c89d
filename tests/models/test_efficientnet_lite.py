"""EfficientNet-Lite0's folded inference path equals the op-by-op network it replaces."""

import torch

from avgen.models.backbones.efficientnet_lite import EfficientNetLite0


def _random_net(seed: int) -> EfficientNetLite0:
    g = torch.Generator().manual_seed(seed)
    net = EfficientNetLite0()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so folding has something to fold
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net.eval()


def test_folded_inference_equals_reference_and_follows_weight_changes():
    net = _random_net(0)
    g = torch.Generator().manual_seed(1)
    for size in ((32, 32), (37, 46)):  # even sizes pad asymmetrically at stride 2, odd ones symmetrically
        x = torch.randn(2, 3, *size, generator=g)
        with torch.no_grad():
            ref, fast = net.features_reference(x), net.features(x)
        assert fast.shape == (2, 1280)
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    # new weights (in-place load) must not reuse the folded copy of the old ones
    net.load_state_dict(_random_net(2).state_dict())
    with torch.no_grad():
        torch.testing.assert_close(net.features(x), net.features_reference(x), rtol=1e-5, atol=1e-5)
    # in train mode / with autograd the op-by-op path runs, so gradients reach the weights
    net.train()
    net.features(x).sum().backward()
    assert net._conv_stem.weight.grad is not None
