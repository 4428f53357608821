"""The Litestar application factory: everything the app needs comes from ``settings``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin

from sidecar import __version__
from sidecar.api.auth import BearerTokenMiddleware
from sidecar.api.deps import (
    EXTENSION_HEADER,
    USER_HEADER,
    provide_extension_db,
    provide_query,
    provide_registry,
    provide_st_user,
)
from sidecar.api.drain import DrainUnreadBody
from sidecar.api.errors import EXCEPTION_HANDLERS
from sidecar.api.request import SidecarRequest
from sidecar.api.routes import (
    characters,
    chats,
    compat,
    cross_extension,
    data,
    datasets,
    events,
    health,
    instances,
    registration,
    search,
    versions,
)
from sidecar.api.routes.health import HealthSource
from sidecar.api.send_hooks import correct_answers
from sidecar.config import Settings
from sidecar.events import CatalogEvents, EventHub
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.query.context import QueryContext
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

API_PREFIX = "/api/plugins/valuetracker"


class StartStopSource(HealthSource, Protocol):
    """The daemon's indexing service as the app sees it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    settings: Settings,
    registry: ExtensionRegistry | None = None,
    *,
    service: StartStopSource | None = None,
    hub: EventHub | None = None,
) -> Litestar:
    """Build the app. The registry (and the indexing service, when the daemon passes one) start
    with the app and stop with it; without a service the app serves the API alone."""
    registry = registry or ExtensionRegistry(
        settings.storage.database_dir,
        SqliteOptions(settings.storage.synchronous, settings.storage.busy_timeout_ms),
    )
    options = SqliteOptions(settings.storage.synchronous, settings.storage.busy_timeout_ms)
    event_log = CatalogEvents(settings.storage.database_dir / CATALOG_FILE, options)
    hub = hub or EventHub(event_log)
    index = settings.index
    query = QueryContext(
        settings.storage.database_dir,
        registry,
        NamespacePolicy(index.namespaces, index.exclude_namespaces, index.namespace_map),
        options,
    )

    async def bind_hub() -> None:
        hub.bind(asyncio.get_running_loop())

    startup: list[Callable[[], Any]] = [registry.open, bind_hub]
    shutdown: list[Callable[[], Any]] = [hub.close]
    if service is not None:
        startup.append(service.start)
        shutdown.append(service.stop)
    shutdown += [query.close, event_log.close, registry.close]

    scoped = Router(
        "/",
        route_handlers=[characters.router, instances.router, data.router],
        dependencies={"db": Provide(provide_extension_db, sync_to_thread=False)},
    )
    api = Router(
        API_PREFIX,
        route_handlers=[
            registration.router,
            compat.router,
            cross_extension.router,
            health.router,
            events.router,
            chats.router,
            datasets.router,
            search.router,
            versions.router,
            scoped,
        ],
        dependencies={
            "registry": Provide(provide_registry, sync_to_thread=False),
            "queries": Provide(provide_query, sync_to_thread=False),
            "st_user": Provide(provide_st_user, sync_to_thread=False),
        },
    )
    middleware: list[ASGIMiddleware] = [DrainUnreadBody()]  # first: it wraps every other
    token = settings.api.token
    if token is not None:
        middleware.append(BearerTokenMiddleware(token.get_secret_value()))

    app = Litestar(
        route_handlers=[api, health.root_router],
        on_startup=startup,
        on_shutdown=shutdown,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        cors_config=CORSConfig(
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                EXTENSION_HEADER,
                USER_HEADER,
                "content-type",
                "authorization",
                "last-event-id",
            ],
            allow_credentials=False,
            max_age=600,
        ),
        request_max_body_size=settings.api.max_body_bytes,
        request_class=SidecarRequest,
        before_send=[correct_answers],
        openapi_config=OpenAPIConfig(
            title="sidecar",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin()],
        ),
        logging_config=None,
        debug=False,
    )
    app.state.registry = registry
    app.state.events = hub
    app.state.query = query
    app.state.events_heartbeat = settings.events.heartbeat_seconds
    app.state.service = service
    app.state.started_at = time.monotonic()
    return app
