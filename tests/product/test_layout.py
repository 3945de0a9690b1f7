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


def test_redis_keys_are_built_only_in_common_keys() -> None:
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
        if ROOT / "common" / "transform" not in path.parents
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
