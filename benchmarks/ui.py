"""The UI extension's speed, through a real SillyTavern 1.18 with the proxy plugin and a real
``sidecar run``, in headless Chromium, on the benchmark corpus (``chatgen``: ordinary chats at
``--scale``, plus the heavy chat at full size: 2,500 messages, about 20 MB, given ``--saves`` more
versions). Each figure is printed beside its target (issue 14):

- search results on screen after typing stops          <= 300 ms (p95 over the queries)
- the history timeline of the 2,500-message chat         <= 1 s
- restore of a 20 MB version as a new chat               <= 5 s
- opening SillyTavern with the extension enabled adds    <= 100 ms (median load to APP_READY,
  with and without the extension installed, alternating, side by side)

Run:  python benchmarks/ui.py [--scale 0.1] [--loads 7] [--saves 20]
Needs ../shared/sillytavern-1.18, node, Chromium and selenium, like the end-to-end tests.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # benchmarks run as scripts; the tests/ helpers are in the repo
    sys.path.insert(0, str(REPO))

import chat_text  # noqa: E402
import chatgen  # noqa: E402
import ui_page  # noqa: E402

from sidecar.cli.install import install_extension, install_plugin, integrations_dir  # noqa: E402
from tests import browser as chromium  # noqa: E402
from tests import st_http, st_server  # noqa: E402

THIRD_PARTY = st_server.INSTALL_DIR / "public" / "scripts" / "extensions" / "third-party"
EXTENSION_DIR = THIRD_PARTY / "sidecar"
PROBE_DIR = THIRD_PARTY / "sidecar-test-probe"  # the end-to-end tests' probe: not loaded here
HEAVY_MESSAGES = 2500
Loads = tuple[list[float], list[float], list[dict[str, float]]]


def corpus(root: Path, scale: float, seed: int = 1) -> Path:
    """The ordinary chats at ``scale`` and the heavy chat at full size; the heavy chat's path."""
    pool = chat_text.text_pool(seed)
    heavy = None
    for i, planned in enumerate(chatgen.plan_corpus(scale, seed, with_big=False)):
        spec = planned
        if spec.role == "heavy":
            spec = replace(spec, messages=HEAVY_MESSAGES, target_bytes=HEAVY_MESSAGES * 8000)
        chat = chatgen.write_chat(root, spec, seed * 100_003 + i, pool)
        heavy = chat.path if spec.role == "heavy" else heavy
    assert heavy is not None
    return heavy


def api(sidecar: st_server.Sidecar) -> httpx.Client:
    return httpx.Client(base_url=sidecar.url + st_server.PREFIX, timeout=60,
                        headers={"authorization": f"Bearer {sidecar.token}"})  # fmt: skip


def chat_id_of(client: httpx.Client, path: Path) -> str:
    items = client.get("/chats", params={"q": path.stem, "limit": 1000}).json()["items"]
    return str(next(c["chatId"] for c in items if c["fileName"] == path.stem))


def add_versions(client: httpx.Client, heavy: Path, chat_id: str, saves: int) -> int:
    """Save the heavy chat ``saves`` more times (an extension edit each), waiting for each
    version to be indexed; the number of versions."""

    def count() -> int:
        page = client.get(f"/chats/{chat_id}/versions", params={"limit": 1000}).json()
        return len(page["items"])

    for n in range(saves):
        before = count()
        chatgen.edit_message_extra(heavy, 40 * n, f"save {n}")
        st_server.wait_for(partial(lambda b: count() > b, before), 120, "a version to be indexed")
    return count()


def load_once(page: chromium.Browser, url: str) -> float:
    page.driver.get(url + "/")
    return float(page.wait("window.__appReadyAt", timeout=120, what="APP_READY"))


