"""The registry of extension databases: which extensions are registered, where their files are.

Registrations live in ``<database_dir>/sidecar.registry.db`` so they survive restarts. The dot in
that name keeps it out of reach of any extension id (ids never contain dots) and of ``dbPath``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError

from sidecar.clock import utc_now_iso
from sidecar.errors import Conflict, Damaged, NotFound
from sidecar.ids import check_id, is_valid_id
from sidecar.storage.db_files import CATALOG_FILE, REGISTRY_FILE, RESERVED_FILES, db_file_for
from sidecar.storage.extension_db import ExtensionDatabase, remove_sqlite_files
from sidecar.storage.faults import FAULTS, guarded
from sidecar.storage.registrations import Registration, read_registrations, write_registration
from sidecar.storage.schema import RegistryBase
from sidecar.storage.sqlite import SqliteOptions, read_snapshot, write_engine

log = logging.getLogger(__name__)

__all__ = ["CATALOG_FILE", "REGISTRY_FILE", "RESERVED_FILES", "ExtensionRegistry", "Registration"]


def not_registered(extension_id: str) -> NotFound:
    return NotFound(f"Database not found for extension: {extension_id}")


class ExtensionRegistry:
    """Opens, creates and closes extension databases; every path it touches is inside
    ``database_dir`` and derived from a validated id or a validated ``dbPath``."""

    def __init__(self, database_dir: Path, options: SqliteOptions) -> None:
        self.database_dir = database_dir
        self._options = options
        self._lock = threading.RLock()
        self._records: dict[str, Registration] = {}
        self._open: dict[str, ExtensionDatabase] = {}
        self._engine: Engine | None = None
        # Called after a registration changes (the daemon tells its indexer process).
        self.on_change: list[Callable[[], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Load the registrations. A damaged registry does not stop the daemon: it is recorded
        (every value-tracker route answers 503 naming it) until ``sidecar repair`` fixes it."""
        self.database_dir.mkdir(parents=True, exist_ok=True)
        self._engine = write_engine(self.path, self._options)
        try:
            with guarded(self.path, write=True), self._engine.begin() as conn:
                RegistryBase.metadata.create_all(conn)
            self.reload()
        except Damaged:
            self._records = {}
        registered = sum(1 for r in self._records.values() if r.registered)
        log.info("database folder %s: %d registered extension(s)", self.database_dir, registered)

    def reload(self) -> None:
        """Read the registrations again (the indexer process does when the API process, which
        registers extensions, says they changed); databases whose file moved are closed."""
        assert self._engine is not None, "registry is not open"
        with guarded(self.path), self._engine.begin() as conn:
            records = read_registrations(conn)
        with self._lock:
            for extension_id, db in list(self._open.items()):
                record = records.get(extension_id)
                if record is not None and self.database_dir / record.db_file != db.path:
                    self._close_db(extension_id)
            self._records = records

    @property
    def path(self) -> Path:
        return self.database_dir / REGISTRY_FILE

    def close(self) -> None:
        with self._lock:
            for db in self._open.values():
                db.close()
            self._open.clear()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # -- lookups -----------------------------------------------------------------------------

    def get(self, extension_id: str) -> ExtensionDatabase:
        """The open database of a registered extension; 404 when it is not registered, 503 when
        its file (or the registry) is damaged or missing."""
        FAULTS.check(self.path)
        record = self._records.get(extension_id)
        if record is None or not record.registered:
            raise not_registered(extension_id)
        db = self._open.get(extension_id)
        if db is not None:
            return db
        path = self.database_dir / record.db_file
        FAULTS.check(path)
        if not path.exists():
            # Never silently start a registered extension over with an empty file.
            raise FAULTS.damaged(
                path, f"the file is missing; restore it with sidecar restore-db {extension_id}"
            )
        with self._lock:
            return self._open_db(self._records.get(extension_id) or record)

    def existing_index_database(self, extension_id: str) -> ExtensionDatabase | None:
        """Like :meth:`index_database`, but only when the file already exists (for reads)."""
        db = self._open.get(extension_id)
        if db is not None:
            return db
        record = self._records.get(extension_id)
        db_file = record.db_file if record is not None else f"{extension_id}.db"
        FAULTS.check(self.database_dir / db_file)  # 503 for a damaged or missing file
        if not (self.database_dir / db_file).is_file():
            return None
        return self.index_database(extension_id)

    def index_database(self, extension_id: str) -> ExtensionDatabase | None:
        """The database chat data of ``extension_id`` is indexed into, registered or not: the
        extension's registered file, else ``<id>.db``. None when that file name belongs to
        another extension (its ``dbPath``), or when the file is known to be damaged: the
        chats are indexed without it, and repairing it re-indexes its chats."""
        db = self._open.get(extension_id)
        if db is not None:
            return db
        check_id(extension_id, "extension")
        record = self._records.get(extension_id)
        if FAULTS.damage_of(
            self.database_dir / (record.db_file if record else f"{extension_id}.db")
        ):
            return None
        with self._lock:
            record = self._records.get(extension_id)
            if record is None:
                db_file = f"{extension_id}.db"
                owner = next((r for r in self._records.values() if r.db_file == db_file), None)
                if owner is not None:
                    log.warning(
                        "not indexing namespace data for %s: %s belongs to extension %s",
                        extension_id,
                        db_file,
                        owner.extension_id,
                    )
                    return None
                record = Registration(extension_id, db_file, False, utc_now_iso())
            return self._open_db(record)

    def index_extensions(self) -> list[str]:
        """Ids of every extension whose database file exists, registered or not: everywhere
        indexed chat data can be (a chat resynced after a crash is looked for in all of them)."""
        with self._lock:
            records = list(self._records.values())
        found = {r.extension_id for r in records if (self.database_dir / r.db_file).is_file()}
        claimed = {r.db_file for r in records} | RESERVED_FILES
        for path in self.database_dir.glob("*.db"):
            if path.name not in claimed and is_valid_id(path.name[:-3]) and path.is_file():
                found.add(path.name[:-3])
        return sorted(found)

    def check(self) -> tuple[bool, str]:
        """Whether the registry database answers (for health checks)."""
        fault = FAULTS.damage_of(self.path)
        if fault is not None:
            return False, f"{fault.shown} is damaged ({fault.reason}); run sidecar repair"
        if self._engine is None:
            return False, "the registry database is not open"
        try:
            raw = self._engine.raw_connection()  # autocommit: no BEGIN IMMEDIATE, no write lock
            try:
                raw.cursor().execute("SELECT count(*) FROM extensions").fetchone()
            finally:
                raw.close()
        except Exception as exc:
            return False, f"the registry database does not answer: {type(exc).__name__}"
        return True, "ok"

    def registrations(self) -> list[Registration]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.created_at, r.extension_id))

    @contextmanager
    def peek(self, extension_id: str) -> Iterator[Connection | None]:
        """A read-only connection to any known extension's file, registered or not (None when
        the file is gone). Does not open the database for requests."""
        with self._lock:
            record = self._records.get(extension_id)
            db = self._open.get(extension_id)
        if record is None:
            raise not_registered(extension_id)
        if db is not None:
            with db.read() as conn:
                yield conn
            return
        path = self.database_dir / record.db_file
        if not path.is_file():
            yield None
            return
        with guarded(path), read_snapshot(path, self._options) as conn:
            yield conn

    # -- changes -----------------------------------------------------------------------------

    def register(self, extension_id: str, db_path: str | None = None) -> None:
        """Register (idempotently) and open or create the database file."""
        check_id(extension_id, "extension")
        db_file = db_file_for(self.database_dir, extension_id, db_path)
        FAULTS.check(self.path)
        with self._lock:
            for other in self._records.values():
                if other.db_file == db_file and other.extension_id != extension_id:
                    raise Conflict(
                        f"dbPath {db_file} is already used by extension {other.extension_id}"
                    )
            now = utc_now_iso()
            current = self._records.get(extension_id)
            if current is not None and current.registered and current.db_file == db_file:
                self._open_db(current)
                return
            if current is not None and current.db_file != db_file:
                self._close_db(extension_id)
            record = (
                Registration(extension_id, db_file, True, now)
                if current is None
                else replace(current, db_file=db_file, registered=True)
            )
            path = self.database_dir / db_file
            created = not path.exists()
            self._open_db(record)
            try:
                self._save(record, now)
            except BaseException:
                if created:  # no half-made registration: no file the registry does not know
                    self._close_db(extension_id)
                    remove_sqlite_files(path)
                raise
            self._records[extension_id] = record
        log.info("registered extension %s (%s)", extension_id, db_file)
        self._changed()

    def deregister(self, extension_id: str) -> None:
        """Forget the registration and close the database; the file and its data stay."""
        check_id(extension_id, "extension")
        with self._lock:
            current = self._records.get(extension_id)
            if current is None or not current.registered:
                raise not_registered(extension_id)
            record = replace(current, registered=False)
            self._save(record, utc_now_iso())
            self._records[extension_id] = record
            self._close_db(extension_id)
        log.info("deregistered extension %s", extension_id)
        self._changed()

    # -- internals ---------------------------------------------------------------------------

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def _open_db(self, record: Registration) -> ExtensionDatabase:
        db = self._open.get(record.extension_id)
        if db is None:
            try:
                db = ExtensionDatabase(
                    record.extension_id, self.database_dir / record.db_file, self._options
                )
            except (sqlite3.DatabaseError, SQLAlchemyDatabaseError) as exc:  # not a storage fault
                log.error("cannot open database of %s: %s", record.extension_id, exc)
                raise Conflict(
                    f"The database file of extension {record.extension_id} is not a usable "
                    "SQLite database"
                ) from exc
            self._open[record.extension_id] = db
        return db

    def _close_db(self, extension_id: str) -> None:
        db = self._open.pop(extension_id, None)
        if db is not None:
            db.close()

    def _save(self, record: Registration, now: str) -> None:
        assert self._engine is not None, "registry is not open"
        with guarded(self.path, write=True), self._engine.begin() as conn:
            write_registration(conn, record, now)
