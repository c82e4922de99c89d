"""The layout's rules, checked on the source: no import circle inside avgen, models import only torch/einops,
stylegan never imports avgen at import time, one atomic-write primitive and one checkpoint-config reader."""

import ast
import os
import re

from .conftest import REPO

PKG = os.path.join(REPO, "avgen")


def _modules() -> dict[str, str]:
    """dotted module name -> file path, for every module of avgen."""
    out = {}
    for d, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), REPO)[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(d, f)
    return out


def _imports(name: str, path: str, modules: dict[str, str], *, top_level_only: bool) -> set[str]:
    """avgen modules that ``name`` imports (relative imports resolved; ``from pkg import sub`` counts sub)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):  # annotation-only imports never run
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # 'avgen.x.y.Class' -> the module that defines it
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b`` runs ``a/__init__`` first; an edge from a submodule to its own package's __init__ (which
    re-exports it) is that mechanism, not a design circle."""
    return {m: {t for t in deps if not m.startswith(t + ".")} for m, deps in graph.items()}


def test_no_import_circle_inside_avgen():
    modules = _modules()
    graph = {m: _imports(m, p, modules, top_level_only=False) for m, p in modules.items()}
    assert _cycles(_without_package_inits(graph)) == []


def test_models_import_only_torch_and_einops():
    allowed = {"torch", "einops", "math", "dataclasses", "__future__", "typing", "collections", "functools"}
    for d, _, files in os.walk(os.path.join(PKG, "models")):
        for f in (x for x in files if x.endswith(".py")):
            tree = ast.parse(open(os.path.join(d, f), encoding="utf-8").read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    roots = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    roots = {(node.module or "").split(".")[0]}
                else:
                    continue
                assert roots <= allowed, (os.path.join(d, f), roots - allowed)


def _avgen_sources():
    for d, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(d, f)
                yield os.path.relpath(p, REPO), open(p, encoding="utf-8").read()


def test_one_atomic_write_primitive():
    """Only avgen/utils.py renames temporary files into place; every other writer goes through atomic_output."""
    offenders = [rel for rel, src in _avgen_sources() if re.search(r"\bos\.(replace|rename)\(", src)
                 and rel != os.path.join("avgen", "utils.py")]
    assert offenders == []


def test_one_checkpoint_config_reader():
    """Checkpoint folders' config.json is parsed only by avgen.checkpoints.read_config."""
    offenders = []
    for rel, src in _avgen_sources():
        if rel == os.path.join("avgen", "checkpoints.py"):
            continue
        for m in re.finditer(r"json\.loads?\(", src):
            window = src[max(0, m.start() - 300): m.end() + 100]
            if "config.json" in window or "CONFIG_NAME" in window:
                offenders.append(rel)
    assert offenders == []


def test_cli_help_does_not_import_torch():
    """`avgen --help` and `avgen eval --help` answer without loading torch (start-up time)."""
    import subprocess
    import sys

    for args in (["--help"], ["eval", "--help"], ["v2s", "--help"]):
        code = ("import sys\nsys.argv = ['avgen'] + %r\nimport avgen.cli as c\ntry:\n    c.main()\nexcept SystemExit:\n"
                "    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH')" % args)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.stdout.strip().endswith("NO-TORCH"), (args, r.stdout[-300:], r.stderr[-300:])
