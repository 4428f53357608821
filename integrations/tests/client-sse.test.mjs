// The client's SSE machinery without sidecar: the line parser on input split at awkward
// places, and the fetch reader's reconnect rules against a small scripted HTTP server.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';

import { createClient, createSseParser } from '../client/sidecar-client.js';
import { waitFor } from './helpers/sidecar.mjs';

/** Parse `chunks` (strings or byte arrays) and return the messages, comments and retries. */
function parse(chunks, options = {}) {
    const messages = [];
    const comments = [];
    const retries = [];
    const parser = createSseParser((m) => messages.push(m), {
        ...options,
        onComment: (c) => comments.push(c),
        onRetry: (ms) => retries.push(ms),
    });
    for (const chunk of chunks) parser.push(chunk);
    parser.end();
    return { messages, comments, retries, lastEventId: parser.lastEventId };
}

const STREAM = [
    '\uFEFF: heartbeat\n\n',
    'id: 1\nevent: change\ndata: {"text":"Grüße 世界 🌍"}\n\n',
    'retry: 2500\r\n',
    'id: 2\r\nevent: reset\r\ndata: {"lastEventId":2}\r\n\r\n',
    'id: 3\revent: change\rdata: first line\rdata:second line\rdata\r\r',
    ':comment without a space\n',
    'id\n\n', // an empty id resets the last event id; no data, so nothing is dispatched
    'id: 4\nevent: change\nunknown: field\ndata: x\n\n',
    'id: 5\0bad\ndata: keeps id 4\n\n',
    'data: no event name\n\n',
    'id: 6\n\n', // no data: not dispatched, but the id counts
    'id: 7\nevent: change\ndata: never finished',
].join('');

const EXPECTED = [
    { event: 'change', data: '{"text":"Grüße 世界 🌍"}', id: '1' },
    { event: 'reset', data: '{"lastEventId":2}', id: '2' },
    { event: 'change', data: 'first line\nsecond line\n', id: '3' },
    { event: 'change', data: 'x', id: '4' },
    { event: 'message', data: 'keeps id 4', id: '4' },
    { event: 'message', data: 'no event name', id: '4' },
];

