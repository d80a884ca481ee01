"""The shape of the code: the lower packages never import the upper package ``firstpitch``
(its API, serving, command line, settings and runtime), and no module outside ``tests/``
grows past ``MAX_LINES``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from firstpitch.settings import PROJECT_ROOT

LOWER = ("storage", "features", "ingest", "training", "runners")
UPPER = "firstpitch"
MAX_LINES = 300
NOT_MODULES = {"tests", "reports", "build", "dist"}  # the suite and generated output


def upper_imports(source: str) -> list[str]:
    """Every import of ``firstpitch`` or one of its modules in ``source``, as ``line N: text``;
    nested imports (in functions, under ``TYPE_CHECKING``) count as much as top-level ones."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == UPPER or name.startswith(UPPER + ".") for name in names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def project_modules(root: Path) -> Iterator[Path]:
    """The project's Python modules under ``root``, without the tests and anything hidden
    (virtualenvs, the state directory with its built Bentos, caches)."""
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in NOT_MODULES or any(p.startswith(".") or p == "__pycache__" for p in parts):
            continue
        yield path


def test_lower_layers_never_import_firstpitch() -> None:
    problems: dict[str, list[str]] = {}
    checked = 0
    for package in LOWER:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            checked += 1
            if found := upper_imports(path.read_text()):
                problems[str(path.relative_to(PROJECT_ROOT))] = found
    assert checked > 60  # the walk really went through the lower packages
    assert not problems, problems


def test_the_import_check_catches_every_form_of_import() -> None:
    source = """
import firstpitch
import firstpitch.runtime as rt
from firstpitch.settings import Settings
from firstpitch import api
def late():
    from firstpitch.serving.models import ServedModels
import firstpitchlike
from features import timelines
from . import firstpitch_notes
NAME = "firstpitch"  # firstpitch: the project's name in a string or a comment is no import
"""
    found = upper_imports(source)
    assert [line.split(":")[0] for line in found] == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
        "line 7",
    ], found


def test_no_module_outside_the_tests_is_over_300_lines() -> None:
    lengths = {
        str(path.relative_to(PROJECT_ROOT)): len(path.read_text().splitlines())
        for path in project_modules(PROJECT_ROOT)
    }
    assert len(lengths) > 150  # the walk really found the project's modules
    assert {"service.py", "features/timelines.py", "loadtests/bench_model_stats.py"} <= set(lengths)
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"split these by concern (at most {MAX_LINES} lines): {too_long}"


def test_the_module_walk_leaves_out_tests_and_hidden_directories(tmp_path: Path) -> None:
    for name in ("pkg/mod.py", "tests/test_x.py", ".venv/lib/big.py", "pkg/__pycache__/m.py",
                 ".state/bentoml/src/service.py", "service.py"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    found = [str(p.relative_to(tmp_path)) for p in project_modules(tmp_path)]
    assert found == ["pkg/mod.py", "service.py"]
