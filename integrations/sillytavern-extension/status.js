// status.js: the status block of the settings drawer: can sidecar be reached through the proxy
// plugin, is indexing up to date (lag, queue, problems), which files are damaged; and, when the
// plugin or sidecar is missing, the one thing to do about it.

import { t } from '../../../i18n.js';
import { client, describeError, isUnavailable, logError } from './api.js';
import { el, formatDateTime, icon } from './dom.js';

const LAGGING_SECONDS = 10;

function line(iconName, text, className = '') {
    return el('div', { className: `sidecar-status-line ${className}`.trim() }, icon(iconName), el('span', { text }));
}

/** The damaged files /status lists (`storage.damaged`: `{file, problem, since}`) as lines. */
function damagedEntries(status) {
    const damaged = status.storage?.damaged ?? status.damaged ?? [];
    const list = Array.isArray(damaged) ? damaged : Object.entries(damaged).map(([file, problem]) => ({ file, problem }));
    return list.map((entry) => {
        if (typeof entry === 'string') return entry;
        const file = entry.file ?? entry.path ?? entry.name ?? '';
        const problem = entry.problem ?? entry.error ?? entry.reason ?? entry.message ?? '';
        return problem ? `${file}: ${problem}` : String(file);
    });
}

function indexingLine(status) {
    const lag = Number(status.lagSeconds ?? 0);
    if (status.reconciling) {
        return line('fa-rotate', t`Catching up with changes made while sidecar was stopped…`, 'sidecar-busy');
    }
    if (status.queueDepth > 0 || lag > LAGGING_SECONDS) {
        return line('fa-hourglass-half', t`Indexing: ${status.queueDepth ?? 0} chats waiting, ${lag.toFixed(1)} s behind.`, 'sidecar-busy');
    }
    const last = status.lastIndexed ? t`last change indexed ${formatDateTime(status.lastIndexed)}` : t`nothing indexed yet`;
    return line('fa-circle-check', t`Indexing is up to date (${last}).`, 'sidecar-ok');
}

/** The status as nodes (also what a failure to get it means). */
export async function statusView() {
    let status;
    try {
        status = await client.status();
    } catch (error) {
        if (!isUnavailable(error)) logError('status', error);
        return el('div', { className: 'sidecar-status sidecar-status-down', dataset: { state: 'down' } },
            line('fa-triangle-exclamation', describeError(error), 'sidecar-bad'));
    }
    const view = el('div', { className: 'sidecar-status', dataset: { state: 'up' } },
        line('fa-plug-circle-check', t`Connected to sidecar ${status.version ?? ''} through the proxy plugin.`, 'sidecar-ok'),
        indexingLine(status),
        line('fa-database', t`${status.chats ?? 0} chats and ${status.messages ?? 0} messages indexed; watching: ${status.watchMode ?? '?'}.`));
    const namespaces = Array.isArray(status.namespaces) ? status.namespaces : [];
    if (namespaces.length) {
        const names = namespaces.map((n) => (typeof n === 'string' ? n : n.namespace ?? n.name)).join(', ');
        view.append(line('fa-puzzle-piece', t`Extension data: ${names}`));
    }
    if (status.problems > 0) {
        view.append(line('fa-circle-exclamation', t`${status.problems} lines of chat files could not be read (sidecar's log names them).`, 'sidecar-warn'));
    }
    if (status.error) view.append(line('fa-burst', status.error, 'sidecar-bad'));
    const full = status.storage?.diskFull; // sidecar's own message: which disk, what still works
    if (full) view.append(line('fa-hard-drive', typeof full === 'string' ? full : t`sidecar's disk is full.`, 'sidecar-bad'));
    const damaged = damagedEntries(status);
    if (damaged.length) {
        view.append(line('fa-burst', t`Damaged files (run "sidecar repair"):`, 'sidecar-bad'),
            el('ul', { className: 'sidecar-damaged' }, ...damaged.map((entry) => el('li', { text: entry }))));
    }
    return view;
}
