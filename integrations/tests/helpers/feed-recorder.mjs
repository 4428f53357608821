// What the client's change-feed tests share: a save that changes one value, and a recorder of a
// subscription's events.
import { chatPath, header, message, stSave } from './chats.mjs';
import { waitFor } from './sidecar.mjs';

/** Save chat `name` with one message whose `extra.myns.hp` is `hp`. */
export function save(dataRoot, name, hp) {
    return stSave(chatPath(dataRoot, { chat: name }), [header(), message('hello', { extra: { myns: { hp } } })]);
}

/** Collects a subscription's events; `until(predicate)` waits for one that matches. */
export function recorder() {
    const events = [];
    const errors = [];
    return {
        events,
        errors,
        onEvent: (event) => events.push(event),
        onError: (error) => errors.push(error),
        async until(predicate, what) {
            let found;
            await waitFor(() => (found = events.find(predicate)), { timeoutMs: 10000, what });
            return found;
        },
    };
}

export const hpChange = (chatId) => (e) => e.type === 'change' && e.data.chatId === chatId && e.data.namespace === 'myns';
