"""A canonical, deterministic dump of one sidecar database folder, and its consistency checks.

Used by the kill tests (``tests/crash_scenarios.py``) and ``benchmarks/crash.py`` (which puts the
repository root on ``sys.path``); it lives in ``tests/`` because sidecar itself has no use for it.
It only reads (the checks are in ``tests/dbcheck.py``).

The dump has three parts:

* ``current``: what a user reads through the API now. Chats that are not missing, keyed by their
  path relative to the data root (``chatId``s are random), with their header columns, messages in
  position order, problems; each extension database's value-tracker data (characters, instances,
  data) and its indexed data of those chats keyed by (chat path, position, swipe, namespace, key).
* ``past``: what depends on which versions of the files a run saw: every chat's state and version
  list (framing, size, message count, content hash), missing chats, ``data_history`` in order,
  the indexed data of missing chats, the set of distinct lines, the ``.db`` files present.
* ``faults``: broken invariants, which must be empty: SQLite or FTS5 integrity, a chat left
  ``pending``, rows of an extension database that point at no catalogued chat or message,
  positions that are not 0..n-1, a version whose chain does not rebuild or whose rebuilt bytes
  differ from the size and content hash recorded for it, a line whose stored bytes do not match
  its hash, a chat whose current lines are not its last version, a history value that is not
  JSON.

Left out everywhere, because two equivalent runs legitimately differ there: wall-clock times
(``seen_at``, ``created_at``, ``last_indexed``, ...), ``chatId``, ``msg_uid`` and other
autoincrement ids, event ids, file mtimes and inodes, where a line sits in the line store's packs
(a killed run leaves unreferenced bytes there), and the delta encoding of versions.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE
from tests.dbcheck import StoredLines, check_chat, checked_versions, integrity, read_only

Dump = dict[str, Any]
HISTORY_REASONS = ("changed", "removed", "message_deleted", "chat_shrunk", "unindexed")
_MESSAGE_COLUMNS = (
    "position, line_no, line_hash, name, is_user, is_system, send_date_raw, send_date, text, "
    "swipe_id, swipe_count, builtin_extra, namespaces, problems"
)
_CHAT_COLUMNS = (
    "user, kind, character, group_id, group_name, group_members, file_name, user_name, "
    "character_name, create_date, metadata_json, integrity, message_count, size, file_hash, "
    "line_hashes, bom, trailing_newline, header_line"
)


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _catalog(db_dir: Path, faults: list[str], fts: bool) -> tuple[Dump, Dump, dict[str, Any]]:
    """The catalog's current and past parts, and the maps the extension part needs."""
    current: Dump = {}
    past: Dump = {"chats": {}}
    with read_only(db_dir / CATALOG_FILE) as conn:
        integrity(conn, db_dir / CATALOG_FILE, faults, fts)
        lines = StoredLines(db_dir, conn, faults)
        lines.verify_all()
        past["lines"] = {
            "count": len(lines.refs),
            "digest": hashlib.sha256(b"".join(sorted(lines.refs))).hexdigest(),
        }
        chats = conn.execute(
            f"SELECT chat_id, rel_path, state, shrunk_from, version, sync, {_CHAT_COLUMNS} "
            "FROM chats ORDER BY rel_path"
        ).fetchall()
        names = ("chat_id", "rel_path", "state", "shrunk_from", "version", "sync",
                 *_CHAT_COLUMNS.split(", "))  # fmt: skip
        paths: dict[str, str] = {}
        missing: set[str] = set()
        uids: dict[int, tuple[str, int]] = {}
        for row in chats:
            chat = dict(zip(names, row, strict=True))
            chat_id, rel_path = chat.pop("chat_id"), chat.pop("rel_path")
            paths[chat_id] = rel_path
            if chat["sync"] != "ok":
                faults.append(f"chat {rel_path}: sync is {chat['sync']}")
            messages = conn.execute(
                f"SELECT msg_uid, {_MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? "
                "ORDER BY position",
                (chat_id,),
            ).fetchall()
            for uid, position, *_ in messages:
                uids[uid] = (chat_id, position)
            check_chat(rel_path, chat, messages, lines, faults)
            past_chat = {
                "state": chat.pop("state"),
                "shrunk_from": chat.pop("shrunk_from"),
                "version": chat["version"],
                "versions": checked_versions(conn, chat_id, rel_path, chat, lines, faults),
            }
            chat.pop("version")
            chat.pop("sync")
            past["chats"][rel_path] = past_chat
            if past_chat["state"] == "missing":
                missing.add(chat_id)
                continue
            chat["line_hashes"] = hashlib.sha256(chat["line_hashes"]).hexdigest()
            chat["messages"] = [[_hex(value) for value in m[1:]] for m in messages]
            chat["problems"] = sorted(
                conn.execute(
                    "SELECT line_no, reason FROM problems WHERE chat_id = ?", (chat_id,)
                ).fetchall()
            )
            current[rel_path] = {key: _hex(value) for key, value in chat.items()}
    return current, past, {"paths": paths, "missing": missing, "uids": uids}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _tracker(conn: sqlite3.Connection) -> Dump:
    characters: Dump = {}
    for cid, name in conn.execute("SELECT id, name FROM characters"):
        characters[cid] = {"name": name, "instances": {}}
    for iid, cid, name in conn.execute("SELECT id, character_id, name FROM instances"):
        characters.setdefault(cid, {"name": "<no such character>", "instances": {}})
        characters[cid]["instances"][iid] = {"name": name, "data": {}}
    for iid, key, value in conn.execute("SELECT instance_id, key, value FROM instance_data"):
        owner = next((c for c in characters.values() if iid in c["instances"]), None)
        if owner is None:
            characters.setdefault("<orphan data>", {"name": None, "instances": {}})
            owner = characters["<orphan data>"]
            owner["instances"].setdefault(iid, {"name": None, "data": {}})
        owner["instances"][iid]["data"][key] = value
    return dict(sorted(characters.items()))


