"""Property-based fuzzing of every operation in sidecar's OpenAPI schema (schemathesis).

A real uvicorn server on 127.0.0.1 with a token, a registered extension holding characters,
instances and data, and indexed chats (with swipes, chat-level data and two versions), so query
routes reach real code paths (``hostile_site`` in tests/hostile_http.py). Generated ids are
often swapped for ones that exist. Each case is sent with and without ``x-extension-id``,
always with the token. Checks: schemathesis' own (no
5xx, documented status codes, content types and headers, responses matching their schema,
schema-invalid input refused) plus sidecar's: every error body is exactly ``{"error": <string>}``.

``SIDECAR_FUZZ_EXAMPLES`` raises the number of examples per operation for a long local run;
generation is deterministic, so CI runs the same cases every time. ``/events`` (an endless
stream) is left out here and tested with bad parameters in test_hostile_requests_queries.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.hooks import HookContext

from tests.hostile_http import (
    EXT,
    TOKEN,
    Site,
    all_files,
    assert_error_body,
    hostile_site,
    openapi_document,
    seed,
)

EXAMPLES = int(os.environ.get("SIDECAR_FUZZ_EXAMPLES", "10"))
AUTH = {"authorization": f"Bearer {TOKEN}"}
CHATS = ("@chat-a", "@chat-b")  # placeholders, replaced by the real chatIds in each test

# Values that exist (or are placeholders for ones that do), by parameter name.
KNOWN: dict[str, list[Any]] = {
    "extension_id": [EXT],
    "extensionId": [EXT],
    "character_id": ["c1", "c2"],
    "characterId": ["c1", "c2"],
    "instance_id": ["i1"],
    "id": ["c1", "i1", "new-1"],
    "key": ["k1", "n", "score", "memory", "chapter"],
    "chat_id": list(CHATS),
    "chatId": list(CHATS),
    "position": [0, 1, 2],
    "namespace": ["arm", "qvink_memory"],
    "version": [1, 2],
    "against": [0, 1],
    "swipe": ["0", "1", "all", "previous", "selected"],
    "user": ["default-user", "bob"],
    "level": ["message", "chat"],
}


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                # The schema types ids as plain strings; sidecar checks their pattern itself
                # (400 "Invalid ... ID"), so schema-valid input is not always acceptable.
                "positive_data_acceptance": {"enabled": False},
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {
                    # GET/DELETE .../data/override read and delete the data key "override": they
                    # are documented as /data/{key}, so Allow rightly lists them here too.
                    "include-path-regex": "/data/(override|merge|remove)$",
                    "checks": {"allow_header_conformance": {"enabled": False}},
                }
            ],
            "request-timeout": 10,
        }
    )


OPENAPI = openapi_document()  # the fixture checks the server serves exactly this
SCHEMA = schemathesis.openapi.from_dict(OPENAPI, config=_config())


def _sometimes_known(values: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each value, or one that exists. Only a value of the same type is swapped in, so that
    schema-violating (negative) cases stay violating."""

    def choices(name: str, value: Any) -> st.SearchStrategy[Any]:
        known = [k for k in KNOWN.get(name, []) if type(k) is type(value)]
        return st.one_of(st.just(value), st.sampled_from(known)) if known else st.just(value)

    return st.fixed_dictionaries({name: choices(name, value) for name, value in values.items()})


@SCHEMA.hook
def flatmap_path_parameters(
    _context: HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    return _sometimes_known(path_parameters or {})


@SCHEMA.hook
def flatmap_query(_context: HookContext, query: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _sometimes_known(query) if isinstance(query, dict) else st.just(query)


@SCHEMA.hook
def flatmap_body(_context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    return _sometimes_known(body) if isinstance(body, dict) else st.just(body)


@dataclass
class Fuzzed:
    site: Site
    base: str
    seeded_for: str = ""

    def seed(self, operation: str) -> None:
        """(Re)create, once per operation, the data an earlier one may have deleted."""
        if operation != self.seeded_for:
            seed(self.site.server)
            self.seeded_for = operation

    def resolve(self, case: Case[Any]) -> None:
        """Replace chat placeholders by real chatIds."""
        real = dict(zip(CHATS, (self.site.chat, self.site.other_chat), strict=True))
        for container in (case.path_parameters, case.query):
            if isinstance(container, dict):
                for name, value in container.items():
                    if isinstance(value, str) and value in real:
                        container[name] = real[value]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    with hostile_site(root) as site:
        outside_before = all_files(root) - all_files(site.db_dir)
        served = site.server.send("GET", "/schema/openapi.json", prefix="")
        assert served.json() == OPENAPI
        yield Fuzzed(site, f"http://127.0.0.1:{site.server.port}")
        # Whatever was generated, nothing was written outside the database folder.
        assert all_files(root) - all_files(site.db_dir) == outside_before


@SCHEMA.exclude(path_regex=r"/events$").parametrize()
def test_operation(case: Case[Any], fuzzed: Fuzzed) -> None:
    fuzzed.seed(case.operation.label)
    fuzzed.resolve(case)
    for extension in (EXT, None):
        headers = {**AUTH, **({"x-extension-id": extension} if extension else {})}
        response = case.call(base_url=fuzzed.base, headers=headers)
        assert response.status_code < 500, (case.as_curl_command(headers), response.text)
        content_type = response.headers.get("content-type", [""])[0]
        assert_error_body(response.status_code, content_type, response.content, case.method)
        case.validate_response(
            response,
            headers=headers,
            transport_kwargs={"base_url": fuzzed.base, "headers": headers},
        )
