"""The UI extension (``integrations/sillytavern-extension/``, issue 14) as a person uses it, in a
real SillyTavern 1.18 with the proxy plugin and a real sidecar, by clicking and typing in
headless Chromium: search then open a result, restore a version, the loss alarm, the data
inspector, the status. The ``page`` fixture fails a test on any console error from our code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import Browser, js
from tests.probe import Probe, push, set_value, unique
from tests.st_files import header, message, swiped
from tests.st_harness import StEnv
from tests.st_ui import (
    Screenshots,
    alarm_for,
    aria,
    clear_toasts,
    click,
    close_drawer,
    close_popups,
    confirm,
    element,
    in_view,
    messages_of,
    open_drawer,
    select,
    type_text,
)  # fmt: skip

pytestmark = pytest.mark.xdist_group("sillytavern")


@pytest.fixture
def probe(page: Browser, sillytavern: StEnv) -> Probe:
    clear_toasts(page)
    return Probe(page, sillytavern)


@pytest.fixture
def shots(tmp_path: Path) -> Screenshots:
    return Screenshots(tmp_path)


def test_search_then_click_opens_the_chat_at_the_message(
    page: Browser, probe: Probe, shots: Screenshots
) -> None:
    target = unique("The watchtower")
    messages = [aria(i) for i in range(130)]
    messages[3] = aria(3, "Past the ford we found the quetzalcoatl feather, still warm.")
    probe.create_chat("Aria.png", target, messages)
    probe.wait_indexed(target, 130)
    elsewhere = unique("Elsewhere")
    probe.create_chat(
        "纪长昼.png", elsewhere, [message("别的地方。", name="纪长昼")]
    )  # another one open

    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-open-search")
    type_text(page, "#sidecar_search_input", "quetzalcoatl feather")
    page.wait(
        "document.getElementById('sidecar_search_results').dataset.query === 'quetzalcoatl feather'"
    )
    result = element(page, ".sidecar-result[data-position='3']")
    assert "Aria" in result.text
    assert target in result.text
    assert result.find_element("css selector", "mark").text.lower() == "quetzalcoatl"
    assert result.find_element("css selector", ".sidecar-result-date").text.strip()  # at once
    shots.take(page, "search")
    # The filters narrow the same search (sidecar applies them): another character, a later day.
    select(page, "#sidecar_search_owner", "c:纪长昼")
    page.wait("!document.querySelector('.sidecar-result')", what="no result of 纪长昼's")
    select(page, "#sidecar_search_owner", "c:Aria")
    type_text(page, "#sidecar_search_from", "01012099")
    page.wait("!document.querySelector('.sidecar-result')", what="no result after 2099")
    type_text(page, "#sidecar_search_from", "01012020")
    shown = "document.getElementById('sidecar_search_results').dataset.filters"
    page.wait(f"{shown} === 'c:Aria||2020-01-01|'", what="the results for these filters")
    result = element(page, ".sidecar-result[data-position='3']")
    result.click()

    page.wait(f"SillyTavern.getContext().chatId === {js(target)}", what="the chat to open")
    page.wait(
        "document.querySelector('#chat .mes[mesid=\"3\"].sidecar-highlight')", what="the highlight"
    )
    assert in_view(page, "#chat .mes[mesid='3']")
    close_drawer(page)
    shots.take(page, "search-opened")


def test_restore_a_version_as_a_new_chat(
    page: Browser, probe: Probe, sillytavern: StEnv, shots: Screenshots
) -> None:
    name = unique("Before the pass")
    probe.create_chat("Aria.png", name, [aria(i) for i in range(6)])
    chat_id = probe.wait_indexed(name, 6)
    probe.change(
        set_value(2, ["mes"], "She folded the map away: the bridge was gone."), push(aria(6))
    )
    probe.wait_indexed(name, 7)
    probe.change({"op": "truncate", "length": 2})
    probe.wait_indexed(name, 2)
    original = sillytavern.user_dir / "chats" / "Aria" / f"{name}.jsonl"
    before = original.read_bytes()
    # The truncation raises the loss alarm; its toast would take the clicks below.
    assert " lost 5 messages at " in alarm_for(page, name)
    clear_toasts(page)

    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-open-history")
    page.wait("document.getElementById('sidecar_timeline')?.dataset.loaded >= 3", what="3 versions")
    versions = page.value(
        "[...document.querySelectorAll('.sidecar-version')].map(r => Number(r.dataset.version))"
    )
    middle = versions[1]  # newest first: the 7-message version, before the loss
    click(page, f".sidecar-version[data-version='{versions[2]}'] input[name='sidecar_diff_a']")
    click(page, f".sidecar-version[data-version='{middle}'] input[name='sidecar_diff_b']")
    page.wait(f"document.querySelector('#sidecar_diff .sidecar-diff[data-version=\"{middle}\"]')")
    assert (
        page.value(
            "document.querySelectorAll('#sidecar_diff .sidecar-change[data-kind=changed]').length"
        )
        >= 1
    )
    assert page.value(
        "document.querySelector('#sidecar_diff .sidecar-change[data-kind=changed] ins')"
    )
    assert element(page, ".sidecar-version.sidecar-shrunk .sidecar-badge").text
    shots.take(page, "history")

    click(page, f".sidecar-version[data-version='{middle}'] .sidecar-restore")
    confirm(page)
    page.wait(
        f"SillyTavern.getContext().chatId !== {js(name)}"
        " && !document.querySelector('dialog.popup[open]')",
        timeout=90, what="the restored chat to open",
    )  # fmt: skip
    restored = page.value("SillyTavern.getContext().chatId")
    assert restored.endswith("imported")
    assert page.value("SillyTavern.getContext().chat.length") == 7
    restored_file = sillytavern.user_dir / "chats" / "Aria" / f"{restored}.jsonl"
    version = probe.version_file(chat_id, middle)
    assert messages_of(restored_file.read_bytes()) == messages_of(version)
    assert original.read_bytes() == before  # the chat it came from is untouched
    close_drawer(page)


def _overwrite_with_header(env: StEnv, file_name: str) -> None:
    """What SillyTavern issue #5941 did: the chat saved as nothing but its header."""
    http = env.http()
    try:
        http.post("/api/chats/save", json={
            "ch_name": "Aria", "file_name": file_name, "avatar_url": "Aria.png", "force": True,
            "chat": [header(note="after a network blip")],
        })  # fmt: skip
    finally:
        http.close()


