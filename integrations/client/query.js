// query.js: the query API over the indexed chats: chats, messages, per-swipe data, data across
// chats and full-text search. It needs no `extensionId`.

import { checkKey, isDotKey, keyNotFound, messagePath, pick, segment } from './http.js';
import { TrackerClient } from './tracker.js';

/**
 * @typedef {import('./types.js').JsonValue} JsonValue
 * @typedef {import('./types.js').Chat} Chat
 * @typedef {import('./types.js').ChatDetail} ChatDetail
 * @typedef {import('./types.js').Message} Message
 * @typedef {import('./types.js').MessageDetail} MessageDetail
 * @typedef {import('./types.js').DataItem} DataItem
 * @typedef {import('./types.js').SearchHit} SearchHit
 * @typedef {import('./types.js').SwipeChoice} SwipeChoice
 */

/**
 * @template T
 * @typedef {import('./types.js').Page<T>} Page
 */

/** The value-tracker routes and the query API over the indexed chats. */
export class QueryClient extends TrackerClient {
    // ---- indexed chats ---------------------------------------------------------------------

    /**
     * Indexed chats, ordered by path.
     * @param {{user?: string, character?: string, groupId?: string, namespace?: string,
     *   q?: string, limit?: number, cursor?: string|null}} [filters] `character` is the
     *   character's folder name; `q` is a chat search as SillyTavern's: every whitespace-separated
     *   part in the file name or in one of the chat's messages
     * @returns {Promise<Page<Chat>>}
     */
    async listChats(filters = {}) {
        return this.request('GET', '/chats', { query: filters });
    }

    /**
     * Every chat matching `filters`, page by page.
     * @param {{user?: string, character?: string, groupId?: string, namespace?: string,
     *   q?: string, limit?: number}} [filters]
     * @returns {AsyncGenerator<Chat, void, undefined>}
     */
    iterateChats(filters = {}) {
        return allPages((cursor) => this.listChats({ ...filters, cursor }));
    }

    /**
     * The indexed chat whose file name (SillyTavern's `getContext().chatId`) is `fileName`, or
     * null. Narrow it with `character` (folder name), `groupId` or `user` when names repeat.
     * @param {string} fileName with or without `.jsonl`
     * @param {{user?: string, character?: string, groupId?: string}} [filters]
     * @returns {Promise<Chat|null>}
     */
    async findChat(fileName, filters = {}) {
        const name = String(fileName).replace(/\.jsonl$/, '');
        for await (const chat of this.iterateChats({ ...filters, q: name })) {
            if (chat.fileName === name) return chat;
        }
        return null;
    }

    /**
     * @param {string} chatId
     * @returns {Promise<ChatDetail>}
     */
    async getChat(chatId) {
        return this.request('GET', `/chats/${segment(chatId, 'chat')}`);
    }

    /**
     * Messages of a chat by position; with `namespace`, each carries that namespace's data of
     * its selected swipe as `data`.
     * @param {string} chatId
     * @param {{from?: number, to?: number, namespace?: string, limit?: number,
     *   cursor?: string|null}} [options] `to` is inclusive
     * @returns {Promise<Page<Message>>}
     */
    async listMessages(chatId, options = {}) {
        return this.request('GET', `/chats/${segment(chatId, 'chat')}/messages`, { query: options });
    }

    /**
     * Every message of a chat (in the range), page by page.
     * @param {string} chatId
     * @param {{from?: number, to?: number, namespace?: string, limit?: number}} [options]
     * @returns {AsyncGenerator<Message, void, undefined>}
     */
    iterateMessages(chatId, options = {}) {
        return allPages((cursor) => this.listMessages(chatId, { ...options, cursor }));
    }

    /**
     * One message with every swipe's data.
     * @param {string} chatId
     * @param {number} messagePosition 0-based, the header line is not a message
     * @returns {Promise<MessageDetail>}
     */
    async getMessage(chatId, messagePosition) {
        return this.request('GET', messagePath(chatId, messagePosition));
    }

