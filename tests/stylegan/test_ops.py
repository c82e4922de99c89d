"""Custom ops: reference path against first-principles oracles, gradients to second order, CUDA vs reference."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.ops import bias_act, conv2d_resample, filtered_lrelu, setup_filter, upfirdn2d
from stylegan.ops import _plugin

from . import reference as R


def _upfirdn_1d_oracle(x, taps, up, down, pad0, pad1):
    """The definition, loop by loop, in float64."""
    u = np.zeros(len(x) * up)
    u[::up] = x
    u = np.concatenate([np.zeros(max(pad0, 0)), u, np.zeros(max(pad1, 0))])
    u = u[max(-pad0, 0): len(u) - max(-pad1, 0)]
    out = [sum(u[i + k] * taps[len(taps) - 1 - k] for k in range(len(taps))) for i in range(len(u) - len(taps) + 1)]
    return np.array(out)[::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)), (3, 2, (4, -1)), (2, 2, (-1, 3))])
def test_upfirdn2d_matches_1d_definition_and_scipy(up, down, pad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 1, 11, generator=g, dtype=torch.float64)
    taps = torch.tensor([1.0, 2.0, 5.0, -1.0, 0.5])
    y = upfirdn2d(x, taps[None, :].float(), up=[up, 1], down=[down, 1], padding=[pad[0], pad[1], 0, 0], impl="ref")
    want = _upfirdn_1d_oracle(x[0, 0, 0].numpy(), taps.double().numpy(), up, down, *pad)
    np.testing.assert_allclose(y[0, 0, 0].numpy(), want, rtol=1e-6, atol=1e-6)
    # scipy.signal.upfirdn is the same op with 'full' framing: padding taps-1 on both sides, no up-trailing zeros.
    scipy_signal = pytest.importorskip("scipy.signal")
    full = scipy_signal.upfirdn(taps.double().numpy(), x[0, 0, 0].numpy(), up=up, down=down)
    y_full = upfirdn2d(x, taps[None, :].float(), up=[up, 1], down=[down, 1], padding=[4, 4 - (up - 1), 0, 0], impl="ref")
    np.testing.assert_allclose(y_full[0, 0, 0].numpy(), full[: y_full.shape[-1]], rtol=1e-6, atol=1e-6)


def test_polyphase_reference_equals_the_step_by_step_definition():
    """The reference path skips the inserted zeros and the discarded outputs (polyphase, strided); it must equal
    zero insertion + pad + filter + decimation for every up/down/padding/filter shape, negative padding included."""
    from stylegan.ops.upfirdn2d import _upfirdn2d_direct, _upfirdn2d_ref

    rng = np.random.default_rng(0)
    checked = 0
    while checked < 60:
        up, down = tuple(int(v) for v in rng.integers(1, 5, 2)), tuple(int(v) for v in rng.integers(1, 4, 2))
        f = torch.rand(int(rng.integers(1, 14)), dtype=torch.float64) if rng.random() < 0.5 else \
            torch.rand(int(rng.integers(1, 7)), int(rng.integers(1, 7)), dtype=torch.float64)
        h, w = (int(v) for v in rng.integers(3, 10, 2))
        pad = [int(v) for v in rng.integers(-3, 7, 4)]
        if w * up[0] + pad[0] + pad[1] < f.shape[-1] or h * up[1] + pad[2] + pad[3] < f.shape[0]:
            continue
        x = torch.from_numpy(rng.normal(size=(2, 3, h, w)))
        flip, gain = bool(rng.random() < 0.5), float(rng.choice([1.0, 4.0]))
        want = _upfirdn2d_direct(x, f, up, down, pad, flip, gain)
        torch.testing.assert_close(_upfirdn2d_ref(x, f, up, down, pad, flip, gain), want, rtol=1e-12, atol=1e-12)
        checked += 1


def test_transposed_convolution_path_equals_the_step_by_step_definition(monkeypatch):
    """Upsampling without decimation runs as a depthwise conv_transpose2d when the padding fits it (every StyleGAN3
    layer and upsample2d): equal to the definition for paddings built to fit, 2D and separable filters, both
    flips and memory layouts, and the path is really taken."""
    import importlib

    U = importlib.import_module("stylegan.ops.upfirdn2d")
    taken = []
    real = U._transposed_pass
    monkeypatch.setattr(U, "_transposed_pass", lambda *a: taken.append(real(*a) is not None) or real(*a))
    rng = np.random.default_rng(3)
    for case in range(24):
        up = (int(rng.integers(1, 5)), int(rng.integers(2, 5)))
        sep = case % 2 == 0
        taps = (int(rng.integers(2, 13)),) * 2 if sep else tuple(int(v) for v in rng.integers(1, 7, 2))
        f = torch.rand(taps[0], dtype=torch.float64) if sep else torch.rand(taps[1], taps[0], dtype=torch.float64)
        pad = []
        for u, k in zip(up, taps):  # start = k - 1 - p0 >= 0 and output padding p1 - p0 + u - 1 in [0, u)
            p0 = int(rng.integers(0, k))
            pad += [p0, p0 - u + 1 + int(rng.integers(0, u))]
        h, w = (int(v) for v in rng.integers(3, 9, 2))
        if w * up[0] + pad[0] + pad[1] < taps[0] or h * up[1] + pad[2] + pad[3] < taps[1]:
            continue
        x = torch.from_numpy(rng.normal(size=(2, 3, h, w)))
        if case % 3 == 0:
            x = x.contiguous(memory_format=torch.channels_last)
        flip = bool(case % 4 < 2)
        want = U._upfirdn2d_direct(x, f, up, (1, 1), pad, flip, 4.0)
        torch.testing.assert_close(U._upfirdn2d_ref(x, f, up, (1, 1), pad, flip, 4.0), want, rtol=1e-12, atol=1e-12)
    assert sum(taken) >= 20


def test_separable_and_2d_filters_agree():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 9, 7, generator=g)
    f1 = setup_filter(torch.rand(8, generator=g) + 0.1, separable=True)
    f2 = torch.outer(f1, f1)
    for kw in (dict(up=2, padding=[4, 3, 4, 3]), dict(down=2, padding=[3, 4, 3, 4]), dict(up=3, down=2, padding=5)):
        torch.testing.assert_close(upfirdn2d(x, f1, impl="ref", **kw), upfirdn2d(x, f2, impl="ref", **kw),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("up,down,k,flip", [(1, 1, 3, True), (2, 1, 3, False), (2, 1, 3, True), (1, 2, 3, True),
                                            (2, 1, 1, True), (1, 2, 1, True), (2, 2, 3, True), (1, 1, 1, True)])
def test_conv2d_resample_equals_generic_definition(up, down, k, flip):
    """Fast paths (transposed / strided conv, 1x1 shortcuts) against: zero insertion, pad, FIR, conv, decimate."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64)
    w = torch.randn(5, 4, k, k, generator=g, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    padding = k // 2
    got = conv2d_resample(x, w, f, up=up, down=down, padding=padding, flip_weight=flip)
    # Generic: total padding per side as the op defines it, then FIR (gain up^2) and the convolution, then decimate.
    p0, p1 = padding, padding
    if up > 1:
        p0, p1 = p0 + (4 + up - 1) // 2, p1 + (4 - up) // 2
    if down > 1:
        p0, p1 = p0 + (4 - down + 1) // 2, p1 + (4 - down) // 2
    u = R.pad(R.zero_insert(x, up), p0, p1, p0, p1)
    if up > 1 or down > 1:
        u = R.fir(u, f.double() * (up * up))
    u = F.conv2d(u, w if flip else w.flip([2, 3]))
    if up > 1 and down > 1:  # both: low-pass after the upsampling and again before the decimation
        u = R.fir(u, f.double())
    want = u[:, :, ::down, ::down]
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("up,down,pad,sep", [(2, 1, [2, 1, 2, 1], False), (1, 2, [1, 1, 1, 1], False),
                                            (2, 2, [5, 4, 3, 6], True), (3, 1, [-1, 2, 4, 0], True)])
def test_adjoint_used_by_the_cuda_backward_equals_autograd(up, down, pad, sep):
    """The CUDA path's gradient is another upfirdn2d (up/down swapped, filter flipped, mirrored padding); check that
    formula on CPU against autograd through the reference op."""
    from stylegan.ops.upfirdn2d import _pair, _upfirdn2d_grad, _upfirdn2d_ref

    g = torch.Generator().manual_seed(5)
    f = setup_filter(torch.rand(8, generator=g) + 0.1, separable=sep)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64, requires_grad=True)
    y = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(y, x, dy)
    got = _upfirdn2d_grad(dy, f, tuple(x.shape), _pair(up, "up"), _pair(down, "down"), tuple(pad), False, 1.0,
                          cuda=False)
    assert _upfirdn2d_ref is not None
    torch.testing.assert_close(got, want)


