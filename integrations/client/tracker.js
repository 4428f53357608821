// tracker.js: the value-tracker routes (registration, characters, instances and their data, and
// `crossExtension`). Most need the client's `extensionId`.

import { CrossExtensionReader } from './cross-extension.js';
import { BaseClient, checkKey, isDotKey, keyNotFound, pick, segment } from './http.js';

/**
 * @typedef {import('./types.js').JsonValue} JsonValue
 * @typedef {import('./types.js').JsonObject} JsonObject
 * @typedef {import('./types.js').Character} Character
 * @typedef {import('./types.js').Instance} Instance
 * @typedef {import('./types.js').FullInstance} FullInstance
 * @typedef {import('./types.js').FullCharacter} FullCharacter
 * @typedef {import('./types.js').ExtensionInfo} ExtensionInfo
 */

/** The value-tracker routes. */
export class TrackerClient extends BaseClient {
    // ---- registration and small routes ------------------------------------------------------

    /**
     * Register the extension (idempotent; creates its database on first use).
     * @param {{extensionId?: string, dbPath?: string}} [options] default: the bound extension id
     * @returns {Promise<{success: true, message: string}>}
     */
    async register({ extensionId = this.extensionId ?? undefined, dbPath } = {}) {
        return this.request('POST', '/register', { body: { extensionId, dbPath } });
    }

    /**
     * Deregister the extension; its database file and data are kept.
     * @param {{extensionId?: string}} [options] default: the bound extension id
     * @returns {Promise<{success: true, message: string}>}
     */
    async deregister({ extensionId = this.extensionId ?? undefined } = {}) {
        return this.request('DELETE', '/register', { body: { extensionId } });
    }

    /** @returns {Promise<ExtensionInfo[]>} every extension sidecar knows, with row counts */
    async listExtensions() {
        return this.request('GET', '/extensions');
    }

    /**
     * Whether sidecar answers (`GET /probe`). Never throws.
     * @returns {Promise<boolean>}
     */
    async probe() {
        try {
            await this.request('GET', '/probe');
            return true;
        } catch {
            return false;
        }
    }

    /**
     * @param {string} message
     * @returns {Promise<{message: string}>} `{message: "Pong! <message>"}`
     */
    async ping(message) {
        return this.request('POST', '/ping', { body: { message } });
    }

    // ---- characters ------------------------------------------------------------------------

    /** @returns {Promise<Character[]>} ordered by creation */
    async listCharacters() {
        return this.request('GET', '/characters');
    }

    /**
     * @param {string} characterId
     * @returns {Promise<FullCharacter>} the character with its instances and their data
     */
    async getCharacter(characterId) {
        return this.request('GET', `/characters/${segment(characterId, 'character')}`);
    }

    /**
     * Create a character, or rename it (omit `name` to keep the current one).
     * @param {string} id
     * @param {string|null} [name]
     * @returns {Promise<Character>}
     */
    async saveCharacter(id, name) {
        return this.request('POST', '/characters', { body: name === undefined ? { id } : { id, name } });
    }

    /**
     * Delete a character with its instances and their data.
     * @param {string} characterId
     * @returns {Promise<{success: true}>}
     */
    async deleteCharacter(characterId) {
        return this.request('DELETE', `/characters/${segment(characterId, 'character')}`);
    }

    // ---- instances -------------------------------------------------------------------------

    /**
     * @param {string} characterId
     * @returns {Promise<Instance[]>}
     */
    async listInstances(characterId) {
        return this.request('GET', '/instances', { query: { characterId } });
    }

    /**
     * @param {string} instanceId
     * @returns {Promise<FullInstance>}
     */
    async getInstance(instanceId) {
        return this.request('GET', `/instances/${segment(instanceId, 'instance')}`);
    }

    /**
     * Create an instance of an existing character, or rename it (omit `name` to keep it).
     * @param {string} id
     * @param {string} characterId
     * @param {string|null} [name]
     * @returns {Promise<Instance>}
     */
    async saveInstance(id, characterId, name) {
        const body = name === undefined ? { id, characterId } : { id, characterId, name };
        return this.request('POST', '/instances', { body });
    }

