"""The UI extension with a group chat, in the real SillyTavern page: a search result in a group's
chat opens that group's chat at the message, and a version restored from a group chat becomes
a new chat of the same group (SillyTavern's group chat import), opened, the old one untouched."""

from __future__ import annotations

import pytest

from tests.browser import Browser, js
from tests.probe import Probe, unique
from tests.st_harness import StEnv
from tests.st_ui import (
    alarm_for,
    aria,
    clear_toasts,
    click,
    close_drawer,
    confirm,
    element,
    messages_of,
    open_drawer,
    type_text,
)  # fmt: skip

pytestmark = pytest.mark.xdist_group("sillytavern")


def test_a_group_chat_opens_from_search_and_restores_into_the_group(
    page: Browser, sillytavern: StEnv
) -> None:
    probe = Probe(page, sillytavern)
    clear_toasts(page)
    chat = unique("Fellowship")
    lines = [aria(i) for i in range(6)]
    lines[4] = aria(4, "At dawn we crossed the glacier, roped together, nobody speaking.")
    group_id = probe.create_group(unique("The company"), ["Aria.png", "纪长昼.png"], chat, lines)
    chat_id = probe.wait_indexed(chat, 6)
    probe.create_chat("Aria.png", unique("Elsewhere"), [aria(0)])  # another chat is open

    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-open-search")
    type_text(page, "#sidecar_search_input", "glacier roped")
    page.wait("document.getElementById('sidecar_search_results').dataset.query === 'glacier roped'")
    result = element(page, f".sidecar-result[data-chat-id='{chat_id}'][data-position='4']")
    assert "The company" in result.text
    result.click()
    page.wait(
        f"SillyTavern.getContext().groupId === {js(group_id)}"
        f" && SillyTavern.getContext().chatId === {js(chat)}",
        what="the group chat to open",
    )
    page.wait("document.querySelector('#chat .mes[mesid=\"4\"].sidecar-highlight')")

    probe.change({"op": "truncate", "length": 1})  # then the group chat loses most of it
    probe.wait_indexed(chat, 1)
    group_file = sillytavern.user_dir / "group chats" / f"{chat}.jsonl"
    before = group_file.read_bytes()
    assert " lost 5 messages at " in alarm_for(page, chat)  # its toast would take the click
    clear_toasts(page)
    click(page, "#sidecar_settings .sidecar-open-history")
    page.wait("document.getElementById('sidecar_timeline')?.dataset.loaded >= 2")
    six = page.value(
        "[...document.querySelectorAll('.sidecar-version')]"
        ".find(r => r.querySelector('.sidecar-version-count').textContent.startsWith('6 '))"
        ".dataset.version"
    )
    click(page, f".sidecar-version[data-version='{six}'] .sidecar-restore")
    confirm(page)
    page.wait(
        f"SillyTavern.getContext().chatId !== {js(chat)}"
        " && !document.querySelector('dialog.popup[open]')",
        timeout=90, what="the restored group chat to open",
    )  # fmt: skip
    assert page.value("SillyTavern.getContext().groupId") == group_id
    restored = page.value("SillyTavern.getContext().chatId")
    assert page.value("SillyTavern.getContext().chat.length") == 6
    group = page.value(f"SillyTavern.getContext().groups.find(g => g.id === {js(group_id)})")
    assert set(group["chats"]) == {chat, restored}
    restored_file = sillytavern.user_dir / "group chats" / f"{restored}.jsonl"
    assert messages_of(restored_file.read_bytes()) == messages_of(
        probe.version_file(chat_id, int(six))
    )
    assert group_file.read_bytes() == before
    close_drawer(page)
    clear_toasts(page)
