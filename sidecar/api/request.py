"""The request class of the app: JSON bodies are checked before anything reads them.

- A body must be sent as ``application/json`` (or a ``+json`` type): 415 otherwise. Browsers send
  ``text/plain``, form and type-less bodies cross-origin without a CORS preflight, so without this
  any web page could register extensions or write data through the user's browser.
- A body that is not UTF-8 is 400 (msgspec raises ``UnicodeDecodeError`` for it, a 500 before).
- JSON nested deeper than :data:`MAX_JSON_DEPTH` is 400: deeper documents would hit Python's
  recursion limit later (decoding, encoding, deep merges) and end as a 500.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from sidecar.errors import InvalidInput

MAX_JSON_DEPTH = 256
JSON_TYPE_REQUIRED = "Content-Type must be application/json"
NOT_UTF8 = "Request body is not valid UTF-8"
TOO_DEEP = f"JSON is nested more than {MAX_JSON_DEPTH} levels deep"


def is_json_media_type(media_type: str) -> bool:
    media_type = media_type.strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def exceeds_depth(value: Any, limit: int) -> bool:
    """True if arrays/objects nest more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


class SidecarRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        body = await self.body()
        if body and not is_json_media_type(self.content_type[0]):
            raise HTTPException(
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=JSON_TYPE_REQUIRED
            )
        try:
            value = await super().json()
        except UnicodeDecodeError:
            raise InvalidInput(NOT_UTF8) from None
        except RecursionError:
            raise InvalidInput(TOO_DEEP) from None
        # Only a body with more brackets than the limit can nest that deep; most skip the walk.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and exceeds_depth(
            value, MAX_JSON_DEPTH
        ):
            raise InvalidInput(TOO_DEEP)
        return value
