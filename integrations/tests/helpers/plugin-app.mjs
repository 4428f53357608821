// Test helper: the proxy plugin loaded and mounted the way SillyTavern does it, in a real Express 4
// app on 127.0.0.1, plus small readers for HTTP answers and Server-Sent Events.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import compression from 'compression';
import express from 'express';

import { PREFIX } from './sidecar.mjs';

/** The plugin module, required like SillyTavern's plugin loader does (CommonJS). */
export const plugin = createRequire(import.meta.url)('../../sillytavern-plugin/index.js');

/** A logger that keeps what the plugin logs (and prints nothing). */
export function captureLogger() {
    const lines = [];
    const keep = (level) => (...args) => lines.push(`${level}: ${args.join(' ')}`);
    return { lines, log: keep('log'), warn: keep('warn'), error: keep('error') };
}

/** An empty folder, used as the plugin's config folder so no stray config.json applies. */
export function emptyFolder() {
    return mkdtemp(join(tmpdir(), 'sidecar-plugin-'));
}

/**
 * An Express app like SillyTavern's: optional global response compression (SillyTavern uses
 * `compression()`) and JSON body parser, a user middleware that
 * sets `request.user.profile.handle` (change it with `setUser`; null = no user), then the
 * plugin's router at `/api/plugins/valuetracker`.
 *
 * @param {{env: Record<string, string>, parseJson?: boolean, compress?: boolean, user?: string|null,
 *   folder?: string}} options
 */
export async function startPluginApp({ env, parseJson = false, compress = false, user = 'alice', folder } = {}) {
    const state = { user };
    const logger = captureLogger();
    const app = express();
    if (compress) app.use(compression());
    if (parseJson) app.use(express.json({ limit: '10mb' }));
    app.use((request, _response, next) => {
        if (state.user !== null) request.user = { profile: { handle: state.user } };
        next();
    });
    const router = express.Router();
    await plugin.init(router, { env, folder: folder ?? (await emptyFolder()), logger });
    app.use(PREFIX, router);
    const server = await new Promise((resolve, reject) => {
        const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
        listening.once('error', reject);
    });
    const { port } = server.address();
    return {
        url: `http://127.0.0.1:${port}`,
        logger,
        setUser(handle) {
            state.user = handle;
        },
        close() {
            return new Promise((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            });
        },
    };
}

/** `{status, contentType, text, json}` of a fetch answer (`json` is undefined unless it parses). */
export async function readAnswer(response) {
    const text = await response.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: response.status, contentType: response.headers.get('content-type'), text, json };
}

/** Reads Server-Sent Events from a fetch answer: `next(predicate, timeoutMs)` resolves the first matching message. */
export function sseReader(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let ended = false;
    const parse = (block) => {
        const message = { id: null, event: 'message', data: null, comment: false };
        for (const line of block.split('\n')) {
            if (line.startsWith(':')) message.comment = true;
            else if (line.startsWith('id: ')) message.id = Number(line.slice(4));
            else if (line.startsWith('event: ')) message.event = line.slice(7);
            else if (line.startsWith('data: ')) message.data = JSON.parse(line.slice(6));
        }
        return message;
    };
    let pending = null; // a read outlives a timeout, so its chunk is never lost
    let failure = null; // why the stream broke off, when it did not end cleanly
    const readFor = async (ms) => {
        pending ??= reader.read().then((chunk) => {
            pending = null;
            if (chunk.done) ended = true;
            else buffer += decoder.decode(chunk.value, { stream: true });
        }, (error) => {
            pending = null;
            ended = true;
            failure = error;
        });
        let timer;
        await Promise.race([pending, new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
        clearTimeout(timer);
    };
    return {
        get ended() {
            return ended;
        },
        /** The error the stream broke off with, or null (still open, or ended cleanly). */
        get failure() {
            return failure;
        },
        /** The next message matching `predicate`; rejects on timeout or when the stream ends first. */
        async next(predicate = () => true, timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                let cut;
                while ((cut = buffer.indexOf('\n\n')) !== -1) {
                    const message = parse(buffer.slice(0, cut));
                    buffer = buffer.slice(cut + 2);
                    if (predicate(message)) return message;
                }
                if (ended) throw new Error('the event stream ended before the expected message');
                const left = deadline - Date.now();
                if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms`);
                await readFor(left);
            }
        },
        /** Resolves `true` once the stream has ended, `false` after `timeoutMs`. */
        async waitEnd(timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            while (!ended) {
                const left = deadline - Date.now();
                if (left <= 0) return false;
                await readFor(left);
            }
            return true;
        },
        cancel() {
            return reader.cancel().catch(() => {});
        },
    };
}

/**
 * A TCP port where a connect hangs: a Python process listens with a backlog of 0 and never
 * accepts, and one connection fills the accept queue, so Linux drops further SYNs.
 * Returns null when no Python is available.
 */
export async function hangingPort() {
    const sidecarCmd = process.env.SIDECAR_CMD;
    const venvPython = sidecarCmd ? join(dirname(sidecarCmd), 'python') : null;
    const python = venvPython && existsSync(venvPython) ? venvPython : 'python3';
    const script = [
        'import socket, sys',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(0)',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
    ].join('\n');
    const child = spawn(python, ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const port = await new Promise((resolve) => {
        child.once('error', () => resolve(null));
        child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
    });
    if (port === null) return null;
    // With a backlog of 0 the accept queue holds one connection: once this one is in, it is full.
    const filler = connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => {
        filler.once('connect', resolve);
        filler.once('error', reject);
    });
    return {
        port,
        stop() {
            filler.destroy();
            child.stdin.end();
            child.kill();
        },
    };
}
