"""CLI commands (filled in by the recovery issue)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``sidecar`` command group."""
