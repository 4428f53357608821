"""The in-page measurements of ``benchmarks/ui.py``: JavaScript run in the real SillyTavern page
with the UI extension, timed with the page's own clock (``performance.now()``), so the figures do
not include selenium's round trips."""

from __future__ import annotations

from typing import Any

EXTENSION = "/scripts/extensions/third-party/sidecar"

# Installed before any page script runs: records when SillyTavern emits APP_READY (its own
# "loaded" moment) by hooking its event bus as soon as script.js has published `SillyTavern`.
APP_READY_HOOK = """
(() => {
    let value;
    const hook = () => {
        try {
            const { eventSource, eventTypes } = value.getContext();
            eventSource.once(eventTypes.APP_READY, () => {
                window.__appReadyAt = performance.now();
            });
        } catch {
            setTimeout(hook, 1); // script.js is still initialising its module
        }
    };
    Object.defineProperty(window, 'SillyTavern', {
        configurable: true,
        get() { return value; },
        set(next) { value = next; hook(); },
    });
})();
"""

# What the extension itself cost during the load: its files (fetch to end of download, the
# longest one, as they load in parallel) and its start-up code.
OWN_LOAD = """
() => {
    const files = performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/scripts/extensions/third-party/sidecar/'));
    const init = performance.getEntriesByName('sidecar:init')[0];
    return {
        files: files.length,
        fetchMs: Math.max(0, ...files.map((e) => e.responseEnd - e.startTime)),
        initMs: init ? init.duration : null,
    };
}
"""

# Type `q` into the open search box (the last keystroke is t0) and wait for its results.
SEARCH = """
async (q) => {
    const input = document.getElementById('sidecar_search_input');
    const results = document.getElementById('sidecar_search_results');
    const started = performance.now();
    input.value = q;
    input.dispatchEvent(new Event('input'));
    while (results.dataset.query !== q) await new Promise((r) => requestAnimationFrame(r));
    return { ms: performance.now() - started, hits: results.childElementCount, query: q };
}
"""

# Open the search box and wait until its filters are filled (the chat list is loaded): a
# person starts typing later than that.
OPEN_SEARCH = f"""
async () => {{
    const search = await import('{EXTENSION}/search.js');
    search.openSearch('');
    const ready = () => document.getElementById('sidecar_search_owner')?.options.length > 1;
    while (!ready()) await new Promise((r) => setTimeout(r, 10));
    return true;
}}
"""

OPEN_CHAT = f"""
async (chatId) => {{
    const api = await import('{EXTENSION}/api.js');
    const navigate = await import('{EXTENSION}/navigate.js');
    const chat = await api.client.getChat(chatId);
    const started = performance.now();
    await navigate.openIndexedChat(chat);
    return {{ ms: performance.now() - started, messages: SillyTavern.getContext().chat.length }};
}}
"""

# Open the history of the open chat; times to the timeline on screen and to the first diff.
HISTORY = f"""
async () => {{
    const history = await import('{EXTENSION}/history.js');
    const started = performance.now();
    history.openHistory(null, {{}});
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    let timeline = null;
    while (!(document.getElementById('sidecar_timeline')?.dataset.loaded)) await frame();
    timeline = performance.now() - started;
    while (!document.querySelector('#sidecar_diff .sidecar-diff')) await frame();
    const diff = performance.now() - started;
    const versions = Number(document.getElementById('sidecar_timeline').dataset.loaded);
    return {{ timeline, diff, versions }};
}}
"""

RESTORE = f"""
async (chatId, version) => {{
    const api = await import('{EXTENSION}/api.js');
    const restore = await import('{EXTENSION}/restore.js');
    const chat = await api.client.getChat(chatId);
    performance.clearMarks();
    const name = await restore.restoreVersion(chat, version);
    const at = (step) => performance.getEntriesByName(`sidecar:restore:${{step}}`)[0].startTime;
    return {{
        ms: at('opened') - at('start'), fetched: at('fetched') - at('start'),
        imported: at('imported') - at('start'), name,
        messages: SillyTavern.getContext().chat.length,
    }};
}}
"""

CLOSE_POPUPS = """
async () => {
    for (const p of [...document.querySelectorAll('dialog.popup[open]')].reverse()) {
        p.querySelector('.popup-button-close, .popup-button-cancel')?.click();
    }
    const open = () => document.querySelector('dialog.popup[open]');
    while (open()) await new Promise((r) => setTimeout(r, 20));
    return true;
}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def median(values: list[Any]) -> float:
    return percentile([float(v) for v in values], 0.5)
