// sse.js: the change feed's client side: an incremental `text/event-stream` parser, the
// Subscription handle, and the fetch-based transport (the EventSource one is in eventsource.js).

import { SidecarError, SidecarNetworkError, errorFrom, networkError } from './errors.js';

export const FEED_RETRY_MS = 1000;
export const FEED_MAX_RETRY_MS = 30000;
const FEED_STALE_MS = 90000;
/** The stream's message types the client reads (`position`: its start, never delivered). */
export const FEED_TYPES = new Set(['change', 'reset', 'position']);
export const FATAL_FEED_STATUSES = new Set([400, 401, 403, 404, 405, 410]);

/**
 * An incremental `text/event-stream` parser (the WHATWG algorithm): feed it chunks split
 * anywhere, even inside a line, a CRLF or a UTF-8 character.
 *
 * @param {(message: {event: string, data: string, id: string}) => void} onMessage called for each
 *   complete message (`event` defaults to `message`; `id` is the last event id, which a message
 *   only sets once it is complete)
 * @param {{onComment?: (text: string) => void, onRetry?: (ms: number) => void,
 *   lastEventId?: string}} [options]
 * @returns {{push: (chunk: string|Uint8Array) => void, end: () => void, readonly lastEventId: string}}
 */
export function createSseParser(onMessage, options = {}) {
    const decoder = new TextDecoder('utf-8');
    let buffer = '';
    let started = false;
    let afterCR = false;
    let data = [];
    let event = '';
    let lastEventId = options.lastEventId ?? '';
    let idBuffer = lastEventId; // becomes the last event id when its message ends

    function line(text) {
        if (text === '') {
            lastEventId = idBuffer;
            if (data.length > 0) {
                const message = { event: event || 'message', data: data.join('\n'), id: lastEventId };
                data = [];
                event = '';
                onMessage(message);
            }
            data = [];
            event = '';
            return;
        }
        if (text.startsWith(':')) {
            options.onComment?.(text.slice(1).replace(/^ /, ''));
            return;
        }
        const colon = text.indexOf(':');
        const field = colon === -1 ? text : text.slice(0, colon);
        let value = colon === -1 ? '' : text.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') {
            if (!value.includes('\0')) idBuffer = value;
        } else if (field === 'retry' && /^[0-9]+$/.test(value)) options.onRetry?.(Number(value));
    }

    function feed(text) {
        if (!started && text.length > 0) {
            started = true;
            if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        }
        if (afterCR && text.startsWith('\n')) text = text.slice(1);
        afterCR = false;
        buffer += text;
        let start = 0;
        for (;;) {
            const cr = buffer.indexOf('\r', start);
            const lf = buffer.indexOf('\n', start);
            const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
            if (end === -1) break;
            line(buffer.slice(start, end));
            if (buffer[end] === '\r') {
                if (end + 1 === buffer.length) {
                    afterCR = true;
                    start = end + 1;
                    break;
                }
                start = buffer[end + 1] === '\n' ? end + 2 : end + 1;
            } else {
                start = end + 1;
            }
        }
        buffer = buffer.slice(start);
    }

    return {
        push(chunk) {
            feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
        },
        end() {
            feed(decoder.decode());
            buffer = ''; // an unterminated message is dropped, as the standard says
            data = [];
            event = '';
            idBuffer = lastEventId;
        },
        get lastEventId() {
            return lastEventId;
        },
    };
}

/** A live change-feed subscription; call `close()` to end it. */
export class Subscription {
    #closed = false;
    #stop = new AbortController();
    #resolveReady;
    #rejectReady;
    #opened = false;
    /** @type {string} */
    lastEventId;

    /** @param {string|null} lastEventId */
    constructor(lastEventId) {
        this.lastEventId = lastEventId ?? '';
        /**
         * Resolves when the feed is first connected and knows its position (sidecar's first
         * message): changes made after that are delivered, even if the connection drops.
         */
        this.ready = new Promise((resolve, reject) => {
            this.#resolveReady = resolve;
            this.#rejectReady = reject;
        });
        this.ready.catch(() => {}); // a subscription nobody awaits must not warn
    }

    /** @returns {boolean} true once `close()` was called or a fatal error ended the feed. */
    get closed() {
        return this.#closed;
    }

