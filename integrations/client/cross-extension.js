// cross-extension.js: read-only access to another registered extension's value-tracker data.

import { checkKey, isDotKey, pick, segment } from './http.js';

/**
 * @typedef {import('./http.js').BaseClient} BaseClient
 * @typedef {import('./types.js').JsonValue} JsonValue
 * @typedef {import('./types.js').JsonObject} JsonObject
 * @typedef {import('./types.js').Character} Character
 * @typedef {import('./types.js').Instance} Instance
 * @typedef {import('./types.js').FullInstance} FullInstance
 * @typedef {import('./types.js').FullCharacter} FullCharacter
 */

/** Read-only view of another extension's data (`/cross-extension/...`). */
export class CrossExtensionReader {
    #client;

    /**
     * @param {BaseClient} client
     * @param {string} extensionId
     */
    constructor(client, extensionId) {
        this.#client = client;
        /** @type {string} */
        this.extensionId = extensionId;
    }

    #get(kind, ...path) {
        const parts = [segment(this.extensionId, 'extension'), ...path];
        return this.#client.request('GET', `/cross-extension/${kind}/${parts.join('/')}`);
    }

    /** @returns {Promise<Character[]>} */
    async listCharacters() {
        return this.#get('characters');
    }

    /**
     * @param {string} characterId
     * @returns {Promise<FullCharacter>}
     */
    async getCharacter(characterId) {
        return this.#get('characters', segment(characterId, 'character'));
    }

    /**
     * @param {string} characterId
     * @returns {Promise<Instance[]>}
     */
    async listInstances(characterId) {
        return this.#get('characters', segment(characterId, 'character'), 'instances');
    }

    /**
     * @param {string} instanceId
     * @returns {Promise<FullInstance>}
     */
    async getInstance(instanceId) {
        return this.#get('instances', segment(instanceId, 'instance'));
    }

    /**
     * @param {string} instanceId
     * @returns {Promise<JsonObject>}
     */
    async getInstanceData(instanceId) {
        return this.#get('instances', segment(instanceId, 'instance'), 'data');
    }

    /**
     * One value, exactly as stored; 404 when the key is absent.
     * @param {string} instanceId
     * @param {string} key
     * @returns {Promise<JsonValue>}
     */
    async getInstanceValue(instanceId, key) {
        checkKey(key);
        if (isDotKey(key)) return pick(await this.getInstanceData(instanceId), key);
        const answer = await this.#get('instances', segment(instanceId, 'instance'), 'data', encodeURIComponent(key));
        return answer[key];
    }
}
