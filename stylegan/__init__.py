"""StyleGAN2 and StyleGAN3 written for avgen: networks state-dict compatible with NVIDIA's releases, custom ops with
reference and CUDA paths, checkpoint readers that never execute code from the file, training losses, a projector.

    import stylegan
    G = stylegan.load("stylegan3-t-ffhq-1024x1024.pkl")        # NVIDIA pickle, rosinality .pt, or a saved folder
    ws = G.mapping(z, None, truncation_psi=0.7)                 # [B, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")                   # [B, 3, H, W] in [-1, 1]
"""

from .checkpoints import (CheckpointError, from_pretrained, load, load_nvidia_pickle, load_rosinality,
                          save_pretrained)
from .latents import layer_groups, parse_range, style_mix, w_statistics, z_from_seeds
from .safe_pickle import UnsafePickleError

__all__ = ["load", "load_nvidia_pickle", "load_rosinality", "save_pretrained", "from_pretrained", "CheckpointError",
           "UnsafePickleError", "layer_groups", "style_mix", "z_from_seeds", "parse_range",
           "w_statistics"]
