"""Validation of the identifiers and keys that appear in requests.

Ids become file names (extension ids) and primary keys, so they are checked before any file or
database is touched.
"""

from __future__ import annotations

import re

from sidecar.errors import InvalidInput

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)
MAX_KEY_LENGTH = 512


def is_valid_id(value: object) -> bool:
    """True for strings matching ``^[A-Za-z0-9_-]{1,128}$`` (ASCII only, no trailing newline)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def check_id(value: object, what: str) -> str:
    """Return ``value`` if it is a valid id, else raise ``InvalidInput("Invalid <what> ID")``."""
    if not is_valid_id(value):
        raise InvalidInput(f"Invalid {what} ID")
    assert isinstance(value, str)
    return value


def check_key(key: object) -> str:
    """Data keys are non-empty strings of at most 512 characters."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("Data key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"Data key is longer than {MAX_KEY_LENGTH} characters")
    return key
