// inspector.js: the message data inspector, opened from a message's menu: every extension
// namespace's data on that message, for each swipe, and the history of each value (when it was
// seen, when it was replaced).

import { t } from '../../../i18n.js';
import { Popup, POPUP_TYPE } from '../../../popup.js';
import { client, describeError, isUnavailable, logError, openChat } from './api.js';
import { el, formatDateTime, showValue } from './dom.js';

function historyView(items) {
    if (!items.length) return el('div', { className: 'sidecar-note', text: t`No earlier value recorded.` });
    return el('table', { className: 'sidecar-value-history' },
        el('tr', {}, el('th', { text: t`Value` }), el('th', { text: t`Swipe` }), el('th', { text: t`Seen` }), el('th', { text: t`Replaced` })),
        ...items.map((item) => el('tr', { dataset: { current: item.replacedAt ? 'no' : 'yes' } },
            el('td', {}, el('pre', { text: showValue(item.value) })),
            el('td', { text: item.swipe === null || item.swipe === undefined ? '' : String(item.swipe + 1) }),
            el('td', { text: formatDateTime(item.seenAt) }),
            el('td', { text: item.replacedAt ? `${formatDateTime(item.replacedAt)}${item.reason ? ` (${item.reason})` : ''}` : t`current` }))));
}

function valueRow(chatId, position, namespace, key, value) {
    const slot = el('div', { className: 'sidecar-history-slot' });
    const toggle = el('button', { className: 'menu_button sidecar-value-history-button', text: t`History` });
    toggle.addEventListener('click', async () => {
        if (slot.childElementCount) {
            slot.replaceChildren();
            return;
        }
        slot.replaceChildren(el('div', { className: 'sidecar-note', text: t`Loading…` }));
        try {
            const items = [];
            let cursor = null;
            do {
                const page = await client.getValueHistory(chatId, position, namespace, key, { limit: 200, cursor });
                items.push(...page.items);
                cursor = page.nextCursor;
            } while (cursor);
            slot.replaceChildren(historyView(items));
        } catch (error) {
            if (!isUnavailable(error)) logError('value history', error);
            slot.replaceChildren(el('div', { className: 'sidecar-note', text: describeError(error) }));
        }
    });
    return el('div', { className: 'sidecar-value', dataset: { namespace, key } },
        el('div', { className: 'sidecar-value-head' }, el('code', { text: key }), toggle),
        el('pre', { className: 'sidecar-value-json', text: showValue(value) }), slot);
}

function swipeView(chatId, position, swipe) {
    const namespaces = Object.entries(swipe.data ?? {}).sort(([a], [b]) => a.localeCompare(b));
    const title = swipe.selected ? t`Swipe ${swipe.swipe + 1} (shown)` : t`Swipe ${swipe.swipe + 1}`;
    return el('div', { className: 'sidecar-swipe', dataset: { swipe: String(swipe.swipe) } },
        el('h4', { text: title }),
        namespaces.length ? null : el('div', { className: 'sidecar-note', text: t`No extension data on this swipe.` }),
        ...namespaces.map(([namespace, data]) => el('div', { className: 'sidecar-namespace', dataset: { namespace } },
            el('div', { className: 'sidecar-namespace-name', text: namespace }),
            ...Object.entries(data ?? {}).map(([key, value]) => valueRow(chatId, position, namespace, key, value)))));
}

/** Open the inspector for message `position` of the chat open in SillyTavern. */
export async function openInspector(position) {
    const root = el('div', { className: 'sidecar-inspector', dataset: { position: String(position) } },
        el('h3', { text: t`Extension data of message ${position + 1}` }));
    const body = el('div', { className: 'sidecar-inspector-body' }, el('div', { className: 'sidecar-note', text: t`Loading…` }));
    root.append(body);
    const popup = new Popup(root, POPUP_TYPE.DISPLAY, '', { wider: true, animation: 'fast', allowVerticalScrolling: true });
    const shown = popup.show();
    try {
        const chat = await openChat();
        if (!chat) {
            body.replaceChildren(el('div', { className: 'sidecar-note', text: t`sidecar has not indexed this chat yet.` }));
            return shown;
        }
        const message = await client.getMessage(chat.chatId, position);
        const swipes = message.swipes?.length ? message.swipes : [{ swipe: 0, selected: true, data: {} }];
        body.replaceChildren(
            el('div', { className: 'sidecar-note', text: t`${message.name}, ${formatDateTime(message.sendDate)}; ${Math.max(message.swipeCount ?? 0, 1)} swipes.` }),
            ...swipes.map((swipe) => swipeView(chat.chatId, position, swipe)));
        root.dataset.loaded = 'yes';
    } catch (error) {
        if (!isUnavailable(error) && error?.status !== 404) logError('inspector', error);
        body.replaceChildren(el('div', { className: 'sidecar-note', text: error?.status === 404
            ? t`sidecar has not indexed this message yet (it appears after the chat is saved).` : describeError(error) }));
    }
    return shown;
}
