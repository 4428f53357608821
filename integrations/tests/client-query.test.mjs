// The browser client's query API against a real `sidecar run` indexing chat files that are
// saved the way SillyTavern saves them: chats, messages, per-swipe data, cross-chat data,
// search, history, versions, status.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { createClient } from '../client/sidecar-client.js';
import { rejectsWith } from './helpers/client-assert.mjs';
import { chatPath, header, message, stSave, swiped } from './helpers/chats.mjs';
import { startSidecar, waitFor } from './helpers/sidecar.mjs';

const TOKEN = 'client-query-token';
let sidecar;
let client;
let path;
let chatId;

function adventure({ hp = 3, lastText = 'second swipe: a dragon appears' } = {}) {
    return [
        header({ qvink_memory: { note: 'chat level' } }),
        message('hi there, traveller', { name: 'User', isUser: true }),
        message('hi', { extra: { myns: { hp, 'a/b': '10', '/': 'slash', 'a//b': 'double' } } }),
        swiped(['first swipe', lastText], 1, [{ myns: { hp: 1, mood: 'calm' } }, { myns: { hp: 2, mood: 'angry' } }]),
    ];
}

/** Wait until sidecar indexed the chat file named `name` with `count` messages; returns it. */
async function indexed(name, count, filters = {}) {
    let found = null;
    await waitFor(async () => {
        found = await client.findChat(name, filters);
        return found !== null && found.messageCount === count;
    }, { what: `chat ${name} indexed with ${count} messages` });
    return found;
}

before(async () => {
    sidecar = await startSidecar({ token: TOKEN });
    client = createClient({ baseUrl: sidecar.url, token: TOKEN });
    path = chatPath(sidecar.dataRoot, { chat: 'adventure' });
    await stSave(path, adventure());
    chatId = (await indexed('adventure', 3)).chatId;
});

after(async () => {
    await sidecar?.stop();
});

describe('chats and messages', () => {
    test('getChat and findChat', async () => {
        const chat = await client.getChat(chatId);
        assert.equal(chat.fileName, 'adventure');
        assert.equal(chat.character, 'Seraphina');
        assert.equal(chat.user, 'default-user');
        assert.equal(chat.state, 'ok');
        assert.deepEqual(chat.namespaces, { myns: 2 });
        assert.deepEqual(chat.metadata.qvink_memory, { note: 'chat level' });
        assert.equal((await client.findChat('adventure.jsonl', { character: 'Seraphina' })).chatId, chatId);
        assert.equal(await client.findChat('adventure', { character: 'Nobody' }), null);
        await rejectsWith(client.getChat('0000000000000000'), 404);
    });

    test('listMessages with a namespace carries the selected swipe data; getMessage has every swipe', async () => {
        const page = await client.listMessages(chatId, { namespace: 'myns' });
        assert.equal(page.nextCursor, null);
        assert.deepEqual(page.items.map((m) => [m.position, m.text, m.isUser]), [
            [0, 'hi there, traveller', true],
            [1, 'hi', false],
            [2, 'second swipe: a dragon appears', false],
        ]);
        assert.equal(page.items[0].data, null);
        assert.deepEqual(page.items[2].data, { hp: 2, mood: 'angry' });
        const slice = await client.listMessages(chatId, { from: 1, to: 2, limit: 1 });
        assert.deepEqual(slice.items.map((m) => m.position), [1]);
        const rest = await client.listMessages(chatId, { from: 1, to: 2, limit: 1, cursor: slice.nextCursor });
        assert.deepEqual(rest.items.map((m) => m.position), [2]);
        const all = [];
        for await (const m of client.iterateMessages(chatId, { limit: 1 })) all.push(m.position);
        assert.deepEqual(all, [0, 1, 2]);

        const detail = await client.getMessage(chatId, 2);
        assert.equal(detail.swipeId, 1);
        assert.equal(detail.swipeCount, 2);
        assert.deepEqual(detail.swipes, [
            { swipe: 0, selected: false, data: { myns: { hp: 1, mood: 'calm' } } },
            { swipe: 1, selected: true, data: { myns: { hp: 2, mood: 'angry' } } },
        ]);
        await rejectsWith(client.getMessage(chatId, 99), 404);
        await rejectsWith(client.getMessage(chatId, -1), 400);
    });

    test('getData: selected swipe, a numbered one, previous, all, without a key, exact types', async () => {
        assert.equal(await client.getData(chatId, 2, 'myns', 'hp'), 2);
        assert.equal(await client.getData(chatId, 2, 'myns', 'hp', { swipe: 0 }), 1);
        assert.equal(await client.getData(chatId, 2, 'myns', 'mood', { swipe: 'previous' }), 'calm');
        assert.deepEqual(await client.getData(chatId, 2, 'myns', 'hp', { swipe: 'all' }), { 0: 1, 1: 2 });
        assert.deepEqual(await client.getData(chatId, 2, 'myns'), { hp: 2, mood: 'angry' });
        assert.deepEqual(await client.getData(chatId, 2, 'myns', { swipe: 0 }), { hp: 1, mood: 'calm' });
        assert.deepEqual(await client.getData(chatId, '2', 'myns', null, { swipe: 'all' }), {
            0: { hp: 1, mood: 'calm' },
            1: { hp: 2, mood: 'angry' },
        });
        assert.equal(await client.getData(chatId, 1, 'myns', 'a/b'), '10'); // a string stays a string
        assert.equal(await client.getData(chatId, 1, 'myns', '/'), 'slash');
        assert.equal(await client.getData(chatId, 1, 'myns', 'a//b'), 'double');
        assert.deepEqual(await client.getData(chatId, 1, 'myns', '/', { swipe: 'all' }), { 0: 'slash' });
        await rejectsWith(client.getData(chatId, 1, 'myns', 'absent'), 404, 'Data key not found');
        await rejectsWith(client.getData(chatId, 0, 'myns'), 404);
        await rejectsWith(client.getData(chatId, 2, 'myns', 'hp', { swipe: 5 }), 404);
        await rejectsWith(client.getData(chatId, 2, 'myns', 'hp', { swipe: 'sideways' }), 400);
    });

    test('listChats filters and pages with cursors; iterateChats walks every page', async () => {
        for (const name of ['b-chat', 'c-chat', 'd-chat']) {
            await stSave(chatPath(sidecar.dataRoot, { character: 'Aqua', chat: name }), [header(), message(`in ${name}`)]);
        }
        await stSave(chatPath(sidecar.dataRoot, { user: 'other-user', character: 'Aqua', chat: 'e-chat' }), [
            header(),
            message('elsewhere'),
        ]);
        await indexed('e-chat', 1);
        await indexed('d-chat', 1);
        await indexed('c-chat', 1);
        await indexed('b-chat', 1);

        const first = await client.listChats({ character: 'Aqua', user: 'default-user', limit: 2 });
        assert.deepEqual(first.items.map((c) => c.fileName), ['b-chat', 'c-chat']);
        assert.equal(typeof first.nextCursor, 'string');
        const second = await client.listChats({ character: 'Aqua', user: 'default-user', limit: 2, cursor: first.nextCursor });
        assert.deepEqual(second.items.map((c) => c.fileName), ['d-chat']);
        assert.equal(second.nextCursor, null);

        const names = [];
        for await (const chat of client.iterateChats({ limit: 1 })) names.push(`${chat.user}/${chat.fileName}`);
        assert.deepEqual(names.sort(), [
            'default-user/adventure',
            'default-user/b-chat',
            'default-user/c-chat',
            'default-user/d-chat',
            'other-user/e-chat',
        ]);
        assert.deepEqual((await client.listChats({ namespace: 'myns' })).items.map((c) => c.chatId), [chatId]);
        assert.deepEqual((await client.listChats({ q: 'ADVENT' })).items.map((c) => c.chatId), [chatId]);
        await rejectsWith(client.listChats({ cursor: 'not-a-cursor' }), 400, 'Invalid cursor');
        await rejectsWith(client.listChats({ limit: 0 }), 400);
    });
});

