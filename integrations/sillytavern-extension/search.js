// search.js: "Search every chat": one box over all of this user's chats (every character and
// group), filters for character/group, extension namespace and date, results with the snippet,
// the character, the chat and the date, more on scroll, a click opens the chat at the message.

import { t } from '../../../i18n.js';
import { Popup, POPUP_TYPE } from '../../../popup.js';
import { allChats, client, describeError, isUnavailable, logError, ownerName } from './api.js';
import { debounce, el, formatDateTime, snippet } from './dom.js';
import { openIndexedChat, showMessage } from './navigate.js';
import { ownerOptions } from './search-data.js';

const PAGE = 20;
const MAX_HITS = 100; // sidecar answers at most 100 hits per search
const TYPING_PAUSE_MS = 100;

function filterBar(onChange) {
    const owner = el('select', { className: 'text_pole', attrs: { id: 'sidecar_search_owner', 'aria-label': t`Character or group` } },
        el('option', { text: t`All characters and groups`, attrs: { value: '' } }));
    const namespace = el('select', { className: 'text_pole', attrs: { id: 'sidecar_search_namespace', 'aria-label': t`Where to search` } },
        el('option', { text: t`Messages and extension data`, attrs: { value: '' } }));
    const from = el('input', { className: 'text_pole', attrs: { type: 'date', id: 'sidecar_search_from', 'aria-label': t`From` } });
    const to = el('input', { className: 'text_pole', attrs: { type: 'date', id: 'sidecar_search_to', 'aria-label': t`To` } });
    for (const input of [owner, namespace, from, to]) input.addEventListener('change', onChange);
    const bar = el('div', { className: 'sidecar-search-filters' }, owner, namespace,
        el('label', { text: t`From` }, from), el('label', { text: t`To` }, to));
    return { bar, owner, namespace, from, to };
}

async function fillFilters(filters) {
    try {
        for (const [value, label] of await ownerOptions()) filters.owner.append(el('option', { text: label, attrs: { value } }));
        const status = await client.status();
        for (const entry of status.namespaces ?? []) {
            const name = typeof entry === 'string' ? entry : entry.namespace ?? entry.name;
            filters.namespace.append(el('option', { text: t`Only ${name} data`, attrs: { value: name } }));
        }
    } catch (error) {
        if (!isUnavailable(error)) logError('search filters', error);
    }
}

/** Local midnight (or the day's last millisecond) of a date input's value, as an ISO instant. */
function dayBound(value, end) {
    return value ? new Date(`${value}T${end ? '23:59:59.999' : '00:00:00'}`).toISOString() : undefined;
}

/** The filters' values now: a search uses (and labels its results with) the values it started with. */
function filterValues(filters) {
    return { owner: filters.owner.value, namespace: filters.namespace.value, from: filters.from.value, to: filters.to.value };
}

/** The hits for `q` under the filter values (sidecar applies them all), best first, with their chat. */
async function findHits(q, values, limit) {
    let chats = await allChats();
    const owner = values.owner;
    const hits = (await client.search(q, {
        namespace: values.namespace || undefined,
        character: owner.startsWith('c:') ? owner.slice(2) : undefined,
        groupId: owner.startsWith('g:') ? owner.slice(2) : undefined,
        dateFrom: dayBound(values.from, false),
        dateTo: dayBound(values.to, true),
        limit,
    })).items;
    if (hits.some((hit) => !chats.has(hit.chatId))) chats = await allChats({ fresh: true }); // a new chat
    return {
        raw: hits.length,
        hits: hits.map((hit) => ({ ...hit, chat: chats.get(hit.chatId) })).filter((hit) => hit.chat),
    };
}

