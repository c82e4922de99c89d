"""Every command shown in README.md and docs/*.md runs `--help` cleanly and has each `--option` the docs give it;
every option of every parser in avgen/, stylegan/, tools/ and bench/ has help text.

The parsers run in this process (avgen's through ``avgen.cli.main``, scripts and modules through ``runpy`` with
``--help``): one interpreter for all of them keeps the test at seconds. The parser a command's ``--help`` reached is
caught from ``argparse`` itself, so scripts that build their parser inside ``main()`` need no special hook.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import re
import runpy
import shlex
import sys
import warnings
from dataclasses import dataclass, field

import pytest

from .conftest import REPO

OWN_PACKAGES = ("avgen", "stylegan", "tools", "bench")  # `python -m X` of anything else (pytest, venv) is not ours


@dataclass
class Command:
    """One documented command: how to run its parser and the options the docs give it."""

    kind: str  # "avgen", "script" (tools/, bench/) or "module"
    target: str  # "" for avgen, the script path or the module name
    argv: list[str]  # leading sub-command words (avgen: eval fvd)
    options: list[str] = field(default_factory=list)
    where: str = ""
    text: str = ""
    words: list[str] = field(default_factory=list)  # scripts and modules: the words after the command, unparsed

    @property
    def key(self) -> tuple:
        return self.kind, self.target, tuple(self.argv)


# -- finding commands in markdown ----------------------------------------------------------------------------------

_FENCE = re.compile(r"^```.*?$(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")
_START = re.compile(r"(?:^|(?<=[\s(]))(avgen(?=\s|$)|python3? (?:tools|bench)/\S+\.py|python3? -m \S+|"
                    r"accelerate launch\b)")


def _snippets(markdown: str) -> list[tuple[int, str]]:
    """(line number, text) of every fenced-block line (continuations joined, comments cut) and inline code span."""
    out = []
    fenced_spans = []
    for m in _FENCE.finditer(markdown):
        fenced_spans.append(m.span())
        first = markdown.count("\n", 0, m.start(1)) + 1
        pending, start = "", first
        for i, line in enumerate(m.group(1).split("\n")):
            if not pending:
                start = first + i
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((start, pending + line))
            pending = ""
    for m in _INLINE.finditer(markdown):
        if not any(a <= m.start() < b for a, b in fenced_spans):
            out.append((markdown.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


def _tokens(text: str) -> list[str]:
    text = text.replace("\\|", "|")
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in prose: plain split is good enough to find options
        return text.split()


def _split_commands(text: str) -> list[list[str]]:
    """The command parts of a snippet (split at &&, ||, ;, |, and stripped of optional-part brackets)."""
    parts, cur = [], []
    for tok in _tokens(text):
        if tok in ("&&", "||", ";", "|", ">", "2>&1"):
            parts.append(cur)
            cur = []
            continue
        cur.append(tok.strip("[]()"))
    parts.append(cur)
    return [p for p in parts if p]


def _options(tokens: list[str]) -> list[str]:
    """Documented options: --name (before any '=') and -x short flags; negative numbers and '-' are not options."""
    out = []
    for t in tokens:
        for alt in t.split("|"):
            if re.fullmatch(r"--[A-Za-z][\w-]*(=.*)?", alt):
                out.append(alt.split("=")[0])
            elif re.fullmatch(r"-[A-Za-z]", alt):
                out.append(alt)
    return out


def _subcommands(words: list[str], parser: argparse.ArgumentParser) -> tuple[list[list[str]], list[str]]:
    """The sub-command paths documented words name (`fvd|fid` gives two) and the words that name no known
    sub-command where one is expected (a command the docs promise that does not exist)."""
    paths = [[]]
    p = parser
    for w in words:
        sub = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", w):
            break
        alts = w.split("|")
        bad = [a for a in alts if a not in sub.choices]
        if bad:
            return [], bad
        paths = [path + [a] for path in paths for a in alts]
        p = sub.choices[alts[0]]
    return paths, []


def find_commands(markdown: str, where: str) -> tuple[list[Command], list[str]]:
    """Commands of our own CLIs shown in ``markdown``, and one problem line per command that cannot exist."""
    from avgen.cli import build_parser

    parser = build_parser()
    commands, problems = [], []
    for line, snippet in _snippets(markdown):
        for m in _START.finditer(snippet):
            for tokens in _split_commands(snippet[m.start():])[:1]:
                loc = f"{where}:{line}"
                if tokens[0] == "avgen":
                    paths, unknown = _subcommands(tokens[1:], parser)
                    problems += [f"{loc}: `avgen {u}`: no such command ({snippet.strip()})" for u in unknown]
                    for path in paths:
                        rest = tokens[1 + len(path):]
                        commands.append(Command("avgen", "", path, _options(rest), loc, snippet.strip()))
                elif tokens[0] == "accelerate":
                    if "-m" not in tokens:
                        continue  # accelerate's own options, not ours
                    i = tokens.index("-m")
                    if tokens[i + 1].split(".")[0] in OWN_PACKAGES:
                        commands.append(Command("module", tokens[i + 1], [], where=loc, text=snippet.strip(),
                                                words=tokens[i + 2:]))
                elif tokens[1] == "-m":
                    if tokens[2].split(".")[0] in OWN_PACKAGES:
                        commands.append(Command("module", tokens[2], [], where=loc, text=snippet.strip(),
                                                words=tokens[3:]))
                else:
                    commands.append(Command("script", tokens[1], [], where=loc, text=snippet.strip(),
                                            words=tokens[2:]))
    return commands, problems


# -- running a parser's --help in this process ------------------------------------------------------------------------


@dataclass
class HelpRun:
    code: object
    output: str
    parser: argparse.ArgumentParser | None
    error: str = ""


def run_help(cmd: Command) -> HelpRun:
    """Run ``cmd``'s ``--help`` here; the parser that printed it is the last one argparse was asked to parse with."""
    seen: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def spy(self, args=None, namespace=None):
        seen.append(self)
        return original(self, args, namespace)

    out, code, error = io.StringIO(), None, ""
    argv0 = list(sys.argv)
    argparse.ArgumentParser.parse_known_args = spy
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # runpy's "found in sys.modules" note for already-imported modules
            try:
                if cmd.kind == "avgen":
                    from avgen.cli import main

                    code = main([*cmd.argv, "--help"])
                elif cmd.kind == "script":
                    path = os.path.join(REPO, cmd.target)
                    if not os.path.isfile(path):
                        return HelpRun(None, "", None, f"{cmd.target}: no such script")
                    sys.argv = [path, *cmd.argv, "--help"]
                    runpy.run_path(path, run_name="__main__")
                else:
                    sys.argv = [cmd.target, *cmd.argv, "--help"]
                    runpy.run_module(cmd.target, run_name="__main__", alter_sys=True)
                code = "returned without exiting" if code is None else code
            except SystemExit as e:
                code = e.code
            except Exception as e:  # an import error or a crash: the command does not run
                error = f"{type(e).__name__}: {e}"
    finally:
        argparse.ArgumentParser.parse_known_args = original
        sys.argv = argv0
    return HelpRun(code, out.getvalue(), seen[-1] if seen else None, error)


