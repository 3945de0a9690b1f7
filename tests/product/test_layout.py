"""The house rules of the code's structure (issue "the house in order"), checked on the
source itself so that they cannot drift silently: module and function sizes, which layer
may import which, Redis key names built in one place, no sink asked for its class."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("common", "web", "worker")
CODE = (*PRODUCT, "sim", "bench")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_module_is_under_400_lines() -> None:
    too_long = {
        _name(p): n
        for p in _modules(*CODE, "tests")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) >= MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_function_outside_tests_is_over_60_lines() -> None:
    too_long = {}
    for path in _modules(*CODE):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long[f"{_name(path)}:{node.name}"] = length
    assert too_long == {}


def _imported(path: Path) -> Iterator[str]:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("common", ("web", "worker")), ("web", ("worker",)), ("worker", ("web",))],
)
def test_layers_import_only_what_they_may(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = [
        f"{_name(path)} imports {module}"
        for path in _modules(layer)
        for module in _imported(path)
        if module.split(".")[0] in forbidden
    ]
    assert wrong == []


def _strings(path: Path) -> Iterator[str]:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):  # an f-string's literal parts, joined
            yield "".join(
                part.value
                for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )


def test_redis_keys_are_built_only_in_common_state_keys() -> None:
    key_like = re.compile(r"^pdgraph:[a-z]")
    elsewhere = [
        f"{_name(path)}: {text!r}"
        for path in _modules(*PRODUCT)
        if path != ROOT / "common" / "state" / "keys.py"
        for text in _strings(path)
        if key_like.match(text)
    ]
    assert elsewhere == []


def test_graph_keys_are_read_through_the_transform_helpers() -> None:
    fragments = ("|oncall|", "|assigned|", "|has|", "service:", "user:", "team:")
    matches = [
        f"{_name(path)}: {text!r}"
        for path in _modules(*PRODUCT)
        if ROOT / "common" / "objects" not in path.parents
        for text in _strings(path)
        if text in fragments
    ]
    assert matches == []


def test_no_code_asks_a_sink_for_its_class() -> None:
    asks = [
        f"{_name(path)}:{node.lineno}"
        for path in _modules(*PRODUCT)
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and re.search(r"\w*Sink\b", ast.unparse(node.args[1]))  # a sink class, not SinkError
    ]
    assert asks == []


def test_the_app_factory_only_wires_blueprints() -> None:
    factory = next(
        node
        for node in ast.walk(_tree(ROOT / "web" / "app.py"))
        if isinstance(node, ast.FunctionDef) and node.name == "create_app"
    )
    assert (factory.end_lineno or 0) - factory.lineno + 1 <= 30
    assert not any(isinstance(n, ast.FunctionDef) for n in ast.walk(factory) if n is not factory)


def test_common_names_no_job_of_the_worker() -> None:
    """A lower layer never names a higher one, but for the job table: common/queueing.py
    names each job's function the way RQ refers to it (a string the worker imports), so
    that web/ and worker/ queue jobs from one table without importing each other."""
    named = [
        f"{_name(path)}: {text!r}"
        for path in _modules("common")
        if _name(path) != "common/queueing.py"
        for text in _strings(path)
        if text.startswith("worker.")
    ]
    assert named == []


def _product_module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_product_module_imports_itself_back() -> None:
    """No import circle among common/, web/ and worker/ (imports inside functions and
    under TYPE_CHECKING included): each layer is built from the ones below it."""
    modules = {_product_module(p): p for p in _modules(*PRODUCT)}
    edges = {
        name: {m for m in _imported(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    for name, imported in edges.items():  # a package is imported with its __init__
        for module in list(imported):
            parent = module.rpartition(".")[0]
            if parent in modules and parent != name and not name.startswith(parent + "."):
                imported.add(parent)
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for module in sorted(edges[name]):
            if state.get(module) == 1:
                circles.append([*trail[trail.index(module) :], module])
            elif module not in state:
                visit(module, [*trail, module])
        state[name] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_each_object_type_is_named_in_its_own_module_only() -> None:
    """A `_type` pdgraph writes is spelled out once, in its kind's module
    (common/objects/<kind>.py); every other module imports the name or asks the registry."""
    from common.objects import GRAPH_TYPES

    where: dict[str, set[str]] = {}
    for path in _modules(*PRODUCT):
        for text in _strings(path):
            if text in GRAPH_TYPES:
                where.setdefault(text, set()).add(_name(path))
    elsewhere = {
        type_: sorted(paths)
        for type_, paths in where.items()
        if len(paths) != 1 or not next(iter(paths)).startswith("common/objects/")
    }
    assert elsewhere == {}
    assert set(where) == set(GRAPH_TYPES)


def test_every_object_module_is_in_the_registry() -> None:
    """Each module of common/objects/ that declares a kind is listed in KINDS (a new type
    is its module and one line there)."""
    import importlib

    from common.objects import KINDS

    declared = []
    for path in sorted((ROOT / "common" / "objects").glob("*.py")):
        module = importlib.import_module(_product_module(path))
        kind = getattr(module, "KIND", None)
        if kind is not None:
            declared.append(kind)
    assert sorted(k.name for k in declared) == sorted(k.name for k in KINDS)
    assert len({k.write_order for k in KINDS}) == len(KINDS)