function resultView(hit, onOpen) {
    const where = hit.where === 'text' ? t`message ${hit.position + 1}` : t`message ${hit.position + 1}, swipe ${(hit.swipe ?? 0) + 1}, ${hit.where}`;
    return el('div', {
        className: 'sidecar-result',
        attrs: { role: 'button', tabindex: '0' },
        dataset: { chatId: hit.chatId, position: String(hit.position) },
        on: { click: () => onOpen(hit), keydown: (event) => { if (event.key === 'Enter') onOpen(hit); } },
    },
    el('div', { className: 'sidecar-result-head' },
        el('b', { className: 'sidecar-result-owner', text: ownerName(hit.chat) }),
        el('span', { className: 'sidecar-result-chat', text: hit.chat.fileName }),
        el('span', { className: 'sidecar-result-date', text: hit.sendDate ? formatDateTime(hit.sendDate) : '' }),
        el('span', { className: 'sidecar-result-where', text: where })),
    snippet(hit.snippet));
}

/** Open the search popup (optionally with a query already typed). */
export async function openSearch(initialQuery = '') {
    const input = el('input', { className: 'text_pole', attrs: { type: 'search', id: 'sidecar_search_input', placeholder: t`Search every chat…`, autocomplete: 'off' } });
    const summary = el('div', { className: 'sidecar-search-summary', attrs: { 'aria-live': 'polite' } });
    const results = el('div', { className: 'sidecar-search-results', attrs: { id: 'sidecar_search_results' } });
    const state = { query: '', limit: PAGE, raw: 0, run: 0, loading: false };
    const typed = debounce(() => search(true), TYPING_PAUSE_MS); // also while a date is typed
    const filters = filterBar(typed);
    const root = el('div', { className: 'sidecar-search' }, el('h3', { text: t`Search every chat` }), input, filters.bar, summary, results);
    const popup = new Popup(root, POPUP_TYPE.DISPLAY, '', { wider: true, large: true, animation: 'fast' });

    async function open(hit) {
        await popup.completeCancelled();
        try {
            await openIndexedChat(hit.chat);
            await showMessage(hit.position);
        } catch (error) {
            toastr.error(isUnavailable(error) ? describeError(error) : String(error.message ?? error), t`sidecar`);
        }
    }

    async function search(reset) {
        const q = input.value.trim();
        const run = ++state.run;
        if (reset) state.limit = PAGE;
        if (!q) {
            results.replaceChildren();
            summary.textContent = '';
            delete results.dataset.query;
            return;
        }
        state.loading = true;
        const values = filterValues(filters); // a date typed meanwhile starts its own search
        try {
            const found = await findHits(q, values, state.limit);
            if (run !== state.run) return;
            state.query = q;
            state.raw = found.raw;
            const keep = results.scrollTop;
            results.replaceChildren(...found.hits.map((hit) => resultView(hit, open)));
            results.scrollTop = keep;
            summary.textContent = found.hits.length === 0 ? t`No message matches "${q}".`
                : found.raw >= MAX_HITS ? t`The best ${found.hits.length} matches; add words to narrow the search.`
                    : found.hits.length === 1 ? t`1 match.` : t`${found.hits.length} matches.`;
            results.dataset.query = q; // results for this query (and these filters) are on screen
            results.dataset.filters = [values.owner, values.namespace, values.from, values.to].join('|');
        } catch (error) {
            if (run !== state.run) return;
            if (!isUnavailable(error)) logError('search', error);
            results.replaceChildren();
            summary.textContent = describeError(error);
        } finally {
            if (run === state.run) state.loading = false;
        }
    }

    input.addEventListener('input', typed);
    input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') { typed.cancel(); search(true); }
    });
    results.addEventListener('scroll', () => {
        const nearEnd = results.scrollTop + results.clientHeight >= results.scrollHeight - 80;
        if (nearEnd && !state.loading && state.raw >= state.limit && state.limit < MAX_HITS) {
            state.limit = Math.min(state.limit + PAGE, MAX_HITS);
            search(false);
        }
    });
    const shown = popup.show();
    input.value = initialQuery;
    input.focus();
    fillFilters(filters);
    if (initialQuery) search(true);
    return shown;
}

