"""Helpers of the fp32 CPU inference path of the networks (autograd off): same maths as the reference ops, fewer
passes over the activations and no fresh allocations where an op can run in place (on CPU, writing a new large
tensor costs about as much as the arithmetic). Training, CUDA and fp16 never come here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .bias_act import ACTIVATIONS, bias_act

__all__ = ["cpu_inference", "cached", "scale_bias_act_"]

# act(g z) = g act(z) for g > 0: these activations take their gain folded into the scale, bias and noise
_HOMOGENEOUS = ("linear", "relu", "lrelu")


def cpu_inference(x: torch.Tensor) -> bool:
    """True for an fp32 CPU tensor with autograd off: the case the in-place, channels-last layer code is for."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()


def cached(module: torch.nn.Module, key: str, src: torch.Tensor, fn):
    """``fn(src)``, kept on ``module`` until ``src`` changes (another tensor, or an in-place update such as an
    optimizer step or ``load_state_dict``, which bump its version counter). For inference only (autograd off)."""
    store = module.__dict__.setdefault("_cpu_inference_cache", {})
    stamp = (id(src), src.data_ptr(), src._version, src.shape, src.dtype, src.device)
    hit = store.get(key)
    if hit is None or hit[0] != stamp:
        hit = store[key] = (stamp, fn(src.detach()))
    return hit[1]


def scale_bias_act_(x: torch.Tensor, scale: torch.Tensor | None, noise: torch.Tensor | None, b: torch.Tensor | None,
                    *, act: str = "linear", alpha: float | None = None, gain: float = 1.0,
                    clamp: float | None = None) -> torch.Tensor:
    """``clamp(act(x * scale + noise + b) * gain)`` in place on ``x`` [N, C, H, W] (a temporary of the caller);
    ``scale`` [N, C] (demodulation), ``noise`` broadcast to ``x``, ``b`` [C]. Returns ``x``."""
    n, c = x.shape[:2]
    if act not in _HOMOGENEOUS or gain <= 0:
        if scale is not None:
            x.mul_(scale.reshape(n, c, 1, 1))
        if noise is not None:
            x.add_(noise)
        return bias_act(x, b, act=act, alpha=alpha, gain=gain, clamp=clamp)
    if scale is not None:
        x.mul_(scale.reshape(n, c, 1, 1) * gain)
    elif gain != 1:
        x.mul_(gain)
    if noise is not None:
        x.add_(noise * gain if gain != 1 else noise)
    if b is not None:
        x.add_((b * gain).reshape(1, c, 1, 1))
    if act == "lrelu":
        F.leaky_relu_(x, ACTIVATIONS["lrelu"].def_alpha if alpha is None else alpha)
    elif act == "relu":
        x.relu_()
    if clamp is not None and clamp >= 0:
        x.clamp_(-clamp, clamp)
    return x
