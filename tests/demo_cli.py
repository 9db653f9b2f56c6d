"""The ``wayline demo`` command group, for tests that drive it with typer's runner."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import typer

import wayline


def demo_app() -> typer.Typer:
    """``wayline.cli.demo.demo_app``, read from its file when ``wayline.cli`` is a single
    module rather than a package of command groups."""
    try:
        module = importlib.import_module("wayline.cli.demo")
    except ImportError:
        path = Path(wayline.__file__).parent / "cli" / "demo.py"
        spec = importlib.util.spec_from_file_location("wayline_cli_demo", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    app: typer.Typer = module.demo_app
    return app
