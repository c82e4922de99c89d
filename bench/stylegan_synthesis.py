#!/usr/bin/env python
"""StyleGAN2 / StyleGAN3 synthesis throughput (images/s at 256x256, batch 8, noise_mode='const', no grad) with the
reference ops against the compiled CUDA ops, in one run.

    python bench/stylegan_synthesis.py [--device cuda|cpu] [--arch stylegan2|stylegan3] [--batch 8] [--repeats 5]
                                       [--nvidia-repo PATH]

Networks are randomly initialised at the published 256x256 sizes (SG2: channel_base 16384, 512 max, 8 mapping
layers, fp16 in the 4 highest resolutions; SG3-T: channel_base 32768). On CPU only the reference path exists, so the
CUDA column is skipped. With ``--nvidia-repo`` (a checkout of NVlabs/stylegan3, whose ``training/`` holds both
architectures) NVIDIA's own generator is built with the same arguments, given avgen's weights (the state dicts are
compatible), and timed interleaved with avgen's, run by run; the images are compared too. Prints the command,
machine, torch version and threads.
"""

import argparse
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_SG3_KW = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, channel_base=32768,
               channel_max=512, num_fp16_res=4, conv_clamp=256)
_SG2_KW = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
               mapping_kwargs=dict(num_layers=8), channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256)


def _build_nvidia(arch: str, repo: str, state_dict: dict, device):
    """NVIDIA's generator from a stylegan3 checkout, with avgen's weights."""
    sys.path.insert(0, os.path.abspath(repo))
    if arch == "stylegan3":
        from training.networks_stylegan3 import Generator
    else:
        from training.networks_stylegan2 import Generator
    G = Generator(**(_SG3_KW if arch == "stylegan3" else _SG2_KW))
    G.load_state_dict(state_dict)
    return G.eval().requires_grad_(False).to(device)


def _build(arch: str, device):
    if arch == "stylegan3":
        from stylegan.networks_stylegan3 import Generator

        G = Generator(**_SG3_KW)
    else:
        from stylegan.networks_stylegan2 import Generator

        G = Generator(**_SG2_KW)
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
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--arch", default="stylegan2", choices=["stylegan2", "stylegan3"],
                    help="generator timed, random weights at the published 256x256 size (default stylegan2)")
    ap.add_argument("--batch", type=int, default=8, help="images per synthesis call (default 8)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls after a warm-up, best kept (default 5)")
    ap.add_argument("--nvidia-repo", default=None, help="checkout of NVlabs/stylegan3: time NVIDIA's generator "
                                                        "against avgen's, interleaved")
    args = ap.parse_args()
    if args.nvidia_repo and not os.path.isdir(os.path.join(args.nvidia_repo, "training")):
        print(f"--nvidia-repo {args.nvidia_repo}: no training/ folder (a NVlabs/stylegan3 checkout)", file=sys.stderr)
        return 2
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
    if args.nvidia_repo:
        _against_nvidia(args, G, ws, device)
    else:
        print("nvidia: skipped (no --nvidia-repo)")
    return 0


@torch.no_grad()
def _against_nvidia(args, G, ws, device) -> None:
    """Both generators on the same W, alternating run by run (the machine's load moves both alike); best of
    ``repeats`` each, and the largest pixel difference."""
    N = _build_nvidia(args.arch, args.nvidia_repo, G.state_dict(), device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    ours, theirs = G.synthesis(ws, noise_mode="const"), N.synthesis(ws, noise_mode="const")  # warm-up
    best = {"avgen": float("inf"), "nvidia": float("inf")}
    for _ in range(args.repeats):
        for name, net in (("avgen", G), ("nvidia", N)):
            sync()
            t = time.perf_counter()
            net.synthesis(ws, noise_mode="const")
            sync()
            best[name] = min(best[name], time.perf_counter() - t)
    ips = {k: ws.shape[0] / v for k, v in best.items()}
    print(f"{args.arch} avgen {ips['avgen']:.3f} images/s, nvidia {ips['nvidia']:.3f} images/s: "
          f"avgen / nvidia = {ips['avgen'] / ips['nvidia']:.2f}x (interleaved, best of {args.repeats})")
    print(f"largest pixel difference: {(ours.float() - theirs.float()).abs().max().item():.2e}")


if __name__ == "__main__":
    raise SystemExit(main())
