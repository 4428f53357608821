"""The Litestar application factory: everything the app needs comes from ``settings``."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin

from sidecar import __version__
from sidecar.api.auth import BearerTokenMiddleware
from sidecar.api.deps import EXTENSION_HEADER, provide_extension_db, provide_registry
from sidecar.api.errors import EXCEPTION_HANDLERS
from sidecar.api.routes import characters, compat, cross_extension, data, instances, registration
from sidecar.config import Settings
from sidecar.storage.registry import ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

API_PREFIX = "/api/plugins/valuetracker"


def create_app(settings: Settings, registry: ExtensionRegistry | None = None) -> Litestar:
    """Build the app. The registry is opened on startup and closed on shutdown."""
    registry = registry or ExtensionRegistry(
        settings.storage.database_dir,
        SqliteOptions(settings.storage.synchronous, settings.storage.busy_timeout_ms),
    )

    scoped = Router(
        "/",
        route_handlers=[characters.router, instances.router, data.router],
        dependencies={"db": Provide(provide_extension_db, sync_to_thread=False)},
    )
    api = Router(
        API_PREFIX,
        route_handlers=[registration.router, compat.router, cross_extension.router, scoped],
        dependencies={"registry": Provide(provide_registry, sync_to_thread=False)},
    )
    middleware: list[ASGIMiddleware] = []
    token = settings.api.token
    if token is not None:
        middleware.append(BearerTokenMiddleware(token.get_secret_value()))

    app = Litestar(
        route_handlers=[api],
        on_startup=[registry.open],
        on_shutdown=[registry.close],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware,
        cors_config=CORSConfig(
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[EXTENSION_HEADER, "content-type", "authorization", "last-event-id"],
            allow_credentials=False,
            max_age=600,
        ),
        request_max_body_size=settings.api.max_body_bytes,
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
    return app