def load_times(page: chromium.Browser, url: str, loads: int) -> Loads:
    """Load to APP_READY in ms, alternating without and with the extension installed (moved
    out of SillyTavern's folder and back; SillyTavern lists its extensions on every load), and
    the extension's own share of each load with it (``OWN_LOAD``)."""
    page.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": ui_page.APP_READY_HOOK}
    )
    aside = Path(tempfile.mkdtemp(prefix="sidecar-extension-aside-")) / "sidecar"
    without: list[float] = []
    with_: list[float] = []
    own: list[dict[str, float]] = []
    load_once(page, url)  # warm the caches of both sides alike
    for _ in range(loads):
        shutil.move(EXTENSION_DIR, aside)
        try:
            without.append(load_once(page, url))
        finally:
            shutil.move(aside, EXTENSION_DIR)
        with_.append(load_once(page, url))
        own.append(page.driver.execute_script(f"return ({ui_page.OWN_LOAD})();"))
    return without, with_, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.1, help="ordinary chats (1.0: 198)")
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    for reason in (st_server.missing_reason(), chromium.missing_reason()):
        if reason:
            sys.exit(f"cannot run: {reason}")
    work = Path(tempfile.mkdtemp(prefix="sidecar-ui-bench-"))
    data_root = work / "data"
    started = time.monotonic()
    heavy = corpus(data_root, args.scale)
    print(f"corpus: {sum(1 for _ in data_root.rglob('*.jsonl'))} chats, "
          f"{sum(p.stat().st_size for p in data_root.rglob('*.jsonl')) / 1e6:.0f} MB, heavy chat "
          f"{heavy.stat().st_size / 1e6:.1f} MB ({time.monotonic() - started:.0f} s)")  # fmt: skip
    install_dir = st_server.install_sillytavern()
    source = integrations_dir()
    install_plugin(source, install_dir)
    install_extension(source, install_dir)
    shutil.rmtree(PROBE_DIR, ignore_errors=True)  # the tests install it again for their session
    sidecar = st_server.Sidecar(work / "sidecar", data_root)
    index = subprocess.run([str(Path(sys.executable).parent / "sidecar"), "index", "--config",
                            str(sidecar.config), "--log-level", "warning"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    del index
    sidecar.start()
    server = st_server.SillyTavern(install_dir, work, data_root)
    page = None
    try:
        with api(sidecar) as client:
            chat_id = chat_id_of(client, heavy)
            versions = add_versions(client, heavy, chat_id, args.saves)
        server.start(sidecar)
        st_http.settle_settings(data_root)
        st_http.create_characters(
            server.url, data_root, {f"{c}.png": c for c in chatgen.CHARACTERS}
        )
        page = chromium.start_browser(work / "downloads")
        loads = load_times(page, server.url, args.loads)
        page.wait("document.getElementById('sidecar_status')", timeout=60)
        measure(page, chat_id, versions, args.queries, loads)
    finally:
        if page is not None:
            page.quit()
        server.stop()
        sidecar.stop()
        shutil.rmtree(work, ignore_errors=True)


def measure(
    page: chromium.Browser, chat_id: str, versions: int, queries: int, loads: Loads
) -> None:
    without, with_, own = loads
    rng = random.Random(3)
    words = [w for w in chat_text.WORDS if len(w) > 3 and w.isalpha()]
    page.run(ui_page.OPEN_SEARCH)
    searches = [page.run(ui_page.SEARCH, f"{rng.choice(words)} {rng.choice(words)}")
                for _ in range(queries)]  # fmt: skip
    page.run(ui_page.CLOSE_POPUPS)
    opened = page.run(ui_page.OPEN_CHAT, chat_id, timeout=120)
    messages = opened["messages"]
    histories = []
    for _ in range(3):
        histories.append(page.run(ui_page.HISTORY, timeout=120))
        page.run(ui_page.CLOSE_POPUPS)
    restores = [page.run(ui_page.RESTORE, chat_id, 1, timeout=120) for _ in range(2)]
    assert all(r["messages"] == messages == HEAVY_MESSAGES for r in restores), restores

    ms = [s["ms"] for s in searches]
    timeline = ui_page.median([h["timeline"] for h in histories])
    diff = ui_page.median([h["diff"] for h in histories])
    restore = ui_page.median([r["ms"] for r in restores]) / 1000

    def step(name: str) -> float:
        return ui_page.median([r[name] for r in restores]) / 1000

    base, ext = ui_page.median(without), ui_page.median(with_)
    rows = [
        (f"search results on screen after typing stops ({queries} queries)",
         f"p50 {ui_page.median(ms):.0f} / p95 {ui_page.percentile(ms, 0.95):.0f} ms",
         "<= 300 ms (p95)"),
        (f"history timeline of the {messages}-message chat ({versions} versions)",
         f"{timeline:.0f} ms", "<= 1000 ms"),
        ("  ... and the diff of its newest save on screen", f"{diff:.0f} ms", "(no target)"),
        ("restore of a 20 MB version as a new chat, opened", f"{restore:.2f} s", "<= 5 s"),
        ("  ... the file fetched through the plugin", f"{step('fetched'):.2f} s", ""),
        ("  ... imported by SillyTavern as a new chat", f"{step('imported'):.2f} s", ""),
        ("  (SillyTavern alone opening that chat, for comparison)",
         f"{opened['ms'] / 1000:.2f} s", ""),
        (f"SillyTavern load to APP_READY, median of {len(without)}",
         f"without {base:.0f} ms, with {ext:.0f} ms", ""),
        ("  added by the extension (difference of the medians)", f"{ext - base:+.0f} ms",
         "<= 100 ms"),
        ("  the extension's own share: fetching its files, running its start-up",
         f"{ui_page.median([o['fetchMs'] for o in own]):.0f} ms + "
         f"{ui_page.median([o['initMs'] for o in own]):.1f} ms", "(part of the above)"),
    ]  # fmt: skip
    print(
        "loads to APP_READY (ms), without the extension: "
        + " ".join(f"{t:.0f}" for t in without)
        + "; with: "
        + " ".join(f"{t:.0f}" for t in with_)
    )
    slowest = sorted(zip(ms, (s["query"] for s in searches), strict=True), reverse=True)[:3]
    print("slowest searches: " + ", ".join(f"{q!r} {t:.0f} ms" for t, q in slowest))
    print("\nUI extension, through SillyTavern (shared machine: figures are noisy)")
    print(f"{'what':<64}{'measured':>32}  target")
    for what, measured, target in rows:
        print(f"{what:<64}{measured:>32}  {target}")


if __name__ == "__main__":
    main()
