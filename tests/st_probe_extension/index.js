// The end-to-end tests' own UI extension (tests/st_probe_extension/, never shipped): it does what an
// extension does, from inside a real SillyTavern page, and the pytest side drives it through
// `window.sidecarProbe`. Chats are saved with SillyTavern's own saveChat(); sidecar is reached
// through the proxy plugin with the client module, installed as ./client/ like the real extension.

import { createClient, SidecarError } from './client/sidecar-client.js';

const context = () => SillyTavern.getContext();
const OUR_CODE = /\/third-party\/sidecar(-test-probe)?\//;
const unhandled = [];
window.addEventListener('unhandledrejection', (event) => {
    const text = String(event.reason?.stack ?? event.reason);
    if (OUR_CODE.test(text)) unhandled.push(`unhandled rejection: ${text}`);
});
window.addEventListener('error', (event) => {
    if (OUR_CODE.test(event.filename ?? '') || OUR_CODE.test(String(event.error?.stack ?? ''))) {
        unhandled.push(`uncaught error: ${event.message} (${event.filename}:${event.lineno})`);
    }
});
const feeds = new Map();
let nextFeed = 1;

/** A client through the plugin, counting the connections its change feed opens. */
function countingClient(counter) {
    const fetchCounting = (input, init) => {
        if (String(input).includes('/events')) counter.connections += 1;
        return fetch(input, init);
    };
    class CountingEventSource extends EventSource {
        constructor(url, init) {
            super(url, init);
            counter.connections += 1;
        }
    }
    return createClient({ headers: context().getRequestHeaders, fetch: fetchCounting, EventSource: CountingEventSource });
}

const client = createClient({ headers: () => context().getRequestHeaders() });

function characterIndex(avatar) {
    const index = context().characters.findIndex((c) => c.avatar === avatar);
    if (index < 0) throw new Error(`no character with avatar ${avatar}`);
    return index;
}

/** SillyTavern shows a loader (a transparent popup) while it opens a chat: wait until it is gone. */
async function settled(timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    while (document.querySelector('dialog.popup[open]') || document.getElementById('preloader')) {
        if (Date.now() > deadline) {
            const open = [...document.querySelectorAll('dialog.popup[open]')].map((d) => `${d.className}: ${d.innerText.slice(0, 200)}`);
            throw new Error(`SillyTavern still shows a loader or popup: ${open.join(' | ') || '#preloader'}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

function setPath(target, path, value) {
    let node = target;
    for (const key of path.slice(0, -1)) {
        if (node[key] === undefined || node[key] === null) node[key] = {};
        node = node[key];
    }
    if (value === undefined) delete node[path[path.length - 1]];
    else node[path[path.length - 1]] = value;
}

window.sidecarProbe = {
    client,
    unhandled,
    SidecarError,

    /** Create a chat file through SillyTavern's own save API and open it in the page. */
    async createChat(avatar, fileName, messages, metadata = {}) {
        const character = context().characters[characterIndex(avatar)];
        const header = { user_name: 'User', character_name: character.name, create_date: new Date().toISOString(), chat_metadata: metadata };
        const response = await fetch('/api/chats/save', {
            method: 'POST',
            headers: context().getRequestHeaders(),
            body: JSON.stringify({ ch_name: character.name, file_name: fileName, chat: [header, ...messages], avatar_url: avatar, force: true }),
        });
        if (!response.ok) throw new Error(`save failed: ${response.status}`);
        await this.openChat(avatar, fileName);
    },

    /** Create a group of `members` (avatars) with one chat saved through SillyTavern's API, make
     * the page load it, and open that chat; returns the group's id. */
    async createGroup(name, members, chatName, messages) {
        const post = async (path, body) => {
            const response = await fetch(path, { method: 'POST', headers: context().getRequestHeaders(), body: JSON.stringify(body) });
            if (!response.ok) throw new Error(`${path} failed: ${response.status}`);
            return response.json();
        };
        const group = await post('/api/groups/create', { name, members, chat_id: chatName, chats: [chatName] });
        const header = { chat_metadata: {}, user_name: 'unused', character_name: 'unused' };
        await post('/api/chats/group/save', { id: chatName, chat: [header, ...messages], force: true });
        await (await import('/scripts/group-chats.js')).getGroups();
        await this.openGroupChat(group.id, chatName);
        return group.id;
    },

    async openGroupChat(groupId, chatName) {
        const groups = await import('/scripts/group-chats.js');
        if (context().groupId !== groupId) await groups.openGroupById(groupId);
        if (context().chatId !== chatName) await groups.openGroupChat(groupId, chatName);
        if (context().chatId !== chatName) throw new Error(`group chat ${chatName} did not open (open: ${context().chatId})`);
        await settled();
        return context().chat.length;
    },

    /** Select the character and open one of its chats, as a click in the chat list does. */
    async openChat(avatar, fileName) {
        const index = characterIndex(avatar);
        if (String(context().characterId) !== String(index)) await context().selectCharacterById(index);
        if (context().chatId !== fileName) await context().openCharacterChat(fileName);
        if (context().chatId !== fileName) throw new Error(`chat ${fileName} did not open (open: ${context().chatId})`);
        await settled();
        return context().chat.length;
    },

    /** Change the open chat in memory, then save it once with SillyTavern's saveChat(). */
    async change(operations) {
        const { chat } = context();
        for (const op of operations) {
            if (op.op === 'push') chat.push(op.message);
            else if (op.op === 'set') setPath(chat[op.index], op.path, op.value);
            else if (op.op === 'truncate') chat.splice(op.length);
            else throw new Error(`unknown operation ${op.op}`);
        }
        await context().saveChat();
        return chat.length;
    },

    openChatInfo() {
        const { chatId, characterId, characters, groupId } = context();
        return { chatId, groupId, avatar: characters[characterId]?.avatar ?? null };
    },

    /** Subscribe to the change feed; events, state and connection count are kept per feed. */
    subscribe(filter, options = {}) {
        const id = nextFeed++;
        const counter = { connections: 0 };
        const record = { events: [], errors: [], state: 'pending', error: null, status: null, counter, subscription: null };
        const feedClient = countingClient(counter);
        const subscription = feedClient.subscribe(filter, (event) => record.events.push(event), {
            transport: options.transport ?? 'auto',
            retryMs: options.retryMs ?? 200,
            onError: (error) => record.errors.push(`${error.name}: ${error.message} (status ${error.status})`),
        });
        record.subscription = subscription;
        subscription.ready.then(
            () => { record.state = 'ready'; },
            (error) => { record.state = 'rejected'; record.error = `${error.name}: ${error.message}`; record.status = error.status ?? null; },
        );
        feeds.set(id, record);
        return id;
    },

    feed(id) {
        const record = feeds.get(id);
        return {
            events: record.events,
            errors: record.errors,
            state: record.state,
            error: record.error,
            status: record.status,
            closed: record.subscription.closed,
            lastEventId: record.subscription.lastEventId,
            connections: record.counter.connections,
        };
    },

    close(id) {
        feeds.get(id)?.subscription.close();
    },

    async findChat(fileName, filter) {
        return client.findChat(fileName, filter);
    },

    async search(q, filters = {}) {
        return client.search(q, filters);
    },
};
