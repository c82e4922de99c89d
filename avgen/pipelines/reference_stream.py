"""A reference recording of any length in bounded memory: decoded, resampled, turned into a mel and summarised
into VarietySound's timbre vector block by block, with the same result as the whole-signal computation.

* :class:`StreamResampler`: ``torchaudio.functional.resample`` over blocks. Its windowed-sinc kernel is finite, so
  each block is resampled with enough real neighbours on both sides that the outputs kept are those of the whole
  signal (the edges of the whole signal get the same zero padding).
* :class:`StreamMel`: :func:`avgen.audio.mel_spectrogram` over blocks: the edge padding (reflect) is taken from the
  signal's own first and last samples, frames are cut from the padded stream, each frame is the same STFT frame.
* :func:`streamed_timbre`: :class:`~avgen.models.v2s.varietysound.AcousticEncoder` (in eval mode) over a mel of
  any length. Its instance and group norms take statistics over the whole time axis, so each of its units runs
  twice over the sequence: once to sum the statistics (float64), once to normalise and pass its outputs on; the
  units' inputs and outputs wait in a temporary file between passes (``[T, C]`` float32 rows, read back by time
  range with a halo for the convolutions), so memory follows the block, not the reference. The LSTM runs over the
  blocks with its state carried; its outputs are averaged in float64.
* :class:`SoundingLevel`: :func:`avgen.audio.sounding_rms` over blocks.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..audio import MelPreset, _filterbank, get_preset, normalize_mel, sounding_level_of
from ..models.v2s.varietysound import spectrum_from_sums, spectrum_sums

__all__ = ["StreamResampler", "StreamMel", "SoundingLevel", "streamed_timbre", "BLOCK_FRAMES"]

# mel frames per block of the timbre passes (about 95 s at 22050 / 256); memory per block is a few channels x this
BLOCK_FRAMES = 8192


class StreamResampler:
    """``from_rate`` -> ``to_rate`` over consecutive blocks of a mono float32 signal, equal to
    :func:`avgen.audio.resample` of the whole signal (torchaudio's defaults: sinc_interp_hann, width 6, rolloff
    0.99). :meth:`push` returns the output samples that are final so far; :meth:`finish` the rest."""

    def __init__(self, from_rate: int, to_rate: int):
        g = math.gcd(int(from_rate), int(to_rate))
        self.o, self.n = int(from_rate) // g, int(to_rate) // g
        width = math.ceil(6 * self.o / (min(self.o, self.n) * 0.99))  # torchaudio's kernel half-width
        self.width = width
        self.ctx = self.o * (math.ceil((width + self.o) / self.o) + 1)  # left context, a multiple of o
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  # global index of buf[0]
        self.done = 0  # input samples (a multiple of o) whose outputs were returned
        self.total = 0

    def _run(self, end_block: int, *, last: bool) -> np.ndarray:
        import torchaudio.functional as AF

        if self.o == self.n:  # same rate: the samples pass through
            out = self.buf[self.done - self.buf_start:]
            self.done, self.buf, self.buf_start = self.total, np.zeros(0, np.float32), self.total
            return out
        s = max(0, self.done - self.ctx)
        seg = torch.from_numpy(np.ascontiguousarray(self.buf[s - self.buf_start:]))
        res = AF.resample(seg[None], self.o, self.n)[0].numpy()  # global output j = local j + s / o * n
        first = self.done // self.o * self.n - s // self.o * self.n
        stop = (math.ceil(self.n * self.total / self.o) if last else end_block * self.n) - s // self.o * self.n
        self.done = self.total if last else end_block * self.o
        # keep only the context the next call needs
        keep = max(0, self.done - self.ctx)
        self.buf = self.buf[keep - self.buf_start:]
        self.buf_start = keep
        return res[first:stop]

    def push(self, block: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.asarray(block, np.float32).reshape(-1)])
        self.total += np.asarray(block).size
        # input block q is final once the signal reaches (q + 1) * o + width samples
        end_block = (self.total - self.width) // self.o - 1
        if end_block * self.o <= self.done:
            return np.zeros(0, np.float32)
        return self._run(end_block, last=False)

    def finish(self) -> np.ndarray:
        if self.total == 0:
            return np.zeros(0, np.float32)
        return self._run(0, last=True)


def _edge_padding(p: MelPreset) -> tuple[int, int]:
    """Samples padded on each side before the STFT frames are cut: the preset's own ``pad`` plus, when centred,
    n_fft // 2 (both reflect, as :func:`avgen.audio.mel_magnitude` pads)."""
    return p.pad, (p.n_fft // 2 if p.center else 0)


class StreamMel:
    """:func:`avgen.audio.mel_spectrogram` (mono, at the preset's rate) over consecutive blocks: :meth:`push`
    returns the mel frames ``[n_mels, k]`` that are complete, :meth:`finish` the last ones. The first block must
    hold more samples than the edge padding (a reflect pad needs them)."""

    def __init__(self, preset: str | MelPreset):
        self.p = get_preset(preset)
        if self.p.pad_mode != "reflect":
            raise ValueError(f"StreamMel supports reflect padding, preset {self.p.name} pads '{self.p.pad_mode}'")
        self.pad, self.cpad = _edge_padding(self.p)
        self.lead = self.pad + self.cpad  # padded samples before the signal
        self.head = None  # the signal's first samples (for the left reflect pad), set by the first push
        self.buf = np.zeros(0, np.float32)  # padded-stream samples not yet fully consumed by frames
        self.tail = np.zeros(0, np.float32)  # the last lead + 1 signal samples seen (for the right pad)
        self.window = torch.hann_window(self.p.win_length, periodic=True)
        self.total = 0

    def _pad_left(self, x: torch.Tensor) -> torch.Tensor:
        """The two reflect pads of mel_magnitude applied to the start of the signal, keeping only the left part."""
        y = x[None, None]
        if self.pad:
            y = F.pad(y, (self.pad, 0), mode="reflect")
        if self.cpad:
            y = F.pad(y, (self.cpad, 0), mode="reflect")
        return y[0, 0, : self.lead]

    def _pad_right(self, x: torch.Tensor) -> torch.Tensor:
        y = x[None, None]
        if self.pad:
            y = F.pad(y, (0, self.pad), mode="reflect")
        if self.cpad:
            y = F.pad(y, (0, self.cpad), mode="reflect")
        return y[0, 0, y.shape[-1] - self.lead:] if self.lead else y[0, 0, :0]

    def _take(self) -> torch.Tensor:
        """The frames the buffered padded stream holds completely, computed and dropped from the buffer."""
        p = self.p
        n = 0 if len(self.buf) < p.n_fft else 1 + (len(self.buf) - p.n_fft) // p.hop_length
        if n == 0:
            return torch.zeros(p.n_mels, 0)
        seg = torch.from_numpy(np.ascontiguousarray(self.buf[: (n - 1) * p.hop_length + p.n_fft]))
        spec = torch.stft(seg[None], n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length,
                          window=self.window, center=False, return_complex=True)  # [1, F, n]
        spec = torch.sqrt(spec.real.square() + spec.imag.square() + p.magnitude_eps) if p.magnitude_eps else spec.abs()
        if p.power != 1.0:
            spec = spec.pow(p.power)
        mel = torch.matmul(_filterbank(p), spec)[0]  # [M, n]
        self.buf = self.buf[n * p.hop_length:]
        return normalize_mel(mel, p)

    def push(self, block: np.ndarray) -> torch.Tensor:
        x = np.asarray(block, np.float32).reshape(-1)
        if self.head is None:
            if len(x) <= self.lead:
                raise ValueError(f"the first block needs more than {self.lead} samples, got {len(x)}")
            self.head = x[: self.lead + 1].copy()
            self.buf = self._pad_left(torch.from_numpy(self.head)).numpy()
        self.total += len(x)
        self.buf = np.concatenate([self.buf, x])
        self.tail = np.concatenate([self.tail, x])[-(self.lead + 1):]
        return self._take()  # frames that lie inside the signal (and left pad) are final already

    def finish(self) -> torch.Tensor:
        if self.head is None:
            return torch.zeros(self.p.n_mels, 0)
        self.buf = np.concatenate([self.buf, self._pad_right(torch.from_numpy(self.tail)).numpy()])
        return self._take()


class SoundingLevel:
    """:func:`avgen.audio.sounding_rms` of a signal given block by block (the frame powers are kept: one float
    per 50 ms)."""

    def __init__(self, sample_rate: int, *, frame_seconds: float = 0.05, within_db: float = 30.0,
                 floor_db: float = -60.0):
        self.n = max(1, round(frame_seconds * sample_rate))
        self.within_db, self.floor_db = within_db, floor_db
        self.rest = np.zeros(0, np.float64)
        self.powers: list[np.ndarray] = []
        self.total = 0

    def push(self, block: np.ndarray) -> None:
        x = np.concatenate([self.rest, np.asarray(block, np.float64).reshape(-1)])
        self.total += np.asarray(block).size
        whole = len(x) // self.n * self.n
        if whole:
            self.powers.append((x[:whole].reshape(-1, self.n) ** 2).mean(1))
        self.rest = x[whole:]

    def value(self) -> float:
        if self.total < self.n:  # shorter than one frame: the whole signal is one frame
            power = np.array([(self.rest ** 2).mean()]) if self.total else np.zeros(1)
        else:
            power = np.concatenate(self.powers)
        return sounding_level_of(power, within_db=self.within_db, floor_db=self.floor_db)


# ----------------------------------------------------------------------------------------------------------------
# The timbre encoder over a mel of any length


class _Spill:
    """A ``[C, T]`` float32 series kept in a temporary file as ``[T, C]`` rows: appended by blocks, read back by
    time range (ordinary reads: the file's pages are the kernel's cache, not this process's memory)."""

    def __init__(self, channels: int, folder: str | None = None):
        self.c = channels
        self.f = tempfile.TemporaryFile(dir=folder)
        self.t = 0

    def append(self, x: torch.Tensor) -> None:  # x: [C, n]
        self.f.seek(0, os.SEEK_END)
        self.f.write(x.T.contiguous().numpy().astype(np.float32, copy=False).tobytes())
        self.t += x.shape[1]

    def read(self, a: int, b: int) -> torch.Tensor:  # -> [C, b - a]
        a, b = max(0, a), min(self.t, b)
        self.f.seek(a * self.c * 4)
        data = bytearray(self.f.read((b - a) * self.c * 4))
        return torch.frombuffer(data, dtype=torch.float32).view(b - a, self.c).T

    def close(self) -> None:
        self.f.close()


def _halo(seq: torch.nn.Sequential) -> int:
    """Samples of context one side needs for the convolutions of a gate (stride 1, 'same' padding)."""
    h = 0
    for m in seq:
        if isinstance(m, torch.nn.Conv1d):
            k, d = m.kernel_size[0], m.dilation[0]
            if m.stride[0] != 1 or m.padding[0] != d * (k - 1) // 2:
                raise ValueError("streamed timbre needs stride-1 'same' convolutions")
            h += m.padding[0]
    return h


def _convs(seq: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The gate's convolutions (everything before its norm)."""
    for m in seq:
        if isinstance(m, (torch.nn.InstanceNorm1d, torch.nn.GroupNorm)):
            break
        x = m(x)
    return x


def _norm_of(seq: torch.nn.Sequential):
    return next(m for m in seq if isinstance(m, (torch.nn.InstanceNorm1d, torch.nn.GroupNorm)))


class _Stats:
    """Running float64 sums for a norm's statistics over time: per channel (instance norm) or per group."""

    def __init__(self, norm, channels: int):
        self.groups = norm.num_groups if isinstance(norm, torch.nn.GroupNorm) else channels
        self.s = torch.zeros(self.groups, dtype=torch.float64)
        self.ss = torch.zeros(self.groups, dtype=torch.float64)
        self.count = 0

    def add(self, x: torch.Tensor) -> None:  # x: [C, n]
        g = x.double().reshape(self.groups, -1)
        self.s += g.sum(1).cpu()
        self.ss += g.square().sum(1).cpu()
        self.count += g.shape[1]

    def apply(self, norm, x: torch.Tensor) -> torch.Tensor:
        """``x`` [C, n] normalised with the whole-sequence statistics, then the norm's affine map."""
        mean = self.s / self.count
        var = (self.ss / self.count - mean.square()).clamp_min(0.0)
        c = x.shape[0]
        per = c // self.groups
        mean_c = mean.repeat_interleave(per).float()[:, None].to(x.device)  # [C, 1]
        inv_c = torch.rsqrt(var + norm.eps).repeat_interleave(per).float()[:, None].to(x.device)
        y = (x - mean_c) * inv_c
        if getattr(norm, "affine", False) and norm.weight is not None:
            y = y * norm.weight[:, None] + norm.bias[:, None]
        return y


@torch.no_grad()
def streamed_timbre(acoustic: torch.nn.Module, mel_blocks: Iterable[torch.Tensor], *, block: int = BLOCK_FRAMES,
                    folder: str | None = None) -> torch.Tensor:
    """``AcousticEncoder(mel)`` (eval mode: its random resampling is the identity) for a mel given as consecutive
    ``[n_mels, k]`` blocks, in memory that follows ``block``. Runs on the encoder's device; returns the timbre
    vector ``[1, D]`` there. Equal to the whole-sequence encoder within float rounding (its norms' statistics are
    summed in float64 here, in float32 there)."""
    if acoustic.training:
        raise ValueError("streamed_timbre needs the encoder in eval mode (training resamples the time axis)")
    dev = next(acoustic.parameters()).device
    spectrum = getattr(acoustic, "spectrum", False)  # the encoder appends reference_spectrum: sum it per block
    mel, sums = None, 0.0
    for piece in mel_blocks:
        if mel is None:
            mel = _Spill(piece.shape[0], folder)
        if piece.shape[1]:
            mel.append(piece.float().cpu())
            if spectrum:
                sums = sums + spectrum_sums(piece.double().cpu()[None])  # [1, 3, M]
    if mel is None or mel.t == 0:
        raise ValueError("streamed_timbre: the mel is empty")
    t = mel.t
    x_in, c_in = mel, mel  # the first unit takes the mel as both inputs
    try:
        for unit in acoustic.units:
            h = max(_halo(unit.input_gate), _halo(unit.output_gate), _halo(unit.skip_gate))
            norms = (_norm_of(unit.input_gate), _norm_of(unit.output_gate), _norm_of(unit.skip_gate))
            stats = None

            def pre_norm(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
                """The three gates' convolution outputs on [a, b), computed with the halo's real neighbours."""
                lo, hi = max(0, a - h), min(t, b + h)
                xs, cs = x_in.read(lo, hi)[None].to(dev), c_in.read(lo, hi)[None].to(dev)  # [1, C, n + halo]
                keep = slice(a - lo, a - lo + (b - a))
                return (_convs(unit.input_gate, xs)[0, :, keep], _convs(unit.output_gate, cs)[0, :, keep],
                        _convs(unit.skip_gate, cs)[0, :, keep])

            # pass 1: the norms' statistics over the whole sequence
            for a in range(0, t, block):
                v, o, s = pre_norm(a, min(t, a + block))
                if stats is None:
                    stats = [_Stats(n, z.shape[0]) for n, z in zip(norms, (v, o, s))]
                for st, z in zip(stats, (v, o, s)):
                    st.add(z)
            # pass 2: normalise, gate, pass the unit's outputs on
            x_out, c_out = _Spill(v.shape[0], folder), _Spill(s.shape[0], folder)
            for a in range(0, t, block):
                v, o, s = (st.apply(n, z) for st, n, z in zip(stats, norms, pre_norm(a, min(t, a + block))))
                x_out.append((torch.tanh(s + v) * torch.sigmoid(o + v)).cpu())  # [C, n]
                c_out.append(s.cpu())
            for old in {id(x_in): x_in, id(c_in): c_in}.values():
                old.close()
            x_in, c_in = x_out, c_out
        # the LSTM over the blocks, its state carried; the mean of its outputs over time
        state, total = None, None
        for a in range(0, t, block):
            out, state = acoustic.lstm(x_in.read(a, min(t, a + block)).T[None].to(dev), state)  # [1, n, D]
            part = out[0].double().sum(0)
            total = part if total is None else total + part
        code = (total / t).float()[None]  # [1, D]
        if spectrum:
            code = torch.cat([code, spectrum_from_sums(sums).float().to(code.device)], -1)
        return code
    finally:
        for s in {id(x_in): x_in, id(c_in): c_in}.values():
            s.close()


def iter_blocks(array: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Consecutive ``size``-sample pieces of a 1-D array (views)."""
    for a in range(0, array.shape[-1], size):
        yield array[..., a:a + size]


__all__ += ["iter_blocks"]
