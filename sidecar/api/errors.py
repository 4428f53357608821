"""The one place where exceptions become HTTP responses: always ``{"error": "<message>"}``."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ExceptionHandlersMap

from sidecar.errors import SidecarError, Unauthorized

log = logging.getLogger("sidecar.api")

INTERNAL_ERROR = "Internal server error"


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        {"error": message}, status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def _wire_name(request: Request[Any, Any, Any], key: object) -> object:
    """A parameter's name as sent (``from``), not as the handler calls it (``start``)."""
    handler = request.scope.get("route_handler")
    signature = getattr(handler, "parsed_fn_signature", None)
    field = signature.parameters.get(str(key)) if signature is not None else None
    alias = getattr(getattr(field, "kwarg_definition", None), "name", None)
    return alias or key


def _validation_message(request: Request[Any, Any, Any], exc: ValidationException) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        key, message, source = problem.get("key"), problem.get("message"), problem.get("source")
        source = getattr(source, "value", source)  # Litestar's ParamType enum -> "query" etc.
        if source == "body" and message == f"'{key}'":
            # Litestar reports a missing body as a KeyError on the parameter name.
            return "Request body is required (a JSON document)"
        if source == "body":
            where = "body" if key == "data" else f"body {key}"
        else:
            where = f"{source} {_wire_name(request, key)}"
        parts.append(f"{where}: {message}")
    return "Invalid request: " + ("; ".join(parts) if parts else str(exc.detail))


def handle_sidecar_error(_request: Request[Any, Any, Any], exc: SidecarError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(exc.status_code, exc.message, headers)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return error_response(exc.status_code, _validation_message(request, exc))
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        return handle_internal_error(request, exc)
    message = {
        HTTP_404_NOT_FOUND: "Not found",
        HTTP_405_METHOD_NOT_ALLOWED: f"Method {request.method} is not allowed here",
        HTTP_413_REQUEST_ENTITY_TOO_LARGE: "Request body is too large",
    }.get(exc.status_code, exc.detail)
    return error_response(exc.status_code, message, exc.headers)


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: log it with its traceback, tell the client nothing about it."""
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, INTERNAL_ERROR)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SidecarError: handle_sidecar_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}
