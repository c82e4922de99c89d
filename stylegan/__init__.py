"""StyleGAN2 and StyleGAN3 written for avgen, usable on their own (torch and NumPy only): networks state-dict
compatible with NVIDIA's releases, custom ops with reference and CUDA paths, checkpoint readers that never execute
code from the file, latent helpers (seeds, coarse/mid/fine layer groups, style mixing), rendering W+ latents to
frames, sample grids, LPIPS and a projector (GAN inversion). Training losses are not here: they live in avgen's
StyleGAN2 training task (``task: stylegan2``).

    import stylegan
    G = stylegan.load("stylegan3-t-ffhq-1024x1024.pkl")        # NVIDIA pickle, rosinality .pt, or a saved folder
    ws = G.mapping(z, None, truncation_psi=0.7)                 # [B, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")                   # [B, 3, H, W] in [-1, 1]
    frames = stylegan.render_frames(G, ws)                      # [B, H, W, 3] uint8

Pillow (image files), safetensors (saved folders) and tqdm (progress bars) are imported only by the functions that
need them.
"""

from .checkpoints import (CheckpointError, from_pretrained, load, load_nvidia_pickle, load_rosinality,
                          save_pretrained)
from .generate import render_frames, to_uint8
from .latents import LEVELS, layer_groups, levels_to_layers, parse_range, style_mix, w_statistics, z_from_seeds
from .safe_pickle import UnsafePickleError

__all__ = ["load", "load_nvidia_pickle", "load_rosinality", "save_pretrained", "from_pretrained", "CheckpointError",
           "UnsafePickleError", "LEVELS", "layer_groups", "levels_to_layers", "style_mix", "z_from_seeds",
           "parse_range", "w_statistics", "render_frames", "to_uint8"]
