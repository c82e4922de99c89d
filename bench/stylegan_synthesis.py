#!/usr/bin/env python
"""StyleGAN2 / StyleGAN3 synthesis throughput (images/s at 256x256, batch 8, noise_mode='const', no grad) with the
reference ops against the compiled CUDA ops, in one run.

    python bench/stylegan_synthesis.py [--device cuda|cpu] [--arch stylegan2|stylegan3] [--batch 8] [--repeats 5]

Networks are randomly initialised at the published 256x256 sizes (SG2: channel_base 16384, 512 max, 8 mapping
layers, fp16 in the 4 highest resolutions; SG3-T: channel_base 32768). On CPU only the reference path exists, so the
CUDA column is skipped. Prints the command, machine, torch version and threads.
"""

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build(arch: str, device):
    if arch == "stylegan3":
        from stylegan.networks_stylegan3 import Generator

        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, channel_base=32768,
                      channel_max=512, num_fp16_res=4, conv_clamp=256)
    else:
        from stylegan.networks_stylegan2 import Generator

        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                      mapping_kwargs=dict(num_layers=8), channel_base=16384, channel_max=512, num_fp16_res=4,
                      conv_clamp=256)
    return G.eval().requires_grad_(False).to(device)


@torch.no_grad()
def _images_per_second(G, ws, repeats: int) -> float:
    sync = torch.cuda.synchronize if ws.device.type == "cuda" else (lambda: None)
    G.synthesis(ws, noise_mode="const")  # warm-up (and CUDA build on first use)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        G.synthesis(ws, noise_mode="const")
        sync()
        best = min(best, time.perf_counter() - t)
    return ws.shape[0] / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--arch", default="stylegan2", choices=["stylegan2", "stylegan3"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    print(f"machine: {platform.platform()}; {torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'}; "
          f"torch {torch.__version__}; threads {torch.get_num_threads()}")
    torch.manual_seed(0)
    G = _build(args.arch, device)
    ws = G.mapping(torch.randn(args.batch, 512, device=device), None)
    results = {}
    for impl in (["ref", "cuda"] if device.type == "cuda" else ["ref"]):
        os.environ["AVGEN_CUDA_OPS"] = impl
        results[impl] = _images_per_second(G, ws, args.repeats)
        print(f"{args.arch} 256x256 batch {args.batch} impl={impl}: {results[impl]:.2f} images/s")
    if "cuda" in results:
        print(f"cuda / ref speed-up: {results['cuda'] / results['ref']:.2f}x")
    else:
        print("cuda: skipped (no CUDA device)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
