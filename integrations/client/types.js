// types.js: the JSDoc types of sidecar's answers and of the client's options (no code: editors
// use them for completion). sidecar-client.js re-exports each of them under the same name.

/** @typedef {import('./errors.js').SidecarError} SidecarError */

/**
 * @typedef {null | boolean | number | string | any[] | {[key: string]: any}} JsonValue any JSON value
 * @typedef {{[key: string]: JsonValue}} JsonObject
 * @typedef {{id: string, name: string|null, createdAt: string, updatedAt: string}} Character
 * @typedef {{id: string, characterId: string, name: string|null, createdAt: string, updatedAt: string}} Instance
 * @typedef {{instance: Instance, data: JsonObject}} FullInstance
 * @typedef {{character: Character, instances: FullInstance[]}} FullCharacter
 * @typedef {{extensionId: string, registered: boolean, createdAt: string, characters: number,
 *   instances: number, dataKeys: number}} ExtensionInfo
 * @typedef {{success: true, message?: string, deletedCount?: number, removedCount?: number}} Success
 */

/**
 * A page of a list: pass `nextCursor` as `cursor` for the next one (null on the last page).
 * @template T
 * @typedef {{items: T[], nextCursor: string|null}} Page
 */

/**
 * @typedef {{chatId: string, user: string, kind: string, character: string|null,
 *   groupId: string|null, groupName: string|null, fileName: string, messageCount: number,
 *   state: 'ok'|'missing'|'shrunk', lastIndexed: string}} Chat
 * @typedef {Chat & {metadata: JsonObject, namespaces: {[namespace: string]: number},
 *   chatNamespaces: {[namespace: string]: number}, groupMembers: string[]|null, userName: string|null, characterName: string|null,
 *   createDate: string|null, integrity: string|null, size: number, shrunkFrom: number|null,
 *   firstSeen: string, lastChanged: string, missingSince: string|null, problems: number}} ChatDetail
 * @typedef {{position: number, name: string, isUser: boolean, isSystem: boolean,
 *   sendDate: string|null, sendDateRaw: JsonValue, text: string, swipeId: number,
 *   swipeCount: number, extra: JsonObject, namespaces: string[], data?: JsonObject|null}} Message
 * @typedef {Message & {problems: JsonValue[], swipes: {swipe: number, selected: boolean,
 *   data: {[namespace: string]: JsonObject}}[]}} MessageDetail
 * @typedef {{chatId: string, user: string, position: number, swipe: number, selected: boolean,
 *   key: string, value: JsonValue}} DataItem
 * @typedef {{chatId: string, user: string, position: number, swipe: number|null, where: string,
 *   snippet: string, score: number, sendDate: string|null}} SearchHit
 * @typedef {{value: JsonValue, seenAt: string, replacedAt: string|null, reason: string|null,
 *   swipe: number|null}} ValueVersion
 * @typedef {{chatId: string, state: string, shrunkFrom: number|null, messageCount: number,
 *   lost: {replacedAt: string, reason: string, namespaces: {[namespace: string]: number},
 *   positions: number[]|null, values: {position: number|null, swipe: number|null,
 *   namespace: string, key: string, value: JsonValue, seenAt: string}[]}[]}} ChatHistory
 * @typedef {{version: number, seenAt: string, relPath: string, size: number,
 *   messageCount: number, added: number, removed: number, edited: number, shrunk: boolean}} ChatVersion
 * @typedef {{version: number, against: number, headerChanged: boolean, changes: {kind: string,
 *   position: number, before: JsonObject|null, after: JsonObject|null}[]}} VersionDiff
 * @typedef {{fileName: string|null, bytes: Uint8Array, text: string}} VersionFile
 * @typedef {'selected'|'previous'|'all'|number} SwipeChoice
 */

/**
 * One change-feed event. `type` is `change` (data: `{eventId, chatId, position, swipe,
 * namespace, keys, kind}`) or `reset` (data: `{lastEventId}`: events were missed, re-read
 * whatever you cache).
 * @typedef {object} ChangeData what a `change` event's `data` holds
 * @property {number} eventId the event's id (persists across sidecar restarts; never reused)
 * @property {string} chatId
 * @property {'added'|'changed'|'removed'|'new'|'updated'|'shrunk'|'missing'|'renamed'} kind
 *   data of a message (`position`, `swipe`, `namespace`, `keys`; chat-level `chat_metadata` data
 *   has null `position`/`swipe`), or the whole chat
 * @property {number|null} position
 * @property {number|null} swipe
 * @property {string|null} namespace
 * @property {string[]} keys
 * @property {string} at ISO time of the change (UTC)
 * @property {number|null} messageCount whole-chat kinds: the chat's messages after the change
 * @property {number|null} previousCount `updated` and `shrunk`: its messages before
 */

/**
 * @typedef {{type: 'change', id: number, data: ChangeData} | {type: 'reset', id: number, data: {lastEventId: number}}} FeedEvent
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] sidecar's origin (`http://127.0.0.1:8711`) or the full API base;
 *   default `/api/plugins/valuetracker` on the page's origin (SillyTavern's proxy plugin).
 * @property {HeadersInit | (() => HeadersInit | Promise<HeadersInit>)} [headers] headers for
 *   every request, or a function returning them (pass SillyTavern's `getRequestHeaders`).
 * @property {string|null} [token] sidecar's `api.token` when calling it directly.
 * @property {string|null} [extensionId] sent as `x-extension-id` (needed by the scoped routes).
 * @property {typeof fetch} [fetch] a fetch implementation (default: the global one).
 * @property {any} [EventSource] an EventSource class (default: the global one, if any).
 * @property {number} [timeoutMs] give up on a request after this long (default 30000; 0: never).
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {'auto'|'eventsource'|'fetch'} [transport] `auto` (default) uses EventSource when
 *   the client has no token and an EventSource class is available, else a fetch-based reader.
 * @property {(error: SidecarError) => void} [onError] each connection problem (the feed
 *   reconnects by itself unless the error is fatal: 400, 401, 403, 404; then it is closed).
 * @property {() => void} [onOpen] called on every (re)connection.
 * @property {number} [retryMs] first reconnect delay, doubled up to 30 s (default 1000).
 * @property {number} [staleMs] fetch reader: reconnect after this long without any byte,
 *   heartbeats included (default 90000; 0: never).
 */

export {};