describe('chat-level data (chat_metadata.<namespace>)', () => {
    test('getChat lists it; getChatData, queryData level chat, getChatValueHistory read it', async () => {
        assert.deepEqual((await client.getChat(chatId)).chatNamespaces, { qvink_memory: 1 });
        assert.deepEqual(await client.getChatData(chatId, 'qvink_memory'), { note: 'chat level' });
        assert.equal(await client.getChatData(chatId, 'qvink_memory', 'note'), 'chat level');
        await rejectsWith(client.getChatData(chatId, 'qvink_memory', 'nope'), 404, 'Data key not found');
        await rejectsWith(client.getChatData(chatId, 'myns'), 404, 'Namespace not found');
        const page = await client.queryData('qvink_memory', { level: 'chat', chatId });
        assert.deepEqual(page.items, [{ chatId, user: 'default-user', key: 'note', value: 'chat level' }]);
        const history = await client.getChatValueHistory(chatId, 'qvink_memory', 'note');
        assert.deepEqual(history.items.map((v) => [v.value, v.replacedAt, v.swipe]), [['chat level', null, null]]);
    });
});

describe('across chats', () => {
    test('queryData compares values with their JSON type', async () => {
        const angry = await client.queryData('myns', { key: 'mood', value: 'angry' });
        assert.deepEqual(angry.items.map((i) => [i.chatId, i.position, i.swipe, i.selected, i.value]), [
            [chatId, 2, 1, true, 'angry'],
        ]);
        assert.equal((await client.queryData('myns', { key: 'a/b', value: '10' })).items.length, 1);
        assert.equal((await client.queryData('myns', { key: 'a/b', value: 10 })).items.length, 0);
        const over = await client.queryData('myns', { key: 'hp', gt: 1.5, chatId });
        assert.deepEqual(over.items.map((i) => i.value).sort(), [2, 3]);
        const unselected = await client.queryData('myns', { key: 'hp', selected: false });
        assert.deepEqual(unselected.items.map((i) => [i.position, i.swipe]), [[2, 0]]);
        const everything = [];
        for await (const item of client.iterateData('myns', { limit: 2 })) everything.push(item.key);
        assert.equal(everything.length, 8);
        await rejectsWith(client.queryData('nonexistent_ns'), 404);
        await rejectsWith(client.queryData('myns', { gt: 'many' }), 400);
    });

    test('search finds a word in message text and in string values', async () => {
        const hits = await client.search('dragon');
        assert.equal(hits.items.length, 1);
        assert.deepEqual([hits.items[0].chatId, hits.items[0].position, hits.items[0].where], [chatId, 2, 'text']);
        assert.match(hits.items[0].snippet, /<mark>dragon<\/mark>/);
        const values = await client.search('angry', { namespace: 'myns' });
        assert.deepEqual(values.items.map((h) => [h.position, h.swipe, h.where]), [[2, 1, 'myns.mood']]);
        assert.deepEqual((await client.search('dragon', { chatId: '0000000000000000' })).items, []);
        assert.deepEqual((await client.search('AND OR "*', { limit: 5 })).items, []); // operators are plain words
    });
});

