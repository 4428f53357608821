"""The one error hierarchy of sidecar.

Every failure a client can cause is a :class:`SidecarError` carrying the HTTP status it maps to
and a message that is safe to show (no paths, no SQL). ``sidecar.api.errors`` turns them into
responses in one place; anything that is not a ``SidecarError`` is a bug and becomes a 500.
"""

from __future__ import annotations


class SidecarError(Exception):
    """Base class: a failure with a client-safe message."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(SidecarError):
    """The request is malformed: bad id, bad body, bad parameter."""

    status_code = 400


class Unauthorized(SidecarError):
    """The request lacks the configured bearer token."""

    status_code = 401


class NotFound(SidecarError):
    """The thing the request names does not exist."""

    status_code = 404


class Conflict(SidecarError):
    """The request contradicts what is stored (an instance id owned by another character)."""

    status_code = 409


class ConfigError(SidecarError):
    """The configuration file or a setting is wrong; raised before anything starts."""

    status_code = 500
