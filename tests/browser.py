"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by selenium, for the
end-to-end tests: start it, run JavaScript that returns a promise, wait on page conditions, and
collect the browser console so a test can fail on errors from our own code.

The closed network here refuses Chromium's background connections (updates, sync, field trials):
they are switched off, so they neither slow the browser down nor litter the console.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGUMENTS = (
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1366,900", "--lang=en-US",
)  # fmt: skip

# Runs a function given as source on the arguments and hands its (awaited) result back to
# selenium: {"ok": value} or {"error": message, "status": HTTP status or null}.
_ASYNC_CALL = """
const done = arguments[arguments.length - 1];
const [source, args] = [arguments[0], arguments[1]];
Promise.resolve().then(() => (0, eval)('(' + source + ')')(...args)).then(
    (value) => done({ ok: value === undefined ? null : value }),
    (error) => done({ error: String(error && (error.stack || error.message) || error),
                      name: error && error.name || null,
                      status: error && typeof error.status === 'number' ? error.status : null }));
"""


def missing_reason() -> str | None:
    """Why no browser test can run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401, PLC0415 - only the browser tests need it
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


class ScriptError(AssertionError):
    """A promise run in the page rejected."""

    def __init__(self, message: str, name: str | None, status: int | None) -> None:
        super().__init__(message)
        self.name = name
        self.status = status


@dataclass
class ConsoleEntry:
    level: str
    message: str
    source: str

    def mentions(self, markers: tuple[str, ...]) -> bool:
        return any(marker in self.message for marker in markers)


@dataclass
class Browser:
    """One Chromium with one tab; ``console`` accumulates every console entry read so far."""

    driver: Any
    downloads: Path
    console: list[ConsoleEntry] = field(default_factory=list)

    def run(self, source: str, *args: Any, timeout: float = 90) -> Any:
        """Await the JavaScript function ``source`` (e.g. ``async (a) => a + 1``) on ``args``."""
        self.driver.set_script_timeout(timeout)
        result = self.driver.execute_async_script(_ASYNC_CALL, source, list(args))
        if "error" in result:
            raise ScriptError(result["error"], result.get("name"), result.get("status"))
        return result["ok"]

    def value(self, expression: str) -> Any:
        return self.driver.execute_script(f"return ({expression});")

    def wait(self, expression: str, timeout: float = 30, what: str | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.value(expression)
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what or expression}")
            time.sleep(0.05)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = condition()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.05)

    def read_console(self) -> list[ConsoleEntry]:
        """New console entries since the last call (also kept in ``console``)."""
        entries = [
            ConsoleEntry(e["level"], e["message"], e.get("source", ""))
            for e in self.driver.get_log("browser")
        ]
        self.console += entries
        return entries

    def errors_from(self, *markers: str) -> list[str]:
        """SEVERE console entries (uncaught errors, console.error, failed requests) that mention
        one of ``markers`` (our files' URLs, our log prefix), read since the last call."""
        return [
            f"{entry.source}: {entry.message}"
            for entry in self.read_console()
            if entry.level == "SEVERE" and entry.mentions(markers)
        ]

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        self.driver.quit()


def start_browser(downloads: Path) -> Browser:
    from selenium import webdriver  # noqa: PLC0415 - only the browser tests need selenium

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    downloads.mkdir(parents=True, exist_ok=True)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or CHROMEDRIVER)
    return Browser(webdriver.Chrome(service=service, options=options), downloads)


def js(value: Any) -> str:
    """A Python value as a JavaScript literal."""
    return json.dumps(value, ensure_ascii=False)
