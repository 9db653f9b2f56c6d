"""The demo shop: its journeys, templates and segments, and a local mail sink to read
what they send."""

from __future__ import annotations

from pathlib import Path


def shop_dir() -> Path:
    """The demo shop's content: ``journeys/``, ``templates/`` and ``segments/``."""
    return Path(__file__).parent / "shop"
