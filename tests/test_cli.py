import subprocess
import sys

import pytest

from avgen.cli import build_parser
from avgen.train.__main__ import build_parser as train_module_parser


def _options(parser):
    return [a for a in parser._actions if a.option_strings or a.dest not in ("help",)]


@pytest.mark.parametrize("cmd", ["", "prepare", "train", "demo", "info", "v2s", "s2v"])
def test_every_option_has_help(cmd):
    parser = build_parser()
    if cmd:
        parser = next(a for a in parser._actions if hasattr(a, "choices") and a.choices and cmd in a.choices).choices[cmd]
    for action in _options(parser):
        if action.dest == "command":
            continue
        assert action.help and action.help.strip(), (cmd, action.dest)


def test_train_module_help():
    for action in _options(train_module_parser()):
        assert action.help, action.dest


def test_cli_help_runs():
    for args in (["--help"], ["prepare", "--help"], ["train", "--help"]):
        r = subprocess.run([sys.executable, "-m", "avgen.cli", *args], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: avgen" in r.stdout


def test_demo_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "avgen.cli", "demo", "-o", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name in ("mel.png", "mel.npy", "features.npy", "resynthesis.wav"):
        assert (tmp_path / name).exists()
