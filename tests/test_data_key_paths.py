"""Data keys in paths: a key sent plainly and the same key sent percent-encoded reach the same
row. ``raw_key`` skips decoding for plain paths (the common case); this pins that both ways
agree, for every route that reads a key from the path."""

from __future__ import annotations

import string

import pytest

from tests.conftest import Api

# Characters a client may send unencoded in a path segment (RFC 3986 unreserved, plus a few
# sub-delims), then keys with slashes and dots (not "." alone: clients drop a "." segment).
PLAIN = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
KEYS = ["k", "a.b", "~x~", "a:b@c", "x+y=z", "a/b", "a/b/c", "..x", "x.", PLAIN, "k" * 512]


def encoded(key: str) -> str:
    """Every byte percent-encoded, slashes included."""
    return "".join(f"%{byte:02X}" for byte in key.encode())


@pytest.mark.parametrize("key", KEYS)
def test_a_key_sent_plainly_and_encoded_is_the_same_key(api: Api, key: str) -> None:
    assert api.post("/instances/i1/data", json={"key": key, "value": [key]}).status_code == 200
    for form in (key, encoded(key)):
        assert api.get(f"/instances/i1/data/{form}").json() == {key: [key]}
        cross = api.get(f"/cross-extension/instances/ext1/i1/data/{form}", headers={})
        assert cross.json() == {key: [key]}
    assert api.delete(f"/instances/i1/data/{key}").json() == {"success": True}
    assert api.get(f"/instances/i1/data/{encoded(key)}").status_code == 404
    assert api.post("/instances/i1/data", json={"key": key, "value": 2}).status_code == 200
    assert api.delete(f"/instances/i1/data/{encoded(key)}").json() == {"success": True}
    assert api.get("/instances/i1/data").json() == {}


@pytest.mark.parametrize("action", ["override", "merge", "remove"])
def test_keys_named_like_bulk_actions_plain_and_encoded(api: Api, action: str) -> None:
    assert api.post("/instances/i1/data", json={"key": action, "value": 1}).status_code == 200
    for form in (action, encoded(action)):
        assert api.get(f"/instances/i1/data/{form}").json() == {action: 1}
    assert api.delete(f"/instances/i1/data/{action}").json() == {"success": True}
    assert api.get(f"/instances/i1/data/{encoded(action)}").status_code == 404
