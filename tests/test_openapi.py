"""The OpenAPI document lists every route with its request and response schema."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

P = "/api/plugins/valuetracker"

ROUTES = {
    ("post", "/register"): "RegisterBody",
    ("delete", "/register"): "DeregisterBody",
    ("get", "/extensions"): None,
    ("get", "/status"): None,
    ("get", "/events"): None,
    ("get", "/healthz"): None,  # outside the prefix
    ("get", "/chats"): None,
    ("get", "/chats/{chat_id}"): None,
    ("get", "/chats/{chat_id}/messages"): None,
    ("get", "/chats/{chat_id}/messages/{position}"): None,
    ("get", "/chats/{chat_id}/messages/{position}/data/{namespace}"): None,
    ("get", "/chats/{chat_id}/messages/{position}/data/{namespace}/{key}"): None,
    ("get", "/chats/{chat_id}/messages/{position}/history/{namespace}/{key}"): None,
    ("get", "/chats/{chat_id}/history"): None,
    ("get", "/chats/{chat_id}/data/{namespace}"): None,
    ("get", "/chats/{chat_id}/data/{namespace}/{key}"): None,
    ("get", "/chats/{chat_id}/history/{namespace}/{key}"): None,
    ("get", "/data/{namespace}"): None,
    ("get", "/search"): None,
    ("get", "/chats/{chat_id}/versions"): None,
    ("get", "/chats/{chat_id}/versions/{version}/file"): None,
    ("get", "/chats/{chat_id}/versions/{version}/diff"): None,
    ("get", "/probe"): None,
    ("post", "/ping"): "PingBody",
    ("get", "/characters"): None,
    ("post", "/characters"): "CharacterBody",
    ("get", "/characters/{character_id}"): None,
    ("delete", "/characters/{character_id}"): None,
    ("get", "/characters/{character_id}/instances"): None,
    ("delete", "/characters/{character_id}/instances"): None,
    ("get", "/instances"): None,
    ("post", "/instances"): "InstanceBody",
    ("get", "/instances/{instance_id}"): None,
    ("delete", "/instances/{instance_id}"): None,
    ("get", "/instances/{instance_id}/data"): None,
    ("post", "/instances/{instance_id}/data"): "DataBody",
    ("put", "/instances/{instance_id}/data"): "DataBody",
    ("delete", "/instances/{instance_id}/data"): None,
    ("get", "/instances/{instance_id}/data/{key}"): None,
    ("delete", "/instances/{instance_id}/data/{key}"): None,
    ("put", "/instances/{instance_id}/data/override"): "object",
    ("put", "/instances/{instance_id}/data/merge"): "object",
    ("put", "/instances/{instance_id}/data/remove"): "RemoveKeysBody",
    ("get", "/cross-extension/characters/{extension_id}"): None,
    ("get", "/cross-extension/characters/{extension_id}/{character_id}"): None,
    ("get", "/cross-extension/characters/{extension_id}/{character_id}/instances"): None,
    ("get", "/cross-extension/instances/{extension_id}/{instance_id}"): None,
    ("get", "/cross-extension/instances/{extension_id}/{instance_id}/data"): None,
    ("get", "/cross-extension/instances/{extension_id}/{instance_id}/data/{key}"): None,
}


def _schema(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_every_route_is_listed_with_its_schemas(client: TestClient[Any]) -> None:
    schema = _schema(client)
    listed = {
        (method, path.removeprefix(P))
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert listed == set(ROUTES)
    components = schema["components"]["schemas"]
    for (method, path), body in ROUTES.items():
        operation = schema["paths"][path if path == "/healthz" else P + path][method]
        assert operation["operationId"], (method, path)
        if body is not None:
            body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
            if body == "object":
                assert body_schema["type"] == "object"
            else:
                assert body_schema == {"$ref": f"#/components/schemas/{body}"}
        success = "204" if path == "/probe" else "200"
        assert success in operation["responses"], (method, path)
        if path == "/events":
            assert "text/event-stream" in operation["responses"]["200"]["content"]
        elif path.endswith("/file"):
            assert "application/jsonl" in operation["responses"]["200"]["content"]
        elif path == "/healthz":
            for code in ("200", "503"):
                health = operation["responses"][code]["content"]["application/json"]["schema"]
                assert health == {"$ref": "#/components/schemas/HealthBody"}
            continue
        elif success == "200":
            assert operation["responses"]["200"]["content"]["application/json"]["schema"]
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert components["ErrorBody"]["properties"] == {"error": {"type": "string"}}


def test_response_schemas_use_camel_case(client: TestClient[Any]) -> None:
    components = _schema(client)["components"]["schemas"]
    assert set(components["Instance"]["properties"]) == {
        "id",
        "characterId",
        "name",
        "createdAt",
        "updatedAt",
    }
    assert set(components["ExtensionInfo"]["properties"]) == {
        "extensionId",
        "registered",
        "createdAt",
        "characters",
        "instances",
        "dataKeys",
        "problem",  # what is wrong with its database file, when something is
    }
    assert set(components["RegisterBody"]["properties"]) == {"extensionId", "dbPath"}
