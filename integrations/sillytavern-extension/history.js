// history.js: "This chat's history": every indexed version of a chat, newest first (when, how
// many messages, what each save added/removed/edited, `shrunk` flagged), a per-message diff
// between any two versions, "Restore as a new chat" and the download of any version's file.

import { t } from '../../../i18n.js';
import { Popup, POPUP_TYPE } from '../../../popup.js';
import { client, describeError, isUnavailable, logError, openChat, ownerName } from './api.js';
import { diffView } from './diff.js';
import { button, el, formatDateTime, icon } from './dom.js';
import { restoreVersion } from './restore.js';

const PAGE = 200;

/** The version just before the newest shrink (the last good one), or null. */
export function lastGoodVersion(versions) {
    const shrink = versions.findIndex((v) => v.shrunk);
    return shrink >= 0 && shrink + 1 < versions.length ? versions[shrink + 1] : null;
}

function counts(version) {
    const parts = [];
    if (version.added) parts.push(`+${version.added}`);
    if (version.removed) parts.push(`−${version.removed}`);
    if (version.edited) parts.push(`~${version.edited}`);
    return parts.join(' ');
}

function versionRow(chat, version, actions) {
    const pick = (side) => el('input', {
        attrs: { type: 'radio', name: `sidecar_diff_${side}`, value: String(version.version), title: side === 'a' ? t`Compare from this version` : t`Compare to this version` },
        on: { change: actions.compare },
    });
    return el('div', { className: `sidecar-version${version.shrunk ? ' sidecar-shrunk' : ''}`, dataset: { version: String(version.version) } },
        pick('a'), pick('b'),
        el('span', { className: 'sidecar-version-when', text: formatDateTime(version.seenAt) }),
        el('span', { className: 'sidecar-version-count', text: t`${version.messageCount} messages` }),
        el('span', { className: 'sidecar-version-changes', text: counts(version), title: t`added, removed, edited messages` }),
        version.shrunk ? el('span', { className: 'sidecar-badge', text: t`shrunk`, title: t`Most messages vanished in this save` }) : null,
        el('span', { className: 'sidecar-spacer' }),
        button(t`Restore as a new chat`, 'fa-clock-rotate-left', () => actions.restore(version), 'sidecar-restore'),
        el('a', {
            className: 'menu_button menu_button_icon sidecar-download',
            title: t`Download this version's file`,
            attrs: { href: client.versionFileUrl(chat.chatId, version.version), download: `${chat.fileName}.jsonl` },
        }, icon('fa-download')));
}

/**
 * Open the history of `chat` (default: the chat open in SillyTavern). `focus`: a version number
 * to select and show, or 'last-good' for the version before the newest shrink.
 */
export async function openHistory(chat = null, { focus = null } = {}) {
    try {
        chat = chat ?? await openChat();
    } catch (error) {
        toastr.error(describeError(error), t`sidecar`);
        return;
    }
    if (!chat) {
        toastr.info(t`sidecar has not indexed this chat yet (open a chat, or wait a moment after its first save).`, t`sidecar`);
        return;
    }
    const timeline = el('div', { className: 'sidecar-timeline', attrs: { id: 'sidecar_timeline' } });
    const diffPane = el('div', { className: 'sidecar-diff-pane', attrs: { id: 'sidecar_diff' } });
    const status = el('div', { className: 'sidecar-search-summary', attrs: { 'aria-live': 'polite' } });
    const root = el('div', { className: 'sidecar-history' },
        el('h3', { text: t`History of ${ownerName(chat)}: ${chat.fileName}` }), status, timeline, diffPane);
    const popup = new Popup(root, POPUP_TYPE.DISPLAY, '', { wider: true, large: true, animation: 'fast' });
    const versions = [];
    let cursor = null;

    const checked = (side) => Number(root.querySelector(`input[name="sidecar_diff_${side}"]:checked`)?.value ?? NaN);
    async function compare() {
        const [a, b] = [checked('a'), checked('b')];
        if (!Number.isFinite(b)) return;
        const against = Number.isFinite(a) ? a : b - 1;
        diffPane.replaceChildren(el('div', { className: 'sidecar-note', text: t`Comparing version ${against} with ${b}…` }));
        try {
            diffPane.replaceChildren(diffView(await client.diffVersions(chat.chatId, b, { against })));
        } catch (error) {
            if (!isUnavailable(error)) logError('diff', error);
            diffPane.replaceChildren(el('div', { className: 'sidecar-note', text: describeError(error) }));
        }
    }
    async function restore(version) {
        const sure = await Popup.show.confirm(t`Restore as a new chat?`,
            t`Version of ${formatDateTime(version.seenAt)} (${version.messageCount} messages) becomes a new chat of ${ownerName(chat)}. The current chat stays as it is.`);
        if (!sure) return;
        try {
            const name = await restoreVersion(chat, version.version);
            await popup.completeCancelled();
            toastr.success(t`Restored as "${name}".`, t`sidecar`);
        } catch (error) {
            if (!isUnavailable(error)) logError('restore', error);
            toastr.error(describeError(error), t`sidecar`);
        }
    }
    const actions = { compare, restore };

    async function more() {
        const page = await client.listVersions(chat.chatId, { limit: PAGE, cursor });
        cursor = page.nextCursor;
        versions.push(...page.items);
        timeline.append(...page.items.map((version) => versionRow(chat, version, actions)));
        timeline.dataset.loaded = String(versions.length);
        status.textContent = t`${versions.length} versions${cursor ? '+' : ''}, newest first. Pick two to compare.`;
    }
    timeline.addEventListener('scroll', async () => {
        if (cursor && timeline.scrollTop + timeline.clientHeight >= timeline.scrollHeight - 60 && !timeline.dataset.busy) {
            timeline.dataset.busy = '1';
            try { await more(); } finally { delete timeline.dataset.busy; }
        }
    });

    const shown = popup.show();
    try {
        await more();
        const target = focus === 'last-good' ? lastGoodVersion(versions) ?? versions[0] : versions.find((v) => v.version === focus) ?? versions[0];
        if (target) {
            const row = timeline.querySelector(`.sidecar-version[data-version="${target.version}"]`);
            row?.classList.add('sidecar-focus');
            row?.querySelector('input[name="sidecar_diff_b"]')?.click();
            row?.scrollIntoView({ block: 'center' });
        }
    } catch (error) {
        if (!isUnavailable(error)) logError('history', error);
        status.textContent = describeError(error);
    }
    return shown;
}
