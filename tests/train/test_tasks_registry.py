"""The task registry, the Task interface the engine relies on, and the import structure of avgen.train."""

import ast
import glob
import os

import pytest
import yaml

import avgen.train.engine as engine
from avgen.errors import ConfigError
from avgen.train.config import load_config
from avgen.train.tasks import TASKS, Task, get_task

from ..conftest import REPO

TRAIN_DIR = os.path.dirname(engine.__file__)
# the frozen parts task s2v refuses to start without (validation only checks that they are named)
REQUIRED = {"s2v": ["model.stylegan=G.pkl", "model.audio_encoder=enc"]}


def _configs_by_task() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)):
        with open(path) as f:
            found.setdefault(yaml.safe_load(f).get("task", "feature2mel"), []).append(path)
    return found


def test_registry_names_and_lookup():
    assert sorted(TASKS) == ["feature2mel", "melgan", "s2v", "s2v_audio", "specvqgan_codebook", "specvqgan_transformer",
                             "stylegan2", "varietysound", "vocoder"]
    for name, cls in TASKS.items():
        assert issubclass(cls, Task) and cls.name == name and get_task(name) is cls
    with pytest.raises(ConfigError, match=r"task: unknown task 'nope' \(known: feature2mel, melgan, s2v, s2v_audio"):
        get_task("nope")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_validates_from_its_shipped_configs(name):
    configs = _configs_by_task().get(name)
    assert configs, f"no YAML under configs/ uses task: {name}"
    for path in configs:
        cfg = load_config(path, REQUIRED.get(name, []))
        assert cfg.task == name
        get_task(name).validate(cfg)


def test_task_declares_every_hook_the_engine_calls():
    source = open(engine.__file__).read()
    assert "hasattr(task" not in source
    called = {node.attr for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "task"}
    assert {"attach_dataset", "evaluate", "log_media", "export"} <= called
    for attr in called:
        assert hasattr(Task, attr), f"the engine uses task.{attr}, which Task does not declare"
    for hook in ("attach_dataset", "evaluate", "log_media", "export"):
        assert callable(getattr(Task, hook))


def test_default_hooks_are_no_ops():
    task = object.__new__(Task)
    assert task.attach_dataset(object()) is None
    assert task.evaluate(None, 0) == {}
    assert task.export("unused", None, None) is False  # the engine then writes its generic final/


def _module_imports(path: str, package: str) -> set[str]:
    """avgen.train modules imported at module level (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(open(path).read())
    out = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return out


def test_no_import_cycle_inside_avgen_train():
    modules = {}
    for path in glob.glob(os.path.join(TRAIN_DIR, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, os.path.dirname(os.path.dirname(TRAIN_DIR)))[:-3].replace(os.sep, ".")
        is_pkg = rel.endswith(".__init__")
        name = rel[: -len(".__init__")] if is_pkg else rel
        modules[name] = (path, name if is_pkg else name.rsplit(".", 1)[0])
    # a parent package is always initialised before its submodules, so an edge to an ancestor closes no cycle
    graph = {m: {d for d in _module_imports(p, pkg) if d in modules and not (m == d or m.startswith(d + "."))}
             for m, (p, pkg) in modules.items()}
    state: dict[str, int] = {}

    def walk(m, stack):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                walk(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
