// The browser client against a real `sidecar run` (with a token): every value-tracker method,
// errors, key encoding, and network failures.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { createClient, SidecarClient, SidecarError, SidecarNetworkError } from '../client/sidecar-client.js';
import { rejectsWith } from './helpers/client-assert.mjs';
import { freePort, PREFIX, startSidecar } from './helpers/sidecar.mjs';

const TOKEN = 'client-test-token';
let sidecar;
/** @type {SidecarClient} */
let client;

before(async () => {
    sidecar = await startSidecar({ token: TOKEN });
    client = createClient({ baseUrl: sidecar.url, token: TOKEN, extensionId: 'client-ext' });
    await client.register();
});

after(async () => {
    await sidecar?.stop();
});

const EVERY_TYPE = {
    string10: '10',
    stringTrue: 'true',
    stringNull: 'null',
    empty: '',
    int: 10,
    float: 2.5,
    negative: -3,
    bool: true,
    falsy: false,
    nothing: null,
    list: [1, '1', null, [true], { a: 'b' }],
    object: { nested: { deep: ['x', { y: 0 }] }, text: '0' },
    unicode: 'Grüße, 世界 🌍',
};

describe('construction', () => {
    test('the base URL gets the API prefix once, with or without it', () => {
        assert.equal(new SidecarClient({ baseUrl: 'http://127.0.0.1:8711' }).baseUrl, `http://127.0.0.1:8711${PREFIX}`);
        assert.equal(new SidecarClient({ baseUrl: `http://127.0.0.1:8711${PREFIX}/` }).baseUrl, `http://127.0.0.1:8711${PREFIX}`);
        assert.equal(new SidecarClient({}).baseUrl, PREFIX);
    });

    test('headers may be a function (like getRequestHeaders), merged case-insensitively', async () => {
        let calls = 0;
        const viaHeaders = createClient({
            baseUrl: `${sidecar.url}${PREFIX}`,
            extensionId: 'client-ext',
            headers: () => {
                calls += 1;
                return { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, 'X-Unused': undefined };
            },
        });
        assert.deepEqual(await viaHeaders.ping('hi'), { message: 'Pong! hi' });
        assert.ok(Array.isArray(await viaHeaders.listCharacters()));
        assert.equal(calls, 2);
    });

    test('without the token every route but /probe is 401', async () => {
        const anonymous = createClient({ baseUrl: sidecar.url, extensionId: 'client-ext' });
        assert.equal(await anonymous.probe(), true);
        await rejectsWith(anonymous.listCharacters(), 401);
    });
});

describe('registration and small routes', () => {
    test('probe, ping, register, listExtensions, deregister', async () => {
        assert.equal(await client.probe(), true);
        assert.deepEqual(await client.ping('hello'), { message: 'Pong! hello' });
        const other = createClient({ baseUrl: sidecar.url, token: TOKEN, extensionId: 'client-reg' });
        assert.deepEqual(await other.register(), { success: true, message: 'Extension client-reg registered successfully' });
        assert.deepEqual(await other.register(), { success: true, message: 'Extension client-reg registered successfully' });
        await other.saveCharacter('c1');
        const listed = (await client.listExtensions()).find((e) => e.extensionId === 'client-reg');
        assert.equal(listed.registered, true);
        assert.equal(listed.characters, 1);
        assert.deepEqual(await other.deregister(), {
            success: true,
            message: 'Extension client-reg deregistered successfully',
        });
        await rejectsWith(other.deregister(), 404);
        await rejectsWith(other.listCharacters(), 404, 'Database not found for extension: client-reg');
        await other.register({ dbPath: 'client-reg.db' });
        assert.deepEqual((await other.listCharacters()).map((c) => c.id), ['c1']); // data kept
        await rejectsWith(other.register({ extensionId: 'bad id!' }), 400, 'Invalid extension ID');
        await rejectsWith(other.register({ extensionId: 'x', dbPath: '../escape.db' }), 400);
    });

    test('a client without an extension id is told so by the server', async () => {
        const unbound = createClient({ baseUrl: sidecar.url, token: TOKEN });
        await rejectsWith(unbound.listCharacters(), 400, 'Extension ID is required in header: x-extension-id');
    });
});

