'use strict';
// Effective configuration of the proxy: environment > config.json > built-in defaults.

const fs = require('node:fs');
const path = require('node:path');

/** Built-in defaults (the sidecar daemon listens on 127.0.0.1:8711 by default). */
const DEFAULTS = Object.freeze({
    url: 'http://127.0.0.1:8711',
    token: null,
    connectTimeoutMs: 1500,
    responseTimeoutMs: 30000,
});

/** Environment variable for each setting. */
const ENV_NAMES = Object.freeze({
    url: 'ST_SIDECAR_URL',
    token: 'ST_SIDECAR_TOKEN',
    connectTimeoutMs: 'ST_SIDECAR_CONNECT_TIMEOUT_MS',
    responseTimeoutMs: 'ST_SIDECAR_RESPONSE_TIMEOUT_MS',
});

const CONFIG_FILE = 'config.json';

/** @returns {string|null} a problem with `value` as setting `key`, or null when it is fine. */
function problemWith(key, value) {
    if (key === 'url') {
        let parsed;
        try {
            parsed = new URL(String(value));
        } catch {
            return 'is not a URL';
        }
        return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? null : 'must start with http:// or https://';
    }
    if (key === 'token') return typeof value === 'string' && value !== '' ? null : 'must be a non-empty string';
    const number = Number(value);
    return Number.isInteger(number) && number > 0 ? null : 'must be a positive whole number of milliseconds';
}

/** Read `<folder>/config.json`: `{values}`, or `{values: {}, error}` when it is unreadable or not an object. */
function readConfigFile(folder) {
    const file = path.join(folder, CONFIG_FILE);
    let text;
    try {
        text = fs.readFileSync(file, 'utf8');
    } catch (error) {
        if (error.code === 'ENOENT') return { values: {} };
        return { values: {}, error: `cannot read ${file}: ${error.message}` };
    }
    let parsed;
    try {
        parsed = JSON.parse(text);
    } catch (error) {
        return { values: {}, error: `${file} is not valid JSON (${error.message}); using the defaults instead` };
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        return { values: {}, error: `${file} must hold a JSON object; using the defaults instead` };
    }
    return { values: parsed };
}

/**
 * Compute the proxy's effective configuration. For each setting the environment wins over
 * `config.json` in `folder`, which wins over the defaults; an empty environment variable counts
 * as unset. A missing file is fine. A malformed file, an unknown key or an invalid value is
 * reported in `errors` and that source is ignored (the next one down applies); nothing throws.
 *
 * @param {Record<string, string|undefined>} env environment variables (e.g. `process.env`)
 * @param {string} folder the folder that may hold `config.json`
 * @returns {{config: {url: string, token: string|null, connectTimeoutMs: number,
 *   responseTimeoutMs: number}, sources: Record<string, 'env'|'file'|'default'>, errors: string[]}}
 */
function resolveConfig(env, folder) {
    const errors = [];
    const file = readConfigFile(folder);
    if (file.error) errors.push(file.error);
    for (const key of Object.keys(file.values)) {
        if (!(key in DEFAULTS)) errors.push(`${CONFIG_FILE}: unknown key "${key}" (known: ${Object.keys(DEFAULTS).join(', ')})`);
    }
    const config = { ...DEFAULTS };
    const sources = {};
    for (const key of Object.keys(DEFAULTS)) {
        sources[key] = 'default';
        const candidates = [
            ['env', env[ENV_NAMES[key]], ENV_NAMES[key]],
            ['file', file.values[key], `${CONFIG_FILE} "${key}"`],
        ];
        for (const [source, value, label] of candidates) {
            if (value === undefined || value === '' || (source === 'file' && value === null)) continue;
            const problem = problemWith(key, value);
            if (problem !== null) {
                errors.push(`${label} ${problem}; ignored`);
                continue;
            }
            config[key] = key === 'url' || key === 'token' ? String(value) : Number(value);
            sources[key] = source;
            break;
        }
    }
    config.url = config.url.replace(/\/+$/, '');
    return { config, sources, errors };
}

module.exports = { DEFAULTS, ENV_NAMES, CONFIG_FILE, resolveConfig };
