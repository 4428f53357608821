'use strict';
// SillyTavern server plugin: forwards /api/plugins/valuetracker/* to the sidecar daemon, adding
// the logged-in SillyTavern user and sidecar's token, so browser extensions reach sidecar through
// SillyTavern's own origin, login and CSRF checks. No dependencies: Node's http/https only.

const http = require('node:http');
const https = require('node:https');
const { resolveConfig } = require('./config');

const PREFIX = '/api/plugins/valuetracker';
const LOG_PREFIX = '[sidecar-proxy]';
const USER_HEADER = 'x-sillytavern-user';
/** Request headers passed on to sidecar; everything else (cookies, CSRF token, authorization) stays behind. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'content-length', 'accept', 'x-extension-id', 'last-event-id'];
/** RFC 9110 7.6.1 hop-by-hop headers, never copied from sidecar's response. */
const HOP_BY_HOP = new Set([
    'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
    'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

const info = {
    id: 'valuetracker',
    name: 'Value Tracker (sidecar proxy)',
    description: 'Forwards the value-tracker API and the chat index of the sidecar daemon to SillyTavern extensions.',
};

/** Proxies created by init(); exit() closes what they have open. */
const proxies = new Set();

function sendError(res, status, message) {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    const body = JSON.stringify({ error: message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
}

/** Whether the browser's request carries a body (a length of 0 is none; body-parser counts it). */
function hasBody(req) {
    return req.headers['transfer-encoding'] !== undefined
        || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/** The headers sent to sidecar: an allow-list of the browser's, plus the user and the token. */
function upstreamHeaders(req, token) {
    const headers = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
        if (req.headers[name] !== undefined) headers[name] = req.headers[name];
    }
    const handle = req.user?.profile?.handle;
    if (typeof handle === 'string' && handle !== '') headers[USER_HEADER] = handle;
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
}

/**
 * The body to send when a body parser that ran before the plugin already consumed the request
 * stream (then `headers` gets a matching length and type), or null to stream the raw body.
 */
function bodyOf(req, headers) {
    if (!(req._body === true || req.readableEnded)) {
        if (req.headers['transfer-encoding'] !== undefined && headers['content-length'] === undefined) {
            headers['transfer-encoding'] = 'chunked'; // stream it on as it comes, whatever the method
        }
        return null;
    }
    delete headers['content-length']; // the stream is gone; only what the parser kept can be sent
    if (!hasBody(req) || req.body === undefined) return null;
    let body;
    if (Buffer.isBuffer(req.body)) body = req.body;
    else if (typeof req.body === 'string') body = Buffer.from(req.body);
    else {
        body = Buffer.from(JSON.stringify(req.body));
        headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(body.length);
    return body;
}

/** Sidecar's response headers without hop-by-hop ones (including those named in `Connection`). */
function downstreamHeaders(upstreamRes) {
    const named = String(upstreamRes.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
    const headers = {};
    for (const [name, value] of Object.entries(upstreamRes.headers)) {
        if (!HOP_BY_HOP.has(name) && !named.includes(name)) headers[name] = value;
    }
    return headers;
}

/**
 * Build the proxy's request handler for one configuration.
 *
 * @param {{url: string, token: string|null, connectTimeoutMs: number, responseTimeoutMs: number}} config
 * @param {{log: Function, warn: Function}} [logger]
 * @returns {{handle: (req: any, res: any) => void, close: () => void, open: () => number}}
 *   `handle` answers one request; `close` stops every upstream request and ends every response in
 *   flight; `open` counts them.
 */
function createProxy(config, logger = console) {
    const base = new URL(config.url);
    const transport = base.protocol === 'https:' ? https : http;
    const basePath = base.pathname.replace(/\/+$/, '');
    const agent = new transport.Agent({ keepAlive: false });
    const unreachable = `sidecar is not reachable at ${config.url}`;
    const inFlight = new Map(); // upstream request -> browser response, until one of them ends
    let down = false; // log when sidecar becomes unreachable and when it is back, not per request

    function handle(req, res) {
        const headers = upstreamHeaders(req, config.token);
        const body = bodyOf(req, headers);
        const upstream = transport.request({
            protocol: base.protocol,
            hostname: base.hostname,
            port: base.port,
            method: req.method,
            path: basePath + PREFIX + req.url,
            headers,
            agent,
        });
        inFlight.set(upstream, res);
        const timers = [];
        /** Stop tracking; true if this call did it (later error/close events are then ignored). */
        const finish = () => {
            timers.forEach(clearTimeout);
            return inFlight.delete(upstream);
        };

        upstream.on('socket', (socket) => {
            if (!socket.connecting) return;
            const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), config.connectTimeoutMs);
            timers.push(timer);
            socket.once('connect', () => clearTimeout(timer));
        });
        // No deadline for the change feed: it is meant to stay open.
        if (!(req.method === 'GET' && /^\/events\/?(\?|$)/.test(req.url))) {
            timers.push(setTimeout(() => {
                if (!finish()) return;
                upstream.destroy();
                logger.warn(`${LOG_PREFIX} ${req.method} ${PREFIX}${req.url}: no answer from sidecar within ${config.responseTimeoutMs} ms`);
                sendError(res, 504, `sidecar did not answer within ${config.responseTimeoutMs} ms`);
            }, config.responseTimeoutMs));
        }
        upstream.on('error', (error) => {
            if (!finish()) return;
            if (res.headersSent) {
                res.destroy();
                return;
            }
            if (!down) {
                logger.warn(`${LOG_PREFIX} ${req.method} ${PREFIX}${req.url}: ${unreachable} (${error.code ?? error.message}); answering 502 until it is back`);
                down = true;
            }
            sendError(res, 502, unreachable);
        });
        upstream.on('response', (upstreamRes) => {
            timers.forEach(clearTimeout);
            if (down) {
                logger.log(`${LOG_PREFIX} sidecar at ${config.url} answers again`);
                down = false;
            }
            const out = downstreamHeaders(upstreamRes);
            const eventStream = String(upstreamRes.headers['content-type'] ?? '').startsWith('text/event-stream');
            if (eventStream) out['cache-control'] = 'no-cache, no-transform'; // no compression buffering
            res.writeHead(upstreamRes.statusCode, out);
            if (eventStream) res.flushHeaders();
            upstreamRes.on('data', (chunk) => {
                // Backpressure for ordinary bodies; each SSE chunk goes out at once.
                if (!res.write(chunk) && !eventStream) {
                    upstreamRes.pause();
                    res.once('drain', () => upstreamRes.resume());
                }
                if (eventStream && typeof res.flush === 'function') res.flush();
            });
            upstreamRes.on('end', () => {
                finish();
                res.end();
            });
            upstreamRes.on('error', () => {}); // followed by 'close', handled there
            upstreamRes.on('close', () => {
                if (!finish()) return;
                // sidecar went away mid-response: end a stream cleanly (EventSource reconnects),
                // cut anything else short so the browser does not take it for a whole answer.
                if (eventStream) res.end();
                else res.destroy();
            });
        });
        // The browser went away before the answer was complete: stop talking to sidecar.
        res.on('close', () => {
            if (finish()) upstream.destroy();
        });

        if (body !== null) upstream.end(body);
        else if (!req.readableEnded && hasBody(req)) req.pipe(upstream);
        else upstream.end();
    }

    function close() {
        for (const [upstream, res] of inFlight) {
            inFlight.delete(upstream);
            upstream.destroy();
            if (res.headersSent) res.end();
            else sendError(res, 503, 'SillyTavern is shutting down');
        }
    }

    return { handle, close, open: () => inFlight.size };
}

/**
 * SillyTavern calls `init(router)` and mounts the router at `/api/plugins/valuetracker`; every
 * method and path under it is forwarded to sidecar's same path.
 *
 * @param {import('express').Router} router the plugin's router
 * @param {{env?: Record<string, string|undefined>, folder?: string, logger?: {log: Function,
 *   warn: Function, error: Function}}} [options] for tests: the environment and config folder
 *   to read instead of `process.env` and this folder, and where to log
 * @returns {Promise<void>}
 */
async function init(router, options = {}) {
    const { env = process.env, folder = __dirname, logger = console } = options;
    const { config, sources, errors } = resolveConfig(env, folder);
    for (const error of errors) logger.error(`${LOG_PREFIX} configuration: ${error}`);
    const proxy = createProxy(config, logger);
    proxies.add(proxy);
    router.use((req, res) => {
        try {
            proxy.handle(req, res);
        } catch (error) {
            // Node refuses to send it (e.g. a header value it cannot encode): the request is at fault.
            sendError(res, 400, `cannot forward this request: ${error.message}`);
        }
    });
    logger.log(
        `${LOG_PREFIX} forwarding ${PREFIX}/* to ${config.url}${PREFIX}/* (url from ${sources.url}; `
        + `token ${config.token ? `set, from ${sources.token}` : 'not set'}; connect timeout ${config.connectTimeoutMs} ms)`,
    );
}

/**
 * Called by SillyTavern on shutdown: closes every open upstream request and ends every open
 * (streamed) response.
 *
 * @returns {Promise<void>}
 */
async function exit() {
    for (const proxy of proxies) proxy.close();
}

/** How many requests to sidecar are open right now, over every init() (for tests and diagnostics). */
function openRequests() {
    let count = 0;
    for (const proxy of proxies) count += proxy.open();
    return count;
}

module.exports = { info, init, exit, openRequests, resolveConfig, createProxy, PREFIX };
