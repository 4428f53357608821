"""Settings that apply to what is already indexed.

The catalog keeps the fingerprint of the settings its data was derived with (``fingerprint``).
At the start of a full pass (``sidecar run``'s reconcile, ``sidecar index``) the current settings
are compared with it. When what shapes the derived rows changed (or ``sidecar index --reindex``
asks), the pass first puts every namespace's rows where the settings now send them
(``relocate``), then re-derives every chat from its file: a resync, not a fresh index, so
``chatId``s, message ids, versions and value history are kept, and values that did not change
keep their ``seen_at``. A missing chat is re-derived from its last recorded version.

Which chats still need it is recorded in the catalog (``rederive``), so a pass that is stopped
goes on where it was at the next start. A re-derived chat is announced once, as one chat-level
``updated`` event, never key by key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from sidecar.indexer import fingerprint
from sidecar.indexer.rebuild import rebuild_version
from sidecar.indexer.relocate import relocate_namespaces
from sidecar.indexer.update import ChatUpdate
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.chatfile import ChatFile
from sidecar.sillytavern.discovery import locate_chat
from sidecar.storage.catalog_tables import catalog_meta, chats, rederive

if TYPE_CHECKING:
    from sidecar.indexer.indexer import ChatIndexer

log = logging.getLogger(__name__)

FINGERPRINT = "settings_fingerprint"
REINDEX = "sidecar index --reindex"


@dataclass(frozen=True)
class SettingsCheck:
    """What the start of a pass found: why chats are re-derived (None: they are not), and how
    many."""

    reason: str | None = None
    chats: int = 0


def _stored(conn: Connection) -> str | None:
    value: str | None = conn.execute(
        select(catalog_meta.c.value).where(catalog_meta.c.name == FINGERPRINT)
    ).scalar()
    return value


def _store(conn: Connection, value: dict[str, Any]) -> None:
    conn.execute(catalog_meta.delete().where(catalog_meta.c.name == FINGERPRINT))
    conn.execute(catalog_meta.insert().values(name=FINGERPRINT, value=fingerprint.encode(value)))


def adopt_settings(indexer: ChatIndexer) -> None:
    """A catalog that holds no chat yet is derived with the settings in effect: record them (so a
    catalog without a fingerprint but with chats is one an earlier sidecar wrote)."""
    current = fingerprint.settings_fingerprint(indexer.settings, indexer.discovery)
    with indexer.catalog.read() as conn:
        if _stored(conn) is not None or conn.execute(select(chats.c.chat_id).limit(1)).first():
            return
    with indexer.catalog.write() as conn:
        if _stored(conn) is None:
            _store(conn, current)


def check_settings(indexer: ChatIndexer, *, reindex: bool = False) -> SettingsCheck:
    """Compare the settings in effect with those the catalog was derived with; when they differ
    in what shapes derived rows (or ``reindex``), relocate namespaces and ask for every chat to be
    re-derived. Logs why. Also picks up chats an interrupted pass left to re-derive."""
    current = fingerprint.settings_fingerprint(indexer.settings, indexer.discovery)
    with indexer.catalog.read() as conn:
        stored = fingerprint.decode(_stored(conn))
        count = int(conn.execute(select(func.count()).select_from(chats)).scalar_one())
    if reindex:
        reasons = [REINDEX]
    elif stored is None:
        reasons = ["the catalog does not record the settings it was indexed with (an earlier "
                   "sidecar wrote it)"] if count else []  # fmt: skip
    else:
        reasons = fingerprint.changes(stored, current, "derived")
        for line in fingerprint.changes(stored, current, "discovery"):
            log.info(
                "index setting changed since the last index: %s; this pass applies it (chats it "
                "no longer finds are marked missing, new ones are indexed)",
                line,
            )
    if reasons and count:
        reason = "; ".join(reasons)
        log.info("re-deriving %d chats from their files: %s (chatIds, versions and value "
                 "history are kept)", count, reason)  # fmt: skip
        relocate_namespaces(indexer.stores, indexer.settings.policy)
        with indexer.catalog.write() as conn:
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO rederive (chat_id, reason) SELECT chat_id, ? FROM chats",
                (reason,),
            )
            _store(conn, current)
        return SettingsCheck(reason, count)
    with indexer.catalog.read() as conn:
        left = conn.execute(select(rederive.c.reason, func.count()).group_by(rederive.c.reason))
        waiting = {str(reason): int(n) for reason, n in left}
    if stored != current or waiting:  # a pass with nothing to do writes nothing
        with indexer.catalog.write() as conn:
            if stored != current:
                _store(conn, current)
            conn.exec_driver_sql(  # requests of chats merged into another since
                "DELETE FROM rederive WHERE chat_id NOT IN (SELECT chat_id FROM chats)"
            )
            left = conn.execute(select(rederive.c.reason, func.count()).group_by(rederive.c.reason))
            waiting = {str(reason): int(n) for reason, n in left}
    if waiting:
        reason = "; ".join(sorted(waiting))
        log.info("resuming the re-derivation of %d chats (%s)", sum(waiting.values()), reason)
        return SettingsCheck(reason, sum(waiting.values()))
    return SettingsCheck()


def rederive_missing(indexer: ChatIndexer) -> list[IndexResult]:
    """Re-derive the missing chats that wait for it from their last recorded version (rebuilt
    byte for byte in sidecar's own folder for a moment); they stay missing."""
    with indexer.catalog.read() as conn:
        waiting = list(
            conn.execute(
                select(chats)
                .join(rederive, rederive.c.chat_id == chats.c.chat_id)
                .where(chats.c.state == "missing")
            )
        )
    results = []
    for chat in waiting:
        try:
            results.append(_rederive_missing(indexer, chat))
        except Exception:  # a damaged line store: the chat keeps its old rows, and is retried
            log.exception("chat %s: cannot re-derive it from its last version", chat.chat_id)
    return results


def _rederive_missing(indexer: ChatIndexer, chat: Any) -> IndexResult:
    location = locate_chat(indexer.root, indexer.root / chat.rel_path, indexer.discovery)
    result = IndexResult(chat.chat_id, "unchanged", rederived=True)
    if location is not None and chat.version:
        stores = indexer.stores
        with indexer.catalog.read() as conn:
            data = rebuild_version(conn, stores.lines, chat.chat_id, chat.version)
        temp = stores.lines.directory / f".rederive-{chat.chat_id}.jsonl"
        temp.write_bytes(data)
        try:
            with ChatFile(temp) as file:
                update = ChatUpdate(stores, indexer.settings, location, chat, rederive=True)
                result = update.run(file, file.scan())
        finally:
            temp.unlink(missing_ok=True)
        result.rederived = True
    with indexer.catalog.write() as conn:  # it is still missing, as it was
        conn.execute(
            chats.update()
            .where(chats.c.chat_id == chat.chat_id)
            .values(state="missing", missing_since=chat.missing_since, mtime_ns=chat.mtime_ns)
        )
        conn.execute(rederive.delete().where(rederive.c.chat_id == chat.chat_id))
    return result
