// The SillyTavern proxy plugin, loaded as SillyTavern loads it, in front of real `sidecar run`
// processes. Run: SIDECAR_CMD=/tmp/venv/bin/sidecar node --test tests/plugin.test.mjs
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chatPath, header, message, stSave } from './helpers/chats.mjs';
import {
    captureLogger, emptyFolder, hangingPort, plugin, readAnswer, sseReader, startPluginApp,
} from './helpers/plugin-app.mjs';
import { valueTrackerSteps, withoutTimestamps } from './helpers/plugin-steps.mjs';
import { PREFIX, freePort, startSidecar, waitFor } from './helpers/sidecar.mjs';

const TOKEN = 'plugin-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
/** What a browser adds on SillyTavern's origin; none of it may reach sidecar. */
const BROWSER = { cookie: 'session-st=abc', 'x-csrf-token': 'csrf-from-page' };

// A short response timeout turns a request the plugin mishandles into a quick 504, not a hang.
const envFor = (sidecar) => ({ ST_SIDECAR_URL: sidecar.url, ST_SIDECAR_TOKEN: sidecar.token, ST_SIDECAR_RESPONSE_TIMEOUT_MS: '15000' });

/** One scripted step sent to `base` (directly with the token, or through the plugin like a browser). */
async function send(base, [, method, path, options], { viaPlugin }) {
    const headers = viaPlugin ? { ...BROWSER } : { ...auth };
    if (options.ext) headers['x-extension-id'] = options.ext;
    let body;
    if (options.json !== undefined) body = JSON.stringify(options.json);
    if (options.raw !== undefined) body = options.raw;
    if (body !== undefined || method === 'PUT') headers['content-type'] = 'application/json';
    return readAnswer(await fetch(`${base}${PREFIX}${path}`, { method, headers, body }));
}

const comparable = (answer) => ({
    status: answer.status,
    contentType: answer.contentType,
    body: answer.json === undefined ? answer.text : withoutTimestamps(answer.json),
});

async function chatsSeen(sidecar, headers = {}) {
    const answer = await readAnswer(await fetch(`${sidecar.url}${PREFIX}/chats`, { headers: { ...auth, ...headers } }));
    assert.equal(answer.status, 200, answer.text);
    return answer.json.items;
}

