// sidecar for SillyTavern: search every chat, see what changed, get back what was lost.
// The entry point: the settings drawer, the data inspector's button in the message menu and the
// wand menu entries. It imports only SillyTavern's own (already loaded) modules and dom.js, so
// SillyTavern's load barely grows; everything that talks to sidecar (status, loss alarm, search,
// history, inspector) is loaded once SillyTavern is ready, or on first use.

import { saveSettingsDebounced } from '../../../../script.js';
import { extension_settings } from '../../../extensions.js';
import { t } from '../../../i18n.js';
import { button, el, HIGHLIGHT } from './dom.js';

const MODULE = 'sidecar';
const DEFAULTS = Object.freeze({ alarm: 'all' });
const STATUS_EVERY_MS = 30000;

function settings() {
    extension_settings[MODULE] = { ...DEFAULTS, ...(extension_settings[MODULE] ?? {}) };
    return extension_settings[MODULE];
}

/** Run a view's entry point from a user action; failures go to a toast and the console. */
function action(load) {
    return async (...args) => {
        try {
            await load(...args);
        } catch (error) {
            console.error('[sidecar]', 'action', error);
            toastr.error(String(error?.message ?? error), t`sidecar`);
        }
    };
}

export const openSearch = action(async (q) => (await import('./search.js')).openSearch(q));
export const openHistory = action(async (chat, options) => (await import('./history.js')).openHistory(chat, options));
const openInspector = action(async (position) => (await import('./inspector.js')).openInspector(position));
const startAlarm = action(async (scope) => (await import('./alarm.js')).startAlarm(scope, openHistory));

let statusSlot = null;
const refreshStatus = action(async () => {
    if (statusSlot) statusSlot.replaceChildren(await (await import('./status.js')).statusView());
});

function drawer() {
    statusSlot = el('div', { className: 'sidecar-status-slot', attrs: { id: 'sidecar_status' } },
        el('div', { className: 'sidecar-note', text: t`Checking sidecar…` }));
    const alarm = el('select', { className: 'text_pole', attrs: { id: 'sidecar_alarm' } },
        el('option', { text: t`for every chat`, attrs: { value: 'all' } }),
        el('option', { text: t`for the open chat only`, attrs: { value: 'open' } }),
        el('option', { text: t`off`, attrs: { value: 'off' } }));
    alarm.value = settings().alarm;
    alarm.addEventListener('change', () => {
        settings().alarm = alarm.value;
        saveSettingsDebounced();
        startAlarm(alarm.value);
    });
    const header = el('div', { className: 'inline-drawer-toggle inline-drawer-header', on: { click: () => refreshStatus() } },
        el('b', { text: t`sidecar: search, history, recovery` }),
        el('div', { className: 'inline-drawer-icon fa-solid fa-circle-chevron-down down' }));
    const content = el('div', { className: 'inline-drawer-content' },
        statusSlot,
        el('div', { className: 'sidecar-actions' },
            button(t`Search every chat`, 'fa-magnifying-glass', () => openSearch(''), 'sidecar-open-search'),
            button(t`This chat's history`, 'fa-clock-rotate-left', () => openHistory(null, {}), 'sidecar-open-history'),
            button(t`Check again`, 'fa-rotate', () => refreshStatus(), 'sidecar-refresh')),
        el('label', { className: 'sidecar-setting', attrs: { for: 'sidecar_alarm' } }, t`Warn when messages are lost: `, alarm));
    return el('div', { className: 'sidecar-settings', attrs: { id: 'sidecar_settings' } },
        el('div', { className: 'inline-drawer' }, header, content));
}

function wandMenu() {
    const entry = (id, iconName, label, onClick) => el('div', {
        className: 'list-group-item flex-container flexGap5 interactable', attrs: { id, tabindex: '0' }, on: { click: onClick },
    }, el('div', { className: `fa-solid ${iconName} extensionsMenuExtensionButton` }), label);
    document.getElementById('extensionsMenu')?.append(
        entry('sidecar_wand_search', 'fa-magnifying-glass', t`Search every chat`, () => openSearch('')),
        entry('sidecar_wand_history', 'fa-clock-rotate-left', t`This chat's history`, () => openHistory(null, {})));
}

/** The inspector's button in every message's menu (the template, and messages already shown). */
function messageButton() {
    const make = () => el('div', {
        className: 'mes_button sidecar-inspect fa-solid fa-database', title: t`Extension data (sidecar)`,
        attrs: { tabindex: '0' },
    });
    document.querySelector('#message_template .mes_buttons .extraMesButtons')?.prepend(make());
    for (const menu of document.querySelectorAll('#chat .mes .extraMesButtons')) {
        if (!menu.querySelector('.sidecar-inspect')) menu.prepend(make());
    }
    document.getElementById('chat')?.addEventListener('click', (event) => {
        const target = event.target instanceof Element ? event.target.closest('.sidecar-inspect') : null;
        if (!target) return;
        const position = Number(target.closest('.mes')?.getAttribute('mesid'));
        if (Number.isInteger(position)) openInspector(position);
    });
}

function init() {
    performance.mark('sidecar:init:start'); // benchmarks/ui.py times the extension's start-up
    document.getElementById('extensions_settings2')?.append(drawer());
    wandMenu();
    messageButton();
    const { eventSource, eventTypes } = SillyTavern.getContext();
    let ready = false;
    eventSource.on(eventTypes.CHAT_CHANGED, () => {
        document.querySelectorAll(`.${HIGHLIGHT}`).forEach((node) => node.classList.remove(HIGHLIGHT));
        // Look the new chat up now, so its history and the inspector open without waiting.
        if (ready) import('./api.js').then((api) => api.openChat()).catch(() => {});
    });
    // Talking to sidecar waits until SillyTavern has finished loading.
    eventSource.once(eventTypes.APP_READY, () => {
        ready = true;
        startAlarm(settings().alarm);
        refreshStatus();
        setInterval(() => { if (statusSlot?.offsetParent) refreshStatus(); }, STATUS_EVERY_MS);
    });
    performance.measure('sidecar:init', 'sidecar:init:start');
}

init();
