"""Fused bias + activation + gain + clamp: ``clamp(act(x + b) * gain, -clamp, clamp)``.

The activation table (names, default slope and gain) follows the StyleGAN2-ADA conventions so that networks built
from their checkpoints use identical gains. The CUDA path fuses the forward pass into one kernel; its backward pass
is written in differentiable PyTorch ops, so gradients of any order agree with the reference path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ._plugin import get_plugin, use_cuda

__all__ = ["bias_act", "ACTIVATIONS", "Activation"]


@dataclass(frozen=True)
class Activation:
    fn: Callable[[torch.Tensor, float], torch.Tensor]  # (x, alpha) -> y
    def_alpha: float
    def_gain: float
    cuda_id: int


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0, 1),
    "relu": Activation(lambda x, a: F.relu(x), 0.0, math.sqrt(2), 2),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2), 3),
    "tanh": Activation(lambda x, a: torch.tanh(x), 0.0, 1.0, 4),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.0, 1.0, 5),
    "elu": Activation(lambda x, a: F.elu(x), 0.0, 1.0, 6),
    "selu": Activation(lambda x, a: F.selu(x), 0.0, 1.0, 7),
    "softplus": Activation(lambda x, a: F.softplus(x), 0.0, 1.0, 8),
    "swish": Activation(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2), 9),
}


def _resolve(act: str, alpha: float | None, gain: float | None) -> tuple[Activation, float, float]:
    if act not in ACTIVATIONS:
        raise ValueError(f"act={act!r}: known activations are {', '.join(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    return spec, float(spec.def_alpha if alpha is None else alpha), float(spec.def_gain if gain is None else gain)


def _bias_act_ref(x: torch.Tensor, b: torch.Tensor | None, dim: int, spec: Activation, alpha: float, gain: float,
                  clamp: float | None) -> torch.Tensor:
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)  # broadcast the bias along ``dim``
    x = spec.fn(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def _act_derivative(z: torch.Tensor, act: str, alpha: float) -> torch.Tensor:
    """d act(z) / dz written in differentiable ops, so the CUDA path has gradients of any order."""
    if act == "linear":
        return torch.ones_like(z)
    if act == "relu":
        return (z > 0).to(z.dtype)
    if act == "lrelu":
        return torch.where(z > 0, torch.ones_like(z), torch.full_like(z, alpha))
    if act == "tanh":
        return 1 - torch.tanh(z).square()
    if act == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1 - s)
    if act == "elu":
        return torch.where(z > 0, torch.ones_like(z), torch.exp(z))
    if act == "selu":
        lam, a = 1.0507009873554805, 1.6732632423543772
        return lam * torch.where(z > 0, torch.ones_like(z), a * torch.exp(z))
    if act == "softplus":
        return torch.sigmoid(z)
    s = torch.sigmoid(z)  # swish
    return s + z * s * (1 - s)


class _BiasActCuda(torch.autograd.Function):
    """Forward in one CUDA kernel; backward in PyTorch ops (recorded when ``create_graph``, hence any order)."""

    @staticmethod
    def forward(ctx, x, b, dim, act, alpha, gain, clamp):
        plugin = get_plugin("avgen_bias_act", ["bias_act.cpp", "bias_act.cu"])
        spec = ACTIVATIONS[act]
        bc = b.contiguous() if b is not None else torch.empty([0], dtype=x.dtype, device=x.device)
        y = plugin.bias_act(x.contiguous(), bc, dim, spec.cuda_id, alpha, gain, -1.0 if clamp is None else float(clamp))
        ctx.save_for_backward(x, b if b is not None else torch.empty([0], device=x.device))
        ctx.cfg = (b is not None, dim, act, alpha, gain, clamp)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        has_b, dim, act, alpha, gain, clamp = ctx.cfg
        z = x
        if has_b:
            shape = [1] * x.ndim
            shape[dim] = -1
            z = x + b.reshape(shape)
        dx = dy * _act_derivative(z, act, alpha) * gain
        if clamp is not None and clamp >= 0:
            y = ACTIVATIONS[act].fn(z, alpha) * gain
            dx = dx * ((y >= -clamp) & (y <= clamp)).to(dx.dtype)  # same convention as torch.clamp's gradient
        db = dx.sum([d for d in range(x.ndim) if d != dim]) if has_b else None
        return dx, db, None, None, None, None, None


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, *, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None,
             impl: str | None = None) -> torch.Tensor:
    """``clamp(act(x + b[broadcast along dim], alpha) * gain)``; ``gain``/``alpha`` default to the activation's.

    ``impl``: 'ref' | 'cuda' | None (follow ``AVGEN_CUDA_OPS``). The CUDA kernel runs only for CUDA tensors and only if
    it builds; otherwise the reference path computes the same values.
    """
    spec, alpha, gain = _resolve(act, alpha, gain)
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[dim]):
        raise ValueError(f"bias_act: bias of shape {tuple(b.shape)} does not match x.shape[{dim}]={x.shape[dim]}")
    if use_cuda(x, impl) and x.dtype in (torch.float16, torch.float32, torch.float64):
        if get_plugin("avgen_bias_act", ["bias_act.cpp", "bias_act.cu"]) is not None:
            return _BiasActCuda.apply(x, b, dim % x.ndim, act, alpha, gain, clamp)
    return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
