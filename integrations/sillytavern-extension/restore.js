// restore.js: "Restore as a new chat": one version of a chat, byte for byte from sidecar,
// imported through SillyTavern's own chat import as a new chat of the same character (or group).
// The chat it came from is not touched; SillyTavern then opens the new chat. Performance marks
// (`sidecar:restore:*`) time each step for benchmarks/ui.py.

import { importCharacterChat } from '../../../../script.js';
import { importGroupChat } from '../../../group-chats.js';
import { t } from '../../../i18n.js';
import { client, context } from './api.js';
import { openFile, selectOwner } from './navigate.js';

/**
 * Import `version` of `chat` as a new chat and open it; returns the new chat's file name.
 * @param {{chatId: string, fileName: string, groupId?: string|null, character?: string|null}} chat
 * @param {number} version
 * @returns {Promise<string>}
 */
export async function restoreVersion(chat, version) {
    performance.mark('sidecar:restore:start');
    const file = await client.getVersionFile(chat.chatId, version);
    performance.mark('sidecar:restore:fetched');
    if (!await selectOwner(chat)) throw new Error(t`Its character or group no longer exists in SillyTavern.`);
    const ctx = context();
    const form = new FormData();
    form.set('file_type', 'jsonl');
    form.set('avatar', new File([file.bytes], `${chat.fileName}.jsonl`, { type: 'application/octet-stream' }));
    form.set('avatar_url', chat.groupId ? '' : ctx.characters[ctx.characterId]?.avatar ?? '');
    form.set('user_name', ctx.name1);
    form.set('character_name', ctx.name2);
    const names = chat.groupId
        ? await importGroupChat(form, { refresh: false })
        : await importCharacterChat(form, { refresh: false });
    if (!names.length) throw new Error(t`SillyTavern did not accept the restored file.`);
    performance.mark('sidecar:restore:imported');
    const fileName = String(names[0]).replace(/\.jsonl$/, '');
    await openFile(fileName, chat.groupId ?? null);
    performance.mark('sidecar:restore:opened');
    return fileName;
}
