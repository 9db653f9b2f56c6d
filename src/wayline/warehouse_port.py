"""What the rest of Wayline needs from the warehouse loader, without importing it."""

from __future__ import annotations

from typing import Protocol


class WarehouseEraser(Protocol):
    def apply_erasures(self) -> int:
        """Delete the warehouse rows of every pending erasure; returns how many went."""
        ...
