"""Inflated 3D ConvNet (I3D, Carreira & Zisserman 2017), RGB stream, for Frechet Video Distance.

State-dict keys follow the widely used PyTorch port of the Kinetics-400 weights (``rgb_imagenet.pt`` /
``i3d_pretrained_400.pt``): ``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``...
Convolutions and max-pools pad like TensorFlow's ``SAME`` (zeros, the extra pixel at the end), computed from the
input size at run time, because the weights come from a TF graph.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["I3D", "I3D_OUTPUTS"]

I3D_OUTPUTS = ("logits", "pool")


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (front, back) for one axis."""
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    t, h, w = x.shape[-3:]
    pt, ph, pw = (_same_pad(s, k, st) for s, k, st in zip((t, h, w), kernel, stride))
    return F.pad(x, (*pw, *ph, *pt))  # F.pad takes the last axis first


class Unit3D(nn.Module):
    """SAME-padded Conv3d -> BN (eps 1e-3) -> ReLU; the classifier unit has a bias and neither BN nor ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), *, classifier: bool = False):
        super().__init__()
        self.kernel, self.stride, self.classifier = tuple(kernel), tuple(stride), classifier
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, stride=self.stride, bias=classifier)
        if not classifier:
            self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        return x if self.classifier else F.relu(self.bn(x))


class MaxPool3dSame(nn.Module):
    """Max-pool after zero SAME padding (inputs are post-ReLU, so zeros never win over real activations)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock3D(nn.Module):
    """Four branches: 1x1x1 | 1x1x1 -> 3x3x3 | 1x1x1 -> 3x3x3 | maxpool 3x3x3 -> 1x1x1; concatenated on channels."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(cin, widths[0])
        self.b1a = Unit3D(cin, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a = Unit3D(cin, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(cin, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


# (name, branch widths) of the nine Inception blocks, in order; pools sit between the groups.
_BLOCKS = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)


class I3D(nn.Module):
    """Input: RGB clips ``[B, 3, T, H, W]`` in [-1, 1] (224x224 for the Kinetics weights).

    ``forward(x, output="logits")`` gives the Kinetics class logits averaged by a [2, 7, 7] window and flattened over
    the remaining time steps: ``[B, num_classes]`` for 16-frame clips, ``[B, num_classes * T']`` for longer ones (as the
    port's forward returns them). ``output="pool"`` gives the 1024-d mean of the last Inception block over time and
    space.
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        super().__init__()
        self.num_classes = num_classes
        # Stem
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        # Inception blocks with two reductions (time and space) before the 4th and 5th groups
        cin = 192
        for name, widths in _BLOCKS:
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            block = InceptionBlock3D(cin, widths)
            setattr(self, name, block)
            cin = block.out_channels
        self.logits = Unit3D(cin, num_classes, classifier=True)
        self._order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
                       "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                       "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"]

    def forward(self, x: torch.Tensor, output: str = "logits") -> torch.Tensor:
        if output not in I3D_OUTPUTS:
            raise ValueError(f"output must be one of {I3D_OUTPUTS}, got {output!r}")
        if x.ndim != 5:
            raise ValueError(f"I3D expects [B, C, T, H, W], got {tuple(x.shape)}")
        for name in self._order:
            x = getattr(self, name)(x)  # -> [B, 1024, T/8, H/32, W/32]
        if output == "pool":
            return x.mean(dim=(2, 3, 4))  # [B, 1024]
        t, h, w = x.shape[-3:]
        if t < 2 or h < 7 or w < 7:
            raise ValueError(f"clip too small for the [2, 7, 7] logits pool (features {t}x{h}x{w}); "
                             "use >= 9 frames at 224x224")
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # dropout is identity at inference
        x = self.logits(x)  # [B, classes, T', 1, 1] at 224x224
        return x.flatten(1)  # class-major, as the port's [B, classes, T'] output flattened
