// Requests the proxy plugin's tests send: to sidecar directly (with the token) or through the
// plugin (as a browser on SillyTavern's origin), and their comparable answers.
import assert from 'node:assert/strict';

import { readAnswer } from './plugin-app.mjs';
import { withoutTimestamps } from './plugin-steps.mjs';
import { PREFIX } from './sidecar.mjs';

export const TOKEN = 'plugin-test-token';
export const auth = { authorization: `Bearer ${TOKEN}` };
/** What a browser adds on SillyTavern's origin; none of it may reach sidecar. */
export const BROWSER = { cookie: 'session-st=abc', 'x-csrf-token': 'csrf-from-page' };

// A short response timeout turns a request the plugin mishandles into a quick 504, not a hang.
export const envFor = (sidecar) => ({ ST_SIDECAR_URL: sidecar.url, ST_SIDECAR_TOKEN: sidecar.token, ST_SIDECAR_RESPONSE_TIMEOUT_MS: '15000' });

/** One scripted step sent to `base` (directly with the token, or through the plugin like a browser). */
export async function send(base, [, method, path, options], { viaPlugin }) {
    const headers = viaPlugin ? { ...BROWSER } : { ...auth };
    if (options.ext) headers['x-extension-id'] = options.ext;
    let body;
    if (options.json !== undefined) body = JSON.stringify(options.json);
    if (options.raw !== undefined) body = options.raw;
    if (body !== undefined || method === 'PUT') headers['content-type'] = 'application/json';
    return readAnswer(await fetch(`${base}${PREFIX}${path}`, { method, headers, body }));
}

export const comparable = (answer) => ({
    status: answer.status,
    contentType: answer.contentType,
    body: answer.json === undefined ? answer.text : withoutTimestamps(answer.json),
});

export async function chatsSeen(sidecar, headers = {}) {
    const answer = await readAnswer(await fetch(`${sidecar.url}${PREFIX}/chats`, { headers: { ...auth, ...headers } }));
    assert.equal(answer.status, 200, answer.text);
    return answer.json.items;
}
