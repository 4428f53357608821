// The proxy plugin's configuration: how SillyTavern loads it, environment over config.json
// over defaults, a malformed config.json, and what init logs.
// Run: SIDECAR_CMD=/tmp/venv/bin/sidecar node --test tests/plugin-config.test.mjs
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { captureLogger, emptyFolder, plugin } from './helpers/plugin-app.mjs';

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