describe('createSseParser', () => {
    test('parses every field rule of the standard', () => {
        const result = parse([STREAM]);
        assert.deepEqual(result.messages, EXPECTED);
        assert.deepEqual(result.comments, ['heartbeat', 'comment without a space']);
        assert.deepEqual(result.retries, [2500]);
        assert.equal(result.lastEventId, '6'); // 7's message never ended: resuming must not skip it
    });

    test('gives the same result for a string split at every position', () => {
        for (let i = 0; i <= STREAM.length; i += 1) {
            const result = parse([STREAM.slice(0, i), STREAM.slice(i)]);
            assert.deepEqual(result.messages, EXPECTED, `split at ${i}`);
        }
    });

    test('gives the same result for bytes fed one at a time (UTF-8 and CRLF split)', () => {
        const bytes = new TextEncoder().encode(STREAM);
        const result = parse(Array.from(bytes, (byte) => Uint8Array.of(byte)));
        assert.deepEqual(result.messages, EXPECTED);
        assert.deepEqual(result.comments, ['heartbeat', 'comment without a space']);
    });

    test('gives the same result for bytes split in three at many places', () => {
        const bytes = new TextEncoder().encode(STREAM);
        for (let i = 1; i < bytes.length; i += 7) {
            const j = Math.min(bytes.length, i + 13);
            const result = parse([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
            assert.deepEqual(result.messages, EXPECTED, `split at ${i} and ${j}`);
        }
    });

    test('a CR at the end of one chunk and LF at the start of the next is one line end', () => {
        const result = parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
        assert.deepEqual(result.messages, [{ event: 'message', data: 'a\nb', id: '' }]);
    });

    test('starts from a given last event id', () => {
        const result = parse(['data: x\n\n'], { lastEventId: '41' });
        assert.deepEqual(result.messages, [{ event: 'message', data: 'x', id: '41' }]);
    });
});

/** A scripted event-stream server: `script[n]` handles the n-th request (0-based). */
async function scriptedServer(script) {
    const requests = [];
    const responses = new Set();
    const server = createServer((request, response) => {
        const n = requests.length;
        requests.push({ url: request.url, headers: request.headers });
        responses.add(response);
        response.on('close', () => responses.delete(response));
        (script[n] ?? script[script.length - 1])(response);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${server.address().port}`,
        requests,
        close: () => {
            for (const response of responses) response.destroy();
            return new Promise((resolve) => server.close(resolve));
        },
    };
}

const streamHead = (response) => response.writeHead(200, { 'content-type': 'text/event-stream' });

describe('fetch reader reconnects', () => {
    test('a 503, a wrong content type and a silent stream are retried; Last-Event-ID is sent', async () => {
        const server = await scriptedServer([
            (response) => { streamHead(response); response.write('id: 7\nevent: change\ndata: {"n":1}\n\n'); response.end(); },
            (response) => { response.writeHead(503, { 'content-type': 'application/json' }); response.end('{"error":"busy"}'); },
            (response) => { response.writeHead(200, { 'content-type': 'text/html' }); response.end('<html>'); },
            (response) => { streamHead(response); response.write(': heartbeat\n\n'); }, // then silence
            (response) => { streamHead(response); response.write('id: 8\nevent: change\ndata: {"n":2}\n\n'); },
        ]);
        try {
            const client = createClient({ baseUrl: server.url, token: 'secret' });
            const events = [];
            const errors = [];
            const subscription = client.subscribe({ namespace: 'a b', chatId: 'c1' }, (e) => events.push(e), {
                retryMs: 20,
                staleMs: 300,
                onError: (e) => errors.push(e),
            });
            await waitFor(() => events.length === 2, { what: 'two events', timeoutMs: 10000 });
            subscription.close();
            assert.deepEqual(events, [
                { type: 'change', id: 7, data: { n: 1 } },
                { type: 'change', id: 8, data: { n: 2 } },
            ]);
            assert.equal(server.requests.length, 5);
            assert.equal(server.requests[0].url, '/api/plugins/valuetracker/events?chatId=c1&namespace=a+b');
            assert.equal(server.requests[0].headers['last-event-id'], undefined);
            assert.equal(server.requests[0].headers.authorization, 'Bearer secret');
            assert.equal(server.requests[0].headers.accept, 'text/event-stream');
            for (const request of server.requests.slice(1)) assert.equal(request.headers['last-event-id'], '7');
            assert.deepEqual(errors.map((e) => e.status), [0, 503, 200, 0]);
            assert.match(errors[0].message, /change feed ended/);
            assert.match(errors[2].message, /Expected text\/event-stream, got text\/html/);
            assert.match(errors[3].message, /silent for 300 ms/);
        } finally {
            await server.close();
        }
    });

    test('a 404 is fatal: the feed closes, ready rejects, no retry', async () => {
        const server = await scriptedServer([
            (response) => { response.writeHead(404, { 'content-type': 'application/json' }); response.end('{"error":"Not found"}'); },
        ]);
        try {
            const errors = [];
            const subscription = createClient({ baseUrl: server.url }).subscribe({}, () => {}, {
                transport: 'fetch',
                retryMs: 10,
                onError: (e) => errors.push(e),
            });
            await assert.rejects(subscription.ready, (error) => error.status === 404 && error.error === 'Not found');
            assert.equal(subscription.closed, true);
            assert.equal(server.requests.length, 1);
            assert.equal(errors.length, 1);
        } finally {
            await server.close();
        }
    });

    test('an exception in onEvent goes to onError and the feed goes on', async () => {
        const server = await scriptedServer([
            (response) => {
                streamHead(response);
                response.write('id: 1\nevent: change\ndata: {"n":1}\n\nid: 2\nevent: change\ndata: {"n":2}\n\n');
            },
        ]);
        try {
            const seen = [];
            const errors = [];
            const subscription = createClient({ baseUrl: server.url }).subscribe(
                (event) => {
                    seen.push(event.id);
                    if (event.id === 1) throw new Error('handler bug');
                },
                { transport: 'fetch', onError: (e) => errors.push(e) },
            );
            await waitFor(() => seen.length === 2, { what: 'both events' });
            subscription.close();
            assert.equal(errors[0].message, 'handler bug');
        } finally {
            await server.close();
        }
    });
});
