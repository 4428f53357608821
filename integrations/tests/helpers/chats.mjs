// Test helper: write SillyTavern chat files the way SillyTavern saves them (a temporary file
// `<chat>.jsonl.<digits>`, then a rename over the chat), so a running sidecar indexes them.
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

let counter = 0;

/** A chat file header line (SillyTavern 1.15+). */
export function header(metadata = {}) {
    return { chat_metadata: metadata, user_name: 'unused', character_name: 'unused' };
}

/** One message; `extra` holds the extensions' namespaces (`extra.<namespace>`). */
export function message(mes, { name = 'Seraphina', isUser = false, extra = {}, ...fields } = {}) {
    return {
        name,
        is_user: isUser,
        is_system: false,
        send_date: '2026-03-02T18:05:47.221Z',
        mes,
        extra,
        ...fields,
    };
}

/** A bot message with swipes; `extras[k]` is swipe k's extra (the selected one is also `extra`). */
export function swiped(texts, selected, extras, options = {}) {
    return message(texts[selected], {
        ...options,
        extra: extras[selected] ?? {},
        swipes: texts,
        swipe_id: selected,
        swipe_info: extras.map((extra) => (extra === null ? null : { send_date: '2026-03-02T18:05:47.221Z', extra })),
    });
}

/** The path of `<dataRoot>/<user>/chats/<character>/<chat>.jsonl`. */
export function chatPath(dataRoot, { user = 'default-user', character = 'Seraphina', chat = 'chat' } = {}) {
    return join(dataRoot, user, 'chats', character, `${chat}.jsonl`);
}

/** Save `lines` (objects, one JSON line each) to `path` like SillyTavern: temp file, fsync, rename. */
export async function stSave(path, lines) {
    await mkdir(dirname(path), { recursive: true });
    counter += 1;
    const temp = `${path}.${1700000000000 + counter}`;
    const handle = await open(temp, 'w');
    try {
        await handle.writeFile(lines.map((line) => JSON.stringify(line)).join('\n'));
        await handle.sync();
    } finally {
        await handle.close();
    }
    await rename(temp, path);
}
