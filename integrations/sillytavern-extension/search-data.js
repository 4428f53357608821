// search-data.js: what the search view needs besides the hits: the character and group
// choices, and each hit's message date (cached; a few requests at a time).

import { t } from '../../../i18n.js';
import { allChats, client, context, folderOf } from './api.js';

const PARALLEL = 6; // a browser opens at most six connections to one host
const dates = new Map(); // "chatId:position" -> sendDate (messages move rarely; good enough)

/** Run `work` on every item, at most `PARALLEL` at a time; results in item order. */
async function pooled(items, work) {
    const results = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const index = next++;
            results[index] = await work(items[index]);
        }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
    return results;
}

/** `[value, label]` for every character and group that has indexed chats, by name. */
export async function ownerOptions() {
    const chats = [...(await allChats()).values()];
    const { characters, groups } = context();
    const options = new Map();
    for (const chat of chats) {
        if (chat.groupId) {
            const name = groups.find((g) => g.id === chat.groupId)?.name ?? chat.groupName ?? chat.groupId;
            options.set(`g:${chat.groupId}`, t`Group: ${name}`);
        } else if (chat.character) {
            const name = characters.find((c) => folderOf(c) === chat.character)?.name ?? chat.character;
            options.set(`c:${chat.character}`, name);
        }
    }
    return [...options].sort((a, b) => a[1].localeCompare(b[1]));
}

/** The send date of each hit's message, keyed "chatId:position". */
export async function messageDates(hits) {
    const wanted = [...new Set(hits.map((hit) => `${hit.chatId}:${hit.position}`))].filter((key) => !dates.has(key));
    await pooled(wanted, async (key) => {
        const [chatId, position] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
        const page = await client.listMessages(chatId, { from: position, to: position, limit: 1 });
        dates.set(key, page.items[0]?.sendDate ?? null);
    });
    return dates;
}
