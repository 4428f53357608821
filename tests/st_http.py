"""SillyTavern's own HTTP API as the tests use it from Python: a logged-in client (session
cookie, CSRF token), accounts, characters, and a user's settings file made ready for a browser."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.st_server import wait_for


def settle_settings(data_root: Path, user: str = "default-user") -> None:
    """A user past SillyTavern's first-run welcome popup (it blocks the page until answered),
    on the Chat Completion API (the default, Horde, calls the network on every load)."""
    path = data_root / user / "settings.json"
    settings = json.loads(path.read_text("utf-8"))
    settings.update({"firstRun": False, "main_api": "openai"})
    path.write_text(json.dumps(settings, indent=4, ensure_ascii=False), "utf-8")


def create_user(base: str, data_root: Path, handle: str, name: str) -> Path:
    """A second SillyTavern account (created by the admin, default-user), past its first-run
    popup; its data folder."""
    http = StHttp(base)
    try:
        answer = http.client.post("/api/users/create", json={"handle": handle, "name": name})
        if answer.status_code != 409:  # 409: it exists already
            answer.raise_for_status()
    finally:
        http.close()
    folder = data_root / handle
    settings = folder / "settings.json"
    wait_for(settings.is_file, 60, str(settings))
    settle_settings(data_root, handle)
    return folder


def create_characters(base: str, data_root: Path, characters: dict[str, str]) -> list[str]:
    """Create each character (avatar file name -> name) through SillyTavern's API unless it
    exists; the avatar names SillyTavern refused."""
    http = StHttp(base)
    refused = []
    try:
        for avatar, name in characters.items():
            if (data_root / "default-user" / "characters" / avatar).exists():
                continue
            answer = http.client.post("/api/characters/create", json={
                "ch_name": name, "file_name": avatar.removesuffix(".png"),
                "first_mes": f"Hello, I am {name}.",
            })  # fmt: skip
            if not answer.is_success or answer.text != avatar:
                refused.append(avatar)
    finally:
        http.close()
    return refused


class StHttp:
    """SillyTavern's HTTP API as a non-browser client: a session cookie, the CSRF token, logged
    in as ``user`` (no password)."""

    def __init__(self, base: str, user: str = "default-user") -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        token = self.client.get("/csrf-token").json()["token"]
        self.client.headers["x-csrf-token"] = token
        self.post("/api/users/login", json={"handle": user})

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.client.post(path, **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response

    def close(self) -> None:
        self.client.close()
