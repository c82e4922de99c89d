"""SpecVQGAN (Iashin & Rahtu, BMVC 2021): the spectrogram codebook and the visually conditioned transformer, in
the public release's parameter layout. Its MelGAN vocoder is :mod:`avgen.models.vocoders.melgan`; reading the
release's run folders is :mod:`avgen.specvqgan_release`."""

from .codebook import SpecVQGANCodebook, SpecVQGANCodebookConfig, VectorQuantizer
from .transformer import (KVCache, condition_frames, draw_token, SpecVQGANTransformer, SpecVQGANTransformerConfig, column_major_index,
                          frame_indices, grid_to_sequence, resample_frames, sequence_to_grid, top_k_filter)

__all__ = ["SpecVQGANCodebook", "SpecVQGANCodebookConfig", "VectorQuantizer", "SpecVQGANTransformer",
           "SpecVQGANTransformerConfig", "KVCache", "column_major_index", "grid_to_sequence", "sequence_to_grid",
           "frame_indices", "resample_frames", "condition_frames", "top_k_filter", "draw_token"]
