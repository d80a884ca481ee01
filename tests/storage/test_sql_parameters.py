"""Parameterised SQL only: no query text anywhere is built from a runtime value.

Every asyncpg query call in the code is inspected: its SQL must be a literal, a module
constant, or text formatted only from literals, constants and lookups in constant tables
(column names chosen from a fixed mapping). Values always travel as $n parameters.
"""

from __future__ import annotations

import ast

from firstpitch.settings import PROJECT_ROOT

PACKAGES = ("firstpitch", "storage", "ingest", "features", "training", "runners")
QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor"}
TRUSTED_ATTRIBUTES = {"migration.sql"}  # the versioned .sql files shipped with the code


def _constant_name(name: str) -> bool:
    return name.isupper()


class Checker:
    def __init__(self, function: ast.AST) -> None:
        self.assigned: dict[str, list[ast.expr]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
            ):
                self.assigned.setdefault(node.target.id, []).append(node.value)

    def safe(self, expr: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(expr, ast.Constant):
            return isinstance(expr.value, str | int)
        if isinstance(expr, ast.Name):
            if _constant_name(expr.id):
                return True
            values = self.assigned.get(expr.id)
            return (
                bool(values)
                and expr.id not in seen
                and all(self.safe(v, seen | {expr.id}) for v in values)
            )
        if isinstance(expr, ast.Subscript):  # a lookup in a constant table
            return isinstance(expr.value, ast.Name) and _constant_name(expr.value.id)
        if isinstance(expr, ast.JoinedStr):
            return all(self.safe(v.value, seen) if isinstance(v, ast.FormattedValue)
                       else True for v in expr.values)  # fmt: skip
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "format"
        ):
            return (
                self.safe(expr.func.value, seen)
                and all(self.safe(k.value, seen) for k in expr.keywords)
                and all(self.safe(a, seen) for a in expr.args)
            )
        return ast.unparse(expr) in TRUSTED_ATTRIBUTES


def unsafe_queries(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        checker = Checker(function)
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in QUERY_METHODS
                and node.args
                and not checker.safe(node.args[0])
            ):
                found.append(f"line {node.lineno}: {ast.unparse(node.args[0])[:100]}")
    return found


def test_every_query_in_the_code_is_parameterised() -> None:
    problems = {}
    checked = 0
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            source = path.read_text()
            checked += source.count(".fetch") + source.count(".execute")
            if found := unsafe_queries(source):
                problems[str(path.relative_to(PROJECT_ROOT))] = found
    assert checked > 20  # the scan really looked at the query code
    assert not problems, problems


def test_the_checker_catches_values_in_query_text() -> None:
    bad = """
async def f(conn, game_id, col):
    await conn.fetch(f"SELECT * FROM games WHERE game_id = '{game_id}'")
    q = "SELECT * FROM t WHERE x = " + game_id
    await conn.execute(q)
    await conn.fetchval("SELECT {c} FROM t".format(c=col))
"""
    good = """
TABLE = {"a": "home_model_version"}
SQL = "SELECT 1"
async def f(conn, kind, v):
    col = TABLE[kind]
    extra = ""
    if v:
        extra = f"AND {col} = $2"
    await conn.fetch(f"SELECT {col} FROM t WHERE x = $1 {extra}", v)
    await conn.fetch(SQL)
"""
    assert len(unsafe_queries(bad)) == 3
    assert unsafe_queries(good) == []