def check(commands: list[Command]) -> list[str]:
    """One problem line per command whose --help fails or whose documented option its parser lacks."""
    problems, runs = [], {}

    def run(c: Command) -> HelpRun:
        if c.key not in runs:
            runs[c.key] = run_help(c)
        return runs[c.key]

    for cmd in commands:
        r = run(cmd)
        if cmd.kind != "avgen" and r.parser is not None:  # a script's sub-commands are known once its parser is
            paths, unknown = _subcommands(cmd.words, r.parser)
            if unknown:
                problems.append(f"{cmd.where}: `{cmd.target} {unknown[0]}`: no such command ({cmd.text})")
                continue
            cmd = Command(cmd.kind, cmd.target, paths[0], _options(cmd.words[len(paths[0]):]), cmd.where, cmd.text)
            r = run(cmd)
        name = " ".join(["avgen" if cmd.kind == "avgen" else cmd.target, *cmd.argv])
        if r.error or r.code not in (0, None) or r.parser is None or "usage:" not in r.output:
            problems.append(f"{cmd.where}: `{name} --help` did not run cleanly "
                            f"(exit {r.code!r}{'; ' + r.error if r.error else ''}): {cmd.text}")
            continue
        known = set(r.parser._option_string_actions)
        for opt in cmd.options:
            if opt not in known:
                problems.append(f"{cmd.where}: `{name}` has no option {opt}: {cmd.text}")
    return problems