def _extension(path: Path, maps: dict[str, Any], faults: list[str], fts: bool) -> tuple[Dump, Dump]:
    paths, missing, uids = maps["paths"], maps["missing"], maps["uids"]
    current: Dump = {}
    past: Dump = {}
    with read_only(path) as conn:
        integrity(conn, path, faults, fts)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "characters" in tables:
            current["tracker"] = _tracker(conn)
        if "message_data" not in tables:
            return current, past
        for chat_id, uid, swipe, ns, key, value, selected in conn.execute(
            "SELECT chat_id, msg_uid, swipe, namespace, key, value, selected FROM message_data"
        ):
            where = uids.get(uid)
            if where is None or where[0] != chat_id:
                faults.append(f"{path.name}: data of unknown message {chat_id}/{uid}")
                continue
            part = past if chat_id in missing else current
            part.setdefault("messages", {}).setdefault(paths[chat_id], []).append(
                [where[1], swipe, ns, key, value, bool(selected)]
            )
        for chat_id, ns, key, value in conn.execute(
            "SELECT chat_id, namespace, key, value FROM chat_data"
        ):
            if chat_id not in paths:
                faults.append(f"{path.name}: chat data of unknown chat {chat_id}")
                continue
            part = past if chat_id in missing else current
            part.setdefault("chats", {}).setdefault(paths[chat_id], []).append([ns, key, value])
        gone: dict[int, str] = {}
        history = []
        for chat_id, uid, position, swipe, ns, key, value, reason in conn.execute(
            "SELECT chat_id, msg_uid, position, swipe, namespace, key, value, reason "
            "FROM data_history ORDER BY id"
        ):
            if chat_id not in paths:
                faults.append(f"{path.name}: history of unknown chat {chat_id}")
            if reason not in HISTORY_REASONS or not _is_json(value):
                faults.append(f"{path.name}: odd history row {reason!r} {value[:80]!r}")
            label: Any = None
            if uid is not None:
                where = uids.get(uid)
                label = where[1] if where else gone.setdefault(uid, f"gone-{len(gone)}")
            history.append(
                [paths.get(chat_id), label, position, swipe, ns, key, value, reason]
            )  # fmt: skip
        past["history"] = history
    for part in (current, past):
        for rows in (*part.get("messages", {}).values(), *part.get("chats", {}).values()):
            rows.sort()
    return current, past


def dump_folder(db_dir: Path, *, fts: bool = True) -> Dump:
    """The canonical dump of ``db_dir`` (see the module docstring). ``fts=False`` skips the FTS5
    integrity checks, which take a database's write lock for a moment (for polling a live
    sidecar)."""
    faults: list[str] = []
    chats, past, maps = _catalog(db_dir, faults, fts)
    current: Dump = {"chats": chats, "registry": [], "extensions": {}}
    with read_only(db_dir / REGISTRY_FILE) as conn:
        integrity(conn, db_dir / REGISTRY_FILE, faults, fts)
        current["registry"] = sorted(
            [ext, db_file, bool(registered)]
            for ext, db_file, registered in conn.execute(
                "SELECT extension_id, db_file, registered FROM extensions"
            )
        )
    files = sorted(p.name for p in db_dir.glob("*.db"))
    past["files"] = files
    past["extensions"] = {}
    for name in files:
        if name in (CATALOG_FILE, REGISTRY_FILE):
            continue
        try:
            ext_current, ext_past = _extension(db_dir / name, maps, faults, fts)
        except sqlite3.DatabaseError as exc:  # not sidecar's: some other file named *.db
            past.setdefault("unreadable", []).append(f"{name}: {exc}")
            continue
        if any(ext_current.get("tracker", {}).values()) or ext_current.get("messages") or (
            ext_current.get("chats")):  # fmt: skip
            current["extensions"][name] = ext_current
        past["extensions"][name] = ext_past
    return {"current": current, "past": past, "faults": faults}


def differences(a: Any, b: Any, where: str = "", limit: int = 20) -> list[str]:
    """Where two dumps (or parts) differ, as readable lines (at most ``limit``)."""
    out: list[str] = []

    def walk(x: Any, y: Any, at: str) -> None:
        if len(out) >= limit or x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=str):
                if key not in x or key not in y:
                    side = "second" if key not in x else "first"
                    out.append(f"{at}/{key}: only in the {side}")
                else:
                    walk(x[key], y[key], f"{at}/{key}")
                if len(out) >= limit:
                    return
            return
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for index, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{at}[{index}]")
            return
        out.append(f"{at}: {_short(x)} != {_short(y)}")

    walk(a, b, where)
    return out


def _short(value: Any, size: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= size else text[:size] + "..."
