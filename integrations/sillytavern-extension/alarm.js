// alarm.js: the loss alarm. It follows sidecar's change feed for all of this user's chats; when
// a save leaves a chat with far fewer messages (the feed's `shrunk`: a chat overwritten by its
// greeting, emptied, reset), a toast says "<chat> lost N messages at HH:MM" with a Restore button
// that opens the chat's history at the last good version.

import { t } from '../../../i18n.js';
import { chatInfo, client, forgetChats, isUnavailable, logError, ownerName } from './api.js';
import { SidecarError } from './client/sidecar-client.js';
import { el, formatTime } from './dom.js';
import { isOpen } from './navigate.js';

let feed = null;

/** How many messages the shrink lost, and when: from the event, or (an older sidecar that does
 * not send the counts) from the chat's two newest versions. */
async function lossOf(data) {
    if (data.previousCount !== null && data.previousCount !== undefined) {
        return { lost: Math.max(0, data.previousCount - (data.messageCount ?? 0)), at: data.at ?? new Date().toISOString() };
    }
    const [now, before] = (await client.listVersions(data.chatId, { limit: 2 })).items;
    return { lost: Math.max(0, (before?.messageCount ?? 0) - (now?.messageCount ?? 0)), at: data.at ?? now?.seenAt };
}

/** The toast for one `shrunk` event. */
export async function showLoss(data, openHistory) {
    let chat;
    let loss;
    try {
        chat = await chatInfo(data.chatId);
        loss = await lossOf(data);
    } catch (error) {
        if (!isUnavailable(error)) logError('loss alarm', error);
        return;
    }
    const { lost, at } = loss;
    const name = `${ownerName(chat)}: ${chat.fileName}`;
    const text = t`${name} lost ${lost} messages at ${formatTime(at)}`;
    const restore = el('button', { className: 'menu_button sidecar-alarm-restore', text: t`Restore` });
    const body = el('div', { className: 'sidecar-alarm', dataset: { chatId: data.chatId } },
        el('div', { className: 'sidecar-alarm-text', text }),
        isOpen(chat) ? el('div', { className: 'sidecar-note', text: t`(the chat open now)` }) : null, restore);
    const toast = toastr.warning(body, t`Messages lost`, {
        timeOut: 0, extendedTimeOut: 0, closeButton: true, tapToDismiss: false, escapeHtml: false,
    });
    restore.addEventListener('click', () => {
        toastr.clear(toast);
        openHistory(chat, { focus: 'last-good' });
    });
}

/**
 * Start (or restart) the alarm. `scope` is 'all' (every chat), 'open' (only the chat open in
 * SillyTavern) or 'off'.
 */
export function startAlarm(scope, openHistory) {
    feed?.close();
    feed = null;
    if (scope === 'off') return;
    feed = client.subscribe({}, async (event) => {
        if (event.type !== 'change') return;
        const data = event.data;
        if (['new', 'renamed', 'missing'].includes(data.kind)) forgetChats();
        if (data.kind !== 'shrunk') return;
        if (scope === 'open' && !isOpen(await chatInfo(data.chatId))) return;
        await showLoss(data, openHistory);
    }, {
        // The feed reconnects by itself (the status view says why sidecar is unreachable);
        // anything else is a bug of ours.
        onError: (error) => { if (!(error instanceof SidecarError)) logError('loss alarm', error); },
    });
}

export function stopAlarm() {
    feed?.close();
    feed = null;
}
