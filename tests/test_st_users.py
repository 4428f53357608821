"""Multi-user: with SillyTavern's accounts, each account sees only its own chats in the UI
extension's search and through the client, because the proxy plugin passes the logged-in user
to sidecar. Two real accounts in the real page, logged in one after the other."""

from __future__ import annotations

import pytest

from tests.browser import Browser
from tests.probe import Probe, unique
from tests.st_files import message
from tests.st_harness import StEnv, load_sillytavern
from tests.st_http import create_user
from tests.st_ui import (
    aria,
    click,
    close_drawer,
    close_popups,
    open_drawer,
    type_text,
)

pytestmark = pytest.mark.xdist_group("sillytavern")

SECOND = "second-reader"

LOG_IN = """
async (handle) => {
    const headers = SillyTavern.getContext().getRequestHeaders();
    await fetch('/api/users/logout', { method: 'POST', headers });
    const { token } = await (await fetch('/csrf-token')).json();
    const answer = await fetch('/api/users/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
        body: JSON.stringify({ handle }),
    });
    if (!answer.ok) throw new Error(`login as ${handle}: ${answer.status}`);
    return true;
}
"""


def log_in(page: Browser, env: StEnv, handle: str) -> None:
    page.run(LOG_IN, handle)
    load_sillytavern(page, env)
    me = page.run("async () => (await fetch('/api/users/me', "
                  "{ headers: SillyTavern.getContext().getRequestHeaders() })).json()")  # fmt: skip
    assert me["handle"] == handle


def search_in_ui(page: Browser, q: str) -> list[str]:
    """The chat ids of the results the search box shows for ``q``."""
    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-open-search")
    type_text(page, "#sidecar_search_input", q)
    page.wait(f"document.getElementById('sidecar_search_results').dataset.query === '{q}'")
    found: list[str] = page.value(
        "[...document.querySelectorAll('.sidecar-result')].map(r => r.dataset.chatId)"
    )
    close_popups(page)
    close_drawer(page)
    return found


def test_each_account_sees_only_its_own_chats(page: Browser, sillytavern: StEnv) -> None:
    probe = Probe(page, sillytavern)
    mine = unique("Lighthouse")
    probe.create_chat("Aria.png", mine, [aria(0, "The lighthouse keeper counted seven ships.")])
    mine_id = probe.wait_indexed(mine, 1)
    assert search_in_ui(page, "lighthouse keeper") == [mine_id]

    create_user(sillytavern.url, sillytavern.data_root, SECOND, "Second Reader")
    log_in(page, sillytavern, SECOND)
    try:
        assert probe.search("lighthouse keeper") == []  # through the client and the plugin
        chats = page.run("async () => (await sidecarProbe.client.listChats({ limit: 1000 })).items")
        assert {chat["user"] for chat in chats} <= {SECOND}
        theirs = unique("Harbour")
        waved = message("The lighthouse keeper's daughter waved from the pier.")
        probe.create_chat("default_Seraphina.png", theirs, [waved])
        theirs_id = probe.wait_indexed(theirs, 1)
        assert search_in_ui(page, "lighthouse keeper") == [theirs_id]
    finally:
        log_in(page, sillytavern, "default-user")
    assert search_in_ui(page, "lighthouse keeper") == [mine_id]
