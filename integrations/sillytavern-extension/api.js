// api.js: the one client of this extension (through SillyTavern's proxy plugin, with
// SillyTavern's own request headers), a cache of the user's indexed chats, the sidecar chat
// behind the chat open in SillyTavern, and what to tell a person when sidecar cannot be reached.

import { t } from '../../../i18n.js';
import { createClient, SidecarError } from './client/sidecar-client.js';

export const MODULE = 'sidecar';
export const LOG_PREFIX = '[sidecar]';

export const context = () => SillyTavern.getContext();

/** Every call goes through the proxy plugin on SillyTavern's origin: it adds the user. */
export const client = createClient({ headers: () => context().getRequestHeaders() });

const CHAT_LIST_TTL_MS = 30000;
const OPEN_CHAT_TTL_MS = 60000;
let openChatCache = null; // {key, chat, at}: the open chat's record, found once per chat
let chatList = null; // {at, byId: Map}
let chatListLoading = null;

/** Every indexed chat of this user, by chatId (cached for a while; `fresh` reloads). */
export async function allChats({ fresh = false } = {}) {
    if (!fresh && chatList && Date.now() - chatList.at < CHAT_LIST_TTL_MS) return chatList.byId;
    if (!chatListLoading) {
        chatListLoading = (async () => {
            const byId = new Map();
            for await (const chat of client.iterateChats({ limit: 1000 })) byId.set(chat.chatId, chat);
            chatList = { at: Date.now(), byId };
            return byId;
        })().finally(() => { chatListLoading = null; });
    }
    return chatListLoading;
}

/** One chat's list entry, from the cache or from sidecar. */
export async function chatInfo(chatId) {
    const cached = (await allChats()).get(chatId);
    if (cached) return cached;
    const chat = await client.getChat(chatId);
    chatList?.byId.set(chatId, chat);
    return chat;
}

export function forgetChats() {
    chatList = null;
}

/** The character folder (sidecar's `character`) of a SillyTavern character. */
export function folderOf(character) {
    return String(character?.avatar ?? '').replace(/\.png$/i, '');
}

/** How people see a chat's owner: the character's or the group's display name. */
export function ownerName(chat) {
    if (chat.groupId) {
        return context().groups?.find((g) => g.id === chat.groupId)?.name ?? chat.groupName ?? chat.groupId;
    }
    const character = context().characters.find((c) => folderOf(c) === chat.character);
    return character?.name ?? chat.character ?? '';
}

/**
 * The indexed chat that is open in SillyTavern, or null (nothing open, or not indexed yet).
 * @returns {Promise<import('./client/sidecar-client.js').Chat|null>}
 */
export async function openChat() {
    const { chatId, groupId, characterId, characters } = context();
    if (!chatId) return null;
    const filter = groupId ? { groupId } : { character: folderOf(characters[characterId]) };
    const key = JSON.stringify([filter, String(chatId)]);
    if (openChatCache?.key === key && Date.now() - openChatCache.at < OPEN_CHAT_TTL_MS) return openChatCache.chat;
    const chat = await client.findChat(String(chatId), filter);
    openChatCache = chat ? { key, chat, at: Date.now() } : null; // not indexed yet: ask again next time
    return chat;
}

/** What went wrong, in one sentence a person can act on. */
export function describeError(error) {
    if (error instanceof SidecarError) {
        if (error.status === 404 && !(error.body && typeof error.body === 'object' && 'error' in error.body)) {
            return t`The sidecar proxy plugin is not loaded in SillyTavern: run "sidecar install-sillytavern <SillyTavern folder>", set enableServerPlugins: true in config.yaml and restart SillyTavern.`;
        }
        if (error.status === 502 || error.status === 504) {
            return t`sidecar is not running: start it beside SillyTavern with "sidecar run --data-root <SillyTavern data folder>".`;
        }
        if (error.status === 401) {
            return t`sidecar refused the proxy plugin's token: give the plugin (ST_SIDECAR_TOKEN) the same token as sidecar's api.token.`;
        }
        if (error.status === 0) {
            return t`SillyTavern's server did not answer: check that it is still running.`;
        }
        return t`sidecar answered: ${error.message}`;
    }
    return String(error?.message ?? error);
}

/** True when the error means the plugin or sidecar is missing (not a problem with one request). */
export function isUnavailable(error) {
    return error instanceof SidecarError && [0, 401, 404, 502, 504].includes(error.status);
}

/** Log an error of ours to the console with our prefix (the tests look for it). */
export function logError(what, error) {
    console.error(LOG_PREFIX, what, error);
}
