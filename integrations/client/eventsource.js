// eventsource.js: the change feed over the browser's EventSource (used without a token).
import { SidecarError, SidecarNetworkError, errorFrom } from './errors.js';
import { queryString } from './http.js';
import { FATAL_FEED_STATUSES, FEED_MAX_RETRY_MS, FEED_RETRY_MS, FEED_TYPES, report, sleep } from './sse.js';

const EVENTSOURCE_CLOSED = 2;

/**
 * The EventSource transport: the browser's reconnection, plus ours when it gives up.
 *
 * A browser's EventSource never says why it failed: on a 4xx/5xx answer it just closes
 * (`readyState` CLOSED) and fires a bare `error` event (only some Node polyfills add a `code`).
 * So when it closes, the client asks once itself, with `fetch`: a 4xx means the subscription can
 * never work (it ends, and `ready` rejects with that `SidecarError`); anything else (a 5xx such as
 * the proxy plugin's 502 while sidecar is down, a network failure, an answer that is a stream
 * after all) is retried with a doubling delay.
 */
export async function runEventSource(EventSourceClass, url, filter, subscription, deliver, options, probe) {
    let delay = options.retryMs ?? FEED_RETRY_MS;
    let source = null;
    const connect = () => {
        if (subscription.closed) return;
        const target = url + queryString({ ...filter, lastEventId: subscription.lastEventId || undefined });
        source = new EventSourceClass(target);
        const current = source;
        current.addEventListener('open', () => {
            delay = options.retryMs ?? FEED_RETRY_MS;
            options.onOpen?.();
        });
        for (const type of FEED_TYPES) {
            current.addEventListener(type, (event) => deliver(type, event.lastEventId, event.data));
        }
        current.addEventListener('error', async (event) => {
            if (subscription.closed || current !== source) return;
            const detail = event?.message ? `: ${event.message}` : '';
            if (current.readyState !== EVENTSOURCE_CLOSED) { // the browser reconnects by itself
                report(options.onError, new SidecarNetworkError(`change feed connection lost${detail}; reconnecting`));
                return;
            }
            current.close();
            const refusal = typeof event?.code === 'number' && event.code >= 400
                ? new SidecarError(event.code, `change feed refused${detail}`)
                : await whyRefused(probe, target, subscription.signal);
            if (subscription.closed) return;
            if (refusal !== null && FATAL_FEED_STATUSES.has(refusal.status)) {
                report(options.onError, refusal);
                subscription._failed(refusal);
                return;
            }
            report(options.onError, refusal ?? new SidecarNetworkError(`change feed connection lost${detail}; reconnecting`));
            await sleep(delay, subscription.signal);
            delay = Math.min(delay * 2, FEED_MAX_RETRY_MS);
            connect();
        });
    };
    subscription.signal.addEventListener('abort', () => source?.close());
    connect();
}

/**
 * Ask the feed's URL once with `fetch`, to learn why an EventSource gave up: the `SidecarError`
 * of a non-2xx answer (with the server's message), or null when the request fails or is
 * answered with a stream (then the connection just dropped: retry).
 */
async function whyRefused(probe, target, signal) {
    if (typeof probe?.fetch !== 'function') return null;
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal.addEventListener('abort', abort);
    try {
        const response = await probe.fetch(target, { method: 'GET', headers: await probe.headers({}), signal: controller.signal });
        if (response.ok) {
            await response.body?.cancel();
            return null;
        }
        return await errorFrom(response, 'GET', target);
    } catch {
        return null;
    } finally {
        signal.removeEventListener('abort', abort);
        controller.abort();
    }
}
