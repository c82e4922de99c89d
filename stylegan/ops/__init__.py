"""Custom ops of StyleGAN2/3: ``bias_act``, ``upfirdn2d`` (and its resampling helpers), ``filtered_lrelu``,
``conv2d_resample``. Each has a PyTorch reference path and a CUDA path compiled on first use (see ``_plugin``)."""

from .bias_act import ACTIVATIONS, bias_act
from .conv2d_resample import conv2d_resample
from .filtered_lrelu import filtered_lrelu
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = ["ACTIVATIONS", "bias_act", "conv2d_resample", "filtered_lrelu", "upfirdn2d", "setup_filter", "filter2d",
           "upsample2d", "downsample2d"]
