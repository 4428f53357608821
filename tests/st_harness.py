"""Fixtures for the end-to-end tests: one real SillyTavern 1.18 per test session with the proxy
plugin, the sidecar UI extension and the test probe extension (``tests/st_probe_extension/``),
a real ``sidecar run`` behind it, and one headless Chromium showing it.

Every test that uses them must carry ``@pytest.mark.xdist_group("sillytavern")`` (``pytestmark``
in its module): pytest-xdist then runs them all on one worker, which starts SillyTavern once.
They skip with the reason when ``../shared`` (the SillyTavern snapshot), node, Chromium or
selenium is missing.

SillyTavern writes its own data root, so the hands-off guard holds that root to its audit checks
instead of a manifest (``Guard.written_by_sillytavern``): sidecar, in this process or in its
subprocess, must still never write, move, remove or lock anything there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sidecar.cli.install import install_extension, install_plugin, integrations_dir
from tests import browser as chromium
from tests import st_http, st_server
from tests.handsoff_guard import GUARD

GROUP = "sillytavern"  # the xdist group of every test that uses these fixtures
PROBE = Path(__file__).resolve().parent / "st_probe_extension"
PROBE_FOLDER = "sidecar-test-probe"
EXTENSION_URL = "/scripts/extensions/third-party/sidecar/"
PROBE_URL = f"/scripts/extensions/third-party/{PROBE_FOLDER}/"
# Console entries that come from our code: our files' URLs and our log prefixes.
OUR_MARKERS = (EXTENSION_URL, PROBE_URL, "[sidecar]", "[sidecar-client]", "[sidecar-proxy]")
# Characters besides SillyTavern's default Seraphina (avatar file name -> display name).
CHARACTERS = {"Aria.png": "Aria", "纪长昼.png": "纪长昼"}


@dataclass
class StEnv:
    """The running servers: SillyTavern (``url``) and sidecar behind it."""

    sillytavern: st_server.SillyTavern
    sidecar: st_server.Sidecar
    child_log: Path  # the hands-off audit log of the sidecar subprocess

    @property
    def url(self) -> str:
        return self.sillytavern.url

    @property
    def data_root(self) -> Path:
        return self.sillytavern.data_root

    @property
    def user_dir(self) -> Path:
        return self.data_root / "default-user"

    def api(self) -> httpx.Client:
        """sidecar itself (not through the plugin), with its token: for checks from Python."""
        return httpx.Client(
            base_url=self.sidecar.url + st_server.PREFIX,
            headers={"authorization": f"Bearer {self.sidecar.token}"},
            timeout=30,
        )

    def http(self) -> st_http.StHttp:
        return st_http.StHttp(self.url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses SillyTavern outside the group: its worker would start another."""
    for item in items:
        uses = {"sillytavern", "browser", "page"} & set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("xdist_group")
        if uses and (marker is None or marker.args[:1] != (GROUP,)):
            raise pytest.UsageError(
                f'{item.nodeid} uses SillyTavern: mark it xdist_group("{GROUP}")'
            )


@pytest.fixture(scope="session")
def sillytavern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StEnv]:
    reason = st_server.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    install_dir = st_server.install_sillytavern()
    source = integrations_dir()
    install_plugin(source, install_dir)
    install_extension(source, install_dir)
    install_extension(source, install_dir, PROBE_FOLDER, extension=PROBE)
    folder = tmp_path_factory.mktemp("sillytavern")
    data_root = folder / "data"
    data_root.mkdir()
    child_log = folder / "handsoff-children.log"
    child_env = GUARD.written_by_sillytavern(data_root, child_log)
    sidecar = st_server.Sidecar(folder / "sidecar", data_root, env_extra=child_env)
    sidecar.start()
    server = st_server.SillyTavern(install_dir, folder, data_root)
    env = StEnv(server, sidecar, child_log)
    try:
        server.start(sidecar)
        st_http.settle_settings(data_root)
        assert not st_http.create_characters(server.url, data_root, CHARACTERS)
        yield env
    finally:
        server.stop()
        sidecar.stop()


@pytest.fixture(scope="session")
def browser(
    sillytavern: StEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[chromium.Browser]:
    reason = chromium.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    started = chromium.start_browser(tmp_path_factory.mktemp("downloads"))
    try:
        load_sillytavern(started, sillytavern)
        yield started
    finally:
        started.quit()


def load_sillytavern(browser: chromium.Browser, env: StEnv) -> None:
    """(Re)load SillyTavern and wait until it, the probe and our extension are ready."""
    browser.driver.get(env.url + "/")
    browser.wait(
        "window.SillyTavern && window.sidecarProbe && document.getElementById('sidecar_settings')"
        " && SillyTavern.getContext().characters.length > 0",
        timeout=120,
        what="SillyTavern and the extensions to load",
    )


# What an earlier test may have left open (it failed half-way): popups, toasts, the panel.
RESET_PAGE = """
async () => {
    for (const popup of [...document.querySelectorAll('dialog.popup[open]')].reverse()) {
        popup.querySelector('.popup-button-close, .popup-button-cancel')?.click();
    }
    globalThis.toastr?.clear();
    if (document.getElementById('sidecar_status')?.offsetParent) {
        document.querySelector('#extensions-settings-button .drawer-toggle')?.click();
    }
    const deadline = Date.now() + 10000;
    while (document.querySelector('dialog.popup[open]') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
}
"""


@pytest.fixture
def page(browser: chromium.Browser) -> Iterator[chromium.Browser]:
    """The shared SillyTavern tab, with nothing left open by an earlier test; the test fails if
    our code logged an error meanwhile."""
    browser.run(RESET_PAGE)
    browser.errors_from(*OUR_MARKERS)  # what earlier tests left is theirs
    yield browser
    unhandled = browser.value("window.sidecarProbe?.unhandled ?? []")
    errors = browser.errors_from(*OUR_MARKERS) + list(unhandled)
    browser.driver.execute_script("window.sidecarProbe?.unhandled.splice(0);")
    assert not errors, "errors from the extension in the browser console:\n" + "\n".join(errors)
