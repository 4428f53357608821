// dom.js: building elements without HTML strings (every text goes in as text), dates in the
// user's locale, and sidecar's search snippets (HTML-escaped text with <mark>) made safe.

/** Marks the message a search result pointed at, until another one is shown or the chat changes. */
export const HIGHLIGHT = 'sidecar-highlight';

/**
 * Create an element. `props`: `className`, `text`, `title`, `attrs` (attributes), `dataset`,
 * `on` (event listeners); children are nodes, strings (as text) or null (skipped).
 * @param {string} tag
 * @param {object} [props]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    const { className, text, title, attrs, dataset, on } = props;
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (title) node.title = title;
    for (const [name, value] of Object.entries(attrs ?? {})) {
        if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
    }
    Object.assign(node.dataset, dataset ?? {});
    for (const [type, listener] of Object.entries(on ?? {})) node.addEventListener(type, listener);
    for (const child of children) {
        if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
}

/** A Font Awesome icon, hidden from screen readers. */
export function icon(name) {
    return el('i', { className: `fa-solid ${name}`, attrs: { 'aria-hidden': 'true' } });
}

/** A SillyTavern-styled button (`menu_button`) with an icon and a label. */
export function button(label, iconName, onClick, className = '') {
    return el('div', {
        className: `menu_button menu_button_icon ${className}`.trim(),
        attrs: { role: 'button', tabindex: '0' },
        on: { click: onClick, keydown: (event) => { if (event.key === 'Enter') onClick(event); } },
    }, iconName ? icon(iconName) : null, el('span', { text: label }));
}

/** Local date and time of an ISO timestamp (as the user's browser shows dates). */
export function formatDateTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso ?? '');
    return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** `HH:MM` (in the user's locale) of an ISO timestamp. */
export function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function formatDate(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    return date.toLocaleDateString(undefined, { dateStyle: 'medium' });
}

/**
 * A search snippet as nodes: sidecar sends HTML-escaped text with matches in `<mark>`; only
 * `<mark>` survives (SillyTavern's DOMPurify), everything else stays text.
 * @param {string} html
 * @returns {HTMLElement}
 */
export function snippet(html) {
    const node = el('div', { className: 'sidecar-snippet' });
    node.innerHTML = globalThis.DOMPurify.sanitize(String(html ?? ''), { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [] });
    return node;
}

/** JSON for people: strings as they are, everything else pretty-printed. */
export function showValue(value) {
    return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** Call `fn` once `ms` passed without another call; `cancel()` drops a pending call. */
export function debounce(fn, ms) {
    let timer = null;
    const debounced = (...args) => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(...args), ms);
    };
    debounced.cancel = () => clearTimeout(timer);
    return debounced;
}
