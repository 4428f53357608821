// search-data.js: what the search view needs besides the hits: the character and group
// choices. (Each hit carries its message's date.)

import { t } from '../../../i18n.js';
import { allChats, context, folderOf } from './api.js';

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