def test_activation_derivatives_used_by_the_cuda_backward():
    """The CUDA bias_act backward is written out per activation; check each against autograd."""
    from stylegan.ops.bias_act import ACTIVATIONS, _act_derivative

    z = (torch.linspace(-4, 4, 41, dtype=torch.float64) + 0.013).requires_grad_(True)
    for act, spec in ACTIVATIONS.items():
        (want,) = torch.autograd.grad(spec.fn(z, 0.2).sum(), z)
        torch.testing.assert_close(_act_derivative(z.detach(), act, 0.2), want, msg=act)


def test_bias_act_matches_formula_for_every_activation():
    x = torch.linspace(-3, 3, 25, dtype=torch.float64).reshape(1, 5, 5)
    b = torch.tensor([0.1, -0.2, 0.3, 0.0, 1.0], dtype=torch.float64)
    z = x + b[None, :, None]
    formulas = {"linear": z, "relu": F.relu(z) * math.sqrt(2), "lrelu": F.leaky_relu(z, 0.2) * math.sqrt(2),
                "tanh": torch.tanh(z), "sigmoid": torch.sigmoid(z), "elu": F.elu(z), "selu": F.selu(z),
                "softplus": F.softplus(z), "swish": torch.sigmoid(z) * z * math.sqrt(2)}
    for act, want in formulas.items():
        torch.testing.assert_close(bias_act(x, b, act=act, impl="ref"), want)
    torch.testing.assert_close(bias_act(x, b, act="lrelu", clamp=0.5, impl="ref"),
                               (F.leaky_relu(z, 0.2) * math.sqrt(2)).clamp(-0.5, 0.5))