    /**
     * An extension's data on one message: `getData(chatId, pos, ns)` is the namespace's object,
     * `getData(chatId, pos, ns, key)` one value. `swipe` is `selected` (default), `previous`, a
     * number, or `all` (then an object keyed by swipe number). 404 when there is no such data.
     * @param {string} chatId
     * @param {number} messagePosition
     * @param {string} namespace
     * @param {string|null|{swipe?: SwipeChoice}} [key]
     * @param {{swipe?: SwipeChoice}} [options]
     * @returns {Promise<any>}
     */
    async getData(chatId, messagePosition, namespace, key, options = {}) {
        const name = typeof key === 'string' ? checkKey(key) : null;
        if (key !== null && typeof key === 'object') options = key;
        else if (key !== undefined && key !== null && name === null) checkKey(key); // not a string: 400
        const query = { swipe: options.swipe };
        const base = `${messagePath(chatId, messagePosition)}/data/${segment(namespace, 'namespace')}`;
        if (name === null) return this.request('GET', base, { query });
        if (isDotKey(name)) {
            const object = await this.request('GET', base, { query });
            if (query.swipe !== 'all') return pick(object, name);
            const values = {};
            for (const [swipe, data] of Object.entries(object)) {
                if (Object.hasOwn(data, name)) values[swipe] = data[name];
            }
            if (Object.keys(values).length === 0) throw keyNotFound();
            return values;
        }
        const answer = await this.request('GET', `${base}/${encodeURIComponent(name)}`, { query });
        return query.swipe === 'all' ? answer : answer[name];
    }

    /**
     * An extension's data on the chat itself (`chat_metadata.<namespace>`):
     * `getChatData(chatId, ns)` is the namespace's object, `getChatData(chatId, ns, key)` one
     * value. 404 when there is no such data.
     * @param {string} chatId
     * @param {string} namespace
     * @param {string} [key]
     * @returns {Promise<any>}
     */
    async getChatData(chatId, namespace, key) {
        const base = `/chats/${segment(chatId, 'chat')}/data/${segment(namespace, 'namespace')}`;
        if (key === undefined) return this.request('GET', base);
        const name = checkKey(key);
        if (isDotKey(name)) return pick(await this.request('GET', base), name);
        return (await this.request('GET', `${base}/${encodeURIComponent(name)}`))[name];
    }

    /**
     * One namespace's values across chats, in chat order. `value` is compared with its JSON
     * type (`'10'` finds the string, `10` the number); `gt`/`lt` compare numbers; `selected`
     * true keeps selected swipes only (false: only the others). `level: 'chat'`: the chats' own
     * values (`chat_metadata.<namespace>`) instead, as `{chatId, user, key, value}`.
     * @param {string} namespace
     * @param {{key?: string, value?: JsonValue, gt?: number, lt?: number, chatId?: string,
     *   user?: string, selected?: boolean, level?: 'message'|'chat', limit?: number,
     *   cursor?: string|null}} [filter]
     * @returns {Promise<Page<DataItem>>}
     */
    async queryData(namespace, filter = {}) {
        const query = { ...filter };
        if (filter.value !== undefined) query.value = JSON.stringify(filter.value);
        return this.request('GET', `/data/${segment(namespace, 'namespace')}`, { query });
    }

    /**
     * Every value matching `filter`, page by page.
     * @param {string} namespace
     * @param {{key?: string, value?: JsonValue, gt?: number, lt?: number, chatId?: string,
     *   user?: string, selected?: boolean, limit?: number}} [filter]
     * @returns {AsyncGenerator<DataItem, void, undefined>}
     */
    iterateData(namespace, filter = {}) {
        return allPages((cursor) => this.queryData(namespace, { ...filter, cursor }));
    }

    /**
     * Full-text search over message text and string values, best hits first; snippets are
     * HTML-escaped with matches in `<mark>`.
     * @param {string} q words to find (all of them; CJK text matches as substrings)
     * @param {{namespace?: string, chatId?: string, user?: string, character?: string,
     *   groupId?: string, dateFrom?: string, dateTo?: string, limit?: number}} [filters]
     *   `dateFrom`/`dateTo`: ISO 8601 dates or date-times, inclusive, on the message's send date
     * @returns {Promise<Page<SearchHit>>}
     */
    async search(q, filters = {}) {
        return this.request('GET', '/search', { query: { ...filters, q } });
    }
}

/** Every item of a paged list, fetching the next page as the caller iterates. */
async function* allPages(fetchPage) {
    let cursor = null;
    do {
        const page = await fetchPage(cursor);
        yield* page.items;
        cursor = page.nextCursor;
    } while (cursor);
}
