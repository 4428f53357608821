"""Query API routes (filled in by the query issue)."""

from __future__ import annotations

from litestar import Router

router = Router("/", route_handlers=[])