def test_second_order_gradients_of_reference_ops():
    """R1 needs d/dtheta of |dD/dx|^2: gradgradcheck through every op in float64."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1])
    fu = setup_filter(torch.rand(8, generator=g) + 0.1, separable=True)
    cases = {
        "bias_act": (lambda x, b: bias_act(x, b, act="lrelu", impl="ref"), (x, b)),
        "upfirdn2d": (lambda x: upfirdn2d(x, f, up=2, down=1, padding=[2, 1, 2, 1], impl="ref"), (x,)),
        "conv_up": (lambda x, w: conv2d_resample(x, w, f, up=2, padding=1, flip_weight=False), (x, w)),
        "conv_down": (lambda x, w: conv2d_resample(x, w, f, down=2, padding=1), (x, w)),
        "filtered_lrelu": (lambda x, b: filtered_lrelu(x, fu, fu, b, up=2, down=2, padding=[7, 7, 7, 7], impl="ref"),
                           (x, b)),
    }
    for name, (fn, inputs) in cases.items():
        assert torch.autograd.gradcheck(fn, inputs), name
        assert torch.autograd.gradgradcheck(fn, inputs), name


def test_ops_mode_env(monkeypatch):
    monkeypatch.setenv("AVGEN_CUDA_OPS", "bogus")
    with pytest.raises(ValueError, match="AVGEN_CUDA_OPS"):
        _plugin.ops_mode()
    monkeypatch.setenv("AVGEN_CUDA_OPS", "ref")
    assert not _plugin.use_cuda(torch.zeros(1), None)


def test_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    """Without a CUDA toolchain get_plugin warns once and returns None; AVGEN_CUDA_OPS=cuda makes it an error."""
    import stylegan.ops._plugin as plugin

    monkeypatch.setattr(plugin, "_plugins", {})
    monkeypatch.setattr(plugin, "_failed", {})
    monkeypatch.setenv("AVGEN_EXTENSIONS_DIR", str(tmp_path))
    import torch.utils.cpp_extension as ext

    def broken(*a, **k):
        raise RuntimeError("nvcc not found")

    monkeypatch.setattr(ext, "load", broken)
    monkeypatch.setenv("AVGEN_CUDA_OPS", "auto")
    with pytest.warns(RuntimeWarning, match="reference implementation"):
        assert plugin.get_plugin("avgen_upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"]) is None
    assert plugin.get_plugin("avgen_upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"]) is None  # no second warning
    monkeypatch.setattr(plugin, "_failed", {})
    monkeypatch.setenv("AVGEN_CUDA_OPS", "cuda")
    with pytest.raises(RuntimeError, match="AVGEN_CUDA_OPS=cuda"):
        plugin.get_plugin("avgen_upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"])


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.gpu
@requires_cuda
def test_cuda_ops_match_reference(monkeypatch):
    monkeypatch.setenv("AVGEN_CUDA_OPS", "cuda")  # a failed build is an error here
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(4, 8, 32, 32, device="cuda", generator=g, requires_grad=True)
    b = torch.randn(8, device="cuda", generator=g, requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device="cuda")
    fu = setup_filter(torch.rand(12) + 0.1, separable=True, device="cuda")
    cases = {
        "bias_act": lambda impl: bias_act(x, b, act="lrelu", clamp=2.0, impl=impl),
        "upfirdn2d_up": lambda impl: upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl=impl),
        "upfirdn2d_down": lambda impl: upfirdn2d(x, fu, down=2, padding=[5, 5, 5, 5], impl=impl),
        "filtered_lrelu": lambda impl: filtered_lrelu(x, fu, fu, b, up=2, down=2, padding=[11, 11, 11, 11],
                                                      clamp=1.5, impl=impl),
    }
    for name, fn in cases.items():
        y_ref, y_cuda = fn("ref"), fn("cuda")
        assert _rel(y_cuda, y_ref) < 1e-4, name
        gy = torch.randn_like(y_ref)
        g_ref = torch.autograd.grad(y_ref, [x, b] if "bias" in name or "lrelu" in name else [x], gy)
        g_cuda = torch.autograd.grad(y_cuda, [x, b] if "bias" in name or "lrelu" in name else [x], gy)
        for a, r in zip(g_cuda, g_ref):
            assert _rel(a, r) < 1e-4, f"{name} grad"


@pytest.mark.gpu
@requires_cuda
def test_cuda_second_order_gradients(monkeypatch):
    monkeypatch.setenv("AVGEN_CUDA_OPS", "cuda")
    x = torch.randn(1, 2, 6, 6, device="cuda", dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, device="cuda", dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device="cuda")
    assert torch.autograd.gradgradcheck(lambda x, b: bias_act(x, b, act="lrelu", impl="cuda"), (x, b))
    assert torch.autograd.gradgradcheck(lambda x: upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl="cuda"), (x,))