describe('configuration', () => {
    test('SillyTavern sees a plugin with id valuetracker, init and exit', () => {
        assert.equal(plugin.info.id, 'valuetracker');
        assert.equal(typeof plugin.info.name, 'string');
        assert.equal(typeof plugin.info.description, 'string');
        assert.equal(typeof plugin.init, 'function');
        assert.equal(typeof plugin.exit, 'function');
    });

    test('environment beats config.json beats defaults', async () => {
        const none = await emptyFolder();
        assert.deepEqual(plugin.resolveConfig({}, none), {
            config: { url: 'http://127.0.0.1:8711', token: null, connectTimeoutMs: 1500, responseTimeoutMs: 30000 },
            sources: { url: 'default', token: 'default', connectTimeoutMs: 'default', responseTimeoutMs: 'default' },
            errors: [],
        });
        const folder = await emptyFolder();
        await writeFile(join(folder, 'config.json'), JSON.stringify({
            url: 'http://127.0.0.1:9999/', token: 'file-token', connectTimeoutMs: 700,
        }));
        const fromFile = plugin.resolveConfig({}, folder);
        assert.deepEqual(fromFile.config, {
            url: 'http://127.0.0.1:9999', token: 'file-token', connectTimeoutMs: 700, responseTimeoutMs: 30000,
        });
        assert.deepEqual(fromFile.errors, []);
        const env = { ST_SIDECAR_URL: 'https://localhost:1234', ST_SIDECAR_TOKEN: 'env-token' };
        const both = plugin.resolveConfig(env, folder);
        assert.deepEqual(both.config, {
            url: 'https://localhost:1234', token: 'env-token', connectTimeoutMs: 700, responseTimeoutMs: 30000,
        });
        assert.deepEqual(both.sources, { url: 'env', token: 'env', connectTimeoutMs: 'file', responseTimeoutMs: 'default' });
        // An empty variable counts as unset.
        assert.equal(plugin.resolveConfig({ ST_SIDECAR_TOKEN: '' }, folder).config.token, 'file-token');
    });

    test('a malformed config.json is reported and the defaults apply (the environment still wins)', async () => {
        const folder = await emptyFolder();
        await writeFile(join(folder, 'config.json'), '{"url": "http://127.0.0.1:9999", ');
        const { config, errors } = plugin.resolveConfig({ ST_SIDECAR_TOKEN: 'env-token' }, folder);
        assert.deepEqual(config, { url: 'http://127.0.0.1:8711', token: 'env-token', connectTimeoutMs: 1500, responseTimeoutMs: 30000 });
        assert.equal(errors.length, 1);
        assert.match(errors[0], /config\.json is not valid JSON .*using the defaults instead/);

        await writeFile(join(folder, 'config.json'), '["not", "an", "object"]');
        assert.match(plugin.resolveConfig({}, folder).errors[0], /must hold a JSON object/);

        await writeFile(join(folder, 'config.json'), JSON.stringify({ url: 'ftp://x', connectTimeoutMs: -1, colour: 'red' }));
        const invalid = plugin.resolveConfig({ ST_SIDECAR_RESPONSE_TIMEOUT_MS: 'soon' }, folder);
        assert.deepEqual(invalid.config, plugin.resolveConfig({}, await emptyFolder()).config);
        assert.deepEqual(invalid.errors.map((error) => error.split(' ').slice(0, 2).join(' ')), [
            'config.json: unknown', 'config.json "url"', 'config.json "connectTimeoutMs"', 'ST_SIDECAR_RESPONSE_TIMEOUT_MS must',
        ]);
    });

    test('init logs where it forwards to and whether a token is set, never the token, and config errors', async () => {
        const folder = await emptyFolder();
        await writeFile(join(folder, 'config.json'), 'not json');
        const logger = captureLogger();
        const router = { use() {} };
        await plugin.init(router, { env: { ST_SIDECAR_TOKEN: 'secret-token-value' }, folder, logger });
        assert.equal(logger.lines.length, 2);
        assert.match(logger.lines[0], /^error: \[sidecar-proxy\] configuration: .*config\.json is not valid JSON/);
        assert.match(logger.lines[1], /^log: \[sidecar-proxy\] forwarding \/api\/plugins\/valuetracker\/\* to http:\/\/127\.0\.0\.1:8711.*token set, from env/);
        assert.ok(!logger.lines.join('\n').includes('secret-token-value'));
    });
});

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

