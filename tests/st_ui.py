"""What a person does in the SillyTavern page, for the UI extension's tests: open panels and
popups, click, type; and the screenshots of each view (``SIDECAR_SCREENSHOTS=1`` also writes
them to ``docs/images/`` for the README)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.browser import Browser, js
from tests.st_files import message

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"

LINES = (
    "The rain had not stopped since morning, and the tavern smelled of wet wool and woodsmoke.",
    '"You came back," Aria said, setting the lantern on the table between them.',
    "She unrolled the map: the old road past the mill, the ford, the ruined watchtower.",
    '"Three days to the pass, if the bridge still stands." Her finger traced the river.',
    "Outside, a cart rattled by; somewhere upstairs a door closed softly.",
)


def aria(index: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    """Message ``index`` of a chat with Aria: hers, or (odd ones) the user's."""
    is_user = index % 2 == 1
    return message(text or LINES[index % len(LINES)], name="You" if is_user else "Aria",
                   is_user=is_user, extra=extra)  # fmt: skip


def messages_of(data: bytes) -> list[Any]:
    """The messages of a chat file (its lines after the header), parsed."""
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[1:] if line.strip()]


def element(page: Browser, css: str, timeout: float = 30) -> WebElement:
    """The first element matching ``css`` once it is displayed."""

    def shown() -> WebElement | None:
        found: list[WebElement] = page.driver.find_elements(By.CSS_SELECTOR, css)
        return next((candidate for candidate in found if candidate.is_displayed()), None)

    found: WebElement = page.wait_for(shown, timeout, f"{css} to be shown")
    return found


def click(page: Browser, css: str, timeout: float = 30) -> None:
    """Click the element as a person would: once nothing covers it any more (a panel still
    sliding in, a toast fading out); still covered at the timeout fails with what covers it."""
    target = element(page, css, timeout)
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
    covered: list[ElementClickInterceptedException] = []

    def clicked() -> bool:
        try:
            target.click()
        except ElementClickInterceptedException as exc:
            covered[:] = [exc]
            return False
        return True

    try:
        page.wait_for(clicked, timeout, f"{css} to take a click")
    except TimeoutError as exc:
        raise covered[0] from exc


def type_text(page: Browser, css: str, text: str) -> None:
    field = element(page, css)
    field.clear()
    field.send_keys(text)


def select(page: Browser, css: str, value: str) -> None:
    """Choose ``value`` in a <select>, as a person does (the change event fires)."""
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415

    Select(element(page, css)).select_by_value(value)


def open_drawer(page: Browser) -> None:
    """The Extensions panel, and sidecar's drawer in it, open."""
    if not page.value("document.getElementById('sidecar_status')?.offsetParent"):
        click(page, "#extensions-settings-button .drawer-toggle")
        element(page, "#sidecar_settings .inline-drawer-toggle")
        if not page.value("document.getElementById('sidecar_status').offsetParent"):
            click(page, "#sidecar_settings .inline-drawer-toggle")
    element(page, "#sidecar_status")


def close_drawer(page: Browser) -> None:
    if page.value("document.getElementById('sidecar_status')?.offsetParent"):
        click(page, "#extensions-settings-button .drawer-toggle")
        page.wait("!document.getElementById('sidecar_status').offsetParent", what="panel closed")


def top_popup(page: Browser) -> str:
    """A CSS selector for the popup on top (the last one opened)."""
    count = page.value("document.querySelectorAll('dialog.popup[open]').length")
    assert count, "no popup is open"
    return f"dialog.popup[open]:nth-of-type({count})"


def confirm(page: Browser) -> None:
    """Answer the confirmation popup on top with its OK button."""
    page.wait(
        "[...document.querySelectorAll('dialog.popup[open]')].pop()?.querySelector('.popup-button-ok')?.offsetParent"
    )
    page.driver.execute_script(
        "[...document.querySelectorAll('dialog.popup[open]')].pop().querySelector('.popup-button-ok').click();"
    )


def close_popups(page: Browser) -> None:
    page.driver.execute_script(
        "for (const p of [...document.querySelectorAll('dialog.popup[open]')].reverse())"
        " p.querySelector('.popup-button-close, .popup-button-cancel')?.click();"
    )
    page.wait("!document.querySelector('dialog.popup[open]')", what="popups to close")


def alarm_for(page: Browser, name: str) -> str:
    """The loss alarm's text for the chat ``name``, once its toast is shown."""
    return str(page.wait(
        "[...document.querySelectorAll('.sidecar-alarm-text')].map(e => e.textContent)"
        f".find(t => t.includes({js(name)}))",
        timeout=60, what=f"the loss alarm for {name}",
    ))  # fmt: skip


def clear_toasts(page: Browser) -> None:
    page.driver.execute_script(
        "toastr.clear(); document.getElementById('toast-container')?.remove();"
    )


def in_view(page: Browser, css: str) -> bool:
    """Whether the element is inside the visible part of the chat."""
    return bool(page.value(
        f"(() => {{ const e = document.querySelector({js(css)});"
        " const c = document.getElementById('chat'); if (!e) return false;"
        " const a = e.getBoundingClientRect(), b = c.getBoundingClientRect();"
        " return a.bottom > b.top && a.top < b.bottom; })()"
    ))  # fmt: skip


class Screenshots:
    """Screenshots of each view: always in the test's folder, in docs/images/ on request."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.publish = os.environ.get("SIDECAR_SCREENSHOTS") == "1"

    def take(self, page: Browser, name: str) -> Path:
        page.driver.execute_script("document.activeElement?.blur?.()")
        path = page.screenshot(self.folder / f"{name}.png")
        if self.publish:
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_IMAGES / f"{name}.png")
        return path