def _doc_files() -> list[str]:
    return [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))


def test_every_documented_command_runs_help_and_has_its_options():
    commands, problems = [], []
    for path in _doc_files():
        with open(path, encoding="utf-8") as f:
            found, bad = find_commands(f.read(), os.path.relpath(path, REPO))
        commands += found
        problems += bad
    assert len(commands) > 80  # the extraction works: README and docs show well over 80 commands
    kinds = {c.kind for c in commands}
    assert kinds == {"avgen", "script", "module"}, kinds
    problems += check(commands)
    assert not problems, "\n".join(problems)


def test_the_check_catches_made_up_options_commands_and_scripts():
    doc = "\n".join([
        "Run `avgen s2v AUDIO -o out.mp4 --made-up-option 3`.",
        "```bash",
        "avgen eval fvd REAL FAKE --frames 8 \\",
        "    --no-such-flag",
        "avgen edit clip.mp4 --text x            # a command that does not exist",
        "python tools/no_such_tool.py --help",
        "python -m stylegan.projector --checkpoint X --target t.png --stepz 5",
        "accelerate launch -m avgen.train --config c.yaml --bogus",
        "python tools/make_image_corpus.py preview /tmp/c --clips 9 --nope 1",
        "python tools/make_image_corpus.py explode /tmp/c",
        "```",
        "`avgen eval fvd|fid|nope A B`",
    ])
    commands, problems = find_commands(doc, "made-up.md")
    problems += check(commands)
    text = "\n".join(problems)
    assert "made-up.md:1: `avgen s2v` has no option --made-up-option" in text
    assert "made-up.md:3: `avgen eval fvd` has no option --no-such-flag" in text
    assert "--frames" not in text.replace("--frames 8 ", "")  # a real option is not reported
    assert "`avgen edit`: no such command" in text and "`avgen nope`: no such command" in text
    assert "tools/no_such_tool.py --help` did not run cleanly" in text
    assert "`stylegan.projector` has no option --stepz" in text
    assert "`avgen.train` has no option --bogus" in text
    assert "`tools/make_image_corpus.py preview` has no option --nope" in text
    assert "`tools/make_image_corpus.py explode`: no such command" in text
    assert len(problems) == 9, text


# -- help text on every option -----------------------------------------------------------------------------------------


def _walk(parser: argparse.ArgumentParser, name: str):
    yield name, parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub_name, sub in a.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")


def _entry_points() -> list[Command]:
    """Every script and module of ours with an argparse parser and a __main__ block."""
    out = [Command("avgen", "", [])]
    for pkg in ("avgen", "stylegan"):
        for path in sorted(glob.glob(os.path.join(REPO, pkg, "**", "*.py"), recursive=True)):
            src = open(path, encoding="utf-8").read()
            if "ArgumentParser(" in src and "__main__" in src and not path.endswith(os.path.join("avgen", "cli.py")):
                mod = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                out.append(Command("module", mod[:-len(".__main__")] if mod.endswith(".__main__") else mod, []))
    for folder in ("tools", "bench"):
        for path in sorted(glob.glob(os.path.join(REPO, folder, "*.py"))):
            src = open(path, encoding="utf-8").read()
            if "ArgumentParser(" in src and "__main__" in src:
                out.append(Command("script", os.path.relpath(path, REPO), []))
    return out


def test_every_option_of_every_parser_has_help_text():
    from avgen.cli import build_parser

    missing, ran = [], []
    for cmd in _entry_points():
        if cmd.kind == "avgen":
            parsers = list(_walk(build_parser(), "avgen"))
        else:
            r = run_help(cmd)
            assert r.code == 0 and r.parser is not None, f"{cmd.target} --help: exit {r.code!r} {r.error}"
            ran.append(cmd.target)
            parsers = list(_walk(r.parser, cmd.target))
        for name, p in parsers:
            for a in p._actions:
                if isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                    continue
                if not (a.help or "").strip() or a.help == argparse.SUPPRESS:
                    missing.append(f"{name}: {'/'.join(a.option_strings) or a.dest}")
    assert {"stylegan.projector", "avgen.train", "tools/make_s2v_default.py", "bench/stylegan_synthesis.py"} <= set(ran)
    assert not missing, "options without help text:\n" + "\n".join(missing)