def test_a_chat_overwritten_by_its_header_raises_the_loss_alarm(
    page: Browser, probe: Probe, sillytavern: StEnv, shots: Screenshots
) -> None:
    other = unique("The long road")
    probe.create_chat("Aria.png", other, [aria(i) for i in range(8)])
    probe.wait_indexed(other, 8)
    current = unique("By the fire")
    probe.create_chat("Aria.png", current, [aria(i) for i in range(5)])  # stays open
    probe.wait_indexed(current, 5)

    _overwrite_with_header(sillytavern, other)
    text = alarm_for(page, other)
    assert re.fullmatch(rf"Aria: {re.escape(other)} lost 8 messages at \d{{1,2}}:\d\d.*", text), (
        text
    )
    page.wait(
        "getComputedStyle(document.querySelector('#toast-container > .toast')).opacity === '1'"
    )
    shots.take(page, "loss-alarm")
    _overwrite_with_header(sillytavern, current)
    assert " lost 5 messages at " in alarm_for(page, current)

    page.driver.execute_script(
        "[...document.querySelectorAll('.sidecar-alarm')]"
        ".find(a => a.textContent.includes(arguments[0]))"
        ".querySelector('.sidecar-alarm-restore').click();", other,
    )  # fmt: skip
    focused = element(page, ".sidecar-version.sidecar-focus")
    assert "8 messages" in focused.text
    assert page.value("document.querySelector('.sidecar-history h3').textContent").endswith(other)
    close_popups(page)
    clear_toasts(page)


