"""Error mapping: every error is {"error": message}; a bug is a logged, generic 500."""

from __future__ import annotations

import logging

import pytest

from sidecar.tracker import entities
from tests.conftest import Api


def test_unknown_route_and_method(anon: Api) -> None:
    missing = anon.get("/no/such/route")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    wrong = anon.request("PATCH", "/register", json={})
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "Method PATCH is not allowed here"}


def test_malformed_json_is_400(api: Api) -> None:
    response = api.post(
        "/characters", content=b'{"id": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["error"]


def test_unexpected_exception_is_a_generic_500_with_a_logged_traceback(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("secret detail /home/user/private.db")

    monkeypatch.setattr(entities, "list_characters", broken)
    with caplog.at_level(logging.ERROR, logger="sidecar.api"):
        response = api.get("/characters")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.name == "sidecar.api"]
    assert logged
    assert logged[0].exc_info is not None
    assert "secret detail" in str(logged[0].exc_info[1])
