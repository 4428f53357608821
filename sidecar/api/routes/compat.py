"""Small routes kept for compatibility with the original plugin: /probe and /ping."""

from __future__ import annotations

from litestar import Router, get, post
from litestar.params import JSONBody

from sidecar.api.schemas import ERROR_RESPONSES, PingBody, Pong


@get(
    "/probe",
    status_code=204,
    operation_id="probe",
    responses=ERROR_RESPONSES,
    opt={"public": True},
    sync_to_thread=False,
)
def probe() -> None:
    """Answers 204 so extensions can tell the service is there (no token needed)."""


@post(
    "/ping", status_code=200, operation_id="ping", responses=ERROR_RESPONSES, sync_to_thread=False
)
def ping(data: JSONBody[PingBody]) -> Pong:
    return Pong(f"Pong! {data.message}")


router = Router("/", route_handlers=[probe, ping])