describe('history and versions (one chat, saved three times)', () => {
    let versions;

    before(async () => {
        // hp 3 -> 4, then a save that deletes the last message.
        await stSave(path, adventure({ hp: 4 }));
        await waitFor(async () => (await client.getData(chatId, 1, 'myns', 'hp')) === 4, { what: 'hp 4 indexed' });
        await stSave(path, adventure({ hp: 4 }).slice(0, 3));
        await indexed('adventure', 2);
        versions = (await client.listVersions(chatId)).items;
    });

    test('getValueHistory shows the earlier value after a re-save changed it', async () => {
        const history = await client.getValueHistory(chatId, 1, 'myns', 'hp');
        assert.deepEqual(history.items.map((v) => [v.value, v.reason === null, v.replacedAt === null]), [
            [3, false, false],
            [4, true, true],
        ]);
        const paged = await client.getValueHistory(chatId, 1, 'myns', 'hp', { limit: 1 });
        assert.equal(paged.items.length, 1);
        const next = await client.getValueHistory(chatId, 1, 'myns', 'hp', { limit: 1, cursor: paged.nextCursor });
        assert.equal(next.items[0].value, 4);
        const slashed = await client.getValueHistory(chatId, 1, 'myns', 'a//b');
        assert.deepEqual(slashed.items.map((v) => v.value), ['double']);
        await rejectsWith(client.getValueHistory(chatId, 1, 'myns', 'absent'), 404);
    });

    test('getChatHistory lists what the deleted message carried', async () => {
        const history = await client.getChatHistory(chatId);
        assert.equal(history.messageCount, 2);
        assert.equal(history.lost.length, 1);
        assert.equal(history.lost[0].reason, 'message_deleted');
        assert.deepEqual(history.lost[0].positions, [2, 2]);
        assert.deepEqual(
            history.lost[0].values.map((v) => [v.swipe, v.key, v.value]),
            [[0, 'hp', 1], [0, 'mood', 'calm'], [1, 'hp', 2], [1, 'mood', 'angry']],
        );
    });

    test('listVersions, getVersionFile (byte for byte) and diffVersions', async () => {
        assert.deepEqual(versions.map((v) => v.messageCount), [2, 3, 3]); // newest first
        assert.equal(versions[0].removed, 1);
        const newest = await client.getVersionFile(chatId, versions[0].version);
        assert.equal(newest.fileName, 'adventure.jsonl');
        assert.deepEqual(Buffer.from(newest.bytes), await readFile(path));
        const oldest = await client.getVersionFile(chatId, versions[2].version);
        assert.equal(oldest.text, adventure().map((line) => JSON.stringify(line)).join('\n'));

        const diff = await client.diffVersions(chatId, versions[1].version);
        assert.equal(diff.against, versions[2].version);
        assert.deepEqual(diff.changes.map((c) => [c.kind, c.position]), [['changed', 1]]);
        const fromEmpty = await client.diffVersions(chatId, versions[2].version, { against: 0 });
        assert.equal(fromEmpty.changes.length, 3);
        assert.ok(client.versionFileUrl(chatId, 1).endsWith(`/api/plugins/valuetracker/chats/${chatId}/versions/1/file`));
        await rejectsWith(client.getVersionFile(chatId, 999), 404);
        const paged = await client.listVersions(chatId, { limit: 2 });
        assert.equal(paged.items.length, 2);
        assert.equal((await client.listVersions(chatId, { cursor: paged.nextCursor })).items.length, 1);
    });
});

describe('status and health', () => {
    test('status reports the daemon; health is ok', async () => {
        const status = await client.status();
        assert.equal(typeof status.version, 'string');
        assert.equal(status.watchMode, 'native');
        assert.ok('diskUsage' in status);
        assert.equal((await client.health()).status, 'ok');
    });
});
