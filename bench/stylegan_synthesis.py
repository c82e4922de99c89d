#!/usr/bin/env python
"""StyleGAN2 / StyleGAN3 synthesis throughput (images/s at 256x256, batch 8, noise_mode='const', no grad) with the
reference ops against the compiled CUDA ops, in one run.

    python bench/stylegan_synthesis.py [--device cuda|cpu] [--arch stylegan2|stylegan3] [--batch 8] [--repeats 5]
                                       [--nvidia-repo PATH]

Networks are randomly initialised at the published 256x256 sizes (SG2: channel_base 16384, 512 max, 8 mapping
layers, fp16 in the 4 highest resolutions; SG3-T: channel_base 32768). On CPU only the reference path exists, so the
CUDA column is skipped. With ``--nvidia-repo`` (a checkout of NVlabs/stylegan3, whose ``training/`` holds both
architectures) NVIDIA's own generator is built with the same arguments, given avgen's weights (the state dicts are
compatible), and timed interleaved with avgen's, run by run; the images are compared too. ``--baseline DIR`` does
the same for another version of avgen's own ``stylegan`` package (``DIR/stylegan``, e.g. extracted with
``git archive <rev> stylegan | tar -x -C DIR``), imported under another name, so old and new code are timed under the
same load. ``--rounds R`` repeats the whole interleaved comparison and prints each round's ratios (single ratios move
on a shared machine). Prints the command, machine, torch version and threads.
"""

import argparse
import importlib.util
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


def _build_baseline(arch: str, folder: str, state_dict: dict, device):
    """The generator of another copy of avgen's ``stylegan`` package (``folder/stylegan``), imported as
    ``stylegan_baseline`` (its imports are relative), with the same weights."""
    root = os.path.join(os.path.abspath(folder), "stylegan")
    spec = importlib.util.spec_from_file_location("stylegan_baseline", os.path.join(root, "__init__.py"),
                                                  submodule_search_locations=[root])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["stylegan_baseline"] = pkg
    spec.loader.exec_module(pkg)
    mod = importlib.import_module("stylegan_baseline.networks_" + arch)
    G = mod.Generator(**(_SG3_KW if arch == "stylegan3" else _SG2_KW))
    G.load_state_dict(state_dict)
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
    ap.add_argument("--baseline", default=None, help="folder holding another version of avgen's stylegan/ package "
                                                     "(git archive REV stylegan | tar -x -C DIR): time it against "
                                                     "this one, interleaved")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved comparisons run one after another, each "
                                                          "printed (default 1)")
    args = ap.parse_args()
    if args.nvidia_repo and not os.path.isdir(os.path.join(args.nvidia_repo, "training")):
        print(f"--nvidia-repo {args.nvidia_repo}: no training/ folder (a NVlabs/stylegan3 checkout)", file=sys.stderr)
        return 2
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "stylegan", "__init__.py")):
        print(f"--baseline {args.baseline}: no stylegan/__init__.py inside (extract a version of the package there)",
              file=sys.stderr)
        return 2
    if args.batch < 1 or args.repeats < 1 or args.rounds < 1:
        print("--batch, --repeats and --rounds must be >= 1", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    print(f"machine: {platform.platform()}; {torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'}; "
          f"torch {torch.__version__}; threads {torch.get_num_threads()}")
    torch.manual_seed(0)
    G = _build(args.arch, device)
    ws = G.mapping(torch.randn(args.batch, 512, device=device), None)
    results = {}
    impls = ["ref", "cuda"] if device.type == "cuda" else ["ref"]
    if device.type == "cpu" and (args.baseline or args.nvidia_repo):
        impls = []  # CPU has only the reference path, and the interleaved runs below time it
        print("impl=ref alone: skipped (timed in the interleaved runs)")
    for impl in impls:
        os.environ["AVGEN_CUDA_OPS"] = impl
        results[impl] = _images_per_second(G, ws, args.repeats)
        print(f"{args.arch} 256x256 batch {args.batch} impl={impl}: {results[impl]:.2f} images/s")
    if "cuda" in results:
        print(f"cuda / ref speed-up: {results['cuda'] / results['ref']:.2f}x")
    elif impls:
        print("cuda: skipped (no CUDA device)")
    peers = {}
    if args.baseline:
        peers["baseline"] = _build_baseline(args.arch, args.baseline, G.state_dict(), device)
    else:
        print("baseline: skipped (no --baseline)")
    if args.nvidia_repo:
        peers["nvidia"] = _build_nvidia(args.arch, args.nvidia_repo, G.state_dict(), device)
    else:
        print("nvidia: skipped (no --nvidia-repo)")
    if peers:
        _interleaved(args, G, peers, ws, device)
    return 0


@torch.no_grad()
def _interleaved(args, G, peers: dict, ws, device) -> None:
    """avgen and its peers on the same W, alternating run by run (the machine's load moves all alike); per round the
    best of ``repeats`` each and avgen's ratio to each peer; the largest pixel difference to each peer."""
    nets = {"avgen": G, **peers}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    images = {name: net.synthesis(ws, noise_mode="const").float() for name, net in nets.items()}  # warm-up
    for name in peers:
        print(f"largest pixel difference avgen vs {name}: {(images['avgen'] - images[name]).abs().max().item():.2e}")
    ratios = {name: [] for name in peers}
    for rnd in range(args.rounds):
        best = {name: float("inf") for name in nets}
        for _ in range(args.repeats):
            for name, net in nets.items():
                sync()
                t = time.perf_counter()
                net.synthesis(ws, noise_mode="const")
                sync()
                best[name] = min(best[name], time.perf_counter() - t)
        ips = {k: ws.shape[0] / v for k, v in best.items()}
        line = ", ".join(f"{k} {v:.3f} images/s" for k, v in ips.items())
        for name in peers:
            ratios[name].append(ips["avgen"] / ips[name])
        print(f"round {rnd + 1}: {args.arch} {line}: " + ", ".join(
            f"avgen / {name} = {ratios[name][-1]:.2f}x" for name in peers) + f" (interleaved, best of {args.repeats})",
            flush=True)
    for name in peers:
        r = sorted(ratios[name])
        print(f"avgen / {name} over {args.rounds} round(s): min {r[0]:.2f}x, median {r[len(r) // 2]:.2f}x, "
              f"max {r[-1]:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
