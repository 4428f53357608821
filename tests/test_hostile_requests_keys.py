"""Hostile data keys and numbers: keys over 512 characters and numbers out of float range are 400,
the largest allowed ones are stored exactly (real server, see tests/hostile_http.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.hostile_http import AS_EXT, EXT, JSON, Site, site_fixtures

site, unchanged = site_fixtures()


# -- keys and numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k" * 513, "é" * 513, "k" * 100_000], ids=lambda k: f"{len(k)}")
def test_keys_over_512_characters_are_400(unchanged: Site, key: str) -> None:
    server, in_path = unchanged.server, quote(key, safe="")
    for method, target, body in [
        ("POST", "/instances/i1/data", {"key": key, "value": 1}),
        ("PUT", "/instances/i1/data", {"key": key, "value": 1}),
        ("PUT", "/instances/i1/data/override", {key: 1}),
        ("PUT", "/instances/i1/data/merge", {key: 1}),
        ("PUT", "/instances/i1/data/remove", {"keys": ["k1", key]}),
    ]:
        answer = server.json(method, target, body, headers=AS_EXT)
        assert answer.error(400) == "Data key is longer than 512 characters", (method, target)
    if len(in_path) < 8000:  # the request line of a 100,000-character key is refused earlier
        for method in ("GET", "DELETE"):
            server.send(method, f"/instances/i1/data/{in_path}", headers=AS_EXT).error(400)
        cross = f"/cross-extension/instances/{EXT}/i1/data/{in_path}"
        server.send("GET", cross).error(400)


@pytest.mark.parametrize(
    "key", ["k" * 512, "é" * 512, "/" * 512], ids=["ascii", "latin", "slashes"]
)
def test_keys_of_512_characters_work(site: Site, key: str) -> None:
    server, in_path = site.server, quote(key, safe="")
    saved = server.json("POST", "/instances/i1/data", {"key": key, "value": "v"}, headers=AS_EXT)
    assert saved.status == 200, saved.body[:200]
    answer = server.send("GET", f"/instances/i1/data/{in_path}", headers=AS_EXT)
    assert (answer.status, answer.json()) == (200, {key: "v"})
    assert server.send("DELETE", f"/instances/i1/data/{in_path}", headers=AS_EXT).status == 200


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400 + b".0e10"])
def test_numbers_out_of_float_range_are_400(unchanged: Site, number: bytes) -> None:
    body = b'{"key": "k9", "value": ' + number + b"}"
    answer = unchanged.server.send("POST", "/instances/i1/data", body, {**JSON, **AS_EXT})
    answer.error(400)


@pytest.mark.parametrize(
    "number",
    [
        str(2**70),
        str(-(2**70)),
        str(2**64),
        str(2**63 - 1),
        str(-(2**63)),
        "1e+308",
        "5e-324",
        "1" + "0" * 300,
    ],
)
def test_huge_numbers_are_stored_exactly(site: Site, number: str) -> None:
    server, headers = site.server, {**JSON, **AS_EXT}
    body = f'{{"key": "big", "value": [{number}, {{"n": {number}}}]}}'.encode()
    assert server.send("POST", "/instances/i1/data", body, headers).status == 200
    expected = json.loads(f"[{number}]")[0]
    stored = server.send("GET", "/instances/i1/data/big", headers=AS_EXT)
    assert stored.json() == {"big": [expected, {"n": expected}]}
    assert type(stored.json()["big"][0]) is type(expected)
