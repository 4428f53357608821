"""Versions of a chat: list, download, diff (filled in by the recovery issue)."""

from __future__ import annotations

from litestar import Router

router = Router("/", route_handlers=[])
