#!/usr/bin/env python
"""Which input a VarietySound checkpoint takes each clip's sound from: mel error with the reference and the background
input swapped for another clip's or for silence.

    python tools/v2s_input_use.py RUN_DIR CACHE [--step N] [--clips 64] [--seconds 3.7]

RUN_DIR is a training run (``config.yaml`` and ``checkpoints/step_N.pt``; the newest unless ``--step``), CACHE an
``avgen prepare`` cache (its first ``--clips`` items, cut to ``--seconds``). The EMA generator (the generator when
the run keeps no EMA), in eval mode (R is the identity), reconstructs each clip's mel from its own features with:

* ``own reference, own background``: the training setting (self-reconstruction);
* ``own reference, silent background``: the inference setting with a perfect reference;
* ``other reference, own background``: the next clip's reference; the background input still the clip's own;
* ``other reference, silent background`` and ``other reference, other background``.

The MSE against the clip's own mel of each is printed. If the decoder takes the clip's sound from the reference,
swapping the reference costs much more than silencing the background; if it takes it from the background input
(which sees the target's quiet frames in training, and silence at inference), the other way round.

Then, without a vocoder, whether the output's spectral envelope follows the reference it was given: each output's
band shape (``reference_spectrum``'s band means minus their mean over bands) is compared by correlation with every
reference's in the batch, with the own reference and with the other clip's (silent background both times).
Printed: the share of outputs whose best match is the reference they were given (retrieval; chance 1 / clips),
and the mean correlation with that reference against the mean over all references.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="training run folder (config.yaml, checkpoints/)")
    p.add_argument("cache", help="avgen prepare cache folder (index.jsonl, items/)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
    p.add_argument("--clips", type=int, default=64, help="clips to score (default 64)")
    p.add_argument("--seconds", type=float, default=3.7, help="seconds of each clip (default 3.7)")
    a = p.parse_args(argv)

    def fail(msg: str) -> int:
        print(f"v2s_input_use.py: error: {msg}", file=sys.stderr)
        return 2

    ckdir = os.path.join(a.run_dir, "checkpoints")
    config_path = os.path.join(a.run_dir, "config.yaml")
    if not os.path.isfile(config_path):
        return fail(f"{config_path}: not found (not a training run folder)")
    from avgen.train.checkpoint import list_checkpoints

    steps = dict(list_checkpoints(a.run_dir))  # step -> path
    if not steps:
        return fail(f"{ckdir}: no step_N.pt checkpoints")
    step = max(steps) if a.step is None else a.step
    if step not in steps:
        return fail(f"--step {step}: no such checkpoint in {ckdir} (have {', '.join(map(str, sorted(steps)))})")
    index = os.path.join(a.cache, "index.jsonl")
    if not os.path.isfile(index):
        return fail(f"{index}: not found (not an avgen prepare cache)")
    if a.clips < 2 or not a.seconds > 0:
        return fail("--clips must be at least 2 and --seconds positive")

    import torch
    import yaml
    from safetensors.numpy import load_file

    from avgen.errors import AvgenError
    from avgen.models.v2s.varietysound import VarietySound, VarietySoundConfig, reference_spectrum
    from avgen.train.checkpoint import load_checkpoint

    torch.manual_seed(0)
    with open(index) as f:
        items = [json.loads(x) for x in f if x.strip()][: a.clips]
    feats, mels, motions = [], [], []
    for it in items:
        d = load_file(os.path.join(a.cache, it["file"]))
        feats.append(torch.from_numpy(d["features"]))
        mels.append(torch.from_numpy(d["mel"]))
        motions.append(torch.from_numpy(d["motion"]) if "motion" in d else None)
    tv = min(int(a.seconds * 21.5), *(f.shape[0] for f in feats))  # feature frames
    tm = min(int(a.seconds * 86.13), *(m.shape[1] for m in mels))  # mel frames
    F = torch.stack([f[:tv] for f in feats])  # [B, T_v, D]
    M = torch.stack([m[:, :tm] for m in mels])  # [B, 80, T_m]
    with open(config_path) as f:
        model_cfg = (yaml.safe_load(f) or {}).get("model") or {}
    fields = set(VarietySoundConfig.__dataclass_fields__)
    model_cfg = {k: v for k, v in model_cfg.items() if k in fields} | {"feature_dim": F.shape[-1], "n_mels": M.shape[1]}
    G = VarietySound(VarietySoundConfig(**model_cfg))
    motion = None
    if G.config.pixel_motion_dim:
        if any(m is None for m in motions):
            return fail(f"{a.cache}: the model takes pixel motion, but the cache has none (made before it)")
        motion = torch.stack([m[:tv] for m in motions])  # [B, T_v, 32]
    try:
        state = load_checkpoint(steps[step])
        G.load_state_dict(state.get("ema") or state["generator"])  # the EMA weights when the run keeps them
    except AvgenError as e:
        return fail(str(e))
    except RuntimeError as e:  # load_state_dict: another model's weights
        return fail(f"{steps[step]}: does not fit the model of {config_path} "
                    f"({str(e).splitlines()[0][:120]})")
    G.eval()
    other = M.roll(1, 0)  # the next clip's mel
    cases = {"own reference, own background (training)": (M, M),
             "own reference, silent background (inference)": (M, None),
             "other reference, own background": (other, M), "other reference, silent background": (other, None),
             "other reference, other background": (other, other)}
    print("command: python tools/v2s_input_use.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"checkpoint {os.path.basename(steps[step])}, {len(items)} clips of {a.cache}, "
          f"{tv} feature frames / {tm} mel frames each")
    with torch.no_grad():
        for name, (ref, back) in cases.items():
            mse = float(((G(F, ref, tm, background=back, motion=motion) - M) ** 2).mean())
            print(f"  {name}: mel MSE {mse:.5f}")

        def shape(mel):  # [B, 80, T] -> unit-norm band shape [B, 80]
            mean = reference_spectrum(mel)[:, :mel.shape[1]].double()
            mean = mean - mean.mean(1, keepdim=True)
            return mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)

        print(f"  spectral envelope of the output vs the {len(items)} references (silent background; chance "
              f"{1 / len(items):.3f}):")
        for name, ref in (("own reference", M), ("other reference", other)):
            sim = shape(G(F, ref, tm, motion=motion)) @ shape(M).T  # [B, B]: output i vs every clip's mel j
            given = torch.arange(len(items)) if ref is M else torch.arange(len(items)).roll(1)  # whose mel it got
            hit = float((sim.argmax(1) == given).double().mean())
            print(f"    {name}: retrieval {hit:.3f}, correlation with the given reference "
                  f"{float(sim[torch.arange(len(items)), given].mean()):.3f} (with any: {float(sim.mean()):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
