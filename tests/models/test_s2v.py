"""Sound-to-video networks and loss terms: shapes, group locality of the recurrent blocks, 3-D patches, gradients."""

import pytest
import torch

from avgen.models.s2v.sound_inversion import (AudioCLIPEncoder, RecurrentLatentBlocks, SoundInversionEncoder, SoundToVideo,
                              VideoPatchDiscriminator, linear_interpolation_ws)
from avgen.train import losses as L

GROUPS16 = {"coarse": [0, 1, 2], "mid": [3, 4, 5], "fine": list(range(6, 16))}


@pytest.mark.parametrize("t,length", [(1, 24), (3, 40), (7, 33)])
def test_shapes_for_random_lengths(t, length):
    torch.manual_seed(t)
    model = SoundToVideo(num_ws=16, w_dim=8, groups=GROUPS16, encoder_width=8, rnn_hidden=16).eval()
    mels = torch.randn(2, t, 128, length)
    w = torch.randn(2, 16, 8)
    ws = model(mels, w)
    assert ws.shape == (2, t, 16, 8)
    # The inversion head starts at zero: the first frame is the sampled latent itself.
    torch.testing.assert_close(ws[:, 0], w)
    assert AudioCLIPEncoder(embed_dim=64, width=8)(torch.randn(3, 128, length)).shape == (3, 64)
    assert SoundInversionEncoder(16, 8, width=8)(torch.randn(3, 128, length)).shape == (3, 16, 8)


def test_recurrent_blocks_only_change_their_own_group():
    torch.manual_seed(0)
    rnn = RecurrentLatentBlocks(GROUPS16, w_dim=4, hidden=8)
    w_prev, offset = torch.randn(2, 16, 4), torch.randn(2, 16, 4)
    for name, idx in GROUPS16.items():
        with torch.no_grad():  # switch on one block only
            for n in GROUPS16:
                for p in rnn.heads[n].parameters():
                    p.zero_()
            for p in rnn.heads[name].parameters():
                p.normal_()
        out, _ = rnn.step(w_prev, offset, rnn.init_state(2))
        changed = ((out - w_prev).abs().amax(dim=(0, 2)) > 0).nonzero().flatten().tolist()
        assert changed == idx, (name, changed)
        # ... and each block reads only its own group: perturbing another group's input leaves this one unchanged.
        other = [i for i in range(16) if i not in idx]
        offset2 = offset.clone()
        offset2[:, other] += 5.0
        out2, _ = rnn.step(w_prev, offset2, rnn.init_state(2))
        torch.testing.assert_close(out2[:, idx], out[:, idx])
    with pytest.raises(ValueError, match="partition"):
        RecurrentLatentBlocks({"a": [0, 1], "b": [1, 2]}, 4)


def test_video_discriminator_sees_3d_patches():
    torch.manual_seed(0)
    D = VideoPatchDiscriminator(channels=4, layers=3)
    video = torch.randn(1, 3, 16, 64, 64, requires_grad=True)
    out = D(video)
    assert out.ndim == 5 and out.shape[1] == 1 and out.shape[2] > 1 and out.shape[3] > 1 and out.shape[4] > 1
    # One output logit depends on a bounded spatio-temporal block of the input, not on the whole clip.
    out[0, 0, 0, 0, 0].backward()
    support = video.grad[0].abs().sum(0) > 0  # [T, H, W]
    ts, hs, ws = [support.any(dim=d).nonzero().flatten() for d in ((1, 2), (0, 2), (0, 1))]
    assert 1 < len(ts) < 16 and 1 < len(hs) < 64 and 1 < len(ws) < 64


def test_linear_interpolation_baseline():
    a, b = torch.zeros(1, 4, 2), torch.ones(1, 4, 2)
    ws = linear_interpolation_ws(a, b, 5)
    assert ws.shape == (1, 5, 4, 2)
    torch.testing.assert_close(ws[0, :, 0, 0], torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))


def test_loss_gradients_point_the_right_way():
    torch.manual_seed(0)
    # CLIP direction loss: a gradient step moves frame embeddings towards the target.
    target = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    frames = torch.randn(2, 3, 8, requires_grad=True)
    loss = L.clip_direction_loss(frames, target)
    loss.backward()
    stepped = frames - 0.1 * frames.grad
    assert L.clip_direction_loss(stepped, target) < loss
    # Latent consistency: pulls frames towards their mean; zero for a constant trajectory.
    ws = torch.randn(2, 4, 3, 5, requires_grad=True)
    loss = L.latent_consistency_loss(ws)
    loss.backward()
    dev = ws - ws.mean(1, keepdim=True)
    assert (ws.grad * dev).sum() > 0  # gradient along the deviation: descent shrinks it
    assert float(L.latent_consistency_loss(torch.ones(1, 3, 2, 2))) == 0.0
    # Encoder regulariser: gradient along the offsets.
    off = torch.randn(2, 3, 4, requires_grad=True)
    L.encoder_regularizer(off).backward()
    assert (off.grad * off).sum() > 0
    # InfoNCE: aligned pairs score lower than shuffled ones; the gradient raises the diagonal similarity.
    a = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    scale = torch.tensor(2.0)
    assert L.symmetric_info_nce(a, a, scale) < L.symmetric_info_nce(a, a.roll(1, 0), scale)
    b = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1).requires_grad_(True)
    L.symmetric_info_nce(a, b, scale).backward()
    assert ((-b.grad) * a).sum() > 0
    # Adversarial: D's loss falls when real logits rise; G's loss falls when fake logits rise.
    real, fake = torch.zeros(4, requires_grad=True), torch.zeros(4, requires_grad=True)
    L.nonsaturating_d_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake2 = torch.zeros(4, requires_grad=True)
    L.nonsaturating_g_loss(fake2).backward()
    assert (fake2.grad < 0).all()