    /**
     * Delete an instance and its data.
     * @param {string} instanceId
     * @returns {Promise<{success: true}>}
     */
    async deleteInstance(instanceId) {
        return this.request('DELETE', `/instances/${segment(instanceId, 'instance')}`);
    }

    /**
     * Delete every instance of a character (and their data).
     * @param {string} characterId
     * @returns {Promise<number>} how many were deleted
     */
    async deleteInstances(characterId) {
        const answer = await this.request('DELETE', `/characters/${segment(characterId, 'character')}/instances`);
        return answer.deletedCount;
    }

    // ---- instance data ---------------------------------------------------------------------

    #data(instanceId) {
        return `/instances/${segment(instanceId, 'instance')}/data`;
    }

    /**
     * @param {string} instanceId
     * @returns {Promise<JsonObject>} all keys and values (`{}` when empty)
     */
    async getInstanceData(instanceId) {
        return this.request('GET', this.#data(instanceId));
    }

    /**
     * One value, exactly as stored (the string "10" stays a string). 404 when the key is absent.
     * @param {string} instanceId
     * @param {string} key any non-empty string (`/`, spaces, Unicode are fine)
     * @returns {Promise<JsonValue>}
     */
    async getInstanceValue(instanceId, key) {
        checkKey(key);
        if (isDotKey(key)) return pick(await this.getInstanceData(instanceId), key);
        const answer = await this.request('GET', `${this.#data(instanceId)}/${encodeURIComponent(key)}`);
        return answer[key];
    }

    /**
     * Set one key (`null` is a value).
     * @param {string} instanceId
     * @param {string} key
     * @param {JsonValue} value
     * @returns {Promise<{success: true, key: string, value: JsonValue}>}
     */
    async setInstanceValue(instanceId, key, value) {
        return this.request('PUT', this.#data(instanceId), { body: { key: checkKey(key), value } });
    }

    /**
     * Delete one key; 404 when it is absent.
     * @param {string} instanceId
     * @param {string} key
     * @returns {Promise<{success: true}>}
     */
    async deleteInstanceValue(instanceId, key) {
        checkKey(key);
        if (isDotKey(key)) {
            if ((await this.removeInstanceValues(instanceId, [key])) === 0) throw keyNotFound();
            return { success: true };
        }
        return this.request('DELETE', `${this.#data(instanceId)}/${encodeURIComponent(key)}`);
    }

    /**
     * Delete all data of an instance.
     * @param {string} instanceId
     * @returns {Promise<number>} how many keys were deleted
     */
    async clearInstanceData(instanceId) {
        return (await this.request('DELETE', this.#data(instanceId))).deletedCount;
    }

    /**
     * Replace all data with `data`, in one transaction.
     * @param {string} instanceId
     * @param {JsonObject} data
     * @returns {Promise<{success: true, message: string}>}
     */
    async overrideInstanceData(instanceId, data) {
        return this.request('PUT', `${this.#data(instanceId)}/override`, { body: data });
    }

    /**
     * Each top-level key of `data` replaces that key; other keys stay. With `deep`, nested
     * objects are merged recursively.
     * @param {string} instanceId
     * @param {JsonObject} data
     * @param {{deep?: boolean}} [options]
     * @returns {Promise<{success: true, message: string}>}
     */
    async mergeInstanceData(instanceId, data, { deep = false } = {}) {
        return this.request('PUT', `${this.#data(instanceId)}/merge`, {
            body: data,
            query: { deep: deep ? 'true' : undefined },
        });
    }

    /**
     * Delete several keys in one transaction (absent keys are skipped).
     * @param {string} instanceId
     * @param {string[]} keys
     * @returns {Promise<number>} how many were removed
     */
    async removeInstanceValues(instanceId, keys) {
        return (await this.request('PUT', `${this.#data(instanceId)}/remove`, { body: { keys } })).removedCount;
    }

    // ---- cross-extension reads -------------------------------------------------------------

    /**
     * Read-only access to another registered extension's data.
     * @param {string} extensionId
     * @returns {CrossExtensionReader}
     */
    crossExtension(extensionId) {
        return new CrossExtensionReader(this, extensionId);
    }
}
