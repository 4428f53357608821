// errors.js: the errors every client method throws, and how they are made from a failed request.

/** Every non-2xx answer from sidecar (or from the proxy plugin in front of it). */
export class SidecarError extends Error {
    /**
     * @param {number} status the HTTP status (0 for a network failure)
     * @param {string} error the server's `error` message (or a description of the failure)
     * @param {{method?: string, url?: string, body?: unknown, cause?: unknown}} [details]
     */
    constructor(status, error, details = {}) {
        super(status === 0 ? error : `${error} (HTTP ${status})`, { cause: details.cause });
        this.name = 'SidecarError';
        /** @type {number} */
        this.status = status;
        /** @type {string} */
        this.error = error;
        /** @type {string|undefined} */
        this.method = details.method;
        /** @type {string|undefined} */
        this.url = details.url;
        /** @type {unknown} the parsed error body, if any */
        this.body = details.body;
    }
}

/** sidecar could not be reached or did not answer in time (`status` is 0). */
export class SidecarNetworkError extends SidecarError {
    /**
     * @param {string} message
     * @param {{method?: string, url?: string, cause?: unknown}} [details]
     */
    constructor(message, details = {}) {
        super(0, message, details);
        this.name = 'SidecarNetworkError';
    }
}

/** The SidecarError for a non-2xx `response` (its `error` field, else its text or status). */
export async function errorFrom(response, method, url) {
    let text = '';
    try {
        text = await response.text();
    } catch {
        // the body is gone; the status says enough
    }
    let body = null;
    try {
        body = text ? JSON.parse(text) : null;
    } catch {
        body = null;
    }
    let message = body && typeof body.error === 'string' ? body.error : '';
    if (!message) message = text.trim().slice(0, 200) || response.statusText || 'Request failed';
    return new SidecarError(response.status, message, { method, url, body });
}

/** The SidecarNetworkError for a fetch that threw `cause` (refused, reset, DNS...). */
export function networkError(cause, method, url, base) {
    const reason = cause?.cause?.code || cause?.cause?.message || cause?.message || String(cause);
    return new SidecarNetworkError(`sidecar is not reachable at ${base}: ${reason}`, { method, url, cause });
}
