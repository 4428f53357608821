// http.js: what every request needs: URL, path segment and key encoding, headers, query strings,
// and BaseClient, which sends a request and turns the answer into JSON or a SidecarError.

import { SidecarError, SidecarNetworkError, errorFrom, networkError } from './errors.js';

/** @typedef {import('./types.js').ClientOptions} ClientOptions */

/** The URL prefix every sidecar route lives under. */
export const API_PREFIX = '/api/plugins/valuetracker';

const DEFAULT_TIMEOUT_MS = 30000;

/** A path segment: URL-encoded; empty, `.` and `..` would change the path, so refused. */
export function segment(value, what) {
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || text === '' || text === '.' || text === '..') {
        throw new SidecarError(400, what === 'namespace' ? 'Invalid namespace' : `Invalid ${what} ID`, { body: null });
    }
    return encodeURIComponent(text);
}

/** A message position or version number (a non-negative integer, or its decimal string). */
export function position(value, what = 'message position') {
    const number = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
    if (!Number.isSafeInteger(number) || number < 0) {
        throw new SidecarError(400, `Invalid ${what} (a non-negative integer)`, { body: null });
    }
    return String(number);
}

export function checkKey(key) {
    if (typeof key !== 'string' || key === '') {
        throw new SidecarError(400, 'Data key must be a non-empty string', { body: null });
    }
    return key;
}

/** `.` and `..` cannot travel as a URL path segment (even as `%2E`): URLs resolve them. */
export function isDotKey(key) {
    return key === '.' || key === '..';
}

export function keyNotFound() {
    return new SidecarError(404, 'Data key not found', { body: { error: 'Data key not found' } });
}

/** `object[key]`, or the 404 sidecar gives for a key that is not there. */
export function pick(object, key) {
    if (!Object.hasOwn(object, key)) throw keyNotFound();
    return object[key];
}

export function queryString(params) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params ?? {})) {
        if (value !== undefined && value !== null) search.set(name, String(value));
    }
    const text = search.toString();
    return text ? `?${text}` : '';
}

function normalizeBase(baseUrl) {
    const base = (baseUrl ?? API_PREFIX).replace(/\/+$/, '');
    return base.endsWith(API_PREFIX) ? base : base + API_PREFIX;
}

function addHeaders(target, source) {
    if (!source) return;
    const entries = [];
    if (Array.isArray(source)) entries.push(...source);
    else if (typeof source.forEach === 'function') source.forEach((value, name) => entries.push([name, value]));
    else entries.push(...Object.entries(source));
    for (const [name, value] of entries) {
        if (value !== undefined && value !== null) target.set(name, String(value));
    }
}

export function fileNameFrom(disposition) {
    if (!disposition) return null;
    const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
    if (extended) {
        try {
            return decodeURIComponent(extended[1].trim());
        } catch {
            // fall through to the plain name
        }
    }
    const plain = /filename\s*=\s*"([^"]*)"/i.exec(disposition) ?? /filename\s*=\s*([^;]+)/i.exec(disposition);
    return plain ? plain[1].trim() : null;
}

/** The path of one message of a chat (its position checked). */
export function messagePath(chatId, messagePosition) {
    return `/chats/${segment(chatId, 'chat')}/messages/${position(messagePosition)}`;
}

/** The request plumbing every client builds on: options, headers, timeouts, errors. */
export class BaseClient {
    #fetch;
    #headers;
    #token;
    #EventSource;
    #timeoutMs;

    /** @param {ClientOptions} [options] */
    constructor(options = {}) {
        /** @type {string} the API base, ending in `/api/plugins/valuetracker` */
        this.baseUrl = normalizeBase(options.baseUrl);
        /** @type {string|null} sent as `x-extension-id` */
        this.extensionId = options.extensionId ?? null;
        const fetchImpl = options.fetch ?? globalThis.fetch;
        if (typeof fetchImpl !== 'function') throw new TypeError('sidecar-client needs fetch (Node 18+ or a browser)');
        this.#fetch = (input, init) => fetchImpl.call(globalThis, input, init);
        this.#headers = options.headers;
        this.#token = options.token ?? null;
        this.#EventSource = options.EventSource ?? null;
        this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    }

    async #headersFor({ json = false, accept = 'application/json', extra = {} } = {}) {
        const headers = new Headers();
        addHeaders(headers, typeof this.#headers === 'function' ? await this.#headers() : this.#headers);
        if (json) headers.set('content-type', 'application/json');
        else headers.delete('content-type');
        headers.set('accept', accept);
        if (this.#token) headers.set('authorization', `Bearer ${this.#token}`);
        if (this.extensionId) headers.set('x-extension-id', this.extensionId);
        addHeaders(headers, extra);
        return headers;
    }

    /**
     * Send one request and return the parsed JSON answer (undefined for 204).
     * @param {string} method
     * @param {string} path under the API base, already encoded
     * @param {{query?: object, body?: unknown, raw?: boolean}} [options] `raw`: return
     *   `{response, bytes}` instead of JSON
     * @returns {Promise<any>}
     */
    async request(method, path, { query, body, raw = false } = {}) {
        const url = this.baseUrl + path + queryString(query);
        return this._send(method, url, body, raw);
    }

    /**
     * @internal Send one request to a full URL (not only under the API base); as `request`.
     * @param {string} method
     * @param {string} url
     * @param {unknown} [body]
     * @param {boolean} [raw]
     * @returns {Promise<any>}
     */
    async _send(method, url, body, raw = false) {
        const headers = await this.#headersFor({ json: body !== undefined });
        const controller = new AbortController();
        const timer = this.#timeoutMs > 0 ? setTimeout(() => controller.abort(), this.#timeoutMs) : null;
        try {
            let response;
            try {
                response = await this.#fetch(url, {
                    method,
                    headers,
                    body: body === undefined ? undefined : JSON.stringify(body),
                    signal: controller.signal,
                });
            } catch (error) {
                throw this.#failure(error, controller, method, url);
            }
            try {
                if (!response.ok) throw await errorFrom(response, method, url);
                if (raw) return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
                if (response.status === 204) return undefined;
                const text = await response.text();
                try {
                    return JSON.parse(text);
                } catch {
                    const type = response.headers.get('content-type') || 'no content type';
                    throw new SidecarError(response.status, `Expected JSON from sidecar, got ${type}`, { method, url });
                }
            } catch (error) {
                if (error instanceof SidecarError) throw error;
                throw this.#failure(error, controller, method, url);
            }
        } finally {
            if (timer !== null) clearTimeout(timer);
        }
    }

    /**
     * @internal What the change feed's transports need from the client.
     * @returns {{hasToken: boolean, EventSource: any, fetch: typeof fetch,
     *   headers: (extra: HeadersInit) => Promise<Headers>}}
     */
    _feedTransport() {
        return {
            hasToken: Boolean(this.#token),
            EventSource: this.#EventSource ?? globalThis.EventSource,
            fetch: this.#fetch,
            headers: (extra) => this.#headersFor({ accept: 'text/event-stream', extra }),
        };
    }

    #failure(error, controller, method, url) {
        if (controller.signal.aborted) {
            return new SidecarNetworkError(`sidecar did not answer within ${this.#timeoutMs} ms (${method} ${url})`, {
                method,
                url,
                cause: error,
            });
        }
        return networkError(error, method, url, this.baseUrl);
    }
}