    /** @returns {AbortSignal} aborted when the subscription closes (for the transports). */
    get signal() {
        return this.#stop.signal;
    }

    /** Stop the feed: no event is delivered after this returns. */
    close() {
        if (this.#closed) return;
        this.#closed = true;
        this.#stop.abort();
        if (!this.#opened) this.#rejectReady(new DOMException('subscription closed before it connected', 'AbortError'));
    }

    /** @internal */
    _opened() {
        this.#opened = true;
        this.#resolveReady();
    }

    /** @internal @param {SidecarError} error */
    _failed(error) {
        if (!this.#opened) this.#rejectReady(error);
        this.close();
    }
}

export function deliverer(subscription, onEvent, onError) {
    return (type, id, data) => {
        if (subscription.closed || !FEED_TYPES.has(type)) return;
        if (id) subscription.lastEventId = id;
        if (type === 'position') { // where the stream starts: remembered, to resume from, not delivered
            subscription._opened();
            return;
        }
        let parsed;
        try {
            parsed = JSON.parse(data);
        } catch {
            report(onError, new SidecarError(0, `change feed sent invalid JSON: ${String(data).slice(0, 100)}`));
            return;
        }
        try {
            onEvent({ type, id: Number(id), data: parsed });
        } catch (error) {
            report(onError, error);
        }
    };
}

export function report(onError, error) {
    if (onError) {
        try {
            onError(error);
            return;
        } catch (inner) {
            error = inner;
        }
    }
    console.error('[sidecar-client]', error);
}

/**
 * The fetch transport: reads the stream itself (so it can send `Authorization`), reconnects
 * with `Last-Event-ID` after a drop, a 5xx or a silent connection, with a doubling delay.
 */
export async function runFetchFeed({ url, base, fetch, headers, subscription, deliver, options }) {
    const onError = (error) => report(options.onError, error);
    const staleMs = options.staleMs ?? FEED_STALE_MS;
    let retryMs = options.retryMs ?? FEED_RETRY_MS;
    let delay = retryMs;
    while (!subscription.closed) {
        const connection = new AbortController();
        const abort = () => connection.abort();
        subscription.signal.addEventListener('abort', abort);
        let watchdog = null;
        let stale = false;
        const arm = () => {
            clearTimeout(watchdog);
            if (staleMs > 0) watchdog = setTimeout(() => { stale = true; connection.abort(); }, staleMs);
        };
        try {
            const extra = subscription.lastEventId ? { 'last-event-id': subscription.lastEventId } : {};
            const init = { method: 'GET', headers: await headers(extra), signal: connection.signal };
            arm();
            const response = await fetch(url, init);
            if (!response.ok) {
                const error = await errorFrom(response, 'GET', url);
                if (!FATAL_FEED_STATUSES.has(response.status)) throw error;
                onError(error);
                subscription._failed(error);
                return;
            }
            const type = response.headers.get('content-type') || 'no content type';
            if (!type.startsWith('text/event-stream') || !response.body) {
                await response.body?.cancel();
                throw new SidecarError(response.status, `Expected text/event-stream, got ${type}`);
            }
            options.onOpen?.();
            delay = retryMs;
            const parser = createSseParser((message) => deliver(message.event, message.id, message.data), {
                lastEventId: subscription.lastEventId,
                onRetry: (ms) => { retryMs = ms; },
            });
            const reader = response.body.getReader();
            for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
                arm();
                parser.push(chunk.value);
            }
            parser.end();
            if (!subscription.closed) onError(new SidecarNetworkError('change feed ended; reconnecting'));
        } catch (error) {
            if (subscription.closed) return;
            if (stale) onError(new SidecarNetworkError(`change feed silent for ${staleMs} ms; reconnecting`));
            else onError(error instanceof SidecarError ? error : networkError(error, 'GET', url, base));
        } finally {
            clearTimeout(watchdog);
            subscription.signal.removeEventListener('abort', abort);
            connection.abort();
        }
        await sleep(delay, subscription.signal);
        delay = Math.min(delay * 2, FEED_MAX_RETRY_MS);
    }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal.aborted) return resolve();
        const timer = setTimeout(done, ms);
        function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
        }
        signal.addEventListener('abort', done);
    });
}