def test_the_inspector_shows_the_data_of_each_swipe(
    page: Browser, probe: Probe, sillytavern: StEnv, shots: Screenshots
) -> None:
    name = unique("Swipes")
    tracker: list[dict[str, Any]] = [{"tracker_demo": {"mood": "wary", "hp": 12}},
               {"tracker_demo": {"mood": "hopeful", "hp": 11, "note": "trusts the map"}},
               {"tracker_demo": {"mood": "tired", "hp": 9}}]  # fmt: skip
    swipe_texts = ['"The bridge is out."', '"We can still make the ford."', '"Rest first."']
    probe.create_chat("Aria.png", name, [
        aria(0), aria(1), swiped(swipe_texts, 1, list(tracker), name="Aria"),
    ])  # fmt: skip
    chat_id = probe.wait_indexed(name, 3)
    probe.change(
        set_value(2, ["extra", "tracker_demo", "hp"], 10),
        set_value(2, ["swipe_info", "1", "extra", "tracker_demo", "hp"], 10),
    )
    with sillytavern.api() as api:
        hp = f"/chats/{chat_id}/messages/2/data/tracker_demo/hp"
        page.wait_for(lambda: api.get(hp, params={"swipe": 1}).json() == {"hp": 10},
                      what="the edit to be indexed")  # fmt: skip

    click(page, "#chat .mes[mesid='2'] .extraMesButtonsHint")
    click(page, "#chat .mes[mesid='2'] .sidecar-inspect")
    page.wait("document.querySelector('.sidecar-inspector')?.dataset.loaded", what="the inspector")
    for swipe, extra in enumerate(tracker):
        expected = dict(extra["tracker_demo"], **({"hp": 10} if swipe == 1 else {}))
        values = f".sidecar-swipe[data-swipe='{swipe}'] .sidecar-value"
        shown = page.value(
            f"Object.fromEntries([...document.querySelectorAll({js(values)})]"
            ".map(v => [v.dataset.key, v.querySelector('.sidecar-value-json').textContent]))"
        )  # fmt: skip
        assert shown == {key: str(value) for key, value in expected.items()}, (swipe, shown)
    hp_value = ".sidecar-swipe[data-swipe='1'] .sidecar-value[data-key='hp']"
    click(page, f"{hp_value} .sidecar-value-history-button")
    replaced = "[...document.querySelectorAll('.sidecar-value-history tr[data-current=no] pre')]"
    page.wait_for(lambda: page.value(f"{replaced}.map(p => p.textContent)") == ["11"],
                  what="the replaced value 11 in hp's history")  # fmt: skip
    shots.take(page, "inspector")
    close_popups(page)


def test_the_status_says_what_to_do(page: Browser, sillytavern: StEnv, shots: Screenshots) -> None:
    assert sillytavern.child_log.exists()  # the hands-off hook runs inside sidecar (see harness)
    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-refresh")
    page.wait("document.querySelector('#sidecar_status .sidecar-status[data-state=up]')")
    assert "through the proxy plugin" in element(page, "#sidecar_status").text
    shots.take(page, "status")
    sillytavern.sidecar.stop()
    try:
        click(page, "#sidecar_settings .sidecar-refresh")
        page.wait("document.querySelector('#sidecar_status .sidecar-status[data-state=down]')")
        assert "sidecar is not running: start it" in element(page, "#sidecar_status").text
    finally:
        sillytavern.sidecar.start()
    extension = "/scripts/extensions/third-party/sidecar"
    missing = page.run(
        f"async () => {{ const api = await import('{extension}/api.js');"
        f" const client = await import('{extension}/client/sidecar-client.js');"
        " const noPlugin = client.createClient({ baseUrl: '/api/plugins/not-installed' });"
        " try { await noPlugin.status(); return 'answered'; }"
        " catch (e) { return api.describeError(e); } }"
    )  # fmt: skip
    assert missing.startswith("The sidecar proxy plugin is not loaded in SillyTavern: run"), missing
    close_drawer(page)
