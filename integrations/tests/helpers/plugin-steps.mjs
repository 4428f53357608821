// The scripted value-tracker session that plugin-sidecar.test.mjs sends both directly to sidecar
// and through the proxy plugin. Each step: [label, method, path, options]; options.ext sets
// x-extension-id, options.json a JSON body, options.raw a raw body sent as application/json,
// options.expect the status sidecar must give (so error cases are proven to be error cases),
// options.rawOnly marks bodies a JSON body parser in front of the plugin would refuse itself.

/** The steps for one run; `tag` keeps the extension ids of different runs apart. */
export function valueTrackerSteps(tag) {
    const ext = `${tag}-ext`;
    const other = `${tag}-other`;
    const e = { ext };
    const big = 'x'.repeat(300_000);
    return [
        ['probe', 'GET', '/probe', { expect: 204 }],
        ['ping', 'POST', '/ping', { json: { message: 'hi ☕' }, expect: 200 }],
        ['no extension header', 'GET', '/characters', { expect: 400 }],
        ['malformed extension id', 'GET', '/characters', { ext: 'bad.id', expect: 400 }],
        ['extension not registered', 'GET', '/characters', { ext, expect: 404 }],
        ['register', 'POST', '/register', { json: { extensionId: ext }, expect: 200 }],
        ['register again (idempotent)', 'POST', '/register', { json: { extensionId: ext }, expect: 200 }],
        ['register without id', 'POST', '/register', { json: {}, expect: 400 }],
        ['register invalid id', 'POST', '/register', { json: { extensionId: 'a/../b' }, expect: 400 }],
        ['register dbPath outside', 'POST', '/register', { json: { extensionId: other, dbPath: '../evil.db' }, expect: 400 }],
        ['register with dbPath', 'POST', '/register', { json: { extensionId: other, dbPath: `${tag}-custom.db` }, expect: 200 }],
        ['no characters yet', 'GET', '/characters', { ...e, expect: 200 }],
        ['create character', 'POST', '/characters', { ...e, json: { id: 'hero', name: 'Hero' }, expect: 200 }],
        ['rename character', 'POST', '/characters', { ...e, json: { id: 'hero', name: 'Hero II' }, expect: 200 }],
        ['character without name', 'POST', '/characters', { ...e, json: { id: 'villain' }, expect: 200 }],
        ['invalid character id', 'POST', '/characters', { ...e, json: { id: 'bad id' }, expect: 400 }],
        ['wrong type of name', 'POST', '/characters', { ...e, json: { id: 'hero', name: 5 }, expect: 400 }],
        ['list characters', 'GET', '/characters', { ...e, expect: 200 }],
        ['full character', 'GET', '/characters/hero', { ...e, expect: 200 }],
        ['missing character', 'GET', '/characters/nobody', { ...e, expect: 404 }],
        ['create instance', 'POST', '/instances', { ...e, json: { id: 'i1', characterId: 'hero', name: 'First' }, expect: 200 }],
        ['instance without name', 'POST', '/instances', { ...e, json: { id: 'i2', characterId: 'hero' }, expect: 200 }],
        ['instance of another character', 'POST', '/instances', { ...e, json: { id: 'i1', characterId: 'villain' }, expect: 409 }],
        ['instance of missing character', 'POST', '/instances', { ...e, json: { id: 'i3', characterId: 'nobody' }, expect: 404 }],
        ['instances by query', 'GET', '/instances?characterId=hero', { ...e, expect: 200 }],
        ['instances without characterId', 'GET', '/instances', { ...e, expect: 400 }],
        ['instances of character', 'GET', '/characters/hero/instances', { ...e, expect: 200 }],
        ['full instance', 'GET', '/instances/i1', { ...e, expect: 200 }],
        ['missing instance', 'GET', '/instances/nope', { ...e, expect: 404 }],
        ['set number', 'POST', '/instances/i1/data', { ...e, json: { key: 'hp', value: 10 }, expect: 200 }],
        ['set string with PUT', 'PUT', '/instances/i1/data', { ...e, json: { key: 'str', value: '10' }, expect: 200 }],
        ['set key with slash', 'POST', '/instances/i1/data', { ...e, json: { key: 'a/b', value: { x: [1, null, true] } }, expect: 200 }],
        ['set unicode key', 'POST', '/instances/i1/data', { ...e, json: { key: 'café ☕', value: 'ü' }, expect: 200 }],
        ['set null', 'POST', '/instances/i1/data', { ...e, json: { key: 'nothing', value: null }, expect: 200 }],
        ['set 300 kB value', 'POST', '/instances/i1/data', { ...e, json: { key: 'big', value: big }, expect: 200 }],
        ['set without value', 'POST', '/instances/i1/data', { ...e, json: { key: 'hp' }, expect: 400 }],
        ['set on missing instance', 'POST', '/instances/nope/data', { ...e, json: { key: 'k', value: 1 }, expect: 404 }],
        ['all data', 'GET', '/instances/i1/data', { ...e, expect: 200 }],
        ['key with %2F', 'GET', '/instances/i1/data/a%2Fb', { ...e, expect: 200 }],
        ['unicode key', 'GET', `/instances/i1/data/${encodeURIComponent('café ☕')}`, { ...e, expect: 200 }],
        ['missing key', 'GET', '/instances/i1/data/missing', { ...e, expect: 404 }],
        ['merge', 'PUT', '/instances/i1/data/merge', { ...e, json: { stats: { a: 1, b: { c: 2 } } }, expect: 200 }],
        ['deep merge', 'PUT', '/instances/i1/data/merge?deep=true', { ...e, json: { stats: { b: { d: 3 } } }, expect: 200 }],
        ['after deep merge', 'GET', '/instances/i1/data/stats', { ...e, expect: 200 }],
        ['shallow merge', 'PUT', '/instances/i1/data/merge', { ...e, json: { stats: { z: 1 } }, expect: 200 }],
        ['merge with array body', 'PUT', '/instances/i1/data/merge', { ...e, json: [1, 2], expect: 400 }],
        ['merge with invalid JSON', 'PUT', '/instances/i1/data/merge', { ...e, raw: '{"stats": ', expect: 400, rawOnly: true }],
        ['merge with scalar body', 'PUT', '/instances/i1/data/merge', { ...e, raw: '"text"', expect: 400, rawOnly: true }],
        ['override without body', 'PUT', '/instances/i2/data/override', { ...e, expect: 400 }],
        ['override', 'PUT', '/instances/i2/data/override', { ...e, json: { a: 1, b: '2' }, expect: 200 }],
        ['after override', 'GET', '/instances/i2/data', { ...e, expect: 200 }],
        ['override missing instance', 'PUT', '/instances/nope/data/override', { ...e, json: {}, expect: 404 }],
        ['remove keys', 'PUT', '/instances/i1/data/remove', { ...e, json: { keys: ['hp', 'missing'] }, expect: 200 }],
        ['remove with bad keys', 'PUT', '/instances/i1/data/remove', { ...e, json: { keys: 'hp' }, expect: 400 }],
        ['delete key with %2F', 'DELETE', '/instances/i1/data/a%2Fb', { ...e, expect: 200 }],
        ['delete it again', 'DELETE', '/instances/i1/data/a%2Fb', { ...e, expect: 404 }],
        ['full character with data', 'GET', '/characters/hero', { ...e, expect: 200 }],
        ['cross: characters', 'GET', `/cross-extension/characters/${ext}`, { expect: 200 }],
        ['cross: character', 'GET', `/cross-extension/characters/${ext}/hero`, { expect: 200 }],
        ['cross: instances', 'GET', `/cross-extension/characters/${ext}/hero/instances`, { expect: 200 }],
        ['cross: instance', 'GET', `/cross-extension/instances/${ext}/i1`, { expect: 200 }],
        ['cross: data', 'GET', `/cross-extension/instances/${ext}/i1/data`, { expect: 200 }],
        ['cross: key', 'GET', `/cross-extension/instances/${ext}/i1/data/str`, { expect: 200 }],
        ['cross: missing key', 'GET', `/cross-extension/instances/${ext}/i1/data/nope`, { expect: 404 }],
        ['cross: unknown extension', 'GET', `/cross-extension/characters/${tag}-unknown`, { expect: 404 }],
        ['cross: write refused', 'POST', `/cross-extension/characters/${ext}`, { json: { id: 'x' }, expect: 405 }],
        ['extensions', 'GET', '/extensions', { expect: 200 }],
        ['delete all data', 'DELETE', '/instances/i1/data', { ...e, expect: 200 }],
        ['delete instance', 'DELETE', '/instances/i2', { ...e, expect: 200 }],
        ['delete instance again', 'DELETE', '/instances/i2', { ...e, expect: 404 }],
        ['delete instances of character', 'DELETE', '/characters/hero/instances', { ...e, expect: 200 }],
        ['delete instances of missing character', 'DELETE', '/characters/nobody/instances', { ...e, expect: 404 }],
        ['delete character', 'DELETE', '/characters/villain', { ...e, expect: 200 }],
        ['delete character again', 'DELETE', '/characters/villain', { ...e, expect: 404 }],
        ['deregister', 'DELETE', '/register', { json: { extensionId: other }, expect: 200 }],
        ['deregister again', 'DELETE', '/register', { json: { extensionId: other }, expect: 404 }],
        ['deregister invalid id', 'DELETE', '/register', { json: { extensionId: 'bad id' }, expect: 400 }],
        ['unknown route', 'GET', '/no-such-route', { expect: 404 }],
    ];
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** `value` with every ISO timestamp replaced, so two databases' answers compare equal. */
export function withoutTimestamps(value) {
    if (typeof value === 'string') return TIMESTAMP.test(value) ? '<timestamp>' : value;
    if (Array.isArray(value)) return value.map(withoutTimestamps);
    if (value !== null && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, withoutTimestamps(item)]));
    }
    return value;
}
