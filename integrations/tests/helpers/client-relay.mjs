// Test helper: a TCP relay in front of sidecar that records each request head and can cut every
// open connection, so a client's reconnect (and its Last-Event-ID) can be observed for real.
import { connect, createServer } from 'node:net';

/**
 * Start a relay on 127.0.0.1 forwarding to `target` (`http://127.0.0.1:<port>`).
 *
 * @param {string} target
 * @returns {Promise<{url: string, heads: string[], drop: () => void, close: () => Promise<void>}>}
 */
export async function startRelay(target) {
    const { hostname, port } = new URL(target);
    const sockets = new Set();
    const heads = [];
    const server = createServer((client) => {
        const upstream = connect(Number(port), hostname);
        sockets.add(client);
        sockets.add(upstream);
        let head = '';
        let recorded = false;
        client.on('data', (chunk) => {
            if (!recorded) {
                head += chunk.toString('latin1');
                const end = head.indexOf('\r\n\r\n');
                if (end !== -1) {
                    heads.push(head.slice(0, end));
                    recorded = true;
                }
            }
            upstream.write(chunk);
        });
        upstream.pipe(client);
        const closeBoth = () => {
            client.destroy();
            upstream.destroy();
            sockets.delete(client);
            sockets.delete(upstream);
        };
        client.on('error', closeBoth);
        upstream.on('error', closeBoth);
        client.on('close', closeBoth);
        upstream.on('close', closeBoth);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${server.address().port}`,
        heads,
        drop() {
            for (const socket of [...sockets]) socket.destroy();
        },
        close() {
            for (const socket of [...sockets]) socket.destroy();
            return new Promise((resolve) => server.close(() => resolve()));
        },
    };
}
