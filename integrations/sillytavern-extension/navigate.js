// navigate.js: open any indexed chat in SillyTavern (selecting its character or group first, as
// a click in the character list would) and bring one message into view, highlighted.

import { openCharacterChat, selectCharacterById, showMoreMessages } from '../../../../script.js';
import { openGroupById, openGroupChat } from '../../../group-chats.js';
import { t } from '../../../i18n.js';
import { context, folderOf } from './api.js';
import { HIGHLIGHT } from './dom.js';


/** Whether `chat` (sidecar's record) is the chat open in SillyTavern right now. */
export function isOpen(chat) {
    const { chatId, groupId, characterId, characters } = context();
    if (String(chatId ?? '') !== chat.fileName) return false;
    if (chat.groupId) return groupId === chat.groupId;
    return !groupId && folderOf(characters[characterId]) === chat.character;
}

/** Select the character (or group) of `chat`; returns false when it no longer exists. */
export async function selectOwner(chat) {
    const ctx = context();
    if (chat.groupId) {
        if (!ctx.groups.some((g) => g.id === chat.groupId)) return false;
        if (ctx.groupId !== chat.groupId) await openGroupById(chat.groupId);
        return context().groupId === chat.groupId;
    }
    const index = ctx.characters.findIndex((c) => folderOf(c) === chat.character);
    if (index < 0) return false;
    if (ctx.groupId || String(ctx.characterId) !== String(index)) await selectCharacterById(index);
    return String(context().characterId) === String(index);
}

/** Open the chat file `fileName` of the selected character or group. */
export async function openFile(fileName, groupId) {
    if (groupId) await openGroupChat(groupId, fileName);
    else await openCharacterChat(fileName);
}

/** Open `chat` in SillyTavern; throws with a readable message when it cannot be opened. */
export async function openIndexedChat(chat) {
    if (isOpen(chat)) return;
    if (chat.state === 'missing') throw new Error(t`This chat file no longer exists in SillyTavern.`);
    if (!await selectOwner(chat)) throw new Error(t`Its character or group no longer exists in SillyTavern.`);
    if (!isOpen(chat)) await openFile(chat.fileName, chat.groupId);
    if (!isOpen(chat)) throw new Error(t`SillyTavern could not open this chat.`);
}

/** Scroll the open chat to message `position` (loading older messages when needed) and mark it. */
export async function showMessage(position) {
    const chatElement = document.getElementById('chat');
    const selector = `#chat .mes[mesid="${Number(position)}"]`;
    for (let tries = 0; !document.querySelector(selector) && tries < 50; tries++) {
        const shown = [...document.querySelectorAll('#chat .mes')].map((m) => Number(m.getAttribute('mesid')));
        const first = shown.length ? Math.min(...shown) : context().chat.length;
        if (position >= first || first === 0) break;
        await showMoreMessages(first - position);
    }
    const message = document.querySelector(selector);
    if (!(message instanceof HTMLElement) || !chatElement) {
        throw new Error(t`Message ${position} is not in this chat any more.`);
    }
    document.querySelectorAll(`.${HIGHLIGHT}`).forEach((node) => node.classList.remove(HIGHLIGHT));
    message.classList.add(HIGHLIGHT);
    message.scrollIntoView({ block: 'center' });
    return message;
}
