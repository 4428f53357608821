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


class Damaged(SidecarError):
    """A file sidecar needs is damaged (or missing): only the routes that need it answer this,
    until ``sidecar repair`` (or, for derived data, the next start) fixes it."""

    status_code = 503

    def __init__(self, message: str, file: str = "") -> None:
        super().__init__(message)
        self.file = file


class DiskFull(SidecarError):
    """A write failed for lack of space; reads keep working and writes resume by themselves
    once space is free again. Never reported as damage."""

    status_code = 507

    def __init__(self, message: str, file: str = "") -> None:
        super().__init__(message)
        self.file = file


class LinesMissing(SidecarError):
    """A chat version cannot be rebuilt: lines it needs are gone from the line store (a pack
    file was deleted or cut short). Other versions keep working."""

    status_code = 410
