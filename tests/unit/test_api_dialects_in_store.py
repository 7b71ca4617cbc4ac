"""Only the store knows which database is in use: outside `livedesk.api.store`, no module
of the API asks an engine or connection for its dialect, imports a dialect's SQLAlchemy
constructs or a database driver, or names a database kind in code (comments may).

Allowed beside the store: `db` (building an engine for a URL) and the schema (`models`
and the migrations declare column types that differ by database; they check nothing).
"""

from __future__ import annotations

import ast
from pathlib import Path

import livedesk.api

API = Path(livedesk.api.__file__).parent
ALLOWED = {"db.py", "models.py"}
DRIVERS = ("asyncpg", "aiosqlite", "sqlite3", "psycopg", "sqlalchemy.dialects")
KINDS = ("sqlite", "postgresql", "postgres")


def knowledge_of_the_database(source: str) -> list[str]:
    """Each place in `source` that depends on which database is in use, in line order."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "dialect":
            found.append((node.lineno, ".dialect"))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            found += [(node.lineno, f"imports {m}") for m in modules if m.startswith(DRIVERS)]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and node.value.lower().startswith(KINDS)
        ):
            found.append((node.lineno, repr(node.value[:30])))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_outside_the_store_no_module_knows_the_database() -> None:
    modules = [
        path
        for path in API.rglob("*.py")
        if path.relative_to(API).parts[0] not in ("store", "migrations")
        and path.name not in ALLOWED
    ]
    assert len(modules) > 20  # the API's modules were found
    found = {
        str(path.relative_to(API)): places
        for path in modules
        if (places := knowledge_of_the_database(path.read_text()))
    }
    assert found == {}


def test_the_check_sees_each_kind_of_knowledge() -> None:
    source = (
        "import asyncpg\n"
        "from sqlalchemy.dialects import sqlite\n"
        "postgresql = engine.dialect.name == 'postgresql'\n"
    )
    assert knowledge_of_the_database(source) == [
        "line 1: imports asyncpg",
        "line 2: imports sqlalchemy.dialects",
        "line 3: 'postgresql'",
        "line 3: .dialect",
    ]
