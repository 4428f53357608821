// The proxy plugin in front of a real `sidecar run`: every value-tracker route, the user, the
// token, and the change feed streaming through it.
// Run: SIDECAR_CMD=/tmp/venv/bin/sidecar node --test tests/plugin-sidecar.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chatPath, header, message, stSave } from './helpers/chats.mjs';
import { plugin, readAnswer, sseReader, startPluginApp } from './helpers/plugin-app.mjs';
import { valueTrackerSteps } from './helpers/plugin-steps.mjs';
import { PREFIX, startSidecar, waitFor } from './helpers/sidecar.mjs';
import { BROWSER, TOKEN, auth, chatsSeen, comparable, envFor, send } from './helpers/plugin-requests.mjs';

describe('in front of a real sidecar', () => {
    let direct; // compared against: requests go to it directly, with the token
    let behind; // the sidecar behind the plugin
    let app; // SillyTavern without a JSON body parser before the plugin
    let parsedApp; // SillyTavern with express.json() before the plugin

    before(async () => {
        [direct, behind] = await Promise.all([startSidecar({ token: TOKEN }), startSidecar({ token: TOKEN })]);
        app = await startPluginApp({ env: envFor(behind) });
        parsedApp = await startPluginApp({ env: envFor(behind), parseJson: true });
    });
    after(async () => {
        await Promise.all([app?.close(), parsedApp?.close()]);
        await Promise.all([direct?.stop(), behind?.stop()]);
    });

    for (const [mode, tag] of [['streamed raw', 'raw'], ['already parsed by express.json()', 'parsed']]) {
        test(`every value-tracker route answers as sidecar does (body ${mode})`, async (t) => {
            const via = tag === 'raw' ? app : parsedApp;
            let compared = 0;
            const started = Date.now();
            for (const step of valueTrackerSteps(tag)) {
                if (tag === 'parsed' && step[3].rawOnly) continue;
                const expected = await send(direct.url, step, { viaPlugin: false });
                const got = await send(via.url, step, { viaPlugin: true });
                assert.equal(expected.status, step[3].expect, `${step[0]}: sidecar itself answered ${expected.text}`);
                assert.deepEqual(comparable(got), comparable(expected), step[0]);
                compared += 1;
            }
            t.diagnostic(`${compared} steps compared in ${Date.now() - started} ms`);
        });
    }

    test('x-sillytavern-user comes from the logged-in user, never from the browser', async () => {
        await stSave(chatPath(behind.dataRoot, { user: 'alice', chat: 'alice-1' }), [header(), message('from alice')]);
        await stSave(chatPath(behind.dataRoot, { user: 'bob', chat: 'bob-1' }), [header(), message('from bob')]);
        await waitFor(async () => {
            const users = new Set((await chatsSeen(behind)).map((chat) => chat.user));
            return users.has('alice') && users.has('bob');
        }, { what: 'both chats indexed' });

        const usersVia = async (headers) => {
            const answer = await readAnswer(await fetch(`${app.url}${PREFIX}/chats`, { headers: { ...BROWSER, ...headers } }));
            assert.equal(answer.status, 200, answer.text);
            return [...new Set(answer.json.items.map((chat) => chat.user))].sort();
        };
        app.setUser('alice');
        assert.deepEqual(await usersVia({}), ['alice']);
        assert.deepEqual(await usersVia({ 'x-sillytavern-user': 'bob' }), ['alice']);
        app.setUser('bob');
        assert.deepEqual(await usersVia({ 'x-sillytavern-user': 'alice' }), ['bob']);
        // No logged-in user: no header at all, whatever the browser sent.
        app.setUser(null);
        assert.deepEqual(await usersVia({ 'x-sillytavern-user': 'bob' }), ['alice', 'bob']);
        app.setUser('alice');
    });

    test('the change feed streams through as changes happen, and Last-Event-ID resumes', async (t) => {
        app.setUser('alice');
        const response = await fetch(`${app.url}${PREFIX}/events`, { headers: { ...BROWSER, accept: 'text/event-stream' } });
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type'), /^text\/event-stream/);
        assert.equal(response.headers.get('cache-control'), 'no-cache, no-transform');
        const feed = sseReader(response);
        try {
            // bob's save comes first; alice's feed must not show it.
            await stSave(chatPath(behind.dataRoot, { user: 'bob', chat: 'bob-2' }), [header(), message('bob again')]);
            const saved = Date.now();
            await stSave(chatPath(behind.dataRoot, { user: 'alice', chat: 'alice-2' }), [header(), message('alice again')]);
            const first = await feed.next((m) => m.event === 'change', 10000);
            t.diagnostic(`change event through the plugin ${Date.now() - saved} ms after the save`);
            assert.equal(feed.ended, false);
            const chat = await readAnswer(await fetch(`${behind.url}${PREFIX}/chats/${first.data.chatId}`, { headers: auth }));
            assert.equal(chat.json.user, 'alice');
            assert.equal(first.data.eventId, first.id);

            const resumed = sseReader(await fetch(`${app.url}${PREFIX}/events`, {
                headers: { ...BROWSER, 'last-event-id': String(first.id - 1) },
            }));
            try {
                const again = await resumed.next((m) => m.event === 'change', 5000);
                assert.deepEqual(again, first);
            } finally {
                await resumed.cancel();
            }
        } finally {
            await feed.cancel();
        }
        // The browser went away: the plugin dropped both requests to sidecar.
        await waitFor(() => plugin.openRequests() === 0, { timeoutMs: 2000, what: 'upstream requests closed' });
        const badResume = await readAnswer(await fetch(`${app.url}${PREFIX}/events`, { headers: { 'last-event-id': 'soon' } }));
        assert.equal(badResume.status, 400);
        assert.match(badResume.json.error, /Last-Event-ID/);
    });

    test('behind SillyTavern\'s response compression, events still stream as they happen', async () => {
        const compressed = await startPluginApp({ env: envFor(behind), compress: true });
        try {
            const listed = await fetch(`${compressed.url}${PREFIX}/chats`, { headers: { 'accept-encoding': 'gzip' } });
            assert.equal(listed.status, 200);
            assert.ok(Array.isArray((await listed.json()).items), 'a compressed JSON answer still reads');
            const response = await fetch(`${compressed.url}${PREFIX}/events`, { headers: { 'accept-encoding': 'gzip' } });
            assert.equal(response.headers.get('content-encoding'), null, 'the feed is not compressed');
            const feed = sseReader(response);
            try {
                await stSave(chatPath(behind.dataRoot, { user: 'alice', chat: 'alice-gzip' }), [header(), message('zip')]);
                const event = await feed.next((m) => m.event === 'change' && m.data.kind === 'new', 10000);
                assert.equal(typeof event.data.chatId, 'string');
            } finally {
                await feed.cancel();
            }
        } finally {
            await compressed.close();
        }
    });

    test('the plugin adds the token; the browser cannot supply one', async () => {
        const direct401 = await readAnswer(await fetch(`${behind.url}${PREFIX}/extensions`));
        assert.equal(direct401.status, 401);
        const wrong = await readAnswer(await fetch(`${app.url}${PREFIX}/extensions`, { headers: { authorization: 'Bearer wrong' } }));
        assert.equal(wrong.status, 200, wrong.text);
        const tokenless = await startPluginApp({ env: { ST_SIDECAR_URL: behind.url } });
        try {
            const refused = await readAnswer(await fetch(`${tokenless.url}${PREFIX}/extensions`, { headers: auth }));
            assert.equal(refused.status, 401);
            assert.match(refused.json.error, /bearer token/);
        } finally {
            await tokenless.close();
        }
    });

    test('the event stream has no response timeout, and exit() ends it', async () => {
        const front = await startPluginApp({ env: { ...envFor(behind), ST_SIDECAR_RESPONSE_TIMEOUT_MS: '300' } });
        try {
            const response = await fetch(`${front.url}${PREFIX}/events`);
            assert.equal(response.status, 200);
            const feed = sseReader(response);
            const opened = Date.now();
            await feed.next((m) => m.comment, 5000); // heartbeats come every second
            await feed.next((m) => m.comment, 5000);
            assert.ok(Date.now() - opened > 300 && !feed.ended, 'the stream outlived the response timeout');
            const started = Date.now();
            await plugin.exit();
            assert.equal(await feed.waitEnd(2000), true, 'the stream did not end after exit()');
            assert.equal(feed.failure, null, 'the stream broke off instead of ending');
            assert.ok(Date.now() - started < 2000);
            assert.equal(plugin.openRequests(), 0);
            // The plugin still forwards new requests (SillyTavern stops serving on its own).
            assert.equal((await fetch(`${front.url}${PREFIX}/probe`)).status, 204);
        } finally {
            await front.close();
        }
    });

    test('sidecar stopped: an open stream ends, then 502 with the error, fast', async (t) => {
        const front = await startPluginApp({ env: envFor(direct) });
        try {
            assert.equal((await fetch(`${front.url}${PREFIX}/probe`)).status, 204);
            const feed = sseReader(await fetch(`${front.url}${PREFIX}/events`));
            await feed.next((m) => m.comment, 5000);
            await direct.stop();
            assert.equal(await feed.waitEnd(5000), true, 'the stream did not end when sidecar stopped');
            assert.equal(feed.failure, null, 'the stream broke off instead of ending');
            const started = Date.now();
            const answer = await readAnswer(await fetch(`${front.url}${PREFIX}/characters`, { headers: { 'x-extension-id': 'x' } }));
            const elapsed = Date.now() - started;
            t.diagnostic(`502 after ${elapsed} ms`);
            assert.equal(answer.status, 502);
            assert.deepEqual(answer.json, { error: `sidecar is not reachable at ${direct.url}` });
            assert.ok(elapsed < 2000, `took ${elapsed} ms`);
            assert.ok(front.logger.lines.some((line) => line.startsWith('warn: [sidecar-proxy]') && line.includes('ECONNREFUSED')));
        } finally {
            await front.close();
        }
    });
});
