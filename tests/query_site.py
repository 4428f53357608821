"""The query API of an indexed folder as the query tests call it: an in-process client and the
chatIds by relative path, with ``get`` (as an optional SillyTavern user), ``ok`` (200 and its
JSON) and ``error`` (that status and its message)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.testing import TestClient

from tests.conftest import PREFIX


@dataclass
class QuerySite:
    client: TestClient[Any]
    ids: dict[str, str]  # rel_path -> chatId

    def get(self, path: str, *, as_user: str | None = None, **params: Any) -> Any:
        headers = {"x-sillytavern-user": as_user} if as_user else {}
        return self.client.get(PREFIX + path, params=params, headers=headers)

    def ok(self, path: str, *, as_user: str | None = None, **params: Any) -> Any:
        response = self.get(path, as_user=as_user, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def error(self, status: int, path: str, *, as_user: str | None = None, **params: Any) -> str:
        response = self.get(path, as_user=as_user, **params)
        assert response.status_code == status, response.text
        message: str = response.json()["error"]
        return message
