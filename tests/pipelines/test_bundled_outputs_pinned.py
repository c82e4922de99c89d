"""The bundled defaults' outputs are pinned bit for bit (CPU, fixed seed): refactors must not change what users get.

The digests were taken from the code before the architecture change (commit ee98742) and must stay equal. If a
deliberate change of a bundled model or of its numerics moves them, update the digests in the same commit and say why.
Changes so far: the v2s waveform moved when the default vocoder became ``specvqgan-bridge`` (the universal HiFi-GAN)
and the output level started following the reference (the mel is unchanged); both moved by float rounding when
EfficientNet-Lite0 folded its batch norms (357f36f): against the digests before, the features differ by at most
1.0e-5 (values 0..4), the mel by 1.5e-6, the waveform by 1.9e-4 (peak 0.99). The v2s digests moved again when
avgen v2s started reading video files as avgen prepare does (FFmpeg's scaler to the 256 side while decoding,
avgen.encoders.frames.iter_frame_batches, instead of full-size frames resized by torch): on the 96x96 example the
features moved by up to 0.78 (values 0..4.0), the mel by up to 0.16; with the previous feature path swapped back in,
the same code gives the previous digests (9b762adb... / 6e3857d2...) bit for bit, so the move is the feature path's
alone. The s2v frames moved when StyleGAN got its CPU inference path (94f4b90, f54b831: batch-shared modulated
convolutions, transposed-convolution upsampling, in-place epilogues): with the previous ``stylegan`` package
(``git archive 05c8ea6 stylegan``) first on PYTHONPATH the same avgen gives the previous digest (18ade9ef...) bit for
bit; against it 1.4e-5 of the uint8 values differ, by 1 level at most; W+ is unchanged.
"""

import hashlib

import numpy as np
import pytest
import torch

from avgen.cli import EXAMPLE_V2S_REFERENCE, EXAMPLE_V2S_VIDEO
from avgen.generate import DEFAULT_S2V_CHECKPOINT, sound_to_video, video_to_sound

S2V_EXAMPLE = f"{DEFAULT_S2V_CHECKPOINT}/example_lake.wav"

# sha256 of the float32 bytes (v2s) / uint8 frames and float32 W+ (s2v)
PINNED = {
    "v2s.mel": "cbc5c1383ba89709befb07032f4ded166bafd07157d1dfe18c4d754b5c23b27d",
    "v2s.waveform": "6aede9e9c29496a9dd55a42932a6b5e7c7df602794af78cc5d71acfcf9d9ba99",
    "s2v.frames": "9844dfa066630d8272bb3450f278df7e8d7895fe8425b9aa02682c4f50c9f90b",
    "s2v.ws": "cd5fd06aacc3d1af1f6b3a896b177c8ab4187b9b2a81690cee4e41cec23eda02",
}


def _digest(x) -> str:
    a = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: one thread, fixed sum order


def test_bundled_video_to_sound_output_is_unchanged():
    res = video_to_sound(EXAMPLE_V2S_VIDEO, EXAMPLE_V2S_REFERENCE, device="cpu", seed=0)
    got = {"v2s.mel": _digest(res.mel), "v2s.waveform": _digest(res.waveform)}
    assert got == {k: PINNED[k] for k in got}, got


def test_bundled_sound_to_video_output_is_unchanged():
    res = sound_to_video(S2V_EXAMPLE, num_frames=6, seed=3, device="cpu")
    got = {"s2v.frames": _digest(res.frames), "s2v.ws": _digest(res.ws)}
    assert got == {k: PINNED[k] for k in got}, got
