// The client's change feed against real `sidecar run` processes: the fetch reader (with a
// token), the EventSource path (no token, the `eventsource` package injected), close(),
// resuming with Last-Event-ID, reset events, and a reconnect after the connection is cut.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { EventSource } from 'eventsource';

import { createClient } from '../client/sidecar-client.js';
import { hpChange, recorder, save } from './helpers/feed-recorder.mjs';
import { startRelay } from './helpers/client-relay.mjs';
import { startSidecar, waitFor } from './helpers/sidecar.mjs';

const TOKEN = 'client-events-token';

describe('fetch reader (token)', () => {
    let sidecar;
    let client;

    /** Save chat `name` and wait until it is indexed; returns its chatId. */
    async function chat(name, hp) {
        await save(sidecar.dataRoot, name, hp);
        let id = null;
        await waitFor(async () => (id = (await client.findChat(name))?.chatId ?? null), { what: `${name} indexed` });
        return id;
    }

    before(async () => {
        sidecar = await startSidecar({ token: TOKEN });
        client = createClient({ baseUrl: sidecar.url, token: TOKEN });
    });

    after(async () => {
        await sidecar?.stop();
    });

    test('EventSource cannot carry the token, so the client refuses it', () => {
        assert.throws(() => client.subscribe({}, () => {}, { transport: 'eventsource' }), TypeError);
        const withClass = createClient({ baseUrl: sidecar.url, token: TOKEN, EventSource });
        assert.throws(() => withClass.subscribe({}, () => {}, { transport: 'eventsource' }), /token/);
    });

    test('a change saved after subscribing arrives; close() stops delivery', async () => {
        const chatId = await chat('feed-a', 1);
        const first = recorder();
        const subscription = client.subscribe({ chatId }, first.onEvent, { onError: first.onError });
        await subscription.ready;
        await save(sidecar.dataRoot, 'feed-a', 2);
        const change = await first.until(hpChange(chatId), 'change event');
        assert.match(change.data.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.deepEqual(change.data, {
            eventId: change.id,
            chatId,
            position: 0,
            swipe: 0,
            namespace: 'myns',
            keys: ['hp'],
            kind: 'changed',
            at: change.data.at,
            messageCount: null,
            previousCount: null,
        });
        assert.equal(subscription.lastEventId, String(first.events.at(-1).id)); // `updated` may follow

        subscription.close();
        assert.equal(subscription.closed, true);
        const delivered = first.events.length;
        const second = recorder();
        const witness = client.subscribe({ chatId }, second.onEvent);
        await witness.ready;
        await save(sidecar.dataRoot, 'feed-a', 3);
        await second.until(hpChange(chatId), 'change event on the second subscription');
        witness.close();
        assert.equal(first.events.length, delivered);
        assert.deepEqual(first.errors, []);
    });

    test('filters: a namespace filter skips other namespaces, chatId other chats', async () => {
        const chatId = await chat('feed-b', 1);
        const other = await chat('feed-c', 1);
        const byNamespace = recorder();
        const byChat = recorder();
        const a = client.subscribe({ namespace: 'otherns' }, byNamespace.onEvent);
        const b = client.subscribe({ chatId }, byChat.onEvent);
        await Promise.all([a.ready, b.ready]);
        await save(sidecar.dataRoot, 'feed-c', 2);
        await save(sidecar.dataRoot, 'feed-b', 2);
        await byChat.until(hpChange(chatId), 'feed-b change');
        a.close();
        b.close();
        assert.ok(byChat.events.every((e) => e.data.chatId === chatId));
        assert.ok(byNamespace.events.every((e) => e.data.namespace !== 'myns'));
        assert.ok(!byChat.events.some((e) => e.data.chatId === other));
    });

    test('re-subscribing with lastEventId delivers what was missed, in order', async () => {
        const chatId = await chat('feed-d', 1);
        const live = recorder();
        const subscription = client.subscribe({ chatId }, live.onEvent);
        await subscription.ready;
        await save(sidecar.dataRoot, 'feed-d', 2);
        await live.until(hpChange(chatId), 'first change');
        subscription.close();
        const resumeAfter = subscription.lastEventId;

        await save(sidecar.dataRoot, 'feed-d', 3);
        await waitFor(async () => (await client.listMessages(chatId, { namespace: 'myns' })).items[0].data.hp === 3, {
            what: 'hp 3 indexed',
        });
        await save(sidecar.dataRoot, 'feed-d', 4);
        await waitFor(async () => (await client.listMessages(chatId, { namespace: 'myns' })).items[0].data.hp === 4, {
            what: 'hp 4 indexed',
        });

        const resumed = recorder();
        const again = client.subscribe({ chatId, lastEventId: resumeAfter }, resumed.onEvent);
        await waitFor(() => resumed.events.filter(hpChange(chatId)).length >= 2, { what: 'two missed changes' });
        again.close();
        const ids = resumed.events.map((e) => e.id);
        assert.ok(ids.every((id) => id > Number(resumeAfter)));
        assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
        assert.ok(resumed.events.every((e) => e.type === 'change'));
    });

    test('an id the server does not have gives a distinct reset event', async () => {
        const feed = recorder();
        const subscription = client.subscribe({ lastEventId: 999999 }, feed.onEvent);
        const reset = await feed.until((e) => e.type === 'reset', 'reset event');
        subscription.close();
        assert.equal(reset.data.lastEventId, reset.id);
        assert.equal(subscription.lastEventId, String(reset.id));
    });

    test('after the connection is cut, the reader reconnects with Last-Event-ID and misses nothing', async () => {
        const chatId = await chat('feed-e', 1);
        const relay = await startRelay(sidecar.url);
        try {
            const viaRelay = createClient({ baseUrl: relay.url, token: TOKEN });
            const feed = recorder();
            let opened = 0;
            const subscription = viaRelay.subscribe({ chatId }, feed.onEvent, {
                retryMs: 50,
                onError: feed.onError,
                onOpen: () => { opened += 1; },
            });
            await subscription.ready;
            await save(sidecar.dataRoot, 'feed-e', 2);
            const before = await feed.until(hpChange(chatId), 'change before the cut');

            relay.drop();
            const seenBeforeDrop = feed.events.map((e) => e.id);
            await save(sidecar.dataRoot, 'feed-e', 3); // while disconnected, or just after: either way delivered
            await waitFor(() => feed.events.filter(hpChange(chatId)).length >= 2, { what: 'change after the cut' });
            subscription.close();

            assert.ok(opened >= 2, `opened ${opened} times`);
            assert.ok(feed.errors.length >= 1);
            const heads = relay.heads.filter((h) => h.startsWith('GET /api/plugins/valuetracker/events'));
            assert.ok(heads.length >= 2);
            assert.match(heads[0], /^authorization: Bearer client-events-token$/im);
            assert.doesNotMatch(heads[0], /^last-event-id:/im);
            const resumedFrom = Number(/^last-event-id: (\d+)$/im.exec(heads[1])?.[1]);
            assert.ok(resumedFrom >= before.id && seenBeforeDrop.includes(resumedFrom), `resumed from ${resumedFrom}`);
            const changeIds = feed.events.filter(hpChange(chatId)).map((e) => e.id);
            assert.equal(new Set(changeIds).size, changeIds.length, 'no event delivered twice');
        } finally {
            await relay.close();
        }
    });

    test('a wrong token is fatal: the feed closes and ready rejects with 401', async () => {
        const wrong = createClient({ baseUrl: sidecar.url, token: 'wrong' });
        const feed = recorder();
        const subscription = wrong.subscribe({}, feed.onEvent, { onError: feed.onError });
        await assert.rejects(subscription.ready, (error) => error.status === 401);
        assert.equal(subscription.closed, true);
        assert.equal(feed.errors[0].status, 401);
    });
});

/**
 * EventSource as browsers have it: on an HTTP error it closes and fires a bare `error` event,
 * with no status (the `eventsource` package adds a `code` that browsers never set).
 */
class BrowserEventSource extends EventSource {
    dispatchEvent(event) {
        return super.dispatchEvent(event.type === 'error' ? new Event('error') : event);
    }
}

describe('EventSource (no token)', () => {
    let sidecar;
    let client;

    before(async () => {
        sidecar = await startSidecar();
        client = createClient({ baseUrl: sidecar.url, EventSource });
    });

    after(async () => {
        await sidecar?.stop();
    });

    test('a change saved after subscribing arrives; resume with lastEventId; close() stops it', async () => {
        await save(sidecar.dataRoot, 'es-a', 1);
        let chatId = null;
        await waitFor(async () => (chatId = (await client.findChat('es-a'))?.chatId ?? null), { what: 'es-a indexed' });

        let opened = 0;
        const first = recorder();
        const subscription = client.subscribe({ chatId }, first.onEvent, { onOpen: () => { opened += 1; } });
        await subscription.ready;
        assert.equal(opened, 1);
        await save(sidecar.dataRoot, 'es-a', 2);
        const change = await first.until(hpChange(chatId), 'change via EventSource');
        assert.equal(change.data.kind, 'changed');
        subscription.close();
        const delivered = first.events.length;

        await save(sidecar.dataRoot, 'es-a', 3);
        const resumed = recorder();
        const again = client.subscribe({ chatId, lastEventId: change.id }, resumed.onEvent);
        const missed = await resumed.until(hpChange(chatId), 'missed change via EventSource');
        again.close();
        assert.ok(missed.id > change.id);
        assert.equal(first.events.length, delivered);
    });

    test('transport "fetch" works without a token too', async () => {
        await save(sidecar.dataRoot, 'es-b', 1);
        let chatId = null;
        await waitFor(async () => (chatId = (await client.findChat('es-b'))?.chatId ?? null), { what: 'es-b indexed' });
        const feed = recorder();
        const subscription = client.subscribe({ chatId }, feed.onEvent, { transport: 'fetch' });
        await subscription.ready;
        await save(sidecar.dataRoot, 'es-b', 2);
        await feed.until(hpChange(chatId), 'change via fetch');
        subscription.close();
    });

    test('a 4xx ends the subscription even when the EventSource does not say which status', async () => {
        const browserLike = createClient({ baseUrl: sidecar.url, EventSource: BrowserEventSource });
        const feed = recorder();
        let opened = 0;
        const subscription = browserLike.subscribe({ chatId: 'not a valid id' }, feed.onEvent, {
            retryMs: 20,
            onError: feed.onError,
            onOpen: () => { opened += 1; },
        });
        await assert.rejects(subscription.ready, (error) => error.status === 400 && /Invalid chat ID/.test(error.message));
        assert.equal(subscription.closed, true);
        assert.equal(opened, 0);
        assert.equal(feed.errors.length, 1, 'reported once, not retried');
        assert.equal(feed.errors[0].status, 400);
    });

    test('when sidecar is away the EventSource transport retries, then resumes', async () => {
        const relay = await startRelay(sidecar.url);
        try {
            await save(sidecar.dataRoot, 'es-c', 1);
            let chatId = null;
            await waitFor(async () => (chatId = (await client.findChat('es-c'))?.chatId ?? null), { what: 'es-c indexed' });
            const viaRelay = createClient({ baseUrl: relay.url, EventSource: BrowserEventSource });
            const feed = recorder();
            let opened = 0;
            const subscription = viaRelay.subscribe({ chatId }, feed.onEvent, {
                retryMs: 20,
                onError: feed.onError,
                onOpen: () => { opened += 1; },
            });
            await subscription.ready;
            relay.drop();
            await save(sidecar.dataRoot, 'es-c', 2);
            await feed.until(hpChange(chatId), 'change after the drop');
            subscription.close();
            assert.equal(subscription.closed, true);
            assert.ok(opened >= 2, `opened ${opened} times`);
        } finally {
            await relay.close();
        }
    });
});