describe('what reaches the upstream server', () => {
    // A real HTTP server standing where sidecar would be, recording each request it gets; the
    // only way to see headers sidecar itself ignores (cookies, CSRF token) or never answering.
    let upstream;
    let upstreamUrl;
    const seen = [];
    const held = [];

    before(async () => {
        upstream = createServer((request, response) => {
            const chunks = [];
            request.on('data', (chunk) => chunks.push(chunk));
            request.on('end', () => {
                seen.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString() });
                if (request.url.includes('/never')) {
                    held.push(response);
                    return;
                }
                response.writeHead(201, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-kept': 'yes' });
                response.end('{"ok":true}');
            });
        });
        await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
        upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
    });
    after(async () => {
        for (const response of held) response.destroy();
        upstream.closeAllConnections();
        await new Promise((resolve) => upstream.close(resolve));
    });

    for (const parseJson of [false, true]) {
        test(`only the allowed headers, the user and the token go on (JSON parser before the plugin: ${parseJson})`, async () => {
            const front = await startPluginApp({ env: { ST_SIDECAR_URL: upstreamUrl, ST_SIDECAR_TOKEN: 'up-token' }, parseJson });
            try {
                const body = JSON.stringify({ key: 'k/ü', value: [1, '2', null] });
                const response = await fetch(`${front.url}${PREFIX}/instances/i%2F1/data?deep=true&x=%20`, {
                    method: 'POST',
                    body,
                    headers: {
                        ...BROWSER,
                        authorization: 'Bearer from-browser',
                        'x-sillytavern-user': 'mallory',
                        'x-extension-id': 'ext',
                        'last-event-id': '7',
                        accept: 'application/json',
                        'content-type': 'application/json',
                        'x-other': 'dropped',
                    },
                });
                assert.equal(response.status, 201);
                assert.equal(response.headers.get('x-kept'), 'yes');
                assert.equal(response.headers.get('x-hop'), null);
                assert.deepEqual(await response.json(), { ok: true });
                const got = seen.at(-1);
                assert.equal(got.url, `${PREFIX}/instances/i%2F1/data?deep=true&x=%20`);
                assert.equal(got.body, body);
                const { host, connection, ...headers } = got.headers;
                assert.deepEqual(headers, {
                    accept: 'application/json',
                    authorization: 'Bearer up-token',
                    'content-length': String(Buffer.byteLength(body)),
                    'content-type': 'application/json',
                    'last-event-id': '7',
                    'x-extension-id': 'ext',
                    'x-sillytavern-user': 'alice',
                });
                front.setUser(null);
                await (await fetch(`${front.url}${PREFIX}/probe`, { headers: { 'x-sillytavern-user': 'mallory' } })).text();
                assert.equal(seen.at(-1).headers['x-sillytavern-user'], undefined);
            } finally {
                await front.close();
            }
        });
    }

    test('a request Node cannot forward is 400, and nothing reaches upstream', async () => {
        const front = await startPluginApp({ env: { ST_SIDECAR_URL: upstreamUrl }, user: 'caf\u00e9\u2615' });
        try {
            const count = seen.length;
            const answer = await readAnswer(await fetch(`${front.url}${PREFIX}/probe`));
            assert.equal(answer.status, 400);
            assert.match(answer.json.error, /^cannot forward this request: /);
            assert.equal(seen.length, count);
        } finally {
            await front.close();
        }
    });

    test('an answer that never comes is 504 after the response timeout', async (t) => {
        const front = await startPluginApp({ env: { ST_SIDECAR_URL: upstreamUrl, ST_SIDECAR_RESPONSE_TIMEOUT_MS: '300' } });
        try {
            const started = Date.now();
            const answer = await readAnswer(await fetch(`${front.url}${PREFIX}/never`));
            const elapsed = Date.now() - started;
            t.diagnostic(`504 after ${elapsed} ms`);
            assert.equal(answer.status, 504);
            assert.deepEqual(answer.json, { error: 'sidecar did not answer within 300 ms' });
            assert.ok(elapsed >= 290 && elapsed < 2000, `took ${elapsed} ms`);
        } finally {
            await front.close();
        }
    });
});

describe('unreachable sidecar', () => {
    test('connection refused is 502 at once', async (t) => {
        const url = `http://127.0.0.1:${await freePort()}`;
        const front = await startPluginApp({ env: { ST_SIDECAR_URL: url } });
        try {
            const started = Date.now();
            const answer = await readAnswer(await fetch(`${front.url}${PREFIX}/probe`));
            t.diagnostic(`502 after ${Date.now() - started} ms`);
            assert.equal(answer.status, 502);
            assert.deepEqual(answer.json, { error: `sidecar is not reachable at ${url}` });
            assert.ok(Date.now() - started < 1000);
        } finally {
            await front.close();
        }
    });

    test('a connect that hangs is 502 after the connect timeout', async (t) => {
        const hanging = await hangingPort();
        if (hanging === null) {
            t.skip('no python3 to hold a listening socket that never accepts');
            return;
        }
        const url = `http://127.0.0.1:${hanging.port}`;
        const front = await startPluginApp({ env: { ST_SIDECAR_URL: url, ST_SIDECAR_CONNECT_TIMEOUT_MS: '400' } });
        try {
            const started = Date.now();
            const answer = await readAnswer(await fetch(`${front.url}${PREFIX}/events`));
            const elapsed = Date.now() - started;
            t.diagnostic(`502 after ${elapsed} ms (connect timeout 400 ms)`);
            assert.equal(answer.status, 502);
            assert.deepEqual(answer.json, { error: `sidecar is not reachable at ${url}` });
            assert.ok(elapsed >= 390 && elapsed < 1500, `took ${elapsed} ms`);
            assert.ok(front.logger.lines.some((line) => line.includes('connect timeout')));
        } finally {
            await front.close();
            hanging.stop();
        }
    });
});
