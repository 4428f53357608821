"""Small routes kept for compatibility with the original plugin: /probe and /ping."""

from __future__ import annotations

from litestar import Router
from litestar.params import JSONBody

from sidecar.api.operation import GET, POST, operation
from sidecar.api.schemas import PingBody, Pong


@operation(GET, "/probe", "probe", status_code=204, opt={"public": True})
def probe() -> None:
    """Answers 204 so extensions can tell the service is there (no token needed)."""


@operation(POST, "/ping", "ping", sync_to_thread=False)
def ping(data: JSONBody[PingBody]) -> Pong:
    return Pong(f"Pong! {data.message}")


router = Router("/", route_handlers=[probe, ping])
