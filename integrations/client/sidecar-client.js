// sidecar-client.js: the entry point of dependency-free ES modules that wrap sidecar's whole HTTP
// API for SillyTavern extensions (browsers) and Node 18+. Copy this whole folder into your
// extension folder (e.g. as `sidecar/`).
//
//   import { createClient } from './sidecar/sidecar-client.js';
//   const sidecar = createClient({ headers: getRequestHeaders, extensionId: 'my-extension' });
//
// Through SillyTavern's proxy plugin (the default) requests go to `/api/plugins/valuetracker` on
// the page's own origin; to call sidecar directly pass `{ baseUrl: 'http://127.0.0.1:8711', token }`.
// See README.md next to this file for the API reference.

import { SidecarError } from './errors.js';
import { API_PREFIX, checkKey, fileNameFrom, isDotKey, messagePath, position, queryString, segment } from './http.js';
import { QueryClient } from './query.js';
import { runEventSource } from './eventsource.js';
import { Subscription, deliverer, report, runFetchFeed } from './sse.js';

export { CrossExtensionReader } from './cross-extension.js';
export { SidecarError, SidecarNetworkError } from './errors.js';
export { API_PREFIX } from './http.js';
export { Subscription, createSseParser } from './sse.js';

// The types (JSDoc only), under their names here too: `import('./sidecar-client.js').Chat`.
/**
 * @typedef {import('./types.js').JsonValue} JsonValue
 * @typedef {import('./types.js').JsonObject} JsonObject
 * @typedef {import('./types.js').Character} Character
 * @typedef {import('./types.js').Instance} Instance
 * @typedef {import('./types.js').FullInstance} FullInstance
 * @typedef {import('./types.js').FullCharacter} FullCharacter
 * @typedef {import('./types.js').ExtensionInfo} ExtensionInfo
 * @typedef {import('./types.js').Success} Success
 * @typedef {import('./types.js').Chat} Chat
 * @typedef {import('./types.js').ChatDetail} ChatDetail
 * @typedef {import('./types.js').Message} Message
 * @typedef {import('./types.js').MessageDetail} MessageDetail
 * @typedef {import('./types.js').DataItem} DataItem
 * @typedef {import('./types.js').SearchHit} SearchHit
 * @typedef {import('./types.js').ValueVersion} ValueVersion
 * @typedef {import('./types.js').ChatHistory} ChatHistory
 * @typedef {import('./types.js').ChatVersion} ChatVersion
 * @typedef {import('./types.js').VersionDiff} VersionDiff
 * @typedef {import('./types.js').VersionFile} VersionFile
 * @typedef {import('./types.js').SwipeChoice} SwipeChoice
 * @typedef {import('./types.js').FeedEvent} FeedEvent
 * @typedef {import('./types.js').ClientOptions} ClientOptions
 * @typedef {import('./types.js').SubscribeOptions} SubscribeOptions
 */

/**
 * @template T
 * @typedef {import('./types.js').Page<T>} Page
 */

/**
 * Create a client. Same as `new SidecarClient(options)`.
 * @param {ClientOptions} [options]
 * @returns {SidecarClient}
 */
export function createClient(options = {}) {
    return new SidecarClient(options);
}

/** sidecar's whole HTTP API. Every method throws a {@link SidecarError} on a non-2xx answer. */
export class SidecarClient extends QueryClient {
    // ---- history ---------------------------------------------------------------------------

    /**
     * Every recorded version of one value of the message now at `messagePosition`: replaced
     * versions oldest first, then the current value of each swipe (`replacedAt` null).
     * @param {string} chatId
     * @param {number} messagePosition
     * @param {string} namespace
     * @param {string} key
     * @param {{limit?: number, cursor?: string|null}} [options]
     * @returns {Promise<Page<ValueVersion>>}
     */
    async getValueHistory(chatId, messagePosition, namespace, key, options = {}) {
        checkKey(key);
        if (isDotKey(key)) throw new SidecarError(400, `The history of the key "${key}" cannot be read over HTTP`);
        const namespacePath = `${messagePath(chatId, messagePosition)}/history/${segment(namespace, 'namespace')}`;
        return this.request('GET', `${namespacePath}/${encodeURIComponent(key)}`, { query: options });
    }

    /**
     * Every recorded version of one value of the chat's own data (`chat_metadata.<namespace>`),
     * oldest first, the current value last (`replacedAt` null).
     * @param {string} chatId
     * @param {string} namespace
     * @param {string} key
     * @param {{limit?: number, cursor?: string|null}} [options]
     * @returns {Promise<Page<ValueVersion>>}
     */
    async getChatValueHistory(chatId, namespace, key, options = {}) {
        checkKey(key);
        if (isDotKey(key)) throw new SidecarError(400, `The history of the key "${key}" cannot be read over HTTP`);
        const namespacePath = `/chats/${segment(chatId, 'chat')}/history/${segment(namespace, 'namespace')}`;
        return this.request('GET', `${namespacePath}/${encodeURIComponent(key)}`, { query: options });
    }

