// What the proxy plugin sends upstream (only allowed headers, the user and the token), and its
// answers when sidecar is unreachable, hangs or refuses.
// Run: SIDECAR_CMD=/tmp/venv/bin/sidecar node --test tests/plugin-upstream.test.mjs
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { hangingPort, plugin, readAnswer, startPluginApp } from './helpers/plugin-app.mjs';
import { BROWSER } from './helpers/plugin-requests.mjs';
import { PREFIX, freePort } from './helpers/sidecar.mjs';

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
