"""The fp32 CPU inference path of the networks (autograd off: in place, channels-last, non-fused modulation) computes
what the general path (autograd on) computes, for every StyleGAN2 architecture and for StyleGAN3."""

import pytest
import torch

from stylegan import networks_stylegan2 as sg2
from stylegan import networks_stylegan3 as sg3
from stylegan.ops.fast_cpu import cached, cpu_inference, scale_bias_act_
from stylegan.ops import bias_act


def _both_paths(G, ws, **kw):
    general = G.synthesis(ws, **kw).detach()  # autograd on: the general path
    with torch.no_grad():
        assert cpu_inference(ws)
        fast = G.synthesis(ws, **kw)
    return general, fast


def _took_inference_path(G) -> bool:
    return any("_cpu_inference_cache" in m.__dict__ for m in G.synthesis.modules())


@pytest.mark.parametrize("architecture", ["skip", "orig", "resnet"])
def test_stylegan2_inference_path_equals_general_path(architecture):
    torch.manual_seed(0)
    G = sg2.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                      channel_base=128, channel_max=16, num_fp16_res=1, conv_clamp=4,
                      synthesis_kwargs=dict(architecture=architecture)).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if "noise_strength" in name or name.endswith("bias"):
                p.normal_()  # nonzero noise and biases, and a clamp the activations reach
    ws = G.mapping(torch.randn(3, 16), None).detach()
    ws = ws + torch.randn_like(ws)  # different w per layer
    for noise_mode in ("const", "none"):
        general, fast = _both_paths(G, ws, noise_mode=noise_mode)
        assert fast.shape == general.shape and fast.is_contiguous()
        assert (fast - general).abs().max() <= 1e-4 * general.abs().max(), noise_mode
    assert _took_inference_path(G)
    assert general.abs().max() > 1  # the clamp at 4 on the layers was reached or nearly so; not a trivial image


@pytest.mark.parametrize("batch", [1, 2])  # one image convolves with its own weights, a batch shares one conv
def test_stylegan3_inference_path_equals_general_path(batch):
    torch.manual_seed(1)
    G = sg3.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=32,
                      num_layers=4, num_critical=2, margin_size=4).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias"):
                p.normal_()
    ws = G.mapping(torch.randn(batch, 16), None).detach()
    general, fast = _both_paths(G, ws, noise_mode="const")
    assert _took_inference_path(G)
    assert fast.is_contiguous() and (fast - general).abs().max() <= 1e-5 * general.abs().max()


@pytest.mark.parametrize("act", ["lrelu", "linear", "relu", "tanh"])
def test_scale_bias_act_in_place_equals_bias_act(act):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 4, 3, generator=g)
    scale, noise, b = torch.rand(2, 5, generator=g) + 0.5, torch.randn(4, 3, generator=g), torch.randn(5, generator=g)
    want = bias_act(x * scale[:, :, None, None] + noise, b, act=act, gain=1.7, clamp=1.0)
    y = x.clone()
    got = scale_bias_act_(y, scale, noise, b, act=act, gain=1.7, clamp=1.0)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_cache_follows_in_place_updates():
    m = torch.nn.Linear(2, 2)
    calls = []
    f = lambda t: calls.append(1) or t * 2  # noqa: E731
    first = cached(m, "w", m.weight, f)
    assert cached(m, "w", m.weight, f) is first and len(calls) == 1
    with torch.no_grad():
        m.weight.add_(1)  # e.g. an optimizer step or load_state_dict
    torch.testing.assert_close(cached(m, "w", m.weight, f), m.weight.detach() * 2)
    assert len(calls) == 2
