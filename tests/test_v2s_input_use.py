"""tools/v2s_input_use.py on a tiny run and cache built here: five cases printed, bad inputs refused (exit 2)."""


import numpy as np
import pytest
import torch
import yaml

TINY = dict(temporal_channels=8, temporal_layers=2, temporal_lstm=8, sgau_units=1, sgau_channels=8, timbre_lstm=8,
            background_lstm=4, decoder_hidden=8, decoder_blocks=1, decoder_filters=8, up_channels=8, dropout=0.0)


@pytest.fixture(scope="module")
def tool(load_tool):
    return load_tool("v2s_input_use.py")


@pytest.fixture(scope="module")
def run_and_cache(tmp_path_factory):
    from safetensors.numpy import save_file

    from avgen.models.v2s.varietysound import VarietySound
    from avgen.train.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("input_use")
    run, cache = root / "run", root / "cache"
    (cache / "items").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(3):
        save_file({"features": rng.normal(size=(30, 12)).astype(np.float32),
                   "mel": rng.uniform(size=(80, 120)).astype(np.float32)}, str(cache / "items" / f"{i}.safetensors"))
        lines.append(f'{{"id": "c{i}", "file": "items/{i}.safetensors"}}\n')
    (cache / "index.jsonl").write_text("".join(lines))
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"task": "varietysound", "model": TINY}))
    torch.manual_seed(0)
    g = VarietySound(feature_dim=12, **TINY)
    save_checkpoint(str(run), 3, {"step": 3, "generator": g.state_dict(), "opt_g": {}, "ema": g.state_dict()})
    return run, cache


def test_prints_the_five_cases(tool, run_and_cache, capsys):
    run, cache = run_and_cache
    assert tool.main([str(run), str(cache), "--seconds", "1.2"]) == 0
    out = capsys.readouterr().out
    mses = [float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if "mel MSE" in line]
    assert len(mses) == 5 and all(np.isfinite(mses)) and "step_00000003.pt, 3 clips" in out
    hits = [float(line.split("retrieval ")[1].split(",")[0]) for line in out.splitlines() if "retrieval " in line]
    assert len(hits) == 2 and all(0.0 <= h <= 1.0 for h in hits) and "chance 0.333" in out


@pytest.mark.parametrize("case", ["no_config", "bad_step", "few_clips", "damaged"])
def test_bad_inputs_are_one_line_and_exit_2(tool, run_and_cache, tmp_path, capsys, case):
    run, cache = run_and_cache
    argv = [str(run), str(cache)]
    if case == "no_config":
        argv = [str(tmp_path), str(cache)]
    elif case == "bad_step":
        argv += ["--step", "9"]
    elif case == "few_clips":
        argv += ["--clips", "1"]
    else:
        bad = tmp_path / "run"
        (bad / "checkpoints").mkdir(parents=True)
        (bad / "config.yaml").write_text((run / "config.yaml").read_text())
        (bad / "checkpoints" / "step_00000001.pt").write_bytes(b"not a checkpoint")
        argv = [str(bad), str(cache)]
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("v2s_input_use.py: error:")
