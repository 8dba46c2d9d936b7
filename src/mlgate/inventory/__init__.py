"""Stage 1: discover what the repository contains."""

from mlgate.inventory.build import build_inventory

__all__ = ["build_inventory"]
