// diff.js: one version of a chat against another, message by message: what was added, removed
// or edited, with the edited words marked, and which extension data changed.

import { t } from '../../../i18n.js';
import { el } from './dom.js';

const MAX_WORDS = 800; // beyond this an edit is shown as before/after without word marks

/** Words, punctuation and the spaces between them, so that joining them gives the text back. */
function words(text) {
    return String(text ?? '').split(/(\s+|[\p{P}\p{S}])/u).filter((part) => part !== '');
}

/** The text with removed (`del`) and added (`ins`) runs marked, from an LCS of the words. */
export function wordDiff(before, after) {
    const a = words(before);
    const b = words(after);
    if (a.length > MAX_WORDS || b.length > MAX_WORDS) return null;
    const lengths = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) {
            lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
        }
    }
    const out = el('div', { className: 'sidecar-diff-text' });
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        if (i < a.length && j < b.length && a[i] === b[j]) {
            out.append(a[i]);
            i++;
            j++;
        } else if (i < a.length && (j === b.length || lengths[i + 1][j] >= lengths[i][j + 1])) {
            out.append(el('del', { text: a[i++] }));
        } else {
            out.append(el('ins', { text: b[j++] }));
        }
    }
    return out;
}

function changedNamespaces(before, after) {
    const names = new Set([...Object.keys(before?.namespaces ?? {}), ...Object.keys(after?.namespaces ?? {})]);
    return [...names].filter((name) => JSON.stringify(before?.namespaces?.[name]) !== JSON.stringify(after?.namespaces?.[name])).sort();
}

function speaker(message) {
    return message ? `${message.name ?? ''}${message.isUser ? ` (${t`you`})` : ''}` : '';
}

function changeView(change) {
    const { kind, position, before, after } = change;
    const label = { added: t`added`, removed: t`removed`, changed: t`edited` }[kind] ?? kind;
    const head = el('div', { className: 'sidecar-change-head' },
        el('b', { text: t`Message ${position + 1}` }), el('span', { className: `sidecar-kind sidecar-kind-${kind}`, text: label }),
        el('span', { text: speaker(after ?? before) }));
    const body = el('div', { className: 'sidecar-change-body' });
    if (kind === 'added') body.append(el('div', { className: 'sidecar-diff-text sidecar-added', text: after?.text ?? '' }));
    else if (kind === 'removed') body.append(el('div', { className: 'sidecar-diff-text sidecar-removed', text: before?.text ?? '' }));
    else if ((before?.text ?? '') !== (after?.text ?? '')) {
        body.append(wordDiff(before?.text, after?.text)
            ?? el('div', {}, el('div', { className: 'sidecar-diff-text sidecar-removed', text: before?.text ?? '' }),
                el('div', { className: 'sidecar-diff-text sidecar-added', text: after?.text ?? '' })));
    }
    if (kind === 'changed' && (before?.swipeCount ?? 0) !== (after?.swipeCount ?? 0)) {
        body.append(el('div', { className: 'sidecar-note', text: t`Swipes: ${before?.swipeCount ?? 0} → ${after?.swipeCount ?? 0}` }));
    }
    const namespaces = changedNamespaces(before, after);
    if (namespaces.length) body.append(el('div', { className: 'sidecar-note', text: t`Extension data changed: ${namespaces.join(', ')}` }));
    return el('div', { className: 'sidecar-change', dataset: { kind, position: String(position) } }, head, body);
}

/** The whole diff (`GET .../versions/{v}/diff?against=`) as nodes. */
export function diffView(diff) {
    const view = el('div', { className: 'sidecar-diff', dataset: { version: String(diff.version), against: String(diff.against) } });
    if (diff.headerChanged) view.append(el('div', { className: 'sidecar-note', text: t`The chat's header (its settings and chat-level data) changed.` }));
    if (!diff.changes.length) view.append(el('div', { className: 'sidecar-note', text: t`No message differs between these versions.` }));
    view.append(...diff.changes.map(changeView));
    return view;
}
