"""The layering rule: the store is the ground floor.

Modules under ``wayline.store`` import only the store itself and the bottom-layer modules
below; everything else (engine, segments, stages, channels, consent, analytics, API, CLI)
sits above and may import the store, never the other way round. Imports inside functions
count as much as those at the top of a module: they tie the layers together all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import wayline
import wayline.store

#: Modules below the store: they import nothing from any layer above it.
BOTTOM = frozenset(
    {"wayline.addresses", "wayline.clock", "wayline.errors", "wayline.events", "wayline.settings"}
)
#: What the store may import.
STORE = BOTTOM | {"wayline.store"}


def _modules(package: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((prefix, *parts)), path


def _imports(module: str, path: Path, *, runtime_only: bool) -> Iterator[str]:
    """What ``module`` imports from wayline, at any depth (``from a import b`` gives
    ``a.b``, where ``b`` may be a module or a name); ``runtime_only``: not what only the
    type checker reads (``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(n) for n in ast.walk(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "wayline")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] == "wayline":
                yield from (f"{base}.{a.name}" for a in node.names)


def _violations(
    modules: Iterator[tuple[str, Path]], allowed: frozenset[str], *, runtime_only: bool
) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, path in modules
        for name in _imports(module, path, runtime_only=runtime_only)
        if not any(name == a or name.startswith(a + ".") for a in allowed)
    ]


def test_the_store_imports_nothing_above_it() -> None:
    store = Path(wayline.store.__file__).parent
    found = _violations(_modules(store, "wayline.store"), STORE, runtime_only=False)
    assert not found, "the store imports from a layer above it:\n" + "\n".join(found)


def test_the_bottom_modules_import_nothing_above_them() -> None:
    root = Path(wayline.__file__).parent
    bottom = [(m, root / f"{m.rpartition('.')[2]}.py") for m in sorted(BOTTOM)]
    # an annotation may name a type from above (``errors`` names a journey problem)
    found = _violations(iter(bottom), BOTTOM, runtime_only=True)
    assert not found, "a bottom-layer module imports from above it:\n" + "\n".join(found)


def test_an_upward_import_is_named(tmp_path: Path) -> None:
    package = tmp_path / "store"
    package.mkdir()
    (package / "rows.py").write_text(
        "from wayline.store import schema\n"
        "def f():\n"
        "    from wayline.segments.spec import Segment\n"
        "    from .. import consent\n"
    )
    found = _violations(_modules(package, "wayline.store"), STORE, runtime_only=False)
    assert found == [
        "wayline.store.rows imports wayline.segments.spec.Segment",
        "wayline.store.rows imports wayline.consent",
    ]
