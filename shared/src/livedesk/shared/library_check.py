"""Whether a library is one of the releases a fast path was checked against, and still has the
names it uses beyond the public API.

A fast path (one that reaches into a library's internals for speed) keeps its plain twin on
the public API beside it and is used only when this check finds nothing wrong: each caller
declares its checked releases, the dotted names it looks up and, for attributes an instance
gets in `__init__` (no class attribute to look up), the names that method's code must store
or take. The answer is a sentence per problem, for the one warning that says why a service
runs on its plain path.

Deliberately not here: what a fast path does, and behaviours no name can show (those rest on
the release bounds and on each path's tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata

# Distribution -> (first release checked, first release not covered).
Releases = Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]]


def installed_releases(names: Iterable[str]) -> dict[str, str | None]:
    """The installed release of each distribution named (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def release_problems(tested: Releases, installed: Mapping[str, str | None]) -> Iterator[str]:
    for name, (lowest, uncovered) in tested.items():
        release = installed.get(name)
        if release is None:
            yield f"{name} is not installed"
            continue
        numbers = re.match(r"\d+(?:\.\d+)*", release)
        version = tuple(int(n) for n in numbers.group().split(".")) if numbers else ()
        if not lowest <= version < uncovered:
            checked = f"{_dotted(lowest)} up to {_dotted(uncovered)}"
            yield f"{name} {release} is outside the releases checked ({checked})"


def missing_names(
    modules: Mapping[str, object],
    attributes: tuple[str, ...],
    code_names: Mapping[str, tuple[str, ...]],
) -> Iterator[str]:
    """`attributes` and `code_names` are dotted paths from a key of `modules`."""
    for path in attributes:
        if lookup(modules, path) is None:
            yield f"{path} is gone"
    for path, names in code_names.items():
        code = getattr(lookup(modules, path), "__code__", None)
        known = set(code.co_names) | set(code.co_varnames) if code is not None else set()
        if absent := [name for name in names if name not in known]:
            yield f"{path} no longer uses {', '.join(absent)}"


def lookup(modules: Mapping[str, object], path: str) -> object | None:
    module, *attributes = path.split(".")
    found = modules.get(module)
    for attribute in attributes:
        found = getattr(found, attribute, None)
    return found


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
