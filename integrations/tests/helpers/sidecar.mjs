// Test helper: a real `sidecar run` on 127.0.0.1 with its own temporary folders.
//
// The command comes from SIDECAR_CMD (the pytest wrapper sets it to the virtualenv's `sidecar`);
// without it, `sidecar` is looked up on PATH.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PREFIX = '/api/plugins/valuetracker';

/** A TCP port that was free a moment ago. */
export function freePort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

/** Poll `condition()` (sync or async) until it is truthy; reject after `timeoutMs`. */
export async function waitFor(condition, { timeoutMs = 15000, intervalMs = 25, what = 'condition' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (await condition()) return;
        if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
}

async function answers(url) {
    try {
        const response = await fetch(`${url}${PREFIX}/probe`);
        return response.status === 204;
    } catch {
        return false;
    }
}

/**
 * Start `sidecar run` with a fresh database folder and SillyTavern data root.
 *
 * @param {{token?: string|null, watchMode?: string}} [options]
 * @returns {Promise<{url: string, port: number, token: string|null, dataRoot: string,
 *   databaseDir: string, output: () => string, stop: () => Promise<void>}>}
 */
export async function startSidecar({ token = null, watchMode = 'native' } = {}) {
    const home = await mkdtemp(join(tmpdir(), 'sidecar-node-'));
    const dataRoot = join(home, 'st-data');
    const databaseDir = join(home, 'databases');
    await mkdir(join(dataRoot, 'default-user', 'chats'), { recursive: true });
    const port = await freePort();
    const config = [
        'api:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        `  token: ${token === null ? 'null' : JSON.stringify(token)}`,
        'storage:',
        `  database_dir: ${JSON.stringify(databaseDir)}`,
        'sillytavern:',
        `  data_root: ${JSON.stringify(dataRoot)}`,
        'watch:',
        `  mode: ${watchMode}`,
        '  quiet_period_ms: 50',
        '  max_wait_ms: 500',
        'events:',
        '  heartbeat_seconds: 1',
        '',
    ].join('\n');
    const configPath = join(home, 'config.yaml');
    await writeFile(configPath, config);

    const command = process.env.SIDECAR_CMD || 'sidecar';
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET; // never talk to a real systemd from a test
    const child = spawn(command, ['run', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const url = `http://127.0.0.1:${port}`;
    let done = false;
    exited.then(() => { done = true; });
    try {
        await waitFor(async () => done || (await answers(url)), {
            timeoutMs: 60000,
            what: 'sidecar answering /probe',
        });
    } catch (error) {
        child.kill('SIGKILL');
        throw new Error(`${error.message}\n--- sidecar output ---\n${output}`);
    }
    if (done) throw new Error(`sidecar exited at start\n--- sidecar output ---\n${output}`);

    let stopped = false;
    return {
        url,
        port,
        token,
        dataRoot,
        databaseDir,
        output: () => output,
        async stop() {
            if (!stopped) {
                stopped = true;
                if (!done) {
                    child.kill('SIGTERM');
                    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
                    await exited;
                    clearTimeout(timer);
                }
                await rm(home, { recursive: true, force: true });
            }
        },
    };
}
