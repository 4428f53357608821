"""Health and status: ``GET /healthz`` (for systemd, monitors, people) and ``GET .../status``."""

from __future__ import annotations

import time
from typing import Any, Protocol

import msgspec
from litestar import MediaType, Response, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec

from sidecar import __version__
from sidecar.api.deps import provide_registry
from sidecar.api.operation import GET, operation
from sidecar.errors import SidecarError
from sidecar.query.context import QueryContext
from sidecar.recovery.disk_usage import disk_usage
from sidecar.storage.faults import FAULTS
from sidecar.storage.registry import ExtensionRegistry


class HealthSource(Protocol):
    """What the daemon reports (the indexing service); absent when only the API runs."""

    def health(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...


def _source(state: State) -> HealthSource | None:
    source: HealthSource | None = getattr(state, "service", None)
    return source


class HealthBody(msgspec.Struct):
    status: str  # ok | unhealthy
    reason: str


@get(
    "/healthz",
    operation_id="healthz",
    opt={"public": True},
    sync_to_thread=False,
    responses={
        200: ResponseSpec(HealthBody, description="Healthy", generate_examples=False),
        503: ResponseSpec(HealthBody, description="Unhealthy, with the reason",
                          generate_examples=False),
    },
)  # fmt: skip
def healthz(state: State, registry: NamedDependency[ExtensionRegistry]) -> Response[Any]:
    """200 ``{"status": "ok"}`` when the watcher and the databases work; 503 with the reason."""
    ok, reason = registry.check()
    source = _source(state)
    if ok and source is not None:
        ok, reason = source.health()
    if ok:  # damaged files, a full disk (sidecar.storage.faults)
        ok, reason = FAULTS.health(registry.database_dir)
    body = HealthBody("ok" if ok else "unhealthy", reason)
    return Response(body, status_code=200 if ok else 503, media_type=MediaType.JSON)


@operation(GET, "/status", "status", sync_to_thread=False)
def status(
    state: State,
    registry: NamedDependency[ExtensionRegistry],
    queries: NamedDependency[QueryContext],
) -> dict[str, Any]:
    """Counts, queue depth, last indexed time, lag, problems, watch mode, disk use."""
    source = _source(state)
    try:
        report = source.status() if source is not None else {"watchMode": "disabled"}
    except SidecarError as exc:  # a damaged catalog: say so, and still list the faults
        report = {"watchMode": "unavailable", "error": exc.message}
    started: float = getattr(state, "started_at", time.monotonic())
    registered = sum(1 for r in registry.registrations() if r.registered)
    return {
        "version": __version__,
        "uptimeSeconds": round(time.monotonic() - started, 1),
        "registeredExtensions": registered,
        **report,
        "diskUsage": _camel(disk_usage(queries.catalog_path.parent)),
        # What this process met, and what the indexer process met (its status carries it).
        "storage": merge_reports(FAULTS.report(registry.database_dir), report.get("storage")),
    }


def merge_reports(mine: dict[str, Any], other: object) -> dict[str, Any]:
    """Two processes' :meth:`FaultBook.report`: every damaged file once, the full disk."""
    if not isinstance(other, dict):
        return mine
    damaged = {f["file"]: f for f in [*other.get("damaged", []), *mine["damaged"]]}
    return {
        "damaged": [damaged[name] for name in sorted(damaged)],
        "diskFull": mine["diskFull"] or other.get("diskFull"),
    }


def _camel(usage: dict[str, Any]) -> dict[str, Any]:
    return {"lineStore" if key == "line_store" else key: value for key, value in usage.items()}


root_router = Router(
    "/",
    route_handlers=[healthz],
    dependencies={"registry": Provide(provide_registry, sync_to_thread=False)},
)
router = Router("/", route_handlers=[status])