describe('characters and instances', () => {
    test('save, list, get, rename, delete', async () => {
        const created = await client.saveCharacter('seraphina', 'Seraphina');
        assert.equal(created.id, 'seraphina');
        assert.equal(created.name, 'Seraphina');
        assert.match(created.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.equal((await client.saveCharacter('seraphina')).name, 'Seraphina'); // omitted name kept
        assert.equal((await client.saveCharacter('seraphina', 'Sera')).name, 'Sera');
        assert.equal((await client.saveCharacter('seraphina', null)).name, null);
        await client.saveCharacter('aqua', 'Aqua');
        const ids = (await client.listCharacters()).map((c) => c.id);
        assert.ok(ids.indexOf('seraphina') < ids.indexOf('aqua'));

        const instance = await client.saveInstance('chat-1', 'seraphina', 'first');
        assert.deepEqual([instance.id, instance.characterId, instance.name], ['chat-1', 'seraphina', 'first']);
        await client.saveInstance('chat-2', 'seraphina');
        assert.deepEqual((await client.listInstances('seraphina')).map((i) => i.id), ['chat-1', 'chat-2']);
        assert.deepEqual(await client.listInstances('aqua'), []);
        await client.setInstanceValue('chat-1', 'hp', 10);

        const full = await client.getCharacter('seraphina');
        assert.equal(full.character.id, 'seraphina');
        assert.deepEqual(full.instances.map((i) => [i.instance.id, i.data]), [['chat-1', { hp: 10 }], ['chat-2', {}]]);
        assert.deepEqual((await client.getInstance('chat-1')).data, { hp: 10 });

        await rejectsWith(client.saveInstance('chat-1', 'aqua'), 409);
        await rejectsWith(client.saveInstance('chat-9', 'nobody'), 404, 'Character not found');
        await rejectsWith(client.getCharacter('nobody'), 404, 'Character not found');
        await rejectsWith(client.getInstance('nobody'), 404, 'Instance not found');
        await rejectsWith(client.saveCharacter('no spaces'), 400, 'Invalid character ID');
        await rejectsWith(client.getCharacter('..'), 400, 'Invalid character ID'); // refused before sending

        assert.deepEqual(await client.deleteInstance('chat-2'), { success: true });
        await rejectsWith(client.deleteInstance('chat-2'), 404, 'Instance not found');
        assert.equal(await client.deleteInstances('seraphina'), 1);
        assert.equal(await client.deleteInstances('seraphina'), 0);
        assert.deepEqual(await client.deleteCharacter('seraphina'), { success: true });
        await rejectsWith(client.deleteCharacter('seraphina'), 404, 'Character not found');
    });
});

describe('instance data', () => {
    before(async () => {
        await client.saveCharacter('data-char');
        await client.saveInstance('data-inst', 'data-char');
    });

    test('every JSON type comes back exactly, one key and all keys', async () => {
        for (const [key, value] of Object.entries(EVERY_TYPE)) {
            assert.deepEqual(await client.setInstanceValue('data-inst', key, value), { success: true, key, value });
        }
        for (const [key, value] of Object.entries(EVERY_TYPE)) {
            assert.deepEqual(await client.getInstanceValue('data-inst', key), value, key);
        }
        assert.equal(await client.getInstanceValue('data-inst', 'string10'), '10');
        assert.deepEqual(await client.getInstanceData('data-inst'), EVERY_TYPE);
    });

    test('keys with "/", spaces, "%", "?", "#", Unicode and dots round-trip', async () => {
        // "/" first: sidecar once routed `.../data/%2F` to the collection, so deleting the key
        // "/" deleted every key; "a//b" was read as "a/b".
        const keys = ['/', '//', 'a/b', 'a//b', '/leading', 'trailing/', 'with space', '100%', 'what?x=1', '#hash',
            'ключ/値', '.', '..', 'a/../b', '%2F'];
        for (const [i, key] of keys.entries()) await client.setInstanceValue('data-inst', key, { i });
        for (const [i, key] of keys.entries()) assert.deepEqual(await client.getInstanceValue('data-inst', key), { i }, key);
        assert.deepEqual(await client.getInstanceData('data-inst'), {
            ...Object.fromEntries(Object.entries(EVERY_TYPE)),
            ...Object.fromEntries(keys.map((key, i) => [key, { i }])),
        });
        for (const key of keys) assert.equal((await client.deleteInstanceValue('data-inst', key)).success, true, key);
        assert.deepEqual(await client.getInstanceData('data-inst'), EVERY_TYPE);
        for (const key of keys) await rejectsWith(client.getInstanceValue('data-inst', key), 404, 'Data key not found');
        await rejectsWith(client.deleteInstanceValue('data-inst', '..'), 404, 'Data key not found');
        await rejectsWith(client.getInstanceValue('data-inst', ''), 400);
    });

    test('keys named like the bulk routes are ordinary keys', async () => {
        for (const key of ['override', 'merge', 'remove']) {
            await client.setInstanceValue('data-inst', key, key);
            assert.equal(await client.getInstanceValue('data-inst', key), key);
            await client.deleteInstanceValue('data-inst', key);
        }
    });

    test('override, merge (shallow and deep), remove, clear', async () => {
        const base = { keep: 'yes', nested: { a: 1, inner: { x: 1 } }, n: '10' };
        assert.equal((await client.overrideInstanceData('data-inst', base)).success, true);
        assert.deepEqual(await client.getInstanceData('data-inst'), base);

        await client.mergeInstanceData('data-inst', { nested: { b: 2 }, added: [1] });
        assert.deepEqual(await client.getInstanceData('data-inst'), { keep: 'yes', nested: { b: 2 }, n: '10', added: [1] });

        await client.overrideInstanceData('data-inst', base);
        const merged = await client.mergeInstanceData('data-inst', { nested: { b: 2, inner: { y: 2 } } }, { deep: true });
        assert.deepEqual(merged, { success: true, message: 'Instance data merged successfully' });
        assert.deepEqual(await client.getInstanceData('data-inst'), {
            keep: 'yes',
            nested: { a: 1, b: 2, inner: { x: 1, y: 2 } },
            n: '10',
        });

        assert.equal(await client.removeInstanceValues('data-inst', ['keep', 'absent']), 1);
        assert.deepEqual(Object.keys(await client.getInstanceData('data-inst')).sort(), ['n', 'nested']);
        assert.equal(await client.clearInstanceData('data-inst'), 2);
        assert.deepEqual(await client.getInstanceData('data-inst'), {});
        assert.equal(await client.clearInstanceData('data-inst'), 0);
    });

    test('bad bodies are 400 and change nothing; unknown instances are 404', async () => {
        await client.setInstanceValue('data-inst', 'safe', 1);
        await rejectsWith(client.overrideInstanceData('data-inst', [1, 2]), 400);
        await rejectsWith(client.mergeInstanceData('data-inst', 'text'), 400);
        await rejectsWith(client.removeInstanceValues('data-inst', [1]), 400);
        await rejectsWith(client.setInstanceValue('data-inst', 'k', undefined), 400);
        assert.deepEqual(await client.getInstanceData('data-inst'), { safe: 1 });
        await rejectsWith(client.getInstanceData('ghost'), 404, 'Instance not found');
        await rejectsWith(client.setInstanceValue('ghost', 'k', 1), 404, 'Instance not found');
        await rejectsWith(client.getInstanceValue('data-inst', 'absent'), 404, 'Data key not found');
    });
});

describe('cross-extension reads', () => {
    test('read another extension, read-only, with 404s', async () => {
        const owner = createClient({ baseUrl: sidecar.url, token: TOKEN, extensionId: 'client-owner' });
        await owner.register();
        await owner.saveCharacter('hero', 'Hero');
        await owner.saveInstance('run-1', 'hero');
        await owner.overrideInstanceData('run-1', { 'a/b': '10', gold: 5 });

        const reader = client.crossExtension('client-owner');
        assert.deepEqual((await reader.listCharacters()).map((c) => c.name), ['Hero']);
        assert.deepEqual((await reader.getCharacter('hero')).instances[0].data, { 'a/b': '10', gold: 5 });
        assert.deepEqual((await reader.listInstances('hero')).map((i) => i.id), ['run-1']);
        assert.equal((await reader.getInstance('run-1')).instance.characterId, 'hero');
        assert.deepEqual(await reader.getInstanceData('run-1'), { 'a/b': '10', gold: 5 });
        assert.equal(await reader.getInstanceValue('run-1', 'a/b'), '10');
        await owner.setInstanceValue('run-1', '/', 'root');
        assert.equal(await reader.getInstanceValue('run-1', '/'), 'root');
        await rejectsWith(reader.getInstanceValue('run-1', 'absent'), 404, 'Data key not found');
        await rejectsWith(reader.getInstance('nobody'), 404, 'Instance not found');
        await rejectsWith(client.crossExtension('never-registered').listCharacters(), 404);
        await rejectsWith(client.request('POST', '/cross-extension/characters/client-owner', { body: {} }), 405);
    });
});

describe('failures', () => {
    test('a closed port is a SidecarNetworkError with status 0, and probe() is false', async () => {
        const port = await freePort();
        const down = createClient({ baseUrl: `http://127.0.0.1:${port}`, extensionId: 'x' });
        const started = Date.now();
        await assert.rejects(down.listCharacters(), (error) => {
            assert.ok(error instanceof SidecarNetworkError);
            assert.ok(error instanceof SidecarError);
            assert.equal(error.status, 0);
            assert.match(error.message, new RegExp(`sidecar is not reachable at http://127\\.0\\.0\\.1:${port}${PREFIX}: ECONNREFUSED`));
            return true;
        });
        assert.equal(await down.probe(), false);
        assert.ok(Date.now() - started < 5000);
    });

    test('a server that never answers times out with a readable error', async () => {
        const sockets = new Set();
        const silent = createServer((socket) => sockets.add(socket));
        await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
        try {
            const slow = createClient({ baseUrl: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 300 });
            const started = Date.now();
            await assert.rejects(slow.ping('x'), (error) => {
                assert.ok(error instanceof SidecarNetworkError);
                assert.match(error.message, /did not answer within 300 ms/);
                return true;
            });
            assert.ok(Date.now() - started < 3000);
        } finally {
            for (const socket of sockets) socket.destroy();
            await new Promise((resolve) => silent.close(resolve));
        }
    });

    test('a non-JSON error body still gives a SidecarError with its text', async () => {
        await rejectsWith(client.request('GET', '/no/such/route'), 404, 'Not found');
    });
});