    /**
     * What a chat lost (deleted messages, a shrink), grouped by when, newest first.
     * @param {string} chatId
     * @returns {Promise<ChatHistory>}
     */
    async getChatHistory(chatId) {
        return this.request('GET', `/chats/${segment(chatId, 'chat')}/history`);
    }

    // ---- versions --------------------------------------------------------------------------

    /**
     * Versions of a chat, newest first.
     * @param {string} chatId
     * @param {{limit?: number, cursor?: string|null}} [options]
     * @returns {Promise<Page<ChatVersion>>}
     */
    async listVersions(chatId, options = {}) {
        return this.request('GET', `/chats/${segment(chatId, 'chat')}/versions`, { query: options });
    }

    /**
     * The URL of one version's file (for a download link; needs no header through the plugin).
     * @param {string} chatId
     * @param {number} version
     * @returns {string}
     */
    versionFileUrl(chatId, version) {
        return `${this.baseUrl}/chats/${segment(chatId, 'chat')}/versions/${position(version, 'version')}/file`;
    }

    /**
     * One version of a chat file, byte for byte. `fileName` is null when the browser may not
     * read `Content-Disposition` (a cross-origin call).
     * @param {string} chatId
     * @param {number} version
     * @returns {Promise<VersionFile>}
     */
    async getVersionFile(chatId, version) {
        const url = this.versionFileUrl(chatId, version);
        const { response, bytes } = await this._send('GET', url, undefined, true);
        return {
            fileName: fileNameFrom(response.headers.get('content-disposition')),
            bytes,
            text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes),
        };
    }

    /**
     * A per-message diff between two versions (default: against the one before; 0: empty).
     * @param {string} chatId
     * @param {number} version
     * @param {{against?: number}} [options]
     * @returns {Promise<VersionDiff>}
     */
    async diffVersions(chatId, version, { against } = {}) {
        const path = `/chats/${segment(chatId, 'chat')}/versions/${position(version, 'version')}/diff`;
        return this.request('GET', path, { query: { against } });
    }

    // ---- health ----------------------------------------------------------------------------

    /**
     * Counts, queue depth, last indexed time, lag, problems, watch mode, disk use.
     * @returns {Promise<JsonObject>}
     */
    async status() {
        return this.request('GET', '/status');
    }

    /**
     * `GET /healthz` (on sidecar's origin, so only when calling it directly): `{status: 'ok'}` or
     * `{status: 'unhealthy', reason}`; neither throws.
     * @returns {Promise<{status: 'ok'|'unhealthy', reason: string}>}
     */
    async health() {
        const url = `${this.baseUrl.slice(0, -API_PREFIX.length)}/healthz`;
        try {
            return await this._send('GET', url);
        } catch (error) {
            if (error instanceof SidecarError && error.status === 503 && error.body && typeof error.body === 'object') {
                return /** @type {any} */ (error.body);
            }
            throw error;
        }
    }

    // ---- change feed -----------------------------------------------------------------------

    /**
     * Follow the change feed (`GET /events`). `onEvent` gets each `change` and `reset` event
     * (after a `reset`, re-read what you cache). The feed reconnects by itself and resumes
     * after the last event it delivered.
     * @param {{chatId?: string, namespace?: string, lastEventId?: string|number|null}
     *   | ((event: FeedEvent) => void)} filter
     * @param {((event: FeedEvent) => void) | SubscribeOptions} [onEvent]
     * @param {SubscribeOptions} [options]
     * @returns {Subscription}
     */
    subscribe(filter, onEvent, options = {}) {
        if (typeof filter === 'function') {
            options = /** @type {SubscribeOptions} */ (onEvent ?? {});
            onEvent = filter;
            filter = {};
        }
        if (typeof onEvent !== 'function') throw new TypeError('subscribe needs an onEvent callback');
        const { chatId, namespace, lastEventId } = filter ?? {};
        const transport = options.transport ?? 'auto';
        const { hasToken, EventSource: EventSourceClass, fetch, headers } = this._feedTransport();
        if (transport === 'eventsource' && (hasToken || typeof EventSourceClass !== 'function')) {
            throw new TypeError(hasToken
                ? 'EventSource cannot send the token: use transport "fetch"'
                : 'no EventSource class available');
        }
        const useEventSource = transport === 'eventsource'
            || (transport === 'auto' && !hasToken && typeof EventSourceClass === 'function');
        const subscription = new Subscription(lastEventId == null ? null : String(lastEventId));
        const deliver = deliverer(subscription, onEvent, options.onError);
        const url = `${this.baseUrl}/events`;
        const run = useEventSource
            ? runEventSource(EventSourceClass, url, { chatId, namespace }, subscription, deliver, options, { fetch, headers })
            : runFetchFeed({
                url: url + queryString({ chatId, namespace }),
                base: this.baseUrl,
                fetch,
                headers,
                subscription,
                deliver,
                options,
            });
        run.catch((error) => report(options.onError, error));
        return subscription;
    }
}
