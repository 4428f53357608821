"""Search in Chinese, in the real page (issue 12's CJK search, issue 14's "CJK works"): through the
client as an extension searches, any Chinese substring and a number written inside Chinese text
are found, in message text and in extension data; in the search box, a click on such a result
opens the chat at that message."""

from __future__ import annotations

import pytest

from tests.browser import Browser, js
from tests.probe import Probe, unique
from tests.st_files import message
from tests.st_harness import StEnv
from tests.st_ui import clear_toasts, click, close_drawer, element, open_drawer, type_text

pytestmark = pytest.mark.xdist_group("sillytavern")

# Chinese punctuation (full-width) is part of real Chinese text.
TEXTS = (
    "雨一直下到傍晚，客栈里弥漫着木柴的烟味。",  # noqa: RUF001
    "他说：“我们约好在字2025字的老地方见面。”",  # noqa: RUF001
    "她点了点头，把地图收进了袖子里。",  # noqa: RUF001
)


def test_the_search_box_finds_chinese_text(page: Browser, sillytavern: StEnv) -> None:
    probe = Probe(page, sillytavern)
    clear_toasts(page)
    name = unique("客栈")
    probe.create_chat("纪长昼.png", name, [message(text, name="纪长昼") for text in TEXTS])
    chat_id = probe.wait_indexed(name, len(TEXTS))
    probe.create_chat("Aria.png", unique("Elsewhere"), [message("Elsewhere.", name="Aria")])

    open_drawer(page)
    click(page, "#sidecar_settings .sidecar-open-search")
    for query in ("老地方", "2025", "地图收进"):
        position = next(i for i, text in enumerate(TEXTS) if query in text)
        type_text(page, "#sidecar_search_input", query)
        page.wait(
            f"document.getElementById('sidecar_search_results').dataset.query === {js(query)}"
        )
        result = element(page, f".sidecar-result[data-chat-id='{chat_id}']")
        assert result.get_attribute("data-position") == str(position)
        assert query in result.find_element("css selector", ".sidecar-snippet").text
    result.click()
    page.wait(f"SillyTavern.getContext().chatId === {js(name)}", what="the chat to open")
    page.wait(f"document.querySelector('#chat .mes[mesid=\"{position}\"].sidecar-highlight')")
    close_drawer(page)


def test_the_client_finds_cjk_substrings_and_digits_inside_them(
    page: Browser, sillytavern: StEnv
) -> None:
    probe = Probe(page, sillytavern)
    name = unique("cjk")
    probe.create_chat("Aria.png", name, [
        message("Hello.", name="Aria"),
        message("我们约好在字2025字的老地方见面。", name="Aria",
                extra={"probe_cjk": {"memory": "她在图书馆等他"}}),
    ])  # fmt: skip
    chat_id = probe.wait_indexed(name, 2)
    for query, where in (("2025", "text"), ("老地方", "text"), ("图书馆", "probe_cjk.memory")):
        hits = [h for h in probe.search(query) if h["chatId"] == chat_id]
        assert [(h["position"], h["where"]) for h in hits] == [(1, where)], (query, hits)
        assert "<mark>" in hits[0]["snippet"]
